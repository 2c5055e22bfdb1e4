//! Named clocks in the store: a deadline row that carries the pack's clock id
//! spans states. It starts once (a second start while it runs or is paused
//! changes nothing) and only its stop states, or a terminal one, close it;
//! the states' own deadlines come and go around it.

use serde_json::{Map, Value};

use gongzhi_domain::engine::Transition;
use gongzhi_domain::pack::CaseType;
use gongzhi_domain::time::Micros;

use crate::db::{Tx, with_tx};
use crate::deadline_rules::{DeadlineBasis, Rules, prepare_deadline};
use crate::error::StoreError;

/// Starts and stops the named clocks a transition calls for. Returns the
/// changes for the log entry: each clock's status before and after.
pub(crate) async fn move_clocks_tx(
    tx: &mut Tx,
    rules: Rules<'_>,
    case_type: &CaseType,
    case_id: &str,
    transition: &Transition,
    at: Micros,
) -> Result<Vec<(String, Value, Value)>, StoreError> {
    let mut changes = Vec::new();
    for id in &transition.stop_clocks {
        let stopped = with_tx!(tx, conn => {
            sqlx::query(
                "UPDATE deadlines SET status = 'met', closed_at = $1 \
                 WHERE case_id = $2 AND clock = $3 AND status IN ('active', 'paused')",
            )
            .bind(at)
            .bind(case_id)
            .bind(id)
            .execute(conn)
            .await?
            .rows_affected()
        });
        if stopped > 0 {
            changes.push((
                format!("clock.{id}"),
                Value::from("running"),
                Value::from("met"),
            ));
        }
    }
    for id in &transition.start_clocks {
        let Some(def) = case_type.clocks.get(id) else {
            continue;
        };
        let running: i64 = with_tx!(tx, conn => {
            use sqlx::Row;
            sqlx::query(
                "SELECT COUNT(*) AS n FROM deadlines WHERE case_id = $1 AND clock = $2 \
                 AND status IN ('active', 'paused')",
            )
            .bind(case_id)
            .bind(id)
            .fetch_one(conn)
            .await?
            .try_get("n")?
        });
        if running > 0 {
            continue;
        }
        let d = prepare_deadline(
            rules,
            &def.deadline,
            &transition.to_state,
            DeadlineBasis::of(case_type, &transition.fields),
            at,
        );
        with_tx!(tx, conn => {
            sqlx::query(
                "INSERT INTO deadlines (id, case_id, state, clock, rule, calendar_version, started_at, due_at, \
                 warn_ratio, warn_at, provisional, on_expiry, status) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'active')",
            )
            .bind(&d.id)
            .bind(case_id)
            .bind(&d.state)
            .bind(id)
            .bind(&d.rule)
            .bind(&d.calendar_version)
            .bind(at)
            .bind(d.due_at)
            .bind(d.warn_ratio)
            .bind(d.warn_at)
            .bind(i64::from(d.provisional))
            .bind(&d.on_expiry)
            .execute(conn)
            .await?;
        });
        let mut after = Map::new();
        after.insert("status".into(), Value::from("running"));
        after.insert("due_at".into(), Value::from(d.due_at));
        changes.push((format!("clock.{id}"), Value::Null, Value::Object(after)));
    }
    Ok(changes)
}
