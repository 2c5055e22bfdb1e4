//! Indicators (指标): figures computed from the case log, never typed in.
//!
//! What the figures are is the pack's to say (`[types.<t>.indicators]`, see
//! `pack::IndicatorDef`); this module computes them. The input is the
//! history of each case (its log entries and its deadline rows); the output
//! is, per group, counts with their numerator and denominator, so that
//! "0 of 0" stays "0 of 0" and never reads as 100%. `docs/INDICATORS.md`
//! says how; the tests below pin the requests pack's figures on
//! hand-computed fixtures.
//!
//! All figures describe one **cohort**: the cases created in the period,
//! followed up to `as_of` (the time of the question). A period's figures
//! therefore settle as its cases move on; they never depend on other cases.

use std::collections::{BTreeMap, BTreeSet};

use chrono::TimeZone;
use serde::Serialize;
use serde::ser::{SerializeMap, SerializeStruct};
use serde_json::Value;
use thiserror::Error;

use crate::calendar::WorkCalendar;
use crate::pack::{Condition, DeadlineTarget, Event, IndicatorDef, Measure, TimeBasis};
use crate::time::{MICROS_PER_HOUR, Micros};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum IndicatorError {
    #[error("case {case_id}: log entry {seq} has changes that are not a JSON object")]
    BadChanges { case_id: String, seq: u64 },
}

/// The type of `pack` that declares its figures, if one does.
pub fn pack_indicators(pack: &crate::pack::Pack) -> Option<&crate::pack::CaseType> {
    pack.types.values().find(|t| !t.indicators.is_empty())
}

/// Where a deadline row stands (`deadlines.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineStatus {
    Active,
    /// The clock is stopped (挂起); stored as `paused`.
    Paused,
    /// Closed by the case leaving the state (not necessarily in time).
    Met,
    /// Fired by the deadline worker before the case left the state.
    Expired,
}

impl DeadlineStatus {
    pub fn parse(text: &str) -> Option<DeadlineStatus> {
        match text {
            "active" => Some(DeadlineStatus::Active),
            "paused" => Some(DeadlineStatus::Paused),
            "met" => Some(DeadlineStatus::Met),
            "expired" => Some(DeadlineStatus::Expired),
            _ => None,
        }
    }
}

/// One deadline row: the due time the engine promised on entering a state
/// or starting a named clock (moved by approved extensions and by
/// suspensions), and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadlineFact {
    pub state: String,
    /// The named clock the row belongs to; `None` for a state's own deadline.
    pub clock: Option<String>,
    pub started_at: Micros,
    /// `None` while the clock is paused.
    pub due_at: Option<Micros>,
    pub status: DeadlineStatus,
    /// When the case left the state (set for `Met`).
    pub closed_at: Option<Micros>,
}

/// Everything the figures need about one case.
#[derive(Debug, Clone, Default)]
pub struct CaseHistory {
    pub case_id: String,
    /// The case's log entries; any order (they are sorted by `seq`).
    pub entries: Vec<HistoryEntry>,
    pub deadlines: Vec<DeadlineFact>,
}

/// The part of a log entry the figures read: who acted and why never
/// changes a figure, and leaving them out keeps a year of cases light to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub seq: u64,
    pub at: Micros,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    /// Canonical JSON: field name → `{"before": …, "after": …}`.
    pub changes: String,
}

/// A case as the log shows it at `as_of`: what groupings look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFacts {
    pub case_id: String,
    pub created_at: Micros,
    pub state: String,
    pub holder_unit_id: Option<String>,
    pub area_unit_id: Option<String>,
    /// The case's text values at `as_of` (choices, people, codes), for
    /// grouping by a field the pack declares.
    pub fields: BTreeMap<String, String>,
}

/// The period `[from, to)` in which cases were created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub from: Micros,
    pub to: Micros,
}

/// A count out of a count. The ratio is absent when the denominator is 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ratio {
    pub numerator: u64,
    pub denominator: u64,
}

impl Ratio {
    pub fn ratio(&self) -> Option<f64> {
        (self.denominator > 0).then(|| self.numerator as f64 / self.denominator as f64)
    }

