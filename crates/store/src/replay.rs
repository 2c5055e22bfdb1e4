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
