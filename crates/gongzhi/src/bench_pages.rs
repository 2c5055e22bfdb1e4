//! `gongzhi bench pages`: how long each staff page takes to render with the
//! demo city loaded, measured over loopback HTTP one request at a time, as a
//! ratio against the login page (a template with no database work) taken in
//! the same run.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use gongzhi_domain::time::now_micros;
use gongzhi_store::{CaseFilter, Db};
use gongzhi_web::{AppState, ServerConfig};

/// A page and the demo user who opens it (the widest scope that may).
struct PageRun {
    label: &'static str,
    path: String,
    user: Option<&'static str>,
    /// Held to the 100 ms goal (a heavier-than-default query is shown, not held).
    goal: bool,
}

struct Timing {
    label: &'static str,
    goal: bool,
    path: String,
    status: u16,
    bytes: usize,
    p50: Duration,
    p95: Duration,
    max: Duration,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A signed-in session for a demo user, made in the store (no password
/// hashing in the measured run); returns the cookie header.
async fn session_cookie(db: &Db, username: &str) -> Result<String> {
    let user = db
        .user_by_username(username)
        .await?
        .with_context(|| format!("demo user {username}"))?;
    let token = gongzhi_web::auth::random_token();
    let expires = now_micros() + 3_600_000_000;
    db.create_session(
        &gongzhi_web::auth::token_hash(&token),
        &user.id,
        &gongzhi_web::auth::random_token(),
        expires,
    )
    .await?;
    Ok(format!("gz_session={token}"))
}

/// The case with the longest history among the newest `sample` the city
/// dispatcher sees: the heaviest case page.
async fn longest_case(db: &Db, sample: i64) -> Result<String> {
    let user = db
        .user_by_username("dispatcher")
        .await?
        .context("demo user dispatcher")?;
    let actor = db.actor(&user.id).await?.context("dispatcher actor")?;
    let filter = CaseFilter {
        limit: sample,
        ..CaseFilter::default()
    };
    let mut best = (0usize, None);
    for case in db.cases_for(&actor, &filter).await? {
        let n = db.timeline(&case.id).await?.len();
        if n > best.0 {
            best = (n, Some(case.id));
        }
    }
    best.1.context("the demo city has no cases")
}

pub async fn bench_pages(requests: usize) -> Result<String> {
    let dir = std::env::temp_dir().join(format!("gongzhi-bench-pages-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir, requests.max(5)).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(dir: &std::path::Path, requests: usize) -> Result<String> {
    let url = format!("sqlite://{}", dir.join("pages.db").display());
    let db = Db::connect(&url).await?;
    db.migrate().await?;
    let packs = match crate::load_packs(&[])? {
        Ok(p) => p,
        Err(e) => anyhow::bail!("{e}"),
    };
    let taxonomies =
        gongzhi_web::state::taxonomy::Taxonomies::load(&[]).map_err(|e| anyhow::anyhow!(e))?;
    let config = ServerConfig {
        deadline_interval: Duration::from_secs(3600),
        data_dir: dir.to_path_buf(),
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
    let loaded = Instant::now();
    crate::demo::load_demo_if_empty(&state).await?;
    let load_time = loaded.elapsed();
    let cases = db.case_count().await?;
    let case_id = longest_case(&db, 300).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gongzhi_web::serve(listener, state, async {
        let _ = stopped.await;
    }));

    let this_year = {
        use chrono::Datelike;
        chrono::Utc::now().year()
    };
    let runs = vec![
        PageRun {
            label: "login (baseline)",
            path: "/login".into(),
            user: None,
            goal: true,
        },
        PageRun {
            label: "my work",
            path: "/work".into(),
            user: Some("dispatcher"),
            goal: true,
        },
        PageRun {
            label: "my work, overdue queue",
            path: "/work?queue=overdue".into(),
            user: Some("dispatcher"),
            goal: true,
        },
        PageRun {
            label: "case page",
            path: format!("/cases/{case_id}"),
            user: Some("dispatcher"),
            goal: true,
        },
        PageRun {
            label: "intake form",
            path: "/intake".into(),
            user: Some("operator"),
            goal: true,
        },
        PageRun {
            label: "map (city)",
            path: "/map".into(),
            user: Some("dispatcher"),
            goal: true,
        },
        PageRun {
            label: "dashboard (by month)",
            path: "/dashboard".into(),
            user: Some("supervisor"),
            goal: true,
        },
        PageRun {
            label: "dashboard (by district)",
            path: "/dashboard?group=district".into(),
            user: Some("supervisor"),
            goal: true,
        },
        PageRun {
            // Every request a period not read before (this year from a day in
            // January, about the default period): the histories are read from
            // the database, not brought up to date from a kept copy.
            label: "dashboard, cold read",
            path: format!("/dashboard?from={this_year}-01-{{day}}&group=district"),
            user: Some("supervisor"),
            goal: true,
        },
        PageRun {
            label: "dashboard, cold, 2 years",
            path: format!(
                "/dashboard?from={}-01-{{day}}&group=district",
                this_year - 1
            ),
            user: Some("supervisor"),
            goal: false,
        },
        PageRun {
            label: "dashboard CSV export",
            path: "/dashboard?group=district&format=csv".into(),
            user: Some("supervisor"),
            goal: true,
        },
        PageRun {
            label: "grid worker",
            path: "/grid".into(),
            user: Some("grid"),
            goal: true,
        },
        PageRun {
            label: "dispatch board",
            path: "/dispatch".into(),
            user: Some("dispatcher"),
            goal: true,
        },
        PageRun {
            label: "dispatch board, filtered",
            path: "/dispatch?category=R01&created_from=2020-01-01".into(),
            user: Some("dispatcher"),
            goal: true,
        },
        PageRun {
            label: "assist tasks",
            path: "/assists".into(),
            user: Some("handler"),
            goal: true,
        },
        PageRun {
            label: "admin: units and grids",
            path: "/admin/units".into(),
            user: Some("admin"),
            goal: true,
        },
        PageRun {
            label: "admin: users and roles",
            path: "/admin/users".into(),
            user: Some("admin"),
            goal: true,
        },
        PageRun {
            label: "admin: categories and routing",
            path: "/admin/taxonomy".into(),
            user: Some("admin"),
            goal: true,
        },
        PageRun {
            label: "public submit form",
            path: "/submit".into(),
            user: None,
            goal: true,
        },
        PageRun {
            label: "public statistics",
            path: "/stats".into(),
            user: None,
            goal: true,
        },
    ];
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut timings = Vec::new();
    for page in runs {
        let cookie = match page.user {
            Some(user) => Some(session_cookie(&db, user).await?),
            None => None,
        };
        // `{day}` in a path makes each request ask something new (a cold read).
        let url_for = |n: usize| {
            let path = page.path.replace("{day}", &format!("{:02}", n % 28 + 1));
            format!("http://{addr}{path}")
        };
        let mut n = 0;
        let mut fetch = || {
            n += 1;
            let mut req = client.get(url_for(n));
            if let Some(c) = &cookie {
                req = req.header("cookie", c);
            }
            req.send()
        };
        // Warm caches (templates, statistics, connections) first.
        for _ in 0..3 {
            fetch().await?.bytes().await?;
        }
        let mut latencies = Vec::with_capacity(requests);
        let (mut status, mut bytes) = (0, 0);
        for _ in 0..requests {
            let start = Instant::now();
            let response = fetch().await?;
            status = response.status().as_u16();
            bytes = response.bytes().await?.len();
            latencies.push(start.elapsed());
        }
        latencies.sort();
        timings.push(Timing {
            label: page.label,
            goal: page.goal,
            path: page.path,
            status,
            bytes,
            p50: percentile(&latencies, 50.0),
            p95: percentile(&latencies, 95.0),
            max: latencies.last().copied().unwrap_or_default(),
        });
    }
    let _ = stop.send(());
    let _ = server.await;

    let baseline = timings.first().map(|t| ms(t.p50)).unwrap_or(1.0).max(1e-3);
    let mut out = format!(
        "bench pages: demo city ({cases} cases, loaded in {:.1} s), SQLite, {requests} sequential requests per page\n\
         {:<30} {:>6} {:>9} {:>9} {:>9} {:>9} {:>8}  path\n",
        load_time.as_secs_f64(),
        "page",
        "status",
        "p50 ms",
        "p95 ms",
        "max ms",
        "x login",
        "KiB",
    );
    let mut slow = Vec::new();
    for t in &timings {
        out.push_str(&format!(
            "{:<30} {:>6} {:>9.2} {:>9.2} {:>9.2} {:>9.1} {:>8.1}  {}\n",
            t.label,
            t.status,
            ms(t.p50),
            ms(t.p95),
            ms(t.max),
            ms(t.p50) / baseline,
            t.bytes as f64 / 1024.0,
            t.path
        ));
        if t.goal && t.p95 >= Duration::from_millis(100) {
            slow.push(t.label);
        }
        if t.status != 200 {
            slow.push(t.label);
        }
    }
    if slow.is_empty() {
        out.push_str("every page answered 200; those held to the goal with p95 under 100 ms");
    } else {
        out.push_str(&format!(
            "NOT MET (p95 >= 100 ms or not 200): {}",
            slow.join(", ")
        ));
    }
    Ok(out)
}
