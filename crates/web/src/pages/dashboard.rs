//! The dashboard: the figures a pack declares (`[types.<t>.indicators]`)
//! for the cases in the caller's scope in a period, grouped by month, area,
//! unit, category or a declared field, as a table and as SVG charts drawn on
//! the server (plotters), with CSV and XLSX export.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use plotters::prelude::*;
use serde::Deserialize;

use gongzhi_domain::indicators::{DateRange, Figure, Figures, Ratio, Report};
use gongzhi_domain::pack::{CaseType, IndicatorDef, Measure};
use gongzhi_domain::time::now_micros;
use gongzhi_domain::unit::UnitKind;

use crate::api::indicators::{
    DEFAULT_PACK, GroupName, Grouping, figures_type, groupable_fields, report,
};
use crate::state::AppState;

use super::{Ctx, Lang, PageError, Staff, render};

/// The groupings every pack offers, in the select's order; the type's
/// groupable fields follow as `field:<key>`.
const GROUPS: [&str; 6] = [
    "month",
    "district",
    "street",
    "community",
    "unit",
    "category",
];

fn grouping_of(id: &str) -> Grouping {
    match id {
        "district" => Grouping::Area(UnitKind::District),
        "street" => Grouping::Area(UnitKind::Street),
        "community" => Grouping::Area(UnitKind::Community),
        "unit" => Grouping::Unit,
        "category" => Grouping::Category(1),
        other => match other.strip_prefix("field:") {
            Some(field) => Grouping::Field(field.to_string()),
            None => Grouping::Month,
        },
    }
}

fn group_label(lang: Lang, id: &str) -> &'static str {
    match id {
        "district" => lang.t("dashboard.group_district"),
        "street" => lang.t("dashboard.group_street"),
        "community" => lang.t("dashboard.group_community"),
        "unit" => lang.t("dashboard.group_unit"),
        "category" => lang.t("dashboard.group_category"),
        _ => lang.t("dashboard.group_month"),
    }
}

/// Every grouping the type offers: value and label.
fn group_choices(lang: Lang, t: &CaseType) -> Vec<Choice> {
    let mut out: Vec<Choice> = GROUPS
        .iter()
        .map(|g| Choice {
            value: g.to_string(),
            label: group_label(lang, g).to_string(),
        })
        .collect();
    out.extend(groupable_fields(t).map(|f| Choice {
        value: format!("field:{}", f.key),
        label: lang.pick(&f.label.zh, &f.label.en).to_string(),
    }));
    out
}

#[derive(Deserialize, Default)]
pub struct DashboardQuery {
    from: Option<String>,
    to: Option<String>,
    group: Option<String>,
    pack: Option<String>,
    format: Option<String>,
}

/// "75.0%" with "3/4" beside it; "—" for 0 of 0 (never 100%).
pub fn percent(r: Ratio) -> String {
    match r.ratio() {
        Some(x) => format!("{:.1}%", x * 100.0),
        None => "—".to_string(),
    }
}

fn hours(us: Option<i64>) -> Option<f64> {
    us.map(|v| (v as f64 / 3_600_000_000.0 * 10.0).round() / 10.0)
}

pub struct Cell {
    pub text: String,
    pub detail: String,
}

pub struct Row {
    pub name: String,
    pub cells: Vec<Cell>,
}

pub struct Choice {
    pub value: String,
    pub label: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    p: Ctx,
    from: String,
    to: String,
    pack: String,
    packs: Vec<Choice>,
    group: String,
    groups: Vec<Choice>,
    error: String,
    headers: Vec<String>,
    rows: Vec<Row>,
    total: Option<Row>,
    charts: Vec<String>,
    /// Each indicator's name and definition, in the page's language.
    definitions: Vec<Choice>,
    export_query: String,
}

fn cell(f: Option<&Figure>) -> Cell {
    match f {
        Some(Figure::Count(n)) => Cell {
            text: n.to_string(),
            detail: String::new(),
        },
        Some(Figure::Rate(r)) => Cell {
            text: percent(*r),
            detail: format!("{}/{}", r.numerator, r.denominator),
        },
        Some(Figure::Durations(d)) => Cell {
            text: hours(d.mean())
                .map(|m| format!("{m:.1}"))
                .unwrap_or_else(|| "—".into()),
            detail: format!("n={}", d.count()),
        },
        None => Cell {
            text: "—".into(),
            detail: String::new(),
        },
    }
}

