//! Public statistics: volumes, on-time handling and satisfaction by district
//! and month for the last twelve months. Only counts and rates; never a case
//! or a person.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Datelike, Months, TimeZone};

use gongzhi_domain::indicators::{self, CaseFacts, Figure, Figures, Ratio, month_key};
use gongzhi_domain::pack::IndicatorDef;
use gongzhi_domain::time::now_micros;
use gongzhi_domain::unit::UnitKind;
use gongzhi_store::HistoryQuery;

use crate::state::AppState;
use crate::state::caches::StatsData;

use super::session::MaybeStaff;
use super::{Ctx, Lang, PageError, render};

const PACK: &str = "requests";
const MONTHS: u32 = 12;

pub struct StatRow {
    pub district: String,
    pub month: String,
    /// One per public indicator, in the pack's order.
    pub cells: Vec<String>,
}

pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub height: u32,
    pub label: String,
    pub value: u64,
}

#[derive(Template)]
#[template(path = "stats.html")]
struct StatsPage {
    p: Ctx,
    from: String,
    to: String,
    headers: Vec<String>,
    /// Each public figure's name and definition.
    definitions: Vec<(String, String)>,
    rows: Vec<StatRow>,
    total: StatRow,
    bars: Vec<Bar>,
    chart_width: u32,
}

fn percent(lang: Lang, r: &Ratio) -> String {
    match r.ratio() {
        Some(v) => format!("{:.1}%", v * 100.0),
        None => lang.t("stats.none").to_string(),
    }
}

fn row(
    lang: Lang,
    public: &[&IndicatorDef],
    district: String,
    month: String,
    f: &Figures,
) -> StatRow {
    let cells = public
        .iter()
        .map(|d| match f.get(&d.id) {
            Some(Figure::Count(n)) => n.to_string(),
            Some(Figure::Rate(r)) => percent(lang, r),
            _ => lang.t("stats.none").to_string(),
        })
        .collect();
    StatRow {
        district,
        month,
        cells,
    }
}

pub async fn page(
    State(state): State<AppState>,
    lang: Lang,
    MaybeStaff(staff): MaybeStaff,
) -> Response {
    match build(&state, lang, staff.as_ref()).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => e.render(&state, lang, staff.as_ref()),
    }
}

/// How long the figures are reused: the page is public and the computation
/// reads a year of history.
pub const STATS_TTL: std::time::Duration = std::time::Duration::from_secs(300);

async fn cached(state: &AppState) -> Result<Arc<StatsData>, PageError> {
    state
        .public_stats
        .get_or_compute(STATS_TTL, || compute(state))
        .await
}

async fn compute(state: &AppState) -> Result<StatsData, PageError> {
    let now = now_micros();
    let tz = state.calendar.tz();
    let today = chrono::DateTime::from_timestamp_micros(now)
        .map(|t| tz.from_utc_datetime(&t.naive_utc()).date_naive())
        .ok_or(PageError::Internal)?;
    let first = today
        .with_day(1)
        .and_then(|d| d.checked_sub_months(Months::new(MONTHS - 1)))
        .ok_or(PageError::Internal)?;
    let range = indicators::DateRange {
        from: first,
        to: today,
    };
    let period = range.period(&state.calendar);
    // The whole city: every top unit's tree.
    let scope_paths: Vec<String> = state
        .db
        .units()
        .await?
        .into_iter()
        .filter(|u| u.parent_id.is_none())
        .map(|u| u.path)
        .collect();
    let histories = state
        .db
        .case_histories(&HistoryQuery {
            scope_paths: &scope_paths,
            pack: PACK,
            from: period.from,
            to: period.to,
        })
        .await?;
    let places = state.places();
    let calendar = &state.calendar;
    // One group per district and month: "district id|YYYY-MM".
    let key = |c: &CaseFacts, _: Option<&str>| -> Option<String> {
        let district = c
            .area_unit_id
            .as_deref()
            .and_then(|a| {
                places
                    .chain(a)
                    .into_iter()
                    .find(|u| u.kind == UnitKind::District)
                    .map(|u| u.id.clone())
            })
            .unwrap_or_default();
        let month = month_key(c.created_at, calendar)?;
        Some(format!("{district}|{month}"))
    };
    let figures_of = state
        .packs
        .pack(PACK)
        .and_then(indicators::pack_indicators)
        .ok_or_else(|| {
            tracing::error!(pack = PACK, "the pack declares no indicators");
            PageError::Internal
        })?;
    let public = public_indicators(&figures_of.indicators);
    let report =
        indicators::compute(&histories, period, now, calendar, &public, key).map_err(|e| {
            tracing::error!(error = %e, "public statistics");
            PageError::Internal
        })?;
    let groups = report
        .groups
        .into_iter()
        .filter_map(|g| {
            let (district, month) = g.key.as_deref()?.split_once('|')?;
            Some((district.to_string(), month.to_string(), g.figures))
        })
        .collect();
    Ok(StatsData {
        first,
        today,
        groups,
        total: report.total,
    })
}

