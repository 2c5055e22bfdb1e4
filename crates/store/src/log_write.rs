//! Writing the tamper-evident log: one entry appended inside the caller's
//! transaction. Its own module, below cases and admin, so both can log
//! without depending on each other.

use sqlx::Row;

use gongzhi_domain::log::LogEntry;

use crate::db::{Tx, with_tx};
use crate::error::StoreError;

/// Appends one entry to the log inside the caller's transaction.
pub(crate) async fn append_log(tx: &mut Tx, mut entry: LogEntry) -> Result<LogEntry, StoreError> {
    let seq: i64 = with_tx!(tx, conn => {
        sqlx::query("UPDATE log_head SET next_seq = next_seq + 1 WHERE id = 1 RETURNING next_seq")
            .fetch_one(conn)
            .await?
            .try_get::<i64, _>("next_seq")?
    }) - 1;
    entry.seq = u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("log head {seq}")))?;
    let leaf = entry.leaf_hash_hex();
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO log_entries (seq, id, case_id, at, actor_id, actor_unit_id, action, from_state, to_state, changes, reason, leaf_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(seq)
        .bind(&entry.id)
        .bind(&entry.case_id)
        .bind(entry.at)
        .bind(&entry.actor_id)
        .bind(&entry.actor_unit_id)
        .bind(&entry.action)
        .bind(&entry.from_state)
        .bind(&entry.to_state)
        .bind(&entry.changes)
        .bind(&entry.reason)
        .bind(&leaf)
        .execute(conn)
        .await?;
    });
    Ok(entry)
}
