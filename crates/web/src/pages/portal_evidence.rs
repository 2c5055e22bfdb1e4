//! A party's own records on the public lookup: evidence for the exchange,
//! submitted with one file, and the files of the records the party may see
//! (its own, and the others' once the pack's states let them through).
//! Every post proves the party again by the receipt code and the last four
//! digits of their phone, under the lookup's rate limiter.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;
use serde_json::{Map, Value};

use gongzhi_domain::pack::{CaseType, FieldKind, RecordDef};
use gongzhi_domain::time::now_micros;
use gongzhi_store::{CaseRecord, PartyRecord};

use super::Lang;
use super::form_token::{FORM_FIELD, FormToken};
use super::multipart::{form_value, read_multipart_form};
use super::portal::{LookupForm, lookup_error, portal_actor, show_lookup};
use super::session::MaybeStaff;
use crate::api::attachments::{file_response, prepare_file};
use crate::api::public::find_by_receipt_as;
use crate::error::ApiError;
use crate::state::{AppState, ServerConfig};

/// The evidence route, with a body limit for its one file.
pub fn upload_routes(config: &ServerConfig) -> Router<AppState> {
    Router::new().route(
        "/lookup/records",
        post(party_add.layer(DefaultBodyLimit::max(config.upload_body_limit()))),
    )
}

fn case_type<'a>(state: &'a AppState, case: &CaseRecord) -> Option<&'a CaseType> {
    state.packs.case_type(&case.pack, &case.case_type)
}

/// `POST /lookup/records` (multipart): `kind`, its public fields as
/// `f.<key>` and at most one `file`.
pub async fn party_add(
    State(state): State<AppState>,
    lang: Lang,
    MaybeStaff(staff): MaybeStaff,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    token: FormToken,
    request: Request,
) -> Response {
    let staff = staff.as_ref();
    let (text, files) = match read_multipart_form(&state, request).await {
        Ok(read) => read,
        Err(e) => return e.into_response(),
    };
    let receipt = form_value(&text, "receipt_code").to_string();
    let lookup = LookupForm {
        receipt_code: receipt.clone(),
        phone_last4: form_value(&text, "phone_last4").to_string(),
        form_token: None,
    };
    if !token.matches(Some(form_value(&text, FORM_FIELD))) {
        return super::portal::forged(&state, lang, staff, &token, receipt);
    }
    let (case, party) =
        match find_by_receipt_as(&state, addr.ip(), &receipt, &lookup.phone_last4).await {
            Ok(found) => found,
            Err(e) => return lookup_error(&state, lang, staff, &token, e, receipt),
        };
    let notice = match add(&state, &case, party.as_ref(), &text, files).await {
        Ok(()) => lang.t("party_portal.added"),
        Err(e) if e.status.is_server_error() => {
            tracing::error!(error = %e.message, "party record");
            lang.t("party_portal.failed")
        }
        Err(e) if e.code == "forbidden" => lang.t("party_portal.not_party"),
        Err(_) => lang.t("party_portal.incomplete"),
    };
    let found = Some((case, party));
    show_lookup(
        &state,
        lang,
        staff,
        &token,
        addr.ip(),
        lookup,
        found,
        Some(notice),
    )
    .await
}

fn forbidden() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        "only a party of this case may do this",
    )
}

