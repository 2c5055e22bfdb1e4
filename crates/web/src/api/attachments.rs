//! Attachments: upload (multipart, one file), list, download of the original
//! and of the public copy without metadata. Every route is reached through a
//! case: out of scope answers exactly like a missing case.

use axum::Json;
use axum::body::Body;
use axum::extract::multipart::{Multipart, MultipartError, MultipartRejection};
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use gongzhi_domain::media::{self, MediaKind, StripError};
use gongzhi_domain::time::now_micros;
use gongzhi_store::{AttachmentRecord, BlobError, NewAttachment};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::AppState;

/// The multipart field that carries the file.
const FILE_FIELD: &str = "file";

pub(crate) fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!(
            "the file is larger than the limit of {}",
            crate::error::byte_size(limit)
        ),
    )
}

pub(crate) fn multipart_error(e: MultipartError, limit: usize) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large(limit)
    } else {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.body_text())
    }
}

pub(crate) fn multipart_rejection(e: MultipartRejection) -> ApiError {
    tracing::debug!(error = %e, "upload without a multipart body");
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "send the file as multipart/form-data in a field named \"file\"",
    )
}

fn blob_error(e: BlobError) -> ApiError {
    tracing::error!(error = %e, "blob store");
    ApiError::internal()
}

/// The one file of an upload: its bytes and the name the client gave it.
async fn read_file(mut multipart: Multipart, limit: usize) -> Result<(Vec<u8>, String), ApiError> {
    let mut found: Option<(Vec<u8>, String)> = None;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, limit))?
    {
        if field.name() != Some(FILE_FIELD) || found.is_some() {
            return Err(ApiError::invalid(
                field.name().unwrap_or("(unnamed)"),
                "send exactly one file, in a field named \"file\"",
            ));
        }
        let name = field.file_name().unwrap_or("").to_string();
        let mut bytes = Vec::new();
        let mut over = false;
        while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(e, limit))? {
            // Past the limit, read on (within the request limit) and discard,
            // so the client gets the 413 rather than a cut connection.
            over |= bytes.len() + chunk.len() > limit;
            if !over {
                bytes.extend_from_slice(&chunk);
            }
        }
        if over {
            return Err(too_large(limit));
        }
        found = Some((bytes, name));
    }
    found.ok_or_else(|| ApiError::invalid(FILE_FIELD, "is required"))
}

pub(crate) fn attachment_json(a: &AttachmentRecord) -> Value {
    json!({
        "id": a.id,
        "case_id": a.case_id,
        "media_type": a.media_type,
        "size_bytes": a.size_bytes,
        "original_name": a.original_name,
        "sha256": a.sha256,
        "uploaded_by": a.uploaded_by,
        "uploaded_at": a.uploaded_at,
        "is_public": a.is_public,
        "has_public_copy": a.public_sha256.is_some(),
        "download": format!("/api/v1/attachments/{}", a.id),
        "public_download": a.public_sha256.as_ref().map(|_| format!("/api/v1/attachments/{}/public", a.id)),
    })
}

/// A file checked and stored in the blob store, not yet attached to a case.
#[derive(Debug, Clone)]
pub struct PreparedFile {
    pub sha256: String,
    pub public_sha256: Option<String>,
    pub media_type: String,
    pub size_bytes: i64,
    pub original_name: String,
}

impl PreparedFile {
    pub fn for_case(self, case_id: String) -> NewAttachment {
        NewAttachment {
            case_id,
            sha256: self.sha256,
            public_sha256: self.public_sha256,
            media_type: self.media_type,
            size_bytes: self.size_bytes,
            original_name: self.original_name,
        }
    }
}

/// Sniffs the type from the bytes, makes the public copy without metadata,
/// and stores both. `field` names the form field in errors.
pub async fn prepare_file(
    state: &AppState,
    field: &str,
    bytes: Vec<u8>,
    raw_name: &str,
) -> Result<PreparedFile, ApiError> {
    let limit = state.config.attachment_max_bytes;
    if bytes.is_empty() {
        return Err(ApiError::invalid(field, "is empty"));
    }
    if bytes.len() > limit {
        return Err(too_large(limit));
    }
    let kind = media::sniff(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_file_type",
            e.to_string(),
        )
    })?;
    let public = if kind.has_public_copy() {
        Some(media::strip_metadata(kind, &bytes).map_err(|e| match e {
            StripError::Damaged(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "damaged_file",
                e.to_string(),
            ),
            StripError::NotSupported(_) => ApiError::internal(),
        })?)
    } else {
        None
    };
    let size_bytes = i64::try_from(bytes.len()).map_err(|_| too_large(limit))?;
    let original = state.blobs.put(bytes).await.map_err(blob_error)?;
    let public_sha256 = match public {
        Some(copy) => Some(state.blobs.put(copy).await.map_err(blob_error)?.sha256),
        None => None,
    };
    Ok(PreparedFile {
        sha256: original.sha256,
        public_sha256,
        media_type: kind.media_type().to_string(),
        size_bytes,
        original_name: media::clean_file_name(raw_name),
    })
}

