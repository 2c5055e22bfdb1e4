//! Hand-computed fixtures and invariants for the indicators.
//!
//! The fixture is six cases in March 2025 (no holidays that month), office
//! hours 09:00–12:00 and 13:30–18:00 Asia/Shanghai, looked at on Monday
//! 31 March 12:00. Every expected figure is worked out in the comments.

use chrono::TimeZone;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

const HOUR: Micros = MICROS_PER_HOUR;

/// The figures the requests pack declares.
fn requests() -> &'static [crate::pack::IndicatorDef] {
    static PACKS: std::sync::OnceLock<crate::pack::PackSet> = std::sync::OnceLock::new();
    let packs = PACKS.get_or_init(|| {
        let source = include_str!("../../../../packs/requests/pack.toml");
        crate::pack::PackSet::from_sources(&[("pack.toml".into(), source.into())])
            .expect("the requests pack loads")
    });
    let t = packs
        .case_type("requests", "request")
        .expect("request type");
    &t.indicators
}

/// Local time in Shanghai on a day of 2025 (month, day, hour, minute).
fn t(month: u32, day: u32, h: u32, m: u32) -> Micros {
    chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(2025, month, day, h, m, 0)
        .unwrap()
        .timestamp_micros()
}

fn mar(day: u32, h: u32, m: u32) -> Micros {
    t(3, day, h, m)
}

fn march() -> Period {
    Period {
        from: t(3, 1, 0, 0),
        to: t(4, 1, 0, 0),
    }
}

fn as_of() -> Micros {
    mar(31, 12, 0)
}

/// Builds case histories with one global, dense log position.
#[derive(Default)]
struct Log {
    seq: u64,
    cases: Vec<CaseHistory>,
}

impl Log {
    fn case(&mut self, id: &str) -> usize {
        self.cases.push(CaseHistory {
            case_id: id.into(),
            ..CaseHistory::default()
        });
        self.cases.len() - 1
    }

    /// One entry; `changes` lists `(field, after)` pairs.
    fn entry(
        &mut self,
        case: usize,
        at: Micros,
        action: &str,
        from: Option<&str>,
        to: &str,
        changes: &[(&str, Value)],
    ) {
        let mut map = serde_json::Map::new();
        for (k, v) in changes {
            map.insert((*k).into(), json!({"before": null, "after": v}));
        }
        let h = &mut self.cases[case];
        h.entries.push(HistoryEntry {
            seq: self.seq,
            at,
            action: action.into(),
            from_state: from.map(str::to_string),
            to_state: to.into(),
            changes: crate::log::canonical_json(&Value::Object(map)),
        });
        self.seq += 1;
    }

    fn deadline(
        &mut self,
        case: usize,
        state: &str,
        started_at: Micros,
        due_at: Option<Micros>,
        status: DeadlineStatus,
        closed_at: Option<Micros>,
    ) {
        self.cases[case].deadlines.push(DeadlineFact {
            state: state.into(),
            clock: None,
            started_at,
            due_at,
            status,
            closed_at,
        });
    }
}