fn row(name: String, defs: &[IndicatorDef], f: &Figures) -> Row {
    Row {
        name,
        cells: defs.iter().map(|d| cell(f.get(&d.id))).collect(),
    }
}

fn name_of(lang: Lang, d: &IndicatorDef) -> String {
    let name = lang.pick(&d.name.zh, &d.name.en);
    match d.measure {
        // Durations are shown as the mean in hours.
        Measure::Duration { .. } => format!("{name} ({})", lang.t("dashboard.mean_hours")),
        _ => name.to_string(),
    }
}

fn headers(lang: Lang, defs: &[IndicatorDef]) -> Vec<String> {
    let mut out = vec![lang.t("dashboard.group").to_string()];
    out.extend(defs.iter().map(|d| name_of(lang, d)));
    out
}

pub async fn page(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Query(q): Query<DashboardQuery>,
) -> Response {
    match build(&state, lang, &staff, q).await {
        Ok(Output::Page(page)) => render(StatusCode::OK, &*page),
        Ok(Output::BadRange(page)) => render(StatusCode::BAD_REQUEST, &*page),
        Ok(Output::File(r)) => r,
        Err(e) => e.render(&state, lang, Some(&staff)),
    }
}

enum Output {
    Page(Box<DashboardPage>),
    BadRange(Box<DashboardPage>),
    File(Response),
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// The packs whose figures the dashboard can show.
fn pack_choices(state: &AppState, lang: Lang) -> Vec<Choice> {
    state
        .packs
        .packs()
        .filter(|p| gongzhi_domain::indicators::pack_indicators(p).is_some())
        .map(|p| Choice {
            value: p.id.clone(),
            label: lang.pick(&p.name.zh, &p.name.en).to_string(),
        })
        .collect()
}

async fn build(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    q: DashboardQuery,
) -> Result<Output, PageError> {
    use chrono::Datelike;
    let now = now_micros();
    let packs = pack_choices(state, lang);
    // The asked-for pack, else the hotline's, else the first with figures.
    let pack = non_empty(q.pack)
        .filter(|p| packs.iter().any(|c| &c.value == p))
        .or_else(|| {
            packs
                .iter()
                .find(|c| c.value == DEFAULT_PACK)
                .or(packs.first())
                .map(|c| c.value.clone())
        })
        .ok_or(PageError::NotFound)?;
    let figures_of = figures_type(state, &pack).ok_or(PageError::NotFound)?;
    let defs = &figures_of.indicators;
    let groups = group_choices(lang, figures_of);
    let group = q
        .group
        .filter(|g| groups.iter().any(|c| &c.value == g))
        .unwrap_or_else(|| "month".to_string());
    let from = non_empty(q.from);
    let to = non_empty(q.to);
    let parsed = DateRange::parse(from.as_deref(), to.as_deref(), now, &state.calendar);
    // Without a start the page shows the year so far.
    let parsed = parsed.map(|r| match from {
        None => DateRange {
            from: r.from.with_month(1).unwrap_or(r.from),
            to: r.to,
        },
        Some(_) => r,
    });
    let mut page = DashboardPage {
        p: Ctx::new(state, lang, Some(staff), "/dashboard"),
        from: from.clone().unwrap_or_default(),
        to: to.clone().unwrap_or_default(),
        pack: pack.clone(),
        packs,
        group: group.clone(),
        groups,
        error: String::new(),
        headers: headers(lang, defs),
        rows: Vec::new(),
        total: None,
        charts: Vec::new(),
        definitions: defs
            .iter()
            .filter_map(|d| {
                let text = d.definition.as_ref()?;
                Some(Choice {
                    value: name_of(lang, d),
                    label: lang.pick(&text.zh, &text.en).to_string(),
                })
            })
            .collect(),
        export_query: String::new(),
    };
    let range = match parsed {
        Ok(r) => r,
        Err(_) => {
            page.error = lang.t("dashboard.bad_range").to_string();
            return Ok(Output::BadRange(Box::new(page)));
        }
    };
    page.from = range.from.to_string();
    page.to = range.to.to_string();
    page.export_query = format!(
        "pack={pack}&from={}&to={}&group={group}",
        range.from, range.to
    );
    let grouping = grouping_of(&group);
    let (report, names) = report(state, &staff.actor, &pack, &range, &grouping, now).await?;
    let names: Vec<String> = names
        .into_iter()
        .map(|GroupName { zh, en }| lang.pick(&zh, &en).to_string())
        .collect();
    let file_name = format!("indicators-{pack}-{}-{}", range.from, range.to);
    match q.format.as_deref() {
        Some("csv") => {
            let table = export_table(lang, defs, &report, &names);
            return Ok(Output::File(csv_response(&table, &file_name)));
        }
        Some("xlsx") => {
            let table = export_table(lang, defs, &report, &names);
            return Ok(Output::File(xlsx_response(&table, &file_name)?));
        }
        _ => {}
    }
    page.rows = report
        .groups
        .iter()
        .zip(&names)
        .map(|(g, name)| row(name.clone(), defs, &g.figures))
        .collect();
    page.total = Some(row(
        lang.t("dashboard.total").to_string(),
        defs,
        &report.total,
    ));
    let drawing = std::time::Instant::now();
    page.charts = charts(lang, defs, &report, &names, group == "month")?;
    tracing::debug!(
        charts_ms = drawing.elapsed().as_secs_f64() * 1000.0,
        "dashboard charts drawn"
    );
    Ok(Output::Page(Box::new(page)))
}

/// The export's header and rows: a count as one column, a rate as
/// numerator, denominator and percentage (empty for 0 of 0), a duration as
/// its count, mean and p90 in hours.
pub fn export_table(
    lang: Lang,
    defs: &[IndicatorDef],
    report: &Report,
    names: &[String],
) -> Vec<Vec<ExportCell>> {
    let mut head = vec![ExportCell::Text(lang.t("dashboard.group").into())];
    for d in defs {
        let name = lang.pick(&d.name.zh, &d.name.en);
        let columns: Vec<String> = match d.measure {
            Measure::Count { .. } => vec![name.to_string()],
            Measure::Rate { .. } | Measure::Deadlines { .. } => vec![
                format!("{name} {}", lang.t("dashboard.numerator")),
                format!("{name} {}", lang.t("dashboard.denominator")),
                format!("{name} %"),
            ],
            Measure::Duration { .. } => vec![
                format!("{name} n"),
                format!("{name} {}", lang.t("dashboard.mean")),
                format!("{name} p90"),
            ],
        };
        head.extend(columns.into_iter().map(ExportCell::Text));
    }
    let line = |name: &str, f: &Figures| {
        let mut out = vec![ExportCell::Text(name.to_string())];
        for d in defs {
            match f.get(&d.id) {
                Some(Figure::Count(n)) => out.push(ExportCell::Number(*n as f64)),
                Some(Figure::Rate(r)) => {
                    out.push(ExportCell::Number(r.numerator as f64));
                    out.push(ExportCell::Number(r.denominator as f64));
                    out.push(match r.ratio() {
                        Some(x) => ExportCell::Number((x * 1000.0).round() / 10.0),
                        None => ExportCell::Empty,
                    });
                }
                Some(Figure::Durations(h)) => {
                    out.push(ExportCell::Number(h.count() as f64));
                    for v in [hours(h.mean()), hours(h.p90())] {
                        out.push(v.map(ExportCell::Number).unwrap_or(ExportCell::Empty));
                    }
                }
                None => out.push(ExportCell::Empty),
            }
        }
        out
    };
    let mut rows = vec![head];
    for (g, name) in report.groups.iter().zip(names) {
        rows.push(line(name, &g.figures));
    }
    rows.push(line(lang.t("dashboard.total"), &report.total));
    rows
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExportCell {
    Text(String),
    Number(f64),
    Empty,
}

impl ExportCell {
    fn text(&self) -> String {
        match self {
            ExportCell::Text(t) => t.clone(),
            ExportCell::Number(n) => n.to_string(),
            ExportCell::Empty => String::new(),
        }
    }
}

fn attachment(content_type: &'static str, name: &str, body: Vec<u8>) -> Response {
    let mut r = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

fn csv_response(table: &[Vec<ExportCell>], file_name: &str) -> Response {
    let mut w = csv::Writer::from_writer(Vec::new());
    for line in table {
        // Writing to memory only fails on a broken invariant; log and go on.
        if let Err(e) = w.write_record(line.iter().map(ExportCell::text)) {
            tracing::error!(error = %e, "csv export");
        }
    }
    // A byte-order mark so spreadsheet programs read the Chinese as UTF-8.
    let mut body = "\u{feff}".as_bytes().to_vec();
    body.extend(w.into_inner().unwrap_or_default());
    attachment("text/csv; charset=utf-8", &format!("{file_name}.csv"), body)
}

fn xlsx_response(table: &[Vec<ExportCell>], file_name: &str) -> Result<Response, PageError> {
    let fail = |e: rust_xlsxwriter::XlsxError| {
        tracing::error!(error = %e, "xlsx export");
        PageError::Internal
    };
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (r, line) in table.iter().enumerate() {
        let r = u32::try_from(r).map_err(|_| PageError::Internal)?;
        for (c, cell) in line.iter().enumerate() {
            let c = u16::try_from(c).map_err(|_| PageError::Internal)?;
            match cell {
                ExportCell::Text(t) => {
                    sheet.write_string(r, c, t).map_err(fail)?;
                }
                ExportCell::Number(n) => {
                    sheet.write_number(r, c, *n).map_err(fail)?;
                }
                ExportCell::Empty => {}
            }
        }
    }
    let body = book.save_to_buffer().map_err(fail)?;
    Ok(attachment(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        &format!("{file_name}.xlsx"),
        body,
    ))
}

/// Series colours, each at least 4.5:1 against white.
const SERIES: [RGBColor; 3] = [
    RGBColor(0x1d, 0x4e, 0x89),
    RGBColor(0xa8, 0x4a, 0x00),
    RGBColor(0x1b, 0x6e, 0x3a),
];
const FONT: &str = "sans-serif";

fn chart_error<E: std::fmt::Debug>(e: E) -> PageError {
    tracing::error!(error = ?e, "chart");
    PageError::Internal
}

/// Gives the SVG an accessible name (the table below holds the figures).
fn labelled(svg: String, label: &str) -> String {
    let label = label
        .replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;");
    svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{label}\" class=\"chart\" "),
        1,
    )
}

/// The charts the pack asks for: its first charted count per group (bars),
/// and its charted rates per group (lines over months, grouped bars otherwise).
fn charts(
    lang: Lang,
    defs: &[IndicatorDef],
    report: &Report,
    names: &[String],
    over_time: bool,
) -> Result<Vec<String>, PageError> {
    if report.groups.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let charted = || defs.iter().filter(|d| d.chart);
    if let Some(d) = charted().find(|d| matches!(d.measure, Measure::Count { .. })) {
        let values: Vec<u64> = report
            .groups
            .iter()
            .map(|g| g.figures.count(&d.id))
            .collect();
        let title = lang.pick(&d.name.zh, &d.name.en);
        out.push(labelled(received_chart(title, names, &values)?, title));
    }
    let rates: Vec<&IndicatorDef> = charted()
        .filter(|d| matches!(d.measure, Measure::Rate { .. } | Measure::Deadlines { .. }))
        .collect();
    if !rates.is_empty() {
        let series: Vec<(&str, Vec<Option<f64>>)> = rates
            .iter()
            .map(|d| {
                (
                    lang.pick(&d.name.zh, &d.name.en),
                    report
                        .groups
                        .iter()
                        .map(|g| g.figures.ratio(&d.id).ratio().map(|x| x * 100.0))
                        .collect(),
                )
            })
            .collect();
        let joined: Vec<&str> = series.iter().map(|(n, _)| *n).collect();
        let title = format!("{} (%)", joined.join(lang.t("dashboard.list_separator")));
        out.push(labelled(
            rates_chart(&title, names, &series, over_time)?,
            &title,
        ));
    }
    Ok(out)
}

const WIDTH: u32 = 560;

/// Horizontal bars: one per group, first group on top.
fn received_chart(title: &str, names: &[String], values: &[u64]) -> Result<String, PageError> {
    let n = names.len();
    let height = u32::try_from((n * 32 + 90).max(220)).unwrap_or(600);
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .caption(title, (FONT, 17))
            .x_label_area_size(30)
            .y_label_area_size(180)
            .build_cartesian_2d(0u64..max + max.div_ceil(10), (0..n).into_segmented())
            .map_err(chart_error)?;
        let label = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) if *i < n => {
                names.get(n - 1 - i).cloned().unwrap_or_default()
            }
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&label)
            .x_labels(6)
            .x_max_light_lines(1)
            .x_label_formatter(&|v| format!("{v}"))
            .label_style((FONT, 14).into_font().color(&BLACK))
            .light_line_style(RGBColor(0xe5, 0xe5, 0xe5))
            .draw()
            .map_err(chart_error)?;
        chart
            .draw_series(values.iter().enumerate().map(|(i, v)| {
                let row = n - 1 - i;
                let mut bar = Rectangle::new(
                    [
                        (0, SegmentValue::Exact(row)),
                        (*v, SegmentValue::Exact(row + 1)),
                    ],
                    SERIES[0].filled(),
                );
                bar.set_margin(5, 5, 0, 0);
                bar
            }))
            .map_err(chart_error)?;
        root.present().map_err(chart_error)?;
    }
    Ok(svg)
}

