//! What a party of a case sees of it on the public lookup: who they are in
//! the case, and its records as far as the pack makes them public (the next
//! session, the agreement's terms) with the actions left to their role.

use gongzhi_domain::pack::{CaseType, FieldKind};
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
    /// `(label, field key)` of the files it holds, to download.
    pub files: Vec<(String, String)>,
}

/// A kind of record the party may add here (evidence), as a form.
pub struct PartyAddForm {
    pub kind: String,
    pub name: String,
    pub inputs: Vec<PartyInput>,
}

pub struct PartyInput {
    /// `f.<key>`, or `file` for the one attachment field.
    pub name: String,
    pub label: String,
    /// `text`, `textarea` or `file`.
    pub kind: &'static str,
    pub required: bool,
}

/// The kinds of record the party's role may add on the lookup, each with an
/// input for every public field (one file at most).
pub fn party_add_forms(
    lang: Lang,
    case_type: Option<&CaseType>,
    party: Option<&PartyRecord>,
) -> Vec<PartyAddForm> {
    let (Some(t), Some(party)) = (case_type, party) else {
        return Vec::new();
    };
    t.records
        .values()
        .filter(|def| def.party_adds.contains(&party.role))
        .map(|def| {
            let mut has_file = false;
            let inputs = def
                .public_fields()
                .filter_map(|f| {
                    let (name, kind) = match &f.kind {
                        FieldKind::Attachment if !has_file => {
                            has_file = true;
                            ("file".to_string(), "file")
                        }
                        FieldKind::Attachment => return None,
                        FieldKind::LongText { .. } => (format!("f.{}", f.key), "textarea"),
                        _ => (format!("f.{}", f.key), "text"),
                    };
                    Some(PartyInput {
                        name,
                        label: lang.pick(&f.label.zh, &f.label.en).to_string(),
                        kind,
                        required: def.requires.contains(&f.key),
                    })
                })
                .collect();
            PartyAddForm {
                kind: def.kind.clone(),
                name: lang.pick(&def.name.zh, &def.name.en).to_string(),
                inputs,
            }
        })
        .collect()
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
        let own = record.party_id.as_deref() == Some(party.id.as_str());
        if !def.shown_to_party(record.state.as_deref(), own) {
            continue;
        }
        let files: Vec<(String, String)> = def
            .public_fields()
            .filter(|f| f.kind == FieldKind::Attachment && record.fields.contains_key(&f.key))
            .map(|f| {
                (
                    lang.pick(&f.label.zh, &f.label.en).to_string(),
                    f.key.clone(),
                )
            })
            .collect();
        let fields: Vec<(String, String)> = def
            .public_fields()
            .filter(|f| f.kind != FieldKind::Attachment)
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
        if fields.is_empty() && actions.is_empty() && files.is_empty() {
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
            files,
        });
    }
    Ok(out)
}