fn fixture() -> Vec<CaseHistory> {
    use DeadlineStatus::*;
    let mut log = Log::default();

    // c1, held by A in area S1, R01.02.03: the whole way, everything in time.
    // Handling Mon 3 11:00 → Tue 4 11:00 = 1 + 4.5 + 2 = 7.5 office hours.
    let c1 = log.case("c1");
    log.entry(
        c1,
        mar(3, 9, 0),
        "create",
        None,
        "registered",
        &[
            ("holder_unit_id", json!("CTR")),
            ("area_unit_id", json!("S1")),
            ("category", json!("R01.02.03")),
        ],
    );
    log.deadline(
        c1,
        "registered",
        mar(3, 9, 0),
        Some(mar(4, 9, 0)),
        Met,
        Some(mar(3, 10, 0)),
    );
    log.entry(
        c1,
        mar(3, 10, 0),
        "dispatch",
        Some("registered"),
        "dispatched",
        &[("holder_unit_id", json!("A"))],
    );
    log.deadline(
        c1,
        "dispatched",
        mar(3, 10, 0),
        Some(mar(4, 10, 0)),
        Met,
        Some(mar(3, 11, 0)),
    );
    log.entry(
        c1,
        mar(3, 11, 0),
        "accept",
        Some("dispatched"),
        "in_progress",
        &[],
    );
    log.deadline(
        c1,
        "in_progress",
        mar(3, 11, 0),
        Some(mar(10, 11, 0)),
        Met,
        Some(mar(4, 11, 0)),
    );
    log.entry(
        c1,
        mar(4, 11, 0),
        "report",
        Some("in_progress"),
        "reported",
        &[("result", json!("done")), ("outcome", json!("resolved"))],
    );
    log.entry(
        c1,
        mar(4, 14, 0),
        "follow_up",
        Some("reported"),
        "rated",
        &[("satisfaction", json!("satisfied"))],
    );
    log.entry(
        c1,
        mar(5, 10, 0),
        "verify",
        Some("rated"),
        "verified",
        &[("verification", json!("passed"))],
    );
    log.entry(c1, mar(5, 11, 0), "close", Some("verified"), "closed", &[]);

    // c2, R01.05 in S1: first dispatched to B, returned, dispatched to A, which
    // accepts after the deadline expired. Handling Wed 5 09:00 → 12:00 = 3 h.
    let c2 = log.case("c2");
    log.entry(
        c2,
        mar(3, 9, 0),
        "create",
        None,
        "registered",
        &[
            ("holder_unit_id", json!("CTR")),
            ("area_unit_id", json!("S1")),
            ("category", json!("R01.05")),
        ],
    );
    log.entry(
        c2,
        mar(3, 9, 30),
        "dispatch",
        Some("registered"),
        "dispatched",
        &[("holder_unit_id", json!("B"))],
    );
    log.deadline(
        c2,
        "dispatched",
        mar(3, 9, 30),
        Some(mar(4, 9, 30)),
        Met,
        Some(mar(3, 15, 0)),
    );
    log.entry(
        c2,
        mar(3, 15, 0),
        "return",
        Some("dispatched"),
        "returned",
        &[("holder_unit_id", json!("CTR"))],
    );
    log.deadline(
        c2,
        "returned",
        mar(3, 15, 0),
        Some(mar(3, 17, 0)),
        Met,
        Some(mar(3, 16, 0)),
    );
    log.entry(
        c2,
        mar(3, 16, 0),
        "dispatch",
        Some("returned"),
        "dispatched",
        &[("holder_unit_id", json!("A"))],
    );
    log.deadline(
        c2,
        "dispatched",
        mar(3, 16, 0),
        Some(mar(4, 16, 0)),
        Expired,
        None,
    );
    log.entry(
        c2,
        mar(4, 16, 0),
        "deadline_expired",
        Some("dispatched"),
        "dispatched",
        &[("overdue_since", json!(mar(4, 16, 0)))],
    );
    log.entry(
        c2,
        mar(5, 9, 0),
        "accept",
        Some("dispatched"),
        "in_progress",
        &[],
    );
    log.deadline(
        c2,
        "in_progress",
        mar(5, 9, 0),
        Some(mar(12, 9, 0)),
        Met,
        Some(mar(5, 12, 0)),
    );
    log.entry(
        c2,
        mar(5, 12, 0),
        "report",
        Some("in_progress"),
        "reported",
        &[("result", json!("ok"))],
    );
    log.entry(
        c2,
        mar(6, 10, 0),
        "follow_up",
        Some("reported"),
        "rated",
        &[("satisfaction", json!("basically_satisfied"))],
    );

    // c3, R02.01 in S2, held by B: suspended for a day, then unsatisfied twice.
    // First round: 11:30–12:00 and 13:30–14:00 (1 h), suspended Mon 14:00 →
    // Tue 14:00 (not counted), 14:00–16:00 (2 h): 3 h.
    // Handling deadlines: #1 met in time; #2 reported an hour after its due
    // time (the worker did not fire: still late); #3 open and past due.
    let c3 = log.case("c3");
    log.entry(
        c3,
        mar(3, 10, 0),
        "create",
        None,
        "registered",
        &[
            ("holder_unit_id", json!("CTR")),
            ("area_unit_id", json!("S2")),
            ("category", json!("R02.01")),
        ],
    );
    log.entry(
        c3,
        mar(3, 10, 30),
        "dispatch",
        Some("registered"),
        "dispatched",
        &[("holder_unit_id", json!("B"))],
    );
    log.deadline(
        c3,
        "dispatched",
        mar(3, 10, 30),
        Some(mar(4, 10, 30)),
        Met,
        Some(mar(3, 11, 30)),
    );
    log.entry(
        c3,
        mar(3, 11, 30),
        "accept",
        Some("dispatched"),
        "in_progress",
        &[],
    );
    log.deadline(
        c3,
        "in_progress",
        mar(3, 11, 30),
        Some(mar(11, 14, 0)),
        Met,
        Some(mar(4, 16, 0)),
    );
    log.entry(
        c3,
        mar(3, 14, 0),
        "suspend",
        Some("in_progress"),
        "suspended",
        &[],
    );
    log.entry(
        c3,
        mar(4, 14, 0),
        "resume",
        Some("suspended"),
        "in_progress",
        &[],
    );
    log.entry(
        c3,
        mar(4, 16, 0),
        "report",
        Some("in_progress"),
        "reported",
        &[("result", json!("ok"))],
    );
    log.entry(
        c3,
        mar(5, 9, 0),
        "follow_up",
        Some("reported"),
        "in_progress",
        &[("satisfaction", json!("unsatisfied"))],
    );
    log.deadline(
        c3,
        "in_progress",
        mar(5, 9, 0),
        Some(mar(12, 9, 0)),
        Met,
        Some(mar(12, 10, 0)),
    );
    log.entry(
        c3,
        mar(12, 10, 0),
        "report",
        Some("in_progress"),
        "reported",
        &[],
    );
    // Unsatisfied again: the field does not change, so the entry lists no
    // satisfaction; the running value says it.
    log.entry(
        c3,
        mar(12, 15, 0),
        "follow_up",
        Some("reported"),
        "in_progress",
        &[],
    );
    log.deadline(
        c3,
        "in_progress",
        mar(12, 15, 0),
        Some(mar(19, 15, 0)),
        Active,
        None,
    );

    // c4, R02.01 in S2, held by B: verification failed, the new round overdue.
    // Handling Tue 4 10:00 → 17:00 = 2 + 3.5 = 5.5 h.
    let c4 = log.case("c4");
    log.entry(
        c4,
        mar(4, 9, 0),
        "create",
        None,
        "registered",
        &[
            ("holder_unit_id", json!("CTR")),
            ("area_unit_id", json!("S2")),
            ("category", json!("R02.01")),
        ],
    );
    log.entry(
        c4,
        mar(4, 9, 0),
        "dispatch",
        Some("registered"),
        "dispatched",
        &[("holder_unit_id", json!("B"))],
    );
    log.deadline(
        c4,
        "dispatched",
        mar(4, 9, 0),
        Some(mar(5, 9, 0)),
        Met,
        Some(mar(4, 10, 0)),
    );
    log.entry(
        c4,
        mar(4, 10, 0),
        "accept",
        Some("dispatched"),
        "in_progress",
        &[],
    );
    log.deadline(
        c4,
        "in_progress",
        mar(4, 10, 0),
        Some(mar(11, 10, 0)),
        Met,
        Some(mar(4, 17, 0)),
    );
    log.entry(
        c4,
        mar(4, 17, 0),
        "report",
        Some("in_progress"),
        "reported",
        &[("result", json!("ok"))],
    );
    log.entry(
        c4,
        mar(5, 9, 0),
        "follow_up",
        Some("reported"),
        "rated",
        &[("satisfaction", json!("satisfied"))],
    );
    log.entry(
        c4,
        mar(5, 10, 0),
        "verify",
        Some("rated"),
        "in_progress",
        &[("verification", json!("failed"))],
    );
    log.deadline(
        c4,
        "in_progress",
        mar(5, 10, 0),
        Some(mar(12, 10, 0)),
        Active,
        None,
    );

    // c5: no area, no category, voided at the centre.
    let c5 = log.case("c5");
    log.entry(
        c5,
        mar(6, 9, 0),
        "create",
        None,
        "registered",
        &[("holder_unit_id", json!("CTR"))],
    );
    log.entry(c5, mar(6, 10, 0), "void", Some("registered"), "void", &[]);

    // c6, R01.02.03 in S1: dispatched to A on the last morning, not yet due.
    let c6 = log.case("c6");
    log.entry(
        c6,
        mar(31, 9, 0),
        "create",
        None,
        "registered",
        &[
            ("holder_unit_id", json!("CTR")),
            ("area_unit_id", json!("S1")),
            ("category", json!("R01.02.03")),
        ],
    );
    log.entry(
        c6,
        mar(31, 10, 0),
        "dispatch",
        Some("registered"),
        "dispatched",
        &[("holder_unit_id", json!("A"))],
    );
    log.deadline(
        c6,
        "dispatched",
        mar(31, 10, 0),
        Some(t(4, 1, 10, 0)),
        Active,
        None,
    );

    // Outside the period: created on the first instant of April (the end is
    // exclusive) and on the last evening of February.
    let c7 = log.case("c7");
    log.entry(
        c7,
        t(4, 1, 0, 0),
        "create",
        None,
        "registered",
        &[("holder_unit_id", json!("A"))],
    );
    let c8 = log.case("c8");
    log.entry(
        c8,
        t(2, 28, 23, 59),
        "create",
        None,
        "registered",
        &[("holder_unit_id", json!("A"))],
    );
    log.entry(
        c8,
        mar(3, 9, 0),
        "dispatch",
        Some("registered"),
        "dispatched",
        &[("holder_unit_id", json!("A"))],
    );

    log.cases
}

