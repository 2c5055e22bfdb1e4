//! The hotline operator's intake form: who called, what about, where; a
//! preview shows where routing would send it and likely duplicates nearby
//! before the case is saved.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use gongzhi_domain::pack::{IntakeChannel, IntakeValues};
use gongzhi_domain::time::{MICROS_PER_DAY, now_micros};
use gongzhi_store::{CaseFilter, NearFilter};

use crate::intake::{Collected, IntakeRequest, channel_request, intake, suggest_route};
use crate::state::AppState;

use super::choices::{CategoryGroup, category_groups};
use super::picker::PlacePicker;
use super::{Ctx, Lang, PageError, Staff, render, see_other};

/// How far away an open case of the same category counts as a likely duplicate.
pub const DUPLICATE_METERS: f64 = 300.0;
/// How far back likely duplicates are looked for.
pub const DUPLICATE_DAYS: i64 = 30;

#[derive(Deserialize, Default)]
pub struct IntakeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    op: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    contact_name: String,
    #[serde(default)]
    contact_phone: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    lat: String,
    #[serde(default)]
    lng: String,
}

pub struct RouteView {
    pub unit: String,
    pub reason: String,
    pub category: String,
}

pub struct Duplicate {
    pub id: String,
    pub receipt_code: String,
    pub title: String,
    pub state: String,
    pub created: String,
    pub meters: String,
}

#[derive(Template)]
#[template(path = "intake.html")]
struct IntakePage {
    p: Ctx,
    form: IntakeForm,
    categories: Vec<CategoryGroup>,
    errors: Vec<String>,
    route: Option<RouteView>,
    duplicates: Vec<Duplicate>,
    previewed: bool,
    picker: PlacePicker,
}

/// Who may take calls: those the pack lets create requests at a desk.
fn may_take_calls(state: &AppState, staff: &Staff) -> bool {
    Ctx::takes_calls_of(state, staff)
}

/// The category groups, narrowed to the search's matches when there is one
/// (the chosen category always stays).
pub fn narrowed_groups(state: &AppState, lang: Lang, q: &str, keep: &str) -> Vec<CategoryGroup> {
    let groups = category_groups(state, lang);
    if q.trim().is_empty() {
        return groups;
    }
    let hits: Vec<String> = state
        .taxonomies()
        .categories
        .search(q)
        .into_iter()
        .map(|c| c.code.clone())
        .collect();
    groups
        .into_iter()
        .map(|mut g| {
            g.options
                .retain(|o| o.value == keep || hits.contains(&o.value));
            g
        })
        .filter(|g| !g.options.is_empty())
        .collect()
}

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

pub async fn form(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Query(query): Query<SearchQuery>,
) -> Response {
    if !may_take_calls(&state, &staff) {
        return PageError::Forbidden.render(&state, lang, Some(&staff));
    }
    let form = IntakeForm {
        q: query.q.unwrap_or_default(),
        ..IntakeForm::default()
    };
    let page = IntakePage {
        p: Ctx::new(&state, lang, Some(&staff), "/intake"),
        categories: narrowed_groups(&state, lang, &form.q, ""),
        picker: PlacePicker::new(&state, lang, "", ""),
        form,
        errors: Vec::new(),
        route: None,
        duplicates: Vec::new(),
        previewed: false,
    };
    render(StatusCode::OK, &page)
}

fn parse_coord(text: &str) -> Result<Option<f64>, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(Some)
        .ok_or(())
}

/// Great-circle distance in meters.
pub fn meters_between(a: (f64, f64), b: (f64, f64)) -> f64 {
    const R: f64 = 6_371_000.0;
    let (lng1, lat1) = (a.0.to_radians(), a.1.to_radians());
    let (lng2, lat2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lng2 - lng1) / 2.0).sin().powi(2);
    2.0 * R * h.sqrt().min(1.0).asin()
}

/// A box around a point that holds every point within `meters`.
pub fn box_around(lng: f64, lat: f64, meters: f64, since: i64) -> NearFilter {
    let dlat = meters / 111_320.0;
    let dlng = meters / (111_320.0 * lat.to_radians().cos().abs().max(0.01));
    NearFilter {
        min_lng: lng - dlng,
        max_lng: lng + dlng,
        min_lat: lat - dlat,
        max_lat: lat + dlat,
        since,
    }
}

