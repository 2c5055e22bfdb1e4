use thiserror::Error;

use gongzhi_domain::engine::EngineError;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database URL not understood: {0}")]
    BadUrl(String),
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        version: i64,
        name: String,
        source: sqlx::Error,
    },
    #[error("the database has migration {0}, newer than this program knows; upgrade gongzhi")]
    FutureSchema(i64),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The author may not make this change (it reaches beyond their scope).
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database could not take the write just now; retrying may succeed.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

impl StoreError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        StoreError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// Whether this is a unique-constraint violation (a duplicate).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => e.is_unique_violation(),
            _ => false,
        }
    }
}

/// Why an action was refused. Nothing was written.
#[derive(Debug, Error)]
pub enum ActError {
    /// No such case, or not visible to this actor (the two look the same).
    #[error("case not found")]
    CaseNotFound,
    #[error("unknown case type {pack}/{case_type}")]
    UnknownCaseType { pack: String, case_type: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("the case changed since version {expected}; reload and try again")]
    VersionConflict { expected: i64 },
    /// A precondition beyond the case's own fields does not hold.
    #[error("{message}")]
    GuardFailed {
        guard: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ActError {
    fn from(e: sqlx::Error) -> Self {
        ActError::Store(StoreError::Database(e))
    }
}
