//! My work: the user's cases in queues by state and deadline, with filters.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use gongzhi_domain::time::now_micros;
use gongzhi_domain::unit::path_within;
use gongzhi_store::{CaseFilter, CaseSort, DueFilter};

use crate::state::AppState;

use super::choices::{CategoryGroup, Choice, category_groups};
use super::filters::{FilterQuery, ListFilters, area_units};
use super::{Ctx, Lang, PageError, Staff, render, time_left, urlencode};

/// Queues that are not a state: every open case, and the deadline views.
const ALL: &str = "all";
const DUE_SOON: &str = "due_soon";
const OVERDUE: &str = "overdue";
const MINE: &str = "mine";

/// One queue: its id in the URL and what it shows.
struct Queue {
    id: String,
    label: String,
    state: Option<String>,
    due: Option<DueFilter>,
    /// Only the cases assigned to the user by a pack's bound person field.
    mine: bool,
}

/// The queues in the order a handler works through them: all, the states the
/// loaded packs bind as work queues (by the pack's own names), then the
/// deadline views.
fn queues(state: &AppState, lang: Lang, now: i64) -> Vec<Queue> {
    let mut out = vec![Queue {
        id: ALL.into(),
        label: lang.t("work.queue_all").into(),
        state: None,
        due: None,
        mine: false,
    }];
    // Where a pack assigns cases to people, theirs come first after "all".
    if state
        .packs
        .case_types()
        .any(|t| t.bindings.assignee.is_some())
    {
        out.push(Queue {
            id: MINE.into(),
            label: lang.t("work.queue_mine").into(),
            state: None,
            due: None,
            mine: true,
        });
    }
    for t in state.packs.case_types() {
        for id in &t.bindings.work_queues {
            if out.iter().any(|q| &q.id == id) {
                continue;
            }
            let label = t
                .states
                .get(id)
                .map_or(id.as_str(), |s| lang.pick(&s.name.zh, &s.name.en));
            out.push(Queue {
                id: id.clone(),
                label: label.to_string(),
                state: Some(id.clone()),
                due: None,
                mine: false,
            });
        }
    }
    out.push(Queue {
        id: DUE_SOON.into(),
        label: lang.t("work.queue_due_soon").into(),
        state: None,
        due: Some(DueFilter::Soon { now }),
        mine: false,
    });
    out.push(Queue {
        id: OVERDUE.into(),
        label: lang.t("work.queue_overdue").into(),
        state: None,
        due: Some(DueFilter::Overdue { now }),
        mine: false,
    });
    out
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
    pub id: String,
    pub label: String,
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
    let all_queues = queues(state, lang, now);
    let queue = q
        .queue
        .and_then(|x| all_queues.iter().position(|q| q.id == x))
        .unwrap_or(0);
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
    let mut tabs = Vec::with_capacity(all_queues.len());
    for (i, q) in all_queues.iter().enumerate() {
        let filter = CaseFilter {
            state: q.state.clone(),
            due: q.due,
            assignee_user_id: q.mine.then(|| staff.actor.user_id.clone()),
            ..base.clone()
        };
        let count = if valid {
            state.db.count_cases_for(&staff.actor, &filter).await?
        } else {
            0
        };
        tabs.push(QueueTab {
            id: q.id.clone(),
            label: q.label.clone(),
            count,
            href: format!("/work?queue={}{query_tail}", urlencode(&q.id)),
            current: i == queue,
            alert: q.id == OVERDUE && count > 0,
        });
    }
    let current = &all_queues[queue];
    let filter = CaseFilter {
        state: current.state.clone(),
        due: current.due,
        assignee_user_id: current.mine.then(|| staff.actor.user_id.clone()),
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
                title: state
                    .packs
                    .title_of(&c.pack, &c.case_type, &c.fields)
                    .to_string(),
                category: state
                    .packs
                    .category_of(&c.pack, &c.case_type, &c.fields)
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
    let total = tabs
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
        queues: tabs,
        queue: current.id.clone(),
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
