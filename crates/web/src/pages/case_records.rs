//! The case page's records: each kind its type declares, with the records
//! held, their state and fields (personal values masked), a form to add one
//! where the user's roles allow, and the actions of each record's life.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use gongzhi_domain::pack::{CaseType, RecordDef};
use gongzhi_domain::role::Role;
use gongzhi_domain::time::now_micros;
use gongzhi_store::{CaseRecord, CaseRecordEntry};

use crate::api::records::masked;
use crate::error::ApiError;
use crate::state::AppState;

use super::case::{FieldInput, PeopleChoices, def_input};
use super::{Ctx, Lang, PageError, Staff, display_value, render, see_other};
use super::{form_fields, form_get};

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
) -> Vec<FieldInput> {
    let none = PeopleChoices::new();
    keys.iter()
        .filter_map(|k| def.fields.get(k))
        .map(|f| {
            def_input(
                state,
                lang,
                f,
                required.contains(&f.key),
                String::new(),
                &none,
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
) -> RecordRow {
    let lang = p.lang;
    let shown = masked(Some(def), record);
    let fields = def
        .fields
        .values()
        .filter_map(|f| {
            let v = shown.get(&f.key)?;
            Some((
                lang.pick(&f.label.zh, &f.label.en).to_string(),
                display_value(state, lang, f, v),
            ))
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
                fields: inputs(state, lang, def, &keys, &a.requires),
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
                .map(|r| row(state, p, def, r, &roles, &documents))
                .collect();
            let may_add = def.roles.iter().any(|r| roles.contains(r));
            let keys: Vec<String> = def.fields.keys().cloned().collect();
            RecordKindView {
                kind: def.kind.clone(),
                name: lang.pick(&def.name.zh, &def.name.en).to_string(),
                rows,
                add: may_add.then(|| inputs(state, lang, def, &keys, &def.requires)),
            }
        })
        .collect())
}

pub(super) async fn refused(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    case: &CaseRecord,
    e: &ApiError,
) -> Response {
    match super::case::build_current(state, lang, staff, case).await {
        Ok(mut page) => {
            page.record_error = lang.tf("act_error.other", &[("message", &e.message)]);
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => e.render(state, lang, Some(staff)),
    }
}

fn def_of<'a>(state: &'a AppState, case: &CaseRecord, kind: &str) -> Option<&'a RecordDef> {
    state
        .packs
        .case_type(&case.pack, &case.case_type)?
        .records
        .get(kind)
}

/// Adds a record: `kind` and its `f.<key>` fields.
pub async fn add(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let case = match super::case::posted_case(&state, lang, &staff, &id, &form).await {
        Ok(case) => case,
        Err(page) => return page,
    };
    let kind = form_get(&form, "kind").unwrap_or_default();
    let Some(def) = def_of(&state, &case, kind) else {
        let e = ApiError::invalid("kind", "this case type has no such record");
        return refused(&state, lang, &staff, &case, &e).await;
    };
    let added = state
        .db
        .add_record_logged(
            &staff.actor,
            &case.id,
            def,
            &form_fields(&form),
            now_micros(),
        )
        .await
        .map_err(ApiError::from);
    match added {
        Ok(_) => see_other(&format!("/cases/{}?done=1#h-records", case.id)),
        Err(e) => refused(&state, lang, &staff, &case, &e).await,
    }
}

/// Takes a record's action: `action` and its `f.<key>` fields.
pub async fn act(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path((id, record_id)): Path<(String, String)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let case = match super::case::posted_case(&state, lang, &staff, &id, &form).await {
        Ok(case) => case,
        Err(page) => return page,
    };
    let held = match state.db.records_of(&case.id).await {
        Ok(held) => held,
        Err(e) => return PageError::from(e).render(&state, lang, Some(&staff)),
    };
    let Some(def) = held
        .iter()
        .find(|r| r.id == record_id)
        .and_then(|r| def_of(&state, &case, &r.kind))
    else {
        return PageError::NotFound.render(&state, lang, Some(&staff));
    };
    let action = form_get(&form, "action").unwrap_or_default();
    let acted = state
        .db
        .act_on_record_logged(
            &staff.actor,
            &case.id,
            &record_id,
            def,
            action,
            &form_fields(&form),
            now_micros(),
        )
        .await
        .map_err(ApiError::from);
    match acted {
        Ok(_) => see_other(&format!("/cases/{}?done=1#h-records", case.id)),
        Err(e) => refused(&state, lang, &staff, &case, &e).await,
    }
}

/// A document's own policy: its inline styles, nothing else.
const DOCUMENT_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Issues a document (`template`, for `record`) and answers with the page
/// itself, ready to print; its hash is in the case's log.
pub async fn issue_document(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let case = match super::case::posted_case(&state, lang, &staff, &id, &form).await {
        Ok(case) => case,
        Err(page) => return page,
    };
    let template = form_get(&form, "template").unwrap_or_default();
    let record = form_get(&form, "record");
    match crate::api::documents::issue(&state, &staff.actor, &case, template, record).await {
        Ok(issued) => {
            let mut r = axum::response::IntoResponse::into_response((
                [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
                issued.html,
            ));
            if let Ok(v) = axum::http::HeaderValue::from_str(&issued.sha256) {
                r.headers_mut().insert("x-document-sha256", v);
            }
            // The paper is self-contained (its styles inside, so a saved copy
            // prints the same and its hash covers them); it runs nothing.
            r.headers_mut().insert(
                axum::http::header::CONTENT_SECURITY_POLICY,
                axum::http::HeaderValue::from_static(DOCUMENT_CSP),
            );
            r
        }
        Err(e) => refused(&state, lang, &staff, &case, &e).await,
    }
}