/// Percentages per group: lines when the groups are months, bars otherwise.
fn rates_chart(
    title: &str,
    names: &[String],
    series: &[(&str, Vec<Option<f64>>)],
    lines: bool,
) -> Result<String, PageError> {
    let n = names.len();
    let height = 340;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .caption(title, (FONT, 17))
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d((0..n).into_segmented(), 0f64..105f64)
            .map_err(chart_error)?;
        let label = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&label)
            .y_labels(6)
            .y_max_light_lines(1)
            .y_label_formatter(&|v| format!("{v:.0}%"))
            .label_style((FONT, 14).into_font().color(&BLACK))
            .light_line_style(RGBColor(0xe5, 0xe5, 0xe5))
            .draw()
            .map_err(chart_error)?;
        let k = series.len().max(1) as u32;
        for (s, (name, values)) in series.iter().enumerate() {
            let colour = SERIES[s % SERIES.len()];
            let points: Vec<(SegmentValue<usize>, f64)> = values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (SegmentValue::CenterOf(i), v)))
                .collect();
            let anno = if lines {
                chart
                    .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
                    .map_err(chart_error)?;
                chart
                    .draw_series(
                        points
                            .iter()
                            .map(|p| Circle::new(p.clone(), 4, colour.filled())),
                    )
                    .map_err(chart_error)?
            } else {
                // Each group's segment split into one slot per series (the
                // segmented axis has one segment more than groups).
                let segment = (WIDTH - 74) / (n as u32 + 1);
                let slot = segment / (k + 1);
                let s = s as u32;
                chart
                    .draw_series(values.iter().enumerate().filter_map(|(i, v)| {
                        let v = (*v)?;
                        let mut bar = Rectangle::new(
                            [
                                (SegmentValue::Exact(i), 0.0),
                                (SegmentValue::Exact(i + 1), v),
                            ],
                            colour.filled(),
                        );
                        let left = slot / 2 + s * slot;
                        let right = segment.saturating_sub(left + slot);
                        bar.set_margin(0, 0, left, right);
                        Some(bar)
                    }))
                    .map_err(chart_error)?
            };
            anno.label(*name).legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], colour.filled())
            });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .label_font((FONT, 14).into_font().color(&BLACK))
            .draw()
            .map_err(chart_error)?;
        root.present().map_err(chart_error)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_of_zero_is_a_dash() {
        assert_eq!(percent(Ratio::default()), "—");
        assert_eq!(
            percent(Ratio {
                numerator: 3,
                denominator: 4
            }),
            "75.0%"
        );
    }

    #[test]
    fn charts_are_svg_with_names_and_no_fonts_needed() {
        let source = include_str!("../../../../packs/requests/pack.toml");
        let packs =
            gongzhi_domain::pack::PackSet::from_sources(&[("pack.toml".into(), source.into())])
                .expect("the requests pack loads");
        let t = packs
            .packs()
            .find_map(gongzhi_domain::indicators::pack_indicators)
            .expect("a pack declares indicators");
        let report = Report {
            total: Figures::default(),
            groups: vec![
                gongzhi_domain::indicators::Group {
                    key: Some("a".into()),
                    figures: Figures::default(),
                },
                gongzhi_domain::indicators::Group {
                    key: None,
                    figures: Figures::default(),
                },
            ],
        };
        let names = vec!["<街道>".to_string(), "Other".to_string()];
        for lines in [true, false] {
            let charts = charts(Lang::Zh, &t.indicators, &report, &names, lines).expect("charts");
            assert_eq!(charts.len(), 2);
            assert!(charts[0].contains("role=\"img\"") && charts[0].contains("<rect"));
            assert!(charts[0].contains("&lt;街道&gt;"), "names escaped");
        }
    }
}
