//! Reads for the dispatch board and the assist tasks (协办): why a case came
//! back, and the assist tasks addressed to a unit or held by a case. Every
//! change still goes through [`Db::act`](crate::Db::act).

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::Row;

use gongzhi_domain::time::Micros;

use crate::db::{Db, with_pool};
use crate::error::StoreError;

/// One assist task: a unit asked to help the lead unit with part of a case.
#[derive(Debug, Clone, Serialize)]
pub struct AssistTask {
    pub id: String,
    pub case_id: String,
    pub receipt_code: String,
    /// The case's fields, for its heading (read through the type's bindings);
    /// never serialized, since they may hold personal values.
    #[serde(skip)]
    pub case_fields: Map<String, Value>,
    pub case_state: String,
    pub case_version: i64,
    pub pack: String,
    pub case_type: String,
    pub holder_unit_name: String,
    pub unit_id: String,
    pub unit_name: String,
    pub task: String,
    /// `open`, `reported` or `released`.
    pub status: String,
    pub due_at: Option<Micros>,
    /// When its own deadline passed while it was still open.
    pub overdue_at: Option<Micros>,
    pub result: Option<String>,
    pub created_at: Micros,
    pub closed_at: Option<Micros>,
}

const ASSIST_SELECT: &str = "SELECT ca.id, ca.case_id, ca.unit_id, u.name AS unit_name, ca.task, ca.status, \
     ca.due_at, ca.overdue_at, ca.result, ca.created_at, ca.closed_at, c.receipt_code, c.state AS case_state, \
     c.version AS case_version, c.pack_id, c.case_type, c.fields, h.name AS holder_name \
     FROM case_assists ca JOIN units u ON u.id = ca.unit_id JOIN cases c ON c.id = ca.case_id \
     JOIN units h ON h.id = c.holder_unit_id";

macro_rules! assist_from_row {
    ($row:expr) => {{
        let row = $row;
        let fields_text: String = row.try_get("fields")?;
        let fields: Map<String, Value> = serde_json::from_str(&fields_text)
            .map_err(|e| StoreError::Corrupt(format!("case fields: {e}")))?;
        AssistTask {
            id: row.try_get("id")?,
            case_id: row.try_get("case_id")?,
            receipt_code: row.try_get("receipt_code")?,
            case_fields: fields,
            case_state: row.try_get("case_state")?,
            case_version: row.try_get("case_version")?,
            pack: row.try_get("pack_id")?,
            case_type: row.try_get("case_type")?,
            holder_unit_name: row.try_get("holder_name")?,
            unit_id: row.try_get("unit_id")?,
            unit_name: row.try_get("unit_name")?,
            task: row.try_get("task")?,
            status: row.try_get("status")?,
            due_at: row.try_get("due_at")?,
            overdue_at: row.try_get("overdue_at")?,
            result: row.try_get("result")?,
            created_at: row.try_get("created_at")?,
            closed_at: row.try_get("closed_at")?,
        }
    }};
}

impl Db {
    /// The reason given on each case's latest return (退回), for the cases
    /// that have one.
    pub async fn last_return_reasons(
        &self,
        case_ids: &[String],
    ) -> Result<HashMap<String, String>, StoreError> {
        let mut out = HashMap::new();
        if case_ids.is_empty() {
            return Ok(out);
        }
        let placeholders: Vec<String> = (1..=case_ids.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT case_id, reason FROM log_entries WHERE action = 'return' AND reason IS NOT NULL \
             AND case_id IN ({}) ORDER BY seq",
            placeholders.join(", ")
        );
        with_pool!(self, pool => {
            let mut q = sqlx::query(&sql);
            for id in case_ids {
                q = q.bind(id);
            }
            // Oldest first, so the latest return is inserted last and wins.
            for row in q.fetch_all(pool).await? {
                out.insert(row.try_get::<String, _>("case_id")?, row.try_get::<String, _>("reason")?);
            }
        });
        Ok(out)
    }

    /// Assist tasks addressed to units at or below any of `unit_paths`: the
    /// open ones (earliest due first), then those closed since `closed_since`,
    /// newest first.
    pub async fn assists_for_units(
        &self,
        unit_paths: &[String],
        closed_since: Micros,
        limit: i64,
    ) -> Result<Vec<AssistTask>, StoreError> {
        if unit_paths.is_empty() {
            return Ok(Vec::new());
        }
        let scope: Vec<String> = (1..=unit_paths.len())
            .map(|n| format!("substr(u.path, 1, length(${n})) = ${n}"))
            .collect();
        let n = unit_paths.len();
        let sql = format!(
            "{ASSIST_SELECT} WHERE ({}) AND (ca.status = 'open' OR ca.closed_at >= ${}) \
             ORDER BY CASE WHEN ca.status = 'open' THEN 0 ELSE 1 END, \
             COALESCE(ca.due_at, 9223372036854775807), ca.created_at DESC, ca.id LIMIT ${}",
            scope.join(" OR "),
            n + 1,
            n + 2
        );
        with_pool!(self, pool => {
            let mut q = sqlx::query(&sql);
            for p in unit_paths {
                q = q.bind(p);
            }
            let rows = q.bind(closed_since).bind(limit.clamp(1, 500)).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(assist_from_row!(row));
            }
            Ok(out)
        })
    }

    /// Every assist task of a case, oldest first.
    pub async fn assists_of(&self, case_id: &str) -> Result<Vec<AssistTask>, StoreError> {
        let sql = format!("{ASSIST_SELECT} WHERE ca.case_id = $1 ORDER BY ca.created_at, ca.id");
        with_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(case_id).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(assist_from_row!(row));
            }
            Ok(out)
        })
    }
}