/// Checks the record before its file is stored, so a refused one leaves
/// nothing behind on the case.
async fn add(
    state: &AppState,
    case: &CaseRecord,
    party: Option<&PartyRecord>,
    text: &[(String, String)],
    files: Vec<(Vec<u8>, String)>,
) -> Result<(), ApiError> {
    let party = party.ok_or_else(forbidden)?;
    let def = case_type(state, case)
        .and_then(|t| t.records.get(form_value(text, "kind")))
        .filter(|d| d.party_adds.contains(&party.role))
        .ok_or_else(forbidden)?;
    let mut fields: Map<String, Value> = text
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("f.")?.to_string(), v.trim().into())))
        .filter(|(_, v): &(String, Value)| v.as_str().is_some_and(|s| !s.is_empty()))
        // A file comes only as an upload: a typed-in id could name another
        // of the case's files, which the party must not reach.
        .filter(|(k, _)| {
            def.fields
                .get(k)
                .is_some_and(|f| f.kind != FieldKind::Attachment)
        })
        .collect();
    def.check_new_by_party(&fields, &party.role)
        .map_err(|e| ApiError::invalid(&e.field, e.message))?;
    let file_field = def
        .public_fields()
        .find(|f| f.kind == FieldKind::Attachment);
    let actor = portal_actor(state).await?;
    let at = now_micros();
    if let (Some(field), Some((bytes, name))) = (file_field, files.into_iter().next()) {
        let prepared = prepare_file(state, "file", bytes, &name).await?;
        let attached = state
            .db
            .add_attachment(&actor, prepared.for_case(case.id.clone()), at)
            .await?;
        fields.insert(field.key.clone(), Value::String(attached.id));
    }
    state
        .db
        .party_adds_record_logged(
            &state.calendar,
            &actor,
            &case.id,
            &party.id,
            def,
            &fields,
            at,
        )
        .await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct FileForm {
    receipt_code: String,
    phone_last4: String,
    record_id: String,
    field: String,
    form_token: Option<String>,
}

/// `POST /lookup/file`: the file of a record the party sees, as a download
/// (the copy without metadata where there is one).
pub async fn party_file(
    State(state): State<AppState>,
    lang: Lang,
    MaybeStaff(staff): MaybeStaff,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    token: FormToken,
    Form(form): Form<FileForm>,
) -> Response {
    let staff = staff.as_ref();
    if !token.matches(form.form_token.as_deref()) {
        return super::portal::forged(&state, lang, staff, &token, form.receipt_code);
    }
    let (case, party) =
        match find_by_receipt_as(&state, addr.ip(), &form.receipt_code, &form.phone_last4).await {
            Ok(found) => found,
            Err(e) => return lookup_error(&state, lang, staff, &token, e, form.receipt_code),
        };
    match file_of(&state, &case, party.as_ref(), &form).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn file_of(
    state: &AppState,
    case: &CaseRecord,
    party: Option<&PartyRecord>,
    form: &FileForm,
) -> Result<Response, ApiError> {
    let party = party.ok_or_else(forbidden)?;
    let missing = || ApiError::not_found("file");
    let record = state
        .db
        .records_of(&case.id)
        .await?
        .into_iter()
        .find(|r| r.id == form.record_id)
        .ok_or_else(missing)?;
    let def: &RecordDef = case_type(state, case)
        .and_then(|t| t.records.get(&record.kind))
        .ok_or_else(missing)?;
    let own = record.party_id.as_deref() == Some(party.id.as_str());
    let field_ok = def
        .fields
        .get(&form.field)
        .is_some_and(|f| f.public && f.kind == FieldKind::Attachment);
    if !field_ok || !def.shown_to_party(record.state.as_deref(), own) {
        return Err(missing());
    }
    let id = record
        .fields
        .get(&form.field)
        .and_then(Value::as_str)
        .ok_or_else(missing)?;
    let actor = portal_actor(state).await?;
    let attachment = state
        .db
        .attachment_for(&actor, id)
        .await?
        .filter(|a| a.case_id == case.id)
        .ok_or_else(missing)?;
    let (sha256, prefix) = match &attachment.public_sha256 {
        Some(copy) => (copy.as_str(), "public-"),
        None => (attachment.sha256.as_str(), ""),
    };
    let bytes = state.blobs.get(sha256).await.map_err(|e| {
        tracing::error!(error = %e, "blob store");
        ApiError::internal()
    })?;
    Ok(file_response(&attachment, bytes, prefix))
}
