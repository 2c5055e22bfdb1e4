//! Server-rendered HTML pages for staff and the public (the JSON API stays in
//! `api`). Templates are compiled by askama; every visible string comes from
//! the message catalog in `i18n`.

pub mod admin;
mod assists;
mod case;
mod case_form;
mod case_links;
mod case_parties;
mod case_posts;
mod case_records;
mod choices;
mod dashboard;
mod dispatch;
mod filters;
mod form_token;
mod grid;
mod guide;
pub mod i18n;
mod intake;
mod login;
mod map;
mod multipart;
mod party_view;
mod picker;
mod portal;
mod portal_evidence;
mod portal_party;
mod register;
mod session;
mod stats;
mod work;

use std::collections::BTreeMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::TimeZone;
use chrono_tz::Tz;
use serde::Deserialize;

use gongzhi_domain::pack::{FieldDef, FieldKind};
use gongzhi_store::StoreError;
use serde_json::{Map, Value};

use crate::state::AppState;
/// Routes whose forms carry files, each with a body limit sized for them.
pub fn upload_routes(config: &crate::state::ServerConfig) -> Router<AppState> {
    grid::upload_routes(config)
        .merge(portal::upload_routes(config))
        .merge(portal_evidence::upload_routes(config))
        .merge(admin::upload_routes(config))
}
pub use i18n::Lang;
pub use session::Staff;

/// Files served under `/static/`, built into the binary: (name, type, text).
/// Page scripts live here rather than inline, so the CSP can forbid inline script.
const STATIC_FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../static/app.css"),
    ),
    (
        "job.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/job.js"),
    ),
    (
        "intake.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/intake.js"),
    ),
    (
        "picker.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/picker.js"),
    ),
];

pub fn routes() -> Router<AppState> {
    // Parse the catalogs at start, not on the first request.
    std::sync::LazyLock::force(&i18n::CATALOG);
    let mut router = Router::new();
    for &(name, content_type, body) in STATIC_FILES {
        router = router.route(
            &format!("/static/{name}"),
            get(move || async move { static_file(content_type, body) }),
        );
    }
    router
        .route("/lang/{code}", get(switch_lang))
        .route("/", get(portal::home))
        .route("/guides", get(guide::list))
        .route("/guides/{pack}/{id}", get(guide::show))
        .route("/lookup", get(portal::lookup_form).post(portal::lookup))
        .route("/lookup/rate", post(portal::rate))
        .route("/lookup/record", post(portal_party::party_act))
        .route("/lookup/file", post(portal_evidence::party_file))
        .route("/login", get(login::form).post(login::login))
        .route("/logout", post(login::logout))
        .route("/work", get(work::page))
        .route("/cases/{id}", get(case::page))
        .route("/cases/{id}/act", post(case::act))
        .route("/cases/{id}/reveal", post(case::reveal))
        .route("/cases/{id}/links", post(case_posts::add_link))
        .route(
            "/cases/{id}/links/{link_id}/remove",
            post(case_posts::remove_link),
        )
        .route("/cases/{id}/records", post(case_posts::add_record))
        .route("/cases/{id}/parties", post(case_posts::add_party))
        .route("/cases/{id}/documents", post(case_posts::issue_document))
        .route(
            "/cases/{id}/records/{record_id}/act",
            post(case_posts::act_on_record),
        )
        .route("/map", get(map::page))
        .route("/dashboard", get(dashboard::page))
        .route("/intake", get(intake::form).post(intake::submit))
        .route("/new", get(register::form).post(register::submit))
        .route("/stats", get(stats::page))
        .route("/grid", get(grid::page))
        .route("/grid/cases/{id}/verify", post(grid::verify))
        // Dispatch board and assist tasks (issue 4).
        .route("/dispatch", get(dispatch::page).post(dispatch::act))
        .route("/assists", get(assists::page))
        .route("/assists/report", post(assists::report))
        // Administration (units, users, taxonomy): its own router.
        .merge(admin::routes())
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

/// Only paths on this site: never `//host` or a full URL (no open redirect).
pub(crate) fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p,
        _ => "/",
    }
}

