//! Open311 GeoReport v2 under `/open311/v2`, in JSON and XML, with the
//! mySociety extensions (extended statuses, `servicerequestupdates`).
//!
//! Services are the leaf categories of the loaded taxonomies. Requests are
//! the `requests` pack's cases, named by their receipt code (一案一码). Reads
//! are public and show only public data: no personal fields, no internal
//! notes or reasons, no staff. Choices and deviations: `docs/OPEN311.md`.

mod render;
mod status;

use axum::Router;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone};
use chrono_tz::Tz;
use serde_json::{Map, Value};

use gongzhi_domain::category::Category;
use gongzhi_domain::ids::normalize_receipt_code;
use gongzhi_domain::pack::{CaseType, FieldKind, IntakeChannel, IntakeValues};
use gongzhi_domain::redact::redact_public_text;
use gongzhi_domain::time::{MICROS_PER_DAY, Micros, now_micros};
use gongzhi_domain::unit::UnitKind;
use gongzhi_store::{PublicCase, PublicCaseFilter, PublicUpdate, PublicUpdateFilter};

use crate::intake::{Collected, IntakeRequest, channel_request, intake};
use crate::state::AppState;
use crate::state::taxonomy::Taxonomies;

pub use render::{Format, Node};
use status::{Extended, Label};

/// GeoReport v2: a description holds at most 4,000 characters.
pub const MAX_DESCRIPTION: usize = 4000;
/// GeoReport v2: at most 1,000 requests per answer; by default the last 90 days.
pub const MAX_RESULTS: i64 = 1000;
pub const DEFAULT_WINDOW_DAYS: i64 = 90;
/// When this implementation's interface last changed (discovery `changeset`).
const CHANGESET: &str = "2026-05-01T00:00:00+08:00";
const SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/open311/v2/{file}", get(get_top).post(post_top))
        .route("/open311/v2/services/{file}", get(get_service))
        .route("/open311/v2/requests/{file}", get(get_request))
        .route("/open311/v2/tokens/{file}", get(get_token))
}

/// Splits `name.ext` into the name and the format. An unknown or missing
/// format answers 400 in JSON, since no format was understood.
fn split_file(file: &str) -> Result<(&str, Format), Fail> {
    let Some((name, ext)) = file.rsplit_once('.') else {
        return Err(bad(
            Format::Json,
            "add the response format to the path: .json or .xml",
        ));
    };
    match Format::parse(ext) {
        Some(format) => Ok((name, format)),
        None => Err(bad(
            Format::Json,
            format!("unknown response format '{ext}': use .json or .xml"),
        )),
    }
}

/// An error answer in the spec's format, rendered when sent (this keeps the
/// `Result`s that carry it small).
pub struct Fail {
    format: Format,
    status: StatusCode,
    description: String,
}

impl Fail {
    fn new(format: Format, status: StatusCode, description: impl Into<String>) -> Fail {
        Fail {
            format,
            status,
            description: description.into(),
        }
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        render::error(self.format, self.status, self.description)
    }
}

fn not_found(format: Format, what: &str) -> Fail {
    Fail::new(format, StatusCode::NOT_FOUND, format!("{what} not found"))
}

fn bad(format: Format, description: impl Into<String>) -> Fail {
    Fail::new(format, StatusCode::BAD_REQUEST, description)
}

fn internal(format: Format, e: impl std::fmt::Display) -> Fail {
    tracing::error!(error = %e, "open311");
    Fail::new(
        format,
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error; it has been logged",
    )
}

/// Query parameters as pairs, so unknown ones (`jurisdiction_id`, client
/// extensions) pass and repeated ones can be seen.
fn query_pairs(uri: &Uri, format: Format) -> Result<Vec<(String, String)>, Fail> {
    Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|Query(pairs)| pairs)
        .map_err(|_| bad(format, "the query string cannot be read"))
}

fn param<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// English when `locale` asks for it; Chinese otherwise.
fn english(pairs: &[(String, String)]) -> bool {
    param(pairs, "locale").is_some_and(|l| l.to_ascii_lowercase().starts_with("en"))
}

