//! Bindings: which of a case type's actions, states and fields play the
//! engine's parts (the dispatch board, acceptance, handling, the citizen's
//! rating, verification, work queues, the public status). The engine reads
//! these parts through the bindings and never by a pack's own names, so a
//! pack that binds nothing simply has no dispatch board, no rating and so on.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};

use super::{ActionDef, Ctx, FieldDef, FieldKind, Loc, StateDef, Table, entry_loc};

/// The engine's parts a case type binds; every one is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Bindings {
    /// The action the dispatch board performs (分拨); the states it starts
    /// from are the board's sections.
    pub dispatch: Option<String>,
    /// The state in which a unit has yet to accept the case (签收).
    pub acceptance: Option<String>,
    /// The state of handling (办理): its deadline is the one a citizen waits on.
    pub handling: Option<String>,
    /// The action by which a unit sends back a case it should not hold (退回).
    pub return_action: Option<String>,
    /// The action that reports the handling result (办结).
    pub result: Option<String>,
    /// The action carrying the citizen's rating (回访) and how to read it.
    pub rating: Option<RatingBinding>,
    /// The on-site check of a result (核验).
    pub verification: Option<VerificationBinding>,
    /// The action that reopens a closed case.
    pub reopen: Option<String>,
    /// The terminal state of a finished case.
    pub done: Option<String>,
    /// The terminal state of a case dropped without handling (作废).
    pub discarded: Option<String>,
    /// States shown as queues on the work list, in this order.
    pub work_queues: Vec<String>,
    /// A choice field whose options say how a finished case reads in public.
    pub outcome: Option<String>,
    /// A case-reference field naming the case this one duplicates.
    pub duplicate: Option<String>,
    /// A person field naming the one staff member the case is assigned to
    /// (a mediator, a case officer): work lists and access follow it.
    pub assignee: Option<String>,
    /// A text field that heads the case on lists, boards and pages.
    pub title: Option<String>,
    /// A text field holding the handling result as the public reads it.
    pub result_text: Option<String>,
    /// A choice field whose value picks a category's urgent deadlines.
    pub urgency: Option<String>,
    /// The intake channels that register cases of this type, and the
    /// fields they fill.
    pub intake: Option<IntakeBinding>,
}

/// The engine's own ways in for a new case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntakeChannel {
    /// The operators' intake desk (热线).
    Hotline,
    /// The public portal.
    Web,
    /// The grid worker's app.
    Grid,
    /// The Open311 GeoReport v2 API.
    Open311,
    /// `gongzhi import requests`.
    Import,
}

impl IntakeChannel {
    pub const ALL: [IntakeChannel; 5] = [
        IntakeChannel::Hotline,
        IntakeChannel::Web,
        IntakeChannel::Grid,
        IntakeChannel::Open311,
        IntakeChannel::Import,
    ];

    /// The channel's id, which is also the option a bound channel field records.
    pub fn as_str(self) -> &'static str {
        match self {
            IntakeChannel::Hotline => "hotline",
            IntakeChannel::Web => "web",
            IntakeChannel::Grid => "grid",
            IntakeChannel::Open311 => "open311",
            IntakeChannel::Import => "import",
        }
    }

    pub fn parse(text: &str) -> Option<IntakeChannel> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// Which fields the intake channels fill. The title is the type's bound
/// `title_field`; the category is its `category` field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IntakeBinding {
    pub channels: Vec<IntakeChannel>,
    /// A choice field recording the channel (its options include each
    /// channel's id).
    pub channel_field: Option<String>,
    /// The citizen's own account of the matter.
    pub description: Option<String>,
    pub address: Option<String>,
    /// The requester's name and phone (personal fields); a lookup by
    /// receipt code checks the phone.
    pub contact_name: Option<String>,
    pub contact_phone: Option<String>,
    /// The reference a case had in the system it was imported from.
    pub source_ref: Option<String>,
}

impl IntakeBinding {
    /// Each value that is not blank, trimmed, under its bound field; values
    /// for parts the type does not bind are dropped.
    pub fn fill(&self, parts: IntakeValues<'_>) -> Map<String, Value> {
        let mut out = Map::new();
        let pairs = [
            (&self.description, parts.description),
            (&self.address, parts.address),
            (&self.contact_name, parts.contact_name),
            (&self.contact_phone, parts.contact_phone),
            (&self.source_ref, parts.source_ref),
        ];
        for (field, value) in pairs {
            if let (Some(field), Some(value)) = (field, value.map(str::trim))
                && !value.is_empty()
            {
                out.insert(field.clone(), Value::String(value.to_string()));
            }
        }
        out
    }
}

