//! The parties of a case (`domain::pack::PartyDef`): added and removed by
//! staff who can see the case, each change a log entry on the case whose
//! personal values are salted digests (the case's salt), as for the case's
//! own personal fields.

use serde::Serialize;
use serde_json::{Map, Value, json};
use sqlx::Row;

use gongzhi_domain::access::Actor;
use gongzhi_domain::conflict::Conflict;
use gongzhi_domain::ids::new_id;
use gongzhi_domain::log::{LogEntry, canonical_json, personal_digest};
use gongzhi_domain::pack::{CaseType, CheckedParty, MAX_PARTIES, PartyDef, PartyKind};
use gongzhi_domain::time::Micros;

use crate::case_rows::{CaseRecord, load_case_tx};
use crate::db::{Db, Tx, with_pool, with_tx};
use crate::error::StoreError;
use crate::log_write::append_log;

const ADD_ACTION: &str = "party.add";
const REMOVE_ACTION: &str = "party.remove";

/// Longest reason kept for removing a party.
pub const MAX_PARTY_REMOVE_REASON: usize = 500;

/// A live party of a case, with its fields in clear (the caller masks them).
#[derive(Debug, Clone, Serialize)]
pub struct PartyRecord {
    pub id: String,
    pub case_id: String,
    pub role: String,
    pub kind: PartyKind,
    pub fields: Map<String, Value>,
    pub created_at: Micros,
    pub created_by: Option<String>,
}

/// The party as the log commits to it: personal values as salted digests.
fn logged_party(
    def: &PartyDef,
    salt: &str,
    id: &str,
    role: &str,
    kind: PartyKind,
    fields: &Map<String, Value>,
) -> Value {
    let fields: Map<String, Value> = fields
        .iter()
        .map(|(k, v)| {
            // A field the pack no longer declares is treated as personal.
            let personal = def.fields.get(k).is_none_or(|f| f.personal);
            let logged = if personal {
                Value::String(personal_digest(salt, v))
            } else {
                v.clone()
            };
            (k.clone(), logged)
        })
        .collect();
    json!({"id": id, "role": role, "kind": kind.as_str(), "fields": fields})
}

/// The case, which the actor must be able to see.
async fn visible_case_tx(
    tx: &mut Tx,
    actor: &Actor,
    case_id: &str,
) -> Result<CaseRecord, StoreError> {
    load_case_tx(tx, case_id)
        .await?
        .filter(|c| actor.can_see(&c.access_scope()))
        .ok_or(StoreError::NotFound("case"))
}

/// The case, if the actor sees it and holds a role the type lets manage
/// its parties.
async fn managed_case_tx(
    tx: &mut Tx,
    actor: &Actor,
    case_id: &str,
    def: &PartyDef,
) -> Result<CaseRecord, StoreError> {
    let case = visible_case_tx(tx, actor, case_id).await?;
    let roles = actor.roles_over(&case.access_scope().without_assists());
    if def.managed_by.iter().any(|r| roles.contains(r)) {
        Ok(case)
    } else {
        Err(StoreError::Forbidden(
            "your role may not add or remove the parties of this case".into(),
        ))
    }
}

async fn log_party_change(
    tx: &mut Tx,
    actor: &Actor,
    case: &CaseRecord,
    action: &str,
    change: Value,
    reason: Option<&str>,
    at: Micros,
) -> Result<(), StoreError> {
    let scope = case.access_scope();
    let actor_unit = actor
        .roles_over(&scope)
        .into_iter()
        .find_map(|role| actor.acting_assignment(role, &scope))
        .map(|a| a.unit_id.clone());
    append_log(
        tx,
        LogEntry {
            seq: 0,
            id: new_id(),
            case_id: case.id.clone(),
            at,
            actor_id: Some(actor.user_id.clone()),
            actor_unit_id: actor_unit,
            action: action.to_string(),
            from_state: Some(case.state.clone()),
            to_state: case.state.clone(),
            changes: canonical_json(&change),
            reason: reason.map(str::to_string),
        },
    )
    .await?;
    Ok(())
}

/// A party row of either backend as a record (a macro: the row types differ).
macro_rules! party_from_row {
    ($row:expr) => {{
        let row = $row;
        let id: String = row.try_get("id")?;
        let kind: String = row.try_get("kind")?;
        let fields: String = row.try_get("fields")?;
        let fields: Map<String, Value> = serde_json::from_str(&fields)
            .map_err(|e| StoreError::Corrupt(format!("party {id}: {e}")))?;
        PartyRecord {
            case_id: row.try_get("case_id")?,
            role: row.try_get("role")?,
            kind: PartyKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("party {id} has kind {kind}")))?,
            fields,
            created_at: row.try_get("created_at")?,
            created_by: row.try_get("created_by")?,
            id,
        }
    }};
}

/// A party just added, and the conflicts of interest its addition reveals
/// for the people the case already names.
#[derive(Debug, Clone)]
pub struct AddedParty {
    pub id: String,
    /// (person field, user id, conflict).
    pub conflicts: Vec<(String, String, Conflict)>,
}

/// How the people named in the case's conflict-checked fields stand to its
/// parties now.
async fn named_people_conflicts_tx(
    tx: &mut Tx,
    case_type: &CaseType,
    case: &CaseRecord,
) -> Result<Vec<(String, String, Conflict)>, StoreError> {
    let mut out = Vec::new();
    for (field, user_id) in case_type.conflict_checked_people(&case.fields) {
        if let Some(c) = crate::conflicts::conflict_of_tx(tx, &case.id, user_id).await? {
            out.push((field.to_string(), user_id.to_string(), c));
        }
    }
    Ok(out)
}

