//! Reads that compare the case rows (what pages and the API show) with the
//! log they were written with, for `gongzhi verify`.

use sqlx::Row;

use crate::db::{Db, with_pool};
use crate::error::StoreError;

/// The first case row that its log does not account for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseLogGap {
    /// The case has no creation entry (an entry without a from-state).
    NoCreationEntry { case_id: String },
    /// The case row's state is not where its newest entry left it.
    StateDiffers {
        case_id: String,
        row_state: String,
        log_state: String,
    },
}

impl Db {
    /// The first case (by id) whose row the log does not account for: no
    /// creation entry, or a state other than its newest entry's.
    pub async fn first_case_log_gap(&self) -> Result<Option<CaseLogGap>, StoreError> {
        with_pool!(self, pool => {
            let missing = sqlx::query(
                "SELECT c.id FROM cases c WHERE NOT EXISTS \
                 (SELECT 1 FROM log_entries e WHERE e.case_id = c.id AND e.from_state IS NULL) \
                 ORDER BY c.id LIMIT 1",
            )
            .fetch_optional(pool)
            .await?;
            if let Some(row) = missing {
                return Ok(Some(CaseLogGap::NoCreationEntry { case_id: row.try_get("id")? }));
            }
            let differs = sqlx::query(
                "SELECT c.id, c.state, e.to_state FROM cases c \
                 JOIN log_entries e ON e.case_id = c.id \
                 AND e.seq = (SELECT MAX(l.seq) FROM log_entries l WHERE l.case_id = c.id) \
                 WHERE c.state <> e.to_state ORDER BY c.id LIMIT 1",
            )
            .fetch_optional(pool)
            .await?;
            match differs {
                Some(row) => Ok(Some(CaseLogGap::StateDiffers {
                    case_id: row.try_get("id")?,
                    row_state: row.try_get("state")?,
                    log_state: row.try_get("to_state")?,
                })),
                None => Ok(None),
            }
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
