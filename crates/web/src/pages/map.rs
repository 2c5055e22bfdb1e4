//! The map: the unit polygons in the caller's scope drawn as SVG on the
//! server, shaded by open (or overdue) cases; each shape zooms in or lists
//! the cases placed in it.

use std::collections::HashMap;
use std::fmt::Write;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use geo::{BoundingRect, MultiPolygon, Rect};
use serde::Deserialize;

use gongzhi_domain::time::now_micros;
use gongzhi_store::{CaseFilter, CaseSort, DueFilter};

use crate::state::{AppState, Places};

use super::{Ctx, Lang, PageError, Staff, render, urlencode};

/// Width of the SVG's coordinate system; the height follows the shapes.
const WIDTH: f64 = 800.0;
const PAD: f64 = 8.0;

/// Fill colours from no cases to most (ColorBrewer OrRd); the outlines are
/// dark so every shape stands out from its neighbours and the page.
const PALETTE: [&str; 5] = ["#f7f7f7", "#fdd49e", "#fc8d59", "#d7301f", "#7f0000"];

/// Equirectangular projection fitted to a bounding box: longitudes are
/// shortened by cos(latitude) at the box's middle, y grows southwards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    pub(crate) min_lng: f64,
    pub(crate) max_lat: f64,
    pub(crate) kx: f64,
    pub(crate) scale: f64,
    pub width: f64,
    pub height: f64,
}

impl Projection {
    /// Fits `[min_lng, min_lat]..[max_lng, max_lat]` into `width` (less
    /// `pad` on each side).
    pub fn fit(bbox: Rect<f64>, width: f64, pad: f64) -> Projection {
        let (min, max) = (bbox.min(), bbox.max());
        let mid_lat = (min.y + max.y) / 2.0;
        let kx = mid_lat.to_radians().cos().abs().max(0.01);
        let span_x = ((max.x - min.x) * kx).max(1e-9);
        let span_y = (max.y - min.y).max(1e-9);
        let inner = (width - 2.0 * pad).max(1.0);
        // At most three quarters as high as wide: the map fits a screen.
        let inner_y = (width * 0.75 - 2.0 * pad).max(1.0);
        let scale = (inner / span_x).min(inner_y / span_y);
        Projection {
            min_lng: min.x,
            max_lat: max.y,
            kx,
            scale,
            width,
            height: span_y * scale + 2.0 * pad,
        }
        .with_pad(pad, span_x)
    }

    fn with_pad(mut self, pad: f64, span_x: f64) -> Projection {
        // Centre horizontally: shift the origin left by the spare room.
        let spare = (self.width - 2.0 * pad - span_x * self.scale) / 2.0;
        self.min_lng -= (pad + spare) / (self.scale * self.kx);
        self.max_lat += pad / self.scale;
        self
    }

    pub fn point(&self, lng: f64, lat: f64) -> (f64, f64) {
        (
            (lng - self.min_lng) * self.kx * self.scale,
            (self.max_lat - lat) * self.scale,
        )
    }

    /// SVG path data of a multipolygon: one closed sub-path per ring (draw
    /// with `fill-rule: evenodd` so holes stay holes).
    pub fn path(&self, shape: &MultiPolygon<f64>) -> String {
        let mut d = String::new();
        for polygon in shape {
            for ring in std::iter::once(polygon.exterior()).chain(polygon.interiors()) {
                for (i, c) in ring.coords().enumerate() {
                    let (x, y) = self.point(c.x, c.y);
                    let _ = write!(d, "{}{x:.1} {y:.1}", if i == 0 { "M" } else { "L" });
                }
                d.push('Z');
            }
        }
        d
    }
}

/// A legend bin: counts `lo..=hi` get `colour`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bin {
    pub lo: i64,
    pub hi: i64,
    pub colour: &'static str,
}

impl Bin {
    pub fn label(&self) -> String {
        if self.lo == self.hi {
            self.lo.to_string()
        } else {
            format!("{}–{}", self.lo, self.hi)
        }
    }
}

/// Zero on its own, then up to four equal bins reaching `max`.
pub fn bins(max: i64) -> Vec<Bin> {
    let mut out = vec![Bin {
        lo: 0,
        hi: 0,
        colour: PALETTE[0],
    }];
    if max <= 0 {
        return out;
    }
    let step = (max + 3) / 4;
    let mut lo = 1;
    let mut i = 1;
    while lo <= max && i < PALETTE.len() {
        let hi = (lo + step - 1).min(max);
        out.push(Bin {
            lo,
            hi,
            colour: PALETTE[i],
        });
        lo = hi + 1;
        i += 1;
    }
    out
}

pub fn colour_of(bins: &[Bin], n: i64) -> &'static str {
    bins.iter()
        .find(|b| n >= b.lo && n <= b.hi)
        .or(bins.last())
        .map(|b| b.colour)
        .unwrap_or(PALETTE[0])
}

#[derive(Deserialize, Default)]
pub struct MapQuery {
    unit: Option<String>,
    measure: Option<String>,
}

