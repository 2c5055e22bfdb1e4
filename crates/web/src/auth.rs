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
    let actor = state.actor(&user_id).await?;
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

/// A subject, with the address when counted per pair.
type SubjectKey = (String, Option<IpAddr>);

/// Counts failed attempts in a sliding window, per subject (an account, a
/// receipt code) and per client address. Kept in memory: a restart forgets,
/// which only ever errs towards letting a legitimate user back in.
///
/// For logins a subject is counted per (account, address) pair, so failures
/// sent from elsewhere can never lock the account's owner out; guessing from
/// many addresses is held back by the cap per address and by the cost of
/// argon2id. An administrator can lift an account's locks ([`unlock`](Self::unlock)).
pub struct LoginLimiter {
    per_subject: Mutex<HashMap<SubjectKey, Vec<Instant>>>,
    per_address: Mutex<HashMap<IpAddr, Vec<Instant>>>,
    /// Whether a subject is counted per address (logins) or across them.
    per_pair: bool,
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
    /// Logins: `max_per_account` failures lock an account for the address
    /// they came from only.
    pub fn per_pair(window: Duration, max_per_account: usize, max_per_address: usize) -> Self {
        Self::build(true, window, max_per_account, max_per_address)
    }

    /// Lookups by receipt code: failures from every address count together,
    /// since four digits are few enough to guess from many addresses.
    pub fn per_subject(window: Duration, max_per_subject: usize, max_per_address: usize) -> Self {
        Self::build(false, window, max_per_subject, max_per_address)
    }

    fn build(per_pair: bool, window: Duration, max_subject: usize, max_address: usize) -> Self {
        LoginLimiter {
            per_subject: Mutex::new(HashMap::new()),
            per_address: Mutex::new(HashMap::new()),
            per_pair,
            window,
            max_per_account: max_subject,
            max_per_address: max_address,
        }
    }

    fn key(&self, subject: &str, address: IpAddr) -> SubjectKey {
        (subject.to_string(), self.per_pair.then_some(address))
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
        if let Ok(mut map) = self.per_subject.lock()
            && let Some(list) = map.get_mut(&self.key(account, address))
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
        let window = self.window;
        let fresh = |l: &Vec<Instant>| l.last().is_some_and(|t| now.duration_since(*t) < window);
        if let Ok(mut map) = self.per_subject.lock() {
            // Bound memory under a spray of made-up names.
            if map.len() > 100_000 {
                map.retain(|_, l| fresh(l));
            }
            map.entry(self.key(account, address)).or_default().push(now);
        }
        if let Ok(mut map) = self.per_address.lock() {
            if map.len() > 100_000 {
                map.retain(|_, l| fresh(l));
            }
            map.entry(address).or_default().push(now);
        }
    }

    /// A success from an address forgets that pair's failures.
    pub fn record_success(&self, account: &str, address: IpAddr) {
        if let Ok(mut map) = self.per_subject.lock() {
            map.remove(&self.key(account, address));
        }
    }

    /// How many addresses the account is locked for now.
    pub fn locked_addresses(&self, account: &str) -> usize {
        let now = Instant::now();
        let Ok(mut map) = self.per_subject.lock() else {
            return 0;
        };
        map.iter_mut()
            .filter(|((subject, _), _)| subject == account)
            .filter_map(|(_, list)| {
                Self::prune(list, self.window, now);
                (list.len() >= self.max_per_account).then_some(())
            })
            .count()
    }

    /// Forgets the account's failures from every address (an administrator's
    /// unlock); returns how many addresses it was locked for. The caps per
    /// address stay: they guard against whoever sent the failures.
    pub fn unlock(&self, account: &str) -> usize {
        let locked = self.locked_addresses(account);
        if let Ok(mut map) = self.per_subject.lock() {
            map.retain(|(subject, _), _| subject != account);
        }
        locked
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
    fn limiter_locks_a_pair_then_an_address() {
        let limiter = LoginLimiter::per_pair(Duration::from_secs(60), 3, 5);
        let ip: IpAddr = [127, 0, 0, 1].into();
        let elsewhere: IpAddr = [192, 0, 2, 2].into();
        for _ in 0..3 {
            assert!(matches!(limiter.check("a", ip), LimitVerdict::Allowed));
            limiter.record_failure("a", ip);
        }
        assert!(matches!(
            limiter.check("a", ip),
            LimitVerdict::AccountLocked { .. }
        ));
        // The owner, from another address, is not locked out.
        assert!(matches!(
            limiter.check("a", elsewhere),
            LimitVerdict::Allowed
        ));
        assert_eq!(limiter.locked_addresses("a"), 1);
        assert!(matches!(limiter.check("b", ip), LimitVerdict::Allowed));
        limiter.record_failure("b", ip);
        limiter.record_failure("c", ip);
        assert!(matches!(
            limiter.check("d", ip),
            LimitVerdict::AddressLimited { .. }
        ));
        assert!(matches!(
            limiter.check("d", elsewhere),
            LimitVerdict::Allowed
        ));
    }

    #[test]
    fn unlock_lifts_every_lock_of_the_account() {
        let limiter = LoginLimiter::per_pair(Duration::from_secs(60), 2, 100);
        let addresses: Vec<IpAddr> = (1..=4).map(|i| IpAddr::from([192, 0, 2, i])).collect();
        for ip in &addresses {
            limiter.record_failure("admin", *ip);
            limiter.record_failure("admin", *ip);
            limiter.record_failure("other", *ip);
            limiter.record_failure("other", *ip);
        }
        assert_eq!(limiter.locked_addresses("admin"), 4);
        assert_eq!(limiter.unlock("admin"), 4);
        assert_eq!(limiter.locked_addresses("admin"), 0);
        for ip in &addresses {
            assert!(matches!(limiter.check("admin", *ip), LimitVerdict::Allowed));
            assert!(matches!(
                limiter.check("other", *ip),
                LimitVerdict::AccountLocked { .. }
            ));
        }
        assert_eq!(limiter.unlock("admin"), 0);
    }

    #[test]
    fn lookups_count_a_code_across_addresses() {
        let limiter = LoginLimiter::per_subject(Duration::from_secs(60), 2, 100);
        limiter.record_failure("K7M", [192, 0, 2, 1].into());
        limiter.record_failure("K7M", [192, 0, 2, 2].into());
        assert!(matches!(
            limiter.check("K7M", [192, 0, 2, 3].into()),
            LimitVerdict::AccountLocked { .. }
        ));
    }
}
