//! The dispatch board (分拨台): new cases awaiting dispatch (with the manual
//! queue), cases a handler returned, and dispatched cases nearing their accept
//! deadline. Every dispatch, one-click or batch, goes through the engine as
//! the case page's action does.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Map;

use gongzhi_domain::access::Actor;
use gongzhi_domain::engine::ActionRequest;
use gongzhi_domain::pack::PackSet;
use gongzhi_domain::time::now_micros;
use gongzhi_domain::unit::{UnitKind, path_within};
use gongzhi_store::{CaseFilter, CaseRecord, CaseSort, DueFilter};

use crate::error::ApiError;
use crate::state::AppState;

use super::choices::{CategoryGroup, Choice, category_groups};
use super::filters::{FilterQuery, ListFilters, area_units};
use super::form_get;
use super::{Ctx, Lang, PageError, Staff, local_path, render, see_other, time_left, urlencode};

/// Rows shown per section; the counts say how many there are in all.
const SECTION_ROWS: i64 = 100;
/// The most cases one batch dispatches.
const MAX_BATCH: usize = 200;
/// The most failures a result message lists by case.
const MAX_LISTED_FAILURES: usize = 20;

pub const FLASH_COOKIE: &str = "gz_flash";

/// The actor reduced to the assignments of roles that work at the dispatch
/// board, so the board lists exactly the cases the user dispatches for.
fn dispatching(state: &AppState, actor: &Actor) -> Option<Actor> {
    actor.only_with(&state.packs.roles_at(PAGE))
}

/// The engine page this module serves, as roles name it in packs.
const PAGE: &str = "dispatch_board";

/// Whether the staff member dispatches anywhere (for the nav link).
pub fn dispatches(state: &AppState, staff: &Staff) -> bool {
    staff.actor.holds_any(&state.packs.roles_at(PAGE))
}

pub struct BoardRow {
    pub id: String,
    pub receipt_code: String,
    pub title: String,
    pub category: String,
    pub area: String,
    pub holder: String,
    pub created: String,
    pub suggested: String,
    pub route_reason: String,
    pub return_reason: String,
    pub left: String,
    pub overdue: bool,
    pub warn: bool,
    pub version: i64,
    /// The engine would take a dispatch from this state.
    pub dispatchable: bool,
    /// One click dispatches it to the suggested unit.
    pub one_click: bool,
    pub pick_label: String,
    pub one_click_label: String,
}

pub struct Section {
    pub id: String,
    pub title: String,
    pub hint: &'static str,
    pub count: i64,
    pub extra: String,
    pub rows: Vec<BoardRow>,
}

/// The outcome of the last post, shown once.
pub struct Flash {
    pub ok: String,
    pub failures: Vec<String>,
    pub more: String,
}

#[derive(Template)]
#[template(path = "dispatch.html")]
struct BoardPage {
    p: Ctx,
    flash: Option<Flash>,
    filters: ListFilters,
    categories: Vec<CategoryGroup>,
    areas: Vec<Choice>,
    targets: Vec<Choice>,
    sections: Vec<Section>,
    back: String,
}

pub async fn page(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    headers: HeaderMap,
    Query(q): Query<FilterQuery>,
) -> Response {
    let flash = read_flash(&headers, lang, &state.packs, "dispatch.done");
    let had_flash = flash.is_some();
    let response = match build(&state, lang, &staff, &q, flash).await {
        Ok((page, status)) => render(status, &page),
        Err(e) => e.render(&state, lang, Some(&staff)),
    };
    if had_flash {
        clear_flash(response, "/dispatch")
    } else {
        response
    }
}

fn category_name(state: &AppState, lang: Lang, case: &CaseRecord) -> String {
    state
        .packs
        .category_of(&case.pack, &case.case_type, &case.fields)
        .map(|code| match state.taxonomies().categories.get(code) {
            Some(cat) => format!("{} {}", cat.code, lang.pick(&cat.name.zh, &cat.name.en)),
            None => code.to_string(),
        })
        .unwrap_or_default()
}