/// What an intake channel collected, by the engine's names for the parts.
#[derive(Debug, Clone, Copy, Default)]
pub struct IntakeValues<'a> {
    pub description: Option<&'a str>,
    pub address: Option<&'a str>,
    pub contact_name: Option<&'a str>,
    pub contact_phone: Option<&'a str>,
    pub source_ref: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RatingBinding {
    pub action: String,
    /// A choice field set by `action`.
    pub field: String,
    /// Values that count as satisfied (满意, 基本满意).
    pub satisfied: Vec<String>,
    /// The value that sends the case back (不满意).
    pub unsatisfied: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerificationBinding {
    pub action: String,
    pub field: String,
    /// The value meaning "failed on site".
    pub failed: String,
    /// A text field the action may set with the checker's note.
    pub note: Option<String>,
}

/// How a case reads to the public and in Open311: the GeoReport v2 `open` /
/// `closed` refined by the mySociety extended statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PublicStatus {
    Open,
    Investigating,
    InProgress,
    Fixed,
    NotCouncilsResponsibility,
    Duplicate,
    UnableToFix,
    NoFurtherAction,
    Closed,
}

impl PublicStatus {
    pub const ALL: [PublicStatus; 9] = [
        PublicStatus::Open,
        PublicStatus::Investigating,
        PublicStatus::InProgress,
        PublicStatus::Fixed,
        PublicStatus::NotCouncilsResponsibility,
        PublicStatus::Duplicate,
        PublicStatus::UnableToFix,
        PublicStatus::NoFurtherAction,
        PublicStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PublicStatus::Open => "open",
            PublicStatus::Investigating => "investigating",
            PublicStatus::InProgress => "in_progress",
            PublicStatus::Fixed => "fixed",
            PublicStatus::NotCouncilsResponsibility => "not_councils_responsibility",
            PublicStatus::Duplicate => "duplicate",
            PublicStatus::UnableToFix => "unable_to_fix",
            PublicStatus::NoFurtherAction => "no_further_action",
            PublicStatus::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<PublicStatus> {
        PublicStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the status belongs to a case still being worked on.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            PublicStatus::Open | PublicStatus::Investigating | PublicStatus::InProgress
        )
    }

    /// The GeoReport v2 status: `open` or `closed`.
    pub fn standard(self) -> &'static str {
        if self.is_open() { "open" } else { "closed" }
    }
}

impl super::CaseType {
    /// The public status of a case of this type in `state` with `fields`:
    /// the state's own, refined for a finished case by the bound outcome
    /// field's option and by a bound duplicate reference. "Closed" never
    /// claims "fixed" unless the recorded outcome says so.
    pub fn public_status(&self, state: &str, fields: &Map<String, Value>) -> PublicStatus {
        let Some(def) = self.states.get(state) else {
            return PublicStatus::Open;
        };
        if def.public.is_open() {
            return def.public;
        }
        if let Some(dup) = &self.bindings.duplicate
            && self.bindings.discarded.as_deref() == Some(state)
            && fields.get(dup).is_some_and(|v| !v.is_null())
        {
            return PublicStatus::Duplicate;
        }
        let outcome = self.bindings.outcome.as_ref().and_then(|key| {
            let value = fields.get(key)?.as_str()?;
            match &self.fields.get(key)?.kind {
                FieldKind::Choice { options } => options.iter().find(|o| o.value == value)?.public,
                _ => None,
            }
        });
        match outcome {
            Some(status) if self.bindings.discarded.as_deref() != Some(state) => status,
            _ => def.public,
        }
    }

    /// The action bound as the dispatch board's, if any.
    pub fn dispatch_action(&self) -> Option<&ActionDef> {
        self.bound_action(self.bindings.dispatch.as_deref())
    }

    /// The action bound as the citizen's rating, if any.
    pub fn rating_action(&self) -> Option<&ActionDef> {
        self.bound_action(self.bindings.rating.as_ref().map(|r| r.action.as_str()))
    }

