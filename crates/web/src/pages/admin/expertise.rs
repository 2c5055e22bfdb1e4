//! What staff are experienced in (a mediator's specialities), set on the
//! user page: for each person field whose pack names an `expertise` choice
//! field, and only for users who hold one of that field's roles. Candidates
//! for an assignment show it, and those who know the case's kind come first.

use gongzhi_domain::pack::{CaseType, ChoiceOption, FieldKind, PackSet};

use super::super::{Lang, PageError};
use crate::state::AppState;

/// The user the forms are for, as plain data (the user page knows the rest).
pub struct Holder<'a> {
    pub id: &'a str,
    /// The roles of the user's grants.
    pub roles: Vec<&'a str>,
    /// Whether the admin manages every grant of the user.
    pub manageable: bool,
}

/// One checkbox list on the user page.
pub struct ExpertiseForm {
    pub action: String,
    pub title: String,
    /// (value, label, held)
    pub options: Vec<(String, String, bool)>,
}

/// The expertise a person field of `t` asks for, and the user holds one of
/// its roles (`roles`): (choice field id, its options).
fn asked<'t>(
    t: &'t CaseType,
    person: &str,
    roles_held: &[&str],
) -> Option<(&'t str, &'t [ChoiceOption])> {
    let FieldKind::Person {
        roles,
        expertise: Some(choice),
        ..
    } = &t.fields.get(person)?.kind
    else {
        return None;
    };
    let holds = roles_held
        .iter()
        .any(|g| roles.iter().any(|r| r.as_str() == *g));
    let FieldKind::Choice { options } = &t.fields.get(choice.as_str())?.kind else {
        return None;
    };
    holds.then_some((choice.as_str(), options.as_slice()))
}

/// The forms for this user, with what they hold now.
pub async fn forms(
    state: &AppState,
    lang: Lang,
    user: &Holder<'_>,
) -> Result<Vec<ExpertiseForm>, PageError> {
    let mut out = Vec::new();
    if !user.manageable {
        return Ok(out);
    }
    for t in state.packs.case_types() {
        for (person, _) in t.expertise_fields() {
            let Some((choice, options)) = asked(t, person, &user.roles) else {
                continue;
            };
            let held = state
                .db
                .expertise_of(&[user.id.to_string()], &t.pack_id, choice)
                .await?
                .remove(user.id)
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

/// The options of the choice field `field` of pack `pack`, if a person field
/// of the pack asks for it for one of `roles`: what may be stored.
pub fn allowed_options<'p>(
    packs: &'p PackSet,
    pack: &str,
    field: &str,
    roles: &[&str],
) -> Option<&'p [ChoiceOption]> {
    packs.pack(pack).and_then(|p| {
        p.types.values().find_map(|t| {
            t.expertise_fields()
                .filter(|(_, choice)| *choice == field)
                .find_map(|(person, _)| asked(t, person, roles))
                .map(|(_, options)| options)
        })
    })
}
