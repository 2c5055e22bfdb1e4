//! Packs: declarative TOML describing case types (fields, workflow states,
//! actions and deadlines). The engine is generic; everything a capability
//! needs lives in a pack.
//!
//! Loading never half-succeeds: every source is checked completely and all
//! problems are returned together, each with file, line and column, so an
//! administrator can fix a pack in one pass. The format is documented in
//! `packs/README.md`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::ops::Range;

use serde::Serialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::duration::{DurationRule, DurationUnit};
use crate::role::Role;

mod bindings;
mod clocks;
mod compound;
mod decimal;
mod guards;
mod guides;
mod indicators;
mod parties;
mod records;
mod roles;
mod templates;

pub use bindings::{
    Bindings, IntakeBinding, IntakeChannel, IntakeValues, PublicStatus, RatingBinding,
    VerificationBinding,
};
pub use clocks::ClockDef;
pub use guards::Guard;
pub use guides::{GuideAnswer, GuideDef, GuideStep};
pub use indicators::{Condition, DeadlineTarget, Event, IndicatorDef, Measure, TimeBasis};
pub use parties::{CheckedParty, MAX_PARTIES, NAME_FIELD, PartyDef, PartyError, PartyKind};
pub use records::{MAX_RECORDS, RecordAction, RecordDef, RecordError, RecordState, RecordStep};
pub use roles::{RoleDef, Sees};
pub use templates::{MAX_TEMPLATE_BYTES, TemplateDef};

/// Upper bound for a deadline amount; anything larger is almost surely a typo.
pub const MAX_DEADLINE_AMOUNT: u32 = 10_000;
/// Default `max_length` of a `text` field.
pub const DEFAULT_TEXT_MAX: usize = 200;
/// Default `max_length` of a `long_text` field.
pub const DEFAULT_LONG_TEXT_MAX: usize = 4_000;
/// Largest `max_length` a pack may declare.
pub const MAX_TEXT_LIMIT: usize = 100_000;
/// Longest id (pack, type, field, state, action, choice option) accepted.
pub const MAX_ID_LEN: usize = 64;
/// Longest unit code accepted in `unit` fields and `escalate_to`.
pub const MAX_UNIT_CODE_LEN: usize = 64;

// ---------------------------------------------------------------------------
// Public model
// ---------------------------------------------------------------------------

/// A display name in Chinese and English. `en` falls back to `zh` when a pack
/// gives only the Chinese name (or a plain string).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Names {
    pub zh: String,
    pub en: String,
}

/// All loaded packs. Immutable once built, so it can be shared across threads.
#[derive(Debug, Clone, Default)]
pub struct PackSet {
    packs: BTreeMap<String, Pack>,
    /// Every role the packs declare, and the platform's `admin`.
    roles: BTreeMap<String, RoleDef>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pack {
    pub id: String,
    pub version: String,
    pub name: Names,
    /// Staff roles the pack declares.
    pub roles: BTreeMap<String, RoleDef>,
    pub types: BTreeMap<String, CaseType>,
    /// Guided self-help before filing, by id.
    pub guides: BTreeMap<String, GuideDef>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseType {
    pub pack_id: String,
    pub pack_version: String,
    pub id: String,
    pub name: Names,
    pub fields: BTreeMap<String, FieldDef>,
    pub states: BTreeMap<String, StateDef>,
    pub actions: BTreeMap<String, ActionDef>,
    /// Which of the above play the engine's parts.
    pub bindings: Bindings,
    /// The parties a case of this type may have, if it has any.
    pub parties: Option<PartyDef>,
    /// Named clocks that span states, by id.
    pub clocks: BTreeMap<String, ClockDef>,
    /// How new cases of this type find their lead unit.
    pub routing: Routing,
    /// Kinds of sub-records a case of this type holds, by kind.
    pub records: BTreeMap<String, RecordDef>,
    /// The figures of its dashboard, in the order declared.
    pub indicators: Vec<IndicatorDef>,
    /// Documents a case of this type issues, by id.
    pub templates: BTreeMap<String, TemplateDef>,
}

/// Whether intake suggests a lead unit for a new case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Routing {
    /// No suggestion: the case stays with the unit that registers it.
    None,
    /// The city's routing rules (by category and place) suggest the unit.
    Rules,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDef {
    pub key: String,
    pub label: Names,
    pub kind: FieldKind,
    /// Personal data: the log keeps only a salted hash, views mask it.
    pub personal: bool,
    /// Shown on the public case page and in the public API (a result, a
    /// rating); never a personal field.
    pub public: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FieldKind {
    Text {
        max_length: usize,
    },
    LongText {
        max_length: usize,
    },
    Integer {
        min: Option<i64>,
        max: Option<i64>,
    },
    Number {
        min: Option<f64>,
        max: Option<f64>,
    },
    /// An exact decimal (money, quantities), stored as a string with exactly
    /// `scale` digits after the point; bounds as decimal strings.
    Decimal {
        scale: u32,
        min: Option<String>,
        max: Option<String>,
    },
    Boolean,
    Date,
    Choice {
        options: Vec<ChoiceOption>,
    },
    Phone,
    Unit,
    /// Another case, by its receipt code (e.g. the original of a duplicate).
    /// `link` is the kind of link setting it makes: the referred case
    /// (`conversion`, `referral`) is the link's source, this case its target;
    /// unset, the link is `related` (or `duplicate` when bound so).
    CaseRef {
        link: Option<crate::link::LinkKind>,
    },
    /// A category code of the loaded taxonomies (checked by the server).
    Category,
    /// A file attached to the same case, by its attachment id (checked by
    /// the store): a record's scan, photo or document.
    Attachment,
    /// Many values of the same named parts (an agreement's obligations,
    /// an inventory's items); records only.
    List {
        parts: Vec<FieldDef>,
        required: Vec<String>,
        max_items: usize,
    },
    /// One value of named parts (a venue, a signature block); records only.
    Object {
        parts: Vec<FieldDef>,
        required: Vec<String>,
    },
    /// A staff member, by user id, who must hold one of `roles` over the
    /// unit holding the case (checked by the store on every change).
    Person {
        roles: Vec<Role>,
        /// Refuse a person who is a party to the case or declared related
        /// to one, and warn off one who is a party in another open case with
        /// one of its parties (see `crate::conflict`). Needs the type's
        /// parties to declare `identified_by`.
        conflict_check: bool,
        /// A choice field of the type whose options are what staff may be
        /// experienced in (a mediator's specialities): candidates show theirs,
        /// and those experienced in the case's value come first.
        expertise: Option<String>,
    },
}

impl FieldKind {
    /// The kind's name as a pack writes it.
    pub fn name(&self) -> &'static str {
        match self {
            FieldKind::Text { .. } => "text",
            FieldKind::LongText { .. } => "long_text",
            FieldKind::Integer { .. } => "integer",
            FieldKind::Number { .. } => "number",
            FieldKind::Decimal { .. } => "decimal",
            FieldKind::Boolean => "boolean",
            FieldKind::Date => "date",
            FieldKind::Choice { .. } => "choice",
            FieldKind::Phone => "phone",
            FieldKind::Unit => "unit",
            FieldKind::CaseRef { .. } => "case_ref",
            FieldKind::Category => "category",
            FieldKind::Attachment => "attachment",
            FieldKind::Person { .. } => "person",
            FieldKind::List { .. } => "list",
            FieldKind::Object { .. } => "object",
        }
    }
}

/// One value of a `choice` field with its display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChoiceOption {
    pub value: String,
    pub name: Names,
    /// How a finished case with this value reads in public (see `Bindings::outcome`).
    pub public: Option<PublicStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateDef {
    pub id: String,
    pub name: Names,
    pub terminal: bool,
    pub deadline: Option<DeadlineDef>,
    /// How a case in this state reads in public and in Open311.
    pub public: PublicStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadlineDef {
    pub rule: DurationRule,
    /// Fraction of the allowed time after which a warning is raised, in (0, 1).
    pub warn_at: Option<f64>,
    pub on_expiry: Expiry,
    /// Which of the case category's own deadlines (`dispatch_time`, `handling_time`)
    /// replaces `rule` when the case has a category that sets one.
    pub category_rule: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expiry {
    Warn,
    MarkOverdue,
    Escalate(EscalateTo),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalateTo {
    /// The parent of the unit holding the case.
    Parent,
    /// A fixed unit, by code; its existence is checked by the store.
    Unit(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionDef {
    pub id: String,
    pub name: Names,
    /// States the action may start from; empty for the creation action.
    pub from: Vec<String>,
    pub to: String,
    /// Roles allowed to perform it, in order of preference.
    pub roles: Vec<Role>,
    pub requires: Vec<String>,
    pub allows: Vec<String>,
    pub reason: ReasonRule,
    pub target: TargetRule,
    /// What the action does besides moving the state.
    pub effect: Effect,
    /// Conditions on the case's wider record the store checks before acting.
    pub guards: Vec<Guard>,
    /// When this action has been taken this many times on a case, the next
    /// time sends the case one level further up than `target` says.
    pub escalate_after: Option<u32>,
    /// A choice field whose value picks the next state instead of `to`.
    pub branch: Option<Branch>,
}

/// Effects beyond the state change, carried out by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    None,
    /// Add an assisting unit (吹哨报到): `target_unit` names it, the holder stays.
    AddAssist,
    /// The acting unit reports its assist task as done.
    ReportAssist,
    /// Release an assisting unit (`target_unit`) from its task.
    ReleaseAssist,
    /// Pause the running deadline (挂起).
    SuspendClock,
    /// Restart a paused deadline with the time it had left.
    ResumeClock,
    /// Move the running deadline out by `extension_working_days` working days (延期).
    ExtendDeadline,
}

/// The registry of effects by the engine's own names (`part.verb`), which a
/// pack's `effect = "…"` refers to.
pub const EFFECTS: [(&str, Effect); 7] = [
    ("none", Effect::None),
    ("assist.add", Effect::AddAssist),
    ("assist.report", Effect::ReportAssist),
    ("assist.release", Effect::ReleaseAssist),
    ("clock.suspend", Effect::SuspendClock),
    ("clock.resume", Effect::ResumeClock),
    ("clock.extend", Effect::ExtendDeadline),
];

impl Effect {
    /// The effect's name in the registry.
    pub fn name(self) -> &'static str {
        EFFECTS
            .iter()
            .find(|(_, e)| *e == self)
            .map_or("none", |(n, _)| n)
    }
}

/// `branch = { field = "…", to = { value = "state" } }`: a choice field's value picks the next state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Branch {
    pub field: String,
    /// Field value → state; other values go to the action's `to`.
    pub to: BTreeMap<String, String>,
}

/// Category-specific deadlines (e.g. from a taxonomy), consulted when a
/// state's deadline names a `category_rule`.
pub trait CategoryDeadlines: Send + Sync {
    /// The rule for `kind` (`dispatch`, `handling`) of `category`, given the
    /// case's urgency if it has one; `None` keeps the pack's default.
    fn deadline(&self, category: &str, kind: &str, urgency: Option<&str>) -> Option<DurationRule>;

    /// Whether `code` is a category at all (for `category` fields).
    fn knows(&self, code: &str) -> bool;
}

/// No category sets its own deadlines.
pub struct NoCategoryDeadlines;

impl CategoryDeadlines for NoCategoryDeadlines {
    fn deadline(&self, _: &str, _: &str, _: Option<&str>) -> Option<DurationRule> {
        None
    }

    fn knows(&self, _: &str) -> bool {
        false
    }
}

/// The deadlines a category may set for a state (see `DeadlineDef::category_rule`).
pub const CATEGORY_DEADLINES: [&str; 2] = [
    crate::category_code::DISPATCH_TIME,
    crate::category_code::HANDLING_TIME,
];

impl ActionDef {
    /// The field an effect reads: the action's first required field (the
    /// working days of `clock.extend`, the task of `assist.add`, the answer
    /// of `assist.report`); its kind is checked when the pack loads.
    pub fn effect_field(&self) -> Option<&str> {
        self.requires.first().map(String::as_str)
    }

    pub fn is_creation(&self) -> bool {
        self.from.is_empty()
    }

    /// Whether the action may set `key` (it is in `requires` or `allows`).
    pub fn may_set(&self, key: &str) -> bool {
        self.requires.iter().chain(&self.allows).any(|k| k == key)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReasonRule {
    Required,
    Optional,
}

/// Which unit holds the case after the action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetRule {
    /// Stays where it is.
    Keep,
    /// The actor picks a unit.
    Choose,
    /// Goes to the parent of the current holder.
    Parent,
    /// Goes to the unit the actor acts for.
    ActorUnit,
}

/// One problem found while loading packs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PackProblem {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub message: String,
}

impl fmt::Display for PackProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// Every problem found; one per line when displayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", display_lines(.0))]
pub struct PackErrors(pub Vec<PackProblem>);

fn display_lines(problems: &[PackProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl PackSet {
    /// Loads packs from `(file name, TOML text)` pairs, one pack per source.
    pub fn from_sources(sources: &[(String, String)]) -> Result<PackSet, PackErrors> {
        let mut problems = Vec::new();
        let mut packs: BTreeMap<String, Pack> = BTreeMap::new();
        // Where each pack id was first seen, for the duplicate message.
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let admin = RoleDef::admin();
        let mut roles = BTreeMap::from([(admin.role.as_str().to_owned(), admin)]);
        // Which pack first declared each role, for the conflict message.
        let mut role_origin: BTreeMap<String, String> = BTreeMap::new();
        // Which type first claimed each intake channel.
        let mut channel_owner: BTreeMap<IntakeChannel, String> = BTreeMap::new();
        for (file, text) in sources {
            let mut ctx = Ctx {
                file,
                text,
                problems: Vec::new(),
                roles: BTreeMap::new(),
                pending_guards: Vec::new(),
            };
            if let Some(parsed) = parse_source(&mut ctx) {
                let pack = parsed.pack;
                for (id, loc) in &parsed.role_locs {
                    merge_role(&mut ctx, &mut roles, &mut role_origin, &pack, id, loc);
                }
                claim_channels(&mut ctx, &mut channel_owner, &pack, &parsed.id_loc);
                if let Some(first) = seen.get(&pack.id) {
                    let message = format!("pack id `{}` is already used by {first}", pack.id);
                    ctx.err(&parsed.id_loc, message);
                } else {
                    seen.insert(pack.id.clone(), file.clone());
                    if ctx.problems.is_empty() {
                        packs.insert(pack.id.clone(), pack);
                    }
                }
            }
            ctx.problems.sort_by_key(|p| (p.line, p.column));
            problems.append(&mut ctx.problems);
        }
        if problems.is_empty() {
            Ok(PackSet { packs, roles })
        } else {
            Err(PackErrors(problems))
        }
    }

    /// A role declared by a loaded pack, or `admin`.
    pub fn role(&self, id: &str) -> Option<&RoleDef> {
        self.roles.get(id)
    }

    /// Every declared role, by id.
    pub fn roles(&self) -> impl Iterator<Item = &RoleDef> {
        self.roles.values()
    }

    /// The roles that work at an engine page (`role::PAGES`).
    pub fn roles_at(&self, page: &str) -> Vec<Role> {
        self.roles
            .values()
            .filter(|r| r.works_at(page))
            .map(|r| r.role)
            .collect()
    }

    /// Whether any of these roles may reveal personal values in clear on a
    /// case of pack `pack_id`: the pack itself must declare the role so. A
    /// mediator reveals a dispute's parties, not a hotline caller's phone.
    pub fn may_reveal(&self, pack_id: &str, roles: &[Role]) -> bool {
        let Some(pack) = self.packs.get(pack_id) else {
            return false;
        };
        roles.iter().any(|r| {
            pack.roles
                .get(r.as_str())
                .is_some_and(|d| d.reveal_personal)
        })
    }

    pub fn pack(&self, id: &str) -> Option<&Pack> {
        self.packs.get(id)
    }

    pub fn packs(&self) -> impl Iterator<Item = &Pack> {
        self.packs.values()
    }

    pub fn case_type(&self, pack: &str, case_type: &str) -> Option<&CaseType> {
        self.packs.get(pack)?.types.get(case_type)
    }

    /// All case types, ordered by pack id then type id.
    pub fn case_types(&self) -> impl Iterator<Item = &CaseType> {
        self.packs.values().flat_map(|p| p.types.values())
    }

    /// A case's heading through its type's bound title field; empty when the
    /// type binds none.
    pub fn title_of<'a>(
        &self,
        pack: &str,
        case_type: &str,
        fields: &'a serde_json::Map<String, serde_json::Value>,
    ) -> &'a str {
        self.case_type(pack, case_type)
            .and_then(|t| t.title_of(fields))
            .unwrap_or_default()
    }

    /// A case's category code through its type's category field.
    pub fn category_of<'a>(
        &self,
        pack: &str,
        case_type: &str,
        fields: &'a serde_json::Map<String, serde_json::Value>,
    ) -> Option<&'a str> {
        self.case_type(pack, case_type)?.category_of(fields)
    }

    /// Every guide, with the pack that declares it, by pack then guide id.
    pub fn guides(&self) -> impl Iterator<Item = (&Pack, &GuideDef)> {
        self.packs
            .values()
            .flat_map(|p| p.guides.values().map(move |g| (p, g)))
    }

    pub fn guide(&self, pack: &str, id: &str) -> Option<&GuideDef> {
        self.packs.get(pack)?.guides.get(id)
    }

    /// The case type an intake channel registers (at most one claims each).
    pub fn intake_type(&self, channel: IntakeChannel) -> Option<&CaseType> {
        self.case_types()
            .find(|t| t.intake_channels().contains(&channel))
    }
}

impl CaseType {
    /// The action with `from = []`. Validation guarantees exactly one; should the
    /// public fields be altered afterwards, an action nobody may perform is
    /// returned instead of panicking.
    pub fn creation_action(&self) -> &ActionDef {
        self.actions
            .values()
            .find(|a| a.is_creation())
            .unwrap_or(&NO_ACTION)
    }

    /// The role a system account (the portal, Open311, an import) takes new
    /// cases in under: the creation action's first role.
    pub fn intake_role(&self) -> Option<Role> {
        self.creation_action().roles.first().copied()
    }

    /// The channels that register cases of this type.
    pub fn intake_channels(&self) -> &[IntakeChannel] {
        self.bindings
            .intake
            .as_ref()
            .map(|i| i.channels.as_slice())
            .unwrap_or_default()
    }

    /// The type's category field (the first of kind `category`), which sets
    /// the case's category for routing, deadlines and figures.
    pub fn category_field(&self) -> Option<&str> {
        self.fields
            .values()
            .find(|f| matches!(f.kind, FieldKind::Category))
            .map(|f| f.key.as_str())
    }

    /// The case's category code, from its category field.
    pub fn category_of<'a>(
        &self,
        fields: &'a serde_json::Map<String, serde_json::Value>,
    ) -> Option<&'a str> {
        fields.get(self.category_field()?)?.as_str()
    }

