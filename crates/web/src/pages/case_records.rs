//! The case page's records: each kind its type declares, with the records
//! held, their state and fields (personal values masked), a form to add one
//! where the user's roles allow, and the actions of each record's life (the
//! forms post to `case_posts`).

use gongzhi_domain::pack::{CaseType, FieldKind, RecordDef};
use gongzhi_domain::role::Role;
use gongzhi_store::{CaseRecord, CaseRecordEntry};

use crate::api::records::masked;
use crate::state::AppState;

use super::case_form::{FieldChoices, FieldInput, def_input};
use super::choices::Choice;
use super::{Ctx, Lang, PageError, Staff, display_value};

pub struct RecordActionForm {
    pub id: String,
    pub name: String,
    pub fields: Vec<FieldInput>,
}

pub struct RecordRow {
    pub id: String,
    pub state: String,
    pub fields: Vec<(String, String)>,
    pub created: String,
    pub actions: Vec<RecordActionForm>,
    /// Documents the user may issue for this record: template id and name.
    pub documents: Vec<(String, String)>,
}

pub struct RecordKindView {
    pub kind: String,
    pub name: String,
    pub rows: Vec<RecordRow>,
    /// The add form, for users whose roles may add this kind.
    pub add: Option<Vec<FieldInput>>,
}

fn inputs(
    state: &AppState,
    lang: Lang,
    def: &RecordDef,
    keys: &[String],
    required: &[String],
    files: &[Choice],
) -> Vec<FieldInput> {
    // An attachment field picks one of the case's files.
    let choices: FieldChoices = def
        .fields
        .values()
        .filter(|f| f.kind == FieldKind::Attachment)
        .map(|f| (f.key.clone(), files.to_vec()))
        .collect();
    keys.iter()
        .filter_map(|k| def.fields.get(k))
        .map(|f| {
            def_input(
                state,
                lang,
                f,
                required.contains(&f.key),
                String::new(),
                &choices,
            )
        })
        .collect()
}

fn row(
    state: &AppState,
    p: &Ctx,
    def: &RecordDef,
    record: &CaseRecordEntry,
    roles: &[Role],
    documents: &[(String, String)],
    files: &[Choice],
) -> RecordRow {
    let lang = p.lang;
    let shown = masked(Some(def), record);
    let fields = def
        .fields
        .values()
        .filter_map(|f| {
            let v = shown.get(&f.key)?;
            // A file reads by its name, as in the case's attachments.
            let file = (f.kind == FieldKind::Attachment)
                .then(|| files.iter().find(|c| Some(c.value.as_str()) == v.as_str()))
                .flatten();
            let text = match file {
                Some(c) => c.label.clone(),
                None => display_value(state, lang, f, v),
            };
            Some((lang.pick(&f.label.zh, &f.label.en).to_string(), text))
        })
        .collect();
    let state_name = record
        .state
        .as_ref()
        .and_then(|s| def.states.get(s))
        .map(|s| lang.pick(&s.name.zh, &s.name.en).to_string())
        .unwrap_or_default();
    let actions = def
        .actions
        .values()
        .filter(|a| record.state.as_ref().is_some_and(|s| a.from.contains(s)))
        .filter(|a| a.roles.iter().any(|r| roles.contains(r)))
        .map(|a| {
            let keys: Vec<String> = a.requires.iter().chain(&a.allows).cloned().collect();
            RecordActionForm {
                id: a.id.clone(),
                name: lang.pick(&a.name.zh, &a.name.en).to_string(),
                fields: inputs(state, lang, def, &keys, &a.requires, files),
            }
        })
        .collect();
    RecordRow {
        id: record.id.clone(),
        state: state_name,
        fields,
        created: p.datetime(record.created_at),
        actions,
        documents: documents.to_vec(),
    }
}

/// The records section of a case page: one block per declared kind.
pub async fn record_views(
    state: &AppState,
    p: &Ctx,
    staff: &Staff,
    case_type: &CaseType,
    case: &CaseRecord,
) -> Result<Vec<RecordKindView>, PageError> {
    if case_type.records.is_empty() {
        return Ok(Vec::new());
    }
    let roles = staff
        .actor
        .roles_over(&case.access_scope().without_assists());
    let held = state.db.records_of(&case.id).await?;
    let lang = p.lang;
    let wants_files = case_type
        .records
        .values()
        .any(|d| d.fields.values().any(|f| f.kind == FieldKind::Attachment));
    let files: Vec<Choice> = if wants_files {
        state
            .db
            .attachments_of(&case.id)
            .await?
            .into_iter()
            .map(|a| Choice {
                value: a.id,
                label: a.original_name,
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(case_type
        .records
        .values()
        .map(|def| {
            let documents: Vec<(String, String)> = case_type
                .templates
                .values()
                .filter(|t| t.record.as_deref() == Some(def.kind.as_str()))
                .filter(|t| crate::api::documents::may_issue(state, &staff.actor, case, t))
                .map(|t| (t.id.clone(), lang.pick(&t.name.zh, &t.name.en).to_string()))
                .collect();
            let rows = held
                .iter()
                .filter(|r| r.kind == def.kind)
                .map(|r| row(state, p, def, r, &roles, &documents, &files))
                .collect();
            let may_add = def.roles.iter().any(|r| roles.contains(r));
            let keys: Vec<String> = def.fields.keys().cloned().collect();
            RecordKindView {
                kind: def.kind.clone(),
                name: lang.pick(&def.name.zh, &def.name.en).to_string(),
                rows,
                add: may_add.then(|| inputs(state, lang, def, &keys, &def.requires, &files)),
            }
        })
        .collect())
}
