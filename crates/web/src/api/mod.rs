//! JSON API handlers, one module per resource.

pub(crate) mod attachments;
mod auth;
pub(crate) mod cases;
pub(crate) mod documents;
pub(crate) mod grid;
pub(crate) mod indicators;
mod interests;
pub(crate) mod links;
mod log;
mod meta;
pub(crate) mod parties;
mod people;
mod places;
pub(crate) mod public;
pub(crate) mod records;
mod units;
mod users;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::{get, post};

use crate::state::{AppState, ServerConfig};

/// Every route. Keep in step with `openapi::ROUTES` (a test walks that list
/// against this router).
pub fn routes(config: &ServerConfig) -> Router<AppState> {
    Router::new()
        .route("/healthz", get(meta::healthz))
        .route("/api/openapi.json", get(meta::openapi))
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/auth/logout", post(auth::logout))
        .route("/api/v1/me", get(auth::me))
        .route(
            "/api/v1/me/interests",
            get(interests::list).post(interests::create),
        )
        .route(
            "/api/v1/me/interests/{interest_id}/remove",
            post(interests::remove),
        )
        .route("/api/v1/places/locate", get(places::locate))
        .route("/api/v1/units", get(units::list).post(units::create))
        .route("/api/v1/units/{id}", get(units::get_one))
        .route("/api/v1/packs", get(meta::packs))
        .route("/api/v1/users", get(users::list).post(users::create))
        .route("/api/v1/api-keys", post(users::create_api_key))
        .route("/api/v1/users/{id}/api-keys", get(users::list_api_keys))
        .route("/api/v1/users/{username}/unlock", post(users::unlock))
        .route("/api/v1/api-keys/{id}/revoke", post(users::revoke_api_key))
        .route("/api/v1/cases", get(cases::list).post(cases::create))
        .route("/api/v1/cases/{id}", get(cases::get_one))
        .route("/api/v1/cases/{id}/actions", post(cases::act))
        .route("/api/v1/cases/{id}/timeline", get(cases::timeline))
        .route("/api/v1/cases/{id}/reveal", post(cases::reveal))
        .route("/api/v1/cases/{id}/candidates", get(people::candidates))
        .route(
            "/api/v1/cases/{id}/links",
            get(links::list).post(links::create),
        )
        .route(
            "/api/v1/cases/{id}/links/{link_id}/remove",
            post(links::remove),
        )
        .route(
            "/api/v1/cases/{id}/parties",
            get(parties::list).post(parties::create),
        )
        .route(
            "/api/v1/cases/{id}/parties/{party_id}/remove",
            post(parties::remove),
        )
        .route("/api/v1/cases/{id}/documents", post(documents::create))
        .route(
            "/api/v1/cases/{id}/records",
            get(records::list).post(records::create),
        )
        .route(
            "/api/v1/cases/{id}/records/{record_id}/actions",
            post(records::act),
        )
        .route("/api/v1/indicators", get(indicators::get))
        .route("/api/v1/public/lookup", post(public::lookup))
        .route(
            "/api/v1/grid/reports",
            post(grid::report.layer(DefaultBodyLimit::max(
                config.upload_body_limit().saturating_mul(grid::MAX_PHOTOS),
            ))),
        )
        .route(
            "/api/v1/cases/{id}/attachments",
            get(attachments::list).post(attachments::upload.layer(
                // Its own limit: the global one is sized for JSON bodies.
                DefaultBodyLimit::max(config.upload_body_limit()),
            )),
        )
        .route("/api/v1/attachments/{id}", get(attachments::download))
        .route(
            "/api/v1/attachments/{id}/public",
            get(attachments::download_public),
        )
        .route("/api/v1/cases/{id}/bundle", get(log::bundle))
        .route("/api/v1/log/checkpoint", get(log::checkpoint))
        .route("/api/v1/log/checkpoints", get(log::checkpoints))
        .route("/api/v1/log/key", get(log::key))
        .route("/api/v1/log/proof/inclusion", get(log::inclusion))
        .route("/api/v1/log/proof/consistency", get(log::consistency))
        .route("/api/v1/log/cosignatures", post(log::cosign))
}
