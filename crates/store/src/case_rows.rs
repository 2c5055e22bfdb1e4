//! A case's row as pages, the API and actions read it, and loading it inside a
//! transaction. Kept apart from `cases` so that the modules an action calls
//! (people, links, parties, records) can read a case without depending on the
//! action code that calls them.

use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::Row;

use gongzhi_domain::access::CaseScope;
use gongzhi_domain::time::Micros;

use crate::db::{Tx, with_tx};
use crate::error::StoreError;

#[derive(Debug, Clone, Serialize)]
pub struct CaseRecord {
    pub id: String,
    pub receipt_code: String,
    pub pack: String,
    pub pack_version: String,
    pub case_type: String,
    pub state: String,
    pub fields: Map<String, Value>,
    pub holder_unit_id: String,
    pub holder_unit_name: String,
    pub area_unit_id: Option<String>,
    pub area_unit_name: Option<String>,
    pub lng: Option<f64>,
    pub lat: Option<f64>,
    pub overdue_since: Option<Micros>,
    /// The routing suggestion made at intake (`None`: the manual queue).
    pub suggested_unit_id: Option<String>,
    pub route_reason: Option<String>,
    /// The same in English (`None` for cases from before it was kept).
    pub route_reason_en: Option<String>,
    /// The staff member the case is assigned to, by the pack's bound person
    /// field (`None`: the unit as a whole).
    pub assignee_user_id: Option<String>,
    pub version: i64,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub closed_at: Option<Micros>,
    #[serde(skip)]
    pub scope: CaseScopeRecord,
    #[serde(skip)]
    pub personal_salt: String,
}

/// The unit paths that place a case, for access decisions.
#[derive(Debug, Clone, Default)]
pub struct CaseScopeRecord {
    pub holder_path: String,
    pub area_path: Option<String>,
    pub holder_parent_id: Option<String>,
    /// Paths of units with an open assist task.
    pub assist_paths: Vec<String>,
}

impl CaseRecord {
    pub fn access_scope(&self) -> CaseScope {
        CaseScope {
            holder_path: self.scope.holder_path.clone(),
            area_path: self.scope.area_path.clone(),
            assist_paths: self.scope.assist_paths.clone(),
            assignee: self.assignee_user_id.clone(),
        }
    }
}

pub(crate) const CASE_SELECT: &str = "SELECT c.*, h.name AS holder_name, h.path AS holder_path, h.parent_id AS holder_parent_id, \
     a.name AS area_name, a.path AS area_path \
     FROM cases c JOIN units h ON h.id = c.holder_unit_id LEFT JOIN units a ON a.id = c.area_unit_id";

macro_rules! case_from_row {
    ($row:expr) => {{
        let row = $row;
        let fields_text: String = row.try_get("fields")?;
        let fields: Map<String, Value> = serde_json::from_str(&fields_text)
            .map_err(|e| StoreError::Corrupt(format!("case fields: {e}")))?;
        CaseRecord {
            id: row.try_get("id")?,
            receipt_code: row.try_get("receipt_code")?,
            pack: row.try_get("pack_id")?,
            pack_version: row.try_get("pack_version")?,
            case_type: row.try_get("case_type")?,
            state: row.try_get("state")?,
            fields,
            holder_unit_id: row.try_get("holder_unit_id")?,
            holder_unit_name: row.try_get("holder_name")?,
            area_unit_id: row.try_get("area_unit_id")?,
            area_unit_name: row.try_get("area_name")?,
            lng: row.try_get("lng")?,
            lat: row.try_get("lat")?,
            overdue_since: row.try_get("overdue_since")?,
            suggested_unit_id: row.try_get("suggested_unit_id")?,
            route_reason: row.try_get("route_reason")?,
            route_reason_en: row.try_get("route_reason_en")?,
            assignee_user_id: row.try_get("assignee_user_id")?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            closed_at: row.try_get("closed_at")?,
            scope: CaseScopeRecord {
                holder_path: row.try_get("holder_path")?,
                area_path: row.try_get("area_path")?,
                holder_parent_id: row.try_get("holder_parent_id")?,
                assist_paths: Vec::new(),
            },
            personal_salt: row.try_get("personal_salt")?,
        }
    }};
}
pub(crate) use case_from_row;

pub(crate) const ASSIST_PATHS: &str = "SELECT ca.case_id, u.path FROM case_assists ca JOIN units u ON u.id = ca.unit_id \
     WHERE ca.status = 'open'";

pub(crate) async fn load_case_tx(
    tx: &mut Tx,
    case_id: &str,
) -> Result<Option<CaseRecord>, StoreError> {
    let sql = format!("{CASE_SELECT} WHERE c.id = $1");
    let case = with_tx!(tx, conn => {
        match sqlx::query(&sql).bind(case_id).fetch_optional(conn).await? {
            Some(row) => Some(case_from_row!(row)),
            None => None,
        }
    });
    let Some(mut case) = case else {
        return Ok(None);
    };
    let sql = format!("{ASSIST_PATHS} AND ca.case_id = $1 ORDER BY u.path");
    case.scope.assist_paths = with_tx!(tx, conn => {
        let rows = sqlx::query(&sql).bind(case_id).fetch_all(conn).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(r.try_get::<String, _>("path")?);
        }
        out
    });
    Ok(Some(case))
}
