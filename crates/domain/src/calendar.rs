//! The working-day calendar (工作日历): turns a start instant and a [`DurationRule`] into a due
//! instant, using official Chinese public holidays and make-up working days (调休), office hours
//! and a time zone.
//!
//! # Data
//!
//! Holidays come in the holiday-cn JSON format (one file per year, only the exceptions listed).
//! The years 2007-2027 are embedded in the binary (see `data/README.md`); more can be added or
//! replaced with [`WorkCalendar::load_year_json`]. A day is a working day when the data marks it
//! as a make-up working day (`isOffDay: false`, even on a weekend), is not a working day when the
//! data marks it as a day off (`isOffDay: true`, even on a weekday), and otherwise follows
//! Monday-Friday.
//!
//! # Rules
//!
//! All times are UTC epoch microseconds; office hours and dates are read in the calendar's time
//! zone. Office periods are half-open `[start, end)` for "is the office open", but a due instant
//! may be exactly the end of a period.
//!
//! - **Calendar days**: `start + amount × 24 h`, exact, never provisional.
//! - **Working hours**: only office time on working days counts. A start outside office hours
//!   begins counting at the next office period. The due instant is the earliest instant at which
//!   `amount` hours of office time have been used up (2 working hours from 11:00 = 14:30 with the
//!   default hours). Amount 0 = the first instant at or after the start when the office is open.
//! - **Working days**: the start's local date does not count (期间开始之日不计算在内). The due
//!   instant is the end of the last office period (18:00 by default) on the `amount`-th working
//!   day after the start's local date, so 1 working day from a Friday 10:00 in a normal week is
//!   Monday 18:00. Amount 0 = the end of office hours on the first working day, counting the
//!   start's own date, whose end of office hours is still after the start ("by close of
//!   business").
//!
//! # Provisional results
//!
//! A date is *settled* when holiday data exists for its year (a loaded file with a non-empty
//! `days` list) and, for 25-31 December, also for the following year, because a year's notice can
//! move the last days of the previous December (元旦 make-up days, e.g. 2018-12-29). If a
//! computation looks at an unsettled date, that date is treated with the data known so far (plain
//! Monday-Friday when nothing is known) and the result is marked `provisional`. Recomputing after
//! the missing year is loaded gives the real answer.
//!
//! # Suspension (挂起)
//!
//! A suspended clock does not run. [`WorkCalendar::remaining`] measures the budget left at the
//! moment of suspension and [`WorkCalendar::resume`] counts that budget again from the moment of
//! resumption:
//!
//! - calendar days: the remainder is calendar time (`due - now`);
//! - working hours **and working days**: the remainder is office time (microseconds of office
//!   hours on working days between `now` and `due`). So a working-days clock suspended at 10:00
//!   and resumed the next working day at 10:00 ends at 18:00 as before, but one resumed at 15:00
//!   ends mid-afternoon: the office time it was owed is what it gets back.
//!
//! The remainder never goes negative: an overdue clock has zero left, and resuming it gives the
//! first office instant at or after the resumption (calendar days: the resumption itself).
//! Callers that need "overdue by how much" record it themselves at suspension time.
//! Suspending and resuming at the same instant never changes the due instant.
//!
//! # Limits
//!
//! Inputs are clamped to the years 1-9999 and a computation walks at most
//! [`MAX_WALK_DAYS`] days. A rule that would need more (e.g. `u32::MAX` working hours) ends
//! at the end of that walk and is marked provisional. Nothing here panics or overflows.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Offset, TimeZone, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::duration::{DurationRule, DurationUnit};
use crate::time::{MICROS_PER_DAY, MICROS_PER_HOUR, MICROS_PER_SECOND, Micros};

/// The most days one computation walks (about 100 years); bounds the work for absurd amounts.
pub const MAX_WALK_DAYS: u32 = 36_600;

/// From this day of December on, a date also needs the next year's data to be settled.
const NEXT_YEAR_REACHES_BACK_TO_DAY: u32 = 25;

/// Earliest and latest supported instants (0001-01-01T00:00:00Z, 9999-12-31T23:59:59Z).
const MIN_INSTANT: Micros = -62_135_596_800 * MICROS_PER_SECOND;
const MAX_INSTANT: Micros = 253_402_300_799 * MICROS_PER_SECOND;

/// Years accepted in holiday data, matching the clamped instant range.
const MIN_YEAR: i32 = 1;
const MAX_YEAR: i32 = 9999;

/// Bump when the computation rules change, so `version()` changes with them.
const RULES_TAG: &str = "gongzhi-calendar-rules-v1";

/// Holiday years shipped inside the binary (holiday-cn, MIT; see data/README.md).
const EMBEDDED_YEARS: &[&str] = &[
    include_str!("../data/holiday-cn/2007.json"),
    include_str!("../data/holiday-cn/2008.json"),
    include_str!("../data/holiday-cn/2009.json"),
    include_str!("../data/holiday-cn/2010.json"),
    include_str!("../data/holiday-cn/2011.json"),
    include_str!("../data/holiday-cn/2012.json"),
    include_str!("../data/holiday-cn/2013.json"),
    include_str!("../data/holiday-cn/2014.json"),
    include_str!("../data/holiday-cn/2015.json"),
    include_str!("../data/holiday-cn/2016.json"),
    include_str!("../data/holiday-cn/2017.json"),
    include_str!("../data/holiday-cn/2018.json"),
    include_str!("../data/holiday-cn/2019.json"),
    include_str!("../data/holiday-cn/2020.json"),
    include_str!("../data/holiday-cn/2021.json"),
    include_str!("../data/holiday-cn/2022.json"),
    include_str!("../data/holiday-cn/2023.json"),
    include_str!("../data/holiday-cn/2024.json"),
    include_str!("../data/holiday-cn/2025.json"),
    include_str!("../data/holiday-cn/2026.json"),
    include_str!("../data/holiday-cn/2027.json"),
];

/// What went wrong building a calendar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("office hours are empty")]
    EmptyOfficeHours,
    #[error("office period {text:?} is not of the form HH:MM-HH:MM")]
    BadPeriod { text: String },
    #[error("{text:?} is not a time of day HH:MM (00:00-23:59)")]
    BadTime { text: String },
    #[error("office period {text:?} does not end after it starts")]
    PeriodNotPositive { text: String },
    #[error("office periods {first:?} and {second:?} overlap")]
    OverlappingPeriods { first: String, second: String },
    #[error("unknown time zone {name:?} (expected an IANA name such as Asia/Shanghai)")]
    UnknownTimeZone { name: String },
    #[error("holiday data is not valid holiday-cn JSON: {0}")]
    Json(String),
    #[error("holiday data year {year} is outside {MIN_YEAR}-{MAX_YEAR}")]
    YearOutOfRange { year: i32 },
    #[error("holiday data date {text:?} is not a date YYYY-MM-DD")]
    BadDate { text: String },
    #[error("holiday data date {date} is too far from the file's year {year}")]
    DateOutsideYear { date: NaiveDate, year: i32 },
    #[error("holiday data lists {date} twice with different values")]
    ConflictingDate { date: NaiveDate },
}

