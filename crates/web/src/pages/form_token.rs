//! Cross-site request forgery protection for the forms used without a
//! session: login and the public portal (submit, lookup, rating). Signed-in
//! forms carry the session's token instead (see `session`).
//!
//! A double-submit token: showing a form sets a random cookie and puts the
//! same value in a hidden field; a post must carry both, equal. Another site
//! can make a browser post a form here, but cannot read or set this site's
//! cookie, so it cannot make the pair match.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::Response;

use crate::auth::{constant_time_eq, cookie_value, random_token};
use crate::state::AppState;

pub const FORM_COOKIE: &str = "gz_form";
/// The hidden field's name.
pub const FORM_FIELD: &str = "form_token";
/// Long enough for a form left open over a working day.
const MAX_AGE_SECONDS: u32 = 24 * 3600;

/// The browser's form token: the one its cookie holds, or a new one.
pub struct FormToken {
    value: String,
    /// Made for this response: the browser does not have it yet.
    fresh: bool,
}

fn well_formed(token: &str) -> bool {
    (32..=128).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl FromRequestParts<AppState> for FormToken {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(
            match cookie_value(parts, FORM_COOKIE).filter(|t| well_formed(t)) {
                Some(token) => FormToken {
                    value: token.to_string(),
                    fresh: false,
                },
                None => FormToken {
                    value: random_token(),
                    fresh: true,
                },
            },
        )
    }
}

impl FormToken {
    /// The value for the form's hidden field.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a posted field matches the browser's cookie. A token made for
    /// this very request never matches: the browser did not send one.
    pub fn matches(&self, sent: Option<&str>) -> bool {
        !self.fresh && sent.is_some_and(|s| constant_time_eq(s.as_bytes(), self.value.as_bytes()))
    }

    /// Sets the cookie on a response that shows a form, when the browser has
    /// none yet.
    pub fn set_on(&self, mut response: Response, secure: bool) -> Response {
        if self.fresh {
            let cookie = format!(
                "{FORM_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={MAX_AGE_SECONDS}{}",
                self.value,
                if secure { "; Secure" } else { "" }
            );
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_must_come_back_equal_and_from_the_cookie() {
        let old = FormToken {
            value: "a".repeat(43),
            fresh: false,
        };
        assert!(old.matches(Some(&"a".repeat(43))));
        assert!(!old.matches(Some(&"b".repeat(43))));
        assert!(!old.matches(None));
        let fresh = FormToken {
            value: "a".repeat(43),
            fresh: true,
        };
        assert!(!fresh.matches(Some(&"a".repeat(43))));
    }

    #[test]
    fn odd_cookies_are_not_tokens() {
        assert!(well_formed(&random_token()));
        assert!(!well_formed("short"));
        assert!(!well_formed(&"a;b".repeat(20)));
    }
}
