//! Documents a case issues from its pack's templates: rendered to an A4
//! HTML page from the case's declared fields, its parties and one of its
//! records, with the page's SHA-256 written into the case's log. Printing
//! the parties reads their personal data, so only roles that may see it
//! issue such a document, and the read is recorded.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::TimeZone;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use gongzhi_domain::access::Actor;
use gongzhi_domain::document;
use gongzhi_domain::pack::{CaseType, FieldDef, FieldKind, TemplateDef};
use gongzhi_domain::time::{Micros, now_micros};
use gongzhi_store::{CaseRecord, CaseRecordEntry, IssuedDocument};

use crate::api::cases::{may_reveal, visible_case};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentBody {
    template: String,
    #[serde(default)]
    record: Option<String>,
}

/// An issued document: the page and where the log recorded it.
pub(crate) struct Issued {
    pub html: String,
    pub sha256: String,
    pub seq: u64,
}

fn template_def<'a>(t: &'a CaseType, id: &str) -> Result<&'a TemplateDef, ApiError> {
    t.templates.get(id.trim()).ok_or_else(|| {
        let ids: Vec<&str> = t.templates.keys().map(String::as_str).collect();
        ApiError::invalid(
            "template",
            if ids.is_empty() {
                "this case type issues no documents".to_string()
            } else {
                format!("expected one of: {}", ids.join(", "))
            },
        )
    })
}

/// The templates `actor` may issue on `case`: the roles the pack names, and
/// for one that prints the parties, a role that may see their data.
pub(crate) fn may_issue(
    state: &AppState,
    actor: &Actor,
    case: &CaseRecord,
    def: &TemplateDef,
) -> bool {
    let roles = actor.roles_over(&case.access_scope().without_assists());
    def.roles.iter().any(|r| roles.contains(r))
        && (!def.uses_parties || may_reveal(state, &case.pack, &roles))
}

/// A field's value as paper shows it: a choice by its Chinese name, a
/// person by their name, anything else as written; unset is blank. A list
/// is its items and an object its parts, each shown the same way, so a
/// template loops over them and reads every declared part.
fn paper_value(f: &FieldDef, v: Option<&Value>, people: &People) -> Value {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Value::String(String::new());
    };
    let item = |parts: &[FieldDef], item: &Value| -> Value {
        let values = item.as_object().cloned().unwrap_or_default();
        Value::Object(paper_fields(parts.iter(), &values, people))
    };
    match (&f.kind, v) {
        (FieldKind::List { parts, .. }, Value::Array(items)) => {
            return Value::Array(items.iter().map(|i| item(parts, i)).collect());
        }
        (FieldKind::Object { parts, .. }, _) => return item(parts, v),
        _ => {}
    }
    let text = match (&f.kind, v.as_str()) {
        (FieldKind::Choice { options }, Some(s)) => options
            .iter()
            .find(|o| o.value == s)
            .map_or_else(|| s.to_string(), |o| o.name.zh.clone()),
        (FieldKind::Person { .. }, Some(s)) => {
            people.get(s).cloned().unwrap_or_else(|| s.to_string())
        }
        (_, Some(s)) => s.to_string(),
        (_, None) => v.to_string(),
    };
    Value::String(text)
}

fn paper_fields<'a>(
    defs: impl Iterator<Item = &'a FieldDef>,
    values: &Map<String, Value>,
    people: &People,
) -> Map<String, Value> {
    defs.map(|f| (f.key.clone(), paper_value(f, values.get(&f.key), people)))
        .collect()
}

fn date_zh(state: &AppState, at: Micros) -> String {
    chrono::DateTime::from_timestamp_micros(at)
        .map(|t| {
            state
                .calendar
                .tz()
                .from_utc_datetime(&t.naive_utc())
                .format("%Y年%-m月%-d日")
                .to_string()
        })
        .unwrap_or_default()
}

/// The record a document is issued for, when its template names a kind.
async fn the_record(
    state: &AppState,
    case: &CaseRecord,
    def: &TemplateDef,
    record_id: Option<&str>,
) -> Result<Option<CaseRecordEntry>, ApiError> {
    let record_id = record_id.map(str::trim).filter(|r| !r.is_empty());
    match (&def.record, record_id) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(ApiError::invalid(
            "record",
            "this document is of the case, not of a record",
        )),
        (Some(kind), None) => Err(ApiError::invalid(
            "record",
            format!("name the {kind} record it is issued for"),
        )),
        (Some(kind), Some(id)) => state
            .db
            .records_of(&case.id)
            .await?
            .into_iter()
            .find(|r| r.id == id && &r.kind == kind)
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid("record", format!("not a {kind} record of this case"))
            }),
    }
}

type People = std::collections::HashMap<String, String>;