/// `POST /api/v1/cases/{id}/attachments`: multipart, field `file`.
pub async fn upload(
    State(state): State<AppState>,
    auth: Auth,
    Path(case_id): Path<String>,
    request: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // Scope first, so a caller who cannot see the case learns nothing from
    // how their body is judged.
    let case = state
        .db
        .case_for(&auth.actor, &case_id)
        .await?
        .ok_or_else(ApiError::case_not_found)?;
    let multipart = Multipart::from_request(request, &state)
        .await
        .map_err(multipart_rejection)?;
    let limit = state.config.attachment_max_bytes;
    let (bytes, raw_name) = read_file(multipart, limit).await?;
    let prepared = prepare_file(&state, FILE_FIELD, bytes, &raw_name).await?;
    let record = state
        .db
        .add_attachment(&auth.actor, prepared.for_case(case.id), now_micros())
        .await?;
    tracing::info!(attachment = %record.id, case = %record.case_id, media_type = %record.media_type, size = record.size_bytes, "attachment added");
    Ok((StatusCode::CREATED, Json(attachment_json(&record))))
}

/// `GET /api/v1/cases/{id}/attachments`.
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(case_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let case = state
        .db
        .case_for(&auth.actor, &case_id)
        .await?
        .ok_or_else(ApiError::case_not_found)?;
    let items: Vec<Value> = state
        .db
        .attachments_of(&case.id)
        .await?
        .iter()
        .map(attachment_json)
        .collect();
    Ok(Json(json!({"case_id": case.id, "attachments": items})))
}

/// `GET /api/v1/attachments/{id}`: the file as uploaded.
pub async fn download(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let attachment = visible_attachment(&state, &auth, &id).await?;
    let bytes = state
        .blobs
        .get(&attachment.sha256)
        .await
        .map_err(blob_error)?;
    Ok(file_response(&attachment, bytes, ""))
}

/// `GET /api/v1/attachments/{id}/public`: the copy without metadata. Staff
/// only for now; the public portal will serve it for published attachments.
pub async fn download_public(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let attachment = visible_attachment(&state, &auth, &id).await?;
    let Some(sha256) = &attachment.public_sha256 else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_public_copy",
            "this file type gets no public copy",
        ));
    };
    let bytes = state.blobs.get(sha256).await.map_err(blob_error)?;
    Ok(file_response(&attachment, bytes, "public-"))
}

/// A missing attachment and one on a case out of scope answer alike, as a
/// missing case: attachments are reached through their case.
async fn visible_attachment(
    state: &AppState,
    auth: &Auth,
    id: &str,
) -> Result<AttachmentRecord, ApiError> {
    state
        .db
        .attachment_for(&auth.actor, id)
        .await?
        .ok_or_else(ApiError::case_not_found)
}

pub(crate) fn file_response(
    attachment: &AttachmentRecord,
    bytes: Vec<u8>,
    name_prefix: &str,
) -> Response {
    // The stored type was sniffed at upload; fall back to opaque bytes if a
    // row ever holds something else.
    let media_type = MediaKind::from_media_type(&attachment.media_type)
        .map_or("application/octet-stream", MediaKind::media_type);
    let disposition = content_disposition(&format!("{name_prefix}{}", attachment.original_name));
    let mut response = Body::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    response
}

/// `attachment` with an ASCII fallback name and the UTF-8 name (RFC 6266,
/// RFC 8187), so no byte of the name can break out of the header.
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for byte in name.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_is_safe_and_keeps_the_name() {
        assert_eq!(
            content_disposition("照片 1.jpg"),
            "attachment; filename=\"__ 1.jpg\"; filename*=UTF-8''%E7%85%A7%E7%89%87%201.jpg"
        );
        let nasty = content_disposition("a\"; filename=evil.html\r\n.jpg");
        assert!(HeaderValue::from_str(&nasty).is_ok());
        assert!(nasty.starts_with("attachment; filename=\"a_; filename=evil.html__.jpg\""));
    }
}
