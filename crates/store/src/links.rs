//! Links between cases (`domain::link`): stored once, read from both ends,
//! written into both cases' logs. A note stays out of the log (the log is
//! never edited and a note may name people); the log holds the link's kind
//! and ends.

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;

use gongzhi_domain::access::Actor;
use gongzhi_domain::ids::new_id;
use gongzhi_domain::link::{End, LinkKind, NewLink};
use gongzhi_domain::log::{LogEntry, canonical_json};
use gongzhi_domain::time::Micros;

use crate::case_rows::{CaseRecord, load_case_tx};
use crate::db::{Db, Tx, with_pool, with_tx};
use crate::error::StoreError;
use crate::log_write::append_log;

/// Log actions of the engine's own (not a pack's).
const LINK_ACTION: &str = "link.add";
const UNLINK_ACTION: &str = "link.remove";

/// Longest reason kept for removing a link.
pub const MAX_REMOVE_REASON_CHARS: usize = 500;

/// A live link as one of its cases sees it.
#[derive(Debug, Clone, Serialize)]
pub struct CaseLink {
    pub id: String,
    pub kind: LinkKind,
    /// Which end the asking case is at.
    pub end: End,
    pub other_case_id: String,
    pub other_receipt_code: String,
    pub other_pack: String,
    pub other_case_type: String,
    pub other_state: String,
    pub note: Option<String>,
    pub created_at: Micros,
    pub created_by: Option<String>,
}

/// Stores a link unless the same live link exists; its id when stored.
pub(crate) async fn insert_link_tx(
    tx: &mut Tx,
    link: &NewLink,
    created_by: Option<&str>,
    at: Micros,
) -> Result<Option<String>, StoreError> {
    let id = new_id();
    let inserted = with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO case_links (id, kind, source_case_id, target_case_id, note, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (source_case_id, target_case_id, kind) WHERE removed_at IS NULL DO NOTHING",
        )
        .bind(&id)
        .bind(link.kind.as_str())
        .bind(&link.source_case_id)
        .bind(&link.target_case_id)
        .bind(&link.note)
        .bind(created_by)
        .bind(at)
        .execute(conn)
        .await?
        .rows_affected()
    });
    Ok((inserted > 0).then_some(id))
}

/// Both cases of a link, which the actor must be able to see.
async fn both_cases(
    tx: &mut Tx,
    actor: &Actor,
    ids: [&str; 2],
) -> Result<[CaseRecord; 2], StoreError> {
    let mut out = Vec::with_capacity(2);
    for id in ids {
        let case = load_case_tx(tx, id)
            .await?
            .filter(|c| actor.can_see(&c.access_scope()))
            .ok_or(StoreError::NotFound("case"))?;
        out.push(case);
    }
    out.try_into()
        .map_err(|_| StoreError::Corrupt("two cases expected".into()))
}

/// One log entry per end of the link, saying what happened to it.
async fn log_both_ends(
    tx: &mut Tx,
    actor: &Actor,
    cases: &[CaseRecord; 2],
    action: &str,
    change: Value,
    reason: Option<&str>,
    at: Micros,
) -> Result<(), StoreError> {
    for case in cases {
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
    }
    Ok(())
}

fn link_json(id: &str, kind: LinkKind, source: &str, target: &str) -> Value {
    json!({"id": id, "kind": kind.as_str(), "source": source, "target": target})
}