pub struct Shape {
    pub id: String,
    pub name: String,
    pub d: String,
    pub fill: &'static str,
    pub count: i64,
    pub href: String,
    pub title: String,
    /// Whether the link zooms in (else it lists the unit's cases).
    pub zooms: bool,
}

pub struct Crumb {
    pub name: String,
    pub href: String,
}

pub struct CaseRow {
    pub id: String,
    pub receipt_code: String,
    pub title: String,
    pub holder: String,
    pub area: String,
}

#[derive(Template)]
#[template(path = "map.html")]
struct MapPage {
    p: Ctx,
    measure: &'static str,
    measure_label: &'static str,
    focus_name: String,
    focus_id: String,
    crumbs: Vec<Crumb>,
    width: String,
    height: String,
    shapes: Vec<Shape>,
    legend: Vec<Bin>,
    total_text: String,
    cases_heading: String,
    leaf: bool,
    cases: Vec<CaseRow>,
}

pub async fn page(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Query(q): Query<MapQuery>,
) -> Response {
    match build(&state, lang, &staff, q).await {
        Ok(page) => render(StatusCode::OK, &page),
        Err(e) => e.render(&state, lang, Some(&staff)),
    }
}

/// The units the actor may look at from the top: their scope units, the
/// outermost first.
fn scope_roots(staff: &Staff, places: &Places) -> Vec<String> {
    let mut roots: Vec<(usize, String)> = staff
        .actor
        .assignments
        .iter()
        .map(|a| (places.chain(&a.unit_id).len(), a.unit_id.clone()))
        .collect();
    roots.sort();
    roots.dedup();
    roots.into_iter().map(|(_, id)| id).collect()
}

