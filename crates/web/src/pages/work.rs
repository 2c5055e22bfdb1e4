//! My work: the user's cases in queues by state and deadline, with filters.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use gongzhi_domain::time::now_micros;
use gongzhi_domain::unit::path_within;
use gongzhi_store::{CaseFilter, CaseSort, DueFilter};

use crate::state::AppState;

use super::filters::{FilterQuery, ListFilters, area_units};
use super::portal::{CategoryGroup, Choice, category_groups};
use super::{Ctx, Lang, PageError, Staff, render, time_left, urlencode};

/// The queues, in the order a handler works through them.
const QUEUES: [&str; 7] = [
    "all",
    "registered",
    "dispatched",
    "in_progress",
    "due_soon",
    "overdue",
    "rated",
];

fn queue_label(lang: Lang, queue: &str) -> &'static str {
    match queue {
        "registered" => lang.t("work.queue_registered"),
        "dispatched" => lang.t("work.queue_dispatched"),
        "in_progress" => lang.t("work.queue_in_progress"),
        "due_soon" => lang.t("work.queue_due_soon"),
        "overdue" => lang.t("work.queue_overdue"),
        "rated" => lang.t("work.queue_rated"),
        _ => lang.t("work.queue_all"),
    }
}

fn queue_filter(queue: &str, now: i64) -> (Option<String>, Option<DueFilter>) {
    match queue {
        "registered" | "dispatched" | "in_progress" | "rated" => (Some(queue.to_string()), None),
        "due_soon" => (None, Some(DueFilter::Soon { now })),
        "overdue" => (None, Some(DueFilter::Overdue { now })),
        _ => (None, None),
    }
}

#[derive(Deserialize, Default)]
pub struct WorkQuery {
    queue: Option<String>,
    unit: Option<String>,
    sort: Option<String>,
    #[serde(flatten)]
    filters: FilterQuery,
}

pub struct QueueTab {
    pub id: &'static str,
    pub label: &'static str,
    pub count: i64,
    pub href: String,
    pub current: bool,
    pub alert: bool,
}

pub struct Row {
    pub id: String,
    pub receipt_code: String,
    pub title: String,
    pub category: String,
    pub state: String,
    pub holder: String,
    pub due: String,
    pub left: String,
    pub overdue: bool,
    pub warn: bool,
    pub created: String,
}

#[derive(Template)]
#[template(path = "work.html")]
struct WorkPage {
    p: Ctx,
    queues: Vec<QueueTab>,
    queue: String,
    filters: ListFilters,
    unit: String,
    sort: String,
    categories: Vec<CategoryGroup>,
    areas: Vec<Choice>,
    units: Vec<Choice>,
    total: String,
    rows: Vec<Row>,
}

pub async fn page(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Query(q): Query<WorkQuery>,
) -> Response {
    match build(&state, lang, &staff, q).await {
        Ok(page) if page.filters.error.is_some() => render(StatusCode::BAD_REQUEST, &page),
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => e.render(&state, lang, Some(&staff)),
    }
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

async fn build(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    q: WorkQuery,
) -> Result<WorkPage, PageError> {
    let now = now_micros();
    let tax = state.taxonomies();
    let queue = q
        .queue
        .filter(|x| QUEUES.contains(&x.as_str()))
        .unwrap_or_else(|| "all".into());
    let all_units = state.db.units().await?;
    let areas = area_units(&all_units, &staff.actor);
    let filters = ListFilters::parse(state, lang, &q.filters, &all_units, &areas);
    let unit = non_empty(q.unit);
    let sort = if q.sort.as_deref() == Some("newest") {
        "newest"
    } else {
        "due"
    };
    let base = filters.apply(CaseFilter {
        holder_unit_id: unit.clone(),
        open_only: true,
        ..CaseFilter::default()
    });
    let query_tail = format!(
        "{}&unit={}&sort={sort}",
        filters.query_tail(),
        urlencode(unit.as_deref().unwrap_or_default()),
    );
    // A bad filter is reported by field and lists nothing.
    let valid = filters.error.is_none();
    let mut queues = Vec::with_capacity(QUEUES.len());
    for id in QUEUES {
        let (st, due) = queue_filter(id, now);
        let filter = CaseFilter {
            state: st,
            due,
            ..base.clone()
        };
        let count = if valid {
            state.db.count_cases_for(&staff.actor, &filter).await?
        } else {
            0
        };
        queues.push(QueueTab {
            id,
            label: queue_label(lang, id),
            count,
            href: format!("/work?queue={id}{query_tail}"),
            current: id == queue,
            alert: id == "overdue" && count > 0,
        });
    }
    let (st, due) = queue_filter(&queue, now);
    let filter = CaseFilter {
        state: st,
        due,
        sort: if sort == "due" {
            CaseSort::DueFirst
        } else {
            CaseSort::Newest
        },
        limit: 100,
        ..base
    };
    let cases = if valid {
        state.db.cases_for(&staff.actor, &filter).await?
    } else {
        Vec::new()
    };
    let ids: Vec<String> = cases.iter().map(|c| c.id.clone()).collect();
    let deadlines = state.db.running_deadlines(&ids).await?;
    let p = Ctx::new(state, lang, Some(staff), "/work");
    let rows = cases
        .iter()
        .map(|c| {
            let case_type = state.packs.case_type(&c.pack, &c.case_type);
            let (due, left, overdue, warn) = match deadlines.get(&c.id) {
                Some((due_at, warn_at)) => {
                    let (left, overdue) = time_left(lang, *due_at, now);
                    let warn = warn_at.is_some_and(|w| w <= now);
                    (p.datetime(*due_at), left, overdue, warn)
                }
                None => (String::new(), String::new(), false, false),
            };
            Row {
                id: c.id.clone(),
                receipt_code: c.receipt_code.clone(),
                title: c
                    .fields
                    .get("title")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                category: c
                    .fields
                    .get("category")
                    .and_then(Value::as_str)
                    .and_then(|code| tax.categories.get(code))
                    .map(|cat| lang.pick(&cat.name.zh, &cat.name.en).to_string())
                    .unwrap_or_default(),
                state: case_type
                    .and_then(|t| t.states.get(&c.state))
                    .map(|s| lang.pick(&s.name.zh, &s.name.en).to_string())
                    .unwrap_or_else(|| c.state.clone()),
                holder: c.holder_unit_name.clone(),
                due,
                left,
                overdue: overdue || c.overdue_since.is_some(),
                warn,
                created: p.datetime(c.created_at),
            }
        })
        .collect();
    let total = queues
        .iter()
        .find(|t| t.current)
        .map(|t| lang.tf("work.count", &[("n", &t.count.to_string())]))
        .unwrap_or_default();
    let scopes: Vec<&str> = staff
        .actor
        .assignments
        .iter()
        .map(|a| a.unit_path.as_str())
        .collect();
    let mut units: Vec<_> = all_units
        .into_iter()
        .filter(|u| scopes.iter().any(|s| path_within(&u.path, s)))
        .collect();
    units.sort_by(|a, b| a.path.cmp(&b.path));
    let units = units
        .into_iter()
        .map(|u| Choice {
            value: u.id,
            label: format!("{} ({})", u.name, u.code),
        })
        .collect();
    Ok(WorkPage {
        p,
        queues,
        queue,
        filters,
        unit: unit.unwrap_or_default(),
        sort: sort.to_string(),
        categories: category_groups(state, lang),
        areas,
        units,
        total,
        rows,
    })
}
