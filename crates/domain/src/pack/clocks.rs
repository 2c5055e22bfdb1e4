//! Named clocks (`[types.<t>.clocks.<id>]`): a time limit that spans several
//! states or runs beside the states' own deadlines — a mediation's 30 days
//! across its sessions, a statutory stage clock. A clock starts when an action
//! moves the case into one of its `starts_in` states (unless it already runs)
//! and stops, met, when the case enters one of its `stops_in` states or a
//! terminal one. Suspension pauses it with the state's deadline.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Ctx, DeadlineDef, Names, StateDef, Table, check_id, entry_loc, parse_deadline};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClockDef {
    pub id: String,
    pub name: Names,
    pub deadline: DeadlineDef,
    pub starts_in: Vec<String>,
    pub stops_in: Vec<String>,
}

impl ClockDef {
    /// Whether entering `state` (declared `terminal` or not) stops the clock.
    pub fn stops_at(&self, state: &str, terminal: bool) -> bool {
        terminal || self.stops_in.iter().any(|s| s == state)
    }
}

fn state_list(
    ctx: &mut Ctx,
    t: &Table,
    key: &str,
    states: &BTreeMap<String, StateDef>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (id, loc) in t.string_list(ctx, key).unwrap_or_default() {
        if !states.contains_key(&id) {
            let msg = format!("`{key}` of {} names undeclared state `{id}`", t.what);
            ctx.err(&loc, msg);
        } else if out.contains(&id) {
            ctx.err(&loc, format!("state `{id}` is listed twice"));
        } else {
            out.push(id);
        }
    }
    out
}

/// Parses a type's `clocks`. `creation_state` is where the creation action
/// leads: a clock cannot start there (it starts with an action taken on the
/// case, where the store keeps it).
pub(super) fn parse_clocks(
    ctx: &mut Ctx,
    parent: &Table,
    type_id: &str,
    states: &BTreeMap<String, StateDef>,
    creation_state: Option<&str>,
) -> BTreeMap<String, ClockDef> {
    let mut clocks = BTreeMap::new();
    let Some(table) = parent.id_table(ctx, "clocks", false) else {
        return clocks;
    };
    for (key, node) in table.entries {
        check_id(ctx, &key.name, &key.span, "clock id");
        let what = format!("clock `{}` of type `{type_id}`", key.name);
        let Some(t) = Table::new(ctx, node, entry_loc(key, node), what) else {
            continue;
        };
        t.check_keys(ctx, &["name", "deadline", "starts_in", "stops_in"]);
        let name = t.names(ctx, "name");
        let deadline = match t.get("deadline") {
            Some((k, n)) => {
                parse_deadline(ctx, n, entry_loc(k, n), format!("`deadline` of {}", t.what))
            }
            None => {
                t.missing(ctx, "deadline");
                None
            }
        };
        let starts_in = state_list(ctx, &t, "starts_in", states);
        let stops_in = state_list(ctx, &t, "stops_in", states);
        if starts_in.is_empty() {
            ctx.err(
                &t.loc,
                format!("{} starts in no state (`starts_in`)", t.what),
            );
        }
        for s in &starts_in {
            if stops_in.contains(s) {
                ctx.err(
                    &t.loc,
                    format!("{} both starts and stops in state `{s}`", t.what),
                );
            }
            if states.get(s).is_some_and(|d| d.terminal) {
                ctx.err(
                    &t.loc,
                    format!("{} cannot start in terminal state `{s}`", t.what),
                );
            }
            if Some(s.as_str()) == creation_state {
                ctx.err(
                    &t.loc,
                    format!(
                        "{} cannot start in `{s}`, where cases are registered: start it in a state an action leads to",
                        t.what
                    ),
                );
            }
        }
        if let (Some(name), Some(deadline)) = (name, deadline) {
            clocks.insert(
                key.name.clone(),
                ClockDef {
                    id: key.name.clone(),
                    name,
                    deadline,
                    starts_in,
                    stops_in,
                },
            );
        }
    }
    clocks
}

#[cfg(test)]
mod tests {
    use crate::pack::{PackSet, with_test_roles};

    const PACK: &str = r#"id = "p"
version = "1"
name = "p"

[types.t]
name = "t"

[types.t.states.open]
name = "open"

[types.t.states.work]
name = "work"

[types.t.states.done]
name = "done"
terminal = true

[types.t.actions.create]
name = "c"
from = []
to = "open"
roles = ["operator"]

[types.t.actions.start]
name = "s"
from = ["open"]
to = "work"
roles = ["handler"]

[types.t.actions.finish]
name = "f"
from = ["work"]
to = "done"
roles = ["handler"]
"#;

    fn load(clocks: &str) -> Result<PackSet, String> {
        let text = with_test_roles(&format!("{PACK}{clocks}"));
        PackSet::from_sources(&[("p.toml".into(), text)]).map_err(|e| e.to_string())
    }

    #[test]
    fn a_clock_starts_in_a_state_an_action_leads_to_and_stops_at_the_end() {
        let set = load(
            "\n[types.t.clocks.stage]\nname = \"阶段\"\ndeadline = { amount = 2, unit = \"calendar_months\" }\nstarts_in = [\"work\"]\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let clock = &set.case_type("p", "t").unwrap().clocks["stage"];
        assert_eq!(clock.deadline.rule.to_string(), "2 calendar_months");
        assert!(clock.stops_at("done", true));
        assert!(!clock.stops_at("work", false));
    }

    #[test]
    fn a_clock_naming_what_is_not_there_is_refused_with_its_place() {
        let e = load(
            "\n[types.t.clocks.bad]\nname = \"坏\"\nstarts_in = [\"open\", \"nowhere\"]\nstops_in = [\"open\"]\n",
        )
        .unwrap_err();
        for says in [
            "p.toml:36:1: clock `bad` of type `t` is missing `deadline`",
            "p.toml:38:22: `starts_in` of clock `bad` of type `t` names undeclared state `nowhere`",
            "clock `bad` of type `t` both starts and stops in state `open`",
            "clock `bad` of type `t` cannot start in `open`, where cases are registered",
        ] {
            assert!(e.contains(says), "{says}\n in:\n{e}");
        }
    }
}
