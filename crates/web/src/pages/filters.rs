//! The list filters shared by my work and the dispatch board: text, category
//! (with its subtree), area (a unit's subtree) and creation dates in the
//! city's time zone. A bad value is reported by field, never a 500.

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;
use serde::Deserialize;

use gongzhi_domain::access::Actor;
use gongzhi_domain::time::Micros;
use gongzhi_domain::unit::{UnitKind, path_within};
use gongzhi_store::{CaseFilter, Unit};

use crate::state::AppState;

use super::choices::Choice;
use super::{Lang, urlencode};

/// The filter fields as a form sends them.
#[derive(Deserialize, Default, Debug, Clone)]
pub struct FilterQuery {
    pub q: Option<String>,
    pub category: Option<String>,
    pub area: Option<String>,
    pub created_from: Option<String>,
    pub created_before: Option<String>,
}

/// The filters as typed (to show them again) and as understood.
#[derive(Default, Debug, Clone)]
pub struct ListFilters {
    pub text: String,
    pub category: String,
    pub area: String,
    pub created_from: String,
    pub created_before: String,
    /// What is wrong, naming the field, in the reader's language.
    pub error: Option<String>,
    area_path: Option<String>,
    from_micros: Option<Micros>,
    before_micros: Option<Micros>,
}

fn trimmed(v: &Option<String>) -> String {
    v.as_deref().map(str::trim).unwrap_or_default().to_string()
}

/// Midnight at the start of `text` (`YYYY-MM-DD`) in the time zone.
pub fn local_day_start(tz: Tz, text: &str) -> Option<Micros> {
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let midnight = date.and_hms_opt(0, 0, 0)?;
    // A day that starts in a DST gap starts at the first instant that exists.
    tz.from_local_datetime(&midnight)
        .earliest()
        .or_else(|| {
            date.and_hms_opt(1, 0, 0)
                .and_then(|t| tz.from_local_datetime(&t).earliest())
        })
        .map(|t| t.timestamp_micros())
}

/// The units a list may be narrowed to by area: those in the actor's scopes
/// that contain places (not grids, too many to list, nor departments).
pub fn area_units(units: &[Unit], actor: &Actor) -> Vec<Choice> {
    let scopes = actor.scope_paths();
    let mut areas: Vec<&Unit> = units
        .iter()
        .filter(|u| {
            !matches!(u.kind, UnitKind::Grid | UnitKind::Department)
                && scopes.iter().any(|s| path_within(&u.path, s))
        })
        .collect();
    areas.sort_by(|a, b| a.path.cmp(&b.path));
    areas
        .into_iter()
        .map(|u| Choice {
            value: u.id.clone(),
            label: format!("{} ({})", u.name, u.code),
        })
        .collect()
}

impl ListFilters {
    /// Reads the filters; `units` are all units (for the area's path), and
    /// an area must be one of `areas` (the reader's).
    pub fn parse(
        state: &AppState,
        lang: Lang,
        q: &FilterQuery,
        units: &[Unit],
        areas: &[Choice],
    ) -> ListFilters {
        let tz = state.calendar.tz();
        let mut f = ListFilters {
            text: trimmed(&q.q).chars().take(100).collect(),
            category: trimmed(&q.category),
            area: trimmed(&q.area),
            created_from: trimmed(&q.created_from),
            created_before: trimmed(&q.created_before),
            ..ListFilters::default()
        };
        let mut errors: Vec<String> = Vec::new();
        let field = |key: &str, message: &str| {
            lang.tf(
                "filters.error",
                &[("field", lang.t(key)), ("message", lang.t(message))],
            )
        };
        if !f.category.is_empty() && state.taxonomies().categories.get(&f.category).is_none() {
            errors.push(field("filters.category", "filters.unknown_category"));
        }
        if !f.area.is_empty() {
            f.area_path = areas
                .iter()
                .any(|a| a.value == f.area)
                .then(|| units.iter().find(|u| u.id == f.area))
                .flatten()
                .map(|u| u.path.clone());
            if f.area_path.is_none() {
                errors.push(field("filters.area", "filters.unknown_area"));
            }
        }
        if !f.created_from.is_empty() {
            f.from_micros = local_day_start(tz, &f.created_from);
            if f.from_micros.is_none() {
                errors.push(field("filters.created_from", "filters.bad_date"));
            }
        }
        if !f.created_before.is_empty() {
            f.before_micros = local_day_start(tz, &f.created_before);
            if f.before_micros.is_none() {
                errors.push(field("filters.created_before", "filters.bad_date"));
            }
        }
        if let (Some(from), Some(before)) = (f.from_micros, f.before_micros)
            && before <= from
        {
            errors.push(field("filters.created_before", "filters.before_after_from"));
        }
        if !errors.is_empty() {
            f.error = Some(errors.join(" "));
        }
        f
    }

    /// The filter with these narrowings added.
    pub fn apply(&self, filter: CaseFilter) -> CaseFilter {
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
        CaseFilter {
            text: non_empty(&self.text),
            category_under: non_empty(&self.category),
            area_path: self.area_path.clone(),
            created_from: self.from_micros,
            created_before: self.before_micros,
            ..filter
        }
    }

    /// The filters as query parameters (`&q=...&category=...`), to keep them
    /// on links and redirects.
    pub fn query_tail(&self) -> String {
        format!(
            "&q={}&category={}&area={}&created_from={}&created_before={}",
            urlencode(&self.text),
            urlencode(&self.category),
            urlencode(&self.area),
            urlencode(&self.created_from),
            urlencode(&self.created_before),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_start_at_local_midnight() {
        let tz: Tz = chrono_tz::Asia::Shanghai;
        // 2026-03-05 00:00 in Shanghai is 2026-03-04 16:00 UTC.
        let expected = chrono::Utc
            .with_ymd_and_hms(2026, 3, 4, 16, 0, 0)
            .single()
            .map(|t| t.timestamp_micros());
        assert_eq!(local_day_start(tz, "2026-03-05"), expected);
        assert_eq!(local_day_start(tz, "2026-02-30"), None);
        assert_eq!(local_day_start(tz, "05/03/2026"), None);
        assert_eq!(local_day_start(tz, ""), None);
    }
}