/// The indicators the pack lets the public see (counts and rates only).
fn public_indicators(defs: &[IndicatorDef]) -> Vec<IndicatorDef> {
    defs.iter().filter(|d| d.public).cloned().collect()
}

async fn build(
    state: &AppState,
    lang: Lang,
    staff: Option<&super::Staff>,
) -> Result<StatsPage, PageError> {
    let data = cached(state).await?;
    let defs = state
        .packs
        .pack(PACK)
        .and_then(indicators::pack_indicators)
        .map(|t| public_indicators(&t.indicators))
        .unwrap_or_default();
    let public: Vec<&IndicatorDef> = defs.iter().collect();
    let places = state.places();
    let first = data.first;
    let other = lang.t("stats.other_area").to_string();
    let district_name = |id: &str| {
        if id.is_empty() {
            other.clone()
        } else {
            places
                .unit(id)
                .map(|u| u.name.clone())
                .unwrap_or_else(|| other.clone())
        }
    };
    let mut rows = Vec::new();
    let mut per_month: BTreeMap<String, u64> = BTreeMap::new();
    for (district, month, figures) in &data.groups {
        *per_month.entry(month.clone()).or_default() += figures.cases();
        rows.push(row(
            lang,
            &public,
            district_name(district),
            month.clone(),
            figures,
        ));
    }
    // Newest month first; districts by name within a month.
    rows.sort_by(|a, b| b.month.cmp(&a.month).then(a.district.cmp(&b.district)));
    let total = row(
        lang,
        &public,
        lang.t("stats.all").to_string(),
        String::new(),
        &data.total,
    );
    // Every month of the range, also those without cases.
    let mut months = Vec::new();
    for i in 0..MONTHS {
        if let Some(m) = first.checked_add_months(Months::new(i)) {
            months.push(m.format("%Y-%m").to_string());
        }
    }
    let max = per_month.values().copied().max().unwrap_or(0).max(1);
    const HEIGHT: u32 = 120;
    let bars = months
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let value = per_month.get(m).copied().unwrap_or(0);
            let height = u32::try_from(value * u64::from(HEIGHT) / max).unwrap_or(HEIGHT);
            let i = u32::try_from(i).unwrap_or(0);
            Bar {
                x: 8 + i * 44,
                y: 10 + HEIGHT - height,
                height,
                label: m.get(5..).unwrap_or(m).to_string(),
                value,
            }
        })
        .collect::<Vec<_>>();
    let chart_width = 16 + 44 * MONTHS;
    Ok(StatsPage {
        p: Ctx::new(state, lang, staff, "/stats"),
        from: first.format("%Y-%m").to_string(),
        to: data.today.format("%Y-%m").to_string(),
        headers: public
            .iter()
            .map(|d| lang.pick(&d.name.zh, &d.name.en).to_string())
            .collect(),
        definitions: public
            .iter()
            .filter_map(|d| {
                let text = d.definition.as_ref()?;
                Some((
                    lang.pick(&d.name.zh, &d.name.en).to_string(),
                    lang.pick(&text.zh, &text.en).to_string(),
                ))
            })
            .collect(),
        rows,
        total,
        bars,
        chart_width,
    })
}