    fn add(&mut self, other: Ratio) {
        self.numerator += other.numerator;
        self.denominator += other.denominator;
    }

    fn count(&mut self, counted: bool, hit: bool) {
        if counted {
            self.denominator += 1;
            self.numerator += u64::from(hit);
        }
    }
}

impl Serialize for Ratio {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Ratio", 3)?;
        st.serialize_field("numerator", &self.numerator)?;
        st.serialize_field("denominator", &self.denominator)?;
        // Four decimals are plenty for a rate and keep the JSON stable.
        st.serialize_field(
            "ratio",
            &self.ratio().map(|r| (r * 10_000.0).round() / 10_000.0),
        )?;
        st.end()
    }
}

/// Durations, one value per case (office or calendar microseconds, as the
/// indicator says).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Durations {
    /// Microseconds, ascending once finished.
    values: Vec<Micros>,
}

impl Durations {
    pub fn count(&self) -> u64 {
        self.values.len() as u64
    }

    pub fn total(&self) -> Micros {
        self.values.iter().sum()
    }

    /// Mean in microseconds (rounded down); `None` for no values.
    pub fn mean(&self) -> Option<Micros> {
        let n = i64::try_from(self.values.len()).ok().filter(|n| *n > 0)?;
        Some(self.total() / n)
    }

    /// 90th percentile, nearest-rank: the value at rank ⌈0.9·n⌉ (1-based) in
    /// ascending order. `None` for no values.
    pub fn p90(&self) -> Option<Micros> {
        let n = self.values.len();
        if n == 0 {
            return None;
        }
        let rank = (9 * n).div_ceil(10);
        self.values.get(rank - 1).copied()
    }

    pub fn values(&self) -> &[Micros] {
        &self.values
    }

    fn finish(&mut self) {
        self.values.sort_unstable();
    }
}

impl Serialize for Durations {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let hours = |us: Micros| (us as f64 / MICROS_PER_HOUR as f64 * 100.0).round() / 100.0;
        let mut st = s.serialize_struct("Durations", 3)?;
        st.serialize_field("count", &self.count())?;
        st.serialize_field("mean_hours", &self.mean().map(hours))?;
        st.serialize_field("p90_hours", &self.p90().map(hours))?;
        st.end()
    }
}

/// One indicator's value for a group.
#[derive(Debug, Clone, PartialEq)]
pub enum Figure {
    Count(u64),
    Rate(Ratio),
    Durations(Durations),
}

impl Figure {
    fn zero(measure: &Measure) -> Figure {
        match measure {
            Measure::Count { .. } => Figure::Count(0),
            Measure::Rate { .. } | Measure::Deadlines { .. } => Figure::Rate(Ratio::default()),
            Measure::Duration { .. } => Figure::Durations(Durations::default()),
        }
    }

    fn add(&mut self, other: &Figure) {
        match (self, other) {
            (Figure::Count(a), Figure::Count(b)) => *a += b,
            (Figure::Rate(a), Figure::Rate(b)) => a.add(*b),
            (Figure::Durations(a), Figure::Durations(b)) => a.values.extend_from_slice(&b.values),
            // Figures of one report share one list of indicators.
            _ => {}
        }
    }
}

impl Serialize for Figure {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Figure::Count(n) => s.serialize_u64(*n),
            Figure::Rate(r) => r.serialize(s),
            Figure::Durations(d) => d.serialize(s),
        }
    }
}

/// The figures of one group (or of everything): one per declared indicator,
/// in the pack's order, by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figures {
    entries: Vec<(String, Figure)>,
}

impl Figures {
    fn zero(defs: &[IndicatorDef]) -> Figures {
        Figures {
            entries: defs
                .iter()
                .map(|d| (d.id.clone(), Figure::zero(&d.measure)))
                .collect(),
        }
    }

    /// Adds another group's figures (of the same indicators) to these.
    pub fn add(&mut self, other: &Figures) {
        if self.entries.is_empty() {
            self.entries = other.entries.clone();
            return;
        }
        for ((_, mine), (_, theirs)) in self.entries.iter_mut().zip(&other.entries) {
            mine.add(theirs);
        }
    }