    /// The action bound as the on-site verification, if any.
    pub fn verification_action(&self) -> Option<&ActionDef> {
        self.bound_action(
            self.bindings
                .verification
                .as_ref()
                .map(|v| v.action.as_str()),
        )
    }

    /// The first action with `effect` (e.g. the one reporting an assist task).
    pub fn action_with_effect(&self, effect: super::Effect) -> Option<&ActionDef> {
        self.actions.values().find(|a| a.effect == effect)
    }

    fn bound_action(&self, id: Option<&str>) -> Option<&ActionDef> {
        self.actions.get(id?)
    }
}

const KEYS: &[&str] = &[
    "dispatch_action",
    "acceptance_state",
    "handling_state",
    "return_action",
    "result_action",
    "rating",
    "verification",
    "reopen_action",
    "done_state",
    "discarded_state",
    "work_queues",
    "outcome_field",
    "duplicate_field",
    "assignee_field",
    "title_field",
    "result_field",
    "urgency_field",
    "intake",
];

/// What the bindings may refer to, with the places for messages.
pub(super) struct Declared<'a> {
    pub type_id: &'a str,
    pub states: &'a BTreeMap<String, StateDef>,
    pub actions: &'a BTreeMap<String, ActionDef>,
    /// Action ids that were declared, even if broken (no second error for them).
    pub action_ids: &'a BTreeSet<String>,
    pub fields: &'a BTreeMap<String, FieldDef>,
}

pub(super) fn parse_bindings(ctx: &mut Ctx, parent: &Table, declared: &Declared) -> Bindings {
    let Some((key, node)) = parent.get("bindings") else {
        return Bindings::default();
    };
    let what = format!("`bindings` of type `{}`", declared.type_id);
    let Some(t) = Table::new(ctx, node, entry_loc(key, node), what) else {
        return Bindings::default();
    };
    t.check_keys(ctx, KEYS);
    let action = |ctx: &mut Ctx, k: &str| bound_action(ctx, &t, k, declared);
    let state = |ctx: &mut Ctx, k: &str| bound_state(ctx, &t, k, declared, false);
    let mut b = Bindings {
        dispatch: action(ctx, "dispatch_action"),
        acceptance: state(ctx, "acceptance_state"),
        handling: state(ctx, "handling_state"),
        return_action: action(ctx, "return_action"),
        result: action(ctx, "result_action"),
        reopen: action(ctx, "reopen_action"),
        done: bound_state(ctx, &t, "done_state", declared, true),
        discarded: bound_state(ctx, &t, "discarded_state", declared, true),
        outcome: bound_field(ctx, &t, "outcome_field", declared, FieldShape::Choice),
        duplicate: bound_field(ctx, &t, "duplicate_field", declared, FieldShape::CaseRef),
        assignee: bound_field(ctx, &t, "assignee_field", declared, FieldShape::Person),
        title: bound_field(ctx, &t, "title_field", declared, FieldShape::Text),
        result_text: bound_field(ctx, &t, "result_field", declared, FieldShape::Text),
        urgency: bound_field(ctx, &t, "urgency_field", declared, FieldShape::Choice),
        intake: parse_intake(ctx, &t, declared),
        ..Bindings::default()
    };
    if let Some(queues) = t.string_list(ctx, "work_queues") {
        for (id, loc) in queues {
            if check_state(ctx, &t, "work_queues", &id, &loc, declared, false)
                && !b.work_queues.contains(&id)
            {
                b.work_queues.push(id);
            }
        }
    }
    b.rating = parse_rating(ctx, &t, declared);
    b.verification = parse_verification(ctx, &t, declared);
    if b.intake.is_some() && b.title.is_none() {
        ctx.err(
            &t.loc,
            format!(
                "{} has `intake` but no `title_field` for the cases it registers",
                t.what
            ),
        );
    }
    b
}

const INTAKE_KEYS: &[&str] = &[
    "channels",
    "channel_field",
    "description",
    "address",
    "contact_name",
    "contact_phone",
    "source_ref",
];

