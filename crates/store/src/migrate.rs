//! Per-backend migrations, embedded in the binary and applied in order, each in
//! its own transaction with its record in `schema_migrations`.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::Row;

use crate::db::{Db, with_pool};
use crate::error::StoreError;

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sqlite: include_str!("../migrations/sqlite/0001_foundation.sql"),
        postgres: include_str!("../migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "merkle",
        sqlite: include_str!("../migrations/sqlite/0002_merkle.sql"),
        postgres: include_str!("../migrations/postgres/0002_merkle.sql"),
    },
    Migration {
        version: 3,
        name: "attachments",
        sqlite: include_str!("../migrations/sqlite/0003_attachments.sql"),
        postgres: include_str!("../migrations/postgres/0003_attachments.sql"),
    },
    Migration {
        version: 4,
        name: "requests",
        sqlite: include_str!("../migrations/sqlite/0004_requests.sql"),
        postgres: include_str!("../migrations/postgres/0004_requests.sql"),
    },
    Migration {
        version: 5,
        name: "assist_deadlines",
        sqlite: include_str!("../migrations/sqlite/0005_assist_deadlines.sql"),
        postgres: include_str!("../migrations/postgres/0005_assist_deadlines.sql"),
    },
    Migration {
        version: 6,
        name: "route_reason_en",
        sqlite: include_str!("../migrations/sqlite/0006_route_reason_en.sql"),
        postgres: include_str!("../migrations/postgres/0006_route_reason_en.sql"),
    },
    Migration {
        version: 7,
        name: "admin",
        sqlite: include_str!("../migrations/sqlite/0007_admin.sql"),
        postgres: include_str!("../migrations/postgres/0007_admin.sql"),
    },
    Migration {
        version: 8,
        name: "api_key_audit",
        sqlite: include_str!("../migrations/sqlite/0008_api_key_audit.sql"),
        postgres: include_str!("../migrations/postgres/0008_api_key_audit.sql"),
    },
    Migration {
        version: 9,
        name: "engine_statuses",
        sqlite: include_str!("../migrations/sqlite/0009_engine_statuses.sql"),
        postgres: include_str!("../migrations/postgres/0009_engine_statuses.sql"),
    },
    Migration {
        version: 10,
        name: "case_links",
        sqlite: include_str!("../migrations/sqlite/0010_case_links.sql"),
        postgres: include_str!("../migrations/postgres/0010_case_links.sql"),
    },
    Migration {
        version: 11,
        name: "case_parties",
        sqlite: include_str!("../migrations/sqlite/0011_case_parties.sql"),
        postgres: include_str!("../migrations/postgres/0011_case_parties.sql"),
    },
    Migration {
        version: 12,
        name: "case_assignee",
        sqlite: include_str!("../migrations/sqlite/0012_case_assignee.sql"),
        postgres: include_str!("../migrations/postgres/0012_case_assignee.sql"),
    },
    Migration {
        version: 13,
        name: "named_clocks",
        sqlite: include_str!("../migrations/sqlite/0013_named_clocks.sql"),
        postgres: include_str!("../migrations/postgres/0013_named_clocks.sql"),
    },
    Migration {
        version: 14,
        name: "case_records",
        sqlite: include_str!("../migrations/sqlite/0014_case_records.sql"),
        postgres: include_str!("../migrations/postgres/0014_case_records.sql"),
    },
    Migration {
        version: 15,
        name: "conflicts",
        sqlite: include_str!("../migrations/sqlite/0015_conflicts.sql"),
        postgres: include_str!("../migrations/postgres/0015_conflicts.sql"),
    },
    Migration {
        version: 16,
        name: "expertise",
        sqlite: include_str!("../migrations/sqlite/0016_expertise.sql"),
        postgres: include_str!("../migrations/postgres/0016_expertise.sql"),
    },
    Migration {
        version: 17,
        name: "record_deadlines",
        sqlite: include_str!("../migrations/sqlite/0017_record_deadlines.sql"),
        postgres: include_str!("../migrations/postgres/0017_record_deadlines.sql"),
    },
    Migration {
        version: 18,
        name: "party_records",
        sqlite: include_str!("../migrations/sqlite/0018_party_records.sql"),
        postgres: include_str!("../migrations/postgres/0018_party_records.sql"),
    },
];

const CREATE_TRACKING: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (\
    version BIGINT NOT NULL PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/// One column as both backends can describe it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ColumnDescription {
    pub name: String,
    /// `int`, `float` or `text`.
    pub kind: String,
    pub not_null: bool,
    pub primary_key: bool,
}

/// Tables, columns and explicit indexes: what the two backends must agree on.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SchemaDescription {
    pub tables: BTreeMap<String, Vec<ColumnDescription>>,
    pub indexes: Vec<String>,
}