async fn switch_lang(Path(code): Path<String>, Query(q): Query<NextQuery>) -> Response {
    let lang = Lang::parse(&code).unwrap_or_default();
    let mut response = Redirect::to(local_path(q.next.as_deref())).into_response();
    if let Ok(v) = HeaderValue::from_str(&i18n::lang_cookie(lang)) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

/// What every page template knows: the language, who is signed in, the CSRF
/// token for forms, the current path (for the language switch), the time zone.
pub struct Ctx {
    pub lang: Lang,
    pub user_name: Option<String>,
    pub csrf: String,
    pub path: String,
    pub tz: Tz,
    /// Links to the intake form and the grid page, for those who may use them.
    pub takes_calls: bool,
    /// The link to registering a case of any type the user may create.
    pub registers: bool,
    pub grid_worker: bool,
    /// Links to the dispatch board and the assist tasks.
    pub dispatcher: bool,
    pub assists: bool,
    /// The link to the admin pages, for administrators.
    pub admin: bool,
}

impl Ctx {
    pub fn new(state: &AppState, lang: Lang, staff: Option<&Staff>, path: &str) -> Ctx {
        Ctx {
            lang,
            user_name: staff.map(|s| s.actor.display_name.clone()),
            csrf: staff.map(|s| s.csrf.clone()).unwrap_or_default(),
            path: path.to_string(),
            tz: state.calendar.tz(),
            takes_calls: staff.is_some_and(|s| Ctx::takes_calls_of(state, s)),
            registers: staff.is_some_and(|s| register::registers(state, s)),
            grid_worker: staff.is_some_and(|s| grid::is_grid_worker(state, s)),
            dispatcher: staff.is_some_and(|s| dispatch::dispatches(state, s)),
            assists: staff.is_some_and(|s| assists::handles_assists(state, s)),
            admin: staff.is_some_and(admin::is_admin),
        }
    }

    /// Whether a staff member takes calls at a desk (the intake form).
    pub fn takes_calls_of(state: &AppState, staff: &Staff) -> bool {
        staff.actor.holds_any(&state.packs.roles_at("intake"))
    }

    pub fn t(&self, key: &str) -> &'static str {
        self.lang.t(key)
    }

    pub fn tf(&self, key: &str, args: &[(&str, &str)]) -> String {
        self.lang.tf(key, args)
    }

    pub fn lang_code(&self) -> &'static str {
        self.lang.code()
    }

    /// The link that switches language and comes back here.
    pub fn switch_href(&self) -> String {
        format!(
            "/lang/{}?next={}",
            self.lang.other().code(),
            urlencode(&self.path)
        )
    }

    pub fn signed_in(&self) -> bool {
        self.user_name.is_some()
    }

    /// A time in the city's time zone, in the language's format.
    pub fn datetime(&self, micros: i64) -> String {
        format_time(self.tz, self.lang, micros, "date.datetime")
    }

    pub fn opt_datetime(&self, micros: &Option<i64>) -> String {
        micros.map(|m| self.datetime(m)).unwrap_or_default()
    }
}

pub fn format_time(tz: Tz, lang: Lang, micros: i64, key: &str) -> String {
    match tz.timestamp_micros(micros).single() {
        Some(t) => t.format(lang.t(key)).to_string(),
        None => String::new(),
    }
}

/// A span of time in words: days and hours, hours and minutes, or minutes.
pub fn span(lang: Lang, micros: i64) -> String {
    let minutes = micros.max(0) / 60_000_000;
    let (d, h, m) = (minutes / 1440, (minutes % 1440) / 60, minutes % 60);
    if d > 0 {
        lang.tf(
            "deadline.days_hours",
            &[("d", &d.to_string()), ("h", &h.to_string())],
        )
    } else if h > 0 {
        lang.tf(
            "deadline.hours_minutes",
            &[("h", &h.to_string()), ("m", &m.to_string())],
        )
    } else {
        lang.tf("deadline.minutes", &[("m", &m.to_string())])
    }
}

