use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

use crate::error::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database, embedded SQLite or PostgreSQL, chosen by URL.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A write transaction. On SQLite it began with `BEGIN IMMEDIATE`, so it holds
/// the write lock from the start and never fails to upgrade half-way.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// Runs the same statement code against whichever pool the database has.
/// The body is compiled once per backend, so row types resolve per backend.
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Same as [`with_pool`] for a transaction's connection.
macro_rules! with_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::db::Tx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use with_tx;

/// How SQLite flushes commits in WAL mode. `Full` syncs the WAL on every
/// commit, so a committed case survives a power cut; `Normal` syncs only at
/// checkpoints and may lose the last commits on power loss (never on a crash
/// of the process alone), in exchange for faster commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSync {
    #[default]
    Full,
    Normal,
}

impl SqliteSync {
    pub fn as_str(self) -> &'static str {
        match self {
            SqliteSync::Full => "full",
            SqliteSync::Normal => "normal",
        }
    }
}

impl FromStr for SqliteSync {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "full" => Ok(SqliteSync::Full),
            "normal" => Ok(SqliteSync::Normal),
            other => Err(format!("{other:?}: expected full or normal")),
        }
    }
}

/// Connection settings beyond the URL.
#[derive(Debug, Clone, Copy, Default)]
pub struct ConnectOptions {
    /// Ignored on PostgreSQL.
    pub sqlite_synchronous: SqliteSync,
}

impl Db {
    /// Opens `sqlite://PATH` (created if missing, WAL) or `postgres://...`
    /// with the default options.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        Db::connect_with(url, ConnectOptions::default()).await
    }

    /// Opens the database with `options`.
    pub async fn connect_with(url: &str, options: ConnectOptions) -> Result<Db, StoreError> {
        if url.starts_with("sqlite:") {
            let synchronous = match options.sqlite_synchronous {
                SqliteSync::Full => SqliteSynchronous::Full,
                SqliteSync::Normal => SqliteSynchronous::Normal,
            };
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::BadUrl(format!("{url}: {e}")))?;
            let file = options.get_filename().to_path_buf();
            let created = if on_disk(url, &file) {
                create_private(&file)?
            } else {
                false
            };
            let options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(synchronous)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .min_connections(1)
                .connect_with(options)
                .await?;
            if created {
                // SQLite gives its -wal and -shm files the main file's mode;
                // set it anyway, in case a VFS does otherwise.
                for suffix in ["-wal", "-shm"] {
                    let mut side = file.clone().into_os_string();
                    side.push(suffix);
                    make_private(Path::new(&side))?;
                }
            }
            Ok(Db::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::BadUrl(format!("{url}: {e}")))?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Ok(Db::Postgres(pool))
        } else {
            Err(StoreError::BadUrl(format!(
                "{url}: expected sqlite://PATH or postgres://..."
            )))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Begins a write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub async fn begin_write(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }

    /// A cheap liveness query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }
}

/// Whether a SQLite URL names a file (not an in-memory or read-only database).
fn on_disk(url: &str, file: &Path) -> bool {
    let name = file.to_string_lossy();
    !(url.contains("mode=memory")
        || url.contains("mode=ro")
        || name == ":memory:"
        || name.starts_with("file:"))
}

/// Creates a missing database file readable by its owner only, before SQLite
/// would create it with the umask's mode. True when it was created here.
fn create_private(file: &Path) -> Result<bool, StoreError> {
    let io = |source| StoreError::Io {
        path: file.display().to_string(),
        source,
    };
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    match open.open(file) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io(e)),
    }
}

/// Owner-only mode on a file if it exists (Unix only).
fn make_private(file: &Path) -> Result<(), StoreError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(StoreError::Io {
                    path: file.display().to_string(),
                    source,
                });
            }
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

impl Tx {
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    /// Undoes everything and releases the write lock at once.
    pub async fn rollback(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        match self {
            Tx::Sqlite(_) => Backend::Sqlite,
            Tx::Postgres(_) => Backend::Postgres,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("gongzhi-db-{}", gongzhi_domain::ids::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// `PRAGMA synchronous` on several pooled connections at once.
    async fn synchronous_levels(db: &Db) -> Vec<i64> {
        let Db::Sqlite(pool) = db else {
            panic!("not SQLite");
        };
        let mut held = Vec::new();
        let mut levels = Vec::new();
        for _ in 0..3 {
            let mut conn = pool.acquire().await.unwrap();
            let level: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            levels.push(level);
            held.push(conn);
        }
        levels
    }

    #[tokio::test]
    async fn sqlite_is_synchronous_full_unless_told() {
        let dir = temp_dir();
        let url = format!("sqlite://{}", dir.join("full.db").display());
        let db = Db::connect(&url).await.unwrap();
        // 2 = FULL, 1 = NORMAL.
        assert_eq!(synchronous_levels(&db).await, [2, 2, 2]);
        db.close().await;
        let url = format!("sqlite://{}", dir.join("normal.db").display());
        let options = ConnectOptions {
            sqlite_synchronous: SqliteSync::Normal,
        };
        let db = Db::connect_with(&url, options).await.unwrap();
        assert_eq!(synchronous_levels(&db).await, [1, 1, 1]);
        db.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn synchronous_setting_parses() {
        assert_eq!("full".parse(), Ok(SqliteSync::Full));
        assert_eq!(" NORMAL ".parse(), Ok(SqliteSync::Normal));
        assert!("off".parse::<SqliteSync>().is_err());
        assert_eq!(SqliteSync::default().as_str(), "full");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn sqlite_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir();
        let file = dir.join("private.db");
        let db = Db::connect(&format!("sqlite://{}", file.display()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        for name in ["private.db", "private.db-wal", "private.db-shm"] {
            let mode = std::fs::metadata(dir.join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}: {mode:o}");
        }
        db.close().await;
        // A file someone else made keeps its mode.
        let other = dir.join("theirs.db");
        std::fs::write(&other, b"").unwrap();
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o640)).unwrap();
        let db = Db::connect(&format!("sqlite://{}", other.display()))
            .await
            .unwrap();
        db.close().await;
        let mode = std::fs::metadata(&other).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