impl Db {
    /// Links two cases the actor can see and writes the link into both
    /// cases' logs, in one transaction; returns the link's id. The same live
    /// link twice is a conflict.
    pub async fn link_cases_logged(
        &self,
        actor: &Actor,
        link: &NewLink,
        at: Micros,
    ) -> Result<String, StoreError> {
        let mut tx = self.begin_write().await?;
        let cases =
            both_cases(&mut tx, actor, [&link.source_case_id, &link.target_case_id]).await?;
        let id = insert_link_tx(&mut tx, link, Some(&actor.user_id), at)
            .await?
            .ok_or_else(|| {
                StoreError::Conflict(format!(
                    "the cases already have a {} link",
                    link.kind.as_str()
                ))
            })?;
        let after = link_json(&id, link.kind, &link.source_case_id, &link.target_case_id);
        let change = json!({"link": {"before": Value::Null, "after": after}});
        log_both_ends(&mut tx, actor, &cases, LINK_ACTION, change, None, at).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Removes a live link of `case_id` (made by mistake), with the reason,
    /// from both cases' logs' point of view; the row stays, marked removed.
    pub async fn unlink_logged(
        &self,
        actor: &Actor,
        case_id: &str,
        link_id: &str,
        reason: &str,
        at: Micros,
    ) -> Result<(), StoreError> {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REMOVE_REASON_CHARS {
            return Err(StoreError::invalid(
                "reason",
                format!("say in 1 to {MAX_REMOVE_REASON_CHARS} characters why the link is removed"),
            ));
        }
        let mut tx = self.begin_write().await?;
        let row: Option<(String, String, String)> = with_tx!(&mut tx, conn => {
            match sqlx::query(
                "SELECT kind, source_case_id, target_case_id FROM case_links \
                 WHERE id = $1 AND removed_at IS NULL AND (source_case_id = $2 OR target_case_id = $2)",
            )
            .bind(link_id)
            .bind(case_id)
            .fetch_optional(&mut *conn)
            .await?
            {
                Some(r) => Some((r.try_get("kind")?, r.try_get("source_case_id")?, r.try_get("target_case_id")?)),
                None => None,
            }
        });
        let (kind, source, target) = row.ok_or(StoreError::NotFound("link"))?;
        let kind = LinkKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("link {link_id} has kind {kind}")))?;
        let cases = both_cases(&mut tx, actor, [&source, &target]).await?;
        with_tx!(&mut tx, conn => {
            sqlx::query("UPDATE case_links SET removed_at = $1, removed_by = $2, removed_reason = $3 WHERE id = $4")
                .bind(at)
                .bind(&actor.user_id)
                .bind(reason)
                .bind(link_id)
                .execute(&mut *conn)
                .await?;
        });
        let before = link_json(link_id, kind, &source, &target);
        let change = json!({"link": {"before": before, "after": Value::Null}});
        log_both_ends(
            &mut tx,
            actor,
            &cases,
            UNLINK_ACTION,
            change,
            Some(reason),
            at,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A case's live links, from both ends, oldest first. The caller has
    /// checked that the actor may see the case; the other ends are listed by
    /// receipt code and state only.
    pub async fn links_of(&self, case_id: &str) -> Result<Vec<CaseLink>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT l.id, l.kind, l.source_case_id, l.note, l.created_at, u.display_name AS created_by, \
                        o.id AS other_id, o.receipt_code, o.pack_id, o.case_type, o.state \
                 FROM case_links l \
                 JOIN cases o ON o.id = CASE WHEN l.source_case_id = $1 THEN l.target_case_id ELSE l.source_case_id END \
                 LEFT JOIN users u ON u.id = l.created_by \
                 WHERE (l.source_case_id = $1 OR l.target_case_id = $1) AND l.removed_at IS NULL \
                 ORDER BY l.created_at, l.id",
            )
            .bind(case_id)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let kind: String = row.try_get("kind")?;
                let source: String = row.try_get("source_case_id")?;
                out.push(CaseLink {
                    id: row.try_get("id")?,
                    kind: LinkKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("link kind {kind}")))?,
                    end: if source == case_id { End::Source } else { End::Target },
                    other_case_id: row.try_get("other_id")?,
                    other_receipt_code: row.try_get("receipt_code")?,
                    other_pack: row.try_get("pack_id")?,
                    other_case_type: row.try_get("case_type")?,
                    other_state: row.try_get("state")?,
                    note: row.try_get("note")?,
                    created_at: row.try_get("created_at")?,
                    created_by: row.try_get("created_by")?,
                });
            }
            Ok(out)
        })
    }
}
