//! Issue 10, hardening: SQLite durability and file modes, security headers,
//! the Authorization scheme, body limits stated, login locks and their unlock.

use gongzhi_store::{Db, SqliteSync};

use crate::harness::tempdir::TempDir;

async fn sqlite_synchronous(db: &Db) -> i64 {
    let Db::Sqlite(pool) = db else {
        panic!("not SQLite");
    };
    sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(pool)
        .await
        .expect("pragma")
}

fn settings(dir: &TempDir, sync: SqliteSync) -> gongzhi::Settings {
    gongzhi::Settings {
        data_dir: dir.path.join("data"),
        database_url: None,
        pack_dirs: Vec::new(),
        time_zone: "Asia/Shanghai".into(),
        office_hours: "09:00-12:00,13:30-18:00".into(),
        log_origin: gongzhi::DEFAULT_LOG_ORIGIN.into(),
        sqlite_synchronous: sync,
    }
}

/// The server's own database (`open_database`, as `serve` opens it) commits
/// with synchronous=FULL unless told NORMAL; its files are the owner's only.
#[tokio::test]
async fn sqlite_durability_and_file_modes() {
    let dir = TempDir::new();
    let db = gongzhi::open_database(&settings(&dir, SqliteSync::default()))
        .await
        .expect("open");
    assert_eq!(sqlite_synchronous(&db).await, 2, "FULL by default");
    db.close().await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p)
                .map(|m| m.permissions().mode() & 0o777)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        };
        let data = dir.path.join("data");
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("gongzhi.db")), 0o600);
    }
    let other = TempDir::new();
    let db = gongzhi::open_database(&settings(&other, SqliteSync::Normal))
        .await
        .expect("open");
    assert_eq!(sqlite_synchronous(&db).await, 1, "NORMAL when asked");
    db.close().await;
}
