//! Parties (当事人): the people and organisations a case is about, each with
//! a role in the case (applicant, respondent, agent, witness...). A pack
//! declares the roles and the fields a party carries; personal fields are
//! masked in views, revealed only with a logged purpose and committed to in
//! the log as salted digests, as a case's own personal fields are.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Ctx, FieldDef, Names, Table, check_id, entry_loc, parse_field};
use crate::role::Role;

/// A type's declaration of its parties.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PartyDef {
    /// Role in the case → its names.
    pub roles: BTreeMap<String, Names>,
    /// What a party records; `name` is always among them.
    pub fields: BTreeMap<String, FieldDef>,
    /// Fields whose values identify a person across cases (an ID number, a
    /// phone): what conflict-of-interest checks match on, never the name.
    pub identified_by: Vec<String>,
    /// Staff roles (over the case's holder or area) that add and remove
    /// parties; by default the roles of the type's creation action.
    pub managed_by: Vec<Role>,
}

/// A party is a natural person or an organisation (a company, a committee).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyKind {
    Person,
    Organisation,
}

impl PartyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PartyKind::Person => "person",
            PartyKind::Organisation => "organisation",
        }
    }

    pub fn parse(text: &str) -> Option<PartyKind> {
        match text {
            "person" => Some(PartyKind::Person),
            "organisation" => Some(PartyKind::Organisation),
            _ => None,
        }
    }
}

/// The field every party has: how the case refers to them.
pub const NAME_FIELD: &str = "name";

/// Most parties one case may hold.
pub const MAX_PARTIES: usize = 50;

/// A party as checked, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedParty {
    pub role: String,
    pub kind: PartyKind,
    pub fields: Map<String, Value>,
}

/// Why a party was refused: the request field and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PartyError {
    pub field: String,
    pub message: String,
}

fn refuse(field: &str, message: impl Into<String>) -> PartyError {
    PartyError {
        field: field.to_string(),
        message: message.into(),
    }
}

impl PartyDef {
    /// Checks a party against the declaration: a declared role, a kind, a
    /// name, and declared fields each valid for its kind. Empty values are
    /// dropped; nothing undeclared is kept.
    pub fn check(
        &self,
        role: &str,
        kind: &str,
        fields: &Map<String, Value>,
    ) -> Result<CheckedParty, PartyError> {
        let role = role.trim();
        if !self.roles.contains_key(role) {
            let all: Vec<&str> = self.roles.keys().map(String::as_str).collect();
            return Err(refuse(
                "role",
                format!("expected one of: {}", all.join(", ")),
            ));
        }
        let kind = PartyKind::parse(kind.trim())
            .ok_or_else(|| refuse("kind", "expected person or organisation"))?;
        let mut out = Map::new();
        for (key, value) in fields {
            let def = self.fields.get(key).ok_or_else(|| {
                refuse(
                    &format!("fields.{key}"),
                    "is not a party field of this case type",
                )
            })?;
            if value.is_null() || value.as_str().is_some_and(|s| s.trim().is_empty()) {
                continue;
            }
            let valid = def
                .validate(value)
                .map_err(|m| refuse(&format!("fields.{key}"), m))?;
            out.insert(key.clone(), valid);
        }
        if !out.contains_key(NAME_FIELD) {
            return Err(refuse(&format!("fields.{NAME_FIELD}"), "is required"));
        }
        Ok(CheckedParty {
            role: role.to_string(),
            kind,
            fields: out,
        })
    }
}

