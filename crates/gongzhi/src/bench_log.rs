//! `gongzhi bench log`: append and integration throughput with checkpoints
//! being signed, then `verify` throughput on a large log, on SQLite (in the
//! data folder) and, when given, on PostgreSQL (a scratch database).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use gongzhi_domain::checkpoint::{KeySigner, KeyVerifier, TreeHead, generate_key, sign_checkpoint};
use gongzhi_domain::log::{LogEntry, canonical_json};
use gongzhi_store::Db;

use crate::Settings;

fn synthetic(i: u64) -> LogEntry {
    LogEntry {
        seq: 0,
        id: format!("0190a1b2-0000-7000-8000-{i:012}"),
        case_id: format!("0190a1b2-0000-7000-9000-{:012}", i / 5),
        at: 1_767_225_600_000_000 + i as i64,
        actor_id: Some("0190a1b2-0000-7000-a000-000000000001".into()),
        actor_unit_id: Some("u-D1".into()),
        action: "hand_over".into(),
        from_state: Some("intake".into()),
        to_state: "handed_over".into(),
        changes: canonical_json(&serde_json::json!({
            "holder_unit_id": {"before": "u-D1", "after": "u-D1-CG"},
            "contact_phone": {"before": null, "after": format!("sha256:{:064x}", i)},
        })),
        reason: Some("请尽快处理".into()),
    }
}

/// This process's CPU time so far (user + system, all threads), from
/// `/proc/self/stat`; `None` where that is not available. Linux reports it in
/// clock ticks of 1/100 s (USER_HZ is 100 on every Linux architecture we run on).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; the fields after it are plain.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((user + system) as f64 / 100.0)
}

struct Target {
    label: &'static str,
    db: Db,
    cleanup: Option<(String, String)>,
}

async fn open_target(label: &'static str, url: &str, pg_base: Option<&str>) -> Result<Target> {
    let (url, cleanup) = match pg_base {
        Some(base) => {
            let name = format!(
                "gz_bench_{}",
                gongzhi_domain::ids::new_id().replace('-', "")
            );
            if let Db::Postgres(pool) = Db::connect(base).await? {
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&pool)
                    .await?;
                pool.close().await;
            }
            let (head, _) = base
                .rsplit_once('/')
                .context("postgres URL without a database")?;
            (format!("{head}/{name}"), Some((base.to_string(), name)))
        }
        None => (url.to_string(), None),
    };
    let db = Db::connect(&url).await?;
    db.migrate().await?;
    Ok(Target { label, db, cleanup })
}

async fn close_target(t: Target) -> Result<()> {
    t.db.close().await;
    if let Some((base, name)) = t.cleanup
        && let Db::Postgres(pool) = Db::connect(&base).await?
    {
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&pool)
            .await?;
        pool.close().await;
    }
    Ok(())
}

