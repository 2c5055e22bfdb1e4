use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use gongzhi_domain::access::Actor;
use gongzhi_domain::role::Role;

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
    if actor.has_role(Role::Admin) {
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
        let role = Role::parse(&r.role).ok_or_else(|| {
            ApiError::invalid(
                &format!("roles[{i}].role"),
                "must be operator, dispatcher, handler, grid_worker, mediator, supervisor or admin",
            )
        })?;
        let unit = state
            .db
            .unit(&r.unit_id)
            .await?
            .ok_or_else(|| ApiError::invalid(&format!("roles[{i}].unit_id"), "no such unit"))?;
        if !actor.has_role_over(Role::Admin, &unit.path) {
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
                .any(|g| auth.actor.has_role_over(Role::Admin, &path_of(&g.unit_id)))
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
    let user = state
        .db
        .create_user(&req.username, &req.display_name, Some(&hash))
        .await?;
    for (role, unit) in grants {
        state.db.grant_role(&user.id, role, &unit).await?;
    }
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

/// Creates a system account with the given grants and an API key for it. The
/// key is shown once; only its hash is kept.
pub async fn create_api_key(
    State(state): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<CreateApiKey>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    require_admin(&auth.actor)?;
    let grants = check_grants(&state, &auth.actor, &req.roles).await?;
    let user = match state.db.user_by_username(&req.username).await? {
        Some(u) if u.kind == "system" => u,
        Some(_) => {
            return Err(ApiError::invalid(
                "username",
                "names a person; API keys belong to system accounts",
            ));
        }
        None => state.db.create_user(&req.username, &req.name, None).await?,
    };
    for (role, unit) in grants {
        state.db.grant_role(&user.id, role, &unit).await?;
    }
    let key = format!("gz_{}", random_token());
    let prefix: String = key.chars().take(10).collect();
    let id = state
        .db
        .create_api_key(&user.id, &req.name, &token_hash(&key), &prefix)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "key": key, "prefix": prefix, "user_id": user.id})),
    ))
}
