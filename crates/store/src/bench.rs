//! The ceiling for the intake benchmark: the rows one intake writes (a case, a
//! deadline, a log entry and the log head), inserted by the tightest loop the
//! database allows — one transaction per request, as intake commits, with no
//! parsing, routing or engine in between.

use gongzhi_domain::ids::new_id;
use gongzhi_domain::time::now_micros;

use crate::cases::values_clause;
use crate::db::{Db, with_tx};
use crate::error::StoreError;

impl Db {
    /// Writes `n` intake-shaped row sets under `holder_unit_id`; returns how many.
    pub async fn bench_plain_inserts(
        &self,
        n: usize,
        holder_unit_id: &str,
    ) -> Result<usize, StoreError> {
        for i in 0..n {
            let mut tx = self.begin_write().await?;
            let id = new_id();
            let now = now_micros();
            with_tx!(&mut tx, conn => {
                sqlx::query(
                    "INSERT INTO cases (id, receipt_code, pack_id, pack_version, case_type, state, fields, holder_unit_id, \
                     personal_salt, version, created_at, updated_at) VALUES ($1, $2, 'requests', 'bench', 'request', 'bench', \
                     '{\"title\":\"bench\"}', $3, 'salt', 1, $4, $4)",
                )
                .bind(&id)
                .bind(format!("BENCH-{i:09}"))
                .bind(holder_unit_id)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                sqlx::query(
                    "INSERT INTO deadlines (id, case_id, state, rule, calendar_version, started_at, due_at, provisional, on_expiry, status) \
                     VALUES ($1, $2, 'bench', '24 calendar_hours', 'bench', $3, $3, 0, 'warn', 'active')",
                )
                .bind(new_id())
                .bind(&id)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                let seq: i64 = sqlx::query_scalar("UPDATE log_head SET next_seq = next_seq + 1 WHERE id = 1 RETURNING next_seq")
                    .fetch_one(&mut *conn)
                    .await?;
                sqlx::query(
                    "INSERT INTO log_entries (seq, id, case_id, at, action, to_state, changes, leaf_hash) \
                     VALUES ($1, $2, $3, $4, 'create', 'bench', '{}', 'bench')",
                )
                .bind(seq - 1)
                .bind(new_id())
                .bind(&id)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            });
            tx.commit().await?;
        }
        Ok(n)
    }
}

impl Db {
    /// The same rows as [`Db::bench_plain_inserts`], `per_tx` requests to a
    /// transaction with one multi-row statement per table: the ceiling for a
    /// writer that groups its commits.
    pub async fn bench_grouped_inserts(
        &self,
        n: usize,
        per_tx: usize,
        holder_unit_id: &str,
    ) -> Result<usize, StoreError> {
        let per_tx = per_tx.max(1);
        let mut done = 0;
        while done < n {
            let rows = per_tx.min(n - done);
            let now = now_micros();
            let ids: Vec<String> = (0..rows).map(|_| new_id()).collect();
            let mut tx = self.begin_write().await?;
            let cases = format!(
                "INSERT INTO cases (id, receipt_code, pack_id, pack_version, case_type, state, fields, holder_unit_id, \
                 personal_salt, version, created_at, updated_at) VALUES {}",
                values_clause(rows, 12)
            );
            let deadlines = format!(
                "INSERT INTO deadlines (id, case_id, state, rule, calendar_version, started_at, due_at, provisional, on_expiry, status) VALUES {}",
                values_clause(rows, 10)
            );
            let log = format!(
                "INSERT INTO log_entries (seq, id, case_id, at, action, to_state, changes, leaf_hash) VALUES {}",
                values_clause(rows, 8)
            );
            with_tx!(&mut tx, conn => {
                let mut q = sqlx::query(&cases);
                for (i, id) in ids.iter().enumerate() {
                    q = q.bind(id).bind(format!("GRP-{:09}", done + i)).bind("requests").bind("bench").bind("request")
                        .bind("bench").bind("{\"title\":\"bench\"}").bind(holder_unit_id).bind("salt").bind(1_i64).bind(now).bind(now);
                }
                q.execute(&mut *conn).await?;
                let mut q = sqlx::query(&deadlines);
                for id in &ids {
                    q = q.bind(new_id()).bind(id).bind("bench").bind("24 calendar_hours").bind("bench").bind(now).bind(now)
                        .bind(0_i64).bind("warn").bind("active");
                }
                q.execute(&mut *conn).await?;
                let next: i64 = sqlx::query_scalar("UPDATE log_head SET next_seq = next_seq + $1 WHERE id = 1 RETURNING next_seq")
                    .bind(rows as i64)
                    .fetch_one(&mut *conn)
                    .await?;
                let first = next - rows as i64;
                let mut q = sqlx::query(&log);
                for (i, id) in ids.iter().enumerate() {
                    q = q.bind(first + i as i64).bind(new_id()).bind(id).bind(now).bind("create").bind("bench").bind("{}").bind("bench");
                }
                q.execute(&mut *conn).await?;
            });
            tx.commit().await?;
            done += rows;
        }
        Ok(n)
    }
}
