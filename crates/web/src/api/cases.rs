use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use gongzhi_domain::access::Actor;
use gongzhi_domain::engine::ActionRequest;
use gongzhi_domain::pack::{CaseType, FieldKind};
use gongzhi_domain::role::Role;
use gongzhi_domain::time::now_micros;
use gongzhi_store::{CaseFilter, CaseRecord};

use crate::intake::{IntakeRequest, intake};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::state::AppState;

/// Masks a personal value for display: phones keep their first 3 and last 4
/// digits, other text its first character.
pub fn mask(kind: &FieldKind, value: &Value) -> Value {
    let Some(text) = value.as_str() else {
        return Value::String("***".into());
    };
    let chars: Vec<char> = text.chars().collect();
    let masked = match kind {
        FieldKind::Phone if chars.len() >= 7 => {
            let head: String = chars[..3].iter().collect();
            let tail: String = chars[chars.len() - 4..].iter().collect();
            format!("{head}****{tail}")
        }
        _ => match chars.first() {
            Some(first) => format!(
                "{first}{}",
                "*".repeat(chars.len().saturating_sub(1).clamp(1, 8))
            ),
            None => String::new(),
        },
    };
    Value::String(masked)
}

fn masked_fields(case_type: Option<&CaseType>, fields: &Map<String, Value>) -> Map<String, Value> {
    fields
        .iter()
        .map(|(k, v)| {
            let def = case_type.and_then(|t| t.fields.get(k));
            // Fields the pack no longer declares are treated as personal.
            let shown = match def {
                Some(d) if !d.personal => v.clone(),
                Some(d) => mask(&d.kind, v),
                None => Value::String("***".into()),
            };
            (k.clone(), shown)
        })
        .collect()
}

