//! The case page's links to other cases, listed from both ends (the forms
//! post to `case_posts`).

use gongzhi_domain::link::LinkKind;
use gongzhi_store::CaseRecord;

use crate::state::AppState;

use super::choices::Choice;
use super::{Ctx, Lang, PageError, Staff};

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
