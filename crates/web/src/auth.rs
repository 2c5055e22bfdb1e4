//! Authentication: argon2id passwords (hashed off the async threads), session
//! cookies with a CSRF token, API keys, and a login rate limiter.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
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
            .db
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

/// How long a resolved API key is trusted without asking the database again.
/// Systems send many requests in a row; a revoked key or changed role takes
/// at most this long to bite.
pub const API_KEY_CACHE_TTL: Duration = Duration::from_secs(5);

/// Resolved API keys: key hash → (resolved at, actor).
#[derive(Default)]
pub struct ApiKeyCache {
    entries: Mutex<HashMap<String, (Instant, Actor)>>,
}

impl ApiKeyCache {
    /// Forgets every resolved key, so a revocation bites at once here.
    pub fn clear(&self) {
        if let Ok(mut cache) = self.entries.lock() {
            cache.clear();
        }
    }
}

/// The actor an API key stands for, if the key is live.
pub async fn actor_for_api_key(state: &AppState, key: &str) -> Result<Option<Actor>, ApiError> {
    let hash = token_hash(key.trim());
    let now = Instant::now();
    if let Ok(cache) = state.api_keys.entries.lock()
        && let Some((at, actor)) = cache.get(&hash)
        && now.duration_since(*at) < API_KEY_CACHE_TTL
    {
        return Ok(Some(actor.clone()));
    }
    let Some(user_id) = state.db.api_key_user(&hash).await? else {
        return Ok(None);
    };
    // Last use, once per cache period; a failed write must not refuse the key.
    if let Err(e) = state.db.touch_api_key(&hash, now_micros()).await {
        tracing::warn!(error = %e, "could not record an API key's use");
    }
    let actor = state.db.actor(&user_id).await?;
    if let (Some(actor), Ok(mut cache)) = (&actor, state.api_keys.entries.lock()) {
        // Bounded: stale entries go when the cache grows.
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| now.duration_since(*at) < API_KEY_CACHE_TTL);
        }
        cache.insert(hash, (now, actor.clone()));
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
    state.limiter.record_success(username);
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

/// Counts failed logins per account and per address in a sliding window.
/// Kept in memory: a restart forgets, which only ever errs towards letting a
/// legitimate user back in.
pub struct LoginLimiter {
    per_account: Mutex<HashMap<String, Vec<Instant>>>,
    per_address: Mutex<HashMap<IpAddr, Vec<Instant>>>,
    pub window: Duration,
    pub max_per_account: usize,
    pub max_per_address: usize,
}

pub enum LimitVerdict {
    Allowed,
    AccountLocked { retry_after: Duration },
    AddressLimited { retry_after: Duration },
}

impl LoginLimiter {
    pub fn new(window: Duration, max_per_account: usize, max_per_address: usize) -> Self {
        LoginLimiter {
            per_account: Mutex::new(HashMap::new()),
            per_address: Mutex::new(HashMap::new()),
            window,
            max_per_account,
            max_per_address,
        }
    }

    fn prune(list: &mut Vec<Instant>, window: Duration, now: Instant) {
        list.retain(|t| now.duration_since(*t) < window);
    }

    fn retry_after(list: &[Instant], window: Duration, now: Instant) -> Duration {
        list.first()
            .map(|t| window.saturating_sub(now.duration_since(*t)))
            .unwrap_or(window)
    }

    pub fn check(&self, account: &str, address: IpAddr) -> LimitVerdict {
        let now = Instant::now();
        if let Ok(mut map) = self.per_address.lock()
            && let Some(list) = map.get_mut(&address)
        {
            Self::prune(list, self.window, now);
            if list.len() >= self.max_per_address {
                return LimitVerdict::AddressLimited {
                    retry_after: Self::retry_after(list, self.window, now),
                };
            }
        }
        if let Ok(mut map) = self.per_account.lock()
            && let Some(list) = map.get_mut(account)
        {
            Self::prune(list, self.window, now);
            if list.len() >= self.max_per_account {
                return LimitVerdict::AccountLocked {
                    retry_after: Self::retry_after(list, self.window, now),
                };
            }
        }
        LimitVerdict::Allowed
    }

    pub fn record_failure(&self, account: &str, address: IpAddr) {
        let now = Instant::now();
        if let Ok(mut map) = self.per_account.lock() {
            // Bound memory under a spray of made-up names.
            if map.len() > 100_000 {
                map.retain(|_, l| {
                    l.last()
                        .is_some_and(|t| now.duration_since(*t) < self.window)
                });
            }
            map.entry(account.to_string()).or_default().push(now);
        }
        if let Ok(mut map) = self.per_address.lock() {
            if map.len() > 100_000 {
                map.retain(|_, l| {
                    l.last()
                        .is_some_and(|t| now.duration_since(*t) < self.window)
                });
            }
            map.entry(address).or_default().push(now);
        }
    }

    pub fn record_success(&self, account: &str) {
        if let Ok(mut map) = self.per_account.lock() {
            map.remove(account);
        }
    }
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

    #[test]
    fn limiter_locks_account_then_address() {
        let limiter = LoginLimiter::new(Duration::from_secs(60), 3, 5);
        let ip: IpAddr = [127, 0, 0, 1].into();
        for _ in 0..3 {
            assert!(matches!(limiter.check("a", ip), LimitVerdict::Allowed));
            limiter.record_failure("a", ip);
        }
        assert!(matches!(
            limiter.check("a", ip),
            LimitVerdict::AccountLocked { .. }
        ));
        assert!(matches!(limiter.check("b", ip), LimitVerdict::Allowed));
        limiter.record_failure("b", ip);
        limiter.record_failure("c", ip);
        assert!(matches!(
            limiter.check("d", ip),
            LimitVerdict::AddressLimited { .. }
        ));
    }
}
