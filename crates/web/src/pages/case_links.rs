//! The case page's links to other cases: listed from both ends, added and
//! removed by forms that post here and come back to the case.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use gongzhi_domain::link::LinkKind;
use gongzhi_domain::time::now_micros;
use gongzhi_store::CaseRecord;

use crate::api::links::link_cases;
use crate::error::ApiError;
use crate::state::AppState;

use super::form_get;
use super::portal::Choice;
use super::{Ctx, Lang, PageError, Staff, render, see_other};

/// One link as the case page shows it.
pub struct LinkRow {
    pub id: String,
    /// How the link reads from this case ("converted from", "duplicate of").
    pub label: String,
    /// The other case's receipt code, or a note that it is out of the reader's scope.
    pub other: String,
    /// The other case's page, when the reader may see it.
    pub href: Option<String>,
    pub state: String,
    pub note: String,
    pub created: String,
    pub by: String,
}

/// The kinds a user may choose from, in the reader's language.
pub fn kind_choices(lang: Lang) -> Vec<Choice> {
    LinkKind::ALL
        .iter()
        .map(|k| Choice {
            value: k.as_str().to_string(),
            label: lang
                .t(k.label_key(gongzhi_domain::link::End::Source))
                .to_string(),
        })
        .collect()
}

/// The case's links; the other end's code and state only where the reader
/// may see that case (a case out of scope is never named).
pub async fn link_rows(
    state: &AppState,
    p: &Ctx,
    staff: &Staff,
    case: &CaseRecord,
) -> Result<Vec<LinkRow>, PageError> {
    let links = state.db.links_of(&case.id).await?;
    let mut rows = Vec::with_capacity(links.len());
    for link in links {
        let other = state.db.case_for(&staff.actor, &link.other_case_id).await?;
        let (code, href, other_state) = match &other {
            Some(o) => {
                let state_name = state
                    .packs
                    .case_type(&o.pack, &o.case_type)
                    .and_then(|t| t.states.get(&o.state))
                    .map(|s| p.lang.pick(&s.name.zh, &s.name.en).to_string())
                    .unwrap_or_else(|| o.state.clone());
                (
                    o.receipt_code.clone(),
                    Some(format!("/cases/{}", o.id)),
                    state_name,
                )
            }
            None => (p.t("link.out_of_scope").to_string(), None, String::new()),
        };
        rows.push(LinkRow {
            id: link.id,
            label: p.t(link.kind.label_key(link.end)).to_string(),
            other: code,
            href,
            state: other_state,
            note: link.note.unwrap_or_default(),
            created: p.datetime(link.created_at),
            by: link.created_by.unwrap_or_default(),
        });
    }
    Ok(rows)
}

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
async fn refused(
    state: &AppState,
    lang: Lang,
    staff: &Staff,
    case: &CaseRecord,
    e: &ApiError,
) -> Response {
    match super::case::build_current(state, lang, staff, case).await {
        Ok(mut page) => {
            page.link_error = link_message(lang, e);
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(e) => e.render(state, lang, Some(staff)),
    }
}

/// Links the case to another: `kind`, `case` (receipt code or id), `note`.
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
    let other = form_get(&form, "case").unwrap_or_default();
    let note = form_get(&form, "note");
    match link_cases(&state, &staff.actor, &case, kind, other, note).await {
        Ok(_) => see_other(&format!("/cases/{}?done=1#h-links", case.id)),
        Err(e) => refused(&state, lang, &staff, &case, &e).await,
    }
}

/// Removes a link made by mistake: `reason`.
pub async fn remove(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path((id, link_id)): Path<(String, String)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let case = match super::case::posted_case(&state, lang, &staff, &id, &form).await {
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
        Err(e) => refused(&state, lang, &staff, &case, &e).await,
    }
}
