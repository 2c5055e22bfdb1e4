//! A staff member's declarations of interest (利害关系申报): their own ID or
//! phone and those of people related to them, against which conflict checks
//! match a case's parties. Each member sees and withdraws only their own;
//! values are never shown again, only their last four characters.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use gongzhi_domain::conflict::Relation;
use gongzhi_domain::time::now_micros;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

/// Longest identifier accepted, in characters.
const MAX_IDENTIFIER: usize = 40;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterestBody {
    relation: String,
    identifier: String,
    #[serde(default)]
    note: Option<String>,
}

pub async fn list(State(state): State<AppState>, auth: Auth) -> Result<Json<Value>, ApiError> {
    let interests = state.db.interests_of(&auth.actor.user_id).await?;
    Ok(Json(json!({"interests": interests})))
}

pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(body): ApiJson<InterestBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let relation = Relation::parse(&body.relation)
        .ok_or_else(|| ApiError::invalid("relation", "expected own or related"))?;
    if body.identifier.chars().count() > MAX_IDENTIFIER {
        return Err(ApiError::invalid(
            "identifier",
            format!("at most {MAX_IDENTIFIER} characters"),
        ));
    }
    let interest = state
        .db
        .declare_interest(
            &auth.actor.user_id,
            relation,
            &body.identifier,
            body.note.as_deref(),
            now_micros(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!(interest))))
}

pub async fn remove(
    State(state): State<AppState>,
    auth: Auth,
    Path(interest_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    state
        .db
        .remove_interest(&auth.actor.user_id, &interest_id, now_micros())
        .await?;
    Ok(Json(json!({"removed": interest_id})))
}