/// The integrator as the server runs it: integrate, sign at most once a second.
async fn integrator(db: Db, signer: KeySigner, stop: Arc<AtomicBool>) -> Result<u64> {
    let mut last_signed: Option<Instant> = None;
    let mut signed = 0;
    loop {
        while db.integrate(20_000).await?.is_some() {}
        if last_signed.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            let tree = db.tree_state().await?;
            let latest = db.latest_checkpoint().await?;
            if latest.is_none_or(|c| c.tree_size < tree.size) {
                let head = TreeHead {
                    origin: signer.name().to_string(),
                    size: tree.size,
                    root: tree.root,
                };
                let note =
                    sign_checkpoint(&head, &[&signer]).map_err(|e| anyhow::anyhow!("{e}"))?;
                db.insert_checkpoint(tree.size, &tree.root, &note).await?;
                last_signed = Some(Instant::now());
                signed += 1;
            }
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(signed);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Appends `n` entries from `writers` tasks, `per_tx` entries per transaction,
/// with the integrator running; returns (append rate, integrated rate, checkpoints).
async fn run_appends(
    db: &Db,
    signer: &KeySigner,
    n: u64,
    per_tx: u64,
    writers: u64,
) -> Result<(f64, f64, u64)> {
    let base = db.log_size().await?;
    let stop = Arc::new(AtomicBool::new(false));
    let integ = tokio::spawn(integrator(db.clone(), signer.clone(), stop.clone()));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut i = w * per_tx;
            while i < n {
                let batch: Vec<LogEntry> = (i..(i + per_tx).min(n))
                    .map(|k| synthetic(base + k))
                    .collect();
                db.append_log_batch(batch).await?;
                i += writers * per_tx;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let appended = started.elapsed().as_secs_f64();
    // Integrated means: in the stored tree and under a signed checkpoint.
    loop {
        let covered = db
            .latest_checkpoint()
            .await?
            .map(|c| c.tree_size)
            .unwrap_or(0);
        if covered >= base + n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let integrated = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let checkpoints = integ.await??;
    Ok((n as f64 / appended, n as f64 / integrated, checkpoints))
}

pub async fn bench_log(
    settings: &Settings,
    entries: u64,
    verify_entries: u64,
    postgres: Option<String>,
) -> Result<()> {
    crate::ensure_data_dir(&settings.data_dir)?;
    let (skey, vkey) =
        generate_key("bench.gongzhi/log", false).map_err(|e| anyhow::anyhow!("{e}"))?;
    let signer = KeySigner::parse(&skey).map_err(|e| anyhow::anyhow!("{e}"))?;
    let verifier = KeyVerifier::parse(&vkey).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut backends: Vec<(&'static str, Option<String>)> = vec![("sqlite", None)];
    if let Some(pg) = postgres {
        backends.push(("postgres", Some(pg)));
    }
    println!(
        "gongzhi bench log: {entries} entries appended with the integrator running; verify on {verify_entries}"
    );
    for (label, pg) in backends {
        let stamp = gongzhi_domain::time::now_micros();
        for (mode, per_tx, writers) in [
            ("1 entry/transaction, 4 writers", 1, 4),
            ("100 entries/transaction, 2 writers", 100, 2),
        ] {
            let file = settings.data_dir.join(format!("bench-{stamp}-{per_tx}.db"));
            let t = open_target(
                label,
                &format!("sqlite://{}", file.display()),
                pg.as_deref(),
            )
            .await?;
            let n = if per_tx == 1 {
                entries.min(50_000)
            } else {
                entries
            };
            let (append, integrated, cps) = run_appends(&t.db, &signer, n, per_tx, writers).await?;
            println!(
                "{:<9} {mode:<36} {n:>8} entries: appended {append:>9.0}/s, integrated and signed {integrated:>9.0}/s, {cps} checkpoints",
                t.label
            );
            close_target(t).await?;
            let _ = std::fs::remove_file(&file);
            let _ = std::fs::remove_file(file.with_extension("db-wal"));
            let _ = std::fs::remove_file(file.with_extension("db-shm"));
        }

        // Verify: a large log built in bulk (10,000 entries a transaction),
        // integrated, with a checkpoint every 100,000 entries.
        let file = settings.data_dir.join(format!("bench-{stamp}-verify.db"));
        let t = open_target(
            label,
            &format!("sqlite://{}", file.display()),
            pg.as_deref(),
        )
        .await?;
        let started = Instant::now();
        let mut done = 0;
        while done < verify_entries {
            let upto = (done + 10_000).min(verify_entries);
            t.db.append_log_batch((done..upto).map(synthetic).collect())
                .await?;
            done = upto;
            if done % 100_000 == 0 || done == verify_entries {
                while t.db.integrate(100_000).await?.is_some() {}
                let tree = t.db.tree_state().await?;
                let head = TreeHead {
                    origin: signer.name().to_string(),
                    size: tree.size,
                    root: tree.root,
                };
                let note =
                    sign_checkpoint(&head, &[&signer]).map_err(|e| anyhow::anyhow!("{e}"))?;
                t.db.insert_checkpoint(tree.size, &tree.root, &note).await?;
            }
        }
        let built = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let cpu_before = process_cpu_seconds();
        let summary = crate::audit::verify_log(&t.db, std::slice::from_ref(&verifier))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let secs = started.elapsed().as_secs_f64();
        if let (Some(before), Some(after)) = (cpu_before, process_cpu_seconds()) {
            println!(
                "{:<9} verify CPU time of this process (user+sys, all threads): {:.2} s{}",
                t.label,
                after - before,
                if pg.is_some() {
                    " (the PostgreSQL server's own CPU is not included)"
                } else {
                    ""
                }
            );
        }
        println!(
            "{:<9} verify {:>8} entries, {} checkpoints: {secs:.2} s = {:>9.0} entries/s, {:?} read path (log built in bulk in {built:.1} s)",
            t.label,
            summary.entries,
            summary.checkpoints,
            summary.entries as f64 / secs,
            summary.read_path
        );
        close_target(t).await?;
        let _ = std::fs::remove_file(&file);
        let _ = std::fs::remove_file(file.with_extension("db-wal"));
        let _ = std::fs::remove_file(file.with_extension("db-shm"));
    }
    Ok(())
}
