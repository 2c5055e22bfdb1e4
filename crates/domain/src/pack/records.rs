//! Records (`[types.<t>.records.<kind>]`): kinds of sub-records a case holds
//! many of — sessions, agreements, documents, items, ledger entries — each
//! with typed fields and, where it needs one, a small life of its own (states
//! and actions). Who may add a record and take its actions is said by roles,
//! as for the case's own actions.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{
    Ctx, DeadlineDef, FieldDef, FieldKind, Names, Raw, Table, check_id, entry_loc,
    parse_action_roles, parse_deadline, parse_field,
};
use crate::calendar::WorkCalendar;
use crate::role::Role;
use crate::time::Micros;

/// Most records one case may hold, of all kinds together.
pub const MAX_RECORDS: usize = 500;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordDef {
    pub kind: String,
    pub name: Names,
    pub fields: BTreeMap<String, FieldDef>,
    /// Roles that may add a record of this kind.
    pub roles: Vec<Role>,
    /// Fields a new record must have.
    pub requires: Vec<String>,
    /// The record's own states; empty when it has no life (a document).
    pub states: BTreeMap<String, RecordState>,
    /// Where a new record starts, when it has states.
    pub initial: Option<String>,
    pub actions: BTreeMap<String, RecordAction>,
    /// Party roles of the case that may add one themselves on the public
    /// lookup (evidence for the exchange), filling in its public fields.
    pub party_adds: Vec<String>,
    /// States in which the other parties see a record on the lookup; empty:
    /// always. The party who added one always sees it.
    pub lookup_states: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordState {
    pub id: String,
    pub name: Names,
    pub terminal: bool,
    /// The time limit a record has while in this state (record the session,
    /// follow up the agreement's performance); it closes when the record
    /// leaves the state or the case ends.
    pub deadline: Option<DeadlineDef>,
    /// A date field of the record the limit counts from (the end of that
    /// day) instead of from entering the state, when the field has a value.
    pub deadline_after: Option<String>,
}

impl RecordState {
    /// Where this state's limit starts for a record with `fields` entered at
    /// `at`: the end of the anchoring date when it is later than `at`.
    pub fn deadline_start(
        &self,
        calendar: &WorkCalendar,
        fields: &Map<String, Value>,
        at: Micros,
    ) -> Micros {
        let anchored = self
            .deadline_after
            .as_deref()
            .and_then(|key| fields.get(key))
            .and_then(Value::as_str)
            .and_then(|s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .map(|day| calendar.end_of_day(day));
        anchored.map_or(at, |start| start.max(at))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordAction {
    pub id: String,
    pub name: Names,
    pub from: Vec<String>,
    pub to: String,
    pub roles: Vec<Role>,
    pub requires: Vec<String>,
    pub allows: Vec<String>,
    /// A party in this role of the case takes the action itself, from the
    /// public lookup (e.g. confirming an agreement), instead of staff.
    pub party: Option<String>,
    /// Values the action records as it is taken (e.g. how a party confirmed).
    pub sets: Map<String, Value>,
}

/// Why a record or a record action was refused: the request field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RecordError {
    pub field: String,
    pub message: String,
}

fn refuse(field: &str, message: impl Into<String>) -> RecordError {
    RecordError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// A record action as decided: the next state and the fields after it, with
/// only the changed ones listed.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordStep {
    pub to: String,
    pub fields: Map<String, Value>,
    pub changed: Vec<String>,
}

impl RecordDef {
    /// Validates `fields` against the declaration into `into`; a blank value
    /// clears the field, an undeclared one is refused.
    fn apply_fields(
        &self,
        fields: &Map<String, Value>,
        allowed: &dyn Fn(&str) -> bool,
        into: &mut Map<String, Value>,
    ) -> Result<Vec<String>, RecordError> {
        let mut changed = Vec::new();
        for (key, value) in fields {
            let field = format!("fields.{key}");
            let Some(def) = self.fields.get(key) else {
                return Err(refuse(&field, "is not a field of this kind of record"));
            };
            if !allowed(key) {
                return Err(refuse(&field, "this action may not set it"));
            }
            let blank = value.is_null() || value.as_str().is_some_and(|s| s.trim().is_empty());
            let next = if blank {
                None
            } else {
                Some(def.validate(value).map_err(|m| refuse(&field, m))?)
            };
            if into.get(key) != next.as_ref() {
                changed.push(key.clone());
                match next {
                    Some(v) => into.insert(key.clone(), v),
                    None => into.remove(key),
                };
            }
        }
        Ok(changed)
    }

    fn require(&self, keys: &[String], fields: &Map<String, Value>) -> Result<(), RecordError> {
        match keys.iter().find(|k| !fields.contains_key(*k)) {
            Some(k) => Err(refuse(&format!("fields.{k}"), "is required")),
            None => Ok(()),
        }
    }

    /// A new record: its checked fields and its first state.
    pub fn check_new(
        &self,
        fields: &Map<String, Value>,
        roles: &[Role],
    ) -> Result<(Option<String>, Map<String, Value>), RecordError> {
        if !self.roles.iter().any(|r| roles.contains(r)) {
            return Err(refuse("kind", "your role may not add this kind of record"));
        }
        let mut out = Map::new();
        self.apply_fields(fields, &|_| true, &mut out)?;
        self.require(&self.requires, &out)?;
        Ok((self.initial.clone(), out))
    }

    /// A record a party in `party_role` adds on the lookup: only its public
    /// fields, checked as staff's are.
    pub fn check_new_by_party(
        &self,
        fields: &Map<String, Value>,
        party_role: &str,
    ) -> Result<(Option<String>, Map<String, Value>), RecordError> {
        if !self.party_adds.iter().any(|r| r == party_role) {
            return Err(refuse("kind", "this party may not add this kind of record"));
        }
        let public = |k: &str| self.fields.get(k).is_some_and(|f| f.public);
        let mut out = Map::new();
        self.apply_fields(fields, &public, &mut out)?;
        self.require(&self.requires, &out)?;
        Ok((self.initial.clone(), out))
    }

    /// Whether a party sees a record of this kind in `state` on the lookup;
    /// `own` when that party added it.
    pub fn shown_to_party(&self, state: Option<&str>, own: bool) -> bool {
        own || self.lookup_states.is_empty()
            || state.is_some_and(|s| self.lookup_states.iter().any(|l| l == s))
    }

    /// Decides an action on a record in `state` with `fields`.
    pub fn decide(
        &self,
        state: Option<&str>,
        current: &Map<String, Value>,
        action: &str,
        fields: &Map<String, Value>,
        roles: &[Role],
    ) -> Result<RecordStep, RecordError> {
        let Some(def) = self.actions.get(action) else {
            let all: Vec<&str> = self.actions.keys().map(String::as_str).collect();
            return Err(refuse(
                "action",
                format!("expected one of: {}", all.join(", ")),
            ));
        };
        if !state.is_some_and(|s| def.from.iter().any(|f| f == s)) {
            return Err(refuse(
                "action",
                format!("cannot be taken from state {}", state.unwrap_or("(none)")),
            ));
        }
        if !def.roles.iter().any(|r| roles.contains(r)) {
            return Err(refuse("action", "your role may not take this action"));
        }
        self.step(def, current, fields)
    }

    /// Decides an action a party in `party_role` takes on a record in `state`:
    /// only an action declared for that role, setting only its `sets`.
    pub fn decide_as_party(
        &self,
        state: Option<&str>,
        current: &Map<String, Value>,
        action: &str,
        party_role: &str,
    ) -> Result<RecordStep, RecordError> {
        let def = self
            .actions
            .get(action)
            .filter(|a| a.party.as_deref() == Some(party_role))
            .ok_or_else(|| refuse("action", "this party may not take this action"))?;
        if !state.is_some_and(|s| def.from.iter().any(|f| f == s)) {
            return Err(refuse(
                "action",
                format!("cannot be taken from state {}", state.unwrap_or("(none)")),
            ));
        }
        self.step(def, current, &Map::new())
    }

    /// Party actions open to `party_role` on a record in `state`.
    pub fn party_actions<'a>(
        &'a self,
        state: Option<&'a str>,
        party_role: &'a str,
    ) -> impl Iterator<Item = &'a RecordAction> + 'a {
        self.actions.values().filter(move |a| {
            a.party.as_deref() == Some(party_role)
                && state.is_some_and(|s| a.from.iter().any(|f| f == s))
        })
    }

    /// Fields the public lookup shows of a record of this kind.
    pub fn public_fields(&self) -> impl Iterator<Item = &FieldDef> {
        self.fields.values().filter(|f| f.public)
    }

    fn step(
        &self,
        def: &RecordAction,
        current: &Map<String, Value>,
        fields: &Map<String, Value>,
    ) -> Result<RecordStep, RecordError> {
        let mut next = current.clone();
        let allowed = |k: &str| def.requires.iter().chain(&def.allows).any(|a| a == k);
        let mut changed = self.apply_fields(fields, &allowed, &mut next)?;
        for (key, value) in &def.sets {
            if next.get(key) != Some(value) {
                next.insert(key.clone(), value.clone());
                if !changed.contains(key) {
                    changed.push(key.clone());
                }
            }
        }
        self.require(&def.requires, &next)?;
        Ok(RecordStep {
            to: def.to.clone(),
            fields: next,
            changed,
        })
    }
}

fn field_list(
    ctx: &mut Ctx,
    t: &Table,
    key: &str,
    fields: &BTreeMap<String, FieldDef>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (id, loc) in t.string_list(ctx, key).unwrap_or_default() {
        if !fields.contains_key(&id) {
            let msg = format!("`{key}` of {} names undeclared field `{id}`", t.what);
            ctx.err(&loc, msg);
        } else if !out.contains(&id) {
            out.push(id);
        }
    }
    out
}

fn parse_states(
    ctx: &mut Ctx,
    t: &Table,
    what: &str,
    fields: &BTreeMap<String, FieldDef>,
) -> BTreeMap<String, RecordState> {
    let mut states = BTreeMap::new();
    let Some(table) = t.id_table(ctx, "states", false) else {
        return states;
    };
    for (key, node) in table.entries {
        check_id(ctx, &key.name, &key.span, "record state id");
        let swhat = format!("state `{}` of {what}", key.name);
        let Some(st) = Table::new(ctx, node, entry_loc(key, node), swhat) else {
            continue;
        };
        st.check_keys(ctx, &["name", "terminal", "deadline", "deadline_after"]);
        let terminal = st.boolean(ctx, "terminal").unwrap_or(false);
        let deadline = record_deadline(ctx, &st);
        let deadline_after = st
            .string(ctx, "deadline_after", false)
            .and_then(|(f, loc)| {
                let is_date = fields.get(&f).is_some_and(|d| d.kind == FieldKind::Date);
                if deadline.is_none() {
                    ctx.err(
                        &loc,
                        format!("{} has `deadline_after` but no `deadline`", st.what),
                    );
                    None
                } else if !is_date {
                    let msg = format!(
                        "`deadline_after` of {} must name a date field of the record, found `{f}`",
                        st.what
                    );
                    ctx.err(&loc, msg);
                    None
                } else {
                    Some(f)
                }
            });
        if let Some(name) = st.names(ctx, "name") {
            states.insert(
                key.name.clone(),
                RecordState {
                    id: key.name.clone(),
                    name,
                    terminal,
                    deadline,
                    deadline_after,
                },
            );
        }
    }
    states
}

/// A record state's `deadline`: the case deadline's format, except that a
/// record has no category of its own to take a rule from. In a terminal
/// state it measures what the case still owes the record (following up an
/// agreement in force) and closes when the case ends.
fn record_deadline(ctx: &mut Ctx, st: &Table) -> Option<DeadlineDef> {
    let (k, n) = st.get("deadline")?;
    let loc = entry_loc(k, n);
    let def = parse_deadline(ctx, n, loc.clone(), format!("`deadline` of {}", st.what))?;
    if def.category_rule.is_some() {
        let msg = format!(
            "the deadline of {} cannot follow a category (`category`)",
            st.what
        );
        ctx.err(&loc, msg);
        return None;
    }
    Some(def)
}

fn parse_actions(
    ctx: &mut Ctx,
    t: &Table,
    what: &str,
    states: &BTreeMap<String, RecordState>,
    fields: &BTreeMap<String, FieldDef>,
    party_roles: &[String],
) -> BTreeMap<String, RecordAction> {
    let mut actions = BTreeMap::new();
    let Some(table) = t.id_table(ctx, "actions", false) else {
        return actions;
    };
    for (key, node) in table.entries {
        check_id(ctx, &key.name, &key.span, "record action id");
        let awhat = format!("action `{}` of {what}", key.name);
        let Some(at) = Table::new(ctx, node, entry_loc(key, node), awhat) else {
            continue;
        };
        at.check_keys(
            ctx,
            &[
                "name", "from", "to", "roles", "requires", "allows", "party", "sets",
            ],
        );
        let name = at.names(ctx, "name");
        let mut from = Vec::new();
        for (s, loc) in at.string_list(ctx, "from").unwrap_or_default() {
            if states.contains_key(&s) {
                from.push(s);
            } else {
                ctx.err(
                    &loc,
                    format!("`from` of {} names undeclared state `{s}`", at.what),
                );
            }
        }
        if from.is_empty() {
            ctx.err(
                &at.loc,
                format!("{} starts from no state (`from`)", at.what),
            );
        }
        let to = match at.string(ctx, "to", true) {
            Some((s, _)) if states.contains_key(&s) => Some(s),
            Some((s, loc)) => {
                ctx.err(
                    &loc,
                    format!("`to` of {} names undeclared state `{s}`", at.what),
                );
                None
            }
            None => None,
        };
        let party = at.string(ctx, "party", false).and_then(|(role, loc)| {
            if party_roles.contains(&role) {
                Some(role)
            } else {
                ctx.err(
                    &loc,
                    format!(
                        "`party` of {} names `{role}`, which is not a party role of the type",
                        at.what
                    ),
                );
                None
            }
        });
        // A party's own action needs no staff role.
        let roles = if at.get("party").is_some() && at.get("roles").is_none() {
            Vec::new()
        } else {
            parse_action_roles(ctx, &at)
        };
        let requires = field_list(ctx, &at, "requires", fields);
        let allows = field_list(ctx, &at, "allows", fields);
        let sets = parse_sets(ctx, &at, fields);
        if let (Some(name), Some(to)) = (name, to) {
            actions.insert(
                key.name.clone(),
                RecordAction {
                    id: key.name.clone(),
                    name,
                    from,
                    to,
                    roles,
                    requires,
                    allows,
                    party,
                    sets,
                },
            );
        }
    }
    actions
}

/// `party_adds`: party roles of the type. A party fills in only public
/// fields, so every required field must be public.
fn party_adders(
    ctx: &mut Ctx,
    t: &Table,
    party_roles: &[String],
    requires: &[String],
    fields: &BTreeMap<String, FieldDef>,
) -> Vec<String> {
    let mut out = Vec::new();
    for (role, loc) in t.string_list(ctx, "party_adds").unwrap_or_default() {
        if party_roles.contains(&role) {
            out.push(role);
        } else {
            let msg = format!(
                "`party_adds` of {} names `{role}`, which is not a party role of the type",
                t.what
            );
            ctx.err(&loc, msg);
        }
    }
    if !out.is_empty()
        && let Some(key) = requires
            .iter()
            .find(|k| fields.get(*k).is_some_and(|f| !f.public))
    {
        let msg = format!(
            "{} requires `{key}`, which a party adding one cannot fill in (it is not public)",
            t.what
        );
        ctx.err(&t.loc, msg);
    }
    out
}

/// `sets = { field = value }`: each field declared and each value valid for it.
fn parse_sets(
    ctx: &mut Ctx,
    at: &Table,
    fields: &BTreeMap<String, FieldDef>,
) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(sets) = at.id_table(ctx, "sets", false) else {
        return out;
    };
    for (key, node) in sets.entries {
        let loc = entry_loc(key, node);
        let Some(def) = fields.get(&key.name) else {
            let msg = format!(
                "`sets` of {} names undeclared field `{}`",
                at.what, key.name
            );
            ctx.err(&loc, msg);
            continue;
        };
        let value = match &node.value {
            Raw::Str(s) => Value::String(s.clone()),
            Raw::Int(n) => Value::from(*n),
            Raw::Bool(b) => Value::Bool(*b),
            _ => Value::Null,
        };
        match def.validate(&value) {
            Ok(v) => {
                out.insert(key.name.clone(), v);
            }
            Err(m) => ctx.err(&loc, format!("`sets.{}` of {}: {m}", key.name, at.what)),
        }
    }
    out
}

pub(super) fn parse_records(
    ctx: &mut Ctx,
    parent: &Table,
    type_id: &str,
    party_roles: &[String],
) -> BTreeMap<String, RecordDef> {
    let mut records = BTreeMap::new();
    let Some(table) = parent.id_table(ctx, "records", false) else {
        return records;
    };
    for (key, node) in table.entries {
        check_id(ctx, &key.name, &key.span, "record kind");
        let what = format!("record `{}` of type `{type_id}`", key.name);
        let Some(t) = Table::new(ctx, node, entry_loc(key, node), what.clone()) else {
            continue;
        };
        t.check_keys(
            ctx,
            &[
                "name",
                "fields",
                "roles",
                "requires",
                "initial",
                "states",
                "actions",
                "party_adds",
                "lookup_states",
            ],
        );
        let name = t.names(ctx, "name");
        let mut fields = BTreeMap::new();
        match t.id_table(ctx, "fields", true) {
            Some(ft) => {
                for (fk, fnode) in ft.entries {
                    if let Some(f) = parse_field(ctx, type_id, fk, fnode) {
                        fields.insert(f.key.clone(), f);
                    }
                }
            }
            None => continue,
        }
        let roles = parse_action_roles(ctx, &t);
        let requires = field_list(ctx, &t, "requires", &fields);
        let states = parse_states(ctx, &t, &what, &fields);
        let initial = match (t.string(ctx, "initial", false), states.is_empty()) {
            (Some((s, _)), false) if states.contains_key(&s) => Some(s),
            (Some((s, loc)), false) => {
                ctx.err(
                    &loc,
                    format!("`initial` of {what} names undeclared state `{s}`"),
                );
                None
            }
            (Some((_, loc)), true) => {
                ctx.err(&loc, format!("{what} has `initial` but no `states`"));
                None
            }
            (None, false) => {
                ctx.err(&t.loc, format!("{what} has states but no `initial` state"));
                None
            }
            (None, true) => None,
        };
        let actions = parse_actions(ctx, &t, &what, &states, &fields, party_roles);
        let party_adds = party_adders(ctx, &t, party_roles, &requires, &fields);
        let mut lookup_states = Vec::new();
        for (s, loc) in t.string_list(ctx, "lookup_states").unwrap_or_default() {
            if states.contains_key(&s) {
                lookup_states.push(s);
            } else {
                let msg = format!("`lookup_states` of {what} names undeclared state `{s}`");
                ctx.err(&loc, msg);
            }
        }
        if let Some(name) = name {
            records.insert(
                key.name.clone(),
                RecordDef {
                    kind: key.name.clone(),
                    name,
                    fields,
                    roles,
                    requires,
                    states,
                    initial,
                    actions,
                    party_adds,
                    lookup_states,
                },
            );
        }
    }
    records
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::calendar::WorkCalendar;
    use crate::pack::{PackSet, with_test_roles};
    use crate::role::Role;

    const GENERIC: &str = include_str!("../../../../packs/generic/pack.toml");

    fn map(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_record_moves_only_along_its_life_and_by_its_roles() {
        let set = PackSet::from_sources(&[("generic.toml".into(), GENERIC.into())])
            .unwrap_or_else(|e| panic!("{e}"));
        let visit = &set.case_type("generic", "item").unwrap().records["visit"];
        let handler = [Role::intern("handler")];
        let operator = [Role::intern("operator")];
        assert_eq!(
            visit
                .check_new(&map(json!({"on": "2026-12-08"})), &operator)
                .unwrap_err()
                .field,
            "kind"
        );
        let (state, fields) = visit
            .check_new(
                &map(json!({"on": "2026-12-08", "place": " 北门 "})),
                &handler,
            )
            .unwrap();
        assert_eq!(state.as_deref(), Some("planned"));
        assert_eq!(fields["place"], "北门");
        let step = visit
            .decide(
                state.as_deref(),
                &fields,
                "record_finding",
                &map(json!({"finding": "已查"})),
                &handler,
            )
            .unwrap();
        assert_eq!(step.to, "done");
        assert_eq!(step.changed, vec!["finding".to_string()]);
        // Out of turn, by the wrong role, setting what the action may not.
        let again = visit.decide(
            Some("done"),
            &step.fields,
            "cancel",
            &map(json!({})),
            &handler,
        );
        assert_eq!(again.unwrap_err().field, "action");
        let wrong = visit.decide(
            Some("planned"),
            &fields,
            "cancel",
            &map(json!({})),
            &operator,
        );
        assert_eq!(wrong.unwrap_err().field, "action");
        let extra = visit.decide(
            Some("planned"),
            &fields,
            "cancel",
            &map(json!({"finding": "偷偷写"})),
            &handler,
        );
        assert_eq!(extra.unwrap_err().field, "fields.finding");
    }

    #[test]
    fn a_record_declaration_naming_what_is_not_there_is_refused() {
        let text = r#"id = "p"
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

[types.t.records.note]
name = "n"
roles = ["janitor"]
requires = ["colour"]
initial = "draft"

[types.t.records.note.fields.text]
kind = "text"
label = "t"
"#;
        let e = PackSet::from_sources(&[("p.toml".into(), with_test_roles(text))])
            .unwrap_err()
            .to_string();
        for says in [
            "p.toml:20:10: unknown role `janitor`",
            "p.toml:21:13: `requires` of record `note` of type `t` names undeclared field `colour`",
            "record `note` of type `t` has `initial` but no `states`",
        ] {
            assert!(e.contains(says), "{says}\n in:\n{e}");
        }
    }

    const MEDIATION: &str = include_str!("../../../../packs/mediation/pack.toml");

    #[test]
    fn a_party_takes_only_the_actions_left_to_its_role_and_they_record_how() {
        let set = PackSet::from_sources(&[("m.toml".into(), MEDIATION.into())])
            .unwrap_or_else(|e| panic!("{e}"));
        let agreement = &set.case_type("mediation", "dispute").unwrap().records["agreement"];
        let drafted = map(json!({"terms": "拆除雨棚"}));
        let offered: Vec<&str> = agreement
            .party_actions(Some("drafted"), "applicant")
            .map(|a| a.id.as_str())
            .collect();
        assert_eq!(offered, ["applicant_confirms_online"]);
        let step = agreement
            .decide_as_party(
                Some("drafted"),
                &drafted,
                "applicant_confirms_online",
                "applicant",
            )
            .unwrap();
        assert_eq!(step.to, "applicant_confirmed");
        assert_eq!(step.fields["applicant_signature"], "online");
        assert_eq!(step.changed, ["applicant_signature"]);
        // Not the other side's action, not out of turn, and never a staff one.
        for (state, action, role) in [
            ("drafted", "respondent_confirms_online", "applicant"),
            (
                "applicant_confirmed",
                "applicant_confirms_online",
                "applicant",
            ),
            ("drafted", "applicant_confirms", "applicant"),
        ] {
            let refused = agreement.decide_as_party(Some(state), &drafted, action, role);
            assert_eq!(
                refused.unwrap_err().field,
                "action",
                "{action} from {state}"
            );
        }
        // And staff cannot take a party's action.
        let mediator = [Role::intern("mediator")];
        let staff = agreement.decide(
            Some("drafted"),
            &drafted,
            "applicant_confirms_online",
            &map(json!({})),
            &mediator,
        );
        assert_eq!(staff.unwrap_err().field, "action");
    }

    #[test]
    fn a_party_action_must_name_a_party_role_and_set_valid_values() {
        let text = MEDIATION
            .replacen("party = \"applicant\"", "party = \"bystander\"", 1)
            .replacen(
                "sets = { applicant_signature = \"online\" }",
                "sets = { applicant_signature = \"by_fax\", colour = \"red\" }",
                1,
            );
        let e = PackSet::from_sources(&[("m.toml".into(), text)])
            .unwrap_err()
            .to_string();
        for says in [
            "names `bystander`, which is not a party role of the type",
            "`sets.applicant_signature` of action `applicant_confirms_online`",
            "`sets` of action `applicant_confirms_online` of record `agreement` of type `dispute` names undeclared field `colour`",
        ] {
            assert!(e.contains(says), "{says}\n in:\n{e}");
        }
    }

    #[test]
    fn a_record_state_counts_its_limit_from_its_date_or_from_now() {
        let set = PackSet::from_sources(&[("m.toml".into(), MEDIATION.into())])
            .unwrap_or_else(|e| panic!("{e}"));
        let session = &set.case_type("mediation", "dispute").unwrap().records["session"];
        let scheduled = &session.states["scheduled"];
        assert!(scheduled.deadline.is_some());
        let calendar = WorkCalendar::builtin();
        let on = |day: &str| map(json!({"on": day}));
        let now = 1_800_000_000_000_000; // 2027-01-15
        let day = chrono::NaiveDate::from_ymd_opt(2027, 3, 10).unwrap();
        assert_eq!(
            scheduled.deadline_start(&calendar, &on("2027-03-10"), now),
            calendar.end_of_day(day)
        );
        // A date already past, or none, counts from now.
        assert_eq!(
            scheduled.deadline_start(&calendar, &on("2026-01-05"), now),
            now
        );
        assert_eq!(
            scheduled.deadline_start(&calendar, &map(json!({})), now),
            now
        );
    }

    #[test]
    fn a_record_deadline_must_count_from_a_date_and_not_from_a_category() {
        let text = MEDIATION
            .replacen("deadline_after = \"on\"", "deadline_after = \"place\"", 1)
            .replacen(
                "deadline = { amount = 10, unit = \"working_days\", warn_at = 0.7, on_expiry = \"mark_overdue\" }",
                "deadline = { amount = 10, unit = \"working_days\", category = \"handling_time\" }",
                1,
            )
            .replacen(
                "[types.dispute.records.session.states.held]\n",
                "[types.dispute.records.session.states.held]\ndeadline_after = \"on\"\n",
                1,
            );
        let e = PackSet::from_sources(&[("m.toml".into(), text)])
            .unwrap_err()
            .to_string();
        for says in [
            "`deadline_after` of state `scheduled` of record `session` of type `dispute` must name a date field of the record, found `place`",
            "the deadline of state `effective` of record `agreement` of type `dispute` cannot follow a category",
            "state `held` of record `session` of type `dispute` has `deadline_after` but no `deadline`",
        ] {
            assert!(e.contains(says), "{says}\n in:\n{e}");
        }
    }
}
