//! Assist tasks (协办, 吹哨报到): what other units asked the user's unit to
//! help with, each with its own deadline, and the report back through the
//! action of the case's pack that has the `assist.report` effect.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Map, Value};

use gongzhi_domain::engine::ActionRequest;
use gongzhi_domain::pack::Effect;
use gongzhi_domain::time::now_micros;
use gongzhi_store::AssistTask;

use crate::error::ApiError;
use crate::state::AppState;

use super::dispatch::{Failure, Flash, clear_flash, read_flash, set_flash};
use super::form_get;
use super::{Ctx, Lang, PageError, Staff, render, see_other, time_left};

/// Closed tasks stay listed this long (30 days), for reference.
const CLOSED_KEPT_MICROS: i64 = 30 * 24 * 3_600_000_000;
const MAX_ROWS: i64 = 200;

/// The unit paths the user handles for: assist tasks there are theirs.
fn handling_paths(state: &AppState, staff: &Staff) -> Vec<String> {
    let roles = state.packs.roles_at(PAGE);
    let mut paths: Vec<String> = staff
        .actor
        .assignments
        .iter()
        .filter(|a| roles.contains(&a.role))
        .map(|a| a.unit_path.clone())
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// Whether the staff member handles assist tasks (for the nav link).
pub fn handles_assists(state: &AppState, staff: &Staff) -> bool {
    staff.actor.holds_any(&state.packs.roles_at(PAGE))
}

/// The engine page this module serves, as roles name it in packs.
const PAGE: &str = "assists";

pub struct AssistRow {
    pub case_id: String,
    pub receipt_code: String,
    pub title: String,
    pub lead: String,
    pub unit: String,
    pub task: String,
    pub status: String,
    pub open: bool,
    pub due: String,
    pub left: String,
    pub overdue: bool,
    pub result: String,
    pub closed: String,
    pub version: i64,
    pub form_id: String,
    /// The engine takes a report back now (the case is being handled).
    pub can_report: bool,
}

/// A task's status in words.
pub fn status_name(lang: Lang, task: &AssistTask, now: i64) -> String {
    match task.status.as_str() {
        "open" if task.overdue_at.is_some() || task.due_at.is_some_and(|d| d < now) => {
            lang.t("assists.status_overdue")
        }
        "open" => lang.t("assists.status_open"),
        "answered" => lang.t("assists.status_reported"),
        "released" => lang.t("assists.status_released"),
        other => return other.to_string(),
    }
    .to_string()
}

/// A task as a row, in the reader's language.
pub fn assist_row(state: &AppState, p: &Ctx, task: &AssistTask, now: i64) -> AssistRow {
    let open = task.status == "open";
    let (left, overdue) = match task.due_at {
        Some(due) if open => time_left(p.lang, due, now),
        _ => (String::new(), false),
    };
    let can_report = open
        && state
            .packs
            .case_type(&task.pack, &task.case_type)
            .and_then(|t| t.action_with_effect(Effect::ReportAssist))
            .is_some_and(|a| a.from.iter().any(|s| s == &task.case_state));
    AssistRow {
        case_id: task.case_id.clone(),
        receipt_code: task.receipt_code.clone(),
        title: state
            .packs
            .title_of(&task.pack, &task.case_type, &task.case_fields)
            .to_string(),
        lead: task.holder_unit_name.clone(),
        unit: task.unit_name.clone(),
        task: task.task.clone(),
        status: status_name(p.lang, task, now),
        open,
        due: p.opt_datetime(&task.due_at),
        left,
        overdue: overdue || (open && task.overdue_at.is_some()),
        result: task.result.clone().unwrap_or_default(),
        closed: p.opt_datetime(&task.closed_at),
        version: task.case_version,
        form_id: task.id.clone(),
        can_report,
    }
}

#[derive(Template)]
#[template(path = "assists.html")]
struct AssistsPage {
    p: Ctx,
    flash: Option<Flash>,
    open: Vec<AssistRow>,
    closed: Vec<AssistRow>,
}

pub async fn page(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    headers: HeaderMap,
) -> Response {
    let flash = read_flash(&headers, lang, &state.packs, "assists.done");
    let had_flash = flash.is_some();
    let result = async {
        let paths = handling_paths(&state, &staff);
        if paths.is_empty() {
            return Err(PageError::NotFound);
        }
        let now = now_micros();
        let tasks = state
            .db
            .assists_for_units(&paths, now - CLOSED_KEPT_MICROS, MAX_ROWS)
            .await?;
        let p = Ctx::new(&state, lang, Some(&staff), "/assists");
        let (open, closed): (Vec<AssistRow>, Vec<AssistRow>) = tasks
            .iter()
            .map(|t| assist_row(&state, &p, t, now))
            .partition(|r| r.open);
        Ok(AssistsPage {
            p,
            flash,
            open,
            closed,
        })
    }
    .await;
    let response = match result {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => e.render(&state, lang, Some(&staff)),
    };
    if had_flash {
        clear_flash(response, "/assists")
    } else {
        response
    }
}

/// Reports an assist task back: `case`, `version` and `result`.
pub async fn report(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if !staff.csrf_ok(form_get(&form, "csrf_token")) {
        return PageError::FormExpired.render(&state, lang, Some(&staff));
    }
    if handling_paths(&state, &staff).is_empty() {
        return PageError::NotFound.render(&state, lang, Some(&staff));
    }
    let case_id = form_get(&form, "case").unwrap_or_default();
    let result = form_get(&form, "result").map(str::trim).unwrap_or_default();
    let failure = |case: &str, e: ApiError| Failure {
        case: case.to_string(),
        code: e.code.to_string(),
        field: e.field.unwrap_or_default(),
    };
    let outcome = async {
        let case = match state.db.case_for(&staff.actor, case_id).await {
            Ok(Some(case)) => case,
            Ok(None) => {
                return Err(Failure {
                    case: String::new(),
                    code: "not_found".into(),
                    field: String::new(),
                });
            }
            Err(e) => return Err(failure("", ApiError::from(e))),
        };
        // The pack's action with the assist-report effect; the result goes
        // into the first field it requires.
        let action = state
            .packs
            .case_type(&case.pack, &case.case_type)
            .and_then(|t| t.action_with_effect(Effect::ReportAssist));
        let mut fields = Map::new();
        if let Some(field) = action.and_then(|a| a.requires.first())
            && !result.is_empty()
        {
            fields.insert(field.clone(), Value::String(result.to_string()));
        }
        let request = ActionRequest {
            action: action.map(|a| a.id.clone()).unwrap_or_default(),
            fields,
            reason: None,
            target_unit: None,
        };
        let version = form_get(&form, "version").and_then(|v| v.parse::<i64>().ok());
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
            .map_err(|e| failure(&case.receipt_code, ApiError::from(e)))
    }
    .await;
    let (ok, failures) = match outcome {
        Ok(()) => (1, Vec::new()),
        Err(f) => (0, vec![f]),
    };
    set_flash(see_other("/assists"), &state, "/assists", ok, &failures)
}
