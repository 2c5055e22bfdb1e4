//! Indicators (指标): figures computed from the case log, never typed in.
//!
//! The input is the history of each case (its log entries and its deadline
//! rows); the output is, per group, counts with their numerator and
//! denominator, so that "0 of 0" stays "0 of 0" and never reads as 100%.
//! `docs/INDICATORS.md` defines every figure; the tests below pin them on
//! hand-computed fixtures.
//!
//! All figures describe one **cohort**: the cases created in the period,
//! followed up to `as_of` (the time of the question). A period's figures
//! therefore settle as its cases move on; they never depend on other cases.

use std::collections::BTreeMap;

use chrono::TimeZone;
use serde::Serialize;
use serde::ser::SerializeStruct;
use serde_json::Value;
use thiserror::Error;

use crate::calendar::WorkCalendar;
use crate::pack::CaseType;
use crate::time::{MICROS_PER_HOUR, Micros};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum IndicatorError {
    #[error("case {case_id}: log entry {seq} has changes that are not a JSON object")]
    BadChanges { case_id: String, seq: u64 },
}

/// The states, actions and field values the figures are read from: the
/// parts a case type binds (see `pack::Bindings`), by the pack's own names.
#[derive(Debug, Clone)]
pub struct Vocabulary<'a> {
    pub dispatch: &'a str,
    pub return_action: &'a str,
    pub report: &'a str,
    pub follow_up: &'a str,
    pub verify: &'a str,
    pub reopen: &'a str,
    /// State awaiting acceptance (签收): its deadlines give 按时签收率.
    pub to_accept: &'a str,
    /// State of handling (办理): its deadlines give 按期办结率, its time the handling time.
    pub handling: &'a str,
    pub closed: &'a str,
    pub void: &'a str,
    pub satisfaction_field: &'a str,
    pub satisfied_values: Vec<&'a str>,
    pub unsatisfied_value: &'a str,
    pub verification_field: &'a str,
    pub verification_failed: &'a str,
}

impl<'a> Vocabulary<'a> {
    /// The figures' vocabulary from a case type's bindings, or the name of
    /// the first binding the type lacks (its figures cannot be computed).
    pub fn of(t: &'a CaseType) -> Result<Vocabulary<'a>, &'static str> {
        let b = &t.bindings;
        let rating = b.rating.as_ref().ok_or("rating")?;
        let verification = b.verification.as_ref().ok_or("verification")?;
        Ok(Vocabulary {
            dispatch: b.dispatch.as_deref().ok_or("dispatch_action")?,
            return_action: b.return_action.as_deref().ok_or("return_action")?,
            report: b.result.as_deref().ok_or("result_action")?,
            follow_up: &rating.action,
            verify: &verification.action,
            reopen: b.reopen.as_deref().ok_or("reopen_action")?,
            to_accept: b.acceptance.as_deref().ok_or("acceptance_state")?,
            handling: b.handling.as_deref().ok_or("handling_state")?,
            closed: b.done.as_deref().ok_or("done_state")?,
            void: b.discarded.as_deref().ok_or("discarded_state")?,
            satisfaction_field: &rating.field,
            satisfied_values: rating.satisfied.iter().map(String::as_str).collect(),
            unsatisfied_value: &rating.unsatisfied,
            verification_field: &verification.field,
            verification_failed: &verification.failed,
        })
    }
}

/// The vocabulary of the first case type of `pack` that binds every part the
/// figures read.
pub fn pack_vocabulary(pack: &crate::pack::Pack) -> Option<Vocabulary<'_>> {
    pack.types.values().find_map(|t| Vocabulary::of(t).ok())
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
/// (moved by approved extensions and by suspensions), and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadlineFact {
    pub state: String,
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
    pub category: Option<String>,
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

/// Handling times in office (working) time, one value per case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Durations {
    /// Office microseconds, ascending once finished.
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

    fn push(&mut self, v: Micros) {
        self.values.push(v);
    }

    fn extend(&mut self, other: &Durations) {
        self.values.extend_from_slice(&other.values);
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

/// The figures of one group (or of everything).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// 受理量: cases created in the period.
    pub received: u64,
    /// Of those, void (作废) at `as_of`.
    pub voided: u64,
    /// 按时签收率: dispatches answered (accepted or returned) by the acceptance deadline.
    pub accepted_on_time: Ratio,
    /// 按期办结率: handling rounds reported by the handling deadline.
    pub handled_on_time: Ratio,
    /// 结案率: closed at `as_of` / received and not void.
    pub closed: Ratio,
    /// 返工率: dispatched cases with a 重办 or a 退回.
    pub rework: Ratio,
    /// 重办率: reported cases sent back at least once (unsatisfied, failed, reopened).
    pub redone: Ratio,
    /// 退回率: dispatched cases returned at least once.
    pub returns: Ratio,
    /// 满意率: rated cases whose latest rating is satisfied or basically satisfied.
    pub satisfied: Ratio,
    /// First-round handling time in office time.
    pub handling_time: Durations,
}

