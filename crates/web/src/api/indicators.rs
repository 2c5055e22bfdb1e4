//! `GET /api/v1/indicators`: the figures of the cases in the caller's scope,
//! computed from the log by `gongzhi_domain::indicators`.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use gongzhi_domain::access::Actor;
use gongzhi_domain::calendar::WorkCalendar;
use gongzhi_domain::indicators::{self, CaseFacts, DateRange, Report, category_prefix, month_key};
use gongzhi_domain::pack::{CaseType, FieldKind};
use gongzhi_domain::time::{now_micros, to_rfc3339};
use gongzhi_domain::unit::UnitKind;
use gongzhi_store::HistoryQuery;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::ApiQuery;
use crate::state::{AppState, Places};

/// The pack whose figures are shown when the question names none.
pub const DEFAULT_PACK: &str = "requests";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndicatorQuery {
    from: Option<String>,
    to: Option<String>,
    group: Option<String>,
    level: Option<String>,
    category_level: Option<String>,
    pack: Option<String>,
    field: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grouping {
    Unit,
    Category(usize),
    Area(UnitKind),
    Month,
    /// By the value of a choice or person field the pack's type declares.
    Field(String),
}

/// The type whose declared indicators are the figures of `pack`.
pub fn figures_type<'a>(state: &'a AppState, pack: &str) -> Option<&'a CaseType> {
    state.packs.pack(pack).and_then(indicators::pack_indicators)
}

/// The fields a dashboard may group by: choices and people.
pub fn groupable_fields(t: &CaseType) -> impl Iterator<Item = &gongzhi_domain::pack::FieldDef> {
    t.fields.values().filter(|f| {
        !f.personal && matches!(f.kind, FieldKind::Choice { .. } | FieldKind::Person { .. })
    })
}

fn bad(field: &str, message: impl Into<String>) -> ApiError {
    let message = message.into();
    ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_query",
        message: format!("{field}: {message}"),
        field: Some(field.to_string()),
    }
}

fn grouping(q: &IndicatorQuery, t: &CaseType) -> Result<Grouping, ApiError> {
    let group = q.group.as_deref().unwrap_or("unit");
    if q.field.is_some() && group != "field" {
        return Err(bad("field", "applies only to group=field"));
    }
    if q.level.is_some() && group != "area" {
        return Err(bad("level", "applies only to group=area"));
    }
    if q.category_level.is_some() && group != "category" {
        return Err(bad("category_level", "applies only to group=category"));
    }
    Ok(match group {
        "unit" => Grouping::Unit,
        "month" => Grouping::Month,
        "area" => Grouping::Area(match q.level.as_deref().unwrap_or("district") {
            "district" => UnitKind::District,
            "street" => UnitKind::Street,
            "community" => UnitKind::Community,
            other => {
                return Err(bad(
                    "level",
                    format!("{other:?} is not one of district, street, community"),
                ));
            }
        }),
        "field" => {
            let field = q
                .field
                .as_deref()
                .ok_or_else(|| bad("field", "is required with group=field"))?;
            if !groupable_fields(t).any(|f| f.key == field) {
                let known: Vec<&str> = groupable_fields(t).map(|f| f.key.as_str()).collect();
                return Err(bad(
                    "field",
                    format!("{field:?} is not one of {}", known.join(", ")),
                ));
            }
            Grouping::Field(field.to_string())
        }
        "category" => Grouping::Category(match q.category_level.as_deref().unwrap_or("1") {
            "1" => 1,
            "2" => 2,
            "3" => 3,
            other => return Err(bad("category_level", format!("{other:?} is not 1, 2 or 3"))),
        }),
        other => {
            return Err(bad(
                "group",
                format!("{other:?} is not one of unit, category, area, month, field"),
            ));
        }
    })
}

/// Whether a unit may be named to the caller: it lies inside one of their
/// scopes, or above one (their own district, their city). Figures only ever
/// cover cases in scope; this decides which unit names appear, and cases
/// held by or placed in other units go to the unnamed group.
fn nameable<'a>(actor: &'a Actor, places: &'a Places) -> impl Fn(&str) -> bool + 'a {
    let scope_units: HashSet<&str> = actor
        .assignments
        .iter()
        .map(|a| a.unit_id.as_str())
        .collect();
    let above: HashSet<&str> = scope_units
        .iter()
        .flat_map(|id| places.chain(id).into_iter().map(|u| u.id.as_str()))
        .collect();
    move |unit_id: &str| {
        above.contains(unit_id)
            || places
                .chain(unit_id)
                .iter()
                .any(|u| scope_units.contains(u.id.as_str()))
    }
}

/// A group's name in both languages.
pub struct GroupName {
    pub zh: String,
    pub en: String,
}

