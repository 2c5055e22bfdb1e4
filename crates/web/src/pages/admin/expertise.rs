//! What staff are experienced in (a mediator's specialities), set on the
//! user page: for each person field whose pack names an `expertise` choice
//! field, and only for users who hold one of that field's roles. Candidates
//! for an assignment show it, and those who know the case's kind come first.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;

use gongzhi_domain::pack::{CaseType, FieldKind};

use super::super::{Lang, PageError, Staff, see_other};
use super::users::{UserView, user_in_scope};
use super::{change_by, check_post};
use crate::state::AppState;

/// One checkbox list on the user page.
pub struct ExpertiseForm {
    pub action: String,
    pub title: String,
    /// (value, label, held)
    pub options: Vec<(String, String, bool)>,
}

/// The expertise a person field of `t` asks for, and the user holds one of
/// its roles: (choice field id, its options).
fn asked<'t>(
    t: &'t CaseType,
    person: &str,
    user: &UserView,
) -> Option<(&'t str, &'t [gongzhi_domain::pack::ChoiceOption])> {
    let FieldKind::Person {
        roles,
        expertise: Some(choice),
        ..
    } = &t.fields.get(person)?.kind
    else {
        return None;
    };
    let holds = user
        .grants
        .iter()
        .any(|g| roles.iter().any(|r| r.as_str() == g.role));
    let FieldKind::Choice { options } = &t.fields.get(choice.as_str())?.kind else {
        return None;
    };
    holds.then_some((choice.as_str(), options.as_slice()))
}

/// The forms for this user, with what they hold now.
pub async fn forms(
    state: &AppState,
    lang: Lang,
    user: &UserView,
) -> Result<Vec<ExpertiseForm>, PageError> {
    let mut out = Vec::new();
    if !user.manageable {
        return Ok(out);
    }
    for t in state.packs.case_types() {
        for (person, _) in t.expertise_fields() {
            let Some((choice, options)) = asked(t, person, user) else {
                continue;
            };
            let held = state
                .db
                .expertise_of(std::slice::from_ref(&user.id), &t.pack_id, choice)
                .await?
                .remove(&user.id)
                .unwrap_or_default();
            let label = |n: &gongzhi_domain::pack::Names| lang.pick(&n.zh, &n.en).to_string();
            out.push(ExpertiseForm {
                action: format!("/admin/users/{}/expertise/{}/{choice}", user.id, t.pack_id),
                title: t
                    .fields
                    .get(person)
                    .map(|f| label(&f.label))
                    .unwrap_or_default(),
                options: options
                    .iter()
                    .map(|o| (o.value.clone(), label(&o.name), held.contains(&o.value)))
                    .collect(),
            });
        }
    }
    Ok(out)
}

/// `POST /admin/users/{id}/expertise/{pack}/{field}`: the ticked `value`s
/// replace what the user is experienced in; logged.
pub async fn set(
    State(state): State<AppState>,
    lang: Lang,
    staff: Staff,
    Path((id, pack, field)): Path<(String, String, String)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let token = super::super::form_get(&form, "csrf_token").unwrap_or_default();
    if let Some(refused) = check_post(&state, lang, &staff, token) {
        return refused;
    }
    let user = match user_in_scope(&state, lang, &staff, &id).await {
        Ok(Some(user)) if user.manageable => user,
        Ok(_) => return PageError::NotFound.render(&state, lang, Some(&staff)),
        Err(e) => return e.render(&state, lang, Some(&staff)),
    };
    // The field must be one a person field of the pack asks for, for a
    // role this user holds; values must be its options.
    let options = state.packs.pack(&pack).and_then(|p| {
        p.types.values().find_map(|t| {
            t.expertise_fields()
                .filter(|(_, choice)| *choice == field)
                .find_map(|(person, _)| asked(t, person, &user))
                .map(|(_, options)| options)
        })
    });
    let Some(options) = options else {
        return PageError::NotFound.render(&state, lang, Some(&staff));
    };
    let values: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "value")
        .map(|(_, v)| v.clone())
        .collect();
    if values
        .iter()
        .any(|v| !options.iter().any(|o| &o.value == v))
    {
        return PageError::NotFound.render(&state, lang, Some(&staff));
    }
    match state
        .db
        .set_expertise_logged(&change_by(&staff), &user.id, &pack, &field, &values)
        .await
    {
        Ok(()) => see_other(&format!("/admin/users/{}?done=expertise_saved", user.id)),
        Err(e) => PageError::from(e).render(&state, lang, Some(&staff)),
    }
}