impl Figures {
    fn add(&mut self, other: &Figures) {
        self.received += other.received;
        self.voided += other.voided;
        self.accepted_on_time.add(other.accepted_on_time);
        self.handled_on_time.add(other.handled_on_time);
        self.closed.add(other.closed);
        self.rework.add(other.rework);
        self.redone.add(other.redone);
        self.returns.add(other.returns);
        self.satisfied.add(other.satisfied);
        self.handling_time.extend(&other.handling_time);
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

/// A share of one case's figures and the unit answerable for it.
type Part = (Option<String>, Figures);

/// One case's facts and figures, in parts: first the case's own (with
/// `received == 1`, answerable: the holder at `as_of`), then one per decided
/// deadline (answerable: the holder when it started). `None` when the case
/// was not created in the period.
fn case_figures(
    history: &CaseHistory,
    period: Period,
    as_of: Micros,
    calendar: &WorkCalendar,
    vocab: &Vocabulary<'_>,
) -> Result<Option<(CaseFacts, Vec<Part>)>, IndicatorError> {
    let mut entries: Vec<&HistoryEntry> =
        history.entries.iter().filter(|e| e.at <= as_of).collect();
    entries.sort_by_key(|e| e.seq);
    let Some(first) = entries.first() else {
        return Ok(None);
    };
    if first.from_state.is_some() || first.at < period.from || first.at >= period.to {
        return Ok(None);
    }
    let mut facts = CaseFacts {
        case_id: history.case_id.clone(),
        created_at: first.at,
        state: first.to_state.clone(),
        holder_unit_id: None,
        area_unit_id: None,
        category: None,
    };
    // Field values as the log has them so far: a change lists only what
    // changed, so a repeated rating must be read from the running value.
    let mut fields: BTreeMap<String, Value> = BTreeMap::new();
    let mut dispatched = false;
    let mut returned = false;
    let mut reported = false;
    let mut redone = false;
    let mut latest_rating: Option<String> = None;
    // First-round handling: office time in the handling state until the first report.
    let mut handling_since: Option<Micros> = None;
    let mut handling_total: Micros = 0;
    let mut first_report_done = false;
    // Who held the case from when, to find who answered for each deadline.
    let mut holders: Vec<(Micros, Option<String>)> = Vec::new();

    for e in &entries {
        for (key, change) in changes_of(&history.case_id, e)? {
            let after = change.get("after").cloned().unwrap_or(Value::Null);
            fields.insert(key, after);
        }
        let text = |k: &str| fields.get(k).and_then(Value::as_str).map(str::to_string);
        facts.state = e.to_state.clone();
        facts.holder_unit_id = text("holder_unit_id");
        facts.area_unit_id = text("area_unit_id");
        facts.category = text("category");
        holders.push((e.at, facts.holder_unit_id.clone()));

        let action = e.action.as_str();
        if action == vocab.dispatch {
            dispatched = true;
        } else if action == vocab.return_action {
            returned = true;
        } else if action == vocab.report {
            reported = true;
        } else if action == vocab.follow_up {
            let rating = text(vocab.satisfaction_field);
            if rating.as_deref() == Some(vocab.unsatisfied_value) {
                redone = true;
            }
            latest_rating = rating;
        } else if action == vocab.verify {
            if text(vocab.verification_field).as_deref() == Some(vocab.verification_failed) {
                redone = true;
            }
        } else if action == vocab.reopen {
            redone = true;
        }

        if !first_report_done {
            let in_handling = e.to_state == vocab.handling;
            match (handling_since, in_handling) {
                (None, true) => handling_since = Some(e.at),
                (Some(since), false) => {
                    handling_total += calendar.office_time_between(since, e.at);
                    handling_since = None;
                }
                _ => {}
            }
            if action == vocab.report {
                first_report_done = true;
            }
        }
    }

    let void = facts.state == vocab.void;
    let mut f = Figures {
        received: 1,
        voided: u64::from(void),
        ..Figures::default()
    };
    let mut parts = Vec::new();
    for d in history.deadlines.iter().filter(|d| d.started_at <= as_of) {
        let mut part = Figures::default();
        let target = if d.state == vocab.to_accept {
            &mut part.accepted_on_time
        } else if d.state == vocab.handling {
            &mut part.handled_on_time
        } else {
            continue;
        };
        match kept(d, as_of) {
            Kept::OnTime => target.count(true, true),
            Kept::Late => target.count(true, false),
            Kept::Pending => continue,
        }
        // The deadline opened with the entry at its start: the holder after it.
        let holder = holders
            .iter()
            .rev()
            .find(|(at, _)| *at <= d.started_at)
            .and_then(|(_, h)| h.clone());
        parts.push((holder, part));
    }
    f.closed.count(!void, facts.state == vocab.closed);
    f.rework.count(dispatched, returned || redone);
    f.redone.count(reported, redone);
    f.returns.count(dispatched, returned);
    f.satisfied.count(
        latest_rating.is_some(),
        latest_rating
            .as_deref()
            .is_some_and(|r| vocab.satisfied_values.contains(&r)),
    );
    if first_report_done {
        f.handling_time.push(handling_total);
    }
    parts.insert(0, (facts.holder_unit_id.clone(), f));
    Ok(Some((facts, parts)))
}

/// Computes the figures of the cases created in `period`, as the log stands
/// at `as_of`, overall and per group. `key` names the group of a case's
/// figures, given the case and the unit answerable for them: for a deadline
/// (按时签收, 按期办结) the unit holding the case when it started, for the
/// rest the unit holding it at `as_of`. Every share falls in exactly one
/// group, so the count figures of the groups add up to the total.
pub fn compute<'a, F>(
    histories: impl IntoIterator<Item = &'a CaseHistory>,
    period: Period,
    as_of: Micros,
    calendar: &WorkCalendar,
    vocab: &Vocabulary<'_>,
    key: F,
) -> Result<Report, IndicatorError>
where
    F: Fn(&CaseFacts, Option<&str>) -> Option<String>,
{
    let mut total = Figures::default();
    let mut groups: BTreeMap<Option<String>, Figures> = BTreeMap::new();
    for history in histories {
        let Some((facts, parts)) = case_figures(history, period, as_of, calendar, vocab)? else {
            continue;
        };
        for (answerable, figures) in parts {
            total.add(&figures);
            groups
                .entry(key(&facts, answerable.as_deref()))
                .or_default()
                .add(&figures);
        }
    }
    total.handling_time.finish();
    let mut out: Vec<Group> = groups
        .into_iter()
        .map(|(key, mut figures)| {
            figures.handling_time.finish();
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

/// One figure's names and definition, for answers that explain themselves.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Definition {
    /// The key of the figure in [`Figures`].
    pub id: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    pub definition: &'static str,
}

/// Every figure, in the order of [`Figures`] (docs/INDICATORS.md says more).
pub const DEFINITIONS: &[Definition] = &[
    Definition {
        id: "received",
        zh: "受理量",
        en: "Requests received",
        definition: "cases created in the period",
    },
    Definition {
        id: "voided",
        zh: "作废量",
        en: "Voided",
        definition: "of those, cases void at as_of",
    },
    Definition {
        id: "accepted_on_time",
        zh: "按时签收率",
        en: "Accepted on time",
        definition: "dispatches answered (accepted or returned) at or before the acceptance deadline / dispatches whose deadline is decided (answered, or past due)",
    },
    Definition {
        id: "handled_on_time",
        zh: "按期办结率",
        en: "Handled within the deadline",
        definition: "handling rounds reported at or before the handling deadline (as extended and paused) / handling rounds decided (reported, or past due)",
    },
    Definition {
        id: "closed",
        zh: "结案率",
        en: "Closure rate",
        definition: "cases closed at as_of / cases received and not void",
    },
    Definition {
        id: "rework",
        zh: "返工率",
        en: "Rework rate",
        definition: "dispatched cases with at least one 重办 or 退回 / cases dispatched at least once",
    },
    Definition {
        id: "redone",
        zh: "重办率",
        en: "Re-handling rate",
        definition: "reported cases sent back at least once (follow-up unsatisfied, verification failed, or reopened) / cases reported at least once",
    },
    Definition {
        id: "returns",
        zh: "退回率",
        en: "Return rate",
        definition: "cases returned at least once / cases dispatched at least once",
    },
    Definition {
        id: "satisfied",
        zh: "满意率",
        en: "Satisfaction rate",
        definition: "rated cases whose latest rating is satisfied or basically satisfied / cases rated at least once",
    },
    Definition {
        id: "handling_time",
        zh: "办理时长（工作时间）",
        en: "Handling time (office hours)",
        definition: "office time the case spent in handling from its first acceptance to its first report, suspensions excluded; mean and nearest-rank p90 over cases reported",
    },
];

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
