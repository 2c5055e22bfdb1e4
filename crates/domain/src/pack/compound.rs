//! Compound field kinds of records: `object` (one value made of named parts,
//! say an address or a signature block) and `list` (many such values, say an
//! agreement's obligations or the items of an inventory). Their parts are
//! plain values only, so that masking, the log and indicators stay about
//! whole fields.

use serde_json::{Map, Value};

use super::{Ctx, FieldDef, Table, parse_field};

/// Kinds a part of a list item or an object may be.
const PART_KINDS: &[&str] = &[
    "text",
    "long_text",
    "integer",
    "number",
    "decimal",
    "boolean",
    "date",
    "choice",
];

/// Most items a list may declare.
pub const MAX_LIST_ITEMS: i64 = 200;
const DEFAULT_LIST_ITEMS: usize = 50;

/// Parses the `fields` and `required` of a `list` or `object` field: the
/// parts, in declared order, and which of them every value must have.
pub(super) fn parse_parts(ctx: &mut Ctx, t: &Table, owner: &str) -> (Vec<FieldDef>, Vec<String>) {
    let mut parts = Vec::new();
    match t.id_table(ctx, "fields", true) {
        Some(table) => {
            for (key, node) in table.entries {
                let what = format!("{owner}.{}", key.name);
                let Some(part) = parse_field(ctx, &what, key, node) else {
                    continue;
                };
                let loc = super::entry_loc(key, node);
                let kind = part.kind.name();
                if !PART_KINDS.contains(&kind) {
                    let msg = format!(
                        "part `{}` of field `{owner}` is of kind `{kind}`; parts may be: {}",
                        part.key,
                        PART_KINDS.join(", ")
                    );
                    ctx.err(&loc, msg);
                } else if part.personal || part.public {
                    let msg = format!(
                        "part `{}` of field `{owner}` cannot be marked personal or public: the field as a whole is",
                        part.key
                    );
                    ctx.err(&loc, msg);
                } else {
                    parts.push(part);
                }
            }
        }
        None => return (parts, Vec::new()),
    }
    let mut required = Vec::new();
    for (name, loc) in t.string_list(ctx, "required").unwrap_or_default() {
        if !parts.iter().any(|p| p.key == name) {
            ctx.err(
                &loc,
                format!("`required` of field `{owner}` names undeclared part `{name}`"),
            );
        } else if !required.contains(&name) {
            required.push(name);
        }
    }
    (parts, required)
}

/// The `max_items` of a list, within bounds.
pub(super) fn parse_max_items(ctx: &mut Ctx, t: &Table) -> usize {
    match t.integer(ctx, "max_items") {
        None => DEFAULT_LIST_ITEMS,
        Some((n, _)) if (1..=MAX_LIST_ITEMS).contains(&n) => n as usize,
        Some((_, loc)) => {
            ctx.err(
                &loc,
                format!("max_items must be between 1 and {MAX_LIST_ITEMS}"),
            );
            DEFAULT_LIST_ITEMS
        }
    }
}

/// Checks one object value against its parts: every key declared, every
/// value valid, the required ones present. Blank parts are dropped. `at`
/// names the value in messages ("item 2: ").
pub(super) fn validate_object(
    value: &Value,
    parts: &[FieldDef],
    required: &[String],
    at: &str,
) -> Result<Value, String> {
    let Value::Object(given) = value else {
        return Err(format!("{at}must be an object of named parts"));
    };
    let mut out = Map::new();
    for (key, v) in given {
        let Some(part) = parts.iter().find(|p| &p.key == key) else {
            let names: Vec<&str> = parts.iter().map(|p| p.key.as_str()).collect();
            return Err(format!(
                "{at}has no part `{key}` (parts: {})",
                names.join(", ")
            ));
        };
        let blank = v.is_null() || v.as_str().is_some_and(|s| s.trim().is_empty());
        if blank {
            continue;
        }
        let checked = part.validate(v).map_err(|e| format!("{at}`{key}` {e}"))?;
        out.insert(key.clone(), checked);
    }
    if let Some(missing) = required.iter().find(|r| !out.contains_key(*r)) {
        return Err(format!("{at}`{missing}` is required"));
    }
    if out.is_empty() {
        return Err(format!("{at}must not be empty"));
    }
    Ok(Value::Object(out))
}