    /// Adds one case's values, one per indicator in order.
    fn add_values(&mut self, values: &[Figure]) {
        for ((_, mine), theirs) in self.entries.iter_mut().zip(values) {
            mine.add(theirs);
        }
    }

    /// Counts one decided deadline of the `i`-th indicator.
    fn count_deadline(&mut self, i: usize, kept: bool) {
        if let Some((_, Figure::Rate(ratio))) = self.entries.get_mut(i) {
            ratio.count(true, kept);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Figure)> {
        self.entries.iter().map(|(id, f)| (id.as_str(), f))
    }

    pub fn get(&self, id: &str) -> Option<&Figure> {
        self.entries.iter().find(|(i, _)| i == id).map(|(_, f)| f)
    }

    /// A count by indicator id; 0 when there is no such count.
    pub fn count(&self, id: &str) -> u64 {
        match self.get(id) {
            Some(Figure::Count(n)) => *n,
            _ => 0,
        }
    }

    /// A rate by indicator id; 0 of 0 when there is no such rate.
    pub fn ratio(&self, id: &str) -> Ratio {
        match self.get(id) {
            Some(Figure::Rate(r)) => *r,
            _ => Ratio::default(),
        }
    }

    /// Durations by indicator id; none when there is no such figure.
    pub fn durations(&self, id: &str) -> Durations {
        match self.get(id) {
            Some(Figure::Durations(d)) => d.clone(),
            _ => Durations::default(),
        }
    }

    /// Cases received: the first count (the pack's "received", by convention
    /// declared first), or 0.
    pub fn cases(&self) -> u64 {
        self.entries
            .iter()
            .find_map(|(_, f)| match f {
                Figure::Count(n) => Some(*n),
                _ => None,
            })
            .unwrap_or(0)
    }

    fn finish(&mut self) {
        for (_, f) in &mut self.entries {
            if let Figure::Durations(d) = f {
                d.finish();
            }
        }
    }
}

impl Serialize for Figures {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.entries.len()))?;
        for (id, f) in &self.entries {
            map.serialize_entry(id, f)?;
        }
        map.end()
    }
}

/// One group's key (`None`: the case has no value for the grouping, or one
/// the caller chose not to show) and figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Group {
    pub key: Option<String>,
    pub figures: Figures,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub total: Figures,
    /// Sorted by key, the `None` group last.
    pub groups: Vec<Group>,
}

/// How a deadline stood at `as_of`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kept {
    OnTime,
    Late,
    /// Still running and not yet due, or paused: not decided.
    Pending,
}

fn kept(d: &DeadlineFact, as_of: Micros) -> Kept {
    match (d.status, d.closed_at, d.due_at) {
        // Left the state by `as_of`: in time when at or before the due time.
        (DeadlineStatus::Met, Some(closed), due) if closed <= as_of => match due {
            Some(due) if closed > due => Kept::Late,
            _ => Kept::OnTime,
        },
        (DeadlineStatus::Paused, _, _) => Kept::Pending,
        // Running at `as_of` (or left it only later, or expired since):
        // missed once the due time has passed.
        (_, _, Some(due)) if due <= as_of => Kept::Late,
        // An expired row without a due time cannot be; count it missed.
        (DeadlineStatus::Expired, _, None) => Kept::Late,
        _ => Kept::Pending,
    }
}

fn changes_of(
    case_id: &str,
    entry: &HistoryEntry,
) -> Result<serde_json::Map<String, Value>, IndicatorError> {
    match serde_json::from_str::<Value>(&entry.changes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(IndicatorError::BadChanges {
            case_id: case_id.to_string(),
            seq: entry.seq,
        }),
    }
}

/// A field value as conditions compare it: text as it is, other values as JSON.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// One case replayed up to `as_of`: what conditions and events look at.
#[derive(Debug, Default)]
struct Replayed<'h> {
    fields: BTreeMap<String, String>,
    /// Every value each field has held.
    ever: BTreeMap<String, BTreeSet<String>>,
    /// `(at, action, state after)` of every entry, in log order (never empty).
    steps: Vec<(Micros, &'h str, &'h str)>,
    /// Who held the case from when, to find who answered for each deadline.
    holders: Vec<(Micros, Option<String>)>,
}