fn r(numerator: u64, denominator: u64) -> Ratio {
    Ratio {
        numerator,
        denominator,
    }
}

fn run<F: Fn(&CaseFacts, Option<&str>) -> Option<String>>(key: F) -> Report {
    compute(
        &fixture(),
        march(),
        as_of(),
        &WorkCalendar::builtin(),
        requests(),
        key,
    )
    .unwrap()
}

fn group<'a>(report: &'a Report, key: Option<&str>) -> &'a Figures {
    &report
        .groups
        .iter()
        .find(|g| g.key.as_deref() == key)
        .unwrap_or_else(|| panic!("no group {key:?}"))
        .figures
}

#[test]
fn totals_match_the_hand_computation() {
    let report = run(|_, _| None);
    let f = &report.total;
    // c1..c6; c7 and c8 lie outside March.
    assert_eq!(f.count("received"), 6);
    assert_eq!(f.count("voided"), 1); // c5
    // Dispatch deadlines: c1 ✓, c2 ✓ (returned in time) ✗ (expired), c3 ✓,
    // c4 ✓; c6 still running and not due: not counted.
    assert_eq!(f.ratio("accepted_on_time"), r(4, 5));
    // Handling rounds: c1 ✓, c2 ✓, c3 ✓ ✗ ✗, c4 ✓ ✗.
    assert_eq!(f.ratio("handled_on_time"), r(4, 7));
    // Closed: c1, out of the five not void.
    assert_eq!(f.ratio("closed"), r(1, 5));
    // Dispatched: c1 c2 c3 c4 c6; returned or redone: c2, c3, c4.
    assert_eq!(f.ratio("rework"), r(3, 5));
    // Reported: c1..c4; redone: c3 (unsatisfied), c4 (verification failed).
    assert_eq!(f.ratio("redone"), r(2, 4));
    assert_eq!(f.ratio("returns"), r(1, 5));
    // Latest ratings: c1 satisfied, c2 basically, c3 unsatisfied, c4 satisfied.
    assert_eq!(f.ratio("satisfied"), r(3, 4));
    // First-round handling: 7.5, 3, 3, 5.5 h → mean 4.75 h; p90 rank ⌈3.6⌉ = 4 → 7.5 h.
    assert_eq!(f.durations("handling_time").count(), 4);
    assert_eq!(f.durations("handling_time").total(), 19 * HOUR);
    assert_eq!(f.durations("handling_time").mean(), Some(19 * HOUR / 4));
    assert_eq!(f.durations("handling_time").p90(), Some(15 * HOUR / 2));
    assert_eq!(report.groups.len(), 1);
}