    /// The people a case of this type names in person fields that ask for
    /// the conflict-of-interest check: (field, user id).
    pub fn conflict_checked_people<'a>(
        &'a self,
        fields: &'a serde_json::Map<String, serde_json::Value>,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.fields.values().filter_map(move |f| match f.kind {
            FieldKind::Person {
                conflict_check: true,
                ..
            } => Some((f.key.as_str(), fields.get(&f.key)?.as_str()?)),
            _ => None,
        })
    }

    /// The case's heading, from the bound title field.
    pub fn title_of<'a>(
        &self,
        fields: &'a serde_json::Map<String, serde_json::Value>,
    ) -> Option<&'a str> {
        fields.get(self.bindings.title.as_deref()?)?.as_str()
    }

    /// The bound value of `field` (a binding's field id) in `fields`, as text.
    pub fn text_of<'a>(
        field: Option<&str>,
        fields: &'a serde_json::Map<String, serde_json::Value>,
    ) -> Option<&'a str> {
        fields.get(field?)?.as_str()
    }

    /// Person fields whose candidates show an expertise, with the choice
    /// field that names it: `(person field, choice field)`.
    pub fn expertise_fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.values().filter_map(|f| match &f.kind {
            FieldKind::Person {
                expertise: Some(choice),
                ..
            } => Some((f.key.as_str(), choice.as_str())),
            _ => None,
        })
    }

    /// Fields the public may see, in key order.
    pub fn public_fields(&self) -> impl Iterator<Item = &FieldDef> {
        self.fields.values().filter(|f| f.public)
    }

    /// Actions that may start from `state`, in action id order.
    pub fn actions_from<'a>(&'a self, state: &'a str) -> impl Iterator<Item = &'a ActionDef> + 'a {
        self.actions
            .values()
            .filter(move |a| a.from.iter().any(|s| s == state))
    }
}

static NO_ACTION: ActionDef = ActionDef {
    id: String::new(),
    name: Names {
        zh: String::new(),
        en: String::new(),
    },
    from: Vec::new(),
    to: String::new(),
    roles: Vec::new(),
    requires: Vec::new(),
    allows: Vec::new(),
    reason: ReasonRule::Optional,
    target: TargetRule::ActorUnit,
    effect: Effect::None,
    guards: Vec::new(),
    escalate_after: None,
    branch: None,
};

// ---------------------------------------------------------------------------
// Field values
// ---------------------------------------------------------------------------

impl FieldDef {
    /// Checks a submitted value and returns its normalised form (trimmed text,
    /// numbers from numeric strings, phone without spaces). `null` and blank
    /// strings are rejected here; the engine treats them as "clear the field"
    /// before calling this.
    pub fn validate(&self, value: &serde_json::Value) -> Result<serde_json::Value, String> {
        use serde_json::Value;
        if value.is_null() {
            return Err("a value is required".into());
        }
        if let Value::String(s) = value
            && s.trim().is_empty()
        {
            return Err("must not be empty".into());
        }
        match &self.kind {
            FieldKind::Text { max_length } => {
                let s = value.as_str().ok_or("must be text")?.trim();
                if s.chars().any(char::is_control) {
                    return Err("must be a single line without control characters".into());
                }
                check_len(s, *max_length)?;
                Ok(Value::String(s.to_owned()))
            }
            FieldKind::LongText { max_length } => {
                let s = value.as_str().ok_or("must be text")?.trim();
                // Line endings from browsers vary; store one form.
                let s = s.replace("\r\n", "\n").replace('\r', "\n");
                if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                    return Err("must not contain control characters".into());
                }
                check_len(&s, *max_length)?;
                Ok(Value::String(s))
            }
            FieldKind::Integer { min, max } => {
                let n = match value {
                    Value::Number(n) => n.as_i64().ok_or("must be a whole number in range")?,
                    Value::String(s) => s
                        .trim()
                        .parse::<i64>()
                        .map_err(|_| "must be a whole number")?,
                    _ => return Err("must be a whole number".into()),
                };
                if let Some(min) = min
                    && n < *min
                {
                    return Err(format!("must be at least {min}"));
                }
                if let Some(max) = max
                    && n > *max
                {
                    return Err(format!("must be at most {max}"));
                }
                Ok(Value::from(n))
            }
            FieldKind::Number { min, max } => {
                let (x, normal) = match value {
                    Value::Number(n) => (
                        n.as_f64().ok_or("must be a number")?,
                        Value::Number(n.clone()),
                    ),
                    Value::String(s) => {
                        let s = s.trim();
                        if let Ok(i) = s.parse::<i64>() {
                            (i as f64, Value::from(i))
                        } else {
                            let x = s.parse::<f64>().map_err(|_| "must be a number")?;
                            let n =
                                serde_json::Number::from_f64(x).ok_or("must be a finite number")?;
                            (x, Value::Number(n))
                        }
                    }
                    _ => return Err("must be a number".into()),
                };
                if !x.is_finite() {
                    return Err("must be a finite number".into());
                }
                if let Some(min) = min
                    && x < *min
                {
                    return Err(format!("must be at least {min}"));
                }
                if let Some(max) = max
                    && x > *max
                {
                    return Err(format!("must be at most {max}"));
                }
                Ok(normal)
            }
            FieldKind::Boolean => match value {
                Value::Bool(b) => Ok(Value::Bool(*b)),
                Value::String(s) if s.trim() == "true" => Ok(Value::Bool(true)),
                Value::String(s) if s.trim() == "false" => Ok(Value::Bool(false)),
                _ => Err("must be true or false".into()),
            },
            FieldKind::Date => {
                let s = value.as_str().ok_or("must be a date (YYYY-MM-DD)")?.trim();
                let shape_ok = s.len() == 10
                    && s.char_indices().all(|(i, c)| {
                        if i == 4 || i == 7 {
                            c == '-'
                        } else {
                            c.is_ascii_digit()
                        }
                    });
                if !shape_ok || chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_err() {
                    return Err("must be a date (YYYY-MM-DD)".into());
                }
                Ok(Value::String(s.to_owned()))
            }
            FieldKind::Choice { options } => {
                let s = value
                    .as_str()
                    .ok_or("must be one of the listed options")?
                    .trim();
                if options.iter().any(|o| o.value == s) {
                    Ok(Value::String(s.to_owned()))
                } else {
                    let list: Vec<&str> = options.iter().map(|o| o.value.as_str()).collect();
                    Err(format!("must be one of: {}", list.join(", ")))
                }
            }
            FieldKind::Phone => {
                let s = value.as_str().ok_or("must be a phone number")?.trim();
                let count = s.chars().count();
                let chars_ok = s.chars().enumerate().all(|(i, c)| {
                    c.is_ascii_digit() || c == '-' || c == ' ' || (c == '+' && i == 0)
                });
                let digits = s.chars().filter(char::is_ascii_digit).count();
                if !(7..=20).contains(&count) || !chars_ok || digits < 7 {
                    return Err(
                        "must be a phone number: 7 to 20 digits, '-', spaces, optional leading '+'"
                            .into(),
                    );
                }
                Ok(Value::String(s.chars().filter(|c| *c != ' ').collect()))
            }
            FieldKind::Unit => {
                let s = value.as_str().ok_or("must be a unit code")?.trim();
                if !is_unit_code(s) {
                    return Err("must be a unit code".into());
                }
                Ok(Value::String(s.to_owned()))
            }
            FieldKind::Category => {
                let s = value.as_str().ok_or("must be a category code")?.trim();
                if !crate::category_code::is_valid_code(s) {
                    return Err("must be a category code such as R01.02".into());
                }
                Ok(Value::String(s.to_owned()))
            }
            FieldKind::Decimal { scale, min, max } => {
                decimal::validate_decimal(value, *scale, min.as_deref(), max.as_deref())
            }
            FieldKind::Person { .. } => {
                let s = value.as_str().ok_or("must be a user id")?.trim();
                if s.is_empty() || s.chars().count() > MAX_ID_LEN {
                    return Err(format!("must be a user id of 1 to {MAX_ID_LEN} characters"));
                }
                Ok(Value::String(s.to_owned()))
            }
            FieldKind::Attachment => {
                let s = value.as_str().ok_or("must be an attachment id")?.trim();
                let shaped =
                    s.len() <= MAX_ID_LEN && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
                if s.is_empty() || !shaped {
                    return Err("must be the id of a file attached to the case".into());
                }
                Ok(Value::String(s.to_ascii_lowercase()))
            }
            FieldKind::List {
                parts,
                required,
                max_items,
            } => compound::validate_list(value, parts, required, *max_items),
            FieldKind::Object { parts, required } => {
                compound::validate_object(value, parts, required, "")
            }
            FieldKind::CaseRef { .. } => {
                let s = value.as_str().ok_or("must be a receipt code")?;
                crate::ids::normalize_receipt_code(s)
                    .map(Value::String)
                    .ok_or_else(|| "must be a receipt code such as K7M-4Q9XZ-2".into())
            }
        }
    }
}

