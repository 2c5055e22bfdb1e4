//! A record's own time limits: a deadline row that names its record. It opens
//! when the record enters a state that declares one, and closes (met) when
//! the record leaves that state, when its anchoring date changes (it is then
//! opened again from the new date), or when the case ends. The sweeper fires
//! it like any other deadline, logged against the record.

use serde_json::{Map, Value, json};

use gongzhi_domain::calendar::WorkCalendar;
use gongzhi_domain::pack::RecordDef;
use gongzhi_domain::time::Micros;

use crate::db::{Tx, with_tx};
use crate::deadline_rules::deadline_on_rule;
use crate::error::StoreError;

/// Closes the running limits of one record, or of every record of the case
/// when `record_id` is `None`. Returns how many closed.
pub(crate) async fn close_record_deadlines_tx(
    tx: &mut Tx,
    case_id: &str,
    record_id: Option<&str>,
    at: Micros,
) -> Result<u64, StoreError> {
    Ok(with_tx!(tx, conn => {
        match record_id {
            Some(record) => sqlx::query(
                "UPDATE deadlines SET status = 'met', closed_at = $1 \
                 WHERE case_id = $2 AND record_id = $3 AND status IN ('active', 'paused')",
            )
            .bind(at)
            .bind(case_id)
            .bind(record)
            .execute(conn)
            .await?
            .rows_affected(),
            None => sqlx::query(
                "UPDATE deadlines SET status = 'met', closed_at = $1 \
                 WHERE case_id = $2 AND record_id IS NOT NULL AND status IN ('active', 'paused')",
            )
            .bind(at)
            .bind(case_id)
            .execute(conn)
            .await?
            .rows_affected(),
        }
    }))
}

/// A record as it now stands: where its limit is opened.
pub(crate) struct RecordNow<'a> {
    pub case_id: &'a str,
    pub record_id: &'a str,
    pub def: &'a RecordDef,
    pub state: Option<&'a str>,
    pub fields: &'a Map<String, Value>,
}

/// Opens the limit of the record's state, if the state declares one.
/// Returns what the log records of it.
pub(crate) async fn open_record_deadline_tx(
    tx: &mut Tx,
    calendar: &WorkCalendar,
    record: RecordNow<'_>,
    at: Micros,
) -> Result<Option<Value>, StoreError> {
    let RecordNow {
        case_id,
        record_id,
        def,
        state,
        fields,
    } = record;
    let Some(state_def) = state.and_then(|s| def.states.get(s)) else {
        return Ok(None);
    };
    let Some(deadline) = &state_def.deadline else {
        return Ok(None);
    };
    let start = state_def.deadline_start(calendar, fields, at);
    let d = deadline_on_rule(calendar, deadline, deadline.rule, &state_def.id, start);
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO deadlines (id, case_id, state, record_id, rule, calendar_version, started_at, due_at, \
             warn_ratio, warn_at, provisional, on_expiry, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'active')",
        )
        .bind(&d.id)
        .bind(case_id)
        .bind(&d.state)
        .bind(record_id)
        .bind(&d.rule)
        .bind(&d.calendar_version)
        .bind(start)
        .bind(d.due_at)
        .bind(d.warn_ratio)
        .bind(d.warn_at)
        .bind(i64::from(d.provisional))
        .bind(&d.on_expiry)
        .execute(conn)
        .await?;
    });
    Ok(Some(json!({"id": d.id, "due_at": d.due_at})))
}