impl Replayed<'_> {
    fn state(&self) -> &str {
        self.steps.last().map_or("", |(_, _, to)| to)
    }

    fn meets(&self, c: &Condition) -> bool {
        let has = |list: &[String], set: &BTreeSet<String>| list.iter().any(|x| set.contains(x));
        let listed = |list: &[String], x: &str| list.iter().any(|l| l == x);
        match c {
            Condition::State(states) => listed(states, self.state()),
            Condition::Reached(states) => self.steps.iter().any(|(_, _, to)| listed(states, to)),
            Condition::Did(actions) => self.steps.iter().any(|(_, a, _)| listed(actions, a)),
            Condition::FieldIn { field, values } => {
                self.fields.get(field).is_some_and(|v| values.contains(v))
            }
            Condition::FieldEverIn { field, values } => {
                self.ever.get(field).is_some_and(|held| has(values, held))
            }
            Condition::FieldSet(field) => self.fields.contains_key(field),
            Condition::Any(cs) => cs.iter().any(|c| self.meets(c)),
            Condition::All(cs) => cs.iter().all(|c| self.meets(c)),
            Condition::Not(c) => !self.meets(c),
        }
    }

    /// When `event` first happened, if it did.
    fn first(&self, event: &Event) -> Option<Micros> {
        match event {
            Event::Created => self.steps.first().map(|(at, _, _)| *at),
            Event::Entered(state) => self
                .steps
                .iter()
                .find(|(_, _, to)| *to == state)
                .map(|(at, _, _)| *at),
            Event::Did(action) => self
                .steps
                .iter()
                .find(|(_, a, _)| *a == action)
                .map(|(at, _, _)| *at),
        }
    }

    fn duration(
        &self,
        from: &Event,
        to: &Event,
        in_state: Option<&str>,
        basis: TimeBasis,
        calendar: &WorkCalendar,
    ) -> Option<Micros> {
        let (start, end) = (self.first(from)?, self.first(to)?);
        if end < start {
            return None;
        }
        let span = |a: Micros, b: Micros| match basis {
            TimeBasis::Calendar => b - a,
            TimeBasis::Office => calendar.office_time_between(a, b),
        };
        let Some(state) = in_state else {
            return Some(span(start, end));
        };
        // Sum the stretches in `state` that fall inside [start, end].
        let mut total = 0;
        for (i, (at, _, after)) in self.steps.iter().enumerate() {
            if *after != state {
                continue;
            }
            let left = self.steps.get(i + 1).map_or(end, |(next, _, _)| *next);
            let (a, b) = ((*at).max(start), left.min(end));
            if a < b {
                total += span(a, b);
            }
        }
        Some(total)
    }

    fn holder_at(&self, at: Micros) -> Option<String> {
        self.holders
            .iter()
            .rev()
            .find(|(t, _)| *t <= at)
            .and_then(|(_, h)| h.clone())
    }
}

/// Replays one case; `None` when it was not created in the period.
fn replay(
    history: &CaseHistory,
    period: Period,
    as_of: Micros,
) -> Result<Option<Replayed<'_>>, IndicatorError> {
    let mut entries: Vec<&HistoryEntry> =
        history.entries.iter().filter(|e| e.at <= as_of).collect();
    entries.sort_by_key(|e| e.seq);
    let Some(first) = entries.first() else {
        return Ok(None);
    };
    if first.from_state.is_some() || first.at < period.from || first.at >= period.to {
        return Ok(None);
    }
    let mut r = Replayed::default();
    for e in &entries {
        // A change lists only what changed: the running values are the case's.
        for (key, change) in changes_of(&history.case_id, e)? {
            match change.get("after").and_then(value_text) {
                Some(text) => {
                    r.ever.entry(key.clone()).or_default().insert(text.clone());
                    r.fields.insert(key, text);
                }
                None => {
                    r.fields.remove(&key);
                }
            }
        }
        r.steps.push((e.at, e.action.as_str(), e.to_state.as_str()));
        r.holders
            .push((e.at, r.fields.get("holder_unit_id").cloned()));
    }
    Ok(Some(r))
}

