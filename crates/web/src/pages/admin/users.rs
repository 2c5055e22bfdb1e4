//! Users with a role inside the admin's subtrees: create one, grant and
//! revoke roles, reset a password, disable and enable. A grant is refused
//! at a unit outside the admin's subtrees (that would reach above their own
//! scope); a user with any role outside them is managed by a wider admin.

use std::collections::HashMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use gongzhi_domain::role::Role;
use gongzhi_store::UserWithRoles;

use crate::auth::{MIN_PASSWORD_LEN, hash_password};
use crate::state::AppState;

use super::super::{Ctx, Lang, PageError, Staff, render, see_other};
use super::expertise::{self, ExpertiseForm, Holder};
use super::units::{UnitRow, units_in_scope};
use super::{change_by, check_post, covers, done_notice, input_error, is_admin, refuse};

pub struct RoleOption {
    pub value: &'static str,
    pub label: String,
}

pub struct GrantView {
    pub role: &'static str,
    pub role_label: String,
    pub unit_id: String,
    pub unit: String,
    /// Inside the admin's subtrees, so they may revoke it.
    pub mine: bool,
}

pub struct UserView {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub system: bool,
    pub disabled: bool,
    pub grants: Vec<GrantView>,
    /// Every grant lies inside the admin's subtrees: password and disabling are theirs.
    pub manageable: bool,
}

/// A role's name as its pack declares it; a stored grant of a role no loaded
/// pack declares shows its id, so it can still be seen and revoked.
pub fn role_label(state: &AppState, lang: Lang, role: Role) -> String {
    state
        .packs
        .role(role.as_str())
        .map_or(role.as_str(), |d| lang.pick(&d.name.zh, &d.name.en))
        .to_string()
}

fn role_options(state: &AppState, lang: Lang) -> Vec<RoleOption> {
    state
        .packs
        .roles()
        .map(|d| RoleOption {
            value: d.role.as_str(),
            label: lang.pick(&d.name.zh, &d.name.en).to_string(),
        })
        .collect()
}

/// Users with a grant inside the admin's subtrees.
async fn users_in_scope(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
) -> Result<Vec<UserView>, PageError> {
    let units = state.db.units().await?;
    let paths: HashMap<String, String> = units.into_iter().map(|u| (u.id, u.path)).collect();
    let users = state.db.users_with_roles().await?;
    Ok(users
        .into_iter()
        .filter(|u| {
            u.roles
                .iter()
                .any(|g| covers(staff, path_of(&paths, &g.unit_id)))
        })
        .map(|u| view(state, lang, staff, u, &paths))
        .collect())
}

fn path_of<'a>(paths: &'a HashMap<String, String>, id: &str) -> &'a str {
    paths.get(id).map(String::as_str).unwrap_or_default()
}

fn view(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    u: UserWithRoles,
    paths: &HashMap<String, String>,
) -> UserView {
    let grants: Vec<GrantView> = u
        .roles
        .iter()
        .map(|g| GrantView {
            role: g.role.as_str(),
            role_label: role_label(state, lang, g.role),
            unit_id: g.unit_id.clone(),
            unit: format!("{} {}", g.unit_code, g.unit_name),
            mine: covers(staff, path_of(paths, &g.unit_id)),
        })
        .collect();
    UserView {
        manageable: grants.iter().all(|g| g.mine),
        id: u.user.id,
        username: u.user.username,
        display_name: u.user.display_name,
        system: u.user.kind == "system",
        disabled: u.user.disabled,
        grants,
    }
}

#[derive(Deserialize, Default)]
pub struct UserForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    unit_id: String,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    p: Ctx,
    section: &'static str,
    users: Vec<UserView>,
    roles: Vec<RoleOption>,
    units: Vec<UnitRow>,
    form: UserForm,
    errors: Vec<String>,
    notice: String,
    min_password: usize,
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserPage {
    p: Ctx,
    section: &'static str,
    user: UserView,
    roles: Vec<RoleOption>,
    units: Vec<UnitRow>,
    errors: Vec<String>,
    notice: String,
    min_password: usize,
    is_self: bool,
    /// The account's API keys, for a system account the admin manages.
    keys: Vec<KeyView>,
    /// A key just issued: shown this once, never stored.
    new_key: String,
    /// For how many addresses the account's login is locked now, and that in words.
    locked: usize,
    lock_state: String,
    /// What the user is experienced in, where a pack asks.
    expertise: Vec<ExpertiseForm>,
}

