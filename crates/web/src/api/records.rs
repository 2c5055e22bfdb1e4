//! A case's records over the API: listed with personal values masked, added
//! and moved through their life by staff whose roles the pack allows.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use gongzhi_domain::pack::RecordDef;
use gongzhi_domain::time::now_micros;
use gongzhi_store::{CaseRecord, CaseRecordEntry};

use crate::api::cases::{mask, visible_case};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordBody {
    kind: String,
    #[serde(default)]
    fields: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordActionBody {
    action: String,
    #[serde(default)]
    fields: Map<String, Value>,
}

/// The declaration of a kind of record of the case's type.
pub(crate) fn record_def<'a>(
    state: &'a AppState,
    case: &CaseRecord,
    kind: &str,
) -> Result<&'a RecordDef, ApiError> {
    let case_type = state.packs.case_type(&case.pack, &case.case_type);
    case_type
        .and_then(|t| t.records.get(kind.trim()))
        .ok_or_else(|| {
            let kinds: Vec<&str> = case_type
                .map(|t| t.records.keys().map(String::as_str).collect())
                .unwrap_or_default();
            ApiError::invalid(
                "kind",
                if kinds.is_empty() {
                    "this case type has no records".to_string()
                } else {
                    format!("expected one of: {}", kinds.join(", "))
                },
            )
        })
}

/// A record's fields with personal values masked.
pub(crate) fn masked(def: Option<&RecordDef>, record: &CaseRecordEntry) -> Map<String, Value> {
    record
        .fields
        .iter()
        .map(|(k, v)| {
            let shown = match def.and_then(|d| d.fields.get(k)) {
                Some(f) if !f.personal => v.clone(),
                Some(f) => mask(&f.kind, v),
                // A field the pack no longer declares is treated as personal.
                None => Value::String("***".into()),
            };
            (k.clone(), shown)
        })
        .collect()
}

fn record_json(record: &CaseRecordEntry, fields: Map<String, Value>) -> Value {
    json!({
        "id": record.id,
        "kind": record.kind,
        "state": record.state,
        "fields": fields,
        "version": record.version,
        "created_at": record.created_at,
        "created_by": record.created_by,
        "updated_at": record.updated_at,
    })
}

pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let case = visible_case(&state, &auth.actor, &id).await?;
    let records: Vec<Value> = state
        .db
        .records_of(&case.id)
        .await?
        .iter()
        .map(|r| {
            let def = record_def(&state, &case, &r.kind).ok();
            record_json(r, masked(def, r))
        })
        .collect();
    Ok(Json(json!({"case_id": case.id, "records": records})))
}

pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RecordBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let case = visible_case(&state, &auth.actor, &id).await?;
    let def = record_def(&state, &case, &body.kind)?;
    let record_id = state
        .db
        .add_record_logged(
            &state.calendar,
            &auth.actor,
            &case.id,
            def,
            &body.fields,
            now_micros(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"id": record_id}))))
}

pub async fn act(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, record_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RecordActionBody>,
) -> Result<Json<Value>, ApiError> {
    let case = visible_case(&state, &auth.actor, &id).await?;
    if body.action.trim().is_empty() {
        return Err(ApiError::invalid(
            "action",
            "name the record action to take",
        ));
    }
    let kind = state
        .db
        .records_of(&case.id)
        .await?
        .into_iter()
        .find(|r| r.id == record_id)
        .map(|r| r.kind)
        .ok_or_else(|| ApiError::not_found("record"))?;
    let def = record_def(&state, &case, &kind)?;
    let record = state
        .db
        .act_on_record_logged(
            &state.calendar,
            &auth.actor,
            &case.id,
            &record_id,
            def,
            &body.action,
            &body.fields,
            now_micros(),
        )
        .await?;
    Ok(Json(record_json(&record, masked(Some(def), &record))))
}
