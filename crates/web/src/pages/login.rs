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

use super::form_token::FormToken;
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
    form_token: String,
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
    token: FormToken,
    Query(q): Query<FormQuery>,
) -> Response {
    let next = local_path(q.next.as_deref()).to_string();
    if staff.is_some() {
        return see_other(if next == "/" { "/work" } else { &next });
    }
    let p = Ctx::new(&state, lang, None, "/login");
    let notice = q.bye.is_some().then(|| p.t("login.logged_out"));
    let page = render(
        StatusCode::OK,
        &LoginPage {
            p,
            next,
            username: String::new(),
            error: None,
            notice,
            form_token: token.value().to_string(),
        },
    );
    token.set_on(page, state.config.secure_cookies)
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    next: Option<String>,
    form_token: Option<String>,
}

fn minutes(d: std::time::Duration) -> String {
    d.as_secs().div_ceil(60).max(1).to_string()
}

pub async fn login(
    State(state): State<AppState>,
    lang: Lang,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    token: FormToken,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_path(form.next.as_deref()).to_string();
    let username = form.username.trim().to_string();
    // A forged post (or a form from before the cookie expired) is shown the
    // form again; no password is tried, so it counts against no limit.
    if !token.matches(form.form_token.as_deref()) {
        let page = render(
            StatusCode::FORBIDDEN,
            &LoginPage {
                p: Ctx::new(&state, lang, None, "/login"),
                next,
                username,
                error: Some(lang.t("act_error.csrf_failed").to_string()),
                notice: None,
                form_token: token.value().to_string(),
            },
        );
        return token.set_on(page, state.config.secure_cookies);
    }
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
            form_token: token.value().to_string(),
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
            return PageError::FormExpired.render(&state, lang, Some(staff));
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
