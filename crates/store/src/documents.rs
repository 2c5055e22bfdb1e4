//! Documents a case issued (`domain::document`): the paper itself is given
//! to the user, the log keeps which template, for which record, and the
//! SHA-256 of exactly what was printed.

use serde_json::{Value, json};

use gongzhi_domain::access::Actor;
use gongzhi_domain::ids::new_id;
use gongzhi_domain::log::{LogEntry, canonical_json};
use gongzhi_domain::time::Micros;

use crate::case_rows::load_case_tx;
use crate::db::Db;
use crate::error::StoreError;
use crate::log_write::append_log;

const ISSUE_ACTION: &str = "document.issue";

/// What the log says of an issued document.
#[derive(Debug, Clone)]
pub struct IssuedDocument<'a> {
    pub template: &'a str,
    pub record_id: Option<&'a str>,
    pub sha256: &'a str,
}

impl Db {
    /// Records in the case's log that `actor` issued a document; returns the
    /// entry's log position. The case must still be visible to the actor.
    pub async fn issue_document_logged(
        &self,
        actor: &Actor,
        case_id: &str,
        doc: &IssuedDocument<'_>,
        at: Micros,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let case = load_case_tx(&mut tx, case_id)
            .await?
            .filter(|c| actor.can_see(&c.access_scope()))
            .ok_or(StoreError::NotFound("case"))?;
        let scope = case.access_scope();
        let actor_unit = actor
            .roles_over(&scope)
            .into_iter()
            .find_map(|role| actor.acting_assignment(role, &scope))
            .map(|a| a.unit_id.clone());
        let after =
            json!({"template": doc.template, "record": doc.record_id, "sha256": doc.sha256});
        let entry = append_log(
            &mut tx,
            LogEntry {
                seq: 0,
                id: new_id(),
                case_id: case.id.clone(),
                at,
                actor_id: Some(actor.user_id.clone()),
                actor_unit_id: actor_unit,
                action: ISSUE_ACTION.to_string(),
                from_state: Some(case.state.clone()),
                to_state: case.state.clone(),
                changes: canonical_json(
                    &json!({"document": {"before": Value::Null, "after": after}}),
                ),
                reason: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(entry.seq)
    }
}
