//! The grid worker's phone: report what they see, with photos, in one request
//! that is safe to retry on a bad network.

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use gongzhi_domain::access::Actor;
use gongzhi_domain::pack::{IntakeChannel, IntakeValues};
use gongzhi_domain::time::now_micros;
use gongzhi_store::{AttachmentRecord, CaseRecord};

use super::attachments::{
    PreparedFile, attachment_json, multipart_error, multipart_rejection, prepare_file, too_large,
};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::intake::{Collected, IntakeRequest, Suggestion, channel_request, intake};
use crate::state::AppState;

/// The multipart part holding the event as JSON.
const EVENT_PART: &str = "event";

/// Photos one report may carry.
pub const MAX_PHOTOS: usize = 4;

/// The JSON part `report` of a grid report.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridReport {
    /// Chosen by the phone for this report; a retry sends the same key.
    pub(crate) client_key: String,
    pub(crate) title: String,
    pub(crate) description: Option<String>,
    pub(crate) category: Option<String>,
    pub(crate) address: Option<String>,
    pub(crate) lng: f64,
    pub(crate) lat: f64,
}

/// `POST /api/v1/grid/reports`: multipart with a `report` part (JSON) and up
/// to four `photo` parts. The same `client_key` again answers with the same
/// case and adds only photos it does not have yet.
pub async fn report(
    State(state): State<AppState>,
    auth: Auth,
    request: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut multipart = Multipart::from_request(request, &state)
        .await
        .map_err(multipart_rejection)?;
    let limit = state.config.attachment_max_bytes;
    let mut report: Option<GridReport> = None;
    let mut photos: Vec<(Vec<u8>, String)> = Vec::new();
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, limit))?
    {
        match field.name() {
            Some(EVENT_PART) if report.is_none() => {
                let text = field.text().await.map_err(|e| multipart_error(e, limit))?;
                let parsed: GridReport = serde_json::from_str(&text).map_err(|e| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "invalid_body",
                        format!("{EVENT_PART}: {e}"),
                    )
                })?;
                report = Some(parsed);
            }
            Some("photo") if photos.len() < MAX_PHOTOS => {
                let name = field.file_name().unwrap_or("").to_string();
                photos.push((read_photo(&mut field, limit).await?, name));
            }
            Some("photo") => {
                return Err(ApiError::invalid(
                    "photo",
                    format!("at most {MAX_PHOTOS} photos per report"),
                ));
            }
            other => {
                return Err(ApiError::invalid(
                    other.unwrap_or("(unnamed)"),
                    "expected one `event` part (JSON) and `photo` parts",
                ));
            }
        }
    }
    let report = report.ok_or_else(|| ApiError::invalid(EVENT_PART, "is required"))?;
    let filed = file_report(&state, &auth.actor, report, photos).await?;
    let (case, created, suggestion) = (filed.case, filed.created, filed.suggestion);
    let attachments: Vec<Value> = filed.attachments.iter().map(attachment_json).collect();
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({
            "case_id": case.id,
            "receipt_code": case.receipt_code,
            "state": case.state,
            "suggested_unit_id": suggestion.unit_id,
            "route_reason": suggestion.reason_zh,
            "route_reason_en": suggestion.reason_en,
            "attachments": attachments,
        })),
    ))
}

/// A report as filed: the case (new, or the one an earlier try with the same
/// key made), where routing suggested it goes, and its photos.
pub struct FiledReport {
    pub case: CaseRecord,
    pub created: bool,
    pub suggestion: Suggestion,
    pub attachments: Vec<AttachmentRecord>,
}

/// Reads one photo part, refusing it past the attachment limit (read on and
/// discarded, so the client gets a 413 rather than a broken connection).
pub(crate) async fn read_photo(
    field: &mut axum::extract::multipart::Field<'_>,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    let mut over = false;
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, limit))? {
        over |= bytes.len() + chunk.len() > limit;
        if !over {
            bytes.extend_from_slice(&chunk);
        }
    }
    if over {
        return Err(too_large(limit));
    }
    Ok(bytes)
}

/// Adds checked files to a case, skipping those it already has (a retried
/// submission sends the same photos again).
pub(crate) async fn attach_new_files(
    state: &AppState,
    actor: &Actor,
    case_id: &str,
    prepared: Vec<PreparedFile>,
    at: i64,
) -> Result<Vec<AttachmentRecord>, ApiError> {
    let existing = state.db.attachments_of(case_id).await?;
    let mut attachments = Vec::new();
    for file in prepared {
        if let Some(same) = existing.iter().find(|a| a.sha256 == file.sha256) {
            attachments.push(same.clone());
            continue;
        }
        let record = state
            .db
            .add_attachment(actor, file.for_case(case_id.to_string()), at)
            .await?;
        attachments.push(record);
    }
    Ok(attachments)
}

/// The grid report core, shared by the phone API and the grid worker's page:
/// checks every photo first, creates the case once per client key, and adds
/// only photos the case does not have yet.
pub(crate) async fn file_report(
    state: &AppState,
    actor: &Actor,
    report: GridReport,
    photos: Vec<(Vec<u8>, String)>,
) -> Result<FiledReport, ApiError> {
    let key = report.client_key.trim();
    if key.is_empty() || key.len() > 128 {
        return Err(ApiError::invalid(
            "client_key",
            "must be 1 to 128 characters",
        ));
    }
    if photos.len() > MAX_PHOTOS {
        return Err(ApiError::invalid(
            "photo",
            format!("at most {MAX_PHOTOS} photos per report"),
        ));
    }
    // Every photo is checked (and stored by content) before the case exists,
    // so a bad photo never leaves a report half made.
    let mut prepared: Vec<PreparedFile> = Vec::with_capacity(photos.len());
    for (bytes, name) in photos {
        prepared.push(prepare_file(state, "photo", bytes, &name).await?);
    }
    let collected = Collected {
        title: &report.title,
        category: report.category.as_deref(),
        parts: IntakeValues {
            description: report.description.as_deref(),
            address: report.address.as_deref(),
            ..IntakeValues::default()
        },
    };
    let request = IntakeRequest {
        lng: Some(report.lng),
        lat: Some(report.lat),
        idempotency_key: Some(format!("grid:{key}")),
        ..channel_request(&state.packs, IntakeChannel::Grid, collected)?
    };
    let at = now_micros();
    let (created, suggestion) = intake(state, actor, request, at).await?;
    let attachments = attach_new_files(state, actor, &created.case_id, prepared, at).await?;
    let case = state
        .db
        .case_unscoped(&created.case_id)
        .await?
        .ok_or_else(ApiError::internal)?;
    Ok(FiledReport {
        case,
        created: created.log_entry.is_some(),
        suggestion,
        attachments,
    })
}
