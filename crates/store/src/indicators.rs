//! What the indicators read: the log entries and deadline rows of the cases
//! in a scope created in a period. No figures are computed here; the rules
//! live in `gongzhi_domain::indicators`.

use std::collections::HashMap;

use sqlx::Row;

use gongzhi_domain::indicators::{CaseHistory, DeadlineFact, DeadlineStatus, HistoryEntry};
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
    /// The sub-select of the case ids; binds `$1..=$3`, one per scope, then
    /// `only` case ids when that is not zero.
    fn case_ids_sql(&self, only: usize) -> String {
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
        if only > 0 {
            let first = 4 + self.scope_paths.len();
            let params: Vec<String> = (first..first + only).map(|n| format!("${n}")).collect();
            sql.push_str(&format!(" AND c.id IN ({})", params.join(", ")));
        }
        sql
    }
}

/// What [`Db::read_case_histories`] found since the stamp it was given.
#[derive(Debug)]
pub enum HistoryRead {
    /// Nothing was logged since: the caller's copy is current.
    Unchanged,
    /// Every history the query selects, as of `stamp`.
    Full {
        stamp: i64,
        histories: Vec<CaseHistory>,
    },
    /// Only the cases logged since: each id in `touched` is to be replaced
    /// by its history in `histories`, or dropped when it has none there
    /// (it left the query's scope or period).
    Partial {
        stamp: i64,
        touched: Vec<String>,
        histories: Vec<CaseHistory>,
    },
}

/// Above this many changed cases a full read is cheaper than a partial one
/// (and keeps the statement's parameter list short).
const MAX_PARTIAL_CASES: usize = 500;

/// One log entry as the aggregated read returns it, in `ENTRY_COLUMNS` order.
type EntryTuple = (i64, Micros, String, Option<String>, String, String);
const ENTRY_COLUMNS: &str = "seq, at, action, from_state, to_state, changes";

/// One deadline row, in `DEADLINE_COLUMNS` order (the id only orders them).
type DeadlineTuple = (
    String,
    Micros,
    Option<Micros>,
    String,
    Option<Micros>,
    String,
    Option<String>,
);
const DEADLINE_COLUMNS: &str = "state, started_at, due_at, status, closed_at, id, clock";

/// `SELECT case_id, <one JSON array of arrays> ... GROUP BY case_id`: one row
/// per case, because per-row overhead in the driver, not the query, is what a
/// dashboard over thousands of cases pays for.
fn aggregated_sql(backend: Backend, columns: &str, table: &str, ids: &str) -> String {
    let array = match backend {
        Backend::Sqlite => format!("json_group_array(json_array({columns}))"),
        Backend::Postgres => format!("json_agg(json_build_array({columns}))::text"),
    };
    format!(
        "SELECT case_id, {array} AS rows FROM {table} WHERE case_id IN ({ids}) GROUP BY case_id"
    )
}

fn corrupt(case_id: &str, what: &str, e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(format!("{what} of case {case_id}: {e}"))
}

impl Db {
    /// The histories of the cases `query` selects, read in one snapshot so
    /// that entries and deadlines agree; entries in log order, deadlines in
    /// start order.
    pub async fn case_histories(
        &self,
        query: &HistoryQuery<'_>,
    ) -> Result<Vec<CaseHistory>, StoreError> {
        match self.read_case_histories(query, None).await? {
            HistoryRead::Full { histories, .. } | HistoryRead::Partial { histories, .. } => {
                Ok(histories)
            }
            HistoryRead::Unchanged => Ok(Vec::new()),
        }
    }