/// "3 d 2 h left" or "overdue by 5 h 10 min".
pub fn time_left(lang: Lang, due: i64, now: i64) -> (String, bool) {
    if due >= now {
        (
            lang.tf("deadline.left", &[("time", &span(lang, due - now))]),
            false,
        )
    } else {
        (
            lang.tf("deadline.overdue", &[("time", &span(lang, now - due))]),
            true,
        )
    }
}

pub fn urlencode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A field's value as text in the language: choice and category names,
/// yes/no, the value itself otherwise.
pub fn display_value(state: &AppState, lang: Lang, def: &FieldDef, value: &Value) -> String {
    match (&def.kind, value) {
        (FieldKind::Choice { options }, Value::String(v)) => options
            .iter()
            .find(|o| &o.value == v)
            .map(|o| lang.pick(&o.name.zh, &o.name.en).to_string())
            .unwrap_or_else(|| v.clone()),
        (FieldKind::Category, Value::String(code)) => state
            .taxonomies()
            .categories
            .get(code)
            .map(|c| format!("{} {}", c.code, lang.pick(&c.name.zh, &c.name.en)))
            .unwrap_or_else(|| code.clone()),
        (FieldKind::Unit, Value::String(id)) => state
            .places()
            .unit(id)
            .map(|u| u.name.clone())
            .unwrap_or_else(|| id.clone()),
        (FieldKind::List { parts, .. }, Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| format!("{}. {}", i + 1, display_parts(state, lang, parts, item)))
            .collect::<Vec<_>>()
            .join("\n"),
        (FieldKind::Object { parts, .. }, item) => display_parts(state, lang, parts, item),
        (_, Value::Bool(true)) => lang.t("case.yes").to_string(),
        (_, Value::Bool(false)) => lang.t("case.no").to_string(),
        (_, Value::String(s)) => s.clone(),
        (_, Value::Null) => String::new(),
        (_, other) => other.to_string(),
    }
}

/// One list item or object as "part: value; part: value", in declared order.
fn display_parts(state: &AppState, lang: Lang, parts: &[FieldDef], item: &Value) -> String {
    parts
        .iter()
        .filter_map(|p| {
            let v = item.get(&p.key)?;
            let label = lang.pick(&p.label.zh, &p.label.en);
            Some(format!("{label}: {}", display_value(state, lang, p, v)))
        })
        .collect::<Vec<_>>()
        .join(lang.pick("；", "; "))
}

/// Renders a template to an HTML response with the given status.
pub fn render<T: Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// Why a page could not be shown; rendered in the user's language.
#[derive(Debug)]
pub enum PageError {
    NotFound,
    /// The user's roles do not allow this page or action.
    Forbidden,
    /// A form post whose CSRF token is missing or stale.
    FormExpired,
    Internal,
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store error on a page");
        PageError::Internal
    }
}

impl From<crate::error::ApiError> for PageError {
    fn from(e: crate::error::ApiError) -> Self {
        match e.status {
            StatusCode::NOT_FOUND => PageError::NotFound,
            StatusCode::FORBIDDEN => PageError::Forbidden,
            _ => {
                tracing::error!(code = e.code, message = %e.message, "error on a page");
                PageError::Internal
            }
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    p: Ctx,
    title: &'static str,
    message: &'static str,
}

impl PageError {
    pub fn render(self, state: &AppState, lang: Lang, staff: Option<&Staff>) -> Response {
        let p = Ctx::new(state, lang, staff, "/");
        let (status, title, message) = match self {
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                p.t("error.not_found_title"),
                p.t("error.not_found"),
            ),
            PageError::Forbidden => (
                StatusCode::FORBIDDEN,
                p.t("error.forbidden_title"),
                p.t("error.forbidden"),
            ),
            PageError::FormExpired => (
                StatusCode::FORBIDDEN,
                p.t("error.form_expired_title"),
                p.t("error.form_expired"),
            ),
            PageError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                p.t("error.internal_title"),
                p.t("error.internal"),
            ),
        };
        render(status, &ErrorPage { p, title, message })
    }
}