/// The office periods of a working day in local time: sorted, non-overlapping, each `[start, end)`
/// with `start < end`, never empty.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OfficeHours {
    periods: Vec<(NaiveTime, NaiveTime)>,
}

impl OfficeHours {
    /// 09:00-12:00 and 13:30-18:00, the usual hours of Chinese government offices.
    pub fn default_china() -> Self {
        let hm = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN);
        OfficeHours {
            periods: vec![(hm(9, 0), hm(12, 0)), (hm(13, 30), hm(18, 0))],
        }
    }

    /// Parses `"09:00-12:00,13:30-18:00"`. Periods may be given in any order; they are sorted.
    /// Touching periods (`09:00-12:00,12:00-13:00`) are allowed, overlapping ones are not.
    pub fn parse(text: &str) -> Result<Self, CalendarError> {
        let mut periods = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (a, b) = part
                .split_once('-')
                .ok_or_else(|| CalendarError::BadPeriod {
                    text: part.to_owned(),
                })?;
            let start = parse_hhmm(a.trim())?;
            let end = parse_hhmm(b.trim())?;
            if end <= start {
                return Err(CalendarError::PeriodNotPositive {
                    text: part.to_owned(),
                });
            }
            periods.push((start, end));
        }
        if periods.is_empty() {
            return Err(CalendarError::EmptyOfficeHours);
        }
        periods.sort();
        for pair in periods.windows(2) {
            if pair[1].0 < pair[0].1 {
                return Err(CalendarError::OverlappingPeriods {
                    first: format_period(pair[0]),
                    second: format_period(pair[1]),
                });
            }
        }
        Ok(OfficeHours { periods })
    }

    /// The periods, sorted, as local `(start, end)` times.
    pub fn periods(&self) -> &[(NaiveTime, NaiveTime)] {
        &self.periods
    }

    /// Office time in one working day (ignoring DST jumps).
    pub fn micros_per_day(&self) -> Micros {
        self.periods
            .iter()
            .map(|(a, b)| (*b - *a).num_microseconds().unwrap_or(0))
            .sum()
    }
}

impl Default for OfficeHours {
    fn default() -> Self {
        OfficeHours::default_china()
    }
}

/// Same text form that [`OfficeHours::parse`] reads.
impl fmt::Display for OfficeHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.periods.iter().copied().map(format_period).collect();
        f.write_str(&parts.join(","))
    }
}

impl std::str::FromStr for OfficeHours {
    type Err = CalendarError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OfficeHours::parse(s)
    }
}

fn parse_hhmm(text: &str) -> Result<NaiveTime, CalendarError> {
    let bad = || CalendarError::BadTime {
        text: text.to_owned(),
    };
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    // Require digits only, so "+9:00" or " 9:00" style oddities are rejected.
    let digits = |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|c| c.is_ascii_digit());
    if !digits(h) || m.len() != 2 || !digits(m) {
        return Err(bad());
    }
    let h: u32 = h.parse().map_err(|_| bad())?;
    let m: u32 = m.parse().map_err(|_| bad())?;
    NaiveTime::from_hms_opt(h, m, 0).ok_or_else(bad)
}

fn format_period((a, b): (NaiveTime, NaiveTime)) -> String {
    format!("{}-{}", a.format("%H:%M"), b.format("%H:%M"))
}

/// A computed due instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Due {
    pub at: Micros,
    /// Some date involved had no holiday data yet; recompute when it is loaded.
    pub provisional: bool,
}

/// Budget left on a suspended clock. Never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Remaining {
    /// Microseconds of plain elapsed time (calendar-day rules).
    CalendarTime(Micros),
    /// Microseconds of office time on working days (working-hour and working-day rules).
    OfficeTime(Micros),
}

impl Remaining {
    /// The stored amount in microseconds, whatever its kind.
    pub fn micros(self) -> Micros {
        match self {
            Remaining::CalendarTime(us) | Remaining::OfficeTime(us) => us,
        }
    }
}

/// Holiday data, office hours and time zone: everything a deadline depends on.
#[derive(Debug, Clone)]
pub struct WorkCalendar {
    tz: Tz,
    hours: OfficeHours,
    /// Loaded files by their `year`: `(date, is_off_day)`, sorted. Empty = published as empty.
    years: BTreeMap<i32, Vec<(NaiveDate, bool)>>,
    /// All loaded exceptions merged: date -> is_off_day.
    exceptions: HashMap<NaiveDate, bool>,
    /// Years with a non-empty file.
    covered: BTreeSet<i32>,
    version: String,
}

#[derive(Deserialize)]
struct YearFile {
    year: i32,
    days: Vec<DayEntry>,
}

#[derive(Deserialize)]
struct DayEntry {
    date: String,
    #[serde(rename = "isOffDay")]
    is_off_day: bool,
}

impl Default for WorkCalendar {
    fn default() -> Self {
        WorkCalendar::builtin()
    }
}

impl WorkCalendar {
    /// Embedded holiday years, default office hours, Asia/Shanghai.
    pub fn builtin() -> Self {
        WorkCalendar::new(chrono_tz::Asia::Shanghai, OfficeHours::default_china())
    }

    /// A calendar with the embedded holiday years and the given zone and hours.
    pub fn new(tz: Tz, hours: OfficeHours) -> Self {
        let mut cal = WorkCalendar::empty(tz, hours);
        for json in EMBEDDED_YEARS {
            // The embedded files are checked by a test; a bad one only loses its year.
            let _ = cal.insert_year_json(json);
        }
        cal.refresh();
        cal
    }

    /// A calendar with no holiday data at all (every result provisional, plain Monday-Friday).
    pub fn empty(tz: Tz, hours: OfficeHours) -> Self {
        let mut cal = WorkCalendar {
            tz,
            hours,
            years: BTreeMap::new(),
            exceptions: HashMap::new(),
            covered: BTreeSet::new(),
            version: String::new(),
        };
        cal.refresh();
        cal
    }

    /// Parses an IANA time zone name such as `Asia/Shanghai`.
    pub fn parse_tz(name: &str) -> Result<Tz, CalendarError> {
        name.trim()
            .parse::<Tz>()
            .map_err(|_| CalendarError::UnknownTimeZone {
                name: name.to_owned(),
            })
    }