#[test]
fn by_holding_unit() {
    let report = run(|_, unit| unit.map(str::to_string));
    let keys: Vec<Option<&str>> = report.groups.iter().map(|g| g.key.as_deref()).collect();
    assert_eq!(keys, vec![Some("A"), Some("B"), Some("CTR")]);
    // A holds c1, c2, c6. A dispatch counts for the unit it was dispatched
    // to: c2's first went to B (which returned it in time), its second to A.
    let a = group(&report, Some("A"));
    assert_eq!(a.count("received"), 3);
    assert_eq!(a.ratio("accepted_on_time"), r(1, 2)); // c1 ✓, c2 #2 ✗
    assert_eq!(a.ratio("handled_on_time"), r(2, 2));
    assert_eq!(a.ratio("closed"), r(1, 3));
    assert_eq!(a.ratio("rework"), r(1, 3));
    assert_eq!(a.ratio("redone"), r(0, 2));
    assert_eq!(a.ratio("returns"), r(1, 3));
    assert_eq!(a.ratio("satisfied"), r(2, 2));
    // [3, 7.5] h: mean 5.25 h, p90 rank ⌈1.8⌉ = 2 → 7.5 h.
    assert_eq!(a.durations("handling_time").mean(), Some(21 * HOUR / 4));
    assert_eq!(a.durations("handling_time").p90(), Some(15 * HOUR / 2));
    // B holds c3, c4.
    let b = group(&report, Some("B"));
    assert_eq!(b.count("received"), 2);
    assert_eq!(b.ratio("accepted_on_time"), r(3, 3)); // c2 #1, c3, c4
    assert_eq!(b.ratio("handled_on_time"), r(2, 5));
    assert_eq!(b.ratio("closed"), r(0, 2));
    assert_eq!(b.ratio("rework"), r(2, 2));
    assert_eq!(b.ratio("redone"), r(2, 2));
    assert_eq!(b.ratio("returns"), r(0, 2));
    assert_eq!(b.ratio("satisfied"), r(1, 2));
    assert_eq!(b.durations("handling_time").p90(), Some(11 * HOUR / 2));
    // The centre holds only the void c5: every rate is 0 of 0, never 100%.
    let ctr = group(&report, Some("CTR"));
    assert_eq!((ctr.count("received"), ctr.count("voided")), (1, 1));
    assert_eq!(ctr.ratio("closed"), r(0, 0));
    assert_eq!(ctr.ratio("closed").ratio(), None);
    assert_eq!(ctr.ratio("satisfied").ratio(), None);
    assert_eq!(ctr.durations("handling_time").mean(), None);
    assert_eq!(ctr.durations("handling_time").p90(), None);
}

