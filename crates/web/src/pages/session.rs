//! Staff sessions on pages: the session cookie identifies the user; form posts
//! carry the session's CSRF token in a hidden `csrf_token` field.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

use gongzhi_domain::access::Actor;
use gongzhi_domain::time::now_micros;

use crate::auth::{SESSION_COOKIE, constant_time_eq, cookie_value, token_hash};
use crate::pages::{PageError, urlencode};
use crate::state::AppState;

use super::Lang;

/// A signed-in staff member. Pages that need one redirect to the login page
/// without it.
pub struct Staff {
    pub actor: Actor,
    pub csrf: String,
    pub session_hash: String,
}

impl Staff {
    /// Whether a form's `csrf_token` is this session's.
    pub fn csrf_ok(&self, sent: Option<&str>) -> bool {
        sent.is_some_and(|s| constant_time_eq(s.as_bytes(), self.csrf.as_bytes()))
    }
}

async fn staff_of(parts: &Parts, state: &AppState) -> Result<Option<Staff>, PageError> {
    let Some(token) = cookie_value(parts, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = token_hash(token);
    let Some((user_id, csrf)) = state.db.session(&hash, now_micros()).await? else {
        return Ok(None);
    };
    let Some(actor) = state.actor(&user_id).await? else {
        return Ok(None);
    };
    Ok(Some(Staff {
        actor,
        csrf,
        session_hash: hash,
    }))
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match staff_of(parts, state).await {
            Ok(Some(staff)) => Ok(staff),
            Ok(None) => {
                let here = parts
                    .uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/work");
                Err(Redirect::to(&format!("/login?next={}", urlencode(here))).into_response())
            }
            Err(e) => {
                let lang = Lang::from_request_parts(parts, state)
                    .await
                    .unwrap_or_default();
                Err(e.render(state, lang, None))
            }
        }
    }
}

/// The signed-in staff member, if any (public pages show a link to their work).
pub struct MaybeStaff(pub Option<Staff>);

impl FromRequestParts<AppState> for MaybeStaff {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeStaff(staff_of(parts, state).await.ok().flatten()))
    }
}