impl Db {
    /// Adds a checked party to a case the actor can see, with its log entry,
    /// which also records any conflict of interest the new party creates for
    /// a person already named on the case (they then step aside).
    pub async fn add_party_logged(
        &self,
        actor: &Actor,
        case_type: &CaseType,
        case_id: &str,
        party: &CheckedParty,
        at: Micros,
    ) -> Result<AddedParty, StoreError> {
        let def = case_type
            .parties
            .as_ref()
            .ok_or(StoreError::NotFound("parties"))?;
        let mut tx = self.begin_write().await?;
        let case = managed_case_tx(&mut tx, actor, case_id, def).await?;
        let count: i64 = with_tx!(&mut tx, conn => {
            sqlx::query("SELECT COUNT(*) AS n FROM case_parties WHERE case_id = $1 AND removed_at IS NULL")
                .bind(&case.id)
                .fetch_one(&mut *conn)
                .await?
                .try_get("n")?
        });
        if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_PARTIES {
            return Err(StoreError::invalid(
                "role",
                format!("a case has at most {MAX_PARTIES} parties"),
            ));
        }
        let id = new_id();
        let fields_text = serde_json::to_string(&party.fields)
            .map_err(|e| StoreError::invalid("fields", e.to_string()))?;
        with_tx!(&mut tx, conn => {
            sqlx::query(
                "INSERT INTO case_parties (id, case_id, role, kind, fields, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&id)
            .bind(&case.id)
            .bind(&party.role)
            .bind(party.kind.as_str())
            .bind(&fields_text)
            .bind(&actor.user_id)
            .bind(at)
            .execute(&mut *conn)
            .await?;
        });
        let after = logged_party(
            def,
            &case.personal_salt,
            &id,
            &party.role,
            party.kind,
            &party.fields,
        );
        let before = named_people_conflicts_tx(&mut tx, case_type, &case).await?;
        crate::conflicts::record_party_identifiers_tx(&mut tx, def, &case.id, &id, &party.fields)
            .await?;
        let conflicts: Vec<_> = named_people_conflicts_tx(&mut tx, case_type, &case)
            .await?
            .into_iter()
            .filter(|c| !before.contains(c))
            .collect();
        let mut change = json!({"party": {"before": Value::Null, "after": after}});
        if !conflicts.is_empty() {
            let found: Vec<Value> = conflicts
                .iter()
                .map(|(field, user, c)| json!({"field": field, "user_id": user, "conflict": c.as_str()}))
                .collect();
            change["conflict_found"] = json!({"before": Value::Null, "after": found});
        }
        log_party_change(&mut tx, actor, &case, ADD_ACTION, change, None, at).await?;
        tx.commit().await?;
        Ok(AddedParty { id, conflicts })
    }

    /// Removes a party added by mistake, with the reason; the row stays,
    /// marked removed, and the log says so.
    pub async fn remove_party_logged(
        &self,
        actor: &Actor,
        case_id: &str,
        party_id: &str,
        def: &PartyDef,
        reason: &str,
        at: Micros,
    ) -> Result<(), StoreError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_PARTY_REMOVE_REASON {
            return Err(StoreError::invalid(
                "reason",
                format!(
                    "say in 1 to {MAX_PARTY_REMOVE_REASON} characters why the party is removed"
                ),
            ));
        }
        let mut tx = self.begin_write().await?;
        let case = managed_case_tx(&mut tx, actor, case_id, def).await?;
        let party = with_tx!(&mut tx, conn => {
            match sqlx::query("SELECT * FROM case_parties WHERE id = $1 AND case_id = $2 AND removed_at IS NULL")
                .bind(party_id)
                .bind(&case.id)
                .fetch_optional(&mut *conn)
                .await?
            {
                Some(row) => Some(party_from_row!(&row)),
                None => None,
            }
        })
        .ok_or(StoreError::NotFound("party"))?;
        with_tx!(&mut tx, conn => {
            sqlx::query("UPDATE case_parties SET removed_at = $1, removed_by = $2, removed_reason = $3 WHERE id = $4")
                .bind(at)
                .bind(&actor.user_id)
                .bind(reason)
                .bind(party_id)
                .execute(&mut *conn)
                .await?;
        });
        crate::conflicts::forget_party_identifiers_tx(&mut tx, party_id).await?;
        let before = logged_party(
            def,
            &case.personal_salt,
            &party.id,
            &party.role,
            party.kind,
            &party.fields,
        );
        let change = json!({"party": {"before": before, "after": Value::Null}});
        log_party_change(
            &mut tx,
            actor,
            &case,
            REMOVE_ACTION,
            change,
            Some(reason),
            at,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A case's live parties, in the order they were added. The caller has
    /// checked the case and masks personal values.
    pub async fn parties_of(&self, case_id: &str) -> Result<Vec<PartyRecord>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT p.*, u.display_name AS created_by_name FROM case_parties p \
                 LEFT JOIN users u ON u.id = p.created_by \
                 WHERE p.case_id = $1 AND p.removed_at IS NULL ORDER BY p.created_at, p.id",
            )
            .bind(case_id)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let mut party = party_from_row!(&row);
                party.created_by = row.try_get("created_by_name")?;
                out.push(party);
            }
            Ok(out)
        })
    }
}