/// The case type Open311 speaks for: the one bound to its intake channel.
fn case_type(state: &AppState) -> Option<&CaseType> {
    state.packs.intake_type(IntakeChannel::Open311)
}

/// The pack and type ids the public filters read (none when no pack serves
/// Open311, which matches no case).
fn served_ids(state: &AppState) -> (String, String) {
    case_type(state).map_or_else(Default::default, |t| (t.pack_id.clone(), t.id.clone()))
}

/// Fields a client may set as `attribute[CODE]`: the type's bound urgency and
/// title. Everything else a case holds comes from the standard parameters or
/// is the staff's to set.
fn attribute_fields(case_type: &CaseType) -> Vec<&str> {
    [&case_type.bindings.urgency, &case_type.bindings.title]
        .into_iter()
        .filter_map(|f| f.as_deref())
        .collect()
}

/// A W3C datetime in the city's time zone, with its offset.
fn w3c(tz: Tz, at: Micros) -> String {
    DateTime::from_timestamp_micros(at)
        .map(|t| {
            t.with_timezone(&tz)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
        })
        .unwrap_or_default()
}

/// Parses a W3C datetime: full RFC 3339, minutes only with offset, or a
/// bare date (the start of that day in the city's time zone, or its end
/// when `end_of_day`).
fn parse_w3c(text: &str, tz: Tz, end_of_day: bool) -> Option<Micros> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_micros());
    }
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M%:z") {
        return Some(t.timestamp_micros());
    }
    if let Ok(t) = DateTime::parse_from_str(&text.replace('Z', "+00:00"), "%Y-%m-%dT%H:%M%:z") {
        return Some(t.timestamp_micros());
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let day: NaiveDateTime = date.and_hms_opt(0, 0, 0)?;
    let start = tz.from_local_datetime(&day).earliest()?.timestamp_micros();
    Some(if end_of_day {
        start + MICROS_PER_DAY - 1
    } else {
        start
    })
}

/// The public label of a status, followed by the unit's published result.
fn with_result(status: Extended, result: Option<&str>, en: bool) -> String {
    match (result, en) {
        (Some(r), false) => format!("{}。{}", status.label(false), redact_public_text(r)),
        (Some(r), true) => format!("{}. {}", status.label(true), redact_public_text(r)),
        (None, _) => status.label(en).to_string(),
    }
}

fn category_name(c: &Category, en: bool) -> String {
    if en {
        c.name.en.clone()
    } else {
        c.name.zh.clone()
    }
}

/// Services are the leaf categories: what a case is finally filed under.
fn services(tax: &Taxonomies) -> impl Iterator<Item = &Category> {
    let set = &tax.categories;
    set.iter().filter(|c| set.children(&c.code).is_empty())
}

fn is_service(state: &AppState, code: &str) -> bool {
    let tax = state.taxonomies();
    let set = &tax.categories;
    set.get(code).is_some() && set.children(code).is_empty()
}

fn service_node(state: &AppState, c: &Category, en: bool) -> Node {
    let tax = state.taxonomies();
    let path = tax.categories.path(&c.code);
    let names: Vec<String> = path.iter().map(|p| category_name(p, en)).collect();
    let group = path.first().map(|r| category_name(r, en));
    Node::Obj(vec![
        ("service_code", Node::text(&c.code)),
        ("service_name", Node::text(category_name(c, en))),
        ("description", Node::text(names.join(" / "))),
        ("metadata", Node::Bool(true)),
        // The receipt code is issued at once: no tokens to wait on.
        ("type", Node::text("realtime")),
        ("keywords", Node::text(names.join(", "))),
        ("group", Node::opt_text(group)),
    ])
}

