//! `gongzhi bench ...`: measured speed, each as a ratio against a baseline
//! taken in the same run (see docs/BENCHMARKS.md).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use geo::BoundingRect;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use gongzhi_domain::demo::generate_city;
use gongzhi_domain::places::{
    IndexedArea, PlaceIndex, PointPosition, geometry_to_geojson, parse_geometry, point_position,
};
use gongzhi_domain::time::now_micros;
use gongzhi_store::{ConnectOptions, Db, NewUnit, SqliteSync};
use gongzhi_web::{AppState, ServerConfig};

/// Point-in-grid lookups per second on one core over a `side` × `side` lattice
/// of grids, against a linear scan of every grid (the baseline) on a sample.
pub fn bench_locate(side: usize, lookups: usize) -> Result<String> {
    let (lng0, lat0, cell) = (113.0, 28.0, 0.0025);
    let mut areas = Vec::with_capacity(side * side);
    for row in 0..side {
        for col in 0..side {
            let (x, y) = (lng0 + col as f64 * cell, lat0 + row as f64 * cell);
            let geometry = json!({"type": "Polygon", "coordinates": [[[x, y], [x + cell, y], [x + cell, y + cell], [x, y + cell], [x, y]]]});
            let shape = parse_geometry(&geometry).map_err(|e| anyhow::anyhow!("{e}"))?;
            areas.push(IndexedArea {
                unit_id: format!("g{row}-{col}"),
                code: format!("G{row:04}{col:04}"),
                level: 4,
                shape,
            });
        }
    }
    let extent = side as f64 * cell;
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let points: Vec<(f64, f64)> = (0..lookups)
        .map(|_| {
            (
                lng0 + rng.r#gen::<f64>() * extent,
                lat0 + rng.r#gen::<f64>() * extent,
            )
        })
        .collect();
    let build = Instant::now();
    let index = PlaceIndex::new(areas.clone());
    let build_time = build.elapsed();

    let start = Instant::now();
    let mut found = 0usize;
    for (lng, lat) in &points {
        if index.locate(*lng, *lat).is_some() {
            found += 1;
        }
    }
    let indexed = start.elapsed();
    let per_second = lookups as f64 / indexed.as_secs_f64();

    // Baseline: every grid's bounding box, then the exact test, for each point.
    let sample = (lookups / 500).clamp(50, 2_000);
    let boxes: Vec<_> = areas
        .iter()
        .filter_map(|a| a.shape.bounding_rect().map(|r| (r, a)))
        .collect();
    let start = Instant::now();
    let mut naive_found = 0usize;
    for (lng, lat) in points.iter().take(sample) {
        for (r, a) in &boxes {
            if *lng >= r.min().x
                && *lng <= r.max().x
                && *lat >= r.min().y
                && *lat <= r.max().y
                && point_position(&a.shape, *lng, *lat) != PointPosition::Outside
            {
                naive_found += 1;
                break;
            }
        }
    }
    let naive = start.elapsed();
    let naive_per_second = sample as f64 / naive.as_secs_f64();
    Ok(format!(
        "bench locate: {} grids ({side}x{side}), index built in {} ms\n\
         indexed lookups: {lookups} in {:.3} s = {:.2} million/s on one core ({found} inside)\n\
         baseline linear scan: {sample} in {:.3} s = {:.0}/s ({naive_found} inside)\n\
         ratio indexed / linear scan: {:.0}x",
        side * side,
        build_time.as_millis(),
        indexed.as_secs_f64(),
        per_second / 1e6,
        naive.as_secs_f64(),
        naive_per_second,
        per_second / naive_per_second
    ))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// What one intake run measured.
pub struct IntakeRun {
    pub report: String,
    /// Intake requests per second over HTTP.
    pub rps: f64,
}

/// Intake on fresh SQLite files in `dir`, once with synchronous=FULL (the
/// default) and once with NORMAL, in the same run, so their ratio is what it
/// costs to survive a power cut.
pub async fn bench_intake_sqlite(
    dir: &std::path::Path,
    clients: usize,
    requests: usize,
) -> Result<String> {
    let mut out = String::new();
    let mut rates = Vec::new();
    for sync in [SqliteSync::Full, SqliteSync::Normal] {
        let url = format!(
            "sqlite://{}",
            dir.join(format!("bench-{}.db", sync.as_str())).display()
        );
        let run = bench_intake(&url, sync, clients, requests).await?;
        out.push_str(&run.report);
        out.push_str("\n\n");
        rates.push(run.rps);
    }
    if let [full, normal] = rates[..] {
        out.push_str(&format!(
            "ratio intake synchronous=FULL / NORMAL: {:.0}%",
            100.0 * full / normal
        ));
    }
    Ok(out)
}

/// Intake end to end over loopback HTTP with `clients` concurrent clients,
/// against the plain insert loop of the same rows (the ceiling), on a fresh
/// database at `database_url` (`sync` applies to SQLite).
pub async fn bench_intake(
    database_url: &str,
    sync: SqliteSync,
    clients: usize,
    requests: usize,
) -> Result<IntakeRun> {
    let options = ConnectOptions {
        sqlite_synchronous: sync,
    };
    let db = Db::connect_with(database_url, options).await?;
    db.migrate().await?;
    let city = generate_city(crate::demo::DEMO_SEED, now_micros());
    let units: Vec<NewUnit> = city
        .units
        .iter()
        .map(|u| NewUnit {
            id: u.id.clone(),
            parent_id: u.parent_id.clone(),
            kind: u.kind,
            code: u.code.clone(),
            name: u.name.clone(),
            geometry: u.shape.as_ref().and_then(|s| {
                s.bounding_rect().map(|r| {
                    (
                        geometry_to_geojson(s).to_string(),
                        [r.min().x, r.min().y, r.max().x, r.max().y],
                    )
                })
            }),
        })
        .collect();
    db.insert_units(units).await?;
    let top = city.units.first().context("no city")?;
    let system = db.create_user("bench-intake", "bench", None).await?;
    let packs = match crate::load_packs(&[])? {
        Ok(p) => p,
        Err(e) => anyhow::bail!("{e}"),
    };
    // Open311 takes requests in under the requests pack's intake role.
    let intake_role = packs
        .case_type("requests", "request")
        .and_then(|t| t.intake_role())
        .context("the requests pack is not loaded")?;
    db.grant_role(&system.id, intake_role, &top.id).await?;
    let key = format!("gz_{}", gongzhi_web::auth::random_token());
    db.create_api_key(
        &system.id,
        "bench",
        &gongzhi_web::auth::token_hash(&key),
        "gz_bench",
    )
    .await?;
    let taxonomies =
        gongzhi_web::state::taxonomy::Taxonomies::load(&[]).map_err(|e| anyhow::anyhow!(e))?;
    // Open311 service codes are the leaf categories; take a spread of them.
    let categories: Arc<Vec<String>> = Arc::new(
        taxonomies
            .categories
            .iter()
            .filter(|c| c.level == 3)
            .step_by(37)
            .map(|c| c.code.clone())
            .collect(),
    );
    let config = ServerConfig {
        deadline_interval: Duration::from_secs(3600),
        ..ServerConfig::default()
    };
    let state = AppState::new(
        db.clone(),
        packs,
        gongzhi_domain::calendar::WorkCalendar::builtin(),
        taxonomies,
        config,
    )
    .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gongzhi_web::serve(listener, state, async {
        let _ = stopped.await;
    }));

    // Points inside the city, categories from the taxonomy's leaves.
    let bbox = top
        .shape
        .as_ref()
        .and_then(|s| s.bounding_rect())
        .context("city has no polygon")?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let url = Arc::new(format!("http://{addr}/open311/v2/requests.json"));
    let key = Arc::new(key);
    let run = |count: usize, seed: u64| {
        let client = client.clone();
        let url = url.clone();
        let key = key.clone();
        let categories = categories.clone();
        async move {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut latencies = Vec::with_capacity(count);
            let mut failures = 0usize;
            for i in 0..count {
                let lng = bbox.min().x + rng.r#gen::<f64>() * (bbox.max().x - bbox.min().x);
                let lat = bbox.min().y + rng.r#gen::<f64>() * (bbox.max().y - bbox.min().y);
                let category = categories
                    .get(i % categories.len().max(1))
                    .cloned()
                    .unwrap_or_default();
                let form = [
                    ("api_key", key.to_string()),
                    ("service_code", category),
                    ("lat", format!("{lat:.6}")),
                    ("long", format!("{lng:.6}")),
                    (
                        "description",
                        "路口井盖缺失，夜间行人容易踩空，存在安全隐患，请尽快处理。".to_string(),
                    ),
                ];
                let start = Instant::now();
                let ok = client
                    .post(url.as_str())
                    .form(&form)
                    .send()
                    .await
                    .map(|r| r.status().is_success());
                latencies.push(start.elapsed());
                if !matches!(ok, Ok(true)) {
                    failures += 1;
                }
            }
            (latencies, failures)
        }
    };
    // Warm up connections and caches.
    let warm: Vec<_> = (0..clients)
        .map(|c| tokio::spawn(run(5, 1_000 + c as u64)))
        .collect();
    for w in warm {
        w.await?;
    }
    let per_client = requests.div_ceil(clients);
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| tokio::spawn(run(per_client, c as u64)))
        .collect();
    let mut latencies = Vec::with_capacity(per_client * clients);
    let mut failures = 0;
    for t in tasks {
        let (l, f) = t.await?;
        latencies.extend(l);
        failures += f;
    }
    let elapsed = start.elapsed();
    let _ = stop.send(());
    let _ = server.await;
    latencies.sort();
    let done = latencies.len();
    let rps = done as f64 / elapsed.as_secs_f64();

    // The ceiling, on the same database, same rows per request.
    let ceiling_n = done.min(20_000);
    let start = Instant::now();
    db.bench_plain_inserts(ceiling_n, &top.id).await?;
    let ceiling = ceiling_n as f64 / start.elapsed().as_secs_f64();
    // Intake groups its commits, so the fair ceiling groups them as well.
    let start = Instant::now();
    db.bench_grouped_inserts(ceiling_n, 128, &top.id).await?;
    let grouped = ceiling_n as f64 / start.elapsed().as_secs_f64();
    db.close().await;
    let report = format!(
        "bench intake: {done} Open311 POST requests over loopback HTTP, {clients} clients, {} ({failures} failed)\n\
         intake: {rps:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms\n\
         plain inserts of the same rows, one transaction per request: {ceiling:.0}/s\n\
         ceiling: the same rows in multi-row inserts, 128 requests per transaction: {grouped:.0}/s\n\
         ratio intake / ceiling: {:.0}%",
        if database_url.starts_with("sqlite") {
            format!("SQLite WAL, synchronous={}", sync.as_str().to_uppercase())
        } else {
            "PostgreSQL".to_string()
        },
        percentile(&latencies, 50.0).as_secs_f64() * 1e3,
        percentile(&latencies, 99.0).as_secs_f64() * 1e3,
        100.0 * rps / grouped
    );
    Ok(IntakeRun { report, rps })
}