fn normalize_type(declared: &str) -> String {
    let t = declared.to_ascii_lowercase();
    if t.contains("int") {
        "int".into()
    } else if t.contains("real") || t.contains("double") || t.contains("float") {
        "float".into()
    } else if t.contains("text") || t.contains("char") {
        "text".into()
    } else {
        t
    }
}

impl Db {
    /// Applies every migration not yet applied. Returns the versions applied now.
    pub async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        let mut applied_now = Vec::new();
        with_pool!(self, pool => {
            sqlx::query(CREATE_TRACKING).execute(pool).await?;
            let rows = sqlx::query("SELECT version FROM schema_migrations").fetch_all(pool).await?;
            let mut done = Vec::new();
            for row in rows {
                done.push(row.try_get::<i64, _>("version")?);
            }
            let newest_known = MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0);
            if let Some(newest) = done.iter().copied().max().filter(|v| *v > newest_known) {
                return Err(StoreError::FutureSchema(newest));
            }
            for m in MIGRATIONS {
                if done.contains(&m.version) {
                    continue;
                }
                let sql = match self.backend() {
                    crate::Backend::Sqlite => m.sqlite,
                    crate::Backend::Postgres => m.postgres,
                };
                let wrap = |source| StoreError::Migration { version: m.version, name: m.name.to_string(), source };
                let mut tx = pool.begin().await.map_err(wrap)?;
                sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(wrap)?;
                sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                    .bind(m.version)
                    .bind(m.name)
                    .bind(gongzhi_domain::time::now_micros())
                    .execute(&mut *tx)
                    .await
                    .map_err(wrap)?;
                tx.commit().await.map_err(wrap)?;
                tracing::info!(version = m.version, name = m.name, "migration applied");
                applied_now.push(m.version);
            }
        });
        Ok(applied_now)
    }

    /// Describes the live schema in backend-neutral terms.
    pub async fn describe_schema(&self) -> Result<SchemaDescription, StoreError> {
        let mut out = SchemaDescription::default();
        match self {
            Db::Sqlite(pool) => {
                let tables = sqlx::query(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
                )
                .fetch_all(pool)
                .await?;
                for t in tables {
                    let table: String = t.try_get("name")?;
                    let cols = sqlx::query(&format!("PRAGMA table_info(\"{table}\")"))
                        .fetch_all(pool)
                        .await?;
                    let mut described = Vec::new();
                    for c in cols {
                        let pk: i64 = c.try_get("pk")?;
                        let not_null: i64 = c.try_get("notnull")?;
                        described.push(ColumnDescription {
                            name: c.try_get("name")?,
                            kind: normalize_type(&c.try_get::<String, _>("type")?),
                            not_null: not_null != 0 || pk != 0,
                            primary_key: pk != 0,
                        });
                    }
                    described.sort();
                    out.tables.insert(table, described);
                }
                let idx = sqlx::query(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name",
                )
                .fetch_all(pool)
                .await?;
                for i in idx {
                    out.indexes.push(i.try_get("name")?);
                }
            }
            Db::Postgres(pool) => {
                let cols = sqlx::query(
                    "SELECT c.table_name::text AS table_name, c.column_name::text AS column_name, \
                     c.data_type::text AS data_type, c.is_nullable::text AS is_nullable, \
                     EXISTS (SELECT 1 FROM information_schema.table_constraints tc \
                        JOIN information_schema.key_column_usage k \
                          ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema \
                        WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = c.table_schema \
                          AND tc.table_name = c.table_name AND k.column_name = c.column_name) AS pk \
                     FROM information_schema.columns c WHERE c.table_schema = current_schema() \
                     ORDER BY c.table_name, c.column_name",
                )
                .fetch_all(pool)
                .await?;
                for c in cols {
                    let table: String = c.try_get("table_name")?;
                    let nullable: String = c.try_get("is_nullable")?;
                    out.tables
                        .entry(table)
                        .or_default()
                        .push(ColumnDescription {
                            name: c.try_get("column_name")?,
                            kind: normalize_type(&c.try_get::<String, _>("data_type")?),
                            not_null: nullable == "NO",
                            primary_key: c.try_get("pk")?,
                        });
                }
                for cols in out.tables.values_mut() {
                    cols.sort();
                }
                let idx = sqlx::query(
                    "SELECT indexname::text AS name FROM pg_indexes i WHERE schemaname = current_schema() \
                     AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname) \
                     ORDER BY indexname",
                )
                .fetch_all(pool)
                .await?;
                for i in idx {
                    out.indexes.push(i.try_get("name")?);
                }
            }
        }
        Ok(out)
    }
}
