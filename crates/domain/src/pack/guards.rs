//! Guards: conditions on a case's wider record that an action needs, beyond
//! its own fields and state. The store checks them before acting and refuses
//! with the guard's name and the reason in words.
//!
//! An action declares them with `guards = ["assists_done"]`, `within_clock =
//! "<clock>"` (the named clock is running and its time has not run out: a
//! judicial confirmation applied for within 30 days of the agreement) and
//! `requires_record = { kind = "<record kind>", state = "<record state>" }`
//! (the case holds such a record: a mediation agreement both parties
//! confirmed) and `requires_link = "<link kind>"` (the case is the source of
//! such a link: a request converted into a dispute that names it as origin).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{ClockDef, Ctx, Loc, RecordDef, Table, entry_loc};

/// Preconditions that need more than the case's own fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Guard {
    /// Every assisting unit has reported or been released.
    AssistsDone,
    /// The named clock runs and its due time has not passed.
    WithinClock { clock: String },
    /// The case holds a record of `kind`, in `state` when one is named.
    HasRecord { kind: String, state: Option<String> },
    /// The case is the source of a live link of this kind (converted to,
    /// referred to, duplicate of, related to another case).
    HasLink { kind: crate::link::LinkKind },
}

impl Guard {
    /// The guard's name in refusals.
    pub fn name(&self) -> &'static str {
        match self {
            Guard::AssistsDone => "assists_done",
            Guard::WithinClock { .. } => "within_clock",
            Guard::HasRecord { .. } => "requires_record",
            Guard::HasLink { .. } => "requires_link",
        }
    }
}

/// Reads an action's guards. Names of clocks and records are checked later,
/// once the type's clocks and records are known (see `check_refs`).
pub(super) fn parse_guards(ctx: &mut Ctx, t: &Table) -> Vec<(Guard, Loc)> {
    let mut guards = Vec::new();
    for (g, gloc) in t.string_list(ctx, "guards").unwrap_or_default() {
        match g.as_str() {
            "assists_done" => guards.push((Guard::AssistsDone, gloc)),
            other => ctx.err(
                &gloc,
                format!(
                    "unknown guard `{other}` (expected assists_done; clocks and records \
                     are guarded with `within_clock` and `requires_record`)"
                ),
            ),
        }
    }
    if let Some((clock, loc)) = t.string(ctx, "within_clock", false) {
        guards.push((Guard::WithinClock { clock }, loc));
    }
    if let Some((kind, loc)) = t.string(ctx, "requires_link", false) {
        match crate::link::LinkKind::parse(&kind) {
            Some(kind) => guards.push((Guard::HasLink { kind }, loc)),
            None => {
                let known: Vec<&str> = crate::link::LinkKind::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .collect();
                let msg = format!(
                    "unknown link kind `{kind}` (expected one of: {})",
                    known.join(", ")
                );
                ctx.err(&loc, msg);
            }
        }
    }
    if let Some((key, node)) = t.get("requires_record") {
        let what = format!("`requires_record` of {}", t.what);
        if let Some(rt) = Table::new(ctx, node, entry_loc(key, node), what) {
            rt.check_keys(ctx, &["kind", "state"]);
            let kind = rt.string(ctx, "kind", true);
            let state = rt.string(ctx, "state", false).map(|(s, _)| s);
            if let Some((kind, _)) = kind {
                guards.push((Guard::HasRecord { kind, state }, rt.loc.clone()));
            }
        }
    }
    guards
}