/// The case as groupings see it, taking the replay's field values.
fn facts_of(history: &CaseHistory, r: Replayed<'_>) -> CaseFacts {
    let text = |k: &str| r.fields.get(k).cloned();
    CaseFacts {
        case_id: history.case_id.clone(),
        created_at: r.steps.first().map_or(0, |(at, _, _)| *at),
        state: r.state().to_string(),
        holder_unit_id: text("holder_unit_id"),
        area_unit_id: text("area_unit_id"),
        fields: r.fields,
    }
}

/// One case's figures: its own values, one per indicator (answerable: the
/// holder at `as_of`), and each decided deadline as (answerable: the holder
/// when it started, the indicator's index, kept). `None` when the case was
/// not created in the period.
type CaseFigures = (CaseFacts, Vec<Figure>, Vec<(Option<String>, usize, bool)>);

fn case_figures(
    history: &CaseHistory,
    period: Period,
    as_of: Micros,
    calendar: &WorkCalendar,
    defs: &[IndicatorDef],
) -> Result<Option<CaseFigures>, IndicatorError> {
    let Some(r) = replay(history, period, as_of)? else {
        return Ok(None);
    };
    let mut own: Vec<Figure> = defs.iter().map(|d| Figure::zero(&d.measure)).collect();
    let mut deadlines = Vec::new();
    for (i, (def, slot)) in defs.iter().zip(own.iter_mut()).enumerate() {
        match (&def.measure, slot) {
            (Measure::Count { filter }, Figure::Count(n)) => {
                *n += u64::from(filter.as_ref().is_none_or(|c| r.meets(c)));
            }
            (Measure::Rate { of, hit }, Figure::Rate(ratio)) => {
                let counted = of.as_ref().is_none_or(|c| r.meets(c));
                ratio.count(counted, counted && r.meets(hit));
            }
            (
                Measure::Duration {
                    from,
                    to,
                    in_state,
                    basis,
                },
                Figure::Durations(d),
            ) => {
                if let Some(v) = r.duration(from, to, in_state.as_deref(), *basis, calendar) {
                    d.values.push(v);
                }
            }
            (Measure::Deadlines { target }, _) => {
                for d in history.deadlines.iter().filter(|d| d.started_at <= as_of) {
                    let ours = match target {
                        DeadlineTarget::State(s) => d.clock.is_none() && &d.state == s,
                        DeadlineTarget::Clock(c) => d.clock.as_ref() == Some(c),
                    };
                    let hit = match kept(d, as_of) {
                        _ if !ours => continue,
                        Kept::OnTime => true,
                        Kept::Late => false,
                        Kept::Pending => continue,
                    };
                    deadlines.push((r.holder_at(d.started_at), i, hit));
                }
            }
            _ => {}
        }
    }
    Ok(Some((facts_of(history, r), own, deadlines)))
}

/// Computes the figures `defs` declares for the cases created in `period`,
/// as the log stands at `as_of`, overall and per group. `key` names the
/// group of a case's figures, given the case and the unit answerable for
/// them: for a deadline the unit holding the case when it started, for the
/// rest the unit holding it at `as_of`. Every share falls in exactly one
/// group, so the count figures of the groups add up to the total.
pub fn compute<'a, F>(
    histories: impl IntoIterator<Item = &'a CaseHistory>,
    period: Period,
    as_of: Micros,
    calendar: &WorkCalendar,
    defs: &[IndicatorDef],
    key: F,
) -> Result<Report, IndicatorError>
where
    F: Fn(&CaseFacts, Option<&str>) -> Option<String>,
{
    let mut total = Figures::zero(defs);
    let mut groups: BTreeMap<Option<String>, Figures> = BTreeMap::new();
    for history in histories {
        let Some((facts, own, deadlines)) = case_figures(history, period, as_of, calendar, defs)?
        else {
            continue;
        };
        total.add_values(&own);
        groups
            .entry(key(&facts, facts.holder_unit_id.as_deref()))
            .or_insert_with(|| Figures::zero(defs))
            .add_values(&own);
        for (answerable, i, hit) in deadlines {
            total.count_deadline(i, hit);
            groups
                .entry(key(&facts, answerable.as_deref()))
                .or_insert_with(|| Figures::zero(defs))
                .count_deadline(i, hit);
        }
    }
    total.finish();
    let mut out: Vec<Group> = groups
        .into_iter()
        .map(|(key, mut figures)| {
            figures.finish();
            Group { key, figures }
        })
        .collect();
    // BTreeMap puts `None` first; a reader expects the named groups first.
    out.sort_by(|a, b| match (&a.key, &b.key) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (Some(_), None) => std::cmp::Ordering::Less,
        (Some(x), Some(y)) => x.cmp(y),
    });
    Ok(Report { total, groups: out })
}