/// Unknown routes: a page in the reader's language for browsers, the JSON
/// error for the API, Open311 and any client that does not ask for HTML.
pub async fn not_found(
    axum::extract::State(state): axum::extract::State<AppState>,
    lang: Lang,
    session::MaybeStaff(staff): session::MaybeStaff,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Response {
    let path = uri.path();
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if !wants_html || path == "/api" || path.starts_with("/api/") || path.starts_with("/open311/") {
        return crate::error::ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
            .into_response();
    }
    PageError::NotFound.render(&state, lang, staff.as_ref())
}

/// The value of a posted form's field `name`, if sent.
pub(super) fn form_get<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A posted form's `f.<key>` values as case or record fields, blank ones
/// left out (the engine then reports a required one as missing). A list's
/// parts come as `f.<key>.<row>.<part>` and an object's as
/// `f.<key>.<part>`; rows left wholly blank are dropped.
pub(super) fn form_fields(form: &[(String, String)]) -> Map<String, Value> {
    let mut fields = Map::new();
    let mut lists: BTreeMap<String, BTreeMap<usize, Map<String, Value>>> = BTreeMap::new();
    let mut objects: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
    for (k, v) in form {
        let Some(key) = k.strip_prefix("f.") else {
            continue;
        };
        if v.trim().is_empty() {
            continue;
        }
        let value = Value::String(v.clone());
        match key.split_once('.') {
            None => {
                fields.insert(key.to_string(), value);
            }
            Some((field, rest)) => match rest
                .split_once('.')
                .and_then(|(row, part)| Some((row.parse::<usize>().ok()?, part)))
            {
                Some((row, part)) => {
                    lists
                        .entry(field.to_string())
                        .or_default()
                        .entry(row)
                        .or_default()
                        .insert(part.to_string(), value);
                }
                _ => {
                    objects
                        .entry(field.to_string())
                        .or_default()
                        .insert(rest.to_string(), value);
                }
            },
        }
    }
    for (field, rows) in lists {
        let items = rows.into_values().map(Value::Object).collect();
        fields.insert(field, Value::Array(items));
    }
    for (field, parts) in objects {
        fields.insert(field, Value::Object(parts));
    }
    fields
}

/// A 303 to another page after a form post.
pub fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_redirects() {
        assert_eq!(local_path(Some("/work?x=1")), "/work?x=1");
        assert_eq!(local_path(Some("//evil.example")), "/");
        assert_eq!(local_path(Some("https://evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }

    #[test]
    fn times_in_shanghai_in_each_language() {
        let tz: Tz = chrono_tz::Asia::Shanghai;
        // 2026-03-05 06:30 UTC = 14:30 in Shanghai.
        let t = chrono::Utc
            .with_ymd_and_hms(2026, 3, 5, 6, 30, 0)
            .single()
            .map(|t| t.timestamp_micros())
            .unwrap_or_default();
        assert_eq!(
            format_time(tz, Lang::Zh, t, "date.datetime"),
            "2026年3月5日 14:30"
        );
        assert_eq!(
            format_time(tz, Lang::En, t, "date.datetime"),
            "2026-03-05 14:30"
        );
        let hour = 3_600_000_000;
        assert_eq!(time_left(Lang::Zh, t + 26 * hour, t).0, "剩余 1 天 2 小时");
        assert_eq!(
            time_left(Lang::En, t - 2 * hour, t),
            ("Overdue by 2 h 0 min".into(), true)
        );
    }
}