#[test]
fn by_category_level_and_area_and_month() {
    let calendar = WorkCalendar::builtin();
    let l1 = run(|c, _| {
        c.fields
            .get("category")
            .and_then(|code| category_prefix(code, 1))
    });
    assert_eq!(group(&l1, Some("R01")).count("received"), 3); // c1 c2 c6
    assert_eq!(group(&l1, Some("R02")).count("received"), 2); // c3 c4
    assert_eq!(group(&l1, None).count("received"), 1); // c5
    // Level 3: only c1 and c6 have a third-level code.
    let l3 = run(|c, _| {
        c.fields
            .get("category")
            .and_then(|code| category_prefix(code, 3))
    });
    assert_eq!(group(&l3, Some("R01.02.03")).count("received"), 2);
    assert_eq!(group(&l3, None).count("received"), 4);
    let area = run(|c, _| c.area_unit_id.clone());
    assert_eq!(group(&area, Some("S1")).ratio("satisfied"), r(2, 2));
    assert_eq!(group(&area, Some("S2")).ratio("satisfied"), r(1, 2));
    assert_eq!(group(&area, None).count("received"), 1);
    let month = run(|c, _| month_key(c.created_at, &calendar));
    assert_eq!(month.groups.len(), 1);
    assert_eq!(group(&month, Some("2025-03")).count("received"), 6);
}

