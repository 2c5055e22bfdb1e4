//! The case page's parties: each with its role in the case and its fields
//! (personal values masked unless revealed), and a form to add one for the
//! roles the type lets manage them (it posts to `case_posts`).

use gongzhi_domain::pack::{CaseType, PartyKind};
use gongzhi_domain::role::Role;
use gongzhi_store::CaseRecord;

use crate::api::cases::Revealed;
use crate::state::AppState;

use super::case_form::{FieldChoices, FieldInput, def_input, names};
use super::choices::Choice;
use super::party_view::party_role_name;
use super::{Lang, PageError, display_value};

/// A party as the case page shows it: personal values masked unless revealed.
pub struct PartyRow {
    pub id: String,
    pub role: String,
    pub kind: &'static str,
    pub fields: Vec<(String, String)>,
}

pub(super) async fn party_rows(
    state: &AppState,
    lang: Lang,
    case_type: &CaseType,
    case: &CaseRecord,
    revealed: Option<&Revealed>,
) -> Result<Vec<PartyRow>, PageError> {
    let Some(def) = case_type.parties.as_ref() else {
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    for party in state.db.parties_of(&case.id).await? {
        let clear = revealed.and_then(|r| r.parties.get(&party.id));
        let masked = crate::api::parties::masked(Some(def), &party);
        let fields = def
            .fields
            .iter()
            .filter_map(|(key, f)| {
                let value = clear.and_then(|c| c.get(key)).or_else(|| masked.get(key))?;
                Some((names(lang, &f.label), display_value(state, lang, f, value)))
            })
            .collect();
        rows.push(PartyRow {
            role: party_role_name(lang, Some(case_type), &party),
            kind: kind_name(lang, party.kind),
            fields,
            id: party.id,
        });
    }
    Ok(rows)
}

/// What the add-a-party form offers.
pub struct PartyForm {
    pub roles: Vec<Choice>,
    pub kinds: Vec<Choice>,
    pub fields: Vec<FieldInput>,
}

/// The form, when the type has parties and `roles` (the user's over the
/// case) include one that manages them.
pub(super) fn party_form(
    state: &AppState,
    lang: Lang,
    case_type: &CaseType,
    roles: &[Role],
) -> Option<PartyForm> {
    let def = case_type.parties.as_ref()?;
    if !def.managed_by.iter().any(|r| roles.contains(r)) {
        return None;
    }
    let none = FieldChoices::new();
    Some(PartyForm {
        roles: def
            .roles
            .iter()
            .map(|(value, n)| Choice {
                value: value.clone(),
                label: names(lang, n),
            })
            .collect(),
        kinds: [
            ("person", lang.t("party.person")),
            ("organisation", lang.t("party.organisation")),
        ]
        .into_iter()
        .map(|(value, label)| Choice {
            value: value.to_string(),
            label: label.to_string(),
        })
        .collect(),
        fields: def
            .fields
            .values()
            .map(|f| {
                def_input(
                    state,
                    lang,
                    f,
                    f.key == gongzhi_domain::pack::NAME_FIELD,
                    String::new(),
                    &none,
                )
            })
            .collect(),
    })
}

/// Keeps the kind names the page shows in one place.
pub(super) fn kind_name(lang: Lang, kind: PartyKind) -> &'static str {
    match kind {
        PartyKind::Person => lang.t("party.person"),
        PartyKind::Organisation => lang.t("party.organisation"),
    }
}