fn check_len(s: &str, max: usize) -> Result<(), String> {
    let n = s.chars().count();
    if n > max {
        Err(format!("is {n} characters long, at most {max} allowed"))
    } else {
        Ok(())
    }
}

/// Unit codes are opaque to packs; only the shape is checked here.
pub fn is_unit_code(s: &str) -> bool {
    !s.is_empty()
        && s.chars().count() <= MAX_UNIT_CODE_LEN
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Ids used in packs: `[a-z][a-z0-9_]*`, at most 64 characters.
pub fn is_valid_id(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && s.len() <= MAX_ID_LEN
}

// ---------------------------------------------------------------------------
// Spanned TOML tree
//
// serde derive stops at the first error and loses positions, so the TOML is
// first read into a tree that keeps byte spans, then checked by hand.
// ---------------------------------------------------------------------------

// Names toml uses to hand out spans and datetimes through serde. They are
// hidden constants of serde_spanned / toml_datetime, stable across toml 0.8.
const SPANNED_NAME: &str = "$__serde_spanned_private_Spanned";
const SPANNED_START: &str = "$__serde_spanned_private_start";
const SPANNED_END: &str = "$__serde_spanned_private_end";
const SPANNED_VALUE: &str = "$__serde_spanned_private_value";
const SPANNED_FIELDS: &[&str] = &[SPANNED_START, SPANNED_END, SPANNED_VALUE];
const DATETIME_FIELD: &str = "$__toml_private_datetime";

type Loc = Option<Range<usize>>;

#[derive(Debug, Clone)]
struct Node {
    span: Loc,
    value: Raw,
}

#[derive(Debug, Clone)]
enum Raw {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime,
    Array(Vec<Node>),
    Table(Vec<(Key, Node)>),
}

impl Raw {
    fn type_name(&self) -> &'static str {
        match self {
            Raw::Str(_) => "a string",
            Raw::Int(_) => "an integer",
            Raw::Float(_) => "a float",
            Raw::Bool(_) => "a boolean",
            Raw::Datetime => "a date-time",
            Raw::Array(_) => "an array",
            Raw::Table(_) => "a table",
        }
    }
}

#[derive(Debug, Clone)]
struct Key {
    name: String,
    span: Loc,
}

impl<'de> de::Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, NodeVisitor { spanned: true })
    }
}

/// Reads the value inside a span wrapper; asking for a span again there would
/// make toml wrap it again forever.
struct BareNode;

impl<'de> DeserializeSeed<'de> for BareNode {
    type Value = Node;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor { spanned: false })
    }
}

struct NodeVisitor {
    spanned: bool,
}