/// The parties as paper shows them, and the personal values that puts on it
/// (as `party.<id>.<field>`, for the read record).
async fn paper_parties(
    state: &AppState,
    case_type: &CaseType,
    case: &CaseRecord,
    people: &People,
) -> Result<(Vec<Value>, Vec<String>), ApiError> {
    let Some(party_def) = &case_type.parties else {
        return Ok((Vec::new(), Vec::new()));
    };
    let mut parties = Vec::new();
    let mut read = Vec::new();
    for party in state.db.parties_of(&case.id).await? {
        let mut p = paper_fields(party_def.fields.values(), &party.fields, people);
        read.extend(
            party_def
                .fields
                .values()
                .filter(|f| f.personal && party.fields.contains_key(&f.key))
                .map(|f| format!("party.{}.{}", party.id, f.key)),
        );
        let role_name = party_def
            .roles
            .get(&party.role)
            .map(|n| n.zh.clone())
            .unwrap_or_else(|| party.role.clone());
        p.insert("role".into(), json!(party.role));
        p.insert("role_name".into(), json!(role_name));
        p.insert("kind".into(), json!(party.kind.as_str()));
        parties.push(Value::Object(p));
    }
    Ok((parties, read))
}

/// The record as paper shows it: its fields that are not personal, its
/// kind, state and date.
fn paper_record(
    state: &AppState,
    case_type: &CaseType,
    def: &TemplateDef,
    record: Option<&CaseRecordEntry>,
    people: &People,
) -> Value {
    let rdef = def.record.as_ref().and_then(|k| case_type.records.get(k));
    let (Some(r), Some(rdef)) = (record, rdef) else {
        return Value::Null;
    };
    let mut m = paper_fields(
        rdef.fields.values().filter(|f| !f.personal),
        &r.fields,
        people,
    );
    let state_name = r
        .state
        .as_ref()
        .and_then(|s| rdef.states.get(s))
        .map(|s| s.name.zh.clone())
        .unwrap_or_default();
    m.insert("kind".into(), json!(r.kind));
    m.insert("state".into(), json!(state_name));
    m.insert("created".into(), json!(date_zh(state, r.created_at)));
    Value::Object(m)
}

/// Renders a document of `case` and records its issue (and, when it
/// prints the parties, the read of their data).
pub(crate) async fn issue(
    state: &AppState,
    actor: &Actor,
    case: &CaseRecord,
    template_id: &str,
    record_id: Option<&str>,
) -> Result<Issued, ApiError> {
    let case_type = state
        .packs
        .case_type(&case.pack, &case.case_type)
        .ok_or_else(ApiError::internal)?;
    let def = template_def(case_type, template_id)?;
    if !may_issue(state, actor, case, def) {
        return Err(ApiError::forbidden(
            "your role does not issue this document",
        ));
    }
    let record = the_record(state, case, def, record_id).await?;
    let person_ids: Vec<String> = case_type
        .fields
        .values()
        .filter(|f| matches!(f.kind, FieldKind::Person { .. }))
        .filter_map(|f| case.fields.get(&f.key)?.as_str().map(str::to_string))
        .collect();
    let people = state.db.display_names(&person_ids).await?;
    let fields = paper_fields(
        case_type.fields.values().filter(|f| !f.personal),
        &case.fields,
        &people,
    );
    let (parties, read) = if def.uses_parties {
        paper_parties(state, case_type, case, &people).await?
    } else {
        (Vec::new(), Vec::new())
    };
    let holder = state
        .places()
        .unit(&case.holder_unit_id)
        .map(|u| u.name.clone())
        .unwrap_or_default();
    let state_name = case_type.states.get(&case.state).map(|s| s.name.zh.clone());
    let context = json!({
        "case": {
            "receipt_code": case.receipt_code,
            "type": case_type.name.zh,
            "state": state_name.unwrap_or_default(),
            "created": date_zh(state, case.created_at),
            "unit": holder,
        },
        "fields": fields,
        "parties": parties,
        "record": paper_record(state, case_type, def, record.as_ref(), &people),
        "today": date_zh(state, now_micros()),
    });
    let html = document::render(&def.name.zh, &def.body, &context).map_err(|e| {
        tracing::warn!(template = %def.id, error = %e, "document template failed");
        ApiError::invalid("template", e.to_string())
    })?;
    // Recorded before the paper is handed over, never for a failed rendering.
    if !read.is_empty() {
        let purpose = format!("document {}", def.id);
        state
            .db
            .record_personal_read(&case.id, &actor.user_id, &read, &purpose, now_micros())
            .await?;
    }
    let sha256 = document::digest(&html);
    let seq = state
        .db
        .issue_document_logged(
            actor,
            &case.id,
            &IssuedDocument {
                template: &def.id,
                record_id: record.as_ref().map(|r| r.id.as_str()),
                sha256: &sha256,
            },
            now_micros(),
        )
        .await?;
    Ok(Issued { html, sha256, seq })
}

/// `POST /api/v1/cases/{id}/documents`: the document, its hash and its log position.
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<DocumentBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let case = visible_case(&state, &auth.actor, &id).await?;
    let issued = issue(
        &state,
        &auth.actor,
        &case,
        &body.template,
        body.record.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "case_id": case.id,
            "template": body.template.trim(),
            "record": body.record,
            "sha256": issued.sha256,
            "log_seq": issued.seq,
            "html": issued.html,
        })),
    ))
}