/// One API key as the admin page lists it.
struct KeyView {
    id: String,
    name: String,
    prefix: String,
    created: String,
    created_by: String,
    last_used: String,
    revoked: String,
}

fn key_views(state: &AppState, lang: Lang, keys: Vec<gongzhi_store::ApiKeyInfo>) -> Vec<KeyView> {
    let tz = state.calendar.tz();
    let when = |at: Option<i64>| {
        at.map(|m| super::super::format_time(tz, lang, m, "date.datetime"))
            .unwrap_or_default()
    };
    keys.into_iter()
        .map(|k| KeyView {
            created: when(Some(k.created_at)),
            created_by: k
                .created_by
                .unwrap_or_else(|| lang.t("admin.key_by_system").to_string()),
            last_used: match k.last_used_at {
                Some(at) => when(Some(at)),
                None => lang.t("admin.key_never_used").to_string(),
            },
            revoked: match (k.revoked_at, k.revoked_by) {
                (Some(at), by) => format!("{} {}", when(Some(at)), by.unwrap_or_default()),
                (None, _) => String::new(),
            },
            id: k.id,
            name: k.name,
            prefix: k.prefix,
        })
        .collect()
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    done: Option<String>,
}

async fn list_with(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    mut form: UserForm,
    errors: Vec<String>,
    notice: String,
    status: StatusCode,
) -> Response {
    let built = async {
        Ok::<_, PageError>((
            users_in_scope(state, lang, staff).await?,
            units_in_scope(state, lang, staff).await?,
        ))
    }
    .await;
    let (users, units) = match built {
        Ok(b) => b,
        Err(e) => return e.render(state, lang, Some(staff)),
    };
    // A password is never sent back into the page.
    form.password.clear();
    let page = UsersPage {
        p: Ctx::new(state, lang, Some(staff), "/admin/users"),
        section: "users",
        users,
        roles: role_options(state, lang),
        units,
        form,
        errors,
        notice,
        min_password: MIN_PASSWORD_LEN,
    };
    render(status, &page)
}

pub async fn page(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Query(q): Query<DoneQuery>,
) -> Response {
    if !is_admin(&staff) {
        return refuse(&state, lang, &staff);
    }
    let notice = done_notice(lang, q.done.as_deref());
    list_with(
        &state,
        lang,
        &staff,
        UserForm::default(),
        Vec::new(),
        notice,
        StatusCode::OK,
    )
    .await
}

/// The unit with this id, if inside the admin's subtrees.
async fn unit_path_in_scope(
    state: &AppState,
    staff: &Staff,
    unit_id: &str,
) -> Result<Option<String>, PageError> {
    if unit_id.is_empty() {
        return Ok(None);
    }
    Ok(state
        .db
        .unit(unit_id)
        .await?
        .map(|u| u.path)
        .filter(|p| covers(staff, p)))
}

fn password_error(lang: Lang) -> String {
    lang.tf(
        "admin.error_password",
        &[("n", &MIN_PASSWORD_LEN.to_string())],
    )
}