    /// Like [`Db::case_histories`], for a caller that keeps a copy: given
    /// the stamp (the log's last seq) its copy was read at, answers only what
    /// changed since. Every change to a case is logged against it (deadline
    /// expiries included), so the log says exactly which cases to read
    /// again; an entry that is not a case's (an admin change, which may move
    /// units and so scopes) calls for a full read.
    pub async fn read_case_histories(
        &self,
        query: &HistoryQuery<'_>,
        since: Option<i64>,
    ) -> Result<HistoryRead, StoreError> {
        if query.scope_paths.is_empty() || query.to <= query.from {
            return Ok(HistoryRead::Full {
                stamp: 0,
                histories: Vec::new(),
            });
        }
        let backend = self.backend();
        let (stamp, touched, entry_rows, deadline_rows) = with_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if backend == Backend::Postgres {
                // One snapshot for every statement (SQLite's read transaction is one already).
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
            }
            let stamp: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM log_entries")
                .fetch_one(&mut *tx)
                .await?;
            let mut touched: Option<Vec<String>> = None;
            if let Some(since) = since.filter(|s| *s <= stamp) {
                if since == stamp {
                    tx.commit().await?;
                    return Ok(HistoryRead::Unchanged);
                }
                let ids: Vec<String> = sqlx::query_scalar(
                    "SELECT DISTINCT case_id FROM log_entries WHERE seq > $1 AND seq <= $2",
                )
                .bind(since)
                .bind(stamp)
                .fetch_all(&mut *tx)
                .await?;
                // Case ids are UUIDs; anything with a colon is another kind of record.
                if ids.len() <= MAX_PARTIAL_CASES && !ids.iter().any(|id| id.contains(':')) {
                    touched = Some(ids);
                }
            }
            let only = touched.as_ref().map_or(0, Vec::len);
            let mut read = Vec::with_capacity(2);
            if touched.as_ref().is_none_or(|t| !t.is_empty()) {
                let ids = query.case_ids_sql(only);
                let entries_sql = aggregated_sql(backend, ENTRY_COLUMNS, "log_entries", &ids);
                let deadlines_sql = aggregated_sql(backend, DEADLINE_COLUMNS, "deadlines", &ids);
                for sql in [&entries_sql, &deadlines_sql] {
                    let mut q = sqlx::query(sql).bind(query.pack).bind(query.from).bind(query.to);
                    for s in query.scope_paths {
                        q = q.bind(s);
                    }
                    for id in touched.iter().flatten() {
                        q = q.bind(id);
                    }
                    let rows = q.fetch_all(&mut *tx).await?;
                    let mut out: Vec<(String, String)> = Vec::with_capacity(rows.len());
                    for row in rows {
                        out.push((row.try_get("case_id")?, row.try_get("rows")?));
                    }
                    read.push(out);
                }
            }
            tx.commit().await?;
            let deadlines = read.pop().unwrap_or_default();
            let entries = read.pop().unwrap_or_default();
            (stamp, touched, entries, deadlines)
        });
        let histories = decode_histories(entry_rows, deadline_rows)?;
        Ok(match touched {
            Some(touched) => HistoryRead::Partial {
                stamp,
                touched,
                histories,
            },
            None => HistoryRead::Full { stamp, histories },
        })
    }
}

/// Turns the aggregated rows into histories sorted by case id.
fn decode_histories(
    entry_rows: Vec<(String, String)>,
    deadline_rows: Vec<(String, String)>,
) -> Result<Vec<CaseHistory>, StoreError> {
    let mut by_case: HashMap<String, CaseHistory> = HashMap::with_capacity(entry_rows.len());
    for (case_id, json) in entry_rows {
        let tuples: Vec<EntryTuple> =
            serde_json::from_str(&json).map_err(|e| corrupt(&case_id, "log entries", e))?;
        let mut entries = Vec::with_capacity(tuples.len());
        for (seq, at, action, from_state, to_state, changes) in tuples {
            entries.push(HistoryEntry {
                seq: u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("seq {seq}")))?,
                at,
                action,
                from_state,
                to_state,
                changes,
            });
        }
        // Aggregates promise no order.
        entries.sort_by_key(|e| e.seq);
        by_case.insert(
            case_id.clone(),
            CaseHistory {
                case_id,
                entries,
                ..CaseHistory::default()
            },
        );
    }
    for (case_id, json) in deadline_rows {
        // A deadline of a case without entries cannot be: the creation
        // entry is written with the case.
        let Some(history) = by_case.get_mut(&case_id) else {
            continue;
        };
        let mut tuples: Vec<DeadlineTuple> =
            serde_json::from_str(&json).map_err(|e| corrupt(&case_id, "deadlines", e))?;
        tuples.sort_by(|a, b| (a.1, &a.5).cmp(&(b.1, &b.5)));
        for (state, started_at, due_at, status, closed_at, _id, clock) in tuples {
            history.deadlines.push(DeadlineFact {
                state,
                clock,
                started_at,
                due_at,
                status: DeadlineStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("deadline status {status}")))?,
                closed_at,
            });
        }
    }
    let mut out: Vec<CaseHistory> = by_case.into_values().collect();
    out.sort_by(|a, b| a.case_id.cmp(&b.case_id));
    Ok(out)
}
