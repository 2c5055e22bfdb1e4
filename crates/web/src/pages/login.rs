//! Staff login and logout.

use std::net::SocketAddr;

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;

use crate::auth::{LoginFailure, clear_session_cookie, password_login, session_cookie};
use crate::state::AppState;

use super::session::MaybeStaff;
use super::{Ctx, Lang, PageError, local_path, render, see_other};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    p: Ctx,
    next: String,
    username: String,
    error: Option<String>,
    notice: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct FormQuery {
    next: Option<String>,
    bye: Option<String>,
}

pub async fn form(
    State(state): State<AppState>,
    lang: Lang,
    MaybeStaff(staff): MaybeStaff,
    Query(q): Query<FormQuery>,
) -> Response {
    let next = local_path(q.next.as_deref()).to_string();
    if staff.is_some() {
        return see_other(if next == "/" { "/work" } else { &next });
    }
    let p = Ctx::new(&state, lang, None, "/login");
    let notice = q.bye.is_some().then(|| p.t("login.logged_out"));
    render(
        StatusCode::OK,
        &LoginPage {
            p,
            next,
            username: String::new(),
            error: None,
            notice,
        },
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
}

fn minutes(d: std::time::Duration) -> String {
    d.as_secs().div_ceil(60).max(1).to_string()
}

pub async fn login(
    State(state): State<AppState>,
    lang: Lang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_path(form.next.as_deref()).to_string();
    let username = form.username.trim().to_string();
    let failure = match password_login(&state, &username, form.password, addr.ip()).await {
        Ok(session) => {
            let mut response = see_other(if next == "/" { "/work" } else { &next });
            if let Ok(v) =
                HeaderValue::from_str(&session_cookie(&session.token, state.config.secure_cookies))
            {
                response.headers_mut().insert(header::SET_COOKIE, v);
            }
            return response;
        }
        Err(f) => f,
    };
    let (status, error) = match failure {
        LoginFailure::BadCredentials => (
            StatusCode::UNAUTHORIZED,
            lang.t("login.bad_credentials").to_string(),
        ),
        LoginFailure::AccountLocked { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            lang.tf(
                "login.account_locked",
                &[("minutes", &minutes(retry_after))],
            ),
        ),
        LoginFailure::AddressLimited { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            lang.tf(
                "login.too_many_attempts",
                &[("minutes", &minutes(retry_after))],
            ),
        ),
        LoginFailure::Error(e) => return PageError::from(e).render(&state, lang, None),
    };
    render(
        status,
        &LoginPage {
            p: Ctx::new(&state, lang, None, "/login"),
            next,
            username,
            error: Some(error),
            notice: None,
        },
    )
}

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf_token: Option<String>,
}

pub async fn logout(
    State(state): State<AppState>,
    lang: Lang,
    MaybeStaff(staff): MaybeStaff,
    Form(form): Form<LogoutForm>,
) -> Response {
    if let Some(staff) = &staff {
        if !staff.csrf_ok(form.csrf_token.as_deref()) {
            return PageError::Forbidden.render(&state, lang, Some(staff));
        }
        if let Err(e) = state.db.delete_session(&staff.session_hash).await {
            return PageError::from(e).render(&state, lang, Some(staff));
        }
    }
    let mut response = see_other("/login?bye=1");
    if let Ok(v) = HeaderValue::from_str(&clear_session_cookie()) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}
