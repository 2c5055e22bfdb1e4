//! How a deadline is computed when it opens: the rules in force (packs,
//! calendar, category limits), the case's category and urgency, the due and
//! warning times. Kept below the case code so that clocks and records open
//! their limits the same way without depending on it.

use serde_json::{Map, Value};

use gongzhi_domain::calendar::WorkCalendar;
use gongzhi_domain::duration::DurationRule;
use gongzhi_domain::ids::new_id;
use gongzhi_domain::pack::{CaseType, CategoryDeadlines, DeadlineDef, EscalateTo, Expiry, PackSet};
use gongzhi_domain::time::Micros;

/// The rules an action is decided under: the loaded packs and the calendar.
#[derive(Clone, Copy)]
pub struct Rules<'a> {
    pub packs: &'a PackSet,
    pub calendar: &'a WorkCalendar,
    pub categories: &'a dyn CategoryDeadlines,
}

/// The warning time: `ratio` of the way from the start to the due time.
pub(crate) fn warn_time(start: Micros, due: Micros, ratio: f64) -> Micros {
    start + ((due - start) as f64 * ratio).round() as i64
}

/// How an expiry is stored in a deadline row.
pub(crate) fn expiry_text(expiry: &Expiry) -> String {
    match expiry {
        Expiry::Warn => "warn".into(),
        Expiry::MarkOverdue => "mark_overdue".into(),
        Expiry::Escalate(EscalateTo::Parent) => "escalate:parent".into(),
        Expiry::Escalate(EscalateTo::Unit(code)) => format!("escalate:{code}"),
    }
}

/// What of a case picks its deadline rules: its category and urgency, read
/// through the type's category field and bound urgency field.
#[derive(Clone, Copy, Default)]
pub(crate) struct DeadlineBasis<'a> {
    category: Option<&'a str>,
    urgency: Option<&'a str>,
}

impl<'a> DeadlineBasis<'a> {
    pub(crate) fn of(case_type: &CaseType, fields: &'a Map<String, Value>) -> Self {
        DeadlineBasis {
            category: case_type.category_of(fields),
            urgency: CaseType::text_of(case_type.bindings.urgency.as_deref(), fields),
        }
    }
}

/// The rule a state's deadline runs on for this case: the category's own
/// (for its urgency) when the state asks for one and the category has it.
fn effective_rule(rules: Rules<'_>, def: &DeadlineDef, basis: DeadlineBasis<'_>) -> DurationRule {
    match (&def.category_rule, basis.category) {
        (Some(kind), Some(category)) => rules
            .categories
            .deadline(category, kind, basis.urgency)
            .unwrap_or(def.rule),
        _ => def.rule,
    }
}

/// The deadline a state opens at `at`, computed on the calendar with the
/// case category's own rule where the state asks for one.
pub(crate) fn prepare_deadline(
    rules: Rules<'_>,
    def: &DeadlineDef,
    state: &str,
    basis: DeadlineBasis<'_>,
    at: Micros,
) -> PreparedDeadline {
    let rule = effective_rule(rules, def, basis);
    deadline_on_rule(rules.calendar, def, rule, state, at)
}

/// The deadline `def` opens at `at` when it runs on `rule`.
pub(crate) fn deadline_on_rule(
    calendar: &WorkCalendar,
    def: &DeadlineDef,
    rule: DurationRule,
    state: &str,
    at: Micros,
) -> PreparedDeadline {
    let due = calendar.due(at, rule);
    PreparedDeadline {
        id: new_id(),
        state: state.to_string(),
        rule: rule.to_string(),
        calendar_version: calendar.version(),
        due_at: due.at,
        warn_ratio: def.warn_at,
        warn_at: def.warn_at.map(|ratio| warn_time(at, due.at, ratio)),
        provisional: due.provisional,
        on_expiry: expiry_text(&def.on_expiry),
    }
}

pub(crate) struct PreparedDeadline {
    pub id: String,
    pub state: String,
    pub rule: String,
    pub calendar_version: String,
    pub due_at: Micros,
    pub warn_ratio: Option<f64>,
    pub warn_at: Option<Micros>,
    pub provisional: bool,
    pub on_expiry: String,
}