    /// Adds or replaces one year of holiday-cn JSON and returns its year. A file with an empty
    /// `days` list is stored but counts as "no data" for that year.
    pub fn load_year_json(&mut self, json: &str) -> Result<i32, CalendarError> {
        let year = self.insert_year_json(json)?;
        self.refresh();
        Ok(year)
    }

    fn insert_year_json(&mut self, json: &str) -> Result<i32, CalendarError> {
        let file: YearFile =
            serde_json::from_str(json).map_err(|e| CalendarError::Json(e.to_string()))?;
        let year = file.year;
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) {
            return Err(CalendarError::YearOutOfRange { year });
        }
        let mut days: BTreeMap<NaiveDate, bool> = BTreeMap::new();
        for entry in &file.days {
            let date = NaiveDate::parse_from_str(entry.date.trim(), "%Y-%m-%d").map_err(|_| {
                CalendarError::BadDate {
                    text: entry.date.clone(),
                }
            })?;
            // A notice covers its year plus the edges of the neighbouring ones.
            if (date.year() - year).abs() > 1 {
                return Err(CalendarError::DateOutsideYear { date, year });
            }
            if let Some(previous) = days.insert(date, entry.is_off_day)
                && previous != entry.is_off_day
            {
                return Err(CalendarError::ConflictingDate { date });
            }
        }
        self.years.insert(year, days.into_iter().collect());
        Ok(year)
    }

    /// Rebuilds the merged lookup tables and the fingerprint after a change.
    fn refresh(&mut self) {
        self.exceptions.clear();
        self.covered.clear();
        // Ascending years: a later notice overrides an earlier one for a shared date.
        for (year, days) in &self.years {
            if !days.is_empty() {
                self.covered.insert(*year);
            }
            for (date, off) in days {
                self.exceptions.insert(*date, *off);
            }
        }
        self.version = self.compute_version();
    }

    fn compute_version(&self) -> String {
        let mut hash = Sha256::new();
        hash.update(RULES_TAG.as_bytes());
        hash.update(format!("\ntz={}\nhours={}\n", self.tz.name(), self.hours).as_bytes());
        // Empty years are left out: they mean the same as a year not loaded.
        for (year, days) in self.years.iter().filter(|(_, d)| !d.is_empty()) {
            hash.update(format!("year={year}\n").as_bytes());
            for (date, off) in days {
                hash.update(format!("{date}={}\n", u8::from(*off)).as_bytes());
            }
        }
        let digest = hex::encode(hash.finalize());
        digest.chars().take(12).collect()
    }

    /// Whether holiday data is loaded for `year` (a non-empty file).
    pub fn has_year(&self, year: i32) -> bool {
        self.covered.contains(&year)
    }

    /// Years with holiday data, ascending.
    pub fn years(&self) -> Vec<i32> {
        self.covered.iter().copied().collect()
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    pub fn hours(&self) -> &OfficeHours {
        &self.hours
    }

    /// Working day per the loaded data, else Monday-Friday.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        match self.exceptions.get(&date) {
            Some(off) => !off,
            None => !matches!(date.weekday(), Weekday::Sat | Weekday::Sun),
        }
    }

    /// Whether `date`'s working status is final (see "Provisional results" above).
    pub fn is_settled(&self, date: NaiveDate) -> bool {
        self.has_year(date.year())
            && (date.month() != 12
                || date.day() < NEXT_YEAR_REACHES_BACK_TO_DAY
                || self.has_year(date.year().saturating_add(1)))
    }

    /// Short stable fingerprint (12 hex digits of SHA-256) of the holiday data, office hours,
    /// time zone and rule version; stored with every deadline so a change can be detected.
    pub fn version(&self) -> String {
        self.version.clone()
    }

    /// The local midnight that ends `date`: where a limit counted "after" a
    /// day (an agreed performance date, a session's date) starts.
    pub fn end_of_day(&self, date: NaiveDate) -> Micros {
        match date.succ_opt() {
            Some(next) => self.local_to_utc(next, NaiveTime::MIN),
            None => MAX_INSTANT,
        }
    }

    /// The due instant for `rule` counted from `start`.
    pub fn due(&self, start: Micros, rule: DurationRule) -> Due {
        let amount = i64::from(rule.amount);
        match rule.unit {
            DurationUnit::CalendarDays => Due {
                at: start.saturating_add(amount.saturating_mul(MICROS_PER_DAY)),
                provisional: false,
            },
            DurationUnit::CalendarHours => Due {
                at: start.saturating_add(amount.saturating_mul(MICROS_PER_HOUR)),
                provisional: false,
            },
            DurationUnit::WorkingHours => {
                self.consume_office_time(start, amount.saturating_mul(MICROS_PER_HOUR))
            }
            DurationUnit::WorkingDays => self.due_working_days(start, rule.amount),
            DurationUnit::CalendarMonths => self.due_calendar_months(start, rule.amount),
        }
    }

    /// The close (local midnight after) of the day `months` months after the
    /// start's own day, as [`DurationUnit::CalendarMonths`] describes.
    fn due_calendar_months(&self, start: Micros, months: u32) -> Due {
        let Some(day) = self.local_date(clamp_instant(start)) else {
            return Due {
                at: start,
                provisional: true,
            };
        };
        match months_on(day, months).and_then(|end| end.succ_opt()) {
            Some(after) => Due {
                at: self.local_to_utc(after, NaiveTime::MIN).max(start),
                provisional: false,
            },
            None => Due {
                at: MAX_INSTANT,
                provisional: true,
            },
        }
    }

    /// Budget left at `now` on a running clock that is due at `due` — used when a clock is
    /// suspended (挂起). Zero when overdue.
    pub fn remaining(&self, now: Micros, due: Micros, unit: DurationUnit) -> Remaining {
        match unit {
            DurationUnit::CalendarDays
            | DurationUnit::CalendarHours
            | DurationUnit::CalendarMonths => {
                Remaining::CalendarTime(due.saturating_sub(now).max(0))
            }
            DurationUnit::WorkingHours | DurationUnit::WorkingDays => {
                Remaining::OfficeTime(self.office_time_between(now, due))
            }
        }
    }

    /// New due time when a suspended clock resumes at `resume` with `remaining` left.
    pub fn resume(&self, resume: Micros, remaining: Remaining) -> Due {
        match remaining {
            Remaining::CalendarTime(us) => Due {
                at: resume.saturating_add(us.max(0)),
                provisional: false,
            },
            Remaining::OfficeTime(us) => self.consume_office_time(resume, us),
        }
    }

    /// Office time on working days within `[from, to)`, in microseconds (0 if `to <= from`).
    pub fn office_time_between(&self, from: Micros, to: Micros) -> Micros {
        if to <= from {
            return 0;
        }
        let to = clamp_instant(to);
        let mut total: Micros = 0;
        self.walk_office(from, |lo, hi| {
            if lo >= to {
                return true;
            }
            total = total.saturating_add(hi.min(to) - lo);
            hi >= to
        });
        total
    }

    /// Earliest instant at which `budget` of office time, counted from `start`, is used up.
    fn consume_office_time(&self, start: Micros, budget: Micros) -> Due {
        let mut left = budget.max(0);
        let mut found = None;
        let walk = self.walk_office(start, |lo, hi| {
            let avail = hi - lo;
            if left <= avail {
                found = Some(lo + left);
                true
            } else {
                left -= avail;
                false
            }
        });
        match found {
            Some(at) => Due {
                at: at.max(start),
                provisional: walk.provisional,
            },
            // Walk limit reached: stop there and say the answer is not final.
            None => Due {
                at: walk.end.max(start),
                provisional: true,
            },
        }
    }

    fn due_working_days(&self, start: Micros, amount: u32) -> Due {
        let clamped = clamp_instant(start);
        let Some(mut date) = self.local_date(clamped) else {
            return Due {
                at: start,
                provisional: true,
            };
        };
        let mut provisional = false;
        let mut counted = 0u32;
        for _ in 0..MAX_WALK_DAYS {
            if amount > 0 {
                // The start's own date never counts.
                match date.succ_opt() {
                    Some(next) => date = next,
                    None => break,
                }
            }
            provisional |= !self.is_settled(date);
            if self.is_working_day(date) {
                let end = self.day_end(date);
                if amount == 0 {
                    if end > clamped {
                        return Due {
                            at: end.max(start),
                            provisional,
                        };
                    }
                } else {
                    counted += 1;
                    if counted == amount {
                        return Due {
                            at: end.max(start),
                            provisional,
                        };
                    }
                }
            }
            if amount == 0 {
                match date.succ_opt() {
                    Some(next) => date = next,
                    None => break,
                }
            }
        }
        let end = date
            .succ_opt()
            .map_or(MAX_INSTANT, |next| self.local_to_utc(next, NaiveTime::MIN));
        Due {
            at: end.max(start),
            provisional: true,
        }
    }

    /// End of the last office period on `date`, as an instant.
    fn day_end(&self, date: NaiveDate) -> Micros {
        let last = self.hours.periods.last().map_or(NaiveTime::MIN, |p| p.1);
        self.local_to_utc(date, last)
    }

    fn local_date(&self, at: Micros) -> Option<NaiveDate> {
        DateTime::from_timestamp_micros(at).map(|t| t.with_timezone(&self.tz).date_naive())
    }

    /// The instant of a local wall-clock time. Ambiguous times (DST fall-back) take the earlier
    /// instant; skipped times (spring-forward) use the offset found at that wall time read as UTC,
    /// which lands next to the gap. Either way the result is deterministic and never fails.
    fn local_to_utc(&self, date: NaiveDate, time: NaiveTime) -> Micros {
        let naive = date.and_time(time);
        match self.tz.from_local_datetime(&naive).earliest() {
            Some(t) => t.timestamp_micros(),
            None => {
                let offset = self.tz.offset_from_utc_datetime(&naive).fix();
                naive
                    .and_utc()
                    .timestamp_micros()
                    .saturating_sub(i64::from(offset.local_minus_utc()) * MICROS_PER_SECOND)
            }
        }
    }

    /// Walks the office periods on working days from `from` onwards, day by day, calling
    /// `visit(lo, hi)` with each non-empty period clipped so that periods never overlap or go
    /// back before `from` (DST can make raw periods do so). Stops when `visit` returns true or
    /// after [`MAX_WALK_DAYS`]. All office-time arithmetic goes through here so that counting
    /// and consuming always agree.
    fn walk_office(&self, from: Micros, mut visit: impl FnMut(Micros, Micros) -> bool) -> WalkEnd {
        let mut cursor = clamp_instant(from);
        let mut provisional = false;
        let Some(mut date) = self.local_date(cursor) else {
            return WalkEnd {
                provisional: true,
                end: cursor,
            };
        };
        for _ in 0..MAX_WALK_DAYS {
            provisional |= !self.is_settled(date);
            if self.is_working_day(date) {
                for &(start, end) in &self.hours.periods {
                    let raw_start = self.local_to_utc(date, start);
                    let raw_end = self.local_to_utc(date, end).max(raw_start);
                    let lo = raw_start.max(cursor);
                    if raw_end > lo && visit(lo, raw_end) {
                        return WalkEnd {
                            provisional,
                            end: raw_end,
                        };
                    }
                    cursor = cursor.max(raw_end);
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        WalkEnd {
            provisional: true,
            end: self.local_to_utc(date, NaiveTime::MIN).max(cursor),
        }
    }
}

struct WalkEnd {
    provisional: bool,
    /// Where the walk stopped.
    end: Micros,
}

fn clamp_instant(at: Micros) -> Micros {
    at.clamp(MIN_INSTANT, MAX_INSTANT)
}

/// The day `months` months after `day`: the same day of the month, the
/// month's last day where that day does not exist, and the last day when
/// `day` is the last of its month.
pub fn months_on(day: NaiveDate, months: u32) -> Option<NaiveDate> {
    use chrono::{Datelike, Months};
    let target = day.checked_add_months(Months::new(months))?;
    let is_last = day
        .succ_opt()
        .is_none_or(|next| next.month() != day.month());
    if !is_last {
        return Some(target);
    }
    // From a month's last day to the target month's last day.
    let first_of_target = target.with_day(1)?;
    let first_of_next = first_of_target.checked_add_months(Months::new(1))?;
    first_of_next.pred_opt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::LazyLock;

    static CAL: LazyLock<WorkCalendar> = LazyLock::new(WorkCalendar::builtin);

    /// Asia/Shanghai wall time to UTC micros.
    fn cst(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Micros {
        chrono_tz::Asia::Shanghai
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid local time")
            .timestamp_micros()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Micros {
        chrono::Utc
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid time")
            .timestamp_micros()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    fn days(amount: u32) -> DurationRule {
        DurationRule {
            amount,
            unit: DurationUnit::WorkingDays,
        }
    }

    fn hours(amount: u32) -> DurationRule {
        DurationRule {
            amount,
            unit: DurationUnit::WorkingHours,
        }
    }

    fn show(us: Micros) -> String {
        crate::time::to_rfc3339(us)
    }

    #[test]
    fn embedded_years_all_load() {
        let mut cal = WorkCalendar::empty(chrono_tz::Asia::Shanghai, OfficeHours::default());
        for json in EMBEDDED_YEARS {
            cal.load_year_json(json).expect("embedded year loads");
        }
        for year in 2007..=2026 {
            assert!(CAL.has_year(year), "{year}");
        }
        assert!(!CAL.has_year(2027), "2027 is published empty");
        assert!(!CAL.has_year(2006));
        assert_eq!(cal.version(), CAL.version());
    }

    #[test]
    fn working_day_lookup_2026() {
        assert!(!CAL.is_working_day(date(2026, 1, 1)), "元旦");
        assert!(!CAL.is_working_day(date(2026, 1, 2)), "元旦 Friday");
        assert!(CAL.is_working_day(date(2026, 1, 4)), "make-up Sunday");
        assert!(!CAL.is_working_day(date(2026, 10, 1)), "国庆 Thursday");
        assert!(CAL.is_working_day(date(2026, 10, 10)), "make-up Saturday");
        assert!(CAL.is_working_day(date(2026, 9, 20)), "make-up Sunday");
        assert!(!CAL.is_working_day(date(2026, 3, 7)), "plain Saturday");
        assert!(CAL.is_working_day(date(2026, 3, 9)), "plain Monday");
        // An earlier year's December edge, listed in the next year's file.
        assert!(!CAL.is_working_day(date(2018, 12, 31)));
        assert!(CAL.is_working_day(date(2018, 12, 29)));
    }

    #[test]
    fn five_working_days_before_national_day_2026() {
        // Wed 23 Sep: 24 Thu (1); 25-27 中秋 off; 28 Mon (2), 29 (3), 30 (4); 1-7 Oct off;
        // 8 Oct Thu (5).
        let due = CAL.due(cst(2026, 9, 23, 10, 0), days(5));
        assert_eq!(show(due.at), show(cst(2026, 10, 8, 18, 0)));
        assert!(!due.provisional);
    }

    #[test]
    fn deadline_on_make_up_saturday() {
        // Thu 8 Oct: 9 Oct Fri (1), 10 Oct Sat make-up day (2).
        let due = CAL.due(cst(2026, 10, 8, 10, 0), days(2));
        assert_eq!(show(due.at), show(cst(2026, 10, 10, 18, 0)));
        // Also for working hours: 7.5 h from Fri 9 Oct 18:00 is all of Saturday.
        let due = CAL.due(cst(2026, 10, 9, 18, 0), hours(7));
        assert_eq!(show(due.at), show(cst(2026, 10, 10, 17, 30)));
    }

    #[test]
    fn new_year_2026() {
        // Wed 31 Dec 2025: 1-3 Jan off, Sun 4 Jan is a make-up working day.
        let due = CAL.due(cst(2025, 12, 31, 10, 0), days(1));
        assert_eq!(show(due.at), show(cst(2026, 1, 4, 18, 0)));
        assert!(!due.provisional, "2025-12-31 is settled: 2026 is loaded");
        let due = CAL.due(cst(2025, 12, 31, 17, 0), hours(2));
        assert_eq!(show(due.at), show(cst(2026, 1, 4, 10, 0)));
    }

    #[test]
    fn working_hours_lunch_and_overnight() {
        // Mon 2 Mar 2026, 11:00 + 2 h: 11-12, then 13:30-14:30.
        let due = CAL.due(cst(2026, 3, 2, 11, 0), hours(2));
        assert_eq!(show(due.at), show(cst(2026, 3, 2, 14, 30)));
        // 17:00 + 3 h: 17-18, then Tue 09-11.
        let due = CAL.due(cst(2026, 3, 2, 17, 0), hours(3));
        assert_eq!(show(due.at), show(cst(2026, 3, 3, 11, 0)));
        // Starting during lunch counts from 13:30.
        let due = CAL.due(cst(2026, 3, 2, 12, 15), hours(1));
        assert_eq!(show(due.at), show(cst(2026, 3, 2, 14, 30)));
        // Used up exactly at the end of a period: due then, not at the next start.
        let due = CAL.due(cst(2026, 3, 2, 9, 0), hours(3));
        assert_eq!(show(due.at), show(cst(2026, 3, 2, 12, 0)));
        // A full day is 7.5 h; 8 h reaches into the next morning.
        let due = CAL.due(cst(2026, 3, 2, 9, 0), hours(8));
        assert_eq!(show(due.at), show(cst(2026, 3, 3, 9, 30)));
    }

    #[test]
    fn start_on_weekend_or_holiday() {
        // Sat 7 Mar 2026.
        let due = CAL.due(cst(2026, 3, 7, 10, 0), hours(1));
        assert_eq!(show(due.at), show(cst(2026, 3, 9, 10, 0)));
        let due = CAL.due(cst(2026, 3, 7, 10, 0), days(1));
        assert_eq!(show(due.at), show(cst(2026, 3, 9, 18, 0)));
        // 国庆 Thu 1 Oct 2026: first working day after is Thu 8 Oct.
        let due = CAL.due(cst(2026, 10, 1, 10, 0), hours(1));
        assert_eq!(show(due.at), show(cst(2026, 10, 8, 10, 0)));
        // Friday in a normal week, 1 working day: Monday 18:00.
        let due = CAL.due(cst(2026, 3, 6, 10, 0), days(1));
        assert_eq!(show(due.at), show(cst(2026, 3, 9, 18, 0)));
    }

    #[test]
    fn zero_amounts() {
        // Working days 0: close of business today, or the next working day after closing.
        let due = CAL.due(cst(2026, 3, 2, 10, 0), days(0));
        assert_eq!(show(due.at), show(cst(2026, 3, 2, 18, 0)));
        let due = CAL.due(cst(2026, 3, 2, 19, 0), days(0));
        assert_eq!(show(due.at), show(cst(2026, 3, 3, 18, 0)));
        let due = CAL.due(cst(2026, 3, 7, 10, 0), days(0));
        assert_eq!(show(due.at), show(cst(2026, 3, 9, 18, 0)));
        // Working hours 0: the next moment the office is open.
        let due = CAL.due(cst(2026, 3, 2, 10, 0), hours(0));
        assert_eq!(due.at, cst(2026, 3, 2, 10, 0));
        let due = CAL.due(cst(2026, 3, 2, 12, 0), hours(0));
        assert_eq!(due.at, cst(2026, 3, 2, 13, 30));
    }

    #[test]
    fn calendar_days_exact() {
        let start = cst(2026, 9, 30, 15, 17);
        let due = CAL.due(
            start,
            DurationRule {
                amount: 15,
                unit: DurationUnit::CalendarDays,
            },
        );
        assert_eq!(due.at, start + 15 * MICROS_PER_DAY);
        assert!(!due.provisional);
    }

    #[test]
    fn time_zone_handling() {
        // 01:00 UTC is 09:00 in Shanghai (UTC+8, no DST).
        let due = CAL.due(utc(2026, 3, 2, 1, 0), hours(1));
        assert_eq!(show(due.at), show(utc(2026, 3, 2, 2, 0)));
        // Sunday 23:00 UTC is Monday 07:00 in Shanghai: counting starts at Monday 09:00 local.
        let due = CAL.due(utc(2026, 3, 1, 23, 0), hours(1));
        assert_eq!(show(due.at), show(utc(2026, 3, 2, 2, 0)));
        // The start's local date decides "the day of the start": Thu 17:00 UTC = Fri 01:00 CST,
        // so 1 working day is Monday 18:00 CST = Monday 10:00 UTC.
        let due = CAL.due(utc(2026, 3, 5, 17, 0), days(1));
        assert_eq!(show(due.at), show(utc(2026, 3, 9, 10, 0)));
        // The same instant in a UTC calendar is still Thursday: due Friday 18:00 UTC.
        let utc_cal = WorkCalendar::new(chrono_tz::UTC, OfficeHours::default());
        let due = utc_cal.due(utc(2026, 3, 5, 17, 0), days(1));
        assert_eq!(show(due.at), show(utc(2026, 3, 6, 18, 0)));
        assert_ne!(utc_cal.version(), CAL.version());
    }

    #[test]
    fn dst_zone_does_not_break() {
        // Office hours inside a DST gap and overlap must still give consistent answers.
        let tz = WorkCalendar::parse_tz("Europe/Berlin").expect("zone");
        let mut cal = WorkCalendar::empty(
            tz,
            OfficeHours::parse("01:00-02:30,02:30-03:30").expect("hours"),
        );
        // Make the two DST Sundays of 2026 working days so their periods are used:
        // 29 Mar spring forward (02:00 -> 03:00), 25 Oct fall back (03:00 -> 02:00).
        cal.load_year_json(
            r#"{"year": 2026, "days": [
                {"date": "2026-03-29", "isOffDay": false},
                {"date": "2026-10-25", "isOffDay": false}
            ]}"#,
        )
        .expect("loads");
        for start in [utc(2026, 3, 27, 0, 0), utc(2026, 10, 23, 0, 0)] {
            let mut previous = start;
            for amount in 0..20 {
                let due = cal.due(start, hours(amount));
                assert!(due.at >= previous);
                previous = due.at;
                assert_eq!(
                    cal.office_time_between(start, due.at),
                    i64::from(amount) * MICROS_PER_HOUR
                );
                let left = cal.remaining(start, due.at, DurationUnit::WorkingHours);
                assert_eq!(cal.resume(start, left).at, due.at);
            }
        }
    }

    #[test]
    fn calendar_is_send_sync() {
        fn check<T: Send + Sync + Clone + std::fmt::Debug>() {}
        check::<WorkCalendar>();
    }

    #[test]
    fn provisional_2027_until_loaded() {
        // Mon 4 Jan 2027, 2 working days: with no 2027 data, Tue 5 (1), Wed 6 (2).
        let start = cst(2027, 1, 4, 10, 0);
        let mut cal = CAL.clone();
        let due = cal.due(start, days(2));
        assert_eq!(show(due.at), show(cst(2027, 1, 6, 18, 0)));
        assert!(due.provisional);
        // Late December 2026 waits for 2027's notice too.
        assert!(cal.due(cst(2026, 12, 28, 10, 0), days(1)).provisional);
        assert!(!cal.due(cst(2026, 12, 21, 10, 0), days(1)).provisional);

        let before = cal.version();
        let year = cal
            .load_year_json(
                r#"{"year": 2027, "papers": [], "days": [
                    {"name": "元旦", "date": "2027-01-01", "isOffDay": true},
                    {"name": "测试", "date": "2027-01-05", "isOffDay": true}
                ]}"#,
            )
            .expect("loads");
        assert_eq!(year, 2027);
        assert!(cal.has_year(2027));
        assert_ne!(cal.version(), before);
        let due = cal.due(start, days(2));
        assert_eq!(show(due.at), show(cst(2027, 1, 7, 18, 0)));
        assert!(!due.provisional);
        assert!(!cal.due(cst(2026, 12, 28, 10, 0), days(1)).provisional);

        // Replacing the year with an empty file makes it provisional again.
        cal.load_year_json(r#"{"year": 2027, "papers": [], "days": []}"#)
            .expect("loads");
        assert!(!cal.has_year(2027));
        assert_eq!(cal.version(), before);
        assert!(cal.due(start, days(2)).provisional);
    }

    #[test]
    fn load_errors_name_the_problem() {
        let mut cal = CAL.clone();
        assert!(matches!(
            cal.load_year_json("not json"),
            Err(CalendarError::Json(_))
        ));
        assert!(matches!(
            cal.load_year_json(
                r#"{"year": 2030, "days": [{"date": "2030-02-30", "isOffDay": true}]}"#
            ),
            Err(CalendarError::BadDate { .. })
        ));
        assert!(matches!(
            cal.load_year_json(
                r#"{"year": 2030, "days": [{"date": "2035-01-01", "isOffDay": true}]}"#
            ),
            Err(CalendarError::DateOutsideYear { .. })
        ));
        assert!(matches!(
            cal.load_year_json(r#"{"year": 2030, "days": [{"date": "2030-01-01", "isOffDay": true}, {"date": "2030-01-01", "isOffDay": false}]}"#),
            Err(CalendarError::ConflictingDate { .. })
        ));
        assert!(matches!(
            cal.load_year_json(r#"{"year": 12030, "days": []}"#),
            Err(CalendarError::YearOutOfRange { year: 12030 })
        ));
        // Failed loads leave the calendar unchanged.
        assert_eq!(cal.version(), CAL.version());
        let err =
            cal.load_year_json(r#"{"year": 2030, "days": [{"date": "x", "isOffDay": true}]}"#);
        assert!(err.is_err_and(|e| e.to_string().contains("\"x\"")));
    }

    #[test]
    fn office_hours_parse() {
        let h = OfficeHours::parse("13:30-18:00, 09:00-12:00").expect("parses");
        assert_eq!(h, OfficeHours::default_china());
        assert_eq!(h.to_string(), "09:00-12:00,13:30-18:00");
        assert_eq!(
            h.micros_per_day(),
            7 * MICROS_PER_HOUR + MICROS_PER_HOUR / 2
        );
        assert!(OfficeHours::parse("09:00-12:00,12:00-13:00").is_ok());
        assert_eq!(OfficeHours::parse(""), Err(CalendarError::EmptyOfficeHours));
        assert!(matches!(
            OfficeHours::parse("09:00-12:00,11:00-13:00"),
            Err(CalendarError::OverlappingPeriods { .. })
        ));
        assert!(matches!(
            OfficeHours::parse("12:00-09:00"),
            Err(CalendarError::PeriodNotPositive { .. })
        ));
        assert!(matches!(
            OfficeHours::parse("09:00-09:00"),
            Err(CalendarError::PeriodNotPositive { .. })
        ));
        for bad in [
            "25:00-26:00",
            "09:60-10:00",
            "9-12",
            "09:00-24:00",
            "ab:cd-10:00",
        ] {
            assert!(
                matches!(OfficeHours::parse(bad), Err(CalendarError::BadTime { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            OfficeHours::parse("09:00"),
            Err(CalendarError::BadPeriod { .. })
        ));
    }

    #[test]
    fn parse_tz_names() {
        assert_eq!(
            WorkCalendar::parse_tz("Asia/Shanghai"),
            Ok(chrono_tz::Asia::Shanghai)
        );
        assert!(matches!(
            WorkCalendar::parse_tz("Mars/Olympus"),
            Err(CalendarError::UnknownTimeZone { .. })
        ));
    }

    #[test]
    fn version_is_stable_and_sensitive() {
        let v = CAL.version();
        assert_eq!(v.len(), 12);
        assert!(v.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(WorkCalendar::builtin().version(), v);
        let other_hours = WorkCalendar::new(
            chrono_tz::Asia::Shanghai,
            OfficeHours::parse("08:30-12:00,14:00-17:30").expect("hours"),
        );
        assert_ne!(other_hours.version(), v);
        // Reloading identical data changes nothing.
        let mut cal = CAL.clone();
        cal.load_year_json(EMBEDDED_YEARS[19]).expect("2026");
        assert_eq!(cal.version(), v);
    }

    #[test]
    fn remaining_serializes() {
        for r in [Remaining::CalendarTime(5), Remaining::OfficeTime(7)] {
            let text = serde_json::to_string(&r).expect("serializes");
            let back: Remaining = serde_json::from_str(&text).expect("deserializes");
            assert_eq!(back, r);
        }
        assert_eq!(
            serde_json::to_string(&Remaining::OfficeTime(7)).expect("serializes"),
            r#"{"office_time":7}"#
        );
    }

    #[test]
    fn suspension_examples() {
        // 2 working days from Mon 2 Mar 10:00 = Wed 4 Mar 18:00; suspended Tue 10:00,
        // resumed Thu 10:00.
        let due = CAL.due(cst(2026, 3, 2, 10, 0), days(2)).at;
        assert_eq!(due, cst(2026, 3, 4, 18, 0));
        let left = CAL.remaining(cst(2026, 3, 3, 10, 0), due, DurationUnit::WorkingDays);
        // Tue 10-12 (2 h) + 13:30-18 (4.5 h) + Wed 7.5 h = 14 h.
        assert_eq!(left, Remaining::OfficeTime(14 * MICROS_PER_HOUR));
        let resumed = CAL.resume(cst(2026, 3, 5, 10, 0), left);
        // Thu 10-18 = 6.5 h, Fri 7.5 h: ends Fri 18:00.
        assert_eq!(show(resumed.at), show(cst(2026, 3, 6, 18, 0)));
        // Overdue clocks have nothing left.
        assert_eq!(
            CAL.remaining(due + 1, due, DurationUnit::WorkingDays),
            Remaining::OfficeTime(0)
        );
        assert_eq!(
            CAL.remaining(due + 1, due, DurationUnit::CalendarDays),
            Remaining::CalendarTime(0)
        );
        let cal_due = cst(2026, 3, 10, 0, 0);
        let left = CAL.remaining(
            cal_due - MICROS_PER_DAY,
            cal_due,
            DurationUnit::CalendarDays,
        );
        assert_eq!(CAL.resume(cal_due, left).at, cal_due + MICROS_PER_DAY);
    }

    #[test]
    fn pathological_inputs_terminate() {
        let starts = [
            i64::MIN,
            i64::MAX,
            0,
            cst(2026, 3, 2, 10, 0),
            MIN_INSTANT,
            MAX_INSTANT,
        ];
        for start in starts {
            for unit in [
                DurationUnit::CalendarDays,
                DurationUnit::WorkingDays,
                DurationUnit::WorkingHours,
            ] {
                for amount in [0, 1, 10_000, u32::MAX] {
                    let due = CAL.due(start, DurationRule { amount, unit });
                    assert!(due.at >= start, "{start} {amount} {unit:?}");
                    let left = CAL.remaining(start, due.at, unit);
                    let again = CAL.resume(start, left);
                    assert!(again.at >= start);
                }
            }
        }
        // 10,000 working days (~40 years) is still computed exactly, past the data: provisional.
        let due = CAL.due(cst(2026, 3, 2, 10, 0), days(10_000));
        assert!(due.provisional);
        assert!(due.at > cst(2060, 1, 1, 0, 0));
        // Far outside the data range, plain Monday-Friday.
        let due = CAL.due(cst(1900, 1, 5, 10, 0), days(1)); // a Friday
        assert_eq!(show(due.at), show(cst(1900, 1, 8, 18, 0)));
        assert!(due.provisional);
    }

    // ---- properties ----

    /// Office periods of `date` as instants, for checking results from outside.
    fn periods_of(cal: &WorkCalendar, date: NaiveDate) -> Vec<(Micros, Micros)> {
        cal.hours
            .periods()
            .iter()
            .map(|(a, b)| (cal.local_to_utc(date, *a), cal.local_to_utc(date, *b)))
            .collect()
    }

    fn in_office(cal: &WorkCalendar, at: Micros) -> bool {
        let Some(d) = cal.local_date(at) else {
            return false;
        };
        cal.is_working_day(d)
            && periods_of(cal, d)
                .iter()
                .any(|&(lo, hi)| lo <= at && at <= hi)
    }

    fn working_days_after(cal: &WorkCalendar, from: NaiveDate, to: NaiveDate) -> u32 {
        from.iter_days()
            .skip(1)
            .take_while(|d| *d <= to)
            .filter(|d| cal.is_working_day(*d))
            .count() as u32
    }

    /// Starts from mid-2025 into early 2027, at minute resolution plus odd seconds.
    fn start_strategy() -> impl Strategy<Value = Micros> {
        let lo = utc(2025, 6, 1, 0, 0);
        let hi = utc(2027, 3, 1, 0, 0);
        (lo..hi).prop_map(|us| us - us % MICROS_PER_SECOND)
    }

    fn working_rule() -> impl Strategy<Value = DurationRule> {
        prop_oneof![(0u32..80).prop_map(days), (0u32..200).prop_map(hours),]
    }

    proptest! {
        #[test]
        fn due_respects_the_rule(start in start_strategy(), rule in working_rule()) {
            let cal = &*CAL;
            let due = cal.due(start, rule);
            prop_assert!(due.at >= start);
            match rule.unit {
                DurationUnit::WorkingHours => {
                    prop_assert_eq!(
                        cal.office_time_between(start, due.at),
                        i64::from(rule.amount) * MICROS_PER_HOUR
                    );
                }
                DurationUnit::WorkingDays => {
                    let d0 = cal.local_date(start).expect("date");
                    let dd = cal.local_date(due.at).expect("date");
                    if rule.amount > 0 {
                        prop_assert_eq!(working_days_after(cal, d0, dd), rule.amount);
                    } else {
                        prop_assert!(working_days_after(cal, d0, dd) <= 1);
                    }
                    prop_assert_eq!(due.at, cal.day_end(dd));
                }
                DurationUnit::CalendarDays
                | DurationUnit::CalendarHours
                | DurationUnit::CalendarMonths => {}
            }
        }

        #[test]
        fn more_amount_never_earlier(start in start_strategy(), rule in working_rule(), extra in 0u32..30) {
            let a = CAL.due(start, rule);
            let b = CAL.due(start, DurationRule { amount: rule.amount + extra, unit: rule.unit });
            prop_assert!(b.at >= a.at);
        }

        #[test]
        fn due_is_in_office_on_a_working_day(start in start_strategy(), rule in working_rule()) {
            let due = CAL.due(start, rule);
            prop_assert!(in_office(&CAL, due.at), "{} not in office", show(due.at));
            let d = CAL.local_date(due.at).expect("date");
            prop_assert!(CAL.is_working_day(d));
        }

        #[test]
        fn suspend_and_resume(
            start in start_strategy(),
            rule in working_rule(),
            at in 0.0f64..1.0,
            pause in 0i64..(40 * MICROS_PER_DAY),
        ) {
            let cal = &*CAL;
            let due = cal.due(start, rule).at;
            prop_assume!(due > start);
            let s = start + ((due - start) as f64 * at) as i64;
            let s = s.min(due - 1);
            let left = cal.remaining(s, due, rule.unit);
            // Zero-length suspension changes nothing.
            prop_assert_eq!(cal.resume(s, left).at, due);
            let r = s + pause;
            let new_due = cal.resume(r, left);
            prop_assert!(new_due.at >= due);
            prop_assert!(new_due.at >= r);
            prop_assert_eq!(cal.office_time_between(r, new_due.at), left.micros());
            prop_assert!(in_office(cal, new_due.at));
        }

        #[test]
        fn calendar_days_suspend(start in start_strategy(), amount in 0u32..60, at in 0.0f64..1.0, pause in 0i64..(40 * MICROS_PER_DAY)) {
            let rule = DurationRule { amount, unit: DurationUnit::CalendarDays };
            let due = CAL.due(start, rule).at;
            let s = start + ((due - start) as f64 * at) as i64;
            let left = CAL.remaining(s, due, rule.unit);
            prop_assert_eq!(CAL.resume(s, left).at, due);
            prop_assert_eq!(CAL.resume(s + pause, left).at, due + pause);
        }

        #[test]
        fn settled_range_is_not_provisional(start in utc(2025, 1, 1, 0, 0)..utc(2026, 6, 1, 0, 0), rule in working_rule()) {
            let due = CAL.due(start, rule);
            prop_assert!(!due.provisional);
        }
    }

    #[test]
    fn months_run_to_the_same_day_or_the_months_end() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        // Same day of the month.
        assert_eq!(months_on(d(2026, 3, 10), 2), Some(d(2026, 5, 10)));
        // The day does not exist: the month's last day.
        assert_eq!(months_on(d(2026, 1, 30), 1), Some(d(2026, 2, 28)));
        assert_eq!(months_on(d(2028, 1, 29), 1), Some(d(2028, 2, 29)));
        // From a month's last day to the target month's last day.
        assert_eq!(months_on(d(2026, 2, 28), 1), Some(d(2026, 3, 31)));
        assert_eq!(months_on(d(2026, 4, 30), 2), Some(d(2026, 6, 30)));
        assert_eq!(months_on(d(2026, 12, 31), 2), Some(d(2027, 2, 28)));
        assert_eq!(months_on(d(2026, 5, 15), 0), Some(d(2026, 5, 15)));
    }

    #[test]
    fn a_month_period_ends_at_the_close_of_its_last_day() {
        let rule = DurationRule {
            amount: 2,
            unit: DurationUnit::CalendarMonths,
        };
        // Detained 2026-03-10 15:20: the starting day does not count; the
        // period ends when 2026-05-10 ends, local time.
        let due = CAL.due(cst(2026, 3, 10, 15, 20), rule);
        assert_eq!(due.at, cst(2026, 5, 11, 0, 0));
        assert!(!due.provisional);
    }

    proptest! {
        /// A month period ends on a later day than it starts, no more than
        /// 31 days per month on, and always at a local midnight.
        #[test]
        fn month_periods_are_ordered_and_bounded(
            days in 0i64..20_000,
            hour in 0u32..24,
            months in 1u32..=36,
        ) {
            let base = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
            let day = base + chrono::Duration::days(days);
            let end = months_on(day, months).unwrap();
            prop_assert!(end > day);
            let span = (end - day).num_days();
            prop_assert!(span >= i64::from(months) * 28 - 3 && span <= i64::from(months) * 31 + 3);
            let start = chrono_tz::Asia::Shanghai
                .from_local_datetime(&day.and_hms_opt(hour, 0, 0).unwrap())
                .earliest()
                .unwrap()
                .timestamp_micros();
            let due = CAL.due(start, DurationRule { amount: months, unit: DurationUnit::CalendarMonths });
            let local = DateTime::from_timestamp_micros(due.at).unwrap().with_timezone(&chrono_tz::Asia::Shanghai);
            prop_assert_eq!(local.time(), NaiveTime::MIN);
            prop_assert_eq!(local.date_naive(), end.succ_opt().unwrap());
        }
    }
}
