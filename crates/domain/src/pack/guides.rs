//! Guides (`[guides.<id>]`): a pack's guided self-help before anyone files a
//! case. A guide asks questions; each answer leads to the next step, and the
//! path ends in plain-language information with the options the person has
//! (and, where it helps, an offer to file). Online tribunals begin every
//! dispute like this, so that people learn where they stand first.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{Ctx, Loc, Names, Node, Raw, Table, check_id, entry_loc, parse_names};

/// Most steps in one guide: a guide is read by a person, not searched.
pub const MAX_STEPS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuideDef {
    pub id: String,
    pub name: Names,
    /// What the guide is for, shown before the first question.
    pub intro: Option<Names>,
    pub start: String,
    pub steps: BTreeMap<String, GuideStep>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuideStep {
    pub id: String,
    /// The question, or at the end the information.
    pub text: Names,
    /// Where each answer leads; none at an end.
    pub answers: Vec<GuideAnswer>,
    /// At an end: what the person can do, one line each.
    pub options: Vec<Names>,
    /// At an end: offer to file a request (the public portal).
    pub file: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GuideAnswer {
    pub label: Names,
    pub next: String,
}

impl GuideStep {
    pub fn is_end(&self) -> bool {
        self.answers.is_empty()
    }
}

pub(super) fn parse_guides(ctx: &mut Ctx, top: &Table) -> BTreeMap<String, GuideDef> {
    let mut guides = BTreeMap::new();
    let Some(table) = top.id_table(ctx, "guides", false) else {
        return guides;
    };
    for (key, node) in table.entries {
        check_id(ctx, &key.name, &key.span, "guide id");
        let what = format!("guide `{}`", key.name);
        let Some(t) = Table::new(ctx, node, entry_loc(key, node), what) else {
            continue;
        };
        t.check_keys(ctx, &["name", "intro", "start", "steps"]);
        let name = t.names(ctx, "name");
        let intro = t.get("intro").and_then(|(k, n)| {
            parse_names(ctx, n, entry_loc(k, n), format!("`intro` of {}", t.what))
        });
        let start = t.string(ctx, "start", true);
        let mut steps = BTreeMap::new();
        let mut next_locs = Vec::new();
        if let Some(st) = t.id_table(ctx, "steps", true) {
            if st.entries.len() > MAX_STEPS {
                ctx.err(
                    &st.loc,
                    format!("{} has more than {MAX_STEPS} steps", t.what),
                );
            }
            for (sk, snode) in st.entries {
                if let Some((step, locs)) = parse_step(ctx, &t.what, sk, snode) {
                    next_locs.extend(locs);
                    steps.insert(step.id.clone(), step);
                }
            }
        }
        let mut ok = true;
        for (next, loc) in &next_locs {
            if !steps.contains_key(next) {
                ctx.err(
                    loc,
                    format!("an answer in {} leads to undeclared step `{next}`", t.what),
                );
                ok = false;
            }
        }
        let Some((start, start_loc)) = start else {
            continue;
        };
        if !steps.contains_key(&start) {
            ctx.err(
                &start_loc,
                format!("`start` of {} names undeclared step `{start}`", t.what),
            );
            continue;
        }
        if ok {
            check_paths(ctx, &t, &start, &steps);
        }
        if let Some(name) = name {
            guides.insert(
                key.name.clone(),
                GuideDef {
                    id: key.name.clone(),
                    name,
                    intro,
                    start,
                    steps,
                },
            );
        }
    }
    guides
}

/// One step, and where each of its answers leads (for checking).
fn parse_step(
    ctx: &mut Ctx,
    guide: &str,
    key: &super::Key,
    node: &Node,
) -> Option<(GuideStep, Vec<(String, Loc)>)> {
    check_id(ctx, &key.name, &key.span, "step id");
    let what = format!("step `{}` of {guide}", key.name);
    let t = Table::new(ctx, node, entry_loc(key, node), what)?;
    t.check_keys(ctx, &["text", "answers", "options", "file"]);
    let text = t.names(ctx, "text");
    let mut answers = Vec::new();
    let mut nexts = Vec::new();
    for (item, loc) in array(ctx, &t, "answers") {
        let Some(at) = Table::new(ctx, item, loc, format!("an answer of {}", t.what)) else {
            continue;
        };
        at.check_keys(ctx, &["label", "next"]);
        let label = at.names(ctx, "label");
        if let (Some(label), Some((next, nloc))) = (label, at.string(ctx, "next", true)) {
            nexts.push((next.clone(), nloc));
            answers.push(GuideAnswer { label, next });
        }
    }
    let mut options = Vec::new();
    for (item, loc) in array(ctx, &t, "options") {
        if let Some(n) = parse_names(ctx, item, loc, format!("an option of {}", t.what)) {
            options.push(n);
        }
    }
    let file = t.boolean(ctx, "file").unwrap_or(false);
    if !answers.is_empty() && (file || !options.is_empty()) {
        ctx.err(
            &t.loc,
            format!(
                "{} asks a question, so it cannot also end the guide (`options`, `file`)",
                t.what
            ),
        );
    }
    let step = GuideStep {
        id: key.name.clone(),
        text: text?,
        answers,
        options,
        file,
    };
    Some((step, nexts))
}

/// The items of an optional array under `key`, each with its place.
fn array<'a>(ctx: &mut Ctx, t: &Table<'a>, key: &str) -> Vec<(&'a Node, Loc)> {
    let Some((k, node)) = t.get(key) else {
        return Vec::new();
    };
    let loc = entry_loc(k, node);
    match &node.value {
        Raw::Array(items) => items
            .iter()
            .map(|i| (i, i.span.clone().or_else(|| loc.clone())))
            .collect(),
        _ => {
            ctx.err(&loc, format!("`{key}` of {} must be an array", t.what));
            Vec::new()
        }
    }
}

/// Every step is reached from `start`, and no path comes back on itself
/// (a reader would go round for ever).
fn check_paths(ctx: &mut Ctx, t: &Table, start: &str, steps: &BTreeMap<String, GuideStep>) {
    let mut reached = BTreeSet::new();
    let mut on_path = Vec::new();
    if let Some(looped) = walk(start, steps, &mut reached, &mut on_path) {
        ctx.err(
            &t.loc,
            format!(
                "the answers of {} go round in a circle at step `{looped}`",
                t.what
            ),
        );
        return;
    }
    for id in steps.keys().filter(|id| !reached.contains(id.as_str())) {
        ctx.err(
            &t.loc,
            format!("step `{id}` of {} cannot be reached from `{start}`", t.what),
        );
    }
}

fn walk<'a>(
    id: &'a str,
    steps: &'a BTreeMap<String, GuideStep>,
    reached: &mut BTreeSet<&'a str>,
    on_path: &mut Vec<&'a str>,
) -> Option<String> {
    if on_path.contains(&id) {
        return Some(id.to_string());
    }
    if !reached.insert(id) {
        return None;
    }
    on_path.push(id);
    for answer in steps
        .get(id)
        .map(|s| s.answers.as_slice())
        .unwrap_or_default()
    {
        if let Some(looped) = walk(&answer.next, steps, reached, on_path) {
            return Some(looped);
        }
    }
    on_path.pop();
    None
}