fn case_json(state: &AppState, actor: &Actor, case: &CaseRecord) -> Value {
    let case_type = state.packs.case_type(&case.pack, &case.case_type);
    let roles = actor.roles_over(&case.access_scope());
    let actions: Vec<Value> = case_type
        .map(|t| {
            t.actions_from(&case.state)
                .filter(|a| a.roles.iter().any(|r| roles.contains(r)))
                .map(|a| {
                    json!({
                        "id": a.id, "name": {"zh": a.name.zh, "en": a.name.en}, "to": a.to,
                        "requires": a.requires, "allows": a.allows, "reason": a.reason, "target": a.target,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut value = serde_json::to_value(case).unwrap_or(Value::Null);
    if let Some(obj) = value.as_object_mut() {
        obj.insert(
            "fields".into(),
            Value::Object(masked_fields(case_type, &case.fields)),
        );
        obj.insert("available_actions".into(), Value::Array(actions));
        obj.insert(
            "my_roles".into(),
            serde_json::to_value(&roles).unwrap_or(Value::Null),
        );
    }
    value
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCase {
    pack: String,
    case_type: String,
    #[serde(default)]
    fields: Map<String, Value>,
    reason: Option<String>,
    lng: Option<f64>,
    lat: Option<f64>,
    acting_unit: Option<String>,
    /// A key of the caller's choosing: retrying with it never makes a second case.
    idempotency_key: Option<String>,
}

pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateCase>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let header_key = headers.get("idempotency-key").map(|v| {
        v.to_str()
            .map(str::to_string)
            .map_err(|_| ApiError::invalid("Idempotency-Key", "must be visible ASCII"))
    });
    let idempotency_key = match header_key {
        Some(key) => Some(key?),
        None => req.idempotency_key.clone(),
    };
    let request = IntakeRequest {
        pack: req.pack,
        case_type: req.case_type,
        fields: req.fields,
        reason: req.reason,
        lng: req.lng,
        lat: req.lat,
        acting_unit: req.acting_unit,
        idempotency_key,
    };
    let (acted, _) = intake(&state, &auth.actor, request, now_micros()).await?;
    let case = state
        .db
        .case_unscoped(&acted.case_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    // A replayed key answers 200 with the case it made the first time.
    let status = if acted.log_entry.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(case_json(&state, &auth.actor, &case))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    state: Option<String>,
    /// `manual`: requests routing could not place.
    queue: Option<String>,
    unit: Option<String>,
    /// `me`, or a user id: only cases assigned to that staff member.
    assignee: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = CaseFilter {
        state: q.state,
        holder_unit_id: q.unit,
        assignee_user_id: match q.assignee.as_deref() {
            None => None,
            Some("me") => Some(auth.actor.user_id.clone()),
            Some(id) if !id.trim().is_empty() && id.len() <= 64 => Some(id.to_string()),
            Some(_) => return Err(ApiError::invalid("assignee", "must be me or a user id")),
        },
        manual_queue: match q.queue.as_deref() {
            None => false,
            Some("manual") => true,
            Some(_) => return Err(ApiError::invalid("queue", "must be manual")),
        },
        limit: q.limit.unwrap_or(50).clamp(1, 500),
        offset: q.offset.unwrap_or(0).max(0),
        ..CaseFilter::default()
    };
    let cases = state.db.cases_for(&auth.actor, &filter).await?;
    let items: Vec<Value> = cases
        .iter()
        .map(|c| case_json(&state, &auth.actor, c))
        .collect();
    Ok(Json(
        json!({"cases": items, "limit": filter.limit, "offset": filter.offset}),
    ))
}

pub(crate) async fn visible_case(
    state: &AppState,
    actor: &Actor,
    id: &str,
) -> Result<CaseRecord, ApiError> {
    state
        .db
        .case_for(actor, id)
        .await?
        .ok_or_else(ApiError::case_not_found)
}

pub async fn get_one(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let case = visible_case(&state, &auth.actor, &id).await?;
    let deadlines = state.db.deadlines_of(&case.id).await?;
    let mut value = case_json(&state, &auth.actor, &case);
    if let Some(obj) = value.as_object_mut() {
        obj.insert(
            "deadlines".into(),
            serde_json::to_value(&deadlines).unwrap_or(Value::Null),
        );
    }
    Ok(Json(value))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActBody {
    action: String,
    #[serde(default)]
    fields: Map<String, Value>,
    reason: Option<String>,
    target_unit: Option<String>,
    /// The case version the form was built from; a stale form is refused.
    version: Option<i64>,
}

pub async fn act(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ActBody>,
) -> Result<Json<Value>, ApiError> {
    let request = ActionRequest {
        action: body.action,
        fields: body.fields,
        reason: body.reason,
        target_unit: body.target_unit,
    };
    let acted = state
        .db
        .act(
            state.rules(&state.taxonomies()),
            &auth.actor,
            &id,
            request,
            body.version,
            now_micros(),
        )
        .await?;
    // After handing a case on, the actor may no longer see it: answer with the
    // log entry then, never with the case.
    let case = state.db.case_for(&auth.actor, &acted.case_id).await?;
    Ok(Json(json!({
        "log_entry": {"seq": acted.log_entry.seq, "id": acted.log_entry.id, "action": acted.log_entry.action,
                      "to_state": acted.log_entry.to_state, "leaf_hash": acted.log_entry.leaf_hash_hex()},
        "case": case.map(|c| case_json(&state, &auth.actor, &c)),
    })))
}

pub async fn timeline(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let case = visible_case(&state, &auth.actor, &id).await?;
    let entries = state.db.timeline(&case.id).await?;
    Ok(Json(json!({"case_id": case.id, "entries": entries})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevealBody {
    purpose: String,
}

/// Whether any of these roles needs personal data in clear for its work on
/// a case of `pack`, as that pack declares them.
pub(crate) fn may_reveal(state: &AppState, pack: &str, roles: &[Role]) -> bool {
    state.packs.may_reveal(pack, roles)
}

/// A case's personal values in clear: its own fields and its parties'.
pub(crate) struct Revealed {
    pub fields: Map<String, Value>,
    /// Party id → that party's personal fields.
    pub parties: std::collections::BTreeMap<String, Map<String, Value>>,
}

/// A case's personal fields and its parties' in clear, for a role that needs
/// them; the read and its purpose are recorded first. Shared by the API and
/// the case page.
pub(crate) async fn reveal_personal(
    state: &AppState,
    actor: &Actor,
    case: &CaseRecord,
    purpose: &str,
) -> Result<Revealed, ApiError> {
    let purpose = purpose.trim();
    if purpose.is_empty() || purpose.chars().count() > 500 {
        return Err(ApiError::invalid(
            "purpose",
            "say in 1 to 500 characters why you need the personal data",
        ));
    }
    if !may_reveal(state, &case.pack, &actor.roles_over(&case.access_scope())) {
        return Err(ApiError::forbidden(
            "your role does not need this case's personal data",
        ));
    }
    let case_type = state.packs.case_type(&case.pack, &case.case_type);
    let personal: Map<String, Value> = case
        .fields
        .iter()
        .filter(|(k, _)| {
            case_type
                .and_then(|t| t.fields.get(*k))
                .is_none_or(|d| d.personal)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut keys: Vec<String> = personal.keys().cloned().collect();
    let party_def = case_type.and_then(|t| t.parties.as_ref());
    let mut parties = std::collections::BTreeMap::new();
    for party in state.db.parties_of(&case.id).await? {
        let clear: Map<String, Value> = party
            .fields
            .iter()
            .filter(|(k, _)| {
                party_def
                    .and_then(|d| d.fields.get(*k))
                    .is_none_or(|f| f.personal)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        keys.extend(clear.keys().map(|k| format!("party.{}.{k}", party.id)));
        parties.insert(party.id, clear);
    }
    state
        .db
        .record_personal_read(&case.id, &actor.user_id, &keys, purpose, now_micros())
        .await?;
    Ok(Revealed {
        fields: personal,
        parties,
    })
}

/// Shows a case's personal fields in clear, to roles whose work needs them,
/// and records the read.
pub async fn reveal(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RevealBody>,
) -> Result<Json<Value>, ApiError> {
    let case = visible_case(&state, &auth.actor, &id).await?;
    let revealed = reveal_personal(&state, &auth.actor, &case, &body.purpose).await?;
    Ok(Json(
        json!({"case_id": case.id, "fields": revealed.fields, "parties": revealed.parties}),
    ))
}
