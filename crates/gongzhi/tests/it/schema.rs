use crate::harness::{Backend, fresh_db, postgres_url};

/// The SQLite and PostgreSQL migrations produce the same tables, columns
/// (name, kind, nullability, primary key) and indexes.
#[tokio::test]
async fn sqlite_and_postgres_schemas_agree() {
    if postgres_url().is_none() {
        eprintln!("GONGZHI_TEST_POSTGRES not set: schema agreement not checked");
        return;
    }
    let (sqlite, _, _dir) = fresh_db(Backend::Sqlite).await;
    let (postgres, _, _) = fresh_db(Backend::Postgres).await;
    let a = sqlite.describe_schema().await.expect("sqlite schema");
    let b = postgres.describe_schema().await.expect("postgres schema");
    assert!(a.tables.contains_key("log_entries"));
    assert_eq!(
        a.tables.keys().collect::<Vec<_>>(),
        b.tables.keys().collect::<Vec<_>>()
    );
    for (table, cols) in &a.tables {
        assert_eq!(Some(cols), b.tables.get(table), "table {table} differs");
    }
    assert_eq!(a.indexes, b.indexes);
}

/// Migrating twice is a no-op.
async fn migrations_are_idempotent(backend: Backend) {
    let (db, _, _dir) = fresh_db(backend).await;
    assert_eq!(
        db.migrate().await.expect("second migrate"),
        Vec::<i64>::new()
    );
}
crate::db_test!(migrations_are_idempotent);
