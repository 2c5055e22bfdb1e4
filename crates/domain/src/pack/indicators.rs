//! Indicators declared by a pack (`[types.<t>.indicators.<id>]`): the figures
//! its dashboard shows, as data. Each is a count of cases, a rate of cases
//! (those that meet one condition out of those that meet another), a share
//! of deadlines kept, or a duration between two events of a case. Conditions
//! and events name the type's own states, actions, fields and clocks, and
//! are checked against them at load. `gongzhi_domain::indicators` computes
//! them from the log.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{ClockDef, Ctx, FieldDef, FieldKind, Loc, Names, Node, Raw, StateDef, Table};
use super::{check_id, entry_loc, parse_names};

/// How deep `any` / `all` / `not` may nest: deeper is a mistake, not a need.
const MAX_CONDITION_DEPTH: usize = 6;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndicatorDef {
    pub id: String,
    pub name: Names,
    /// In words, for the dashboard's notes and the API.
    pub definition: Option<Names>,
    pub measure: Measure,
    /// Shown on the public statistics page (counts and rates only).
    pub public: bool,
    /// Drawn as a chart on the dashboard.
    pub chart: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "measure", rename_all = "snake_case")]
pub enum Measure {
    /// Cases created in the period (that meet `filter`, when given).
    Count { filter: Option<Condition> },
    /// Of the cases that meet `of` (all, when absent), the share that meet `hit`.
    Rate {
        of: Option<Condition>,
        hit: Condition,
    },
    /// Deadlines of a state or a named clock, kept out of decided.
    Deadlines { target: DeadlineTarget },
    /// Time from one event of a case to another (first occurrences), where
    /// both happened; with `in_state`, only the time spent in that state.
    Duration {
        from: Event,
        to: Event,
        in_state: Option<String>,
        basis: TimeBasis,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineTarget {
    State(String),
    Clock(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Created,
    Entered(String),
    Did(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeBasis {
    Calendar,
    /// Office hours of the instance's working calendar.
    Office,
}

/// What is true of a case as the log stands at the time of the question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    /// Its state is one of these.
    State(Vec<String>),
    /// It has been in one of these states (it may have left).
    Reached(Vec<String>),
    /// One of these actions has been taken on it.
    Did(Vec<String>),
    /// The field's value now is one of these.
    FieldIn {
        field: String,
        values: Vec<String>,
    },
    /// The field has held one of these values at some point.
    FieldEverIn {
        field: String,
        values: Vec<String>,
    },
    /// The field has a value now.
    FieldSet(String),
    Any(Vec<Condition>),
    All(Vec<Condition>),
    Not(Box<Condition>),
}

/// What a type declares, for checking the names its indicators use.
pub(super) struct Declared<'a> {
    pub type_id: &'a str,
    pub states: &'a BTreeMap<String, StateDef>,
    pub action_ids: &'a BTreeSet<String>,
    pub fields: &'a BTreeMap<String, FieldDef>,
    pub clocks: &'a BTreeMap<String, ClockDef>,
}

const KEYS: &[&str] = &[
    "name",
    "definition",
    "measure",
    "where",
    "of",
    "hit",
    "state",
    "clock",
    "from",
    "to",
    "in_state",
    "time",
    "public",
    "chart",
];

/// Parses a type's `indicators`, in the order they are declared.
pub(super) fn parse_indicators(
    ctx: &mut Ctx,
    parent: &Table,
    declared: &Declared,
) -> Vec<IndicatorDef> {
    let mut out = Vec::new();
    let Some(table) = parent.id_table(ctx, "indicators", false) else {
        return out;
    };
    for (key, node) in table.entries {
        check_id(ctx, &key.name, &key.span, "indicator id");
        let what = format!("indicator `{}` of type `{}`", key.name, declared.type_id);
        let Some(t) = Table::new(ctx, node, entry_loc(key, node), what) else {
            continue;
        };
        t.check_keys(ctx, KEYS);
        let name = t.names(ctx, "name");
        let definition = t.get("definition").and_then(|(k, n)| {
            parse_names(
                ctx,
                n,
                entry_loc(k, n),
                format!("`definition` of {}", t.what),
            )
        });
        let public = t.boolean(ctx, "public").unwrap_or(false);
        let chart = t.boolean(ctx, "chart").unwrap_or(false);
        let measure = parse_measure(ctx, &t, declared);
        let duration = matches!(t.get("measure"), Some((_, n)) if matches!(&n.value, Raw::Str(m) if m == "duration"));
        if public && duration {
            ctx.err(
                &t.loc,
                format!("{} is a duration and cannot be public", t.what),
            );
        }
        if let (Some(name), Some(measure)) = (name, measure) {
            out.push(IndicatorDef {
                id: key.name.clone(),
                name,
                definition,
                measure,
                public,
                chart,
            });
        }
    }
    out
}

/// Keys that belong to each measure; any other measure key is a mistake.
const MEASURE_KEYS: &[(&str, &[&str])] = &[
    ("count", &["where"]),
    ("rate", &["of", "hit"]),
    ("deadlines", &["state", "clock"]),
    ("duration", &["from", "to", "in_state", "time"]),
];

fn parse_measure(ctx: &mut Ctx, t: &Table, d: &Declared) -> Option<Measure> {
    let (measure, loc) = t.string(ctx, "measure", true)?;
    let Some((_, own)) = MEASURE_KEYS.iter().find(|(m, _)| *m == measure) else {
        let known: Vec<&str> = MEASURE_KEYS.iter().map(|(m, _)| *m).collect();
        let msg = format!(
            "unknown measure `{measure}` in {} (expected one of: {})",
            t.what,
            known.join(", ")
        );
        ctx.err(&loc, msg);
        return None;
    };
    for (m, keys) in MEASURE_KEYS.iter().filter(|(m, _)| *m != measure) {
        for k in keys.iter().filter(|k| !own.contains(k)) {
            if let Some((key, node)) = t.get(k) {
                let msg = format!(
                    "`{k}` belongs to measure `{m}`, not `{measure}` ({})",
                    t.what
                );
                ctx.err(&entry_loc(key, node), msg);
            }
        }
    }
    let condition = |ctx: &mut Ctx, key: &str| {
        t.get(key).map(|(k, n)| {
            let what = format!("`{key}` of {}", t.what);
            parse_condition(ctx, n, entry_loc(k, n), &what, d, 0)
        })
    };
    match measure.as_str() {
        "count" => {
            let filter = condition(ctx, "where");
            match filter {
                Some(None) => None,
                Some(Some(c)) => Some(Measure::Count { filter: Some(c) }),
                None => Some(Measure::Count { filter: None }),
            }
        }
        "rate" => {
            let of = condition(ctx, "of");
            let hit = condition(ctx, "hit");
            if hit.is_none() {
                t.missing(ctx, "hit");
            }
            match (of, hit) {
                (Some(None), _) | (_, None) | (_, Some(None)) => None,
                (of, Some(Some(hit))) => Some(Measure::Rate {
                    of: of.flatten(),
                    hit,
                }),
            }
        }
        "deadlines" => parse_deadlines(ctx, t, d),
        _ => parse_duration(ctx, t, d),
    }
}

fn parse_deadlines(ctx: &mut Ctx, t: &Table, d: &Declared) -> Option<Measure> {
    let state = t.string(ctx, "state", false);
    let clock = t.string(ctx, "clock", false);
    let target = match (state, clock) {
        (Some((s, loc)), None) => {
            known_state(ctx, d, &s, &loc).then_some(DeadlineTarget::State(s))?
        }
        (None, Some((c, loc))) => {
            if !d.clocks.contains_key(&c) {
                let msg = format!("{} names undeclared clock `{c}`", t.what);
                ctx.err(&loc, msg);
                return None;
            }
            DeadlineTarget::Clock(c)
        }
        _ => {
            let msg = format!("{} needs exactly one of `state` and `clock`", t.what);
            ctx.err(&t.loc, msg);
            return None;
        }
    };
    Some(Measure::Deadlines { target })
}

fn parse_duration(ctx: &mut Ctx, t: &Table, d: &Declared) -> Option<Measure> {
    let event = |ctx: &mut Ctx, key: &str| {
        t.get(key).map(|(k, n)| {
            let what = format!("`{key}` of {}", t.what);
            parse_event(ctx, n, entry_loc(k, n), &what, d)
        })
    };
    let from = event(ctx, "from").unwrap_or(Some(Event::Created));
    let to = event(ctx, "to");
    if to.is_none() {
        t.missing(ctx, "to");
    }
    let in_state = t
        .string(ctx, "in_state", false)
        .map(|(s, loc)| known_state(ctx, d, &s, &loc).then_some(s));
    let basis = match t.string(ctx, "time", false) {
        None => Some(TimeBasis::Calendar),
        Some((b, _)) if b == "calendar" => Some(TimeBasis::Calendar),
        Some((b, _)) if b == "office" => Some(TimeBasis::Office),
        Some((b, loc)) => {
            let msg = format!(
                "unknown time `{b}` in {} (expected calendar or office)",
                t.what
            );
            ctx.err(&loc, msg);
            None
        }
    };
    Some(Measure::Duration {
        from: from?,
        to: to.flatten()?,
        in_state: match in_state {
            Some(s) => Some(s?),
            None => None,
        },
        basis: basis?,
    })
}

fn known_state(ctx: &mut Ctx, d: &Declared, state: &str, loc: &Loc) -> bool {
    let known = d.states.contains_key(state);
    if !known {
        let msg = format!("type `{}` declares no state `{state}`", d.type_id);
        ctx.err(loc, msg);
    }
    known
}

fn parse_event(ctx: &mut Ctx, node: &Node, loc: Loc, what: &str, d: &Declared) -> Option<Event> {
    if let Raw::Str(s) = &node.value {
        if s == "created" {
            return Some(Event::Created);
        }
        ctx.err(&loc, format!("{what} must be \"created\", {{ entered = \"<state>\" }} or {{ did = \"<action>\" }}"));
        return None;
    }
    let t = Table::new(ctx, node, loc, what.to_owned())?;
    t.check_keys(ctx, &["entered", "did"]);
    match (t.string(ctx, "entered", false), t.string(ctx, "did", false)) {
        (Some((s, sloc)), None) => known_state(ctx, d, &s, &sloc).then_some(Event::Entered(s)),
        (None, Some((a, aloc))) => {
            if d.action_ids.contains(&a) {
                Some(Event::Did(a))
            } else {
                let msg = format!("type `{}` declares no action `{a}`", d.type_id);
                ctx.err(&aloc, msg);
                None
            }
        }
        _ => {
            ctx.err(
                &t.loc,
                format!("{what} needs exactly one of `entered` and `did`"),
            );
            None
        }
    }
}

const CONDITION_KEYS: &[&str] = &[
    "state", "reached", "did", "field", "in", "ever_in", "set", "any", "all", "not",
];

/// Parses one condition; `None` after reporting what is wrong with it.
fn parse_condition(
    ctx: &mut Ctx,
    node: &Node,
    loc: Loc,
    what: &str,
    d: &Declared,
    depth: usize,
) -> Option<Condition> {
    if depth > MAX_CONDITION_DEPTH {
        ctx.err(
            &loc,
            format!("{what} nests deeper than {MAX_CONDITION_DEPTH} levels"),
        );
        return None;
    }
    let t = Table::new(ctx, node, loc, what.to_owned())?;
    t.check_keys(ctx, CONDITION_KEYS);
    let heads: Vec<&str> = ["state", "reached", "did", "field", "any", "all", "not"]
        .into_iter()
        .filter(|k| t.get(k).is_some())
        .collect();
    let [head] = heads.as_slice() else {
        let msg = format!(
            "{what} needs exactly one of `state`, `reached`, `did`, `field`, `any`, `all`, `not`"
        );
        ctx.err(&t.loc, msg);
        return None;
    };
    match *head {
        "state" | "reached" => {
            let states = name_list(ctx, &t, head, "state", |s| d.states.contains_key(s), d)?;
            Some(if *head == "state" {
                Condition::State(states)
            } else {
                Condition::Reached(states)
            })
        }
        "did" => {
            name_list(ctx, &t, "did", "action", |a| d.action_ids.contains(a), d).map(Condition::Did)
        }
        "field" => parse_field_condition(ctx, &t, d),
        "not" => {
            let (k, n) = t.get("not")?;
            let inner = parse_condition(ctx, n, entry_loc(k, n), what, d, depth + 1)?;
            Some(Condition::Not(Box::new(inner)))
        }
        _ => {
            let (k, n) = t.get(head)?;
            let Raw::Array(items) = &n.value else {
                let msg = format!("`{head}` in {what} must be an array of conditions");
                ctx.err(&entry_loc(k, n), msg);
                return None;
            };
            if items.is_empty() {
                ctx.err(&entry_loc(k, n), format!("`{head}` in {what} is empty"));
                return None;
            }
            let mut all_ok = true;
            let mut inner = Vec::new();
            for item in items {
                let item_loc = item.span.clone().or_else(|| entry_loc(k, n));
                match parse_condition(ctx, item, item_loc, what, d, depth + 1) {
                    Some(c) => inner.push(c),
                    None => all_ok = false,
                }
            }
            all_ok.then(|| {
                if *head == "any" {
                    Condition::Any(inner)
                } else {
                    Condition::All(inner)
                }
            })
        }
    }
}

/// A non-empty list of declared names under `key`.
fn name_list(
    ctx: &mut Ctx,
    t: &Table,
    key: &str,
    noun: &str,
    declared: impl Fn(&str) -> bool,
    d: &Declared,
) -> Option<Vec<String>> {
    let items = t.string_list(ctx, key).unwrap_or_default();
    if items.is_empty() {
        ctx.err(&t.loc, format!("`{key}` in {} lists nothing", t.what));
        return None;
    }
    let mut ok = true;
    for (name, loc) in &items {
        if !declared(name) {
            let msg = format!("type `{}` declares no {noun} `{name}`", d.type_id);
            ctx.err(loc, msg);
            ok = false;
        }
    }
    ok.then(|| items.into_iter().map(|(n, _)| n).collect())
}

fn parse_field_condition(ctx: &mut Ctx, t: &Table, d: &Declared) -> Option<Condition> {
    let (field, floc) = t.string(ctx, "field", true)?;
    let Some(def) = d.fields.get(&field) else {
        let msg = format!("type `{}` declares no field `{field}`", d.type_id);
        ctx.err(&floc, msg);
        return None;
    };
    let tests: Vec<&str> = ["in", "ever_in", "set"]
        .into_iter()
        .filter(|k| t.get(k).is_some())
        .collect();
    let [test] = tests.as_slice() else {
        let msg = format!("{} needs exactly one of `in`, `ever_in` and `set`", t.what);
        ctx.err(&t.loc, msg);
        return None;
    };
    if *test == "set" {
        return match t.boolean(ctx, "set") {
            Some(true) => Some(Condition::FieldSet(field)),
            Some(false) => {
                let msg = format!(
                    "write `not = {{ field = \"{field}\", set = true }}` for an unset field"
                );
                ctx.err(&t.loc, msg);
                None
            }
            None => None,
        };
    }
    let values = t.string_list(ctx, test).unwrap_or_default();
    if values.is_empty() {
        ctx.err(&t.loc, format!("`{test}` in {} lists nothing", t.what));
        return None;
    }
    let mut ok = true;
    if let FieldKind::Choice { options } = &def.kind {
        for (v, loc) in &values {
            if !options.iter().any(|o| &o.value == v) {
                ctx.err(loc, format!("field `{field}` has no option `{v}`"));
                ok = false;
            }
        }
    }
    let values: Vec<String> = values.into_iter().map(|(v, _)| v).collect();
    ok.then(|| {
        if *test == "in" {
            Condition::FieldIn { field, values }
        } else {
            Condition::FieldEverIn { field, values }
        }
    })
}