pub(super) fn parse_parties(ctx: &mut Ctx, parent: &Table, type_id: &str) -> Option<PartyDef> {
    let (key, node) = parent.get("parties")?;
    let what = format!("`parties` of type `{type_id}`");
    let t = Table::new(ctx, node, entry_loc(key, node), what)?;
    t.check_keys(ctx, &["roles", "fields", "identified_by", "managed_by"]);
    let mut def = PartyDef::default();
    match t.id_table(ctx, "roles", true) {
        Some(roles) => {
            if roles.entries.is_empty() {
                ctx.err(&roles.loc, format!("{} declares no roles", t.what));
            }
            for (rk, rnode) in roles.entries {
                check_id(ctx, &rk.name, &rk.span, "party role");
                let loc = entry_loc(rk, rnode);
                let what = format!("party role `{}` of type `{type_id}`", rk.name);
                if let Some(rt) = Table::new(ctx, rnode, loc, what) {
                    rt.check_keys(ctx, &["name"]);
                    if let Some(name) = rt.names(ctx, "name") {
                        def.roles.insert(rk.name.clone(), name);
                    }
                }
            }
        }
        None => return None,
    }
    if let Some(fields) = t.id_table(ctx, "fields", false) {
        // Messages name the type; the place in the file tells it is a party field.
        for (fk, fnode) in fields.entries {
            if let Some(f) = parse_field(ctx, type_id, fk, fnode) {
                super::record_only(ctx, fk, fnode, &f);
                def.fields.insert(f.key.clone(), f);
            }
        }
    }
    for (key, loc) in t.string_list(ctx, "identified_by").unwrap_or_default() {
        match def.fields.get(&key) {
            None => ctx.err(
                &loc,
                format!("`identified_by` names undeclared party field `{key}`"),
            ),
            Some(f) if key == NAME_FIELD || !f.personal => ctx.err(
                &loc,
                format!(
                    "`identified_by` needs personal fields that identify a person (an ID \
                     number, a phone), not `{key}`"
                ),
            ),
            Some(_) if def.identified_by.contains(&key) => {
                ctx.err(&loc, format!("`{key}` is listed twice"))
            }
            Some(_) => def.identified_by.push(key),
        }
    }
    if t.get("managed_by").is_some() {
        def.managed_by = super::parse_action_roles_at(ctx, &t, "managed_by");
    }
    if !def.fields.contains_key(NAME_FIELD) {
        ctx.err(
            &t.loc,
            format!(
                "{} must declare a `{NAME_FIELD}` field (how the case names a party)",
                t.what
            ),
        );
    }
    Some(def)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::PackSet;
    use super::*;

    fn pack(parties: &str) -> String {
        format!(
            r#"id = "mini"
version = "1"
name = "小"
[types.t]
name = "T"
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
{parties}
"#
        )
    }

    const PARTIES: &str = r#"
[types.t.parties.roles.applicant]
name = { zh = "申请人", en = "Applicant" }
[types.t.parties.roles.respondent]
name = { zh = "被申请人", en = "Respondent" }
[types.t.parties.fields.name]
kind = "text"
label = "姓名或名称"
personal = true
[types.t.parties.fields.phone]
kind = "phone"
label = "电话"
personal = true
"#;

    fn def() -> PartyDef {
        let set = PackSet::from_sources(&[(
            "p.toml".into(),
            crate::pack::with_test_roles(&pack(PARTIES)),
        )])
        .unwrap_or_else(|e| panic!("{e}"));
        set.case_type("mini", "t")
            .and_then(|t| t.parties.clone())
            .unwrap_or_else(|| panic!("parties"))
    }

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_party_needs_a_declared_role_a_kind_and_a_name() {
        let d = def();
        let ok = d
            .check(
                "applicant",
                "person",
                &fields(json!({"name": " 张三 ", "phone": "139 1234 5678"})),
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok.fields["name"], "张三");
        assert_eq!(ok.fields["phone"], "13912345678");
        let company = d.check(
            "respondent",
            "organisation",
            &fields(json!({"name": "某物业公司", "phone": ""})),
        );
        assert_eq!(
            company.map(|p| p.fields.len()),
            Ok(1),
            "empty values are dropped"
        );
        let field = |r: Result<CheckedParty, PartyError>| r.err().map(|e| e.field);
        assert_eq!(
            field(d.check("judge", "person", &fields(json!({"name": "x"})))),
            Some("role".into())
        );
        assert_eq!(
            field(d.check("applicant", "robot", &fields(json!({"name": "x"})))),
            Some("kind".into())
        );
        assert_eq!(
            field(d.check("applicant", "person", &Map::new())),
            Some("fields.name".into())
        );
        assert_eq!(
            field(d.check(
                "applicant",
                "person",
                &fields(json!({"name": "x", "id_number": "1"}))
            )),
            Some("fields.id_number".into())
        );
        assert_eq!(
            field(d.check(
                "applicant",
                "person",
                &fields(json!({"name": "x", "phone": "call me"}))
            )),
            Some("fields.phone".into())
        );
    }

    #[test]
    fn a_party_declaration_without_roles_or_a_name_field_is_refused_with_its_place() {
        let text = pack(
            "[types.t.parties.roles]\n[types.t.parties.fields.phone]\nkind = \"phone\"\nlabel = \"电话\"\n",
        );
        let err = PackSet::from_sources(&[("p.toml".into(), crate::pack::with_test_roles(&text))])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("`parties` of type `t` declares no roles"),
            "{err}"
        );
        assert!(err.contains("must declare a `name` field"), "{err}");
        assert!(err.starts_with("p.toml:"), "{err}");
    }

    #[test]
    fn the_creation_actions_roles_manage_parties_unless_the_pack_says_who() {
        assert_eq!(def().managed_by, [Role::intern("operator")]);
        let naming = |roles: &str| {
            crate::pack::with_test_roles(&pack(&PARTIES.replacen(
                "[types.t.parties.roles.applicant]",
                &format!(
                    "[types.t.parties]\nmanaged_by = {roles}\n[types.t.parties.roles.applicant]"
                ),
                1,
            )))
        };
        let set = PackSet::from_sources(&[("p.toml".into(), naming(r#"["handler"]"#))])
            .unwrap_or_else(|e| panic!("{e}"));
        let managed = set.case_type("mini", "t").and_then(|t| t.parties.clone());
        assert_eq!(
            managed.map(|p| p.managed_by),
            Some(vec![Role::intern("handler")])
        );
        let err = PackSet::from_sources(&[("p.toml".into(), naming(r#"["handler", "janitor"]"#))])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("unknown role `janitor`"), "{err}");
    }
}