fn discovery(headers: &HeaderMap, en: bool) -> Node {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https")
        .unwrap_or("http");
    Node::Obj(vec![
        ("changeset", Node::text(CHANGESET)),
        (
            "contact",
            Node::text(if en {
                "The city's 12345 service centre"
            } else {
                "12345 政务服务便民热线"
            }),
        ),
        (
            "key_service",
            Node::text(if en {
                "API keys are issued by the platform administrator to system accounts with the operator role"
            } else {
                "API 密钥由平台管理员发放给具有受理员角色的系统账号"
            }),
        ),
        (
            "endpoints",
            Node::List(
                "endpoint",
                vec![Node::Obj(vec![
                    ("specification", Node::text(SPECIFICATION)),
                    ("url", Node::text(format!("{scheme}://{host}/open311/v2"))),
                    ("changeset", Node::text(CHANGESET)),
                    ("type", Node::text("production")),
                    (
                        "formats",
                        Node::List(
                            "format",
                            vec![Node::text("application/json"), Node::text("text/xml")],
                        ),
                    ),
                ])],
            ),
        ),
    ])
}

pub async fn get_top(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (name, format) = match split_file(&file) {
        Ok(v) => v,
        Err(res) => return res.into_response(),
    };
    let pairs = match query_pairs(&uri, format) {
        Ok(p) => p,
        Err(res) => return res.into_response(),
    };
    let en = english(&pairs);
    match name {
        "discovery" => render::respond(
            format,
            StatusCode::OK,
            "discovery",
            &discovery(&headers, en),
        ),
        "services" => {
            let tax = state.taxonomies();
            let list = services(&tax)
                .map(|c| service_node(&state, c, en))
                .collect();
            render::respond(
                format,
                StatusCode::OK,
                "services",
                &Node::List("service", list),
            )
        }
        "requests" => list_requests(&state, format, &pairs).await,
        "servicerequestupdates" => list_updates(&state, format, &pairs).await,
        _ => not_found(format, &format!("endpoint '{name}'")).into_response(),
    }
}

pub async fn get_service(
    State(state): State<AppState>,
    Path(file): Path<String>,
    uri: Uri,
) -> Response {
    let (code, format) = match split_file(&file) {
        Ok(v) => v,
        Err(res) => return res.into_response(),
    };
    let pairs = match query_pairs(&uri, format) {
        Ok(p) => p,
        Err(res) => return res.into_response(),
    };
    let en = english(&pairs);
    if !is_service(&state, code) {
        return not_found(format, &format!("service_code '{code}'")).into_response();
    }
    let attributes = case_type(&state)
        .map(|t| attributes(t, en))
        .unwrap_or_default();
    let doc = Node::Obj(vec![
        ("service_code", Node::text(code)),
        ("attributes", Node::List("attribute", attributes)),
    ]);
    render::respond(format, StatusCode::OK, "service_definition", &doc)
}

/// The service definition's attributes: the pack's fields a client may set.
fn attributes(case_type: &CaseType, en: bool) -> Vec<Node> {
    let pick = |n: &gongzhi_domain::pack::Names| if en { n.en.clone() } else { n.zh.clone() };
    attribute_fields(case_type)
        .into_iter()
        .filter_map(|key| case_type.fields.get(key))
        .enumerate()
        .map(|(i, def)| {
            let (datatype, values, hint) = match &def.kind {
                FieldKind::Choice { options } => (
                    "singlevaluelist",
                    options
                        .iter()
                        .map(|o| {
                            Node::Obj(vec![
                                ("key", Node::text(&o.value)),
                                ("name", Node::text(pick(&o.name))),
                            ])
                        })
                        .collect(),
                    if en { "one of the keys" } else { "取值之一" }.to_string(),
                ),
                FieldKind::Text { max_length } => (
                    "string",
                    Vec::new(),
                    if en {
                        format!("at most {max_length} characters; defaults to the description's first line")
                    } else {
                        format!("不超过 {max_length} 字；缺省取描述的第一行")
                    },
                ),
                FieldKind::LongText { max_length } => (
                    "text",
                    Vec::new(),
                    if en {
                        format!("at most {max_length} characters")
                    } else {
                        format!("不超过 {max_length} 字")
                    },
                ),
                FieldKind::Integer { .. } | FieldKind::Number { .. } => {
                    ("number", Vec::new(), String::new())
                }
                _ => ("string", Vec::new(), String::new()),
            };
            Node::Obj(vec![
                ("variable", Node::Bool(true)),
                ("code", Node::text(&def.key)),
                ("datatype", Node::text(datatype)),
                ("required", Node::Bool(false)),
                ("datatype_description", Node::text(hint)),
                ("order", Node::Int(i as i64 + 1)),
                ("description", Node::text(pick(&def.label))),
                ("values", Node::List("value", values)),
            ])
        })
        .collect()
}