/// Checks a list value: an array of at most `max_items` objects.
pub(super) fn validate_list(
    value: &Value,
    parts: &[FieldDef],
    required: &[String],
    max_items: usize,
) -> Result<Value, String> {
    let Value::Array(items) = value else {
        return Err("must be a list of items".into());
    };
    if items.is_empty() {
        return Err("must have at least one item".into());
    }
    if items.len() > max_items {
        return Err(format!(
            "has {} items, at most {max_items} allowed",
            items.len()
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("item {}: ", i + 1);
        out.push(validate_object(item, parts, required, &at)?);
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::pack::{FieldKind, PackSet};

    const PACK: &str = r#"
id = "inventory"
version = "1"
name = "清点"

[roles.clerk]
name = "书记员"

[types.case]
name = "案件"

[types.case.fields.title]
kind = "text"
label = "标题"

[types.case.states.open]
name = "办理中"
[types.case.states.done]
name = "结束"
terminal = true

[types.case.actions.create]
name = "登记"
from = []
to = "open"
roles = ["clerk"]
requires = ["title"]

[types.case.actions.finish]
name = "结束"
from = ["open"]
to = "done"
roles = ["clerk"]

[types.case.records.agreement]
name = "协议"
roles = ["clerk"]
[types.case.records.agreement.fields.obligations]
kind = "list"
label = "义务"
max_items = 3
required = ["who", "what"]
[types.case.records.agreement.fields.obligations.fields.who]
kind = "choice"
label = "义务人"
options = ["applicant", "respondent"]
[types.case.records.agreement.fields.obligations.fields.what]
kind = "text"
label = "内容"
[types.case.records.agreement.fields.obligations.fields.amount]
kind = "decimal"
label = "金额"
scale = 2
[types.case.records.agreement.fields.obligations.fields.by]
kind = "date"
label = "期限"
[types.case.records.agreement.fields.venue]
kind = "object"
label = "地点"
required = ["place"]
[types.case.records.agreement.fields.venue.fields.place]
kind = "text"
label = "场所"
[types.case.records.agreement.fields.venue.fields.room]
kind = "integer"
label = "房间"
"#;

    fn fields() -> Vec<crate::pack::FieldDef> {
        let packs = PackSet::from_sources(&[("inventory.toml".into(), PACK.into())])
            .unwrap_or_else(|e| panic!("{e}"));
        let record = &packs.case_type("inventory", "case").expect("type").records["agreement"];
        record.fields.values().cloned().collect()
    }

    #[test]
    fn a_list_takes_items_of_its_parts_and_normalises_them() {
        let fields = fields();
        let list = fields
            .iter()
            .find(|f| f.key == "obligations")
            .expect("list");
        assert!(matches!(list.kind, FieldKind::List { max_items: 3, .. }));
        let got = list.validate(&json!([
            {"who": "respondent", "what": " 拆除雨棚 ", "by": "2027-01-15", "amount": ""},
            {"who": "respondent", "what": "赔偿修缮费", "amount": "3500"}
        ]));
        assert_eq!(
            got,
            Ok(json!([
                {"who": "respondent", "what": "拆除雨棚", "by": "2027-01-15"},
                {"who": "respondent", "what": "赔偿修缮费", "amount": "3500.00"}
            ]))
        );
    }

    #[test]
    fn a_bad_item_is_refused_naming_the_item_and_part() {
        let fields = fields();
        let list = fields
            .iter()
            .find(|f| f.key == "obligations")
            .expect("list");
        let refuse = |v| list.validate(&v).expect_err("refused");
        assert_eq!(refuse(json!([])), "must have at least one item");
        assert_eq!(refuse(json!("拆除")), "must be a list of items");
        assert_eq!(
            refuse(json!([{"who": "applicant", "what": "a"}, {"who": "judge", "what": "b"}])),
            "item 2: `who` must be one of: applicant, respondent"
        );
        assert_eq!(
            refuse(json!([{"who": "applicant"}])),
            "item 1: `what` is required"
        );
        assert_eq!(
            refuse(json!([{"who": "applicant", "what": "a", "colour": "red"}])),
            "item 1: has no part `colour` (parts: who, what, amount, by)"
        );
        let four = serde_json::Value::Array(vec![json!({"what": "a", "who": "applicant"}); 4]);
        assert_eq!(refuse(four), "has 4 items, at most 3 allowed");
    }

    #[test]
    fn an_object_is_one_value_of_named_parts() {
        let fields = fields();
        let venue = fields.iter().find(|f| f.key == "venue").expect("object");
        assert_eq!(
            venue.validate(&json!({"place": "调解室", "room": "3"})),
            Ok(json!({"place": "调解室", "room": 3}))
        );
        assert_eq!(
            venue.validate(&json!({"room": 3})),
            Err("`place` is required".into())
        );
        assert_eq!(
            venue.validate(&json!([{"place": "x"}])),
            Err("must be an object of named parts".into())
        );
    }

    #[test]
    fn bad_declarations_are_refused_with_their_place() {
        let bad = PACK
            .replace(
                "kind = \"decimal\"\nlabel = \"金额\"",
                "kind = \"person\"\nlabel = \"金额\"\nroles = [\"clerk\"]",
            )
            .replace("required = [\"place\"]", "required = [\"floor\"]")
            .replace("max_items = 3", "max_items = 0");
        let err = PackSet::from_sources(&[("inventory.toml".into(), bad)])
            .expect_err("refused")
            .to_string();
        assert!(err.contains("max_items must be between 1 and 200"), "{err}");
        assert!(
            err.contains("part `amount` of field `obligations` is of kind `person`"),
            "{err}"
        );
        assert!(
            err.contains("`required` of field `venue` names undeclared part `floor`"),
            "{err}"
        );
        assert!(err.contains("inventory.toml:"), "{err}");
        // Outside a record, a list is refused.
        let on_case = PACK.replace(
            "[types.case.fields.title]\nkind = \"text\"",
            "[types.case.fields.title]\nkind = \"list\"\nfields = { a = { kind = \"text\", label = \"a\" } }",
        );
        let err = PackSet::from_sources(&[("inventory.toml".into(), on_case)])
            .expect_err("refused")
            .to_string();
        assert!(err.contains("only a record's fields may be"), "{err}");
    }
}