#[cfg(test)]
mod tests {
    use crate::pack::{PackSet, with_test_roles};

    const MEDIATION: &str = include_str!("../../../../packs/mediation/pack.toml");

    fn load(guides: &str) -> Result<PackSet, String> {
        let text = format!(
            r#"id = "p"
version = "1"
name = "p"
[types.t]
name = "t"
[types.t.states.open]
name = "open"
terminal = true
[types.t.actions.create]
name = "c"
from = []
to = "open"
roles = ["operator"]
{guides}
"#
        );
        PackSet::from_sources(&[("p.toml".into(), with_test_roles(&text))])
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_mediation_guide_leads_every_answer_to_an_end() {
        let set = PackSet::from_sources(&[("m.toml".into(), MEDIATION.into())])
            .unwrap_or_else(|e| panic!("{e}"));
        let guide = set
            .guide("mediation", "disputes")
            .unwrap_or_else(|| panic!("guide"));
        let start = &guide.steps[&guide.start];
        assert!(start.answers.len() >= 5, "the common kinds");
        for step in guide.steps.values().filter(|s| s.is_end()) {
            assert!(!step.options.is_empty(), "{} says what one can do", step.id);
        }
        // Domestic violence is never sent to face-to-face mediation.
        assert!(!guide.steps["family_safety"].file);
    }

    #[test]
    fn a_guide_with_a_broken_path_is_refused_with_its_place() {
        let e = load(
            r#"[guides.g]
name = "g"
start = "a"
[guides.g.steps.a]
text = "问？"
answers = [{ label = "是", next = "b" }, { label = "否", next = "nowhere" }]
[guides.g.steps.b]
text = "答"
[guides.g.steps.lost]
text = "孤立"
"#,
        )
        .unwrap_err();
        assert!(e.contains("p.toml:19:63: "), "{e}");
        assert!(
            e.contains("an answer in guide `g` leads to undeclared step `nowhere`"),
            "{e}"
        );
        let e = load(
            r#"[guides.g]
name = "g"
start = "a"
[guides.g.steps.a]
text = "问？"
answers = [{ label = "是", next = "b" }]
[guides.g.steps.b]
text = "答"
[guides.g.steps.lost]
text = "孤立"
"#,
        )
        .unwrap_err();
        assert!(
            e.contains("step `lost` of guide `g` cannot be reached from `a`"),
            "{e}"
        );
    }

    #[test]
    fn a_guide_that_goes_round_or_asks_and_ends_at_once_is_refused() {
        let e = load(
            r#"[guides.g]
name = "g"
start = "a"
[guides.g.steps.a]
text = "问？"
answers = [{ label = "是", next = "b" }]
[guides.g.steps.b]
text = "再问？"
answers = [{ label = "回去", next = "a" }]
file = true
"#,
        )
        .unwrap_err();
        assert!(e.contains("go round in a circle at step `a`"), "{e}");
        assert!(
            e.contains("asks a question, so it cannot also end the guide"),
            "{e}"
        );
        assert!(load("").is_ok(), "a pack without guides is fine");
    }
}