fn route_reason(lang: Lang, case: &CaseRecord) -> String {
    match (&case.route_reason, &case.route_reason_en) {
        (Some(zh), Some(en)) => lang.pick(zh, en).to_string(),
        (Some(zh), None) => zh.clone(),
        _ => String::new(),
    }
}

/// Whether the case's pack lets a dispatch happen from its current state.
fn dispatch_allowed(state: &AppState, case: &CaseRecord) -> bool {
    state
        .packs
        .case_type(&case.pack, &case.case_type)
        .and_then(|t| t.dispatch_action())
        .is_some_and(|a| a.from.iter().any(|s| s == &case.state))
}

/// Which cases a section of the board lists, and what it adds to them.
struct SectionSpec {
    id: String,
    title: String,
    hint: &'static str,
    case_state: String,
    due: Option<DueFilter>,
    /// New cases: the ones routing could not place are counted apart.
    counts_manual: bool,
    /// Returned cases: the return's reason is shown.
    shows_returns: bool,
}

/// The board's sections from the packs' bindings: one per state the bound
/// dispatch action starts from, then the cases whose acceptance is due.
fn section_specs(state: &AppState, p: &Ctx, now: i64) -> Vec<SectionSpec> {
    let mut out: Vec<SectionSpec> = Vec::new();
    let name = |t: &gongzhi_domain::pack::CaseType, id: &str| {
        t.states.get(id).map_or(id.to_string(), |s| {
            p.lang.pick(&s.name.zh, &s.name.en).to_string()
        })
    };
    let mut accept_due = Vec::new();
    for t in state.packs.case_types() {
        let Some(dispatch) = t.dispatch_action() else {
            continue;
        };
        let returned_to = t
            .bindings
            .return_action
            .as_ref()
            .and_then(|a| t.actions.get(a))
            .map(|a| a.to.as_str());
        let created_in = t.creation_action().to.as_str();
        for from in &dispatch.from {
            if out.iter().any(|s| &s.id == from) {
                continue;
            }
            let returned = returned_to == Some(from.as_str());
            out.push(SectionSpec {
                id: from.clone(),
                title: name(t, from),
                hint: if returned {
                    p.t("dispatch.returned_hint")
                } else {
                    p.t("dispatch.new_hint")
                },
                case_state: from.clone(),
                due: None,
                counts_manual: from == created_in,
                shows_returns: returned,
            });
        }
        if let Some(acceptance) = &t.bindings.acceptance
            && !accept_due.contains(acceptance)
        {
            accept_due.push(acceptance.clone());
        }
    }
    for acceptance in accept_due {
        out.push(SectionSpec {
            id: ACCEPT_DUE.into(),
            title: p.t("dispatch.accept_due").into(),
            hint: p.t("dispatch.accept_due_hint"),
            case_state: acceptance,
            due: Some(DueFilter::Warned { now }),
            counts_manual: false,
            shows_returns: false,
        });
    }
    out
}

/// The section of dispatched cases not accepted in time (no dispatch from it).
const ACCEPT_DUE: &str = "accept_due";

