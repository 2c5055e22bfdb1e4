//! What the case page's section forms post: links added and removed,
//! parties and records added, record actions and documents. Each comes back
//! to the case, or shows the page again with the refusal beside its section.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use gongzhi_domain::pack::RecordDef;
use gongzhi_domain::time::now_micros;
use gongzhi_store::CaseRecord;

use crate::api::links::link_cases;
use crate::error::ApiError;
use crate::state::AppState;

use super::case::build_current;
use super::case_form::posted_case;
use super::{Lang, PageError, Staff, form_fields, form_get, render, see_other};

/// A document's own policy: its inline styles, nothing else.
const DOCUMENT_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The message for a refused link form, in the user's language.
fn link_message(lang: Lang, e: &ApiError) -> String {
    match (e.code, e.field.as_deref()) {
        ("conflict", _) => lang.t("link.error_exists").to_string(),
        (_, Some("case")) => lang.t("link.error_case").to_string(),
        (_, Some("reason")) => lang.t("link.error_reason").to_string(),
        (_, Some("note")) => lang.t("link.error_note").to_string(),
        _ => lang.tf("act_error.other", &[("message", &e.message)]),
    }
}

/// The case page again with the refusal shown by the links section.
async fn link_refused(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    case: &CaseRecord,
    e: &ApiError,
) -> Response {
    match build_current(state, lang, staff, case).await {
        Ok(mut page) => {
            page.link_error = link_message(lang, e);
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => e.render(state, lang, Some(staff)),
    }
}

/// Links the case to another: `kind`, `case` (receipt code or id), `note`.
pub async fn add_link(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let case = match posted_case(&state, lang, &staff, &id, &form).await {
        Ok(case) => case,
        Err(page) => return page,
    };
    let kind = form_get(&form, "kind").unwrap_or_default();
    let other = form_get(&form, "case").unwrap_or_default();
    let note = form_get(&form, "note");
    match link_cases(&state, &staff.actor, &case, kind, other, note).await {
        Ok(_) => see_other(&format!("/cases/{}?done=1#h-links", case.id)),
        Err(e) => link_refused(&state, lang, &staff, &case, &e).await,
    }
}

/// Removes a link made by mistake: `reason`.
pub async fn remove_link(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path((id, link_id)): Path<(String, String)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let case = match posted_case(&state, lang, &staff, &id, &form).await {
        Ok(case) => case,
        Err(page) => return page,
    };
    let reason = form_get(&form, "reason").unwrap_or_default();
    let removed = state
        .db
        .unlink_logged(&staff.actor, &case.id, &link_id, reason, now_micros())
        .await
        .map_err(ApiError::from);
    match removed {
        Ok(()) => see_other(&format!("/cases/{}?done=1#h-links", case.id)),
        Err(e) => link_refused(&state, lang, &staff, &case, &e).await,
    }
}

async fn refused(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    case: &CaseRecord,
    e: &ApiError,
) -> Response {
    match build_current(state, lang, staff, case).await {
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
pub async fn add_record(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let case = match posted_case(&state, lang, &staff, &id, &form).await {
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
            &state.calendar,
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
pub async fn act_on_record(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path((id, record_id)): Path<(String, String)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let case = match posted_case(&state, lang, &staff, &id, &form).await {
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
            &state.calendar,
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

/// Issues a document (`template`, for `record`) and answers with the page
/// itself, ready to print; its hash is in the case's log.
pub async fn issue_document(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let case = match posted_case(&state, lang, &staff, &id, &form).await {
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

/// `POST /cases/{id}/parties`: `role`, `kind` and the party's `f.<key>` fields.
pub async fn add_party(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let case = match posted_case(&state, lang, &staff, &id, &form).await {
        Ok(case) => case,
        Err(page) => return page,
    };
    let Some((case_type, def)) = state
        .packs
        .case_type(&case.pack, &case.case_type)
        .and_then(|t| Some((t, t.parties.as_ref()?)))
    else {
        return PageError::NotFound.render(&state, lang, Some(&staff));
    };
    let role = form_get(&form, "role").unwrap_or_default();
    let kind = form_get(&form, "kind").unwrap_or_default();
    let added = async {
        let party = def
            .check(role, kind, &form_fields(&form))
            .map_err(|e| ApiError::invalid(&e.field, e.message))?;
        state
            .db
            .add_party_logged(&staff.actor, case_type, &case.id, &party, now_micros())
            .await
            .map_err(ApiError::from)
    }
    .await;
    match added {
        Ok(_) => see_other(&format!("/cases/{}?done=1#case-parties", case.id)),
        Err(e) => refused(&state, lang, &staff, &case, &e).await,
    }
}
