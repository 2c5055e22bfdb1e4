//! Reads behind the public Open311 GeoReport v2 interface: service requests
//! by receipt code or by filters, and the status changes of the log as
//! updates. The web layer decides what of them is public; this module only
//! fetches, bounded.

use serde_json::{Map, Value};
use sqlx::Row;

use gongzhi_domain::time::Micros;

use crate::case_rows::{CASE_SELECT, CaseRecord, CaseScopeRecord, case_from_row};
use crate::db::{Db, with_pool};
use crate::error::StoreError;

/// Which requests `GET requests` asks for. With `receipt_codes` set, every
/// other filter is ignored, as the GeoReport v2 spec says.
#[derive(Debug, Clone, Default)]
pub struct PublicCaseFilter {
    pub pack: String,
    pub case_type: String,
    pub receipt_codes: Option<Vec<String>>,
    /// Category codes; empty: all.
    pub categories: Vec<String>,
    /// `Some(true)`: only cases in `closed_states`; `Some(false)`: only others.
    pub closed: Option<bool>,
    pub closed_states: Vec<String>,
    /// Bounds on the creation time, inclusive.
    pub created_from: Option<Micros>,
    pub created_to: Option<Micros>,
    pub limit: i64,
}

/// A case with the due time of the deadline running in its current state.
#[derive(Debug, Clone)]
pub struct PublicCase {
    pub case: CaseRecord,
    pub state_due_at: Option<Micros>,
}

/// One log entry of a public case, for the update feed.
#[derive(Debug, Clone)]
pub struct PublicUpdate {
    pub seq: i64,
    pub at: Micros,
    pub receipt_code: String,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub changes: Value,
    /// The case's fields as they are now.
    pub case_fields: Map<String, Value>,
}

/// Which log entries the update feed asks for.
#[derive(Debug, Clone, Default)]
pub struct PublicUpdateFilter {
    pub pack: String,
    pub case_type: String,
    pub from: Micros,
    pub to: Micros,
    /// Entries of these actions are wanted even when the state stays.
    pub also_actions: Vec<String>,
    pub limit: i64,
}

fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Db {
    /// Cases of one type for the public interface, newest first.
    pub async fn public_cases(
        &self,
        filter: &PublicCaseFilter,
    ) -> Result<Vec<PublicCase>, StoreError> {
        let select = CASE_SELECT.replacen(
            "SELECT ",
            "SELECT (SELECT MIN(d.due_at) FROM deadlines d WHERE d.case_id = c.id AND d.state = c.state AND d.clock IS NULL AND d.record_id IS NULL \
             AND d.status = 'active') AS state_due_at, ",
            1,
        );
        let mut sql = format!("{select} WHERE c.pack_id = $1 AND c.case_type = $2");
        let mut binds: Vec<String> = vec![filter.pack.clone(), filter.case_type.clone()];
        let mut times: Vec<Micros> = Vec::new();
        if let Some(codes) = &filter.receipt_codes {
            if codes.is_empty() {
                return Ok(Vec::new());
            }
            sql.push_str(&format!(
                " AND c.receipt_code IN ({})",
                placeholders(binds.len() + 1, codes.len())
            ));
            binds.extend(codes.iter().cloned());
        } else {
            if !filter.categories.is_empty() {
                sql.push_str(&format!(
                    " AND c.category IN ({})",
                    placeholders(binds.len() + 1, filter.categories.len())
                ));
                binds.extend(filter.categories.iter().cloned());
            }
            if let Some(closed) = filter.closed {
                if filter.closed_states.is_empty() {
                    if closed {
                        return Ok(Vec::new());
                    }
                } else {
                    sql.push_str(&format!(
                        " AND c.state {} ({})",
                        if closed { "IN" } else { "NOT IN" },
                        placeholders(binds.len() + 1, filter.closed_states.len())
                    ));
                    binds.extend(filter.closed_states.iter().cloned());
                }
            }
            // Time bounds come after every text bind, so they number last.
            let mut next = binds.len() + 1;
            if let Some(from) = filter.created_from {
                sql.push_str(&format!(" AND c.created_at >= ${next}"));
                times.push(from);
                next += 1;
            }
            if let Some(to) = filter.created_to {
                sql.push_str(&format!(" AND c.created_at <= ${next}"));
                times.push(to);
            }
        }
        let limit_at = binds.len() + times.len() + 1;
        sql.push_str(&format!(
            " ORDER BY c.created_at DESC, c.id DESC LIMIT ${limit_at}"
        ));
        with_pool!(self, pool => {
            let mut q = sqlx::query(&sql);
            for b in &binds {
                q = q.bind(b);
            }
            for t in &times {
                q = q.bind(*t);
            }
            let rows = q.bind(filter.limit.max(0)).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let state_due_at: Option<i64> = row.try_get("state_due_at")?;
                out.push(PublicCase { case: case_from_row!(row), state_due_at });
            }
            Ok(out)
        })
    }

    /// State changes (and the entries of `also_actions`) of cases of one type,
    /// in log order, creation entries left out: the request itself is no update.
    pub async fn public_updates(
        &self,
        filter: &PublicUpdateFilter,
    ) -> Result<Vec<PublicUpdate>, StoreError> {
        let also = if filter.also_actions.is_empty() {
            String::new()
        } else {
            format!(
                " OR l.action IN ({})",
                placeholders(6, filter.also_actions.len())
            )
        };
        let sql = format!(
            "SELECT l.seq, l.at, l.action, l.from_state, l.to_state, l.changes, c.receipt_code, c.fields \
             FROM log_entries l JOIN cases c ON c.id = l.case_id \
             WHERE c.pack_id = $1 AND c.case_type = $2 AND l.at >= $3 AND l.at <= $4 \
             AND l.from_state IS NOT NULL AND (l.from_state <> l.to_state{also}) \
             ORDER BY l.seq LIMIT $5"
        );
        with_pool!(self, pool => {
            let mut q = sqlx::query(&sql)
                .bind(&filter.pack)
                .bind(&filter.case_type)
                .bind(filter.from)
                .bind(filter.to)
                .bind(filter.limit.max(0));
            for a in &filter.also_actions {
                q = q.bind(a);
            }
            let rows = q.fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let changes: String = row.try_get("changes")?;
                let fields: String = row.try_get("fields")?;
                out.push(PublicUpdate {
                    seq: row.try_get("seq")?,
                    at: row.try_get("at")?,
                    receipt_code: row.try_get("receipt_code")?,
                    action: row.try_get("action")?,
                    from_state: row.try_get("from_state")?,
                    to_state: row.try_get("to_state")?,
                    changes: serde_json::from_str(&changes)
                        .map_err(|e| StoreError::Corrupt(format!("log changes: {e}")))?,
                    case_fields: serde_json::from_str(&fields)
                        .map_err(|e| StoreError::Corrupt(format!("case fields: {e}")))?,
                });
            }
            Ok(out)
        })
    }
}
