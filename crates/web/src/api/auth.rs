use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Auth, LoginFailure, clear_session_cookie, password_login, session_cookie};
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
    let session = match password_login(&state, &req.username, req.password, addr.ip()).await {
        Ok(session) => session,
        Err(LoginFailure::BadCredentials) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "bad_credentials",
                "wrong username or password",
            ));
        }
        Err(LoginFailure::AccountLocked { retry_after }) => {
            return Ok(limited(
                "account_locked",
                "too many failed logins for this account from this address; try again later",
                retry_after,
            ));
        }
        Err(LoginFailure::AddressLimited { retry_after }) => {
            return Ok(limited(
                "too_many_attempts",
                "too many failed logins from this address; try again later",
                retry_after,
            ));
        }
        Err(LoginFailure::Error(e)) => return Err(e),
    };
    let actor = state
        .actor(&session.user_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    let mut headers = HeaderMap::new();
    if let Ok(v) =
        HeaderValue::from_str(&session_cookie(&session.token, state.config.secure_cookies))
    {
        headers.insert(header::SET_COOKIE, v);
    }
    Ok((
        headers,
        Json(json!({"user": actor, "csrf_token": session.csrf})),
    )
        .into_response())
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
