//! What a party of a case sees of it on the public lookup: who they are in
//! the case, and its records as far as the pack makes them public (the next
//! session, the agreement's terms) with the actions left to their role.

use gongzhi_domain::pack::CaseType;
use gongzhi_store::{CaseRecord, PartyRecord, StoreError};

use super::{Lang, display_value};
use crate::state::AppState;

/// A record as a party sees it.
pub struct PublicRecord {
    pub id: String,
    pub name: String,
    pub state: String,
    pub fields: Vec<(String, String)>,
    /// `(action id, name)` the party may take now.
    pub actions: Vec<(String, String)>,
}

/// Who is looking, when it is a party: their role's name in the case.
pub fn party_role_name(lang: Lang, case_type: Option<&CaseType>, party: &PartyRecord) -> String {
    case_type
        .and_then(|t| t.parties.as_ref())
        .and_then(|p| p.roles.get(&party.role))
        .map(|n| lang.pick(&n.zh, &n.en).to_string())
        .unwrap_or_else(|| party.role.clone())
}

/// The case's records a party may see: kinds with public fields or actions
/// for the party's role, oldest first. The requester of a request (no party)
/// sees none, as before.
pub async fn public_records(
    state: &AppState,
    lang: Lang,
    case_type: Option<&CaseType>,
    case: &CaseRecord,
    party: Option<&PartyRecord>,
) -> Result<Vec<PublicRecord>, StoreError> {
    let (Some(t), Some(party)) = (case_type, party) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for record in state.db.records_of(&case.id).await? {
        let Some(def) = t.records.get(&record.kind) else {
            continue;
        };
        let fields: Vec<(String, String)> = def
            .public_fields()
            .filter_map(|f| {
                let value = record.fields.get(&f.key)?;
                let label = lang.pick(&f.label.zh, &f.label.en).to_string();
                Some((label, display_value(state, lang, f, value)))
            })
            .collect();
        let actions: Vec<(String, String)> = def
            .party_actions(record.state.as_deref(), &party.role)
            .map(|a| (a.id.clone(), lang.pick(&a.name.zh, &a.name.en).to_string()))
            .collect();
        if fields.is_empty() && actions.is_empty() {
            continue;
        }
        let state_name = record
            .state
            .as_ref()
            .and_then(|s| def.states.get(s))
            .map(|s| lang.pick(&s.name.zh, &s.name.en).to_string())
            .unwrap_or_default();
        out.push(PublicRecord {
            id: record.id.clone(),
            name: lang.pick(&def.name.zh, &def.name.en).to_string(),
            state: state_name,
            fields,
            actions,
        });
    }
    Ok(out)
}