async fn duplicates(
    state: &AppState,
    staff: &Staff,
    p: &Ctx,
    category: &str,
    lng: f64,
    lat: f64,
) -> Result<Vec<Duplicate>, PageError> {
    let now = now_micros();
    let filter = CaseFilter {
        category: Some(category.to_string()),
        open_only: true,
        near: Some(box_around(
            lng,
            lat,
            DUPLICATE_METERS,
            now - DUPLICATE_DAYS * MICROS_PER_DAY,
        )),
        limit: 50,
        ..CaseFilter::default()
    };
    let cases = state.db.cases_for(&staff.actor, &filter).await?;
    let mut out: Vec<(f64, Duplicate)> = cases
        .iter()
        .filter_map(|c| {
            let d = meters_between((lng, lat), (c.lng?, c.lat?));
            (d <= DUPLICATE_METERS).then(|| {
                let state_name = state
                    .packs
                    .case_type(&c.pack, &c.case_type)
                    .and_then(|t| t.states.get(&c.state))
                    .map(|s| p.lang.pick(&s.name.zh, &s.name.en).to_string())
                    .unwrap_or_else(|| c.state.clone());
                (
                    d,
                    Duplicate {
                        id: c.id.clone(),
                        receipt_code: c.receipt_code.clone(),
                        title: state
                            .packs
                            .title_of(&c.pack, &c.case_type, &c.fields)
                            .to_string(),
                        state: state_name,
                        created: p.datetime(c.created_at),
                        meters: p.tf("intake.meters", &[("m", &format!("{d:.0}"))]),
                    },
                )
            })
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(out.into_iter().map(|(_, d)| d).take(10).collect())
}

pub async fn submit(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Form(form): Form<IntakeForm>,
) -> Response {
    if !staff.csrf_ok(Some(&form.csrf_token)) {
        return PageError::FormExpired.render(&state, lang, Some(&staff));
    }
    if !may_take_calls(&state, &staff) {
        return PageError::Forbidden.render(&state, lang, Some(&staff));
    }
    let p = Ctx::new(&state, lang, Some(&staff), "/intake");
    let mut errors = Vec::new();
    let searching = form.op == "search";
    let category = form.category.trim().to_string();
    if !searching {
        if form.title.trim().is_empty() {
            errors.push(p.t("submit.error_title").to_string());
        }
        if !category.is_empty() && state.taxonomies().categories.get(&category).is_none() {
            errors.push(p.t("intake.error_category").to_string());
        }
    }
    let place = match (parse_coord(&form.lng), parse_coord(&form.lat)) {
        (Ok(Some(lng)), Ok(Some(lat)))
            if (-180.0..=180.0).contains(&lng) && (-90.0..=90.0).contains(&lat) =>
        {
            Some((lng, lat))
        }
        (Ok(None), Ok(None)) => None,
        _ => {
            if !searching {
                errors.push(p.t("submit.error_place").to_string());
            }
            None
        }
    };
    let category_opt = (!category.is_empty()).then_some(category.as_str());
    if form.op == "save" && errors.is_empty() {
        let collected = Collected {
            title: &form.title,
            category: Some(&form.category),
            parts: IntakeValues {
                description: Some(&form.description),
                address: Some(&form.address),
                contact_name: Some(&form.contact_name),
                contact_phone: Some(&form.contact_phone),
                source_ref: None,
            },
        };
        let request = match channel_request(&state.packs, IntakeChannel::Hotline, collected) {
            Ok(request) => IntakeRequest {
                lng: place.map(|x| x.0),
                lat: place.map(|x| x.1),
                ..request
            },
            Err(e) => return PageError::from(e).render(&state, lang, Some(&staff)),
        };
        match intake(&state, &staff.actor, request, now_micros()).await {
            Ok((created, _)) => return see_other(&format!("/cases/{}", created.case_id)),
            Err(e) if e.status.is_client_error() && e.status != StatusCode::FORBIDDEN => {
                errors.push(p.tf("act_error.other", &[("message", &e.message)]));
            }
            Err(e) => return PageError::from(e).render(&state, lang, Some(&staff)),
        }
    }
    let mut route = None;
    let mut dups = Vec::new();
    let previewed = !searching && errors.is_empty();
    if previewed {
        let tax = state.taxonomies();
        let text = format!("{}\n{}", form.title, form.description);
        let s = suggest_route(
            &state,
            category_opt,
            &text,
            place.map(|x| x.0),
            place.map(|x| x.1),
        );
        route = Some(RouteView {
            unit: s
                .unit_name
                .clone()
                .unwrap_or_else(|| p.t("intake.manual_queue").to_string()),
            reason: lang.pick(&s.reason_zh, &s.reason_en).to_string(),
            category: s
                .category
                .as_deref()
                .and_then(|c| tax.categories.get(c))
                .map(|c| format!("{} {}", c.code, lang.pick(&c.name.zh, &c.name.en)))
                .unwrap_or_default(),
        });
        let dup_category = s.category.as_deref().or(category_opt);
        if let (Some(cat), Some((lng, lat))) = (dup_category, place) {
            dups = match duplicates(&state, &staff, &p, cat, lng, lat).await {
                Ok(d) => d,
                Err(e) => return e.render(&state, lang, Some(&staff)),
            };
        }
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let page = IntakePage {
        categories: narrowed_groups(&state, lang, &form.q, &category),
        picker: PlacePicker::new(&state, lang, &form.lat, &form.lng),
        p,
        form,
        errors,
        route,
        duplicates: dups,
        previewed,
    };
    render(status, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_and_boxes() {
        let a = (113.1, 28.05);
        let b = (113.1, 28.052);
        let d = meters_between(a, b);
        assert!((d - 222.4).abs() < 1.0, "{d}");
        let bx = box_around(a.0, a.1, 300.0, 0);
        assert!(bx.min_lat < b.1 && b.1 < bx.max_lat);
        let east = (
            113.1 + 290.0 / (111_320.0 * 28.05f64.to_radians().cos()),
            28.05,
        );
        assert!(east.0 < bx.max_lng);
        assert!(meters_between(a, east) < 300.0);
    }
}