fn parse_intake(ctx: &mut Ctx, t: &Table, declared: &Declared) -> Option<IntakeBinding> {
    let (k, node) = t.get("intake")?;
    let sub = Table::new(
        ctx,
        node,
        entry_loc(k, node),
        format!("`intake` of {}", t.what),
    )?;
    sub.check_keys(ctx, INTAKE_KEYS);
    let mut intake = IntakeBinding::default();
    for (id, loc) in sub.string_list(ctx, "channels").unwrap_or_default() {
        match IntakeChannel::parse(&id) {
            Some(c) if !intake.channels.contains(&c) => intake.channels.push(c),
            Some(_) => {}
            None => {
                let known: Vec<&str> = IntakeChannel::ALL.iter().map(|c| c.as_str()).collect();
                ctx.err(
                    &loc,
                    format!(
                        "unknown channel `{id}` in {} (expected one of: {})",
                        sub.what,
                        known.join(", ")
                    ),
                );
            }
        }
    }
    if intake.channels.is_empty() {
        ctx.err(&sub.loc, format!("{} lists no `channels`", sub.what));
    }
    if let Some((id, loc)) = sub.string(ctx, "channel_field", false)
        && check_field(
            ctx,
            &sub.what,
            "channel_field",
            &id,
            &loc,
            declared,
            FieldShape::Choice,
        )
    {
        let values = options(declared, &id).unwrap_or_default();
        for c in &intake.channels {
            if !values.contains(&c.as_str()) {
                ctx.err(
                    &loc,
                    format!(
                        "field `{id}` of {} has no option `{}` for its channel",
                        sub.what,
                        c.as_str()
                    ),
                );
            }
        }
        intake.channel_field = Some(id);
    }
    intake.description = bound_field(ctx, &sub, "description", declared, FieldShape::Text);
    intake.address = bound_field(ctx, &sub, "address", declared, FieldShape::Text);
    intake.contact_name = bound_field(ctx, &sub, "contact_name", declared, FieldShape::Text);
    intake.contact_phone = bound_field(ctx, &sub, "contact_phone", declared, FieldShape::Phone);
    intake.source_ref = bound_field(ctx, &sub, "source_ref", declared, FieldShape::Text);
    Some(intake)
}

fn bound_action(ctx: &mut Ctx, t: &Table, key: &str, declared: &Declared) -> Option<String> {
    let (id, loc) = t.string(ctx, key, false)?;
    check_action(ctx, t, key, &id, &loc, declared).then_some(id)
}

fn check_action(
    ctx: &mut Ctx,
    t: &Table,
    key: &str,
    id: &str,
    loc: &Loc,
    declared: &Declared,
) -> bool {
    if declared.action_ids.contains(id) {
        return declared.actions.contains_key(id);
    }
    ctx.err(
        loc,
        format!("`{key}` in {} names undeclared action `{id}`", t.what),
    );
    false
}

fn bound_state(
    ctx: &mut Ctx,
    t: &Table,
    key: &str,
    declared: &Declared,
    terminal: bool,
) -> Option<String> {
    let (id, loc) = t.string(ctx, key, false)?;
    check_state(ctx, t, key, &id, &loc, declared, terminal).then_some(id)
}

fn check_state(
    ctx: &mut Ctx,
    t: &Table,
    key: &str,
    id: &str,
    loc: &Loc,
    declared: &Declared,
    terminal: bool,
) -> bool {
    match declared.states.get(id) {
        None => {
            ctx.err(
                loc,
                format!("`{key}` in {} names undeclared state `{id}`", t.what),
            );
            false
        }
        Some(s) if s.terminal != terminal => {
            let need = if terminal { "a terminal" } else { "an open" };
            ctx.err(
                loc,
                format!(
                    "`{key}` in {} must name {need} state; `{id}` is not",
                    t.what
                ),
            );
            false
        }
        Some(_) => true,
    }
}

#[derive(Clone, Copy)]
enum FieldShape {
    Choice,
    CaseRef,
    Person,
    /// `text` or `long_text`.
    Text,
    Phone,
}

fn bound_field(
    ctx: &mut Ctx,
    t: &Table,
    key: &str,
    declared: &Declared,
    shape: FieldShape,
) -> Option<String> {
    let (id, loc) = t.string(ctx, key, false)?;
    check_field(ctx, &t.what, key, &id, &loc, declared, shape).then_some(id)
}

