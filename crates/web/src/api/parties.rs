//! A case's parties over the API: listed with personal values masked (the
//! reveal route shows them in clear, logged), added and removed by staff who
//! can see the case, when its type declares parties.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use gongzhi_domain::pack::PartyDef;
use gongzhi_domain::time::now_micros;
use gongzhi_store::{CaseRecord, PartyRecord};

use crate::api::cases::{mask, visible_case};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyBody {
    role: String,
    kind: String,
    #[serde(default)]
    fields: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveBody {
    reason: String,
}

/// The case type's party declaration, or why the case has no parties.
pub(crate) fn party_def<'a>(
    state: &'a AppState,
    case: &CaseRecord,
) -> Result<&'a PartyDef, ApiError> {
    state
        .packs
        .case_type(&case.pack, &case.case_type)
        .and_then(|t| t.parties.as_ref())
        .ok_or_else(|| ApiError::invalid("role", "this case type has no parties"))
}

/// A party's fields with personal values masked.
pub(crate) fn masked(def: Option<&PartyDef>, party: &PartyRecord) -> Map<String, Value> {
    party
        .fields
        .iter()
        .map(|(k, v)| {
            let field = def.and_then(|d| d.fields.get(k));
            let shown = match field {
                Some(f) if !f.personal => v.clone(),
                Some(f) => mask(&f.kind, v),
                // A field the pack no longer declares is treated as personal.
                None => Value::String("***".into()),
            };
            (k.clone(), shown)
        })
        .collect()
}

fn party_json(party: &PartyRecord, fields: Map<String, Value>) -> Value {
    json!({
        "id": party.id,
        "role": party.role,
        "kind": party.kind,
        "fields": fields,
        "created_at": party.created_at,
        "created_by": party.created_by,
    })
}

pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let case = visible_case(&state, &auth.actor, &id).await?;
    let def = party_def(&state, &case).ok();
    let parties: Vec<Value> = state
        .db
        .parties_of(&case.id)
        .await?
        .iter()
        .map(|p| party_json(p, masked(def, p)))
        .collect();
    Ok(Json(json!({"case_id": case.id, "parties": parties})))
}

pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<PartyBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let case = visible_case(&state, &auth.actor, &id).await?;
    let def = party_def(&state, &case)?;
    let party = def
        .check(&body.role, &body.kind, &body.fields)
        .map_err(|e| ApiError::invalid(&e.field, e.message))?;
    let case_type = state
        .packs
        .case_type(&case.pack, &case.case_type)
        .ok_or_else(|| ApiError::invalid("role", "this case type has no parties"))?;
    let added = state
        .db
        .add_party_logged(&auth.actor, case_type, &case.id, &party, now_micros())
        .await?;
    // A person already on the case who now conflicts with a party must step
    // aside: the answer says so, naming the field, not the party.
    let conflicts: Vec<Value> = added
        .conflicts
        .iter()
        .map(|(field, user_id, c)| {
            json!({"field": field, "user_id": user_id, "conflict": c.as_str(), "message": c.message()})
        })
        .collect();
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": added.id, "conflicts": conflicts})),
    ))
}

pub async fn remove(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, party_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RemoveBody>,
) -> Result<Json<Value>, ApiError> {
    let case = visible_case(&state, &auth.actor, &id).await?;
    let def = party_def(&state, &case)?;
    state
        .db
        .remove_party_logged(
            &auth.actor,
            &case.id,
            &party_id,
            def,
            &body.reason,
            now_micros(),
        )
        .await?;
    Ok(Json(json!({"id": party_id, "removed": true})))
}