pub async fn create(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Form(form): Form<UserForm>,
) -> Response {
    if let Some(refused) = check_post(&state, lang, &staff, &form.csrf_token) {
        return refused;
    }
    let mut errors = Vec::new();
    let role = state.packs.role(&form.role).map(|d| d.role);
    if role.is_none() {
        errors.push(lang.t("admin.error_role").to_string());
    }
    match unit_path_in_scope(&state, &staff, &form.unit_id).await {
        Ok(Some(_)) => {}
        Ok(None) => errors.push(lang.t("admin.error_grant_scope").to_string()),
        Err(e) => return e.render(&state, lang, Some(&staff)),
    }
    if let Err(e) = gongzhi_store::validate_username(form.username.trim()) {
        errors.extend(input_error(lang, &e));
    }
    let display_name = form.display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 100 {
        errors.push(lang.t("admin.error_display_name").to_string());
    }
    let password_ok =
        form.password.chars().count() >= MIN_PASSWORD_LEN && form.password.len() <= 1024;
    if !password_ok {
        errors.push(password_error(lang));
    }
    if let (Some(role), true) = (role, errors.is_empty()) {
        let hash = match hash_password(form.password.clone()).await {
            Ok(h) => h,
            Err(_) => return PageError::Internal.render(&state, lang, Some(&staff)),
        };
        let created = state
            .db
            .create_user_logged(
                form.username.trim(),
                display_name,
                &hash,
                (role, &form.unit_id),
                &change_by(&staff),
            )
            .await;
        match created {
            Ok(_) => return see_other("/admin/users?done=user_created"),
            Err(e) => match input_error(lang, &e) {
                Some(message) => errors.push(message),
                None => return PageError::from(e).render(&state, lang, Some(&staff)),
            },
        }
    }
    list_with(
        &state,
        lang,
        &staff,
        form,
        errors,
        String::new(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// The user as the admin sees them; `None` when no grant of theirs lies
/// inside the admin's subtrees (such a user does not exist for them).
pub(super) async fn user_in_scope(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    id: &str,
) -> Result<Option<UserView>, PageError> {
    Ok(users_in_scope(state, lang, staff)
        .await?
        .into_iter()
        .find(|u| u.id == id))
}

async fn manage_with(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    user: UserView,
    errors: Vec<String>,
    notice: String,
    status: StatusCode,
) -> Response {
    manage_page(
        state,
        lang,
        staff,
        user,
        (errors, notice, String::new()),
        status,
    )
    .await
}

/// The user page; `said` is (errors, notice, a key just issued).
async fn manage_page(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    user: UserView,
    said: (Vec<String>, String, String),
    status: StatusCode,
) -> Response {
    let (errors, notice, new_key) = said;
    let units = match units_in_scope(state, lang, staff).await {
        Ok(u) => u,
        Err(e) => return e.render(state, lang, Some(staff)),
    };
    let keys = if user.system && user.manageable {
        match state.db.api_keys_of(&user.id).await {
            Ok(keys) => key_views(state, lang, keys),
            Err(e) => return PageError::from(e).render(state, lang, Some(staff)),
        }
    } else {
        Vec::new()
    };
    let holder = Holder {
        id: &user.id,
        roles: user.grants.iter().map(|g| g.role).collect(),
        manageable: user.manageable,
    };
    let expertise = match expertise::forms(state, lang, &holder).await {
        Ok(forms) => forms,
        Err(e) => return e.render(state, lang, Some(staff)),
    };
    let locked = state.limiter.locked_addresses(&user.username);
    let lock_state = if locked == 0 {
        lang.t("admin.lock_none").to_string()
    } else {
        lang.tf("admin.lock_locked", &[("n", &locked.to_string())])
    };
    let page = UserPage {
        p: Ctx::new(
            state,
            lang,
            Some(staff),
            &format!("/admin/users/{}", user.id),
        ),
        locked,
        lock_state,
        section: "users",
        is_self: user.id == staff.actor.user_id,
        user,
        roles: role_options(state, lang),
        units,
        errors,
        notice,
        min_password: MIN_PASSWORD_LEN,
        keys,
        new_key,
        expertise,
    };
    render(status, &page)
}

pub async fn manage(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Response {
    if !is_admin(&staff) {
        return refuse(&state, lang, &staff);
    }
    match user_in_scope(&state, lang, &staff, &id).await {
        Ok(Some(user)) => {
            let notice = done_notice(lang, q.done.as_deref());
            manage_with(
                &state,
                lang,
                &staff,
                user,
                Vec::new(),
                notice,
                StatusCode::OK,
            )
            .await
        }
        Ok(None) => PageError::NotFound.render(&state, lang, Some(&staff)),
        Err(e) => e.render(&state, lang, Some(&staff)),
    }
}

#[derive(Deserialize, Default)]
pub struct ChangeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    unit_id: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    key_name: String,
    #[serde(default)]
    key_id: String,
}

/// One change to a user: `grant`, `revoke`, `password`, `disable`, `enable`,
/// `unlock` (lift the login locks), `key` (issue an API key to a system
/// account), `key_revoke`.
pub async fn change(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path((id, op)): Path<(String, String)>,
    Form(form): Form<ChangeForm>,
) -> Response {
    if let Some(refused) = check_post(&state, lang, &staff, &form.csrf_token) {
        return refused;
    }
    let user = match user_in_scope(&state, lang, &staff, &id).await {
        Ok(Some(user)) => user,
        Ok(None) => return PageError::NotFound.render(&state, lang, Some(&staff)),
        Err(e) => return e.render(&state, lang, Some(&staff)),
    };
    let by = change_by(&staff);
    let is_self = user.id == staff.actor.user_id;
    let mut errors = Vec::new();
    let result = match op.as_str() {
        "grant" | "revoke" => {
            // A grant needs a declared role; a revoke takes any role held.
            let role = if op == "grant" {
                state.packs.role(&form.role).map(|d| d.role)
            } else {
                Role::parse(&form.role)
            };
            let in_scope = match unit_path_in_scope(&state, &staff, &form.unit_id).await {
                Ok(p) => p.is_some(),
                Err(e) => return e.render(&state, lang, Some(&staff)),
            };
            match (role, in_scope) {
                (None, _) => {
                    errors.push(lang.t("admin.error_role").to_string());
                    None
                }
                (_, false) => {
                    errors.push(lang.t("admin.error_grant_scope").to_string());
                    None
                }
                (Some(role), true) if op == "grant" => Some((
                    state
                        .db
                        .grant_role_logged(&user.id, role, &form.unit_id, &by)
                        .await,
                    "role_granted",
                )),
                (Some(role), true) => {
                    let held = user
                        .grants
                        .iter()
                        .any(|g| g.role == role.as_str() && g.unit_id == form.unit_id);
                    if is_self && role == Role::ADMIN {
                        errors.push(lang.t("admin.error_own_admin").to_string());
                        None
                    } else if held && user.grants.len() == 1 {
                        errors.push(lang.t("admin.error_last_grant").to_string());
                        None
                    } else {
                        Some((
                            state
                                .db
                                .revoke_role_logged(&user.id, role, &form.unit_id, &by)
                                .await,
                            "role_revoked",
                        ))
                    }
                }
            }
        }
        "password" | "disable" | "enable" | "unlock" | "key" | "key_revoke" if !user.manageable => {
            errors.push(lang.t("admin.error_user_scope").to_string());
            None
        }
        "key" | "key_revoke" if !user.system => {
            errors.push(lang.t("admin.error_key_person").to_string());
            None
        }
        "key" => return issue_key(&state, lang, &staff, user, &form.key_name, &by).await,
        "key_revoke" => {
            let owned =
                matches!(state.db.api_key(&form.key_id).await, Ok(Some(k)) if k.user_id == user.id);
            if owned {
                let done = state.db.revoke_api_key_logged(&form.key_id, &by).await;
                state.api_keys.clear();
                Some((done, "key_revoked"))
            } else {
                return PageError::NotFound.render(&state, lang, Some(&staff));
            }
        }
        "password" | "disable" | "enable" if !user.manageable => {
            errors.push(lang.t("admin.error_user_scope").to_string());
            None
        }
        "password" if user.system => {
            errors.push(lang.t("admin.error_system_password").to_string());
            None
        }
        "password" => {
            let ok =
                form.password.chars().count() >= MIN_PASSWORD_LEN && form.password.len() <= 1024;
            if ok {
                match hash_password(form.password.clone()).await {
                    Ok(hash) => Some((
                        state.db.reset_password_logged(&user.id, &hash, &by).await,
                        "password_reset",
                    )),
                    Err(_) => return PageError::Internal.render(&state, lang, Some(&staff)),
                }
            } else {
                errors.push(password_error(lang));
                None
            }
        }
        "disable" if is_self => {
            errors.push(lang.t("admin.error_disable_self").to_string());
            None
        }
        "disable" => Some((
            state.db.set_user_disabled(&user.id, true, &by).await,
            "user_disabled",
        )),
        "enable" => Some((
            state.db.set_user_disabled(&user.id, false, &by).await,
            "user_enabled",
        )),
        "unlock" => {
            let locked = state.limiter.unlock(&user.username);
            tracing::info!(admin = %staff.actor.username, user = %user.username, locked, "login locks lifted");
            Some((
                state.db.log_user_unlocked(&user.id, locked, &by).await,
                "user_unlocked",
            ))
        }
        _ => return PageError::NotFound.render(&state, lang, Some(&staff)),
    };
    if let Some((result, done)) = result {
        match result {
            Ok(()) => return see_other(&format!("/admin/users/{}?done={done}", user.id)),
            Err(e) => match input_error(lang, &e) {
                Some(message) => errors.push(message),
                None => return PageError::from(e).render(&state, lang, Some(&staff)),
            },
        }
    }
    manage_with(
        &state,
        lang,
        &staff,
        user,
        errors,
        String::new(),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// Issues an API key to the system account and shows it once.
async fn issue_key(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    user: UserView,
    name: &str,
    by: &gongzhi_store::ChangeBy,
) -> Response {
    let key = format!("gz_{}", crate::auth::random_token());
    let prefix: String = key.chars().take(10).collect();
    let hash = crate::auth::token_hash(&key);
    let issue = gongzhi_store::IssueKey {
        username: &user.username,
        name,
        key_hash: &hash,
        prefix: &prefix,
    };
    let actor = &staff.actor;
    let issued = state
        .db
        .issue_api_key_logged(
            issue,
            &[],
            |paths| actor.administers_account(paths.iter().map(String::as_str)),
            by,
        )
        .await;
    match issued {
        Ok(_) => {
            let notice = lang.t("admin.done_key_issued").to_string();
            manage_page(
                state,
                lang,
                staff,
                user,
                (Vec::new(), notice, key),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => match input_error(lang, &e) {
            Some(message) => {
                manage_page(
                    state,
                    lang,
                    staff,
                    user,
                    (vec![message], String::new(), String::new()),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await
            }
            None => PageError::from(e).render(state, lang, Some(staff)),
        },
    }
}

/// `POST /admin/users/{id}/expertise/{pack}/{field}`: the ticked `value`s
/// replace what the user is experienced in; logged.
pub async fn set_expertise(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path((id, pack, field)): Path<(String, String, String)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let token = super::super::form_get(&form, "csrf_token").unwrap_or_default();
    if let Some(refused) = check_post(&state, lang, &staff, token) {
        return refused;
    }
    let user = match user_in_scope(&state, lang, &staff, &id).await {
        Ok(Some(user)) if user.manageable => user,
        Ok(_) => return PageError::NotFound.render(&state, lang, Some(&staff)),
        Err(e) => return e.render(&state, lang, Some(&staff)),
    };
    // The field must be one a person field of the pack asks for, for a
    // role this user holds; values must be its options.
    let roles: Vec<&str> = user.grants.iter().map(|g| g.role).collect();
    let Some(options) = expertise::allowed_options(&state.packs, &pack, &field, &roles) else {
        return PageError::NotFound.render(&state, lang, Some(&staff));
    };
    let values: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "value")
        .map(|(_, v)| v.clone())
        .collect();
    if values
        .iter()
        .any(|v| !options.iter().any(|o| &o.value == v))
    {
        return PageError::NotFound.render(&state, lang, Some(&staff));
    }
    match state
        .db
        .set_expertise_logged(&change_by(&staff), &user.id, &pack, &field, &values)
        .await
    {
        Ok(()) => see_other(&format!("/admin/users/{}?done=expertise_saved", user.id)),
        Err(e) => PageError::from(e).render(&state, lang, Some(&staff)),
    }
}