#[test]
fn figures_follow_as_of() {
    // On Tuesday 4 March 12:00 c1 is reported, c2 waits for A to accept (its
    // second dispatch, expired since, was still running: due 16:00), c3 is
    // suspended, c4 is being handled.
    let report = compute(
        &fixture(),
        march(),
        mar(4, 12, 0),
        &WorkCalendar::builtin(),
        requests(),
        |_, _| None,
    )
    .unwrap();
    let f = &report.total;
    assert_eq!(f.count("received"), 4); // c1 c2 c3 c4
    // c1 ✓, c2 #1 ✓ (#2 pending), c3 ✓, c4 ✓ (accepted at 10:00).
    assert_eq!(f.ratio("accepted_on_time"), r(4, 4));
    // Only c1's round has ended.
    assert_eq!(f.ratio("handled_on_time"), r(1, 1));
    assert_eq!(f.durations("handling_time").count(), 1);
    assert_eq!(f.ratio("closed"), r(0, 4));
    assert_eq!(f.ratio("satisfied"), r(0, 0));
}

#[test]
fn reopening_counts_as_redone() {
    let mut log = Log::default();
    let c = log.case("c");
    log.entry(
        c,
        mar(3, 9, 0),
        "create",
        None,
        "registered",
        &[("holder_unit_id", json!("A"))],
    );
    log.entry(
        c,
        mar(3, 9, 10),
        "dispatch",
        Some("registered"),
        "dispatched",
        &[],
    );
    log.entry(
        c,
        mar(3, 9, 20),
        "accept",
        Some("dispatched"),
        "in_progress",
        &[],
    );
    log.entry(
        c,
        mar(3, 9, 50),
        "report",
        Some("in_progress"),
        "reported",
        &[],
    );
    log.entry(
        c,
        mar(3, 10, 0),
        "follow_up",
        Some("reported"),
        "rated",
        &[("satisfaction", json!("satisfied"))],
    );
    log.entry(
        c,
        mar(3, 10, 10),
        "verify",
        Some("rated"),
        "verified",
        &[("verification", json!("passed"))],
    );
    log.entry(c, mar(3, 10, 20), "close", Some("verified"), "closed", &[]);
    log.entry(
        c,
        mar(3, 11, 0),
        "reopen",
        Some("closed"),
        "in_progress",
        &[],
    );
    let report = compute(
        &log.cases,
        march(),
        as_of(),
        &WorkCalendar::builtin(),
        requests(),
        |_, _| None,
    )
    .unwrap();
    let f = &report.total;
    assert_eq!(f.ratio("redone"), r(1, 1));
    assert_eq!(f.ratio("rework"), r(1, 1));
    // Reopened: no longer closed.
    assert_eq!(f.ratio("closed"), r(0, 1));
    // 09:20 → 09:50.
    assert_eq!(f.durations("handling_time").total(), HOUR / 2);
}