fn check_field(
    ctx: &mut Ctx,
    what: &str,
    key: &str,
    id: &str,
    loc: &Loc,
    declared: &Declared,
    shape: FieldShape,
) -> bool {
    let Some(field) = declared.fields.get(id) else {
        ctx.err(
            loc,
            format!("`{key}` in {what} names undeclared field `{id}`"),
        );
        return false;
    };
    let fits = match shape {
        FieldShape::Choice => matches!(field.kind, FieldKind::Choice { .. }),
        FieldShape::CaseRef => matches!(field.kind, FieldKind::CaseRef { .. }),
        FieldShape::Person => matches!(field.kind, FieldKind::Person { .. }),
        FieldShape::Text => matches!(
            field.kind,
            FieldKind::Text { .. } | FieldKind::LongText { .. }
        ),
        FieldShape::Phone => matches!(field.kind, FieldKind::Phone),
    };
    if !fits {
        let need = match shape {
            FieldShape::Choice => "choice",
            FieldShape::CaseRef => "case_ref",
            FieldShape::Person => "person",
            FieldShape::Text => "text",
            FieldShape::Phone => "phone",
        };
        ctx.err(
            loc,
            format!("`{key}` in {what} must name a {need} field; `{id}` is not"),
        );
    }
    fits
}

/// The options of a bound choice field, or `None` after reporting why not.
fn options<'a>(declared: &'a Declared, field: &str) -> Option<Vec<&'a str>> {
    match &declared.fields.get(field)?.kind {
        FieldKind::Choice { options } => Some(options.iter().map(|o| o.value.as_str()).collect()),
        _ => None,
    }
}

/// A `{ action, field, ... }` sub-table: the action and its choice field,
/// which the action must be able to set.
fn action_with_field<'a>(
    ctx: &mut Ctx,
    t: &'a Table,
    key: &str,
    declared: &'a Declared,
    extra: &[&str],
) -> Option<(Table<'a>, String, String, Vec<&'a str>)> {
    let (k, node) = t.get(key)?;
    let sub = Table::new(
        ctx,
        node,
        entry_loc(k, node),
        format!("`{key}` of {}", t.what),
    )?;
    let mut allowed = vec!["action", "field"];
    allowed.extend_from_slice(extra);
    sub.check_keys(ctx, &allowed);
    let action = sub
        .string(ctx, "action", true)
        .filter(|(id, loc)| check_action(ctx, &sub, "action", id, loc, declared));
    let field = sub.string(ctx, "field", true).filter(|(id, loc)| {
        check_field(
            ctx,
            &sub.what,
            "field",
            id,
            loc,
            declared,
            FieldShape::Choice,
        )
    });
    let ((action, aloc), (field, _)) = (action?, field?);
    if declared
        .actions
        .get(&action)
        .is_some_and(|a| !a.may_set(&field))
    {
        ctx.err(
            &aloc,
            format!(
                "action `{action}` in {} does not set field `{field}` (add it to its `requires`)",
                sub.what
            ),
        );
        return None;
    }
    let values = options(declared, &field)?;
    Some((sub, action, field, values))
}

fn option_value(
    ctx: &mut Ctx,
    sub: &Table,
    key: &str,
    field: &str,
    values: &[&str],
    value: &str,
    loc: &Loc,
) -> bool {
    if values.contains(&value) {
        return true;
    }
    ctx.err(
        loc,
        format!(
            "`{key}` in {}: `{value}` is not an option of field `{field}`",
            sub.what
        ),
    );
    false
}

fn parse_rating(ctx: &mut Ctx, t: &Table, declared: &Declared) -> Option<RatingBinding> {
    let (sub, action, field, values) =
        action_with_field(ctx, t, "rating", declared, &["satisfied", "unsatisfied"])?;
    let satisfied = match sub.string_list(ctx, "satisfied") {
        Some(list) => list,
        None => {
            sub.missing(ctx, "satisfied");
            Vec::new()
        }
    };
    let mut ok = true;
    let mut satisfied_ids = Vec::new();
    for (v, loc) in satisfied {
        ok &= option_value(ctx, &sub, "satisfied", &field, &values, &v, &loc);
        satisfied_ids.push(v);
    }
    let unsatisfied = sub.string(ctx, "unsatisfied", true);
    if let Some((v, loc)) = &unsatisfied {
        ok &= option_value(ctx, &sub, "unsatisfied", &field, &values, v, loc);
        if satisfied_ids.contains(v) {
            ctx.err(
                loc,
                format!("`{v}` in {} is both satisfied and unsatisfied", sub.what),
            );
            ok = false;
        }
    }
    let (unsatisfied, _) = unsatisfied?;
    ok.then_some(RatingBinding {
        action,
        field,
        satisfied: satisfied_ids,
        unsatisfied,
    })
}

