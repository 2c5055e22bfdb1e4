//! The pieces every form on the case page shares: a declared field as an
//! input, the people a person field may name, and the check that a posted
//! form may act on its case. The page (`case`), its sections and their
//! handlers use these; this module uses none of them.

use std::collections::BTreeMap;

use axum::response::Response;

use gongzhi_domain::pack::FieldKind;
use gongzhi_store::CaseRecord;

use crate::state::AppState;

use super::choices::{Choice, category_groups};
use super::form_get;
use super::{Lang, PageError, Staff};

pub struct FieldInput {
    pub key: String,
    pub label: String,
    pub required: bool,
    /// `text`, `tel`, `number`, `date`, `textarea`, `select`, or `list` /
    /// `object` (whose `parts` are the inputs of one item).
    pub kind: &'static str,
    pub options: Vec<Choice>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub max_length: usize,
    pub value: String,
    /// A list's or an object's parts, as inputs of one item.
    pub parts: Vec<FieldInput>,
    /// The item rows a list's form offers (their indexes); blank rows are
    /// left out when posted.
    pub rows: Vec<usize>,
}

/// Item rows a list's form offers at most: enough for a working agreement,
/// and more come by adding the record's items again or over the API.
const LIST_FORM_ROWS: usize = 4;

/// The case if the user may see it; otherwise the same 404 as a missing one.
pub(super) async fn visible(
    state: &AppState,
    staff: &Staff,
    id: &str,
) -> Result<CaseRecord, PageError> {
    state
        .db
        .case_for(&staff.actor, id)
        .await?
        .ok_or(PageError::NotFound)
}

/// The case a posted form acts on: the form's token checked and the case
/// visible to the user, or the page to answer with instead.
pub(super) async fn posted_case(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    id: &str,
    form: &[(String, String)],
) -> Result<CaseRecord, Response> {
    if !staff.csrf_ok(form_get(form, "csrf_token")) {
        return Err(PageError::FormExpired.render(state, lang, Some(staff)));
    }
    visible(state, staff, id)
        .await
        .map_err(|e| e.render(state, lang, Some(staff)))
}

pub(super) fn names(lang: Lang, n: &gongzhi_domain::pack::Names) -> String {
    lang.pick(&n.zh, &n.en).to_string()
}

/// Choices the server looks up per field: for a person field the staff who
/// may be named in it here (with their open load), for an attachment field
/// the case's files.
pub(super) type FieldChoices = BTreeMap<String, Vec<Choice>>;

/// The form input for a declared field (of a case or of a record).
pub(super) fn def_input(
    state: &AppState,
    lang: Lang,
    def: &gongzhi_domain::pack::FieldDef,
    required: bool,
    value: String,
    people: &FieldChoices,
) -> FieldInput {
    let key = def.key.as_str();
    let mut input = FieldInput {
        key: key.to_string(),
        label: names(lang, &def.label),
        required,
        kind: "text",
        options: Vec::new(),
        min: None,
        max: None,
        max_length: 0,
        value,
        parts: Vec::new(),
        rows: Vec::new(),
    };
    match &def.kind {
        FieldKind::Text { max_length } => input.max_length = *max_length,
        FieldKind::LongText { max_length } => {
            input.kind = "textarea";
            input.max_length = *max_length;
        }
        FieldKind::Integer { min, max } => {
            input.kind = "number";
            input.min = *min;
            input.max = *max;
        }
        FieldKind::Number { .. } | FieldKind::Decimal { .. } => input.kind = "text",
        FieldKind::Boolean => {
            input.kind = "select";
            input.options = vec![
                Choice {
                    value: "true".into(),
                    label: lang.t("case.yes").into(),
                },
                Choice {
                    value: "false".into(),
                    label: lang.t("case.no").into(),
                },
            ];
        }
        FieldKind::Date => input.kind = "date",
        FieldKind::Choice { options } => {
            input.kind = "select";
            input.options = options
                .iter()
                .map(|o| Choice {
                    value: o.value.clone(),
                    label: names(lang, &o.name),
                })
                .collect();
        }
        FieldKind::Phone => input.kind = "tel",
        FieldKind::Person { .. } | FieldKind::Attachment => {
            input.kind = "select";
            input.options = people.get(key).cloned().unwrap_or_default();
        }
        FieldKind::Unit | FieldKind::CaseRef { .. } => {}
        FieldKind::List {
            parts,
            required,
            max_items,
        } => {
            input.kind = "list";
            input.parts = part_inputs(state, lang, parts, required, people);
            input.rows = (0..(*max_items).min(LIST_FORM_ROWS)).collect();
        }
        FieldKind::Object { parts, required } => {
            input.kind = "object";
            input.parts = part_inputs(state, lang, parts, required, people);
        }
        FieldKind::Category => {
            input.kind = "select";
            input.options = category_groups(state, lang)
                .into_iter()
                .flat_map(|g| g.options)
                .collect();
        }
    }
    input
}

/// The inputs of a list item's or an object's parts. A part is marked
/// required only for the browser's sake of the item it belongs to, so the
/// rows of a list stay optional: the server checks filled-in rows whole.
fn part_inputs(
    state: &AppState,
    lang: Lang,
    parts: &[gongzhi_domain::pack::FieldDef],
    required: &[String],
    people: &FieldChoices,
) -> Vec<FieldInput> {
    parts
        .iter()
        .map(|p| {
            def_input(
                state,
                lang,
                p,
                required.contains(&p.key),
                String::new(),
                people,
            )
        })
        .collect()
}
