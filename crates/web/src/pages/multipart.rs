//! Multipart forms of the pages (a grid report, a citizen's request): their
//! text fields and photos, each within the attachment limit.

use axum::extract::{FromRequest, Multipart, Request};

use crate::api::grid::read_photo;
use crate::error::ApiError;
use crate::state::AppState;

/// A multipart form's body: text fields and the files of its `photo` and
/// `file` inputs (each within the attachment limit).
pub(super) async fn read_multipart_form(
    state: &AppState,
    request: Request,
) -> Result<(Vec<(String, String)>, Vec<(Vec<u8>, String)>), ApiError> {
    let limit = state.config.attachment_max_bytes;
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(crate::api::attachments::multipart_rejection)?;
    let mut text = Vec::new();
    let mut photos = Vec::new();
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| crate::api::attachments::multipart_error(e, limit))?
    {
        let name = field.name().unwrap_or_default().to_string();
        if name == "photo" || name == "file" {
            let file_name = field.file_name().unwrap_or_default().to_string();
            let bytes = read_photo(&mut field, limit).await?;
            // An empty file input still sends an empty part.
            if !bytes.is_empty() {
                photos.push((bytes, file_name));
            }
        } else {
            let value = field
                .text()
                .await
                .map_err(|e| crate::api::attachments::multipart_error(e, limit))?;
            text.push((name, value));
        }
    }
    Ok((text, photos))
}

pub(super) fn form_value<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}
