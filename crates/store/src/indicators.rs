//! What the indicators read: the log entries and deadline rows of the cases
//! in a scope created in a period. No figures are computed here; the rules
//! live in `gongzhi_domain::indicators`.

use std::collections::HashMap;

use sqlx::Row;

use gongzhi_domain::indicators::{CaseHistory, DeadlineFact, DeadlineStatus};
use gongzhi_domain::log::LogEntry;
use gongzhi_domain::time::Micros;

use crate::db::{Backend, Db, with_pool};
use crate::error::StoreError;

/// Which cases to read: those of `pack` created in `[from, to)` whose holder
/// or area unit lies inside one of `scope_paths` (as `Db::cases_for` lists
/// them, without the assisting units: an assist is not a case of one's own).
#[derive(Debug, Clone)]
pub struct HistoryQuery<'a> {
    pub scope_paths: &'a [String],
    pub pack: &'a str,
    pub from: Micros,
    pub to: Micros,
}

impl HistoryQuery<'_> {
    /// The sub-select of the case ids; binds `$1..=$3` then one per scope.
    fn case_ids_sql(&self) -> String {
        let mut sql = String::from(
            "SELECT c.id FROM cases c JOIN units h ON h.id = c.holder_unit_id \
             LEFT JOIN units a ON a.id = c.area_unit_id \
             WHERE c.pack_id = $1 AND c.created_at >= $2 AND c.created_at < $3 AND (",
        );
        for i in 0..self.scope_paths.len() {
            let n = i + 4;
            if i > 0 {
                sql.push_str(" OR ");
            }
            // substr, not LIKE: unit ids may hold LIKE's wildcard characters.
            sql.push_str(&format!(
                "substr(h.path, 1, length(${n})) = ${n} OR substr(a.path, 1, length(${n})) = ${n}"
            ));
        }
        sql.push(')');
        sql
    }
}

impl Db {
    /// The histories of the cases `query` selects, read in one snapshot so
    /// that entries and deadlines agree.
    pub async fn case_histories(
        &self,
        query: &HistoryQuery<'_>,
    ) -> Result<Vec<CaseHistory>, StoreError> {
        if query.scope_paths.is_empty() || query.to <= query.from {
            return Ok(Vec::new());
        }
        let ids = query.case_ids_sql();
        let entries_sql = format!(
            "SELECT seq, id, case_id, at, actor_id, actor_unit_id, action, from_state, to_state, changes, reason \
             FROM log_entries WHERE case_id IN ({ids}) ORDER BY case_id, seq"
        );
        let deadlines_sql = format!(
            "SELECT case_id, state, started_at, due_at, status, closed_at FROM deadlines \
             WHERE case_id IN ({ids}) ORDER BY case_id, started_at, id"
        );
        let backend = self.backend();
        let (entries, deadlines) = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if backend == Backend::Postgres {
                // One snapshot for both statements (SQLite's read transaction is one already).
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
            }
            let mut q = sqlx::query(&entries_sql).bind(query.pack).bind(query.from).bind(query.to);
            for s in query.scope_paths {
                q = q.bind(s);
            }
            let rows = q.fetch_all(&mut *tx).await?;
            let mut entries = Vec::with_capacity(rows.len());
            for row in rows {
                let seq: i64 = row.try_get("seq")?;
                entries.push(LogEntry {
                    seq: u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("seq {seq}")))?,
                    id: row.try_get("id")?,
                    case_id: row.try_get("case_id")?,
                    at: row.try_get("at")?,
                    actor_id: row.try_get("actor_id")?,
                    actor_unit_id: row.try_get("actor_unit_id")?,
                    action: row.try_get("action")?,
                    from_state: row.try_get("from_state")?,
                    to_state: row.try_get("to_state")?,
                    changes: row.try_get("changes")?,
                    reason: row.try_get("reason")?,
                });
            }
            let mut q = sqlx::query(&deadlines_sql).bind(query.pack).bind(query.from).bind(query.to);
            for s in query.scope_paths {
                q = q.bind(s);
            }
            let rows = q.fetch_all(&mut *tx).await?;
            let mut deadlines = Vec::with_capacity(rows.len());
            for row in rows {
                let status: String = row.try_get("status")?;
                let case_id: String = row.try_get("case_id")?;
                deadlines.push((
                    case_id,
                    DeadlineFact {
                        state: row.try_get("state")?,
                        started_at: row.try_get("started_at")?,
                        due_at: row.try_get("due_at")?,
                        status: DeadlineStatus::parse(&status).ok_or_else(|| {
                            StoreError::Corrupt(format!("deadline status {status}"))
                        })?,
                        closed_at: row.try_get("closed_at")?,
                    },
                ));
            }
            tx.commit().await?;
            (entries, deadlines)
        });
        let mut by_case: HashMap<String, CaseHistory> = HashMap::new();
        for entry in entries {
            by_case
                .entry(entry.case_id.clone())
                .or_insert_with(|| CaseHistory {
                    case_id: entry.case_id.clone(),
                    ..CaseHistory::default()
                })
                .entries
                .push(entry);
        }
        for (case_id, deadline) in deadlines {
            // A deadline of a case without entries cannot be: the creation
            // entry is written with the case.
            if let Some(h) = by_case.get_mut(&case_id) {
                h.deadlines.push(deadline);
            }
        }
        let mut out: Vec<CaseHistory> = by_case.into_values().collect();
        out.sort_by(|a, b| a.case_id.cmp(&b.case_id));
        Ok(out)
    }
}