async fn build(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    q: MapQuery,
) -> Result<MapPage, PageError> {
    let places = state.places();
    let roots = scope_roots(staff, &places);
    let in_scope = |id: &str| {
        places
            .chain(id)
            .iter()
            .any(|u| roots.iter().any(|r| r == &u.id))
    };
    let focus_id = match q.unit.filter(|u| !u.is_empty()) {
        Some(id) if places.unit(&id).is_none() => return Err(PageError::NotFound),
        Some(id) if !in_scope(&id) => return Err(PageError::Forbidden),
        Some(id) => id,
        None => roots.first().cloned().ok_or(PageError::Forbidden)?,
    };
    let focus = places.unit(&focus_id).ok_or(PageError::NotFound)?;
    let overdue = q.measure.as_deref() == Some("overdue");
    let measure = if overdue { "overdue" } else { "open" };
    let now = now_micros();
    let filter = CaseFilter {
        open_only: true,
        due: overdue.then_some(DueFilter::Overdue { now }),
        ..CaseFilter::default()
    };

    // One query, then totals up the tree: every unit gets its subtree's count.
    let mut totals: HashMap<String, i64> = HashMap::new();
    for (area, n) in state.db.count_cases_by_area(&staff.actor, &filter).await? {
        for u in places.chain(&area) {
            *totals.entry(u.id.clone()).or_default() += n;
        }
    }

    // The shapes: each child of the focus with its own polygon or, failing
    // that, its deepest polygons; the focus itself when it has no children.
    let areas = places.index.areas();
    let mut drawn: Vec<(&str, Vec<&MultiPolygon<f64>>)> = Vec::new();
    for child in places.children(&focus_id) {
        if let Some(own) = areas.iter().find(|a| a.unit_id == child.id) {
            drawn.push((child.id.as_str(), vec![&own.shape]));
            continue;
        }
        let below: Vec<_> = areas
            .iter()
            .filter(|a| places.chain(&a.unit_id).iter().any(|u| u.id == child.id))
            .collect();
        if let Some(deepest) = below.iter().map(|a| a.level).max() {
            let shapes = below
                .iter()
                .filter(|a| a.level == deepest)
                .map(|a| &a.shape)
                .collect();
            drawn.push((child.id.as_str(), shapes));
        }
    }
    let leaf = drawn.is_empty();
    if leaf && let Some(own) = areas.iter().find(|a| a.unit_id == focus_id) {
        drawn.push((focus_id.as_str(), vec![&own.shape]));
    }

    let count = |id: &str| totals.get(id).copied().unwrap_or(0);
    let max = drawn.iter().map(|(id, _)| count(id)).max().unwrap_or(0);
    let legend = bins(max);
    let bbox = drawn
        .iter()
        .flat_map(|(_, shapes)| shapes.iter().filter_map(|s| s.bounding_rect()))
        .reduce(|a, b| {
            Rect::new(
                geo::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
                geo::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
            )
        });
    let projection = bbox.map(|b| Projection::fit(b, WIDTH, PAD));
    let measure_label = if overdue {
        lang.t("map.measure_overdue")
    } else {
        lang.t("map.measure_open")
    };
    let shapes: Vec<Shape> = match projection {
        None => Vec::new(),
        Some(proj) => drawn
            .iter()
            .filter_map(|(id, polys)| {
                let unit = places.unit(id)?;
                let n = count(id);
                let zooms = !leaf;
                let d = polys.iter().map(|s| proj.path(s)).collect::<String>();
                Some(Shape {
                    id: unit.id.clone(),
                    name: unit.name.clone(),
                    d,
                    fill: colour_of(&legend, n),
                    count: n,
                    href: if zooms {
                        format!("/map?unit={}&measure={measure}", urlencode(&unit.id))
                    } else {
                        format!("/map?unit={}&measure={measure}#cases", urlencode(&unit.id))
                    },
                    title: lang.tf(
                        "map.shape_title",
                        &[
                            ("name", &unit.name),
                            ("measure", measure_label),
                            ("n", &n.to_string()),
                        ],
                    ),
                    zooms,
                })
            })
            .collect(),
    };

    // Breadcrumb from the outermost unit in scope down to the focus.
    let mut crumbs = Vec::new();
    for u in places.chain(&focus_id).into_iter().rev() {
        if !in_scope(&u.id) {
            continue;
        }
        crumbs.push(Crumb {
            name: u.name.clone(),
            href: format!("/map?unit={}&measure={measure}", urlencode(&u.id)),
        });
    }

    // The cases placed in the focus (newest first), for the selected grid.
    let cases = if leaf {
        let filter = CaseFilter {
            area_path: Some(places.path(&focus_id)),
            sort: CaseSort::DueFirst,
            limit: 100,
            ..filter
        };
        state
            .db
            .cases_for(&staff.actor, &filter)
            .await?
            .into_iter()
            .map(|c| CaseRow {
                title: state
                    .packs
                    .title_of(&c.pack, &c.case_type, &c.fields)
                    .to_string(),
                id: c.id,
                receipt_code: c.receipt_code,
                holder: c.holder_unit_name,
                area: c.area_unit_name.unwrap_or_default(),
            })
            .collect()
    } else {
        Vec::new()
    };

    let (width, height) = projection
        .map(|p| (p.width, p.height))
        .unwrap_or((WIDTH, 0.0));
    Ok(MapPage {
        p: Ctx::new(state, lang, Some(staff), "/map"),
        measure,
        measure_label,
        focus_name: focus.name.clone(),
        focus_id: focus_id.clone(),
        crumbs,
        width: format!("{width:.0}"),
        height: format!("{height:.0}"),
        total_text: lang.tf(
            "map.total",
            &[
                ("measure", measure_label),
                ("n", &count(&focus_id).to_string()),
            ],
        ),
        cases_heading: lang.tf("map.cases_in", &[("name", &focus.name)]),
        leaf,
        shapes,
        legend,
        cases,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{coord, polygon};

    #[test]
    fn projection_keeps_aspect_and_fits() {
        // One degree square at 60°N is half as wide as it is high.
        let bbox = Rect::new(coord! { x: 10.0, y: 59.5 }, coord! { x: 11.0, y: 60.5 });
        let p = Projection::fit(bbox, 200.0, 0.0);
        let (x0, y0) = p.point(10.0, 60.5);
        let (x1, y1) = p.point(11.0, 59.5);
        let (w, h) = (x1 - x0, y1 - y0);
        assert!((w / h - 60f64.to_radians().cos()).abs() < 0.01, "{w} {h}");
        // Centred horizontally, top edge at 0, bottom at the height.
        assert!((x0 - (200.0 - w) / 2.0).abs() < 1e-6);
        assert!(y0.abs() < 1e-6 && (y1 - p.height).abs() < 1e-6);
        let square = polygon![(x: 10.0, y: 59.5), (x: 11.0, y: 59.5), (x: 11.0, y: 60.5)];
        let d = p.path(&MultiPolygon(vec![square]));
        assert!(d.starts_with('M') && d.ends_with('Z'), "{d}");
        assert_eq!(d.matches('L').count(), 3);
    }

    #[test]
    fn padding_moves_shapes_inside() {
        // Two degrees wide, one high, at the equator: the width decides.
        let bbox = Rect::new(coord! { x: 0.0, y: -0.5 }, coord! { x: 2.0, y: 0.5 });
        let p = Projection::fit(bbox, 100.0, 10.0);
        let (x0, y0) = p.point(0.0, 0.5);
        let (x1, y1) = p.point(2.0, -0.5);
        assert!((x0 - 10.0).abs() < 1e-6 && (y0 - 10.0).abs() < 1e-6);
        assert!((x1 - 90.0).abs() < 1e-6);
        assert!((p.height - 60.0).abs() < 1e-6 && (y1 - 50.0).abs() < 1e-6);
    }

    #[test]
    fn bins_cover_zero_to_max() {
        assert_eq!(bins(0).len(), 1);
        let b = bins(10);
        assert_eq!(
            b.iter().map(|b| (b.lo, b.hi)).collect::<Vec<_>>(),
            vec![(0, 0), (1, 3), (4, 6), (7, 9), (10, 10)]
        );
        assert_eq!(bins(2).len(), 3);
        assert_eq!(b[1].label(), "1–3");
        assert_eq!(b[0].label(), "0");
        assert_eq!(colour_of(&b, 0), PALETTE[0]);
        assert_eq!(colour_of(&b, 5), PALETTE[2]);
        assert_eq!(colour_of(&b, 10), PALETTE[4]);
        assert_eq!(colour_of(&b, 99), PALETTE[4]);
    }
}
