//! Who changed accounts, grants and the admin layer, as log entries: the
//! `admin.*` entry written in the caller's transaction. Kept below `admin`,
//! `accounts` and `people` so each can log without depending on the others.

use serde_json::Value;

use gongzhi_domain::access::Actor;
use gongzhi_domain::ids::new_id;
use gongzhi_domain::log::{LogEntry, canonical_json};
use gongzhi_domain::role::Role;
use gongzhi_domain::time::now_micros;

use crate::db::Tx;
use crate::error::StoreError;
use crate::log_write::append_log;

/// Prefix of the `case_id` of admin log entries.
pub const ADMIN_SUBJECT_PREFIX: &str = "admin:";
/// Prefix of the action of admin log entries.
pub const ADMIN_ACTION_PREFIX: &str = "admin.";

/// Who makes an admin change: a user acting at their admin unit, or the
/// system (the command line).
#[derive(Debug, Clone, Default)]
pub struct ChangeBy {
    pub actor_id: Option<String>,
    pub actor_unit_id: Option<String>,
}

impl ChangeBy {
    pub fn system() -> ChangeBy {
        ChangeBy::default()
    }

    /// A user's change, made at their widest admin unit.
    pub fn from_actor(actor: &Actor) -> ChangeBy {
        let unit = actor
            .assignments
            .iter()
            .filter(|a| a.role == Role::ADMIN)
            .min_by_key(|a| a.unit_path.len())
            .map(|a| a.unit_id.clone());
        ChangeBy {
            actor_id: Some(actor.user_id.clone()),
            actor_unit_id: unit,
        }
    }
}

/// Appends one `admin.*` entry inside the caller's transaction.
pub(crate) async fn log_admin(
    tx: &mut Tx,
    by: &ChangeBy,
    action: &str,
    subject: &str,
    changes: Value,
) -> Result<(), StoreError> {
    let entry = LogEntry {
        seq: 0,
        id: new_id(),
        case_id: format!("{ADMIN_SUBJECT_PREFIX}{subject}"),
        at: now_micros(),
        actor_id: by.actor_id.clone(),
        actor_unit_id: by.actor_unit_id.clone(),
        action: format!("{ADMIN_ACTION_PREFIX}{action}"),
        from_state: None,
        to_state: "admin".into(),
        changes: canonical_json(&changes),
        reason: None,
    };
    append_log(tx, entry).await?;
    Ok(())
}