fn bare(value: Raw) -> Node {
    Node { span: None, value }
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(bare(Raw::Bool(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(bare(Raw::Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        i64::try_from(v)
            .map(|v| bare(Raw::Int(v)))
            .map_err(|_| E::custom("integer too large"))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(bare(Raw::Float(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(bare(Raw::Str(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(bare(Raw::Str(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(bare(Raw::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let Some(first) = map.next_key::<Key>()? else {
            return Ok(bare(Raw::Table(Vec::new())));
        };
        if self.spanned && first.name == SPANNED_START {
            let start: usize = map.next_value()?;
            let mut end = start;
            let mut value = None;
            while let Some(key) = map.next_key::<Key>()? {
                if key.name == SPANNED_END {
                    end = map.next_value()?;
                } else if key.name == SPANNED_VALUE {
                    value = Some(map.next_value_seed(BareNode)?);
                } else {
                    return Err(de::Error::custom("malformed span"));
                }
            }
            let value = value.ok_or_else(|| de::Error::custom("malformed span"))?;
            return Ok(Node {
                span: Some(start..end),
                value: value.value,
            });
        }
        if first.name == DATETIME_FIELD {
            let _: String = map.next_value()?;
            return Ok(bare(Raw::Datetime));
        }
        let mut entries = vec![(first, map.next_value::<Node>()?)];
        while let Some(key) = map.next_key::<Key>()? {
            let value = map.next_value::<Node>()?;
            entries.push((key, value));
        }
        Ok(bare(Raw::Table(entries)))
    }
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key {
            name: v.to_owned(),
            span: None,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Key, A::Error> {
        let (mut start, mut end, mut name) = (None, None, None);
        while let Some(k) = map.next_key::<String>()? {
            match k.as_str() {
                SPANNED_START => start = Some(map.next_value::<usize>()?),
                SPANNED_END => end = Some(map.next_value::<usize>()?),
                SPANNED_VALUE => name = Some(map.next_value::<String>()?),
                _ => return Err(de::Error::custom("malformed key span")),
            }
        }
        let name = name.ok_or_else(|| de::Error::custom("malformed key span"))?;
        let span = match (start, end) {
            (Some(s), Some(e)) => Some(s..e),
            _ => None,
        };
        Ok(Key { name, span })
    }
}

// ---------------------------------------------------------------------------
// Checking a source
// ---------------------------------------------------------------------------

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    problems: Vec<PackProblem>,
    /// Roles the pack declares, which its actions may name (with `admin`).
    roles: BTreeMap<String, Role>,
    /// Guards of the type being read, with their action, checked against
    /// its clocks and records once those are read.
    pending_guards: Vec<(String, Guard, Loc)>,
}

impl Ctx<'_> {
    fn err(&mut self, loc: &Loc, message: impl Into<String>) {
        let (line, column) = match loc {
            Some(span) => line_col(self.text, span.start),
            None => (1, 1),
        };
        self.problems.push(PackProblem {
            file: self.file.to_owned(),
            line,
            column,
            message: message.into(),
        });
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).unwrap_or("").chars().count() + 1;
    (line, column)
}

/// A table with the place it is anchored at and a description for messages.
struct Table<'a> {
    entries: &'a [(Key, Node)],
    loc: Loc,
    what: String,
}

/// Best position for an entry: the value itself, else its key (implicit
/// tables from `[a.b.c]` headers carry no span of their own).
fn entry_loc(key: &Key, node: &Node) -> Loc {
    node.span.clone().or_else(|| key.span.clone())
}

impl<'a> Table<'a> {
    fn new(ctx: &mut Ctx, node: &'a Node, loc: Loc, what: String) -> Option<Table<'a>> {
        match &node.value {
            Raw::Table(entries) => Some(Table { entries, loc, what }),
            other => {
                ctx.err(
                    &loc,
                    format!("{what} must be a table, found {}", other.type_name()),
                );
                None
            }
        }
    }

    fn get(&self, key: &str) -> Option<(&'a Key, &'a Node)> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == key)
            .map(|(k, n)| (k, n))
    }

    fn check_keys(&self, ctx: &mut Ctx, allowed: &[&str]) {
        for (key, node) in self.entries {
            if !allowed.contains(&key.name.as_str()) {
                ctx.err(
                    &key.span.clone().or_else(|| node.span.clone()),
                    format!(
                        "unknown key `{}` in {} (expected one of: {})",
                        key.name,
                        self.what,
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    fn missing(&self, ctx: &mut Ctx, key: &str) {
        ctx.err(&self.loc, format!("{} is missing `{key}`", self.what));
    }

    fn string(&self, ctx: &mut Ctx, key: &str, required: bool) -> Option<(String, Loc)> {
        let Some((k, node)) = self.get(key) else {
            if required {
                self.missing(ctx, key);
            }
            return None;
        };
        let loc = entry_loc(k, node);
        match &node.value {
            Raw::Str(s) if s.trim().is_empty() => {
                ctx.err(&loc, format!("`{key}` in {} must not be empty", self.what));
                None
            }
            Raw::Str(s) => Some((s.trim().to_owned(), loc)),
            other => {
                ctx.err(
                    &loc,
                    format!(
                        "`{key}` in {} must be a string, found {}",
                        self.what,
                        other.type_name()
                    ),
                );
                None
            }
        }
    }

    fn boolean(&self, ctx: &mut Ctx, key: &str) -> Option<bool> {
        let (k, node) = self.get(key)?;
        match &node.value {
            Raw::Bool(b) => Some(*b),
            other => {
                let msg = format!(
                    "`{key}` in {} must be true or false, found {}",
                    self.what,
                    other.type_name()
                );
                ctx.err(&entry_loc(k, node), msg);
                None
            }
        }
    }

    fn integer(&self, ctx: &mut Ctx, key: &str) -> Option<(i64, Loc)> {
        let (k, node) = self.get(key)?;
        let loc = entry_loc(k, node);
        match &node.value {
            Raw::Int(i) => Some((*i, loc)),
            other => {
                let msg = format!(
                    "`{key}` in {} must be an integer, found {}",
                    self.what,
                    other.type_name()
                );
                ctx.err(&loc, msg);
                None
            }
        }
    }

    fn float(&self, ctx: &mut Ctx, key: &str) -> Option<(f64, Loc)> {
        let (k, node) = self.get(key)?;
        let loc = entry_loc(k, node);
        match &node.value {
            Raw::Int(i) => Some((*i as f64, loc)),
            Raw::Float(x) if x.is_finite() => Some((*x, loc)),
            other => {
                let msg = format!(
                    "`{key}` in {} must be a finite number, found {}",
                    self.what,
                    other.type_name()
                );
                ctx.err(&loc, msg);
                None
            }
        }
    }

    /// An array of strings; a single string is accepted as a one-element list.
    /// Returns `None` when the key is absent.
    fn string_list(&self, ctx: &mut Ctx, key: &str) -> Option<Vec<(String, Loc)>> {
        let (k, node) = self.get(key)?;
        let loc = entry_loc(k, node);
        match &node.value {
            Raw::Str(s) => Some(vec![(s.trim().to_owned(), loc)]),
            Raw::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    let item_loc = item.span.clone().or_else(|| loc.clone());
                    match &item.value {
                        Raw::Str(s) => out.push((s.trim().to_owned(), item_loc)),
                        other => ctx.err(
                            &item_loc,
                            format!(
                                "`{key}` in {} must list strings, found {}",
                                self.what,
                                other.type_name()
                            ),
                        ),
                    }
                }
                Some(out)
            }
            other => {
                let msg = format!(
                    "`{key}` in {} must be an array of strings, found {}",
                    self.what,
                    other.type_name()
                );
                ctx.err(&loc, msg);
                Some(Vec::new())
            }
        }
    }

    fn names(&self, ctx: &mut Ctx, key: &str) -> Option<Names> {
        let Some((k, node)) = self.get(key) else {
            self.missing(ctx, key);
            return None;
        };
        parse_names(
            ctx,
            node,
            entry_loc(k, node),
            format!("`{key}` of {}", self.what),
        )
    }

    /// A sub-table that maps ids to definitions, e.g. `fields`.
    fn id_table(&self, ctx: &mut Ctx, key: &str, required: bool) -> Option<Table<'a>> {
        let Some((k, node)) = self.get(key) else {
            if required {
                self.missing(ctx, key);
            }
            return None;
        };
        Table::new(
            ctx,
            node,
            entry_loc(k, node),
            format!("`{key}` of {}", self.what),
        )
    }
}

fn parse_names(ctx: &mut Ctx, node: &Node, loc: Loc, what: String) -> Option<Names> {
    match &node.value {
        Raw::Str(s) if !s.trim().is_empty() => Some(Names {
            zh: s.trim().to_owned(),
            en: s.trim().to_owned(),
        }),
        Raw::Table(_) => {
            let t = Table::new(ctx, node, loc, what)?;
            t.check_keys(ctx, &["zh", "en"]);
            let zh = t.string(ctx, "zh", true).map(|(s, _)| s);
            let en = t.string(ctx, "en", false).map(|(s, _)| s);
            let zh = zh?;
            Some(Names {
                en: en.unwrap_or_else(|| zh.clone()),
                zh,
            })
        }
        Raw::Str(_) => {
            ctx.err(&loc, format!("{what} must not be empty"));
            None
        }
        other => {
            ctx.err(
                &loc,
                format!(
                    "{what} must be a string or {{ zh = \"…\", en = \"…\" }}, found {}",
                    other.type_name()
                ),
            );
            None
        }
    }
}

fn check_id(ctx: &mut Ctx, id: &str, loc: &Loc, what: &str) {
    if !is_valid_id(id) {
        ctx.err(
            loc,
            format!("{what} `{id}` is not a valid id (lowercase letter, then a-z, 0-9, _; at most {MAX_ID_LEN})"),
        );
    }
}

/// A role declared by more than one pack is one role: the declarations must
/// agree, or a user granted it could not tell what it means.
fn merge_role(
    ctx: &mut Ctx,
    roles: &mut BTreeMap<String, RoleDef>,
    origin: &mut BTreeMap<String, String>,
    pack: &Pack,
    id: &str,
    loc: &Loc,
) {
    let Some(def) = pack.roles.get(id) else {
        return;
    };
    match roles.get(id) {
        Some(known) if known == def => {}
        Some(_) => {
            let first = origin.get(id).map_or("another pack", String::as_str);
            let message = format!(
                "role `{id}` is declared differently by pack `{first}`; a role shared by packs must be declared the same in each"
            );
            ctx.err(loc, message);
        }
        None => {
            roles.insert(id.to_owned(), def.clone());
            origin.insert(id.to_owned(), pack.id.clone());
        }
    }
}

/// One source as parsed, with the places later checks point at.
/// Each intake channel registers one type across all packs.
fn claim_channels(
    ctx: &mut Ctx,
    owners: &mut BTreeMap<IntakeChannel, String>,
    pack: &Pack,
    loc: &Loc,
) {
    for t in pack.types.values() {
        let here = format!("{}/{}", pack.id, t.id);
        for c in t.intake_channels() {
            match owners.get(c) {
                Some(first) => ctx.err(
                    loc,
                    format!(
                        "intake channel `{}` of {here} is already claimed by {first}",
                        c.as_str()
                    ),
                ),
                None => {
                    owners.insert(*c, here.clone());
                }
            }
        }
    }
}

struct Parsed {
    pack: Pack,
    id_loc: Loc,
    role_locs: Vec<(String, Loc)>,
}

fn parse_source(ctx: &mut Ctx) -> Option<Parsed> {
    let root: Node = match toml::from_str(ctx.text) {
        Ok(root) => root,
        Err(e) => {
            // One problem per line in the report, so fold toml's multi-line text.
            let message = e.message().trim().replace('\n', "; ");
            ctx.err(&e.span(), format!("TOML syntax: {message}"));
            return None;
        }
    };
    let top = Table::new(ctx, &root, Some(0..0), "the pack".to_owned())?;
    top.check_keys(ctx, &["id", "version", "name", "roles", "types", "guides"]);
    let id = top.string(ctx, "id", true);
    if let Some((id, loc)) = &id {
        check_id(ctx, id, loc, "pack id");
    }
    let version = top.string(ctx, "version", true);
    let name = top.names(ctx, "name");
    let pack_id = id.as_ref().map_or("", |(s, _)| s.as_str());
    let pack_version = version.as_ref().map_or("", |(s, _)| s.as_str());

    let declared = roles::parse_roles(ctx, &top);
    ctx.roles = declared
        .iter()
        .map(|(id, (def, _))| (id.clone(), def.role))
        .collect();
    ctx.roles
        .insert(Role::ADMIN.as_str().to_owned(), Role::ADMIN);
    let role_locs = declared
        .iter()
        .map(|(id, (_, loc))| (id.clone(), loc.clone()))
        .collect();
    let roles = declared
        .into_iter()
        .map(|(id, (def, _))| (id, def))
        .collect();

    let mut types = BTreeMap::new();
    if let Some(tt) = top.id_table(ctx, "types", true) {
        if tt.entries.is_empty() {
            ctx.err(&tt.loc, "the pack declares no case types under [types]");
        }
        for (key, node) in tt.entries {
            if let Some(ct) = parse_type(ctx, pack_id, pack_version, key, node) {
                types.insert(ct.id.clone(), ct);
            }
        }
        // The figures read every case of the pack, so only one type may say
        // what they are.
        let with_indicators: Vec<&CaseType> = types
            .values()
            .filter(|t| !t.indicators.is_empty())
            .collect();
        if let [_, second, ..] = with_indicators.as_slice() {
            let msg = format!(
                "type `{}` declares indicators, but so does type `{}`: a pack's figures \
                 come from one type",
                second.id, with_indicators[0].id
            );
            ctx.err(&tt.loc, msg);
        }
    }
    let guides = guides::parse_guides(ctx, &top);
    let (id, id_loc) = id?;
    Some(Parsed {
        pack: Pack {
            id,
            version: version?.0,
            name: name?,
            roles,
            types,
            guides,
        },
        id_loc,
        role_locs,
    })
}

fn parse_type(
    ctx: &mut Ctx,
    pack_id: &str,
    pack_version: &str,
    key: &Key,
    node: &Node,
) -> Option<CaseType> {
    let loc = entry_loc(key, node);
    check_id(ctx, &key.name, &key.span, "case type id");
    let t = Table::new(ctx, node, loc.clone(), format!("type `{}`", key.name))?;
    t.check_keys(
        ctx,
        &[
            "name",
            "fields",
            "states",
            "actions",
            "bindings",
            "parties",
            "clocks",
            "routing",
            "records",
            "indicators",
            "templates",
        ],
    );
    let name = t.names(ctx, "name");
    let routing = match t.string(ctx, "routing", false) {
        None => Routing::None,
        Some((r, _)) if r == "rules" => Routing::Rules,
        Some((r, _)) if r == "none" => Routing::None,
        Some((r, rloc)) => {
            ctx.err(
                &rloc,
                format!("unknown routing `{r}` (expected rules or none)"),
            );
            Routing::None
        }
    };

    let mut fields = BTreeMap::new();
    let mut field_keys = BTreeSet::new();
    if let Some(ft) = t.id_table(ctx, "fields", false) {
        for (fk, fnode) in ft.entries {
            field_keys.insert(fk.name.clone());
            if let Some(f) = parse_field(ctx, &key.name, fk, fnode) {
                record_only(ctx, fk, fnode, &f);
                fields.insert(f.key.clone(), f);
            }
        }
    }

    let mut states = BTreeMap::new();
    let mut state_locs = BTreeMap::new();
    if let Some(st) = t.id_table(ctx, "states", true) {
        if st.entries.is_empty() {
            ctx.err(&st.loc, format!("type `{}` declares no states", key.name));
        }
        for (sk, snode) in st.entries {
            state_locs.insert(sk.name.clone(), entry_loc(sk, snode));
            // Kept even when partly broken so that actions can refer to it
            // without a second, misleading error.
            let s = parse_state(ctx, &key.name, sk, snode);
            states.insert(sk.name.clone(), s);
        }
    }

    let mut actions = BTreeMap::new();
    let mut graph = Graph {
        edges: Vec::new(),
        complete: true,
        state_locs,
        action_locs: BTreeMap::new(),
    };
    match t.id_table(ctx, "actions", true) {
        Some(at) => {
            for (ak, anode) in at.entries {
                graph
                    .action_locs
                    .insert(ak.name.clone(), entry_loc(ak, anode));
                let (action, edge, branch_edges) =
                    parse_action(ctx, &key.name, ak, anode, &states, &field_keys, &fields);
                match edge {
                    Some(edge) => graph.edges.push(edge),
                    None => graph.complete = false,
                }
                graph.edges.extend(branch_edges);
                if let Some(action) = action {
                    actions.insert(action.id.clone(), action);
                }
            }
        }
        None => graph.complete = false,
    }
    check_graph(ctx, &key.name, &loc, &states, &graph);
    let action_ids: BTreeSet<String> = graph.action_locs.keys().cloned().collect();
    let bindings = bindings::parse_bindings(
        ctx,
        &t,
        &bindings::Declared {
            type_id: &key.name,
            states: &states,
            actions: &actions,
            action_ids: &action_ids,
            fields: &fields,
        },
    );

    let mut parties = parties::parse_parties(ctx, &t, &key.name);
    if let Some(p) = parties.as_mut()
        && p.managed_by.is_empty()
    {
        p.managed_by = actions
            .values()
            .find(|a| a.is_creation())
            .map(|a| a.roles.clone())
            .unwrap_or_default();
    }
    let identified = parties
        .as_ref()
        .is_some_and(|p| !p.identified_by.is_empty());
    for f in fields.values() {
        if matches!(
            f.kind,
            FieldKind::Person {
                conflict_check: true,
                ..
            }
        ) && !identified
        {
            ctx.err(
                &t.loc,
                format!(
                    "person field `{}` of type `{}` has conflict_check, which needs the \
                     type's parties to declare `identified_by`",
                    f.key, key.name
                ),
            );
        }
    }
    for f in fields.values() {
        if let FieldKind::Person {
            expertise: Some(choice),
            ..
        } = &f.kind
            && !matches!(
                fields.get(choice).map(|c| &c.kind),
                Some(FieldKind::Choice { .. })
            )
        {
            ctx.err(
                &t.loc,
                format!(
                    "person field `{}` of type `{}` takes its expertise from `{choice}`, \
                     which is not a choice field of the type",
                    f.key, key.name
                ),
            );
        }
    }
    let creation_state = actions
        .values()
        .find(|a| a.is_creation())
        .map(|a| a.to.as_str());
    let clocks = clocks::parse_clocks(ctx, &t, &key.name, &states, creation_state);
    let party_roles: Vec<String> = parties
        .as_ref()
        .map(|p| p.roles.keys().cloned().collect())
        .unwrap_or_default();
    let records = records::parse_records(ctx, &t, &key.name, &party_roles);
    let pending = std::mem::take(&mut ctx.pending_guards);
    guards::check_refs(ctx, &key.name, &pending, &clocks, &records);
    let templates = templates::parse_templates(ctx, &t, &key.name, &fields, &records);
    let indicators = indicators::parse_indicators(
        ctx,
        &t,
        &indicators::Declared {
            type_id: &key.name,
            states: &states,
            action_ids: &action_ids,
            fields: &fields,
            clocks: &clocks,
        },
    );

    Some(CaseType {
        pack_id: pack_id.to_owned(),
        pack_version: pack_version.to_owned(),
        id: key.name.clone(),
        name: name?,
        fields,
        states,
        actions,
        bindings,
        parties,
        clocks,
        routing,
        records,
        indicators,
        templates,
    })
}

const FIELD_KINDS: &[&str] = &[
    "text",
    "long_text",
    "integer",
    "number",
    "decimal",
    "boolean",
    "date",
    "choice",
    "phone",
    "unit",
    "case_ref",
    "category",
    "person",
    "attachment",
    "list",
    "object",
];

/// Refuses a field of kind `attachment`, `list` or `object` outside a
/// record: files of a case itself are its attachments, a party's details
/// hold none, and a case's own fields stay plain values that the log,
/// masking and indicators read whole.
fn record_only(ctx: &mut Ctx, key: &Key, node: &Node, field: &FieldDef) {
    if !matches!(
        field.kind,
        FieldKind::Attachment | FieldKind::List { .. } | FieldKind::Object { .. }
    ) {
        return;
    }
    let kind = field.kind.name();
    let msg = format!(
        "field `{}` is of kind `{kind}`, which only a record's fields may be",
        field.key
    );
    ctx.err(&entry_loc(key, node), msg);
}

fn parse_field(ctx: &mut Ctx, type_id: &str, key: &Key, node: &Node) -> Option<FieldDef> {
    let loc = entry_loc(key, node);
    check_id(ctx, &key.name, &key.span, "field key");
    let t = Table::new(
        ctx,
        node,
        loc,
        format!("field `{}` of type `{type_id}`", key.name),
    )?;
    let label = t.names(ctx, "label");
    let personal = t.boolean(ctx, "personal").unwrap_or(false);
    let public = t.boolean(ctx, "public").unwrap_or(false);
    if personal && public {
        ctx.err(
            &t.loc,
            format!("{} is personal and cannot be public", t.what),
        );
    }
    let (kind_name, kind_loc) = t.string(ctx, "kind", true)?;
    let common = ["kind", "label", "personal", "public"];
    let extra: &[&str] = match kind_name.as_str() {
        "text" | "long_text" => &["max_length"],
        "integer" | "number" => &["min", "max"],
        "decimal" => &["scale", "min", "max"],
        "choice" => &["options"],
        "person" => &["roles", "conflict_check", "expertise"],
        "case_ref" => &["link"],
        "list" => &["fields", "required", "max_items"],
        "object" => &["fields", "required"],
        "boolean" | "date" | "phone" | "unit" | "category" | "attachment" => &[],
        other => {
            ctx.err(
                &kind_loc,
                format!(
                    "unknown field kind `{other}` (expected one of: {})",
                    FIELD_KINDS.join(", ")
                ),
            );
            return None;
        }
    };
    let allowed: Vec<&str> = common.iter().chain(extra).copied().collect();
    t.check_keys(ctx, &allowed);

    let kind = match kind_name.as_str() {
        "text" | "long_text" => {
            let default = if kind_name == "text" {
                DEFAULT_TEXT_MAX
            } else {
                DEFAULT_LONG_TEXT_MAX
            };
            let max_length = match t.integer(ctx, "max_length") {
                None => default,
                Some((n, _)) if n >= 1 && n as u64 <= MAX_TEXT_LIMIT as u64 => n as usize,
                Some((_, loc)) => {
                    ctx.err(
                        &loc,
                        format!("max_length must be between 1 and {MAX_TEXT_LIMIT}"),
                    );
                    default
                }
            };
            if kind_name == "text" {
                FieldKind::Text { max_length }
            } else {
                FieldKind::LongText { max_length }
            }
        }
        "integer" => {
            let min = t.integer(ctx, "min");
            let max = t.integer(ctx, "max");
            if let (Some((lo, _)), Some((hi, loc))) = (&min, &max)
                && lo > hi
            {
                ctx.err(loc, format!("max ({hi}) is below min ({lo})"));
            }
            FieldKind::Integer {
                min: min.map(|(n, _)| n),
                max: max.map(|(n, _)| n),
            }
        }
        "number" => {
            let min = t.float(ctx, "min");
            let max = t.float(ctx, "max");
            if let (Some((lo, _)), Some((hi, loc))) = (&min, &max)
                && lo > hi
            {
                ctx.err(loc, format!("max ({hi}) is below min ({lo})"));
            }
            FieldKind::Number {
                min: min.map(|(n, _)| n),
                max: max.map(|(n, _)| n),
            }
        }
        "decimal" => {
            let (scale, min, max) = decimal::parse_decimal(ctx, &t);
            FieldKind::Decimal { scale, min, max }
        }
        "choice" => FieldKind::Choice {
            options: parse_options(ctx, &t)?,
        },
        "boolean" => FieldKind::Boolean,
        "date" => FieldKind::Date,
        "phone" => FieldKind::Phone,
        "attachment" => FieldKind::Attachment,
        "case_ref" => FieldKind::CaseRef {
            link: match t.string(ctx, "link", false) {
                None => None,
                Some((text, loc)) => match crate::link::LinkKind::parse(&text) {
                    Some(kind) => Some(kind),
                    None => {
                        ctx.err(
                            &loc,
                            format!(
                                "unknown link `{text}` (expected referral, duplicate, conversion or related)"
                            ),
                        );
                        None
                    }
                },
            },
        },
        "category" => FieldKind::Category,
        "list" => {
            let (parts, required) = compound::parse_parts(ctx, &t, &key.name);
            FieldKind::List {
                parts,
                required,
                max_items: compound::parse_max_items(ctx, &t),
            }
        }
        "object" => {
            let (parts, required) = compound::parse_parts(ctx, &t, &key.name);
            FieldKind::Object { parts, required }
        }
        "person" => FieldKind::Person {
            roles: parse_action_roles(ctx, &t),
            conflict_check: t.boolean(ctx, "conflict_check").unwrap_or(false),
            expertise: t.string(ctx, "expertise", false).map(|(f, _)| f),
        },
        _ => FieldKind::Unit,
    };
    Some(FieldDef {
        key: key.name.clone(),
        label: label?,
        kind,
        personal,
        public,
    })
}

fn parse_options(ctx: &mut Ctx, t: &Table) -> Option<Vec<ChoiceOption>> {
    let Some((k, node)) = t.get("options") else {
        ctx.err(
            &t.loc,
            format!("{} is a choice but has no `options`", t.what),
        );
        return None;
    };
    let loc = entry_loc(k, node);
    let Raw::Array(items) = &node.value else {
        ctx.err(&loc, format!("`options` of {} must be an array", t.what));
        return None;
    };
    if items.is_empty() {
        ctx.err(&loc, format!("`options` of {} must not be empty", t.what));
        return None;
    }
    let mut out: Vec<ChoiceOption> = Vec::new();
    for item in items {
        let item_loc = item.span.clone().or_else(|| loc.clone());
        let option = match &item.value {
            Raw::Str(s) => Some(ChoiceOption {
                value: s.trim().to_owned(),
                name: Names {
                    zh: s.trim().to_owned(),
                    en: s.trim().to_owned(),
                },
                public: None,
            }),
            Raw::Table(_) => {
                let what = format!("an option of {}", t.what);
                Table::new(ctx, item, item_loc.clone(), what).and_then(|ot| {
                    ot.check_keys(ctx, &["value", "name", "public"]);
                    let value = ot.string(ctx, "value", true);
                    let name = ot.names(ctx, "name");
                    let public = bindings::parse_public(ctx, &ot, false, true);
                    Some(ChoiceOption {
                        value: value?.0,
                        name: name?,
                        public,
                    })
                })
            }
            other => {
                let msg = format!(
                    "options of {} must be strings or {{ value, name }} tables, found {}",
                    t.what,
                    other.type_name()
                );
                ctx.err(&item_loc, msg);
                None
            }
        };
        if let Some(option) = option {
            check_id(ctx, &option.value, &item_loc, "choice option");
            if out.iter().any(|o| o.value == option.value) {
                ctx.err(
                    &item_loc,
                    format!("option `{}` is listed twice", option.value),
                );
            }
            out.push(option);
        }
    }
    Some(out)
}

fn parse_state(ctx: &mut Ctx, type_id: &str, key: &Key, node: &Node) -> StateDef {
    let loc = entry_loc(key, node);
    check_id(ctx, &key.name, &key.span, "state id");
    let mut state = StateDef {
        id: key.name.clone(),
        name: Names {
            zh: key.name.clone(),
            en: key.name.clone(),
        },
        terminal: false,
        deadline: None,
        public: PublicStatus::Open,
    };
    let Some(t) = Table::new(
        ctx,
        node,
        loc,
        format!("state `{}` of type `{type_id}`", key.name),
    ) else {
        return state;
    };
    t.check_keys(ctx, &["name", "terminal", "deadline", "public"]);
    if let Some(name) = t.names(ctx, "name") {
        state.name = name;
    }
    state.terminal = t.boolean(ctx, "terminal").unwrap_or(false);
    state.public =
        bindings::parse_public(ctx, &t, true, state.terminal).unwrap_or(if state.terminal {
            PublicStatus::Closed
        } else {
            PublicStatus::Open
        });
    if let Some((dk, dnode)) = t.get("deadline") {
        let dloc = entry_loc(dk, dnode);
        if state.terminal {
            ctx.err(
                &dloc,
                format!("terminal state `{}` cannot have a deadline", key.name),
            );
        }
        state.deadline = parse_deadline(
            ctx,
            dnode,
            dloc,
            format!("deadline of state `{}`", key.name),
        );
    }
    state
}

fn parse_deadline(ctx: &mut Ctx, node: &Node, loc: Loc, what: String) -> Option<DeadlineDef> {
    let t = Table::new(ctx, node, loc, what)?;
    t.check_keys(
        ctx,
        &[
            "amount",
            "unit",
            "warn_at",
            "on_expiry",
            "escalate_to",
            "category",
        ],
    );
    let amount = match t.integer(ctx, "amount") {
        None => {
            if t.get("amount").is_none() {
                t.missing(ctx, "amount");
            }
            None
        }
        Some((n, loc)) => match u32::try_from(n) {
            Ok(n) if (1..=MAX_DEADLINE_AMOUNT).contains(&n) => Some(n),
            _ => {
                ctx.err(
                    &loc,
                    format!(
                        "deadline amount must be between 1 and {MAX_DEADLINE_AMOUNT}, found {n}"
                    ),
                );
                None
            }
        },
    };
    let unit = t.string(ctx, "unit", true).and_then(|(u, loc)| {
        let parsed = DurationUnit::parse(&u);
        if parsed.is_none() {
            ctx.err(
                &loc,
                format!("unknown duration unit `{u}` (expected calendar_hours, calendar_days, calendar_months, working_days or working_hours)"),
            );
        }
        parsed
    });
    let warn_at = match t.float(ctx, "warn_at") {
        Some((x, _)) if x > 0.0 && x < 1.0 => Some(x),
        Some((x, loc)) => {
            ctx.err(
                &loc,
                format!("warn_at must be strictly between 0 and 1, found {x}"),
            );
            None
        }
        None => None,
    };
    let escalate_to = t.string(ctx, "escalate_to", false);
    let on_expiry = match t.string(ctx, "on_expiry", false) {
        None => Some(Expiry::Warn),
        Some((e, eloc)) => {
            match e.as_str() {
                "warn" => Some(Expiry::Warn),
                "mark_overdue" => Some(Expiry::MarkOverdue),
                "escalate" => match &escalate_to {
                    None => {
                        ctx.err(&eloc, "on_expiry = \"escalate\" needs escalate_to (\"parent\" or a unit code)");
                        None
                    }
                    Some((to, _)) if to == "parent" => Some(Expiry::Escalate(EscalateTo::Parent)),
                    Some((to, tloc)) => {
                        if is_unit_code(to) {
                            Some(Expiry::Escalate(EscalateTo::Unit(to.clone())))
                        } else {
                            ctx.err(
                                tloc,
                                format!("escalate_to `{to}` is neither \"parent\" nor a unit code"),
                            );
                            None
                        }
                    }
                },
                other => {
                    ctx.err(
                        &eloc,
                        format!(
                            "unknown on_expiry `{other}` (expected warn, mark_overdue or escalate)"
                        ),
                    );
                    None
                }
            }
        }
    };
    if let (Some((_, tloc)), Some(Expiry::Warn | Expiry::MarkOverdue)) = (&escalate_to, &on_expiry)
    {
        ctx.err(
            tloc,
            "escalate_to is only allowed with on_expiry = \"escalate\"",
        );
    }
    let category_rule = t.string(ctx, "category", false).and_then(|(c, cloc)| {
        if CATEGORY_DEADLINES.contains(&c.as_str()) {
            Some(c)
        } else {
            ctx.err(
                &cloc,
                format!(
                    "unknown category deadline `{c}` (expected one of: {})",
                    CATEGORY_DEADLINES.join(", ")
                ),
            );
            None
        }
    });
    Some(DeadlineDef {
        rule: DurationRule {
            amount: amount?,
            unit: unit?,
        },
        warn_at,
        on_expiry: on_expiry?,
        category_rule,
    })
}

/// An action reduced to what the graph checks need.
struct Edge {
    id: String,
    from: Vec<String>,
    to: String,
}

/// Returns the action (if complete) and its edge if `from`/`to` resolved; the
/// graph checks use edges so that an action broken elsewhere (say, a bad
/// role) does not also make its target state look unreachable.
fn parse_action(
    ctx: &mut Ctx,
    type_id: &str,
    key: &Key,
    node: &Node,
    states: &BTreeMap<String, StateDef>,
    fields: &BTreeSet<String>,
    field_defs: &BTreeMap<String, FieldDef>,
) -> (Option<ActionDef>, Option<Edge>, Vec<Edge>) {
    let loc = entry_loc(key, node);
    check_id(ctx, &key.name, &key.span, "action id");
    let Some(t) = Table::new(
        ctx,
        node,
        loc,
        format!("action `{}` of type `{type_id}`", key.name),
    ) else {
        return (None, None, Vec::new());
    };
    t.check_keys(ctx, ACTION_KEYS);
    let name = t.names(ctx, "name");
    let ends = parse_action_ends(ctx, &t, states);
    let roles = parse_action_roles(ctx, &t);
    let mut seen = Vec::new();
    let requires = action_field_list(ctx, &t, "requires", fields, &mut seen);
    let allows = action_field_list(ctx, &t, "allows", fields, &mut seen);
    let reason = parse_reason_rule(ctx, &t);
    let is_creation = ends.from.is_empty() && t.get("from").is_some() && ends.ok;
    let target = parse_target_rule(ctx, &t, is_creation);
    let effect = parse_effect(ctx, &t, target, requires.first(), field_defs);
    let mut guards = Vec::new();
    for (guard, gloc) in guards::parse_guards(ctx, &t) {
        ctx.pending_guards
            .push((key.name.clone(), guard.clone(), gloc));
        guards.push(guard);
    }
    let escalate_after = match t.integer(ctx, "escalate_after") {
        None => None,
        Some((n, nloc)) => match u32::try_from(n) {
            Ok(n) if (1..=100).contains(&n) => Some(n),
            _ => {
                ctx.err(&nloc, "escalate_after must be between 1 and 100");
                None
            }
        },
    };
    let branch = t.get("branch").and_then(|(bk, bnode)| {
        let bloc = entry_loc(bk, bnode);
        parse_branch(
            ctx, bnode, bloc, &t.what, states, &requires, &allows, field_defs,
        )
    });
    let edge_to = |to: &String| Edge {
        id: key.name.clone(),
        from: ends.from.clone(),
        to: to.clone(),
    };
    let (edge, branch_edges) = if ends.ok {
        let branch_edges = branch
            .as_ref()
            .map(|b| b.to.values().map(edge_to).collect())
            .unwrap_or_default();
        (ends.to.as_ref().map(edge_to), branch_edges)
    } else {
        (None, Vec::new())
    };
    let action = (|| {
        Some(ActionDef {
            id: key.name.clone(),
            name: name?,
            from: ends.from,
            to: ends.to?,
            roles,
            requires,
            allows,
            reason: reason?,
            target: target?,
            effect,
            guards,
            escalate_after,
            branch,
        })
    })();
    (action, edge, branch_edges)
}

/// The keys an action may have.
const ACTION_KEYS: &[&str] = &[
    "name",
    "from",
    "to",
    "roles",
    "requires",
    "allows",
    "reason",
    "target",
    "effect",
    "guards",
    "within_clock",
    "requires_record",
    "requires_link",
    "escalate_after",
    "branch",
];

/// Where an action starts and leads; `ok` is false when either is missing
/// or undeclared, so that no edge of the state graph is drawn from it.
struct ActionEnds {
    from: Vec<String>,
    to: Option<String>,
    ok: bool,
}

fn parse_action_ends(ctx: &mut Ctx, t: &Table, states: &BTreeMap<String, StateDef>) -> ActionEnds {
    let mut ok = true;
    let from = match t.string_list(ctx, "from") {
        Some(list) => list,
        None => {
            ctx.err(
                &t.loc,
                format!(
                    "{} is missing `from` (use `from = []` for the creation action)",
                    t.what
                ),
            );
            ok = false;
            Vec::new()
        }
    };
    let mut from_ids: Vec<String> = Vec::new();
    for (s, sloc) in from {
        if !states.contains_key(&s) {
            ctx.err(
                &sloc,
                format!("{} starts from undeclared state `{s}`", t.what),
            );
            ok = false;
        } else if from_ids.contains(&s) {
            ctx.err(&sloc, format!("state `{s}` is listed twice in `from`"));
        } else {
            from_ids.push(s);
        }
    }
    let to = match t.string(ctx, "to", true) {
        Some((s, sloc)) if !states.contains_key(&s) => {
            ctx.err(&sloc, format!("{} leads to undeclared state `{s}`", t.what));
            ok = false;
            None
        }
        Some((s, _)) => Some(s),
        None => {
            ok = false;
            None
        }
    };
    ActionEnds {
        from: from_ids,
        to,
        ok,
    }
}

/// A `requires` or `allows` list: declared fields, none named twice across
/// the two (`seen` carries the first list into the second).
fn action_field_list(
    ctx: &mut Ctx,
    t: &Table,
    list_key: &str,
    fields: &BTreeSet<String>,
    seen: &mut Vec<String>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (f, floc) in t.string_list(ctx, list_key).unwrap_or_default() {
        if !fields.contains(&f) {
            ctx.err(
                &floc,
                format!("`{list_key}` of {} names undeclared field `{f}`", t.what),
            );
        } else if seen.contains(&f) {
            ctx.err(
                &floc,
                format!("field `{f}` appears twice in `requires`/`allows`"),
            );
        } else {
            seen.push(f.clone());
            out.push(f);
        }
    }
    out
}

fn parse_reason_rule(ctx: &mut Ctx, t: &Table) -> Option<ReasonRule> {
    match t.string(ctx, "reason", false) {
        None => Some(ReasonRule::Optional),
        Some((r, _)) if r == "optional" => Some(ReasonRule::Optional),
        Some((r, _)) if r == "required" => Some(ReasonRule::Required),
        Some((r, rloc)) => {
            ctx.err(
                &rloc,
                format!("unknown reason rule `{r}` (expected required or optional)"),
            );
            None
        }
    }
}

fn parse_target_rule(ctx: &mut Ctx, t: &Table, is_creation: bool) -> Option<TargetRule> {
    let Some((s, sloc)) = t.string(ctx, "target", false) else {
        // A new case has no holder yet, so `keep` cannot be its default.
        return Some(if is_creation {
            TargetRule::ActorUnit
        } else {
            TargetRule::Keep
        });
    };
    let rule = match s.as_str() {
        "keep" => Some(TargetRule::Keep),
        "choose" => Some(TargetRule::Choose),
        "parent" => Some(TargetRule::Parent),
        "actor_unit" => Some(TargetRule::ActorUnit),
        other => {
            ctx.err(
                &sloc,
                format!("unknown target `{other}` (expected keep, choose, parent or actor_unit)"),
            );
            None
        }
    };
    if is_creation && rule == Some(TargetRule::Keep) {
        ctx.err(
            &sloc,
            "the creation action cannot use target = \"keep\": a new case has no unit yet",
        );
    }
    rule
}

/// The action's engine effect, checked against the field it reads and the
/// target it needs.
fn parse_effect(
    ctx: &mut Ctx,
    t: &Table,
    target: Option<TargetRule>,
    first_required: Option<&String>,
    field_defs: &BTreeMap<String, FieldDef>,
) -> Effect {
    let effect = match t.string(ctx, "effect", false) {
        None => Effect::None,
        Some((e, eloc)) => match EFFECTS.iter().find(|(n, _)| *n == e) {
            Some((_, effect)) => *effect,
            None => {
                let all: Vec<&str> = EFFECTS.iter().map(|(n, _)| *n).collect();
                ctx.err(
                    &eloc,
                    format!("unknown effect `{e}` (expected one of: {})", all.join(", ")),
                );
                Effect::None
            }
        },
    };
    check_effect_field(ctx, t, effect, first_required, field_defs);
    if matches!(effect, Effect::AddAssist | Effect::ReleaseAssist)
        && target != Some(TargetRule::Choose)
    {
        ctx.err(
            &t.loc,
            format!(
                "{} names an assisting unit: it needs target = \"choose\"",
                t.what
            ),
        );
    }
    effect
}

/// An effect that reads a field needs the right kind as its action's first
/// required field.
fn check_effect_field(
    ctx: &mut Ctx,
    t: &Table,
    effect: Effect,
    first: Option<&String>,
    field_defs: &BTreeMap<String, FieldDef>,
) {
    let need = match effect {
        Effect::ExtendDeadline => "an integer field (the working days)",
        Effect::AddAssist | Effect::ReportAssist => "a text field (the task or the answer)",
        _ => return,
    };
    let kind = first.and_then(|f| field_defs.get(f)).map(|f| &f.kind);
    let fits = match (effect, kind) {
        (Effect::ExtendDeadline, Some(FieldKind::Integer { .. })) => true,
        (_, Some(FieldKind::Text { .. } | FieldKind::LongText { .. })) => {
            effect != Effect::ExtendDeadline
        }
        _ => false,
    };
    if !fits {
        ctx.err(
            &t.loc,
            format!(
                "{} has effect {}: its first `requires` must be {need}",
                t.what,
                effect.name()
            ),
        );
    }
}

/// A `roles` list (of an action, or of a person field): each declared by the
/// pack (or `admin`), none twice.
fn parse_action_roles(ctx: &mut Ctx, t: &Table) -> Vec<Role> {
    parse_action_roles_at(ctx, t, "roles")
}

/// A required, non-empty list of declared roles under `key`.
fn parse_action_roles_at(ctx: &mut Ctx, t: &Table, key: &str) -> Vec<Role> {
    let mut roles: Vec<Role> = Vec::new();
    let Some(list) = t.string_list(ctx, key) else {
        t.missing(ctx, key);
        return roles;
    };
    if list.is_empty() {
        ctx.err(&t.loc, format!("{} lists no roles", t.what));
    }
    for (r, rloc) in list {
        match ctx.roles.get(&r).copied() {
            None => {
                let known: Vec<&str> = ctx.roles.keys().map(String::as_str).collect();
                let message = format!(
                    "unknown role `{r}`: declare it under [roles.{r}] (roles this pack may name: {})",
                    known.join(", ")
                );
                ctx.err(&rloc, message);
            }
            Some(role) if roles.contains(&role) => {
                ctx.err(&rloc, format!("role `{r}` is listed twice"));
            }
            Some(role) => roles.push(role),
        }
    }
    roles
}

#[allow(clippy::too_many_arguments)]
fn parse_branch(
    ctx: &mut Ctx,
    node: &Node,
    loc: Loc,
    what: &str,
    states: &BTreeMap<String, StateDef>,
    requires: &[String],
    allows: &[String],
    field_defs: &BTreeMap<String, FieldDef>,
) -> Option<Branch> {
    let t = Table::new(ctx, node, loc, format!("`branch` of {what}"))?;
    t.check_keys(ctx, &["field", "to"]);
    let (field, floc) = t.string(ctx, "field", true)?;
    let options: Vec<String> = match field_defs.get(&field).map(|f| &f.kind) {
        Some(FieldKind::Choice { options }) => options.iter().map(|o| o.value.clone()).collect(),
        Some(_) => {
            ctx.err(
                &floc,
                format!("branch field `{field}` must be a choice field"),
            );
            return None;
        }
        None => {
            ctx.err(&floc, format!("branch field `{field}` is not declared"));
            return None;
        }
    };
    if !requires.contains(&field) {
        let hint = if allows.contains(&field) {
            " (it is only in `allows`)"
        } else {
            ""
        };
        ctx.err(
            &floc,
            format!("branch field `{field}` must be in `requires` of {what}{hint}"),
        );
    }
    let to_table = t.id_table(ctx, "to", true)?;
    let mut to = BTreeMap::new();
    for (vk, vnode) in to_table.entries {
        let vloc = entry_loc(vk, vnode);
        if !options.contains(&vk.name) {
            ctx.err(
                &vloc,
                format!("`{}` is not an option of field `{field}`", vk.name),
            );
            continue;
        }
        match &vnode.value {
            Raw::Str(state) if states.contains_key(state.trim()) => {
                to.insert(vk.name.clone(), state.trim().to_owned());
            }
            Raw::Str(state) => {
                ctx.err(&vloc, format!("branch leads to undeclared state `{state}`"))
            }
            other => ctx.err(
                &vloc,
                format!(
                    "branch target must be a state name, found {}",
                    other.type_name()
                ),
            ),
        }
    }
    Some(Branch { field, to })
}

struct Graph {
    edges: Vec<Edge>,
    /// False when some action's `from`/`to` did not resolve.
    complete: bool,
    state_locs: BTreeMap<String, Loc>,
    action_locs: BTreeMap<String, Loc>,
}

fn check_graph(
    ctx: &mut Ctx,
    type_id: &str,
    type_loc: &Loc,
    states: &BTreeMap<String, StateDef>,
    graph: &Graph,
) {
    let creations: Vec<&Edge> = graph.edges.iter().filter(|e| e.from.is_empty()).collect();
    match creations.as_slice() {
        [] if graph.complete => ctx.err(
            type_loc,
            format!("type `{type_id}` has no creation action (an action with `from = []`)"),
        ),
        [] | [_] => {}
        [first, rest @ ..] => {
            for extra in rest {
                let loc = graph.action_locs.get(&extra.id).cloned().flatten();
                ctx.err(
                    &loc,
                    format!(
                        "type `{type_id}` has more than one creation action: `{}` and `{}`",
                        first.id, extra.id
                    ),
                );
            }
        }
    }
    // Follow-up checks would only repeat broken references as new errors.
    if !graph.complete {
        return;
    }
    for state in states.values() {
        let leaves = graph.edges.iter().any(|e| e.from.contains(&state.id));
        if !state.terminal && !leaves {
            let loc = graph.state_locs.get(&state.id).cloned().flatten();
            ctx.err(
                &loc,
                format!(
                    "state `{}` is not terminal but no action leaves it (add an action or `terminal = true`)",
                    state.id
                ),
            );
        }
    }
    let Some(creation) = creations.first() else {
        return;
    };
    // With several creation actions (already an error) any of them counts.
    let mut reached = BTreeSet::new();
    let mut queue: VecDeque<&str> = creations.iter().map(|c| c.to.as_str()).collect();
    while let Some(s) = queue.pop_front() {
        if reached.insert(s) {
            for e in graph.edges.iter().filter(|e| e.from.iter().any(|f| f == s)) {
                queue.push_back(e.to.as_str());
            }
        }
    }
    for state in states.values() {
        if !reached.contains(state.id.as_str()) {
            let loc = graph.state_locs.get(&state.id).cloned().flatten();
            ctx.err(
                &loc,
                format!(
                    "state `{}` cannot be reached from `{}`, where the creation action `{}` leads",
                    state.id, creation.to, creation.id
                ),
            );
        }
    }
}

/// A test fixture with the usual staff roles declared after its own text, so
/// that line numbers in expected problems stay those of the fixture.
#[cfg(test)]
pub(crate) fn with_test_roles(text: &str) -> String {
    let mut out = text.to_owned();
    for role in [
        "operator",
        "dispatcher",
        "handler",
        "grid_worker",
        "supervisor",
    ] {
        if !text.contains(&format!("[roles.{role}]")) {
            out.push_str(&format!("\n[roles.{role}]\nname = \"{role}\"\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const GENERIC: &str = include_str!("../../../packs/generic/pack.toml");
    const BAD: &str = include_str!("../tests-data/packs/bad.toml");

    fn load(text: &str) -> Result<PackSet, PackErrors> {
        PackSet::from_sources(&[("p.toml".to_owned(), with_test_roles(text))])
    }

    fn problems(text: &str) -> Vec<String> {
        match load(text) {
            Ok(_) => panic!("expected problems"),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    /// A valid one-type pack; tests splice faults into it.
    fn minimal(extra: &str) -> String {
        format!(
            r#"id = "mini"
version = "1"
name = "小"
[types.t]
name = "T"
[types.t.fields.note]
kind = "text"
label = "备注"
[types.t.states.open]
name = "开"
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
{extra}"#
        )
    }

    #[test]
    fn generic_pack_loads() {
        let set = load(GENERIC).unwrap_or_else(|e| panic!("{e}"));
        let pack = set.pack("generic").unwrap();
        assert_eq!(pack.version, "2026.1");
        assert_eq!(pack.name.zh, "通用事项");
        let item = set.case_type("generic", "item").unwrap();
        assert_eq!(item.pack_id, "generic");
        assert_eq!(item.pack_version, "2026.1");
        assert_eq!(item.creation_action().id, "create");
        assert_eq!(item.creation_action().target, TargetRule::ActorUnit);
        assert_eq!(item.states.len(), 7);
        assert_eq!(item.fields.len(), 10);
        assert_eq!(
            item.fields["officer"].kind,
            FieldKind::Person {
                roles: vec![Role::intern("handler")],
                conflict_check: false,
                expertise: None,
            }
        );
        assert_eq!(item.bindings.assignee.as_deref(), Some("officer"));
        assert!(item.fields["contact_phone"].personal);
        assert!(item.fields["contact_name"].personal);
        assert!(!item.fields["title"].personal);
        assert!(item.states["void"].terminal);
        let from_registered: Vec<&str> = item
            .actions_from("registered")
            .map(|a| a.id.as_str())
            .collect();
        assert_eq!(from_registered, ["assign", "void"]);
        assert_eq!(item.actions["return"].reason, ReasonRule::Required);
        assert_eq!(item.actions["report"].requires, ["result"]);
        assert_eq!(
            item.actions["close"].roles,
            [Role::intern("dispatcher"), Role::intern("operator")]
        );
        let in_progress = item.states["in_progress"].deadline.clone().unwrap();
        assert_eq!(
            in_progress.rule,
            DurationRule {
                amount: 5,
                unit: DurationUnit::WorkingDays
            }
        );
        assert_eq!(in_progress.on_expiry, Expiry::Escalate(EscalateTo::Parent));
        assert_eq!(in_progress.warn_at, Some(0.8));
        let resolved = item.states["resolved"].deadline.clone().unwrap();
        assert_eq!(resolved.rule.unit, DurationUnit::CalendarDays);
        assert_eq!(set.case_types().count(), 1);
        assert!(set.case_type("generic", "nope").is_none());
        assert!(set.pack("nope").is_none());
        let FieldKind::Choice { options } = &item.fields["priority"].kind else {
            panic!("priority is a choice");
        };
        assert_eq!(options[1].name.zh, "紧急");
    }

    #[test]
    fn a_role_shared_by_packs_must_be_declared_the_same() {
        let pack = |id: &str, name: &str| {
            format!(
                "id = \"{id}\"\nversion = \"1\"\nname = \"x\"\n\n[roles.clerk]\nname = \"{name}\"\n\n[types.t]\nname = \"t\"\n\n[types.t.states.open]\nname = \"o\"\nterminal = true\n\n[types.t.actions.create]\nname = \"c\"\nfrom = []\nto = \"open\"\nroles = [\"clerk\"]\n"
            )
        };
        let same = PackSet::from_sources(&[
            ("a.toml".into(), pack("a", "书记员")),
            ("b.toml".into(), pack("b", "书记员")),
        ]);
        let set = same.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            set.role("clerk").map(|r| r.name.zh.as_str()),
            Some("书记员")
        );
        assert!(set.role("admin").is_some());
        let differing = PackSet::from_sources(&[
            ("a.toml".into(), pack("a", "书记员")),
            ("b.toml".into(), pack("b", "文员")),
        ]);
        let e = match differing {
            Ok(_) => panic!("conflicting roles loaded"),
            Err(e) => e.to_string(),
        };
        assert_eq!(
            e,
            "b.toml:5:1: role `clerk` is declared differently by pack `a`; a role shared by packs must be declared the same in each"
        );
    }

    #[test]
    fn golden_bad_pack_reports_everything() {
        let got = match PackSet::from_sources(&[("bad.toml".to_owned(), with_test_roles(BAD))]) {
            Ok(_) => panic!("bad.toml loaded"),
            Err(e) => e,
        };
        let expected = [
            "bad.toml:1:1: the pack is missing `name`",
            "bad.toml:1:6: pack id `Bad-Pack` is not a valid id (lowercase letter, then a-z, 0-9, _; at most 64)",
            "bad.toml:3:1: unknown key `colour` in the pack (expected one of: id, version, name, roles, types, guides)",
            "bad.toml:11:1: unknown key `max_lenght` in field `title` of type `thing` (expected one of: kind, label, personal, public, max_length)",
            "bad.toml:13:1: field `kind` of type `thing` is a choice but has no `options`",
            "bad.toml:19:23: deadline amount must be between 1 and 10000, found 0",
            "bad.toml:19:33: unknown duration unit `fortnights` (expected calendar_hours, calendar_days, calendar_months, working_days or working_hours)",
            "bad.toml:19:57: warn_at must be strictly between 0 and 1, found 1.5",
            "bad.toml:19:74: on_expiry = \"escalate\" needs escalate_to (\"parent\" or a unit code)",
            "bad.toml:21:1: state `stuck` is not terminal but no action leaves it (add an action or `terminal = true`)",
            "bad.toml:24:1: state `lost` cannot be reached from `open`, where the creation action `create` leads",
            "bad.toml:28:1: state `done` of type `thing` is missing `name`",
            "bad.toml:35:22: unknown role `janitor`: declare it under [roles.janitor] (roles this pack may name: admin, clerk, dispatcher, grid_worker, handler, operator, supervisor)",
            "bad.toml:36:22: `requires` of action `create` of type `thing` names undeclared field `colour`",
            "bad.toml:38:1: type `thing` has more than one creation action: `create` and `create_again`",
            "bad.toml:49:10: unknown reason rule `sometimes` (expected required or optional)",
            "bad.toml:57:8: `admin` is the platform's own role; a pack may use it but not declare it",
            "bad.toml:62:20: unknown page `kitchen` (expected one of: intake, dispatch_board, grid, assists)",
            "bad.toml:63:19: `reveal_personal` in role `clerk` must be true or false, found a string",
            "bad.toml:64:8: `sees` must be \"subtree\" or \"assigned\", found \"everything\"",
        ];
        assert_eq!(got.to_string(), expected.join("\n"));
        assert_eq!(got.0.len(), expected.len());
        assert_eq!(got.0[5].line, 19);
        assert_eq!(got.0[5].column, 23);
    }

    #[test]
    fn readme_example_loads() {
        let readme = include_str!("../../../packs/README.md");
        let start = readme.find("```toml\n").unwrap() + "```toml\n".len();
        let len = readme[start..].find("```").unwrap();
        // As written: the example declares every role its actions name.
        let example = readme[start..start + len].to_owned();
        let set = PackSet::from_sources(&[("README.md".into(), example)])
            .unwrap_or_else(|e| panic!("{e}"));
        let item = set.case_type("generic", "item").unwrap();
        assert!(
            set.role("dispatcher")
                .is_some_and(|r| r.works_at("dispatch_board"))
        );
        assert_eq!(item.creation_action().id, "create");
        assert_eq!(item.actions_from("closed").count(), 1);
        // It shows every part a pack declares.
        assert!(item.parties.is_some() && item.records.contains_key("visit"));
        assert_eq!(item.indicators.len(), 3);
        assert!(item.templates["visit_notice"].uses_parties);
    }

    #[test]
    fn shipped_packs_declare_indicators_that_load() {
        for (file, source) in [
            (
                "requests",
                include_str!("../../../packs/requests/pack.toml"),
            ),
            (
                "mediation",
                include_str!("../../../packs/mediation/pack.toml"),
            ),
        ] {
            let set = PackSet::from_sources(&[(file.into(), source.into())])
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            let pack = set.pack(file).expect("pack");
            let t = crate::indicators::pack_indicators(pack).expect("a type with indicators");
            assert!(
                matches!(
                    t.indicators.first().map(|d| &d.measure),
                    Some(Measure::Count { filter: None })
                ),
                "{file}: the first figure counts the cases received"
            );
        }
    }

    #[test]
    fn indicators_naming_the_undeclared_are_refused_with_their_place() {
        let p = problems(&minimal(
            r#"
[types.t.indicators.ok]
name = "好"
measure = "rate"
of = { did = ["finish"] }
hit = { any = [{ state = ["done"] }, { field = "note", set = true }] }
[types.t.indicators.bad_state]
name = "坏"
measure = "count"
where = { reached = ["closed"] }
[types.t.indicators.bad_action]
name = "坏"
measure = "rate"
hit = { did = ["reopen"] }
[types.t.indicators.bad_field]
name = "坏"
measure = "rate"
hit = { field = "rating", in = ["good"] }
[types.t.indicators.bad_clock]
name = "坏"
measure = "deadlines"
clock = "statutory"
[types.t.indicators.bad_measure]
name = "坏"
measure = "median"
[types.t.indicators.mixed]
name = "坏"
measure = "count"
hit = { state = ["done"] }
[types.t.indicators.two_heads]
name = "坏"
measure = "count"
where = { state = ["done"], did = ["finish"] }
[types.t.indicators.no_end]
name = "坏"
measure = "duration"
public = true
"#,
        ));
        let has = |needle: &str| p.iter().any(|m| m.contains(needle));
        assert!(
            has("p.toml:33:22: type `t` declares no state `closed`"),
            "{p:#?}"
        );
        assert!(has("declares no action `reopen`"), "{p:#?}");
        assert!(has("declares no field `rating`"), "{p:#?}");
        assert!(has("undeclared clock `statutory`"), "{p:#?}");
        assert!(has("unknown measure `median`"), "{p:#?}");
        assert!(
            has("`hit` belongs to measure `rate`, not `count`"),
            "{p:#?}"
        );
        assert!(has("needs exactly one of `state`, `reached`"), "{p:#?}");
        assert!(has("is missing `to`"), "{p:#?}");
        assert!(has("is a duration and cannot be public"), "{p:#?}");
        assert_eq!(p.len(), 9, "one problem each, none for `ok`: {p:#?}");
    }

    #[test]
    fn templates_that_read_the_undeclared_or_the_personal_are_refused() {
        let p = problems(&minimal(
            r#"
[types.t.fields.phone]
kind = "phone"
label = "电话"
personal = true
[types.t.templates.ok]
name = "通知"
roles = ["handler"]
body = "<p>{{ case.receipt_code }} {{ fields.note }} {{ today }}</p>{% for p in parties %}{{ p.name }}{% endfor %}"
[types.t.templates.typo]
name = "坏"
roles = ["handler"]
body = "<p>{{ fields.notes }}</p>"
[types.t.templates.personal]
name = "坏"
roles = ["handler"]
body = "<p>{{ fields.phone }}</p>"
[types.t.templates.broken]
name = "坏"
roles = ["handler"]
body = "<p>{% for x in %}</p>"
[types.t.templates.no_record]
name = "坏"
roles = ["handler", "astrologer"]
record = "visit"
body = "<p>{{ record.on }}</p>"
"#,
        ));
        let has = |needle: &str| p.iter().any(|m| m.contains(needle));
        assert!(has("reads undeclared field `notes`"), "{p:#?}");
        assert!(has("reads personal field `phone`"), "{p:#?}");
        assert!(
            has("template `broken` of type `t`: template line 1"),
            "{p:#?}"
        );
        assert!(has("names undeclared record kind `visit`"), "{p:#?}");
        assert!(has("unknown role `astrologer`"), "{p:#?}");
        assert!(!has("template `ok`"), "{p:#?}");
    }

    #[test]
    fn only_one_type_of_a_pack_says_what_its_figures_are() {
        let text = minimal(
            r#"
[types.t.indicators.n]
name = "数"
measure = "count"
[types.u]
name = "U"
[types.u.states.open]
name = "开"
terminal = true
[types.u.actions.create]
name = "建"
from = []
to = "open"
roles = ["operator"]
[types.u.indicators.n]
name = "数"
measure = "count"
"#,
        );
        let p = problems(&text);
        assert!(
            p.iter()
                .any(|m| m.contains("a pack's figures come from one type")),
            "{p:#?}"
        );
    }

    #[test]
    fn minimal_pack_loads_and_defaults() {
        let set = load(&minimal("")).unwrap_or_else(|e| panic!("{e}"));
        let t = set.case_type("mini", "t").unwrap();
        // A type is routed only when its pack says so.
        assert_eq!(t.routing, Routing::None);
        let generic = load(GENERIC).unwrap_or_else(|e| panic!("{e}"));
        let item = generic.case_type("generic", "item").unwrap();
        assert_eq!(item.routing, Routing::Rules);
        assert_eq!(
            t.name,
            Names {
                zh: "T".into(),
                en: "T".into()
            }
        );
        assert_eq!(
            t.fields["note"].kind,
            FieldKind::Text {
                max_length: DEFAULT_TEXT_MAX
            }
        );
        assert_eq!(t.actions["finish"].target, TargetRule::Keep);
        assert_eq!(t.actions["finish"].reason, ReasonRule::Optional);
        assert_eq!(t.creation_action().target, TargetRule::ActorUnit);
    }

    #[test]
    fn syntax_error_has_position() {
        let p = problems("id = \"a\"\nversion = \"1\"\nname = [1, ?]\n");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("p.toml:3:"), "{p:?}");
        assert!(p[0].contains("TOML syntax"));
        assert!(!p[0].contains('\n'));
        let p = problems("id = \"a\"\nid = \"b\"\n");
        assert!(p[0].starts_with("p.toml:2:"), "{p:?}");
    }

    #[test]
    fn duplicate_pack_ids_across_files() {
        let text = minimal("");
        let e = PackSet::from_sources(&[
            ("a.toml".into(), with_test_roles(&text)),
            ("b.toml".into(), with_test_roles(&text)),
        ])
        .unwrap_err();
        assert_eq!(e.0.len(), 1);
        assert_eq!(
            e.0[0].to_string(),
            "b.toml:1:6: pack id `mini` is already used by a.toml"
        );
    }

    #[test]
    fn structural_problems() {
        // No creation action.
        let p = problems(&minimal("").replace("from = []", "from = [\"open\"]"));
        assert!(
            p.iter().any(|m| m.contains("has no creation action")),
            "{p:?}"
        );
        // Undeclared states in from / to.
        let p = problems(&minimal(
            "[types.t.actions.x]\nname = \"x\"\nfrom = [\"nowhere\"]\nto = \"elsewhere\"\nroles = [\"admin\"]",
        ));
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("starts from undeclared state `nowhere`"));
        assert!(p[1].contains("leads to undeclared state `elsewhere`"));
        // Missing from.
        let p = problems(&minimal(
            "[types.t.actions.x]\nname = \"x\"\nto = \"open\"\nroles = [\"admin\"]",
        ));
        assert!(p[0].contains("missing `from`"), "{p:?}");
        // Bad ids.
        let p = problems(&minimal(
            "[types.t.states.Bad]\nname = \"b\"\nterminal = true",
        ));
        assert!(
            p.iter()
                .any(|m| m.contains("state id `Bad` is not a valid id")),
            "{p:?}"
        );
        // Creation with keep.
        let p = problems(&minimal("").replace(
            "to = \"open\"\nroles = [\"operator\"]",
            "to = \"open\"\nroles = [\"operator\"]\ntarget = \"keep\"",
        ));
        assert!(
            p.iter()
                .any(|m| m.contains("creation action cannot use target")),
            "{p:?}"
        );
        // Terminal state with outgoing action is fine (reopen).
        let ok = minimal(
            "[types.t.actions.reopen]\nname = \"r\"\nfrom = [\"done\"]\nto = \"open\"\nroles = [\"supervisor\"]\nreason = \"required\"",
        );
        assert!(load(&ok).is_ok());
        // Field both required and allowed; unknown kind; min > max.
        let p = problems(&minimal(
            "[types.t.actions.edit]\nname = \"e\"\nfrom = [\"open\"]\nto = \"open\"\nroles = [\"admin\"]\nrequires = [\"note\"]\nallows = [\"note\"]\n\
             [types.t.fields.n]\nkind = \"integer\"\nlabel = \"n\"\nmin = 5\nmax = 1\n\
             [types.t.fields.z]\nkind = \"blob\"\nlabel = \"z\"",
        ));
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("appears twice"));
        assert!(p[1].contains("max (1) is below min (5)"));
        assert!(p[2].contains("unknown field kind `blob`"));
    }

    #[test]
    fn deadline_rules() {
        let with = |d: &str| {
            minimal("").replace("name = \"开\"", &format!("name = \"开\"\ndeadline = {d}"))
        };
        let open = |d: &str| {
            load(&with(d))
                .unwrap_or_else(|e| panic!("{e}"))
                .case_type("mini", "t")
                .unwrap()
                .states["open"]
                .deadline
                .clone()
                .unwrap()
        };
        let d = open("{ amount = 48, unit = \"working_hours\" }");
        assert_eq!(d.on_expiry, Expiry::Warn);
        assert_eq!(d.rule.unit, DurationUnit::WorkingHours);
        let d = open(
            "{ amount = 3, unit = \"calendar_days\", on_expiry = \"escalate\", escalate_to = \"440305\" }",
        );
        assert_eq!(
            d.on_expiry,
            Expiry::Escalate(EscalateTo::Unit("440305".into()))
        );
        let bad = |d: &str| problems(&with(d));
        assert!(
            bad("{ amount = 10001, unit = \"calendar_days\" }")[0].contains("between 1 and 10000")
        );
        assert!(
            bad("{ amount = 1, unit = \"calendar_days\", warn_at = 0 }")[0].contains("warn_at")
        );
        assert!(
            bad("{ amount = 1, unit = \"calendar_days\", on_expiry = \"panic\" }")[0]
                .contains("unknown on_expiry")
        );
        assert!(
            bad("{ amount = 1, unit = \"calendar_days\", escalate_to = \"parent\" }")[0]
                .contains("only allowed")
        );
        assert!(bad("{ unit = \"calendar_days\" }")[0].contains("missing `amount`"));
        let p = problems(&minimal("").replace(
            "terminal = true",
            "terminal = true\ndeadline = { amount = 1, unit = \"calendar_days\" }",
        ));
        assert!(
            p[0].contains("terminal state `done` cannot have a deadline"),
            "{p:?}"
        );
    }

    #[test]
    fn names_accept_string_or_table() {
        let set =
            load(&minimal("").replace("name = \"小\"", "name = { zh = \"小\", en = \"Mini\" }"))
                .unwrap();
        assert_eq!(set.pack("mini").unwrap().name.en, "Mini");
        let p =
            problems(&minimal("").replace("name = \"小\"", "name = { en = \"Mini\", fr = \"x\" }"));
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].contains("unknown key `fr`") || p[1].contains("unknown key `fr`"));
        assert!(p.iter().any(|m| m.contains("missing `zh`")));
    }

    #[test]
    fn problems_display_one_per_line() {
        let e = PackErrors(vec![
            PackProblem {
                file: "a".into(),
                line: 1,
                column: 2,
                message: "x".into(),
            },
            PackProblem {
                file: "b".into(),
                line: 3,
                column: 4,
                message: "y".into(),
            },
        ]);
        assert_eq!(e.to_string(), "a:1:2: x\nb:3:4: y");
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col("ab\n通用x", 3 + 6), (2, 3));
        assert_eq!(line_col("ab", 99), (1, 3));
        assert_eq!(line_col("通", 1), (1, 1));
    }

    fn field(kind: FieldKind) -> FieldDef {
        FieldDef {
            key: "f".into(),
            label: Names {
                zh: "f".into(),
                en: "f".into(),
            },
            kind,
            personal: false,
            public: false,
        }
    }

    #[test]
    fn field_validation() {
        let text = field(FieldKind::Text { max_length: 3 });
        assert_eq!(text.validate(&json!(" 路灯 ")), Ok(json!("路灯")));
        assert!(text.validate(&json!("四个字符")).is_err());
        assert!(text.validate(&json!("a\nb")).is_err());
        assert!(text.validate(&json!("")).is_err());
        assert!(text.validate(&json!(null)).is_err());
        assert!(text.validate(&json!(1)).is_err());

        let long = field(FieldKind::LongText { max_length: 10 });
        assert_eq!(long.validate(&json!("a\r\nb")), Ok(json!("a\nb")));

        let int = field(FieldKind::Integer {
            min: Some(0),
            max: Some(10),
        });
        assert_eq!(int.validate(&json!(" 7 ")), Ok(json!(7)));
        assert_eq!(int.validate(&json!(10)), Ok(json!(10)));
        assert!(int.validate(&json!(11)).is_err());
        assert!(int.validate(&json!(1.5)).is_err());
        assert!(int.validate(&json!("x")).is_err());

        let num = field(FieldKind::Number {
            min: Some(0.5),
            max: None,
        });
        assert_eq!(num.validate(&json!("2.5")), Ok(json!(2.5)));
        assert_eq!(num.validate(&json!(3)), Ok(json!(3)));
        assert!(num.validate(&json!(0.1)).is_err());
        assert!(num.validate(&json!("NaN")).is_err());
        assert!(num.validate(&json!("inf")).is_err());

        let b = field(FieldKind::Boolean);
        assert_eq!(b.validate(&json!("true")), Ok(json!(true)));
        assert_eq!(b.validate(&json!(false)), Ok(json!(false)));
        assert!(b.validate(&json!(1)).is_err());

        let date = field(FieldKind::Date);
        assert_eq!(date.validate(&json!("2026-02-28")), Ok(json!("2026-02-28")));
        assert!(date.validate(&json!("2026-02-30")).is_err());
        assert!(date.validate(&json!("2026-2-3")).is_err());
        assert!(date.validate(&json!("２０２６-02-03")).is_err());

        let choice = field(FieldKind::Choice {
            options: vec![ChoiceOption {
                value: "a".into(),
                public: None,
                name: Names {
                    zh: "甲".into(),
                    en: "A".into(),
                },
            }],
        });
        assert_eq!(choice.validate(&json!("a")), Ok(json!("a")));
        assert!(choice.validate(&json!("b")).is_err());

        let phone = field(FieldKind::Phone);
        assert_eq!(
            phone.validate(&json!("+86 138 0013 8000")),
            Ok(json!("+8613800138000"))
        );
        assert_eq!(
            phone.validate(&json!("0755-88881234")),
            Ok(json!("0755-88881234"))
        );
        assert!(phone.validate(&json!("123456")).is_err());
        assert!(phone.validate(&json!("138-abc-8000")).is_err());
        assert!(phone.validate(&json!("1+3800138000")).is_err());
        assert!(phone.validate(&json!("1".repeat(21))).is_err());
        assert!(phone.validate(&json!("------1234567")).is_ok());

        let unit = field(FieldKind::Unit);
        assert_eq!(unit.validate(&json!(" 440305 ")), Ok(json!("440305")));
        assert!(unit.validate(&json!("a b")).is_err());
    }

    #[test]
    fn ids() {
        assert!(is_valid_id("in_progress"));
        assert!(is_valid_id("a1"));
        assert!(!is_valid_id("1a"));
        assert!(!is_valid_id("_a"));
        assert!(!is_valid_id("A"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id(&"a".repeat(65)));
    }

    #[test]
    fn odd_toml_values_do_not_panic() {
        let p = problems("id = \"x\"\nversion = 1979-05-27\nname = 3\ntypes = []\n");
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p[0].contains("`version` in the pack must be a string, found a date-time"));
        let _ = problems("");
        let _ = problems("\"$__serde_spanned_private_start\" = 1\n");
        let _ = problems("[types]\n\"$__toml_private_datetime\" = 1\n");
    }

    #[test]
    fn pack_set_is_shareable() {
        fn assert_send_sync<T: Send + Sync + Clone + fmt::Debug>() {}
        assert_send_sync::<PackSet>();
        assert_send_sync::<PackErrors>();
        assert!(PackSet::from_sources(&[]).is_ok());
    }
}