/// The figures of the cases in the actor's scope for a range, grouped; each
/// group with its name. Shared by the JSON API and the dashboard page.
pub async fn report(
    state: &AppState,
    actor: &Actor,
    pack: &str,
    range: &DateRange,
    grouping: &Grouping,
    now: i64,
) -> Result<(Report, Vec<GroupName>), ApiError> {
    let figures_of = figures_type(state, pack).ok_or_else(|| {
        bad(
            "pack",
            format!("{pack:?} is not a pack that declares indicators"),
        )
    })?;
    let period = range.period(&state.calendar);
    let scope_paths = actor.scope_paths();
    let started = std::time::Instant::now();
    let histories = state
        .histories
        .get(
            &state.db,
            &HistoryQuery {
                scope_paths: &scope_paths,
                pack,
                from: period.from,
                to: period.to,
            },
        )
        .await?;

    let places = state.places();
    let shown = nameable(actor, &places);
    let calendar: &WorkCalendar = &state.calendar;
    let category_field = figures_of.category_field();
    let key = |c: &CaseFacts, answerable: Option<&str>| -> Option<String> {
        match grouping {
            Grouping::Unit => answerable.filter(|u| shown(u)).map(str::to_string),
            Grouping::Area(kind) => {
                let area = c.area_unit_id.as_deref()?;
                places
                    .chain(area)
                    .into_iter()
                    .find(|u| u.kind == *kind)
                    .map(|u| u.id.clone())
                    .filter(|u| shown(u))
            }
            Grouping::Category(level) => category_field
                .and_then(|f| c.fields.get(f))
                .and_then(|code| category_prefix(code, *level)),
            Grouping::Month => month_key(c.created_at, calendar),
            Grouping::Field(field) => c.fields.get(field).cloned(),
        }
    };
    let read = started.elapsed();
    let report = indicators::compute(
        histories.values().map(Arc::as_ref),
        period,
        now,
        &state.calendar,
        &figures_of.indicators,
        key,
    )
    .map_err(|e| {
        tracing::error!(error = %e, "indicators");
        ApiError::internal()
    })?;
    tracing::debug!(
        cases = histories.len(),
        read_ms = read.as_secs_f64() * 1000.0,
        compute_ms = (started.elapsed() - read).as_secs_f64() * 1000.0,
        "indicators computed"
    );
    // Groups by a person field are named by the people's names.
    let people = match grouping {
        Grouping::Field(field)
            if figures_of
                .fields
                .get(field)
                .is_some_and(|f| matches!(f.kind, FieldKind::Person { .. })) =>
        {
            let ids: Vec<String> = report.groups.iter().filter_map(|g| g.key.clone()).collect();
            state.db.display_names(&ids).await?
        }
        _ => std::collections::HashMap::new(),
    };
    let tax = state.taxonomies();
    let categories = &tax.categories;
    let names = report
        .groups
        .iter()
        .map(|g| match (&g.key, grouping) {
            (None, _) => GroupName {
                zh: "其他".into(),
                en: "Other".into(),
            },
            (Some(id), Grouping::Unit | Grouping::Area(_)) => {
                let name = places.unit(id).map(|u| u.name.clone()).unwrap_or_default();
                GroupName {
                    zh: name.clone(),
                    en: name,
                }
            }
            (Some(code), Grouping::Category(_)) => match categories.get(code) {
                Some(c) => GroupName {
                    zh: c.name.zh.clone(),
                    en: c.name.en.clone(),
                },
                None => GroupName {
                    zh: code.clone(),
                    en: code.clone(),
                },
            },
            (Some(month), Grouping::Month) => GroupName {
                zh: month.clone(),
                en: month.clone(),
            },
            (Some(value), Grouping::Field(field)) => match people.get(value) {
                Some(name) => GroupName {
                    zh: name.clone(),
                    en: name.clone(),
                },
                None => field_value_name(figures_of, field, value),
            },
        })
        .collect();
    Ok((report, names))
}

/// A field value's name: a choice's label, else the value itself.
fn field_value_name(t: &CaseType, field: &str, value: &str) -> GroupName {
    let option = t.fields.get(field).and_then(|f| match &f.kind {
        FieldKind::Choice { options } => options.iter().find(|o| o.value == value),
        _ => None,
    });
    match option {
        Some(o) => GroupName {
            zh: o.name.zh.clone(),
            en: o.name.en.clone(),
        },
        None => GroupName {
            zh: value.to_string(),
            en: value.to_string(),
        },
    }
}

pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<IndicatorQuery>,
) -> Result<Json<Value>, ApiError> {
    let now = now_micros();
    let range = DateRange::parse(q.from.as_deref(), q.to.as_deref(), now, &state.calendar)
        .map_err(|e| bad(e.field, e.message))?;
    let pack = q.pack.as_deref().unwrap_or(DEFAULT_PACK);
    let figures_of = figures_type(&state, pack).ok_or_else(|| {
        bad(
            "pack",
            format!("{pack:?} is not a pack that declares indicators"),
        )
    })?;
    let grouping = grouping(&q, figures_of)?;
    let (report, names) = report(&state, &auth.actor, pack, &range, &grouping, now).await?;
    let groups: Vec<Value> = report
        .groups
        .iter()
        .zip(names)
        .map(|(g, name)| json!({"key": g.key, "name": {"zh": name.zh, "en": name.en}, "figures": g.figures}))
        .collect();
    let (group, level, category_level, field) = match &grouping {
        Grouping::Unit => ("unit", None, None, None),
        Grouping::Month => ("month", None, None, None),
        Grouping::Area(kind) => ("area", Some(kind.as_str()), None, None),
        Grouping::Category(level) => ("category", None, Some(*level), None),
        Grouping::Field(f) => ("field", None, None, Some(f.as_str())),
    };
    let definitions: Vec<Value> = figures_of
        .indicators
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "zh": d.name.zh,
                "en": d.name.en,
                "definition": d.definition,
                "measure": d.measure,
            })
        })
        .collect();
    Ok(Json(json!({
        "pack": pack,
        "period": {
            "from": range.from.to_string(),
            "to": range.to.to_string(),
            "time_zone": state.calendar.tz().name(),
            "as_of": to_rfc3339(now),
        },
        "group": group,
        "level": level,
        "category_level": category_level,
        "field": field,
        "definitions": definitions,
        "total": report.total,
        "groups": groups,
    })))
}
