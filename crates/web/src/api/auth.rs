use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{
    Auth, LimitVerdict, clear_session_cookie, random_token, session_cookie, session_expiry,
    token_hash, verify_password,
};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: String,
}

fn limited(code: &'static str, message: &str, retry_after: std::time::Duration) -> Response {
    let mut response = ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message).into_response();
    if let Ok(v) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    if req.username.len() > 64 || req.password.len() > 1024 {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "wrong username or password",
        ));
    }
    let ip = addr.ip();
    match state.limiter.check(&req.username, ip) {
        LimitVerdict::Allowed => {}
        LimitVerdict::AccountLocked { retry_after } => {
            return Ok(limited(
                "account_locked",
                "too many failed logins for this account; try again later",
                retry_after,
            ));
        }
        LimitVerdict::AddressLimited { retry_after } => {
            return Ok(limited(
                "too_many_attempts",
                "too many failed logins from this address; try again later",
                retry_after,
            ));
        }
    }
    let candidate = state.db.login_candidate(&req.username).await?;
    let hash = candidate
        .as_ref()
        .filter(|c| !c.disabled)
        .and_then(|c| c.password_hash.clone());
    if !verify_password(req.password, hash).await {
        state.limiter.record_failure(&req.username, ip);
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "wrong username or password",
        ));
    }
    let Some(candidate) = candidate else {
        return Err(ApiError::internal());
    };
    state.limiter.record_success(&req.username);
    let token = random_token();
    let csrf = random_token();
    state
        .db
        .create_session(
            &token_hash(&token),
            &candidate.user_id,
            &csrf,
            session_expiry(),
        )
        .await?;
    let actor = state
        .db
        .actor(&candidate.user_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&session_cookie(&token, state.config.secure_cookies)) {
        headers.insert(header::SET_COOKIE, v);
    }
    Ok((headers, Json(json!({"user": actor, "csrf_token": csrf}))).into_response())
}

pub async fn logout(State(state): State<AppState>, auth: Auth) -> Result<Response, ApiError> {
    if let Some(hash) = &auth.session_token_hash {
        state.db.delete_session(hash).await?;
    }
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&clear_session_cookie()) {
        headers.insert(header::SET_COOKIE, v);
    }
    Ok((headers, Json(json!({"status": "logged_out"}))).into_response())
}

pub async fn me(auth: Auth) -> Json<serde_json::Value> {
    Json(json!({"user": auth.actor}))
}
