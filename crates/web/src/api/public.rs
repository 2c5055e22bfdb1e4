//! What the public sees: a citizen looks up their request by its receipt code
//! and the last four digits of the phone they gave, and gets its state and a
//! public timeline — no staff names, no other party's data, no internal notes.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use gongzhi_domain::ids::normalize_receipt_code;
use gongzhi_domain::pack::{CaseType, FieldKind};

use gongzhi_store::{CaseRecord, PartyRecord};

use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;
use crate::state::limits::LimitVerdict;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupRequest {
    receipt_code: String,
    phone_last4: String,
}

fn not_found() -> ApiError {
    // One answer for a wrong code and for wrong digits: no oracle.
    ApiError::new(
        StatusCode::NOT_FOUND,
        "request_not_found",
        "no request matches this receipt code and phone number",
    )
}

/// The case a citizen may see by its receipt code and the last four digits
/// of the phone they gave, under the lookup rate limiter. Shared by the JSON
/// lookup and the lookup page.
pub(crate) async fn find_by_receipt(
    state: &AppState,
    ip: IpAddr,
    receipt_code: &str,
    phone_last4: &str,
) -> Result<CaseRecord, ApiError> {
    Ok(find_by_receipt_as(state, ip, receipt_code, phone_last4)
        .await?
        .0)
}

/// As [`find_by_receipt`], and which party of the case gave that phone, if
/// the digits are a party's rather than the requester's.
pub(crate) async fn find_by_receipt_as(
    state: &AppState,
    ip: IpAddr,
    receipt_code: &str,
    phone_last4: &str,
) -> Result<(CaseRecord, Option<PartyRecord>), ApiError> {
    let digits = phone_last4.trim();
    if digits.len() != 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(ApiError::invalid(
            "phone_last4",
            "must be the last 4 digits of the phone number",
        ));
    }
    let code = normalize_receipt_code(receipt_code).ok_or_else(|| {
        ApiError::invalid(
            "receipt_code",
            "is not a valid receipt code (e.g. K7M-4Q9XZ-2)",
        )
    })?;
    // Guessing digits is throttled like guessing passwords: per code and per address.
    if !matches!(state.lookup_limiter.check(&code, ip), LimitVerdict::Allowed) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many failed lookups; try again later",
        ));
    }
    let case = state.db.case_by_receipt(&code).await?;
    let ends_with = |phone: Option<&str>| {
        phone.is_some_and(|p| {
            p.chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
                .ends_with(digits)
        })
    };
    let case_type = case
        .as_ref()
        .and_then(|c| state.packs.case_type(&c.pack, &c.case_type));
    let requester = case.as_ref().zip(case_type).is_some_and(|(c, t)| {
        let phone_field = t
            .bindings
            .intake
            .as_ref()
            .and_then(|i| i.contact_phone.as_deref());
        ends_with(CaseType::text_of(phone_field, &c.fields))
    });
    let mut party = None;
    if let (Some(c), Some(t), false) = (&case, case_type, requester) {
        // A party of a dispute looks it up with their own phone.
        let phone_field = t.parties.as_ref().and_then(|p| {
            p.fields
                .values()
                .find(|f| matches!(f.kind, FieldKind::Phone))
                .map(|f| f.key.clone())
        });
        if let Some(key) = phone_field {
            party = state
                .db
                .parties_of(&c.id)
                .await?
                .into_iter()
                .find(|p| ends_with(p.fields.get(&key).and_then(Value::as_str)));
        }
    }
    let Some(case) = case.filter(|_| requester || party.is_some()) else {
        state.lookup_limiter.record_failure(&code, ip);
        return Err(not_found());
    };
    Ok((case, party))
}

/// The fields of a log entry the public may see (after values, non-null):
/// those the type declares `public`. Everything else in the log stays internal.
pub(crate) fn public_details(
    case_type: Option<&CaseType>,
    changes: &Value,
) -> serde_json::Map<String, Value> {
    let mut public = serde_json::Map::new();
    for field in case_type.into_iter().flat_map(CaseType::public_fields) {
        if let Some(after) = changes
            .get(&field.key)
            .and_then(|c| c.get("after"))
            .filter(|v| !v.is_null())
        {
            public.insert(field.key.clone(), after.clone());
        }
    }
    public
}

pub async fn lookup(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<LookupRequest>,
) -> Result<Json<Value>, ApiError> {
    let case = find_by_receipt(&state, addr.ip(), &req.receipt_code, &req.phone_last4).await?;
    let case_type = state.packs.case_type(&case.pack, &case.case_type);
    let state_name = |s: &str| {
        case_type
            .and_then(|t| t.states.get(s))
            .map(|d| json!({"zh": d.name.zh, "en": d.name.en}))
            .unwrap_or_else(|| json!({"zh": s, "en": s}))
    };
    let places = state.places();
    let unit_name = |id: Option<&str>| id.and_then(|id| places.unit(id)).map(|u| u.name.clone());
    let entries = state.db.timeline(&case.id).await?;
    let timeline: Vec<Value> = entries
        .iter()
        .filter_map(|e| {
            let action = case_type.and_then(|t| t.actions.get(&e.action))?;
            let public = public_details(case_type, &e.changes);
            Some(json!({
                "at": e.at,
                "action": {"zh": action.name.zh, "en": action.name.en},
                "state": state_name(&e.to_state),
                // The unit that acted, never the person.
                "unit": unit_name(e.actor_unit_id.as_deref()),
                "details": public,
            }))
        })
        .collect();
    let tax = state.taxonomies();
    let category = state
        .packs
        .category_of(&case.pack, &case.case_type, &case.fields)
        .and_then(|c| tax.categories.get(c))
        .map(|c| json!({"code": c.code, "zh": c.name.zh, "en": c.name.en}));
    Ok(Json(json!({
        "receipt_code": case.receipt_code,
        "title": case_type.and_then(|t| t.title_of(&case.fields)),
        "state": state_name(&case.state),
        "closed": case.closed_at.is_some(),
        "outcome": case_type.and_then(|t| CaseType::text_of(t.bindings.outcome.as_deref(), &case.fields)),
        "category": category,
        "handled_by": unit_name(Some(&case.holder_unit_id)),
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "closed_at": case.closed_at,
        "timeline": timeline,
    })))
}