#[test]
fn bad_changes_are_an_error() {
    let mut log = Log::default();
    let c = log.case("c");
    log.entry(c, mar(3, 9, 0), "create", None, "registered", &[]);
    log.cases[0].entries[0].changes = "[]".into();
    let err = compute(
        &log.cases,
        march(),
        as_of(),
        &WorkCalendar::builtin(),
        requests(),
        |_, _| None,
    )
    .unwrap_err();
    assert_eq!(
        err,
        IndicatorError::BadChanges {
            case_id: "c".into(),
            seq: 0
        }
    );
}

#[test]
fn helpers() {
    assert_eq!(category_prefix("R01.02.03", 2).as_deref(), Some("R01.02"));
    assert_eq!(category_prefix("R01", 2), None);
    assert_eq!(category_prefix("R01", 0), None);
    let cal = WorkCalendar::builtin();
    // 2025-03-31 23:30 in Shanghai is still March there (15:30 UTC).
    assert_eq!(month_key(mar(31, 23, 30), &cal).as_deref(), Some("2025-03"));
    assert_eq!(month_key(t(4, 1, 0, 0), &cal).as_deref(), Some("2025-04"));
    let d = Durations {
        values: (1..=10).collect(),
    };
    assert_eq!(d.p90(), Some(9));
    let d = Durations { values: vec![5] };
    assert_eq!((d.mean(), d.p90()), (Some(5), Some(5)));
    let json = serde_json::to_value(r(1, 3)).unwrap();
    assert_eq!(
        json,
        json!({"numerator": 1, "denominator": 3, "ratio": 0.3333})
    );
    assert_eq!(serde_json::to_value(r(0, 0)).unwrap()["ratio"], Value::Null);
}

#[test]
fn date_ranges() {
    let cal = WorkCalendar::builtin();
    let range = DateRange::parse(Some("2025-03-01"), Some("2025-03-31"), 0, &cal).unwrap();
    assert_eq!(range.period(&cal), march());
    // Defaults: this month so far, in Shanghai (15 March 01:00 there is still
    // 14 March in UTC).
    let range = DateRange::parse(None, None, mar(15, 1, 0), &cal).unwrap();
    assert_eq!(
        (range.from.to_string(), range.to.to_string()),
        ("2025-03-01".into(), "2025-03-15".into())
    );
    let err = |from, to| {
        DateRange::parse(from, to, mar(15, 1, 0), &cal)
            .unwrap_err()
            .field
    };
    assert_eq!(err(Some("2025-3-01"), None), "from");
    assert_eq!(err(Some("2025-02-30"), None), "from");
    assert_eq!(err(None, Some("today")), "to");
    assert_eq!(err(Some("2025-03-16"), None), "from");
    assert_eq!(err(Some("2022-03-01"), Some("2025-03-05")), "to");
    // 1,098 days is the most.
    assert!(DateRange::parse(Some("2022-03-12"), Some("2025-03-13"), 0, &cal).is_ok());
}

// ---------------------------------------------------------------- invariants

const ACTIONS: [(&str, &str); 12] = [
    ("dispatch", "dispatched"),
    ("accept", "in_progress"),
    ("return", "returned"),
    ("suspend", "suspended"),
    ("resume", "in_progress"),
    ("report", "reported"),
    ("follow_up", "rated"),
    ("follow_up", "in_progress"),
    ("verify", "verified"),
    ("verify", "in_progress"),
    ("close", "closed"),
    ("void", "void"),
];

