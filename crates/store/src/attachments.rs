//! Attachment rows: which blob belongs to which case. Adding one writes the
//! row and the case's log entry in one transaction. Reads go through the
//! case's scope, so an attachment is exactly as visible as its case.

use serde::Serialize;
use serde_json::{Value, json};
use sqlx::Row;

use gongzhi_domain::access::Actor;
use gongzhi_domain::ids::new_id;
use gongzhi_domain::log::{LogEntry, canonical_json};
use gongzhi_domain::time::Micros;

use crate::case_rows::load_case_tx;
use crate::db::{Db, with_pool, with_tx};
use crate::error::ActError;
use crate::error::StoreError;
use crate::log_write::append_log;

#[derive(Debug, Clone, Serialize)]
pub struct AttachmentRecord {
    pub id: String,
    pub case_id: String,
    pub sha256: String,
    pub public_sha256: Option<String>,
    pub media_type: String,
    pub size_bytes: i64,
    pub original_name: String,
    pub uploaded_by: String,
    pub uploaded_at: Micros,
    pub is_public: bool,
}

/// An attachment whose blobs are already in the blob store.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub case_id: String,
    pub sha256: String,
    pub public_sha256: Option<String>,
    pub media_type: String,
    pub size_bytes: i64,
    /// Already cleaned for display (see `gongzhi_domain::media::clean_file_name`).
    pub original_name: String,
}

macro_rules! attachment_from_row {
    ($row:expr) => {{
        let row = $row;
        AttachmentRecord {
            id: row.try_get("id")?,
            case_id: row.try_get("case_id")?,
            sha256: row.try_get("sha256")?,
            public_sha256: row.try_get("public_sha256")?,
            media_type: row.try_get("media_type")?,
            size_bytes: row.try_get("size_bytes")?,
            original_name: row.try_get("original_name")?,
            uploaded_by: row.try_get("uploaded_by")?,
            uploaded_at: row.try_get("uploaded_at")?,
            is_public: row.try_get::<i64, _>("is_public")? != 0,
        }
    }};
}

const ATTACHMENT_COLUMNS: &str = "id, case_id, sha256, public_sha256, media_type, size_bytes, \
     original_name, uploaded_by, uploaded_at, is_public";

impl Db {
    /// Records an attachment on a case the actor can see, with its `attach`
    /// log entry. An invisible case answers like a missing one.
    pub async fn add_attachment(
        &self,
        actor: &Actor,
        new: NewAttachment,
        at: Micros,
    ) -> Result<AttachmentRecord, ActError> {
        let mut tx = self.begin_write().await?;
        if tx.backend() == crate::Backend::Postgres {
            // The log entry names the case's state: keep it from changing
            // until this commits.
            with_tx!(&mut tx, conn => {
                sqlx::query("SELECT id FROM cases WHERE id = $1 FOR UPDATE")
                    .bind(&new.case_id)
                    .fetch_optional(conn)
                    .await?;
            });
        }
        let case = load_case_tx(&mut tx, &new.case_id)
            .await?
            .ok_or(ActError::CaseNotFound)?;
        let scope = case.access_scope();
        if !actor.can_see(&scope) {
            return Err(ActError::CaseNotFound);
        }
        let actor_unit = actor
            .roles_over(&scope)
            .into_iter()
            .find_map(|role| actor.acting_assignment(role, &scope))
            .map(|a| a.unit_id.clone());
        let record = AttachmentRecord {
            id: new_id(),
            case_id: case.id.clone(),
            sha256: new.sha256,
            public_sha256: new.public_sha256,
            media_type: new.media_type,
            size_bytes: new.size_bytes,
            original_name: new.original_name,
            uploaded_by: actor.user_id.clone(),
            uploaded_at: at,
            is_public: false,
        };
        with_tx!(&mut tx, conn => {
            sqlx::query(&format!(
                "INSERT INTO attachments ({ATTACHMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ))
            .bind(&record.id)
            .bind(&record.case_id)
            .bind(&record.sha256)
            .bind(&record.public_sha256)
            .bind(&record.media_type)
            .bind(record.size_bytes)
            .bind(&record.original_name)
            .bind(&record.uploaded_by)
            .bind(record.uploaded_at)
            .bind(i64::from(record.is_public))
            .execute(conn)
            .await?;
        });
        // The file name stays out of the log: the log is never edited, and a
        // name may carry personal data.
        let changes = json!({"attachment": {"before": Value::Null, "after": {
            "id": record.id, "sha256": record.sha256, "media_type": record.media_type, "size": record.size_bytes,
        }}});
        append_log(
            &mut tx,
            LogEntry {
                seq: 0,
                id: new_id(),
                case_id: case.id.clone(),
                at,
                actor_id: Some(actor.user_id.clone()),
                actor_unit_id: actor_unit,
                action: "attach".into(),
                from_state: Some(case.state.clone()),
                to_state: case.state.clone(),
                changes: canonical_json(&changes),
                reason: None,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// A case's attachments, oldest first. The caller has checked the case.
    pub async fn attachments_of(&self, case_id: &str) -> Result<Vec<AttachmentRecord>, StoreError> {
        let sql = format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE case_id = $1 ORDER BY uploaded_at, id"
        );
        with_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(case_id).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(attachment_from_row!(row));
            }
            Ok(out)
        })
    }

    /// An attachment if its case is visible to the actor; `None` when either
    /// is missing or out of scope (the two look the same).
    pub async fn attachment_for(
        &self,
        actor: &Actor,
        id: &str,
    ) -> Result<Option<AttachmentRecord>, StoreError> {
        let sql = format!("SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE id = $1");
        let found = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(id).fetch_optional(pool).await? {
                Some(row) => Some(attachment_from_row!(row)),
                None => None,
            }
        });
        let Some(attachment) = found else {
            return Ok(None);
        };
        let visible = self.case_for(actor, &attachment.case_id).await?.is_some();
        Ok(visible.then_some(attachment))
    }

    /// How many attachment rows there are (for tests and operations).
    pub async fn attachment_count(&self) -> Result<i64, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM attachments").fetch_one(pool).await?;
            Ok(row.try_get::<i64, _>("n")?)
        })
    }
}