/// What of a case Open311 shows: public fields only.
fn request_node(state: &AppState, public: &PublicCase, en: bool) -> Node {
    let tz = state.calendar.tz();
    let case = &public.case;
    let case_type = state.packs.case_type(&case.pack, &case.case_type);
    let ext = case_type.map_or(Extended::Open, |t| {
        t.public_status(&case.state, &case.fields)
    });
    let text = |key: &str| {
        case.fields
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let bound = |key: Option<&str>| key.and_then(text);
    let category_code = bound(case_type.and_then(CaseType::category_field));
    let description = bound(
        case_type
            .and_then(|t| t.bindings.intake.as_ref())
            .and_then(|i| i.description.as_deref()),
    );
    let tax = state.taxonomies();
    let category = category_code.and_then(|c| tax.categories.get(c));
    let notes = with_result(
        ext,
        bound(case_type.and_then(|t| t.bindings.result_text.as_deref())),
        en,
    );
    // The handling deadline is the one a citizen waits on; the others are
    // the centre's own steps.
    let expected = if case_type.and_then(|t| t.bindings.handling.as_deref()) == Some(&case.state) {
        public.state_due_at.map(|t| w3c(tz, t))
    } else {
        None
    };
    // The area's names stand in for the typed address, which may be a home.
    let places = state.places();
    let mut area: Vec<String> = case
        .area_unit_id
        .as_deref()
        .map(|id| {
            places
                .chain(id)
                .into_iter()
                .filter(|u| {
                    matches!(
                        u.kind,
                        UnitKind::District | UnitKind::Street | UnitKind::Community
                    )
                })
                .map(|u| u.name.clone())
                .collect()
        })
        .unwrap_or_default();
    area.reverse();
    Node::Obj(vec![
        ("service_request_id", Node::text(&case.receipt_code)),
        ("status", Node::text(ext.standard())),
        ("status_notes", Node::text(notes)),
        (
            "service_name",
            Node::opt_text(category.map(|c| category_name(c, en))),
        ),
        ("service_code", Node::opt_text(category_code)),
        (
            "description",
            Node::opt_text(description.map(redact_public_text)),
        ),
        ("agency_responsible", Node::text(&case.holder_unit_name)),
        ("service_notice", Node::Null),
        ("requested_datetime", Node::text(w3c(tz, case.created_at))),
        ("updated_datetime", Node::text(w3c(tz, case.updated_at))),
        ("expected_datetime", Node::opt_text(expected)),
        (
            "address",
            if area.is_empty() {
                Node::Null
            } else {
                Node::text(area.join(" "))
            },
        ),
        ("address_id", Node::Null),
        ("zipcode", Node::Null),
        ("lat", case.lat.map(Node::Num).unwrap_or(Node::Null)),
        ("long", case.lng.map(Node::Num).unwrap_or(Node::Null)),
        ("media_url", Node::Null),
        (
            "extended_attributes",
            Node::Obj(vec![("status", Node::text(ext.as_str()))]),
        ),
    ])
}

fn closed_states(state: &AppState) -> Vec<String> {
    case_type(state)
        .map(|t| {
            t.states
                .values()
                .filter(|s| s.terminal)
                .map(|s| s.id.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// `start_date` / `end_date`, defaulting to the last 90 days when neither is
/// given.
fn date_range(
    state: &AppState,
    format: Format,
    pairs: &[(String, String)],
) -> Result<(Option<Micros>, Option<Micros>), Fail> {
    let tz = state.calendar.tz();
    let parse = |key: &str, end: bool| match param(pairs, key) {
        None => Ok(None),
        Some(text) => parse_w3c(text, tz, end).map(Some).ok_or_else(|| {
            bad(
                format,
                format!("{key} must be a W3C datetime such as 2026-11-21T08:30:00+08:00"),
            )
        }),
    };
    let start = parse("start_date", false)?;
    let end = parse("end_date", true)?;
    if let (Some(s), Some(e)) = (start, end)
        && s > e
    {
        return Err(bad(format, "start_date is after end_date"));
    }
    if start.is_none() && end.is_none() {
        return Ok((
            Some(now_micros() - DEFAULT_WINDOW_DAYS * MICROS_PER_DAY),
            None,
        ));
    }
    Ok((start, end))
}

fn comma_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

async fn list_requests(state: &AppState, format: Format, pairs: &[(String, String)]) -> Response {
    let en = english(pairs);
    let served = served_ids(state);
    let mut filter = PublicCaseFilter {
        pack: served.0,
        case_type: served.1,
        closed_states: closed_states(state),
        limit: MAX_RESULTS,
        ..Default::default()
    };
    if let Some(ids) = param(pairs, "service_request_id") {
        // The spec: a list of ids overrides every other parameter. A code we
        // cannot have issued matches nothing.
        filter.receipt_codes = Some(
            comma_list(ids)
                .iter()
                .filter_map(|id| normalize_receipt_code(id))
                .collect(),
        );
    } else {
        if let Some(codes) = param(pairs, "service_code") {
            filter.categories = comma_list(codes);
        }
        if let Some(statuses) = param(pairs, "status") {
            let mut open = false;
            let mut closed = false;
            for s in comma_list(statuses) {
                match s.to_ascii_lowercase().as_str() {
                    "open" => open = true,
                    "closed" => closed = true,
                    other => {
                        return bad(
                            format,
                            format!("status '{other}' is not one of open, closed"),
                        )
                        .into_response();
                    }
                }
            }
            filter.closed = match (open, closed) {
                (true, false) => Some(false),
                (false, true) => Some(true),
                _ => None,
            };
        }
        match date_range(state, format, pairs) {
            Ok((from, to)) => {
                filter.created_from = from;
                filter.created_to = to;
            }
            Err(res) => return res.into_response(),
        }
    }
    match state.db.public_cases(&filter).await {
        Ok(cases) => {
            let items = cases.iter().map(|c| request_node(state, c, en)).collect();
            render::respond(
                format,
                StatusCode::OK,
                "service_requests",
                &Node::List("request", items),
            )
        }
        Err(e) => internal(format, e).into_response(),
    }
}

async fn find_request(state: &AppState, id: &str) -> Result<Option<PublicCase>, String> {
    let Some(code) = normalize_receipt_code(id) else {
        return Ok(None);
    };
    let served = served_ids(state);
    let filter = PublicCaseFilter {
        pack: served.0,
        case_type: served.1,
        receipt_codes: Some(vec![code]),
        limit: 1,
        ..Default::default()
    };
    state
        .db
        .public_cases(&filter)
        .await
        .map(|mut v| v.pop())
        .map_err(|e| e.to_string())
}

pub async fn get_request(
    State(state): State<AppState>,
    Path(file): Path<String>,
    uri: Uri,
) -> Response {
    let (id, format) = match split_file(&file) {
        Ok(v) => v,
        Err(res) => return res.into_response(),
    };
    let pairs = match query_pairs(&uri, format) {
        Ok(p) => p,
        Err(res) => return res.into_response(),
    };
    match find_request(&state, id).await {
        Ok(Some(case)) => render::respond(
            format,
            StatusCode::OK,
            "service_requests",
            &Node::List(
                "request",
                vec![request_node(&state, &case, english(&pairs))],
            ),
        ),
        Ok(None) => not_found(format, &format!("service_request_id '{id}'")).into_response(),
        Err(e) => internal(format, e).into_response(),
    }
}

/// Tokens: the receipt code is issued at once, so a token is the receipt code
/// itself, and looking it up confirms the request exists.
pub async fn get_token(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let (token, format) = match split_file(&file) {
        Ok(v) => v,
        Err(res) => return res.into_response(),
    };
    match find_request(&state, token).await {
        Ok(Some(case)) => render::respond(
            format,
            StatusCode::OK,
            "service_requests",
            &Node::List(
                "request",
                vec![Node::Obj(vec![
                    ("service_request_id", Node::text(&case.case.receipt_code)),
                    ("token", Node::text(token)),
                ])],
            ),
        ),
        Ok(None) => not_found(format, &format!("token '{token}'")).into_response(),
        Err(e) => internal(format, e).into_response(),
    }
}

/// One log entry as a mySociety service request update, or `None` when it
/// changes nothing a citizen would see.
fn update_node(state: &AppState, u: &PublicUpdate, en: bool) -> Option<Node> {
    let case_type = case_type(state)?;
    // The outcome this entry set, else the one the case holds now.
    let mut fields = u.case_fields.clone();
    if let Some(outcome) = &case_type.bindings.outcome
        && let Some(after) = u.changes.get(outcome).and_then(|c| c.get("after"))
    {
        fields.insert(outcome.clone(), after.clone());
    }
    let to = case_type.public_status(&u.to_state, &fields);
    let from = u
        .from_state
        .as_deref()
        .map(|s| case_type.public_status(s, &fields));
    let result = case_type
        .bindings
        .result_text
        .as_deref()
        .and_then(|key| u.changes.get(key))
        .and_then(|c| c.get("after"))
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty());
    if from == Some(to) && result.is_none() {
        return None;
    }
    let description = with_result(to, result.map(str::trim), en);
    Some(Node::Obj(vec![
        ("update_id", Node::text(u.seq.to_string())),
        ("service_request_id", Node::text(&u.receipt_code)),
        ("status", Node::text(to.as_str())),
        (
            "updated_datetime",
            Node::text(w3c(state.calendar.tz(), u.at)),
        ),
        ("description", Node::text(description)),
        ("media_url", Node::Null),
    ]))
}

async fn list_updates(state: &AppState, format: Format, pairs: &[(String, String)]) -> Response {
    let en = english(pairs);
    let (from, to) = match date_range(state, format, pairs) {
        Ok(r) => r,
        Err(res) => return res.into_response(),
    };
    // Actions that publish a result are updates even without a status change.
    let also_actions = case_type(state)
        .map(|t| {
            t.actions
                .values()
                .filter(|a| {
                    t.bindings
                        .result_text
                        .as_ref()
                        .is_some_and(|f| a.may_set(f))
                })
                .map(|a| a.id.clone())
                .collect()
        })
        .unwrap_or_default();
    let served = served_ids(state);
    let filter = PublicUpdateFilter {
        pack: served.0,
        case_type: served.1,
        from: from.unwrap_or(0),
        to: to.unwrap_or(i64::MAX),
        also_actions,
        limit: MAX_RESULTS,
    };
    match state.db.public_updates(&filter).await {
        Ok(updates) => {
            let items = updates
                .iter()
                .filter_map(|u| update_node(state, u, en))
                .collect();
            render::respond(
                format,
                StatusCode::OK,
                "service_request_updates",
                &Node::List("request_update", items),
            )
        }
        Err(e) => internal(format, e).into_response(),
    }
}

pub async fn post_top(
    State(state): State<AppState>,
    Path(file): Path<String>,
    request: Request,
) -> Response {
    let (name, format) = match split_file(&file) {
        Ok(v) => v,
        Err(res) => return res.into_response(),
    };
    if name != "requests" {
        return render::error(
            format,
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "'{name}' cannot be posted to; post service requests to requests.{}",
                if format == Format::Xml { "xml" } else { "json" }
            ),
        );
    }
    let headers = request.headers().clone();
    let pairs = match axum::Form::<Vec<(String, String)>>::from_request(request, &state).await {
        Ok(axum::Form(pairs)) => pairs,
        Err(rejection) => {
            // The body limit is the router's, the same for every non-upload route.
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                return render::error(
                    format,
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the request body is larger than the limit of {}",
                        crate::error::byte_size(state.config.body_limit)
                    ),
                );
            }
            return render::error(
                format,
                StatusCode::BAD_REQUEST,
                "send the request as application/x-www-form-urlencoded fields",
            );
        }
    };
    match create_request(&state, format, &headers, &pairs).await {
        Ok(res) => res,
        Err(fail) => fail.into_response(),
    }
}

async fn create_request(
    state: &AppState,
    format: Format,
    headers: &HeaderMap,
    pairs: &[(String, String)],
) -> Result<Response, Fail> {
    let forbidden = |d: &str| Fail::new(format, StatusCode::FORBIDDEN, d);
    // The key: the api_key field, or an Authorization: Bearer header.
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(crate::auth::bearer_token);
    let key = param(pairs, "api_key")
        .or(bearer)
        .ok_or_else(|| forbidden("api_key is required to create a service request"))?;
    let actor = crate::auth::actor_for_api_key(state, key)
        .await
        .map_err(|e| internal(format, e.message))?
        .ok_or_else(|| forbidden("invalid api_key"))?;
    let case_type = case_type(state).ok_or_else(|| internal(format, "requests pack missing"))?;
    let creating = &case_type.creation_action().roles;
    let operator = actor
        .assignments
        .iter()
        .find(|a| creating.contains(&a.role))
        .map(|a| a.unit_id.clone())
        .ok_or_else(|| forbidden("this api_key may not create service requests"))?;
    let service_code =
        param(pairs, "service_code").ok_or_else(|| bad(format, "service_code is required"))?;
    if !is_service(state, service_code) {
        return Err(bad(
            format,
            format!(
                "service_code '{service_code}' is not a service; see services.{}",
                ext(format)
            ),
        ));
    }

    // Location: lat and long, or an address string. We keep no address ids.
    let coordinate = |key: &str, limit: f64| -> Result<Option<f64>, Fail> {
        match param(pairs, key) {
            None => Ok(None),
            Some(v) => v
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && x.abs() <= limit)
                .map(Some)
                .ok_or_else(|| bad(format, format!("{key} must be a WGS84 number"))),
        }
    };
    let lat = coordinate("lat", 90.0)?;
    let lng = coordinate("long", 180.0)?;
    let address = param(pairs, "address_string");
    match (lat, lng) {
        (Some(_), None) | (None, Some(_)) => {
            return Err(bad(format, "send lat and long together"));
        }
        (None, None) if address.is_none() => {
            return Err(bad(
                format,
                if param(pairs, "address_id").is_some() {
                    "address_id is not supported here: send lat and long, or address_string"
                } else {
                    "a location is required: lat and long, or address_string"
                },
            ));
        }
        _ => {}
    }

    let description = param(pairs, "description");
    if let Some(d) = description
        && d.chars().count() > MAX_DESCRIPTION
    {
        return Err(bad(
            format,
            format!("description is longer than {MAX_DESCRIPTION} characters"),
        ));
    }

    let attribute_keys = attribute_fields(case_type);
    let mut attributes = Map::new();
    for (k, v) in pairs {
        let Some(code) = k
            .strip_prefix("attribute[")
            .and_then(|rest| rest.strip_suffix(']'))
        else {
            continue;
        };
        if !attribute_keys.contains(&code) || !case_type.fields.contains_key(code) {
            return Err(bad(
                format,
                format!("attribute[{code}] is not an attribute of service {service_code}"),
            ));
        }
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        if let Some(FieldKind::Choice { options }) = case_type.fields.get(code).map(|d| &d.kind)
            && !options.iter().any(|o| o.value == v)
        {
            return Err(bad(
                format,
                format!("attribute[{code}] must be one of the keys in the service definition"),
            ));
        }
        attributes.insert(code.to_string(), Value::String(v.to_string()));
    }
    // Without a title attribute, the description's first line names the case.
    let given_title = case_type
        .bindings
        .title
        .as_ref()
        .and_then(|k| attributes.get(k))
        .and_then(Value::as_str)
        .map(str::to_string);
    let title = given_title
        .or_else(|| {
            description
                .and_then(|d| d.lines().map(str::trim).find(|l| !l.is_empty()))
                .map(|l| l.chars().take(80).collect::<String>())
        })
        .or_else(|| {
            state
                .taxonomies()
                .categories
                .get(service_code)
                .map(|c| c.name.zh.clone())
        })
        .unwrap_or_else(|| service_code.to_string());
    // Personal data: only what handling needs and the pack has fields for.
    // email, device_id and account_id are not kept.
    let name = match (param(pairs, "last_name"), param(pairs, "first_name")) {
        (Some(last), Some(first)) if !last.is_ascii() || !first.is_ascii() => {
            Some(format!("{last}{first}"))
        }
        (Some(last), Some(first)) => Some(format!("{first} {last}")),
        (Some(one), None) | (None, Some(one)) => Some(one.to_string()),
        (None, None) => None,
    };
    let collected = Collected {
        title: &title,
        category: Some(service_code),
        parts: IntakeValues {
            description,
            address,
            contact_name: name.as_deref(),
            contact_phone: param(pairs, "phone"),
            source_ref: None,
        },
    };
    let made = channel_request(&state.packs, IntakeChannel::Open311, collected)
        .map_err(|e| internal(format, e.message))?;
    let mut fields = made.fields;
    for (key, value) in attributes {
        fields.entry(key).or_insert(value);
    }

    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let request = IntakeRequest {
        pack: made.pack,
        case_type: made.case_type,
        fields,
        reason: None,
        lng,
        lat,
        acting_unit: Some(operator),
        idempotency_key,
    };
    let (created, _) = intake(state, &actor, request, now_micros())
        .await
        .map_err(|e| {
            let status = if e.status == StatusCode::FORBIDDEN {
                StatusCode::FORBIDDEN
            } else if e.status.is_server_error() {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::BAD_REQUEST
            };
            Fail::new(format, status, e.message)
        })?;
    // A new case's code is known; only a replay needs the case read back.
    let receipt_code = match created.receipt_code.clone() {
        Some(code) => code,
        None => {
            state
                .db
                .case_unscoped(&created.case_id)
                .await
                .map_err(|e| internal(format, e))?
                .ok_or_else(|| internal(format, "created case not found"))?
                .receipt_code
        }
    };
    let notice = format!(
        "已受理，受理编号 {code}，可凭编号查询办理进度。Received: quote {code} to follow the request.",
        code = receipt_code
    );
    let doc = Node::List(
        "request",
        vec![Node::Obj(vec![
            ("service_request_id", Node::text(&receipt_code)),
            ("service_notice", Node::text(notice)),
            ("account_id", Node::Null),
        ])],
    );
    // A replayed Idempotency-Key answers 200 with the first request's id.
    let status = if created.log_entry.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(render::respond(format, status, "service_requests", &doc))
}

fn ext(format: Format) -> &'static str {
    match format {
        Format::Json => "json",
        Format::Xml => "xml",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w3c_dates_parse() {
        let tz = chrono_tz::Asia::Shanghai;
        let full = parse_w3c("2026-11-21T08:30:00+08:00", tz, false);
        assert_eq!(parse_w3c("2026-11-21T08:30+08:00", tz, false), full);
        assert_eq!(parse_w3c("2026-11-21T00:30:00Z", tz, false), full);
        assert_eq!(parse_w3c("2026-11-21T00:30Z", tz, false), full);
        let day = parse_w3c("2026-11-21", tz, false).expect("date");
        assert_eq!(parse_w3c("2026-11-21T00:00:00+08:00", tz, false), Some(day));
        assert_eq!(
            parse_w3c("2026-11-21", tz, true),
            Some(day + MICROS_PER_DAY - 1)
        );
        assert_eq!(parse_w3c("21/11/2026", tz, false), None);
        let t = full.expect("full");
        assert_eq!(w3c(tz, t), "2026-11-21T08:30:00+08:00");
    }
}