fn parse_verification(
    ctx: &mut Ctx,
    t: &Table,
    declared: &Declared,
) -> Option<VerificationBinding> {
    let (sub, action, field, values) =
        action_with_field(ctx, t, "verification", declared, &["failed", "note"])?;
    let note = bound_field(ctx, &sub, "note", declared, FieldShape::Text);
    if let Some(note) = &note
        && declared
            .actions
            .get(&action)
            .is_some_and(|a| !a.may_set(note))
    {
        ctx.err(
            &sub.loc,
            format!(
                "action `{action}` in {} does not set note field `{note}`",
                sub.what
            ),
        );
    }
    let (failed, loc) = sub.string(ctx, "failed", true)?;
    option_value(ctx, &sub, "failed", &field, &values, &failed, &loc).then_some(
        VerificationBinding {
            action,
            field,
            failed,
            note,
        },
    )
}

/// `public = "…"` on a state (an open status, or `closed`) or on a choice
/// option (how a finished case with that value reads).
pub(super) fn parse_public(
    ctx: &mut Ctx,
    t: &Table,
    on_state: bool,
    terminal: bool,
) -> Option<PublicStatus> {
    let (text, loc) = t.string(ctx, "public", false)?;
    let Some(status) = PublicStatus::parse(&text) else {
        let all: Vec<&str> = PublicStatus::ALL.iter().map(|s| s.as_str()).collect();
        ctx.err(
            &loc,
            format!(
                "unknown public status `{text}` in {} (expected one of: {})",
                t.what,
                all.join(", ")
            ),
        );
        return None;
    };
    let fits = if on_state {
        status.is_open() != terminal
    } else {
        !status.is_open()
    };
    if !fits {
        let need = match (on_state, terminal) {
            (true, false) => "an open state reads as open, investigating or in_progress",
            (true, true) => "a terminal state reads as a finished status",
            (false, _) => "an option's public status is a finished status",
        };
        ctx.err(&loc, format!("`public = \"{text}\"` in {}: {need}", t.what));
        return None;
    }
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::super::{PackErrors, PackSet};
    use super::*;

    const REQUESTS: &str = include_str!("../../../../packs/requests/pack.toml");

    fn load(text: &str) -> Result<PackSet, PackErrors> {
        PackSet::from_sources(&[("p.toml".to_owned(), crate::pack::with_test_roles(text))])
    }

    fn problems(text: &str) -> Vec<String> {
        match load(text) {
            Ok(_) => panic!("expected problems"),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    /// A one-type pack with a rating and an outcome field; `bindings` is spliced in.
    fn pack(bindings: &str) -> String {
        format!(
            r#"id = "mini"
version = "1"
name = "小"
[types.t]
name = "T"
[types.t.fields.mark]
kind = "choice"
label = "评价"
options = ["good", "bad"]
[types.t.fields.end]
kind = "choice"
label = "结论"
options = [{{ value = "fixed_it", name = "修好", public = "fixed" }}, "other"]
[types.t.fields.note]
kind = "text"
label = "备注"
[types.t.states.open]
name = "开"
public = "in_progress"
[types.t.states.done]
name = "完"
terminal = true
[types.t.actions.create]
name = "建"
from = []
to = "open"
roles = ["operator"]
[types.t.actions.finish]
name = "结"
from = ["open"]
to = "done"
roles = ["handler"]
allows = ["end"]
[types.t.actions.rate]
name = "评"
from = ["open"]
to = "open"
roles = ["operator"]
requires = ["mark"]
[types.t.bindings]
{bindings}
"#
        )
    }

    #[test]
    fn a_type_binds_its_own_names_to_the_engines_parts() {
        let text = pack(
            r#"result_action = "finish"
done_state = "done"
work_queues = ["open"]
outcome_field = "end"
rating = { action = "rate", field = "mark", satisfied = ["good"], unsatisfied = "bad" }"#,
        );
        let set = load(&text).unwrap_or_else(|e| panic!("{e}"));
        let t = set.case_type("mini", "t").unwrap_or_else(|| panic!("type"));
        assert_eq!(t.bindings.result.as_deref(), Some("finish"));
        assert_eq!(t.bindings.work_queues, ["open"]);
        assert_eq!(t.rating_action().map(|a| a.id.as_str()), Some("rate"));
        assert!(
            t.dispatch_action().is_none(),
            "nothing bound, no dispatch board"
        );
        let fixed = serde_json::json!({"end": "fixed_it"});
        let fixed = fixed.as_object().cloned().unwrap_or_default();
        assert_eq!(t.public_status("open", &fixed), PublicStatus::InProgress);
        assert_eq!(t.public_status("done", &fixed), PublicStatus::Fixed);
        assert_eq!(t.public_status("done", &Map::new()), PublicStatus::Closed);
    }

    #[test]
    fn a_binding_to_something_undeclared_or_of_the_wrong_kind_is_refused_with_its_place() {
        let text = pack(
            r#"dispatch_action = "send"
done_state = "open"
acceptance_state = "done"
work_queues = ["open", "nowhere"]
outcome_field = "note"
duplicate_field = "mark"
rating = { action = "finish", field = "mark", satisfied = ["good", "great"], unsatisfied = "bad" }
verification = { action = "rate", field = "mark", failed = "good", extra = 1 }
handing = "open""#,
        );
        let p = problems(&text).join("\n");
        for expected in [
            "p.toml:41:19: `dispatch_action` in `bindings` of type `t` names undeclared action `send`",
            "`done_state` in `bindings` of type `t` must name a terminal state; `open` is not",
            "`acceptance_state` in `bindings` of type `t` must name an open state; `done` is not",
            "`work_queues` in `bindings` of type `t` names undeclared state `nowhere`",
            "`outcome_field` in `bindings` of type `t` must name a choice field; `note` is not",
            "`duplicate_field` in `bindings` of type `t` must name a case_ref field; `mark` is not",
            "action `finish` in `rating` of `bindings` of type `t` does not set field `mark`",
            "unknown key `extra` in `verification` of `bindings` of type `t`",
            "unknown key `handing` in `bindings` of type `t`",
        ] {
            assert!(p.contains(expected), "missing {expected:?} in:\n{p}");
        }
        assert!(load(&pack("")).is_ok(), "an empty bindings table is fine");
    }

    #[test]
    fn rating_values_must_be_options_of_the_field() {
        let text = pack(
            r#"rating = { action = "rate", field = "mark", satisfied = ["good", "great"], unsatisfied = "good" }"#,
        );
        let p = problems(&text).join("\n");
        assert!(
            p.contains("`great` is not an option of field `mark`"),
            "{p}"
        );
        assert!(
            p.contains(
                "`good` in `rating` of `bindings` of type `t` is both satisfied and unsatisfied"
            ),
            "{p}"
        );
    }

    #[test]
    fn public_statuses_must_fit_the_state() {
        let text = pack("").replace("public = \"in_progress\"", "public = \"fixed\"");
        let p = problems(&text).join("\n");
        assert!(
            p.contains("an open state reads as open, investigating or in_progress"),
            "{p}"
        );
        let text = pack("").replace("public = \"in_progress\"", "public = \"sorted\"");
        assert!(
            problems(&text)
                .join("\n")
                .contains("unknown public status `sorted`")
        );
    }

    #[test]
    fn the_requests_pack_binds_every_part_the_engine_reads() {
        let set = load(REQUESTS).unwrap_or_else(|e| panic!("{e}"));
        let t = set
            .case_type("requests", "request")
            .unwrap_or_else(|| panic!("request type"));
        assert!(!t.indicators.is_empty());
        assert!(t.dispatch_action().is_some());
        assert!(t.verification_action().is_some());
        assert!(!t.bindings.work_queues.is_empty());
        assert!(t.bindings.outcome.is_some() && t.bindings.duplicate.is_some());
        assert_eq!(t.category_field(), Some("category"));
        assert!(t.bindings.title.is_some() && t.bindings.result_text.is_some());
        assert_eq!(t.intake_channels(), IntakeChannel::ALL);
        let public: Vec<_> = t.public_fields().map(|f| f.key.as_str()).collect();
        assert_eq!(public.len(), 3, "{public:?}");
        assert!(t.public_fields().all(|f| !f.personal));
    }

    #[test]
    fn intake_channels_fill_the_fields_the_type_binds() {
        let text = pack(
            r#"title_field = "note"
intake = { channels = ["web", "hotline"], channel_field = "mark", description = "note" }"#,
        )
        .replace(
            r#"options = ["good", "bad"]"#,
            r#"options = ["good", "bad", "web", "hotline"]"#,
        );
        let set = load(&text).unwrap_or_else(|e| panic!("{e}"));
        let t = set
            .intake_type(IntakeChannel::Web)
            .unwrap_or_else(|| panic!("the web channel's type"));
        assert_eq!(t.id, "t");
        assert!(set.intake_type(IntakeChannel::Open311).is_none());
        let intake = t.bindings.intake.clone().unwrap_or_default();
        let filled = intake.fill(IntakeValues {
            description: Some("  路灯不亮 "),
            address: Some("unbound, so dropped"),
            contact_phone: Some("   "),
            ..IntakeValues::default()
        });
        assert_eq!(
            serde_json::Value::Object(filled),
            serde_json::json!({"note": "路灯不亮"})
        );
    }

    #[test]
    fn an_intake_binding_is_checked_against_the_fields_and_the_channels() {
        let text = pack(
            r#"intake = { channels = ["web", "fax"], channel_field = "mark", contact_phone = "note", address = "nowhere" }"#,
        );
        let p = problems(&text).join("\n");
        for expected in [
            "unknown channel `fax` in `intake` of `bindings` of type `t` (expected one of: hotline, web, grid, open311, import)",
            "field `mark` of `intake` of `bindings` of type `t` has no option `web` for its channel",
            "`contact_phone` in `intake` of `bindings` of type `t` must name a phone field; `note` is not",
            "`address` in `intake` of `bindings` of type `t` names undeclared field `nowhere`",
            "`bindings` of type `t` has `intake` but no `title_field` for the cases it registers",
        ] {
            assert!(p.contains(expected), "missing {expected:?} in:\n{p}");
        }
    }

    #[test]
    fn two_types_cannot_claim_one_channel() {
        let one = pack(
            r#"title_field = "note"
intake = { channels = ["grid"] }"#,
        );
        let other = one.replace(r#"id = "mini""#, r#"id = "other""#);
        let sources = [
            ("a.toml".to_owned(), crate::pack::with_test_roles(&one)),
            ("b.toml".to_owned(), crate::pack::with_test_roles(&other)),
        ];
        let e = PackSet::from_sources(&sources)
            .err()
            .unwrap_or_else(|| panic!("a second claim is refused"));
        assert!(
            e.to_string()
                .contains("intake channel `grid` of other/t is already claimed by mini/t"),
            "{e}"
        );
    }

    #[test]
    fn a_personal_field_cannot_be_public_and_a_verification_note_must_be_settable() {
        let text = pack(
            r#"verification = { action = "rate", field = "mark", failed = "bad", note = "note" }"#,
        )
        .replace(
            "label = \"备注\"",
            "label = \"备注\"\npersonal = true\npublic = true",
        );
        let p = problems(&text).join("\n");
        assert!(
            p.contains("field `note` of type `t` is personal and cannot be public"),
            "{p}"
        );
        assert!(
            p.contains("action `rate` in `verification` of `bindings` of type `t` does not set note field `note`"),
            "{p}"
        );
    }

    #[test]
    fn an_effect_reads_its_actions_first_required_field_of_the_right_kind() {
        let text = pack(
            r#"[types.t.actions.extend]
name = "延"
from = ["open"]
to = "open"
roles = ["handler"]
requires = ["note"]
effect = "clock.extend""#,
        );
        let p = problems(&text).join("\n");
        assert!(
            p.contains("has effect clock.extend: its first `requires` must be an integer field"),
            "{p}"
        );
        let set = load(REQUESTS).unwrap_or_else(|e| panic!("{e}"));
        let t = set
            .case_type("requests", "request")
            .unwrap_or_else(|| panic!("request type"));
        for effect in [
            crate::pack::Effect::ExtendDeadline,
            crate::pack::Effect::AddAssist,
            crate::pack::Effect::ReportAssist,
        ] {
            let action = t.action_with_effect(effect);
            assert!(
                action.and_then(|a| a.effect_field()).is_some(),
                "{effect:?}"
            );
        }
    }
}
