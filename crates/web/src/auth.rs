//! Authentication: argon2id passwords (hashed off the async threads), session
//! cookies with a CSRF token, API keys, and a login rate limiter.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use gongzhi_domain::access::Actor;
use gongzhi_domain::time::{MICROS_PER_HOUR, now_micros};

use crate::error::ApiError;
use crate::state::AppState;
use crate::state::limits::LimitVerdict;

pub const SESSION_COOKIE: &str = "gz_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const SESSION_HOURS: i64 = 12;
pub const MIN_PASSWORD_LEN: usize = 8;

/// Hashes a password with argon2id on a blocking thread.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || hash_password_blocking(&password))
        .await
        .map_err(|_| ApiError::internal())?
}

pub fn hash_password_blocking(password: &str) -> Result<String, ApiError> {
    if password.chars().count() < MIN_PASSWORD_LEN || password.len() > 1024 {
        return Err(ApiError::invalid(
            "password",
            format!("must be {MIN_PASSWORD_LEN} to 1024 characters"),
        ));
    }
    let mut salt_bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|_| ApiError::internal())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|_| ApiError::internal())
}

/// A fixed hash to verify against when the user does not exist, so that the
/// answer takes as long as for a real user.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3cLkgsXyqiI9pgIUOzkvyEVVTVGbNnvjVuYbz8CtQ0Y";

/// Verifies a password on a blocking thread. A missing hash never verifies.
pub async fn verify_password(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let stored = hash.as_deref().unwrap_or(DUMMY_HASH);
        let Ok(parsed) = PasswordHash::new(stored) else {
            return false;
        };
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        ok && hash.is_some()
    })
    .await
    .unwrap_or(false)
}

/// A random URL-safe token (256 bits).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Tokens and keys are stored only as their SHA-256.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub fn session_cookie(token: &str, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        SESSION_HOURS * 3600,
        if secure { "; Secure" } else { "" }
    )
}

pub fn clear_session_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
}

pub fn session_expiry() -> i64 {
    now_micros() + SESSION_HOURS * MICROS_PER_HOUR
}

pub(crate) fn cookie_value<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The authenticated caller. Rejects with 401 when there is none, and with 403
/// when a cookie-authenticated unsafe request lacks the session's CSRF token.
pub struct Auth {
    pub actor: Actor,
    /// Present for session (cookie) logins.
    pub session_token_hash: Option<String>,
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let key = value
                .to_str()
                .ok()
                .and_then(bearer_token)
                .ok_or_else(ApiError::unauthenticated)?;
            let actor = actor_for_api_key(state, key)
                .await?
                .ok_or_else(ApiError::unauthenticated)?;
            return Ok(Auth {
                actor,
                session_token_hash: None,
            });
        }
        let token = cookie_value(parts, SESSION_COOKIE).ok_or_else(ApiError::unauthenticated)?;
        let hash = token_hash(token);
        let (user_id, csrf) = state
            .db
            .session(&hash, now_micros())
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if sent.is_none_or(|s| !constant_time_eq(s.as_bytes(), csrf.as_bytes())) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "csrf_failed",
                    "send the session's CSRF token in the X-CSRF-Token header",
                ));
            }
        }
        let actor = state
            .actor(&user_id)
            .await?
            .ok_or_else(ApiError::unauthenticated)?;
        Ok(Auth {
            actor,
            session_token_hash: Some(hash),
        })
    }
}

/// The token of an `Authorization` header value in the Bearer scheme. The
/// scheme name is case-insensitive (RFC 9110 §11.1): `bearer x`, `BEARER x`.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once([' ', '\t'])?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The actor an API key stands for, if the key is live.
pub async fn actor_for_api_key(state: &AppState, key: &str) -> Result<Option<Actor>, ApiError> {
    let hash = token_hash(key.trim());
    let now = Instant::now();
    if let Some(actor) = state.api_keys.fresh(&hash, now) {
        return Ok(Some(actor));
    }
    let Some(user_id) = state.db.api_key_user(&hash).await? else {
        return Ok(None);
    };
    // Last use, once per cache period; a failed write must not refuse the key.
    if let Err(e) = state.db.touch_api_key(&hash, now_micros()).await {
        tracing::warn!(error = %e, "could not record an API key's use");
    }
    let actor = state.actor(&user_id).await?;
    if let Some(actor) = &actor {
        state.api_keys.remember(hash, now, actor);
    }
    Ok(actor)
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a password login was refused.
#[derive(Debug)]
pub enum LoginFailure {
    BadCredentials,
    AccountLocked { retry_after: Duration },
    AddressLimited { retry_after: Duration },
    Error(ApiError),
}

/// A new session: the cookie token (given to the browser only), its CSRF token
/// and the user.
pub struct NewSession {
    pub token: String,
    pub csrf: String,
    pub user_id: String,
}

/// Checks a username and password under the rate limiter and opens a session.
/// Shared by the JSON login and the login page.
pub async fn password_login(
    state: &AppState,
    username: &str,
    password: String,
    ip: IpAddr,
) -> Result<NewSession, LoginFailure> {
    if username.len() > 64 || password.len() > 1024 {
        return Err(LoginFailure::BadCredentials);
    }
    match state.limiter.check(username, ip) {
        LimitVerdict::Allowed => {}
        LimitVerdict::AccountLocked { retry_after } => {
            return Err(LoginFailure::AccountLocked { retry_after });
        }
        LimitVerdict::AddressLimited { retry_after } => {
            return Err(LoginFailure::AddressLimited { retry_after });
        }
    }
    let candidate = state
        .db
        .login_candidate(username)
        .await
        .map_err(|e| LoginFailure::Error(e.into()))?;
    let hash = candidate
        .as_ref()
        .filter(|c| !c.disabled)
        .and_then(|c| c.password_hash.clone());
    if !verify_password(password, hash).await {
        state.limiter.record_failure(username, ip);
        return Err(LoginFailure::BadCredentials);
    }
    let Some(candidate) = candidate else {
        return Err(LoginFailure::Error(ApiError::internal()));
    };
    state.limiter.record_success(username, ip);
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
        .await
        .map_err(|e| LoginFailure::Error(e.into()))?;
    Ok(NewSession {
        token,
        csrf,
        user_id: candidate.user_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let hash = hash_password_blocking("correct horse").unwrap_or_default();
        assert!(hash.starts_with("$argon2id$"));
        let parsed = PasswordHash::new(&hash);
        assert!(parsed.is_ok());
        assert!(hash_password_blocking("short").is_err());
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for value in [
            "Bearer gz_abc",
            "bearer gz_abc",
            "BEARER gz_abc",
            "bEaReR   gz_abc ",
            "Bearer\tgz_abc",
        ] {
            assert_eq!(bearer_token(value), Some("gz_abc"), "{value:?}");
        }
        for value in [
            "Basic gz_abc",
            "Bearer",
            "Bearer ",
            "Bearergz_abc",
            "",
            "Token gz",
        ] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }

    #[test]
    fn dummy_hash_parses() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
