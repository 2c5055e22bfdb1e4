//! The place picker on the submit and intake forms: the city's areas drawn as
//! SVG on the server; a click sets the latitude and longitude fields (a few
//! lines of script invert the projection). Without script, or by keyboard,
//! the two fields are typed as before.

use std::fmt::Write;

use geo::{BoundingRect, Rect};

use crate::state::AppState;

use super::Lang;
use super::map::Projection;

const WIDTH: f64 = 640.0;
const PAD: f64 = 6.0;
/// The deepest level with at most this many areas is drawn: fine enough to
/// aim at a street or a grid, light enough for a phone.
const MAX_SHAPES: usize = 400;

pub struct PickerShape {
    pub name: String,
    pub d: String,
}

pub struct PlacePicker {
    pub shapes: Vec<PickerShape>,
    pub width: String,
    pub height: String,
    /// The projection, for the script that turns a click into coordinates.
    pub min_lng: String,
    pub max_lat: String,
    pub kx: String,
    pub scale: String,
    /// Where the chosen place is drawn, if one is chosen and on the map.
    pub marker: Option<(String, String)>,
    pub caption: String,
}

impl PlacePicker {
    pub fn new(state: &AppState, lang: Lang, lat: &str, lng: &str) -> PlacePicker {
        let places = state.places();
        let areas = places.index.areas();
        let level = (0..=4u8)
            .rev()
            .find(|l| {
                let n = areas.iter().filter(|a| a.level == *l).count();
                n > 0 && n <= MAX_SHAPES
            })
            .unwrap_or(0);
        let chosen: Vec<_> = areas.iter().filter(|a| a.level == level).collect();
        let bbox = chosen
            .iter()
            .filter_map(|a| a.shape.bounding_rect())
            .reduce(|a, b| {
                Rect::new(
                    geo::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
                    geo::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
                )
            });
        let caption = lang.t("picker.caption").to_string();
        let Some(bbox) = bbox else {
            return PlacePicker {
                shapes: Vec::new(),
                width: String::new(),
                height: String::new(),
                min_lng: String::new(),
                max_lat: String::new(),
                kx: String::new(),
                scale: String::new(),
                marker: None,
                caption,
            };
        };
        let proj = Projection::fit(bbox, WIDTH, PAD);
        let shapes = chosen
            .iter()
            .map(|a| PickerShape {
                name: places
                    .unit(&a.unit_id)
                    .map(|u| u.name.clone())
                    .unwrap_or_else(|| a.code.clone()),
                d: proj.path(&a.shape),
            })
            .collect();
        let marker = match (lat.trim().parse::<f64>(), lng.trim().parse::<f64>()) {
            (Ok(lat), Ok(lng)) if lat.is_finite() && lng.is_finite() => {
                let (x, y) = proj.point(lng, lat);
                ((0.0..=proj.width).contains(&x) && (0.0..=proj.height).contains(&y))
                    .then(|| (format!("{x:.1}"), format!("{y:.1}")))
            }
            _ => None,
        };
        let num = |v: f64| {
            let mut s = String::new();
            let _ = write!(s, "{v}");
            s
        };
        PlacePicker {
            shapes,
            width: format!("{:.0}", proj.width),
            height: format!("{:.0}", proj.height),
            min_lng: num(proj.min_lng),
            max_lat: num(proj.max_lat),
            kx: num(proj.kx),
            scale: num(proj.scale),
            marker,
            caption,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }
}