async fn build(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    q: &FilterQuery,
    flash: Option<Flash>,
) -> Result<(BoardPage, StatusCode), PageError> {
    let actor = dispatching(state, &staff.actor).ok_or(PageError::NotFound)?;
    let now = now_micros();
    let units = state.db.units().await?;
    let areas = area_units(&units, &actor);
    let filters = ListFilters::parse(state, lang, q, &units, &areas);
    let scopes = actor.scope_paths();
    let mut targets: Vec<_> = units
        .iter()
        .filter(|u| u.kind != UnitKind::Grid && scopes.iter().any(|s| path_within(&u.path, s)))
        .collect();
    targets.sort_by(|a, b| a.path.cmp(&b.path));
    let targets = targets
        .into_iter()
        .map(|u| Choice {
            value: u.id.clone(),
            label: format!("{} ({})", u.name, u.code),
        })
        .collect();
    let p = Ctx::new(state, lang, Some(staff), "/dispatch");
    let back = format!("/dispatch?{}", filters.query_tail().trim_start_matches('&'));
    let specs = section_specs(state, &p, now);
    let mut sections = Vec::with_capacity(specs.len());
    let status = if filters.error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    for spec in specs {
        let mut section = Section {
            id: spec.id.clone(),
            title: spec.title.clone(),
            hint: spec.hint,
            count: 0,
            extra: String::new(),
            rows: Vec::new(),
        };
        // A bad filter lists nothing rather than something the user did not ask for.
        if filters.error.is_some() {
            sections.push(section);
            continue;
        }
        let filter = filters.apply(CaseFilter {
            state: Some(spec.case_state.clone()),
            due: spec.due,
            open_only: true,
            sort: CaseSort::DueFirst,
            limit: SECTION_ROWS,
            ..CaseFilter::default()
        });
        section.count = state.db.count_cases_for(&actor, &filter).await?;
        if spec.counts_manual {
            let manual = CaseFilter {
                manual_queue: true,
                ..filter.clone()
            };
            let n = state.db.count_cases_for(&actor, &manual).await?;
            if n > 0 {
                section.extra = lang.tf("dispatch.manual_count", &[("n", &n.to_string())]);
            }
        }
        let cases = if section.count > 0 {
            state.db.cases_for(&actor, &filter).await?
        } else {
            Vec::new()
        };
        let ids: Vec<String> = cases.iter().map(|c| c.id.clone()).collect();
        let deadlines = state.db.running_deadlines(&ids).await?;
        let returns = if spec.shows_returns {
            state.db.last_return_reasons(&ids).await?
        } else {
            Default::default()
        };
        let places = state.places();
        for c in &cases {
            let (left, overdue, warn) = match deadlines.get(&c.id) {
                Some((due_at, warn_at)) => {
                    let (left, overdue) = time_left(lang, *due_at, now);
                    (left, overdue, warn_at.is_some_and(|w| w <= now))
                }
                None => (String::new(), false, false),
            };
            let suggested = c
                .suggested_unit_id
                .as_deref()
                .and_then(|u| places.unit(u))
                .map(|u| u.name.clone())
                .unwrap_or_default();
            let dispatchable = dispatch_allowed(state, c);
            let pick_label = lang.tf("dispatch.pick_case", &[("case", &c.receipt_code)]);
            let one_click_label = lang.tf("dispatch.one_click", &[("unit", &suggested)]);
            section.rows.push(BoardRow {
                pick_label,
                one_click_label,
                id: c.id.clone(),
                receipt_code: c.receipt_code.clone(),
                title: state
                    .packs
                    .title_of(&c.pack, &c.case_type, &c.fields)
                    .to_string(),
                category: category_name(state, lang, c),
                area: c.area_unit_name.clone().unwrap_or_default(),
                holder: c.holder_unit_name.clone(),
                created: p.datetime(c.created_at),
                one_click: dispatchable && !suggested.is_empty(),
                suggested,
                route_reason: route_reason(lang, c),
                return_reason: returns.get(&c.id).cloned().unwrap_or_default(),
                left,
                overdue: overdue || c.overdue_since.is_some(),
                warn,
                version: c.version,
                dispatchable,
            });
        }
        sections.push(section);
    }
    Ok((
        BoardPage {
            p,
            flash,
            filters,
            categories: category_groups(state, lang),
            areas,
            targets,
            sections,
            back,
        },
        status,
    ))
}