/// Checks that the guards of a type's actions name its declared clocks,
/// record kinds and record states.
pub(super) fn check_refs(
    ctx: &mut Ctx,
    type_id: &str,
    pending: &[(String, Guard, Loc)],
    clocks: &BTreeMap<String, ClockDef>,
    records: &BTreeMap<String, RecordDef>,
) {
    for (action, guard, loc) in pending {
        match guard {
            Guard::AssistsDone | Guard::HasLink { .. } => {}
            Guard::WithinClock { clock } => {
                if !clocks.contains_key(clock) {
                    ctx.err(
                        loc,
                        format!(
                            "`within_clock` of action `{action}` names undeclared clock \
                             `{clock}` of type `{type_id}`"
                        ),
                    );
                }
            }
            Guard::HasRecord { kind, state } => match records.get(kind) {
                None => ctx.err(
                    loc,
                    format!(
                        "`requires_record` of action `{action}` names undeclared record \
                         kind `{kind}` of type `{type_id}`"
                    ),
                ),
                Some(def) => {
                    if let Some(state) = state
                        && !def.states.contains_key(state)
                    {
                        ctx.err(
                            loc,
                            format!(
                                "`requires_record` of action `{action}` names state \
                                 `{state}`, which record kind `{kind}` does not declare"
                            ),
                        );
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::pack::{Guard, PackSet, with_test_roles};

    const MEDIATION: &str = include_str!("../../../../packs/mediation/pack.toml");

    const PACK: &str = r#"id = "p"
version = "1"
name = "p"

[types.t]
name = "t"

[types.t.states.open]
name = "open"

[types.t.states.agreed]
name = "agreed"

[types.t.states.done]
name = "done"
terminal = true

[types.t.clocks.window]
name = "window"
deadline = { amount = 30, unit = "calendar_days", on_expiry = "warn" }
starts_in = ["agreed"]

[types.t.records.paper]
name = "paper"
roles = ["handler"]
initial = "draft"

[types.t.records.paper.fields.text]
kind = "text"
label = "text"

[types.t.records.paper.states.draft]
name = "draft"

[types.t.records.paper.states.signed]
name = "signed"
terminal = true

[types.t.records.paper.actions.sign]
name = "sign"
from = ["draft"]
to = "signed"
roles = ["handler"]

[types.t.actions.create]
name = "c"
from = []
to = "open"
roles = ["operator"]

[types.t.actions.agree]
name = "a"
from = ["open"]
to = "agreed"
roles = ["handler"]
GUARD_A

[types.t.actions.finish]
name = "f"
from = ["agreed"]
to = "done"
roles = ["handler"]
GUARD_F
"#;

    fn load(a: &str, f: &str) -> Result<PackSet, Vec<String>> {
        let text = PACK.replace("GUARD_A", a).replace("GUARD_F", f);
        PackSet::from_sources(&[("p.toml".to_owned(), with_test_roles(&text))])
            .map_err(|e| e.0.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn guards_on_clocks_and_records_load() {
        let set = load(
            r#"requires_record = { kind = "paper", state = "signed" }"#,
            r#"within_clock = "window""#,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let t = set.case_type("p", "t").unwrap();
        assert_eq!(
            t.actions["agree"].guards,
            [Guard::HasRecord {
                kind: "paper".into(),
                state: Some("signed".into())
            }]
        );
        assert_eq!(
            t.actions["finish"].guards,
            [Guard::WithinClock {
                clock: "window".into()
            }]
        );
    }

    #[test]
    fn guards_naming_what_is_not_declared_are_reported_with_their_place() {
        let problems = load(
            r#"requires_record = { kind = "paper", state = "burnt" }"#,
            "within_clock = \"nope\"\nguards = [\"sunny\"]",
        )
        .unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("state `burnt`")));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("undeclared clock `nope`"))
        );
        assert!(problems.iter().any(|p| p.contains("unknown guard `sunny`")));
        // Each names its place in the file.
        assert!(problems.iter().all(|p| p.starts_with("p.toml:")));
        let problems = load(r#"requires_record = { kind = "letter" }"#, "").unwrap_err();
        assert!(
            problems[0].contains("undeclared record kind `letter`"),
            "{problems:?}"
        );
    }

    #[test]
    fn the_mediation_pack_guards_its_agreement_and_its_confirmation_window() {
        let set = PackSet::from_sources(&[("mediation.toml".to_owned(), MEDIATION.to_owned())])
            .unwrap_or_else(|e| panic!("{e}"));
        let dispute = set.case_type("mediation", "dispute").unwrap();
        assert_eq!(
            dispute.actions["reach_agreement"].guards,
            [Guard::HasRecord {
                kind: "agreement".into(),
                state: Some("effective".into())
            }]
        );
        assert_eq!(
            dispute.actions["apply_confirmation"].guards,
            [Guard::WithinClock {
                clock: "confirmation".into()
            }]
        );
        assert_eq!(dispute.clocks["mediation"].starts_in, ["mediating"]);
        assert_eq!(dispute.bindings.assignee.as_deref(), Some("mediator"));
    }
}