/// The first `level` segments of a category code (`R01.02.03`, 2 → `R01.02`);
/// `None` when the code is shallower than `level`.
pub fn category_prefix(code: &str, level: usize) -> Option<String> {
    if level == 0 {
        return None;
    }
    let segments: Vec<&str> = code.split('.').collect();
    (segments.len() >= level).then(|| segments[..level].join("."))
}

/// The calendar month (`YYYY-MM`) of an instant in the calendar's time zone.
pub fn month_key(at: Micros, calendar: &WorkCalendar) -> Option<String> {
    let utc = chrono::DateTime::from_timestamp_micros(at)?;
    Some(
        calendar
            .tz()
            .from_utc_datetime(&utc.naive_utc())
            .format("%Y-%m")
            .to_string(),
    )
}

/// Why a date range was refused; `field` names the query parameter.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {message}")]
pub struct DateRangeError {
    pub field: &'static str,
    pub message: String,
}

/// Calendar dates `from..=to` in the calendar's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    pub from: chrono::NaiveDate,
    pub to: chrono::NaiveDate,
}

/// The longest range one question may cover.
pub const MAX_RANGE_DAYS: i64 = 3 * 366;

impl DateRange {
    /// Parses `YYYY-MM-DD` dates; a missing `from` is the first day of the
    /// current month, a missing `to` today (both at `now` in the calendar's zone).
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        now: Micros,
        calendar: &WorkCalendar,
    ) -> Result<DateRange, DateRangeError> {
        use chrono::Datelike;
        let date = |field: &'static str, text: &str| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .filter(|_| text.len() == 10)
                .ok_or_else(|| DateRangeError {
                    field,
                    message: format!("{text:?} is not a date of the form YYYY-MM-DD"),
                })
        };
        let today = chrono::DateTime::from_timestamp_micros(now)
            .map(|t| calendar.tz().from_utc_datetime(&t.naive_utc()).date_naive())
            .unwrap_or_default();
        let to = match to {
            Some(text) => date("to", text)?,
            None => today,
        };
        let from = match from {
            Some(text) => date("from", text)?,
            None => today.with_day(1).unwrap_or(today),
        };
        if from > to {
            return Err(DateRangeError {
                field: "from",
                message: format!("{from} is after to ({to})"),
            });
        }
        if (to - from).num_days() >= MAX_RANGE_DAYS {
            return Err(DateRangeError {
                field: "to",
                message: format!("a range may cover at most {MAX_RANGE_DAYS} days"),
            });
        }
        Ok(DateRange { from, to })
    }

    /// The instants `[start of from, start of the day after to)`.
    pub fn period(&self, calendar: &WorkCalendar) -> Period {
        let start = |d: chrono::NaiveDate| {
            let naive = d.and_time(chrono::NaiveTime::MIN);
            let local = calendar.tz().from_local_datetime(&naive);
            // A zone that skips midnight starts the day at the gap's end.
            local
                .earliest()
                .or_else(|| local.latest())
                .map(|t| t.timestamp_micros())
                .unwrap_or_else(|| naive.and_utc().timestamp_micros())
        };
        Period {
            from: start(self.from),
            to: start(self.to.succ_opt().unwrap_or(self.to)),
        }
    }
}

#[cfg(test)]
mod tests;