fn non_empty(form: &[(String, String)], name: &str) -> Option<String> {
    form_get(form, name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// One refused case: its receipt code (or id), the error code and field.
pub struct Failure {
    pub case: String,
    pub code: String,
    pub field: String,
}

/// Posts from the board: `one=<id>` dispatches that case to its suggested
/// unit; `op=batch` dispatches the checked `case` rows to `target_unit` (or
/// each to its suggestion) with `reason`. `v.<id>` carries the version the
/// page showed, so a repeated post changes nothing twice.
pub async fn act(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if !staff.csrf_ok(form_get(&form, "csrf_token")) {
        return PageError::FormExpired.render(&state, lang, Some(&staff));
    }
    if dispatching(&state, &staff.actor).is_none() {
        return PageError::NotFound.render(&state, lang, Some(&staff));
    }
    let back = match form_get(&form, "back") {
        Some(b) if b.starts_with("/dispatch") => local_path(Some(b)).to_string(),
        _ => "/dispatch".to_string(),
    };
    let (ids, target, reason): (Vec<String>, Option<String>, Option<String>) =
        match non_empty(&form, "one") {
            Some(id) => (vec![id], None, None),
            None => {
                let mut ids: Vec<String> = Vec::new();
                for (k, v) in &form {
                    if k == "case" && !v.is_empty() && !ids.contains(v) {
                        ids.push(v.clone());
                    }
                }
                (
                    ids,
                    non_empty(&form, "target_unit"),
                    non_empty(&form, "reason"),
                )
            }
        };
    let mut ok = 0usize;
    let mut failures = Vec::new();
    if ids.is_empty() {
        failures.push(Failure {
            case: String::new(),
            code: "none_selected".into(),
            field: String::new(),
        });
    } else if ids.len() > MAX_BATCH {
        failures.push(Failure {
            case: String::new(),
            code: "too_many".into(),
            field: String::new(),
        });
    } else {
        for id in &ids {
            match dispatch_one(&state, &staff, id, &form, target.clone(), reason.clone()).await {
                Ok(()) => ok += 1,
                Err(f) => failures.push(f),
            }
        }
    }
    set_flash(see_other(&back), &state, "/dispatch", ok, &failures)
}

/// Dispatches one case through the engine; a refusal names the case and why.
async fn dispatch_one(
    state: &AppState,
    staff: &Staff,
    id: &str,
    form: &[(String, String)],
    target: Option<String>,
    reason: Option<String>,
) -> Result<(), Failure> {
    let fail = |case: &str, e: ApiError| Failure {
        case: case.to_string(),
        code: e.code.to_string(),
        field: e.field.unwrap_or_default(),
    };
    let case = match state.db.case_for(&staff.actor, id).await {
        Ok(Some(case)) => case,
        Ok(None) => {
            return Err(Failure {
                case: id.chars().take(40).collect(),
                code: "not_found".into(),
                field: String::new(),
            });
        }
        Err(e) => return Err(fail(id, ApiError::from(e))),
    };
    // A case of a type with no dispatch binding is refused by the engine as
    // an unknown action, like any action its pack does not declare.
    let action = state
        .packs
        .case_type(&case.pack, &case.case_type)
        .and_then(|t| t.bindings.dispatch.clone())
        .unwrap_or_default();
    let request = ActionRequest {
        action,
        fields: Map::new(),
        reason,
        // No unit chosen: the one routing suggested (none for the manual queue,
        // which the engine refuses as "choose a unit").
        target_unit: target.or_else(|| case.suggested_unit_id.clone()),
    };
    let version = form_get(form, &format!("v.{id}")).and_then(|v| v.parse::<i64>().ok());
    state
        .db
        .act(
            state.rules(&state.taxonomies()),
            &staff.actor,
            &case.id,
            request,
            version,
            now_micros(),
        )
        .await
        .map(|_| ())
        .map_err(|e| fail(&case.receipt_code, ApiError::from(e)))
}

/// Percent-decoding for the flash cookie (which `urlencode` wrote).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Keeps the outcome of a post for the next page, in a short-lived cookie
/// scoped to that page's `path`: `ok|failed|case~code~field|...` (codes only;
/// the page words them).
pub fn set_flash(
    mut response: Response,
    state: &AppState,
    path: &str,
    ok: usize,
    failures: &[Failure],
) -> Response {
    let clean = |s: &str| s.replace(['|', '~'], " ");
    let mut parts = vec![ok.to_string(), failures.len().to_string()];
    for f in failures.iter().take(MAX_LISTED_FAILURES) {
        parts.push(format!(
            "{}~{}~{}",
            clean(&f.case),
            clean(&f.code),
            clean(&f.field)
        ));
    }
    let cookie = format!(
        "{FLASH_COOKIE}={}; Path={path}; HttpOnly; SameSite=Lax; Max-Age=120{}",
        urlencode(&parts.join("|")),
        if state.config.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

pub fn clear_flash(mut response: Response, path: &str) -> Response {
    let cookie = format!("{FLASH_COOKIE}=; Path={path}; HttpOnly; SameSite=Lax; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// Words a refusal's code in the reader's language, naming a pack field by
/// its label.
pub fn failure_message(lang: Lang, packs: &PackSet, code: &str, field: &str) -> String {
    let key = match code {
        "role_not_allowed" => "act_error.role_not_allowed",
        "wrong_state" => "act_error.wrong_state",
        "version_conflict" => "dispatch.version_conflict",
        "reason_required" => "dispatch.reason_required",
        // A dispatch away from the suggestion is refused on its reason field.
        _ if field == "reason" => "dispatch.reason_required",
        "target_required" => "dispatch.target_required",
        "not_found" | "case_not_found" => "dispatch.not_found",
        "none_selected" => "dispatch.none_selected",
        "too_many" => "dispatch.too_many",
        "precondition_failed" => "assists.precondition_failed",
        _ if !field.is_empty() => {
            let pack_label = packs
                .case_types()
                .find_map(|t| t.fields.get(field))
                .map(|d| lang.pick(&d.label.zh, &d.label.en));
            let label = match field {
                "target_unit" => lang.t("dispatch.target"),
                other => pack_label.unwrap_or(other),
            };
            let key = if code == "missing_field" {
                "act_error.missing_field"
            } else {
                "act_error.invalid_field"
            };
            return lang.tf(key, &[("field", label)]);
        }
        _ => "dispatch.failed_other",
    };
    lang.t(key).to_string()
}

/// The outcome of the last post, if the browser brought one back.
pub fn read_flash(
    headers: &HeaderMap,
    lang: Lang,
    packs: &PackSet,
    done_key: &str,
) -> Option<Flash> {
    let raw = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == FLASH_COOKIE)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())?;
    let text = percent_decode(raw)?;
    let mut parts = text.split('|');
    let ok: usize = parts.next()?.parse().ok()?;
    let failed: usize = parts.next()?.parse().ok()?;
    let mut failures = Vec::new();
    for part in parts {
        let mut it = part.split('~');
        let case = it.next().unwrap_or_default();
        let code = it.next().unwrap_or_default();
        let field = it.next().unwrap_or_default();
        let message = failure_message(lang, packs, code, field);
        failures.push(if case.is_empty() {
            message
        } else {
            lang.tf(
                "dispatch.failed_case",
                &[("case", case), ("message", &message)],
            )
        });
    }
    let more = failed.saturating_sub(failures.len());
    Some(Flash {
        ok: if ok > 0 {
            lang.tf(done_key, &[("n", &ok.to_string())])
        } else {
            String::new()
        },
        failures,
        more: if more > 0 {
            lang.tf("dispatch.more_failed", &[("n", &more.to_string())])
        } else {
            String::new()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flash_round_trips_through_the_cookie_encoding() {
        let text = "2|1|YZ-ABC~reason_required~";
        assert_eq!(percent_decode(&urlencode(text)).as_deref(), Some(text));
        assert_eq!(percent_decode("%E5%88%86").as_deref(), Some("分"));
        assert_eq!(percent_decode("%Z"), None);
        assert_eq!(percent_decode("%"), None);
    }

    #[test]
    fn every_refusal_has_words_in_both_languages() {
        for lang in [Lang::Zh, Lang::En] {
            for code in [
                "role_not_allowed",
                "wrong_state",
                "version_conflict",
                "reason_required",
                "target_required",
                "not_found",
                "none_selected",
                "too_many",
                "precondition_failed",
                "something_else",
            ] {
                let text = failure_message(lang, &PackSet::default(), code, "");
                assert!(!text.is_empty() && text != "?", "{code}");
            }
            assert!(failure_message(lang, &PackSet::default(), "invalid_field", "task").len() > 3);
        }
    }
}
