//! Reads that compare the case rows (what pages and the API show) with the
//! log they were written with, for `gongzhi verify`.

use sqlx::Row;

use crate::db::{Db, with_pool};
use crate::error::StoreError;

/// A case row as replay compares it.
#[derive(Debug, Clone)]
pub struct StoredCase {
    pub id: String,
    pub state: String,
    pub holder_unit_id: String,
    pub area_unit_id: Option<String>,
    pub fields: String,
    pub personal_salt: String,
}

/// One case entry as replay applies it.
#[derive(Debug, Clone)]
pub struct StoredCaseEntry {
    pub case_id: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub changes: String,
}

impl Db {
    /// Up to `limit` case rows with ids after `after`, in id order.
    pub async fn cases_after(
        &self,
        after: &str,
        limit: i64,
    ) -> Result<Vec<StoredCase>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, state, holder_unit_id, area_unit_id, fields, personal_salt FROM cases \
                 WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(StoredCase {
                    id: r.try_get("id")?,
                    state: r.try_get("state")?,
                    holder_unit_id: r.try_get("holder_unit_id")?,
                    area_unit_id: r.try_get("area_unit_id")?,
                    fields: r.try_get("fields")?,
                    personal_salt: r.try_get("personal_salt")?,
                });
            }
            Ok(out)
        })
    }

    /// The entries of the cases with ids in (`after`, `last`], by case and seq.
    pub async fn case_entries_between(
        &self,
        after: &str,
        last: &str,
    ) -> Result<Vec<StoredCaseEntry>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT case_id, from_state, to_state, changes FROM log_entries \
                 WHERE case_id > $1 AND case_id <= $2 ORDER BY case_id, seq",
            )
            .bind(after)
            .bind(last)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(StoredCaseEntry {
                    case_id: r.try_get("case_id")?,
                    from_state: r.try_get("from_state")?,
                    to_state: r.try_get("to_state")?,
                    changes: r.try_get("changes")?,
                });
            }
            Ok(out)
        })
    }
}

/// What the database engine's own integrity check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Integrity {
    /// Checked, no damage: which check ran.
    Sound(&'static str),
    /// The engine cannot check its pages here (PostgreSQL without data checksums).
    Unchecked(&'static str),
    /// Damage found: the engine's own words.
    Damaged(String),
}

impl Db {
    /// Runs the engine's own integrity check: SQLite `PRAGMA quick_check`;
    /// on PostgreSQL, the page checksum failures counted for this database
    /// when data checksums are enabled.
    pub async fn integrity_check(&self) -> Result<Integrity, StoreError> {
        match self {
            Db::Sqlite(pool) => {
                let rows = match sqlx::query("PRAGMA quick_check").fetch_all(pool).await {
                    Ok(rows) => rows,
                    // Damage bad enough that the check itself cannot run.
                    Err(sqlx::Error::Database(e)) => return Ok(Integrity::Damaged(e.to_string())),
                    Err(e) => return Err(e.into()),
                };
                let mut problems = Vec::new();
                for row in &rows {
                    let line: String = row.try_get(0)?;
                    if line != "ok" {
                        problems.push(line);
                    }
                }
                if problems.is_empty() {
                    Ok(Integrity::Sound("SQLite quick_check"))
                } else {
                    problems.truncate(10);
                    Ok(Integrity::Damaged(problems.join("; ")))
                }
            }
            Db::Postgres(pool) => {
                let on: String = sqlx::query("SHOW data_checksums")
                    .fetch_one(pool)
                    .await?
                    .try_get(0)?;
                if on != "on" {
                    return Ok(Integrity::Unchecked(
                        "PostgreSQL data checksums are off (initdb --data-checksums): damaged pages cannot be detected",
                    ));
                }
                let failures: Option<i64> = sqlx::query(
                    "SELECT checksum_failures FROM pg_stat_database WHERE datname = current_database()",
                )
                .fetch_one(pool)
                .await?
                .try_get(0)?;
                match failures.unwrap_or(0) {
                    0 => Ok(Integrity::Sound("PostgreSQL page checksums")),
                    n => Ok(Integrity::Damaged(format!(
                        "PostgreSQL counted {n} page checksum failures in this database"
                    ))),
                }
            }
        }
    }

    /// How many witnesses cosigned the newest checkpoint (0 when there is none).
    pub async fn newest_checkpoint_cosignatures(&self) -> Result<i64, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n FROM log_cosignatures WHERE checkpoint_id = \
                 (SELECT id FROM log_checkpoints ORDER BY tree_size DESC, created_at DESC LIMIT 1)",
            )
            .fetch_one(pool)
            .await?;
            Ok(row.try_get("n")?)
        })
    }
}
