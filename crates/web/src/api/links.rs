//! Links between cases over the API: list a case's links from both ends,
//! link it to another case the caller can see, remove a mistaken link.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use gongzhi_domain::access::Actor;
use gongzhi_domain::link::NewLink;
use gongzhi_domain::time::now_micros;
use gongzhi_store::{CaseLink, CaseRecord};

use crate::api::cases::visible_case;
use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    kind: String,
    /// The other case, by id or receipt code.
    case: String,
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveBody {
    reason: String,
}

/// The other case of a link, by id or receipt code, if the actor can see it.
pub(crate) async fn other_case(
    state: &AppState,
    actor: &Actor,
    reference: &str,
) -> Result<CaseRecord, ApiError> {
    let reference = reference.trim();
    if reference.is_empty() || reference.chars().count() > 64 {
        return Err(ApiError::invalid(
            "case",
            "give the other case's id or receipt code",
        ));
    }
    if let Some(case) = state.db.case_for(actor, reference).await? {
        return Ok(case);
    }
    let by_code = state.db.case_by_receipt(&reference.to_uppercase()).await?;
    match by_code {
        Some(case) if actor.can_see(&case.access_scope()) => Ok(case),
        // A case out of the caller's scope reads as no case at all.
        _ => Err(ApiError::invalid(
            "case",
            "no case you can see has this id or receipt code",
        )),
    }
}

/// Links `case` to `other` as the caller asks; shared by the API and the case page.
pub(crate) async fn link_cases(
    state: &AppState,
    actor: &Actor,
    case: &CaseRecord,
    kind: &str,
    other: &str,
    note: Option<&str>,
) -> Result<String, ApiError> {
    let other = other_case(state, actor, other).await?;
    let link = NewLink::new(kind, &case.id, &other.id, note)
        .map_err(|e| ApiError::invalid(e.field(), e.to_string()))?;
    Ok(state
        .db
        .link_cases_logged(actor, &link, now_micros())
        .await?)
}

/// A link as JSON; the other case is named only when the caller may see it
/// (`other` is null otherwise: a case out of scope is never described).
fn link_json(link: &CaseLink, other_visible: bool) -> Value {
    let other = other_visible.then(|| {
        json!({
            "id": link.other_case_id,
            "receipt_code": link.other_receipt_code,
            "pack": link.other_pack,
            "case_type": link.other_case_type,
            "state": link.other_state,
        })
    });
    json!({
        "id": link.id,
        "kind": link.kind,
        "end": link.end,
        "other": other,
        "note": link.note,
        "created_at": link.created_at,
        "created_by": link.created_by,
    })
}

pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let case = visible_case(&state, &auth.actor, &id).await?;
    let mut links = Vec::new();
    for link in state.db.links_of(&case.id).await? {
        let visible = state
            .db
            .case_for(&auth.actor, &link.other_case_id)
            .await?
            .is_some();
        links.push(link_json(&link, visible));
    }
    Ok(Json(json!({"case_id": case.id, "links": links})))
}

pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<LinkBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let case = visible_case(&state, &auth.actor, &id).await?;
    let link_id = link_cases(
        &state,
        &auth.actor,
        &case,
        &body.kind,
        &body.case,
        body.note.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"id": link_id}))))
}

pub async fn remove(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, link_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RemoveBody>,
) -> Result<Json<Value>, ApiError> {
    let case = visible_case(&state, &auth.actor, &id).await?;
    state
        .db
        .unlink_logged(&auth.actor, &case.id, &link_id, &body.reason, now_micros())
        .await?;
    Ok(Json(json!({"id": link_id, "removed": true})))
}
