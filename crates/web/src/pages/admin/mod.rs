//! Administration pages under `/admin`: units and grids (GeoJSON import as a
//! background job with a progress page), users and roles, categories and
//! routing rules. Only administrators open them, and each manages only the
//! units and users inside the subtrees of their admin grants. Every change is
//! logged as an `admin.*` entry of the tamper-evident log (see
//! `gongzhi_store::admin`).

mod expertise;
mod jobs;
mod taxonomy;
mod units;
mod users;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};

use gongzhi_domain::role::Role;
use gongzhi_store::{ChangeBy, StoreError};

use crate::state::{AppState, ServerConfig};

use super::{Lang, PageError, Staff, see_other};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(index))
        .route("/admin/units", get(units::page).post(units::create))
        .route("/admin/units/rename", post(units::rename))
        .route("/admin/jobs/{id}", get(jobs::page))
        .route("/admin/jobs/{id}/status", get(jobs::status))
        .route("/admin/users", get(users::page).post(users::create))
        .route("/admin/users/{id}", get(users::manage))
        .route("/admin/users/{id}/{op}", post(users::change))
        .route(
            "/admin/users/{id}/expertise/{pack}/{field}",
            post(users::set_expertise),
        )
        .route("/admin/taxonomy", get(taxonomy::page))
        .route("/admin/taxonomy/category", post(taxonomy::category))
        .route("/admin/taxonomy/rule", post(taxonomy::rule))
}

/// The routes whose forms carry files (the GeoJSON import).
pub fn upload_routes(config: &ServerConfig) -> Router<AppState> {
    units::upload_routes(config)
}

/// Whether the staff member administers anything.
pub fn is_admin(staff: &Staff) -> bool {
    staff.actor.has_role(Role::ADMIN)
}

/// Whether the unit at `path` lies inside one of the staff member's admin subtrees.
fn covers(staff: &Staff, path: &str) -> bool {
    staff.actor.has_role_over(Role::ADMIN, path)
}

/// The change's author for the log: the user, at their widest admin unit.
fn change_by(staff: &Staff) -> ChangeBy {
    ChangeBy::from_actor(&staff.actor)
}

/// Refuses non-administrators as out-of-scope case pages are refused: the
/// pages do not exist for them.
fn refuse(state: &AppState, lang: Lang, staff: &Staff) -> Response {
    PageError::NotFound.render(state, lang, Some(staff))
}

/// Checks a form post: administrators only, and the session's CSRF token
/// (a forged post is answered 403 and changes nothing).
fn check_post(state: &AppState, lang: Lang, staff: &Staff, token: &str) -> Option<Response> {
    if !is_admin(staff) {
        Some(refuse(state, lang, staff))
    } else if !staff.csrf_ok(Some(token)) {
        Some(PageError::FormExpired.render(state, lang, Some(staff)))
    } else {
        None
    }
}

/// A store refusal as a message naming the field, in the page's language;
/// `None` for failures that are not the user's input.
fn input_error(lang: Lang, e: &StoreError) -> Option<String> {
    match e {
        StoreError::Invalid { field, message } => {
            let key = match field.as_str() {
                "code" if message.contains("already exists") => "admin.error_code_taken",
                "code" => "admin.error_code",
                "name" => "admin.error_name",
                "parent_id" => "admin.error_parent_kind",
                "username" if message.contains("already exists") => "admin.error_username_taken",
                "username" => "admin.error_username",
                "display_name" => "admin.error_display_name",
                "unit_id" => "admin.error_unit",
                _ => "admin.error_other",
            };
            Some(lang.tf(key, &[("message", message)]))
        }
        StoreError::Conflict(message) => {
            Some(lang.tf("admin.error_conflict", &[("message", message)]))
        }
        StoreError::NotFound(_) => Some(lang.t("admin.error_gone").to_string()),
        _ => None,
    }
}

async fn index(State(state): State<AppState>, lang: Lang, staff: Staff) -> Response {
    if !is_admin(&staff) {
        return refuse(&state, lang, &staff);
    }
    see_other("/admin/units")
}

/// The notice for `?done=KEY` after a change, from a fixed list.
fn done_notice(lang: Lang, done: Option<&str>) -> String {
    const DONE: [&str; 15] = [
        "unit_created",
        "unit_renamed",
        "user_created",
        "role_granted",
        "role_revoked",
        "password_reset",
        "user_disabled",
        "user_enabled",
        "user_unlocked",
        "key_revoked",
        "category_saved",
        "rule_saved",
        "grids_imported",
        "expertise_saved",
        "nothing",
    ];
    match done {
        Some(d) if DONE.contains(&d) => lang.t(&format!("admin.done_{d}")).to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys built at run time (the catalog test only sees literal ones).
    #[test]
    fn notice_keys_exist_in_both_languages() {
        for lang in [Lang::Zh, Lang::En] {
            for done in ["unit_created", "role_revoked", "rule_saved", "nothing"] {
                assert!(!done_notice(lang, Some(done)).is_empty());
                assert_ne!(done_notice(lang, Some(done)), "?");
            }
            assert!(done_notice(lang, Some("<script>")).is_empty());
        }
    }
}
