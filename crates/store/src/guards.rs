//! Checking an action's guards against the case's wider record: its assist
//! tasks, its named clocks and its records. A guard that does not hold
//! refuses the action with the guard's name and the reason in words.

use sqlx::Row;

use gongzhi_domain::pack::Guard;
use gongzhi_domain::time::{Micros, to_rfc3339};

use crate::db::{Tx, with_tx};
use crate::error::ActError;
use crate::error::StoreError;

fn refused(guard: &Guard, message: String) -> ActError {
    ActError::GuardFailed {
        guard: guard.name(),
        message,
    }
}

/// Refuses with the first of `guards` that does not hold at `at`.
pub(crate) async fn check_guards_tx(
    tx: &mut Tx,
    case_id: &str,
    guards: &[Guard],
    at: Micros,
) -> Result<(), ActError> {
    for guard in guards {
        if let Some(message) = failure_tx(tx, case_id, guard, at).await? {
            return Err(refused(guard, message));
        }
    }
    Ok(())
}

async fn failure_tx(
    tx: &mut Tx,
    case_id: &str,
    guard: &Guard,
    at: Micros,
) -> Result<Option<String>, StoreError> {
    Ok(match guard {
        Guard::AssistsDone => {
            let open = open_assists_tx(tx, case_id).await?;
            (open > 0)
                .then(|| format!("{open} assisting unit(s) have not reported or been released"))
        }
        Guard::WithinClock { clock } => clock_failure_tx(tx, case_id, clock, at).await?,
        Guard::HasRecord { kind, state } => {
            let n = record_count_tx(tx, case_id, kind, state.as_deref()).await?;
            (n == 0).then(|| match state {
                Some(state) => format!("the case holds no `{kind}` record in state `{state}`"),
                None => format!("the case holds no `{kind}` record"),
            })
        }
        Guard::HasLink { kind } => {
            let n = outgoing_links_tx(tx, case_id, kind.as_str()).await?;
            (n == 0).then(|| {
                format!(
                    "no case is linked from this one as `{}` yet: register the other case \
                     with this one as its origin first",
                    kind.as_str()
                )
            })
        }
    })
}

async fn outgoing_links_tx(tx: &mut Tx, case_id: &str, kind: &str) -> Result<i64, StoreError> {
    with_tx!(tx, conn => {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM case_links WHERE source_case_id = $1 AND kind = $2 \
             AND removed_at IS NULL",
        )
        .bind(case_id)
        .bind(kind)
        .fetch_one(conn)
        .await?
        .try_get::<i64, _>("n")?)
    })
}

async fn open_assists_tx(tx: &mut Tx, case_id: &str) -> Result<i64, StoreError> {
    with_tx!(tx, conn => {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM case_assists WHERE case_id = $1 AND status = 'open'")
            .bind(case_id)
            .fetch_one(conn)
            .await?
            .try_get::<i64, _>("n")?)
    })
}

/// Why the named clock does not allow acting now: it never started, it was
/// met, or its time ran out (the due time is what the law counts, whether or
/// not the deadline job has fired yet).
async fn clock_failure_tx(
    tx: &mut Tx,
    case_id: &str,
    clock: &str,
    at: Micros,
) -> Result<Option<String>, StoreError> {
    let latest: Option<(String, Option<i64>)> = with_tx!(tx, conn => {
        sqlx::query(
            "SELECT status, due_at FROM deadlines WHERE case_id = $1 AND clock = $2 \
             ORDER BY started_at DESC, id DESC LIMIT 1",
        )
        .bind(case_id)
        .bind(clock)
        .fetch_optional(conn)
        .await?
        .map(|r| Ok::<_, sqlx::Error>((r.try_get("status")?, r.try_get("due_at")?)))
        .transpose()?
    });
    Ok(match latest {
        None => Some(format!("the time limit `{clock}` has not started")),
        Some((status, _)) if status == "met" => Some(format!(
            "the time limit `{clock}` is already over: it was met"
        )),
        Some((status, Some(due))) if status == "expired" || due < at => Some(format!(
            "the time limit `{clock}` ran out at {}: it is too late for this action",
            to_rfc3339(due)
        )),
        Some(_) => None,
    })
}

async fn record_count_tx(
    tx: &mut Tx,
    case_id: &str,
    kind: &str,
    state: Option<&str>,
) -> Result<i64, StoreError> {
    with_tx!(tx, conn => {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM case_records WHERE case_id = $1 AND kind = $2 \
             AND ($3 IS NULL OR state = $3)",
        )
        .bind(case_id)
        .bind(kind)
        .bind(state)
        .fetch_one(conn)
        .await?
        .try_get::<i64, _>("n")?)
    })
}
