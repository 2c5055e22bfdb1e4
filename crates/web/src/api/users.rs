use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use gongzhi_domain::access::Actor;
use gongzhi_domain::role::Role;
use gongzhi_store::{ChangeBy, IssueKey, NewAccount};

use crate::auth::{Auth, hash_password, random_token, token_hash};
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    role: String,
    unit_id: String,
}

fn require_admin(actor: &Actor) -> Result<(), ApiError> {
    if actor.has_role(Role::ADMIN) {
        Ok(())
    } else {
        Err(ApiError::forbidden("only administrators manage users"))
    }
}

/// Checks that every requested grant lies inside the admin's own scope.
async fn check_grants(
    state: &AppState,
    actor: &Actor,
    roles: &[RoleRequest],
) -> Result<Vec<(Role, String)>, ApiError> {
    if roles.len() > 50 {
        return Err(ApiError::invalid("roles", "at most 50 grants at once"));
    }
    let mut out = Vec::with_capacity(roles.len());
    for (i, r) in roles.iter().enumerate() {
        let role = state.packs.role(&r.role).map(|d| d.role).ok_or_else(|| {
            let known: Vec<&str> = state.packs.roles().map(|d| d.role.as_str()).collect();
            ApiError::invalid(
                &format!("roles[{i}].role"),
                format!("must be a declared role: {}", known.join(", ")),
            )
        })?;
        let unit = state
            .db
            .unit(&r.unit_id)
            .await?
            .ok_or_else(|| ApiError::invalid(&format!("roles[{i}].unit_id"), "no such unit"))?;
        if !actor.has_role_over(Role::ADMIN, &unit.path) {
            return Err(ApiError::forbidden(format!(
                "roles[{i}]: the unit lies outside your administration"
            )));
        }
        out.push((role, unit.id));
    }
    Ok(out)
}

/// Users with a grant inside the admin's scope.
pub async fn list(State(state): State<AppState>, auth: Auth) -> Result<Json<Value>, ApiError> {
    require_admin(&auth.actor)?;
    let units = state.db.units().await?;
    let path_of = |id: &str| {
        units
            .iter()
            .find(|u| u.id == id)
            .map(|u| u.path.clone())
            .unwrap_or_default()
    };
    let users: Vec<_> = state
        .db
        .users_with_roles()
        .await?
        .into_iter()
        .filter(|u| {
            u.roles
                .iter()
                .any(|g| auth.actor.has_role_over(Role::ADMIN, &path_of(&g.unit_id)))
        })
        .collect();
    Ok(Json(json!({"users": users})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    username: String,
    display_name: String,
    password: String,
    #[serde(default)]
    roles: Vec<RoleRequest>,
}

pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_admin(&auth.actor)?;
    let grants = check_grants(&state, &auth.actor, &req.roles).await?;
    gongzhi_store::validate_username(&req.username)?;
    let hash = hash_password(req.password).await?;
    let account = NewAccount {
        username: &req.username,
        display_name: &req.display_name,
        password_hash: Some(&hash),
    };
    let user = state
        .db
        .create_account_logged(account, &grants, &ChangeBy::from_actor(&auth.actor))
        .await?;
    tracing::info!(admin = %auth.actor.username, user = %user.username, "user created");
    Ok((StatusCode::CREATED, Json(json!({"user": user}))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// Name of the system account the key belongs to (created if new).
    username: String,
    name: String,
    #[serde(default)]
    roles: Vec<RoleRequest>,
}

/// Issues an API key for a system account, creating the account if new and
/// adding the requested grants. A key hands over every power its account
/// holds, so an existing account must lie wholly inside the caller's
/// administration. The key is shown once; only its hash is kept.
pub async fn create_api_key(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CreateApiKey>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_admin(&auth.actor)?;
    let grants = check_grants(&state, &auth.actor, &req.roles).await?;
    gongzhi_store::validate_username(&req.username)?;
    let key = format!("gz_{}", random_token());
    let prefix: String = key.chars().take(10).collect();
    let hash = token_hash(&key);
    let issue = IssueKey {
        username: &req.username,
        name: &req.name,
        key_hash: &hash,
        prefix: &prefix,
    };
    let actor = &auth.actor;
    let (id, user) = state
        .db
        .issue_api_key_logged(
            issue,
            &grants,
            |paths| actor.administers_account(paths.iter().map(String::as_str)),
            &ChangeBy::from_actor(actor),
        )
        .await?;
    tracing::info!(admin = %actor.username, account = %user.username, key = %prefix, "api key issued");
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "key": key, "prefix": prefix, "user_id": user.id})),
    ))
}

/// Whether the caller administers the account: every grant it holds lies
/// inside the caller's administration.
async fn administers(state: &AppState, actor: &Actor, user_id: &str) -> Result<bool, ApiError> {
    let paths = state.db.grant_paths(user_id).await?;
    Ok(actor.administers_account(paths.iter().map(String::as_str)))
}

/// An account's API keys (never the keys themselves). An account beyond the
/// caller's administration answers as a missing one.
pub async fn list_api_keys(
    State(state): State<AppState>,
    auth: Auth,
    Path(user_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&auth.actor)?;
    let exists = state.db.user_by_id(&user_id).await?.is_some();
    if !exists || !administers(&state, &auth.actor, &user_id).await? {
        return Err(ApiError::not_found("user"));
    }
    let keys = state.db.api_keys_of(&user_id).await?;
    Ok(Json(json!({"api_keys": keys})))
}

/// Revokes a key. A key of an account beyond the caller's administration
/// answers as a missing one.
pub async fn revoke_api_key(
    State(state): State<AppState>,
    auth: Auth,
    Path(key_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&auth.actor)?;
    let Some(key) = state.db.api_key(&key_id).await? else {
        return Err(ApiError::not_found("api key"));
    };
    if !administers(&state, &auth.actor, &key.user_id).await? {
        return Err(ApiError::not_found("api key"));
    }
    state
        .db
        .revoke_api_key_logged(&key_id, &ChangeBy::from_actor(&auth.actor))
        .await?;
    // This process stops honouring it at once; others within the cache time.
    state.api_keys.clear();
    tracing::info!(admin = %auth.actor.username, key = %key.prefix, "api key revoked");
    let key = state.db.api_key(&key_id).await?;
    Ok(Json(json!({"api_key": key})))
}

/// Lifts a user's login locks from every address and logs it. The caller
/// must administer the account (as for its password); a user beyond their
/// administration answers as a missing one.
pub async fn unlock(
    State(state): State<AppState>,
    auth: Auth,
    Path(username): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&auth.actor)?;
    let Some(user) = state.db.user_by_username(&username).await? else {
        return Err(ApiError::not_found("user"));
    };
    if !administers(&state, &auth.actor, &user.id).await? {
        return Err(ApiError::not_found("user"));
    }
    let locked = state.limiter.unlock(&user.username);
    state
        .db
        .log_user_unlocked(&user.id, locked, &ChangeBy::from_actor(&auth.actor))
        .await?;
    tracing::info!(admin = %auth.actor.username, user = %user.username, locked, "login locks lifted");
    Ok(Json(
        json!({"username": user.username, "locked_addresses": locked}),
    ))
}