fn arb_history(id: usize) -> impl Strategy<Value = CaseHistory> {
    let start = mar(1, 0, 0) - 10 * 24 * HOUR;
    (
        0..45 * 24 * HOUR,
        prop::collection::vec((0..ACTIONS.len(), 0..3usize, 0..48 * HOUR), 0..12),
        prop::collection::vec(
            (
                0..4usize,
                0..4usize,
                0..200 * HOUR,
                0..200 * HOUR,
                any::<bool>(),
            ),
            0..5,
        ),
        0..3usize,
    )
        .prop_map(move |(created, steps, deadlines, holder)| {
            let units = ["A", "B", "C"];
            let ratings = ["satisfied", "basically_satisfied", "unsatisfied"];
            let mut log = Log {
                seq: (id * 100) as u64,
                cases: Vec::new(),
            };
            let c = log.case(&format!("c{id}"));
            let mut at = start + created;
            log.entry(
                c,
                at,
                "create",
                None,
                "registered",
                &[("holder_unit_id", json!(units[holder]))],
            );
            for (a, v, gap) in steps {
                at += gap;
                let (action, to) = ACTIONS[a];
                let changes: Vec<(&str, Value)> = match action {
                    "dispatch" => vec![("holder_unit_id", json!(units[v]))],
                    "follow_up" => vec![("satisfaction", json!(ratings[v]))],
                    "verify" => vec![(
                        "verification",
                        json!(if v == 0 { "failed" } else { "passed" }),
                    )],
                    _ => vec![],
                };
                log.entry(c, at, action, Some("x"), to, &changes);
            }
            for (s, st, off, len, closed) in deadlines {
                let state = ["dispatched", "in_progress", "returned", "reported"][s];
                let status = [
                    DeadlineStatus::Active,
                    DeadlineStatus::Paused,
                    DeadlineStatus::Met,
                    DeadlineStatus::Expired,
                ][st];
                let begin = start + created + off;
                log.deadline(
                    c,
                    state,
                    begin,
                    Some(begin + len),
                    status,
                    closed.then_some(begin + len / 2),
                );
            }
            log.cases.remove(0)
        })
}

fn ratios(f: &Figures) -> [Ratio; 8] {
    [
        f.ratio("accepted_on_time"),
        f.ratio("handled_on_time"),
        f.ratio("closed"),
        f.ratio("rework"),
        f.ratio("redone"),
        f.ratio("returns"),
        f.ratio("satisfied"),
        r(f.count("voided"), f.count("received")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn groups_partition_the_total_and_ratios_are_proportions(
        histories in (0..12usize).prop_flat_map(|n| (0..n).map(arb_history).collect::<Vec<_>>()),
        by_holder in any::<bool>(),
    ) {
        let cal = WorkCalendar::builtin();
        let report = compute(&histories, march(), as_of(), &cal, requests(), |c, unit| {
            if by_holder { unit.map(str::to_string) } else { month_key(c.created_at, &cal) }
        }).unwrap();
        let mut sum = Figures::default();
        for g in &report.groups {
            sum.add(&g.figures);
            for ratio in ratios(&g.figures) {
                prop_assert!(ratio.numerator <= ratio.denominator);
                if let Some(x) = ratio.ratio() {
                    prop_assert!((0.0..=1.0).contains(&x));
                }
            }
            let times = &g.figures.durations("handling_time").values;
            prop_assert!(times.iter().all(|v| *v >= 0));
            // Sorted, and the mean and p90 lie between the least and the most.
            prop_assert!(times.windows(2).all(|w| w[0] <= w[1]));
            if let (Some(lo), Some(hi)) = (times.first(), times.last()) {
                for x in [g.figures.durations("handling_time").mean(), g.figures.durations("handling_time").p90()].into_iter().flatten() {
                    prop_assert!(*lo <= x && x <= *hi);
                }
            }
        }
        prop_assert_eq!(ratios(&sum), ratios(&report.total));
        prop_assert_eq!(sum.count("received"), report.total.count("received"));
        prop_assert_eq!(sum.durations("handling_time").count(), report.total.durations("handling_time").count());
        prop_assert_eq!(sum.durations("handling_time").total(), report.total.durations("handling_time").total());
        // Cases created in the period, and nothing else, are counted.
        let inside = histories.iter().filter(|h| h.entries.first().is_some_and(|e| e.at >= march().from && e.at < march().to && e.at <= as_of())).count();
        prop_assert_eq!(report.total.count("received"), inside as u64);
    }
}
