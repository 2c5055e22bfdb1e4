//! Document templates (`[types.<t>.templates.<id>]`): notices, agreements and
//! other papers a case issues, written as HTML with Jinja placeholders
//! (minijinja, auto-escaped) over the case's declared fields, its parties and
//! one of its records. Every name a template reads is checked at load, so a
//! document never silently prints an empty blank. `crate::document` renders
//! them.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::{Ctx, FieldDef, Names, RecordDef, Table, check_id, entry_loc, parse_action_roles};
use crate::role::Role;

/// Longest template body accepted, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

/// What `case.<key>` offers a template (see `document::context`).
pub const CASE_KEYS: &[&str] = &["receipt_code", "type", "state", "created", "unit"];
/// What `record.<key>` offers beside the record's own fields.
pub const RECORD_KEYS: &[&str] = &["kind", "state", "created"];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateDef {
    pub id: String,
    pub name: Names,
    /// The record kind a document is issued for, one per record; `None`
    /// for a document of the case as a whole.
    pub record: Option<String>,
    /// Roles that may issue it.
    pub roles: Vec<Role>,
    /// HTML with placeholders; the page around it (A4, print styles) is the engine's.
    pub body: String,
    /// Whether it prints the parties (and so their personal data).
    pub uses_parties: bool,
}

/// Parses a type's `templates`, checking every name they read against the
/// type's fields and records.
pub(super) fn parse_templates(
    ctx: &mut Ctx,
    parent: &Table,
    type_id: &str,
    fields: &BTreeMap<String, FieldDef>,
    records: &BTreeMap<String, RecordDef>,
) -> BTreeMap<String, TemplateDef> {
    let mut out = BTreeMap::new();
    let Some(table) = parent.id_table(ctx, "templates", false) else {
        return out;
    };
    for (key, node) in table.entries {
        check_id(ctx, &key.name, &key.span, "template id");
        let what = format!("template `{}` of type `{type_id}`", key.name);
        let Some(t) = Table::new(ctx, node, entry_loc(key, node), what) else {
            continue;
        };
        t.check_keys(ctx, &["name", "record", "roles", "body"]);
        let name = t.names(ctx, "name");
        let roles = parse_action_roles(ctx, &t);
        let record = match t.string(ctx, "record", false) {
            Some((kind, loc)) if !records.contains_key(&kind) => {
                let msg = format!("{} names undeclared record kind `{kind}`", t.what);
                ctx.err(&loc, msg);
                None
            }
            other => other.map(|(kind, _)| kind),
        };
        let Some((body, body_loc)) = t.string(ctx, "body", true) else {
            continue;
        };
        if body.len() > MAX_TEMPLATE_BYTES {
            let msg = format!("{} is longer than {MAX_TEMPLATE_BYTES} bytes", t.what);
            ctx.err(&body_loc, msg);
            continue;
        }
        let names = match crate::document::read_names(&body) {
            Ok(names) => names,
            Err(e) => {
                ctx.err(&body_loc, format!("{}: {e}", t.what));
                continue;
            }
        };
        let checked = Offered {
            fields,
            record: record.as_ref().and_then(|k| records.get(k)),
        };
        let mut ok = true;
        for problem in checked.problems(&names) {
            ctx.err(&body_loc, format!("{}: {problem}", t.what));
            ok = false;
        }
        if let (true, Some(name)) = (ok, name) {
            out.insert(
                key.name.clone(),
                TemplateDef {
                    id: key.name.clone(),
                    name,
                    record,
                    roles,
                    uses_parties: names.iter().any(|n| n == "parties"),
                    body,
                },
            );
        }
    }
    out
}

/// The names a type offers its templates.
struct Offered<'a> {
    fields: &'a BTreeMap<String, FieldDef>,
    record: Option<&'a RecordDef>,
}

impl Offered<'_> {
    /// What is wrong with the names a template reads (`a` or `a.b`), sorted.
    fn problems(&self, names: &HashSet<String>) -> Vec<String> {
        let mut out: Vec<String> = names.iter().filter_map(|n| self.problem(n)).collect();
        out.sort();
        out.dedup();
        out
    }

    fn problem(&self, name: &str) -> Option<String> {
        let (head, rest) = match name.split_once('.') {
            Some((h, r)) => (h, Some(r.split('.').next().unwrap_or(r))),
            None => (name, None),
        };
        match (head, rest) {
            ("today" | "parties", _) | ("case" | "fields", None) => None,
            ("case", Some(k)) => (!CASE_KEYS.contains(&k)).then(|| {
                format!(
                    "`case.{k}` is not offered (offered: {})",
                    CASE_KEYS.join(", ")
                )
            }),
            ("fields", Some(k)) => match self.fields.get(k) {
                None => Some(format!("reads undeclared field `{k}`")),
                Some(f) if f.personal => Some(format!(
                    "reads personal field `{k}`: a document prints only what is not personal, \
                     and the parties"
                )),
                Some(_) => None,
            },
            ("record", k) => match (self.record, k) {
                (None, _) => Some("reads `record` but names no `record` kind".into()),
                (Some(_), None) => None,
                (Some(r), Some(k)) => (!RECORD_KEYS.contains(&k) && !r.fields.contains_key(k))
                    .then(|| format!("reads undeclared field `{k}` of record `{}`", r.kind)),
            },
            (other, _) => Some(format!(
                "reads `{other}`, which a document does not offer (case, fields, parties, record, today)"
            )),
        }
    }
}
