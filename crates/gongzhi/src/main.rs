//! The `gongzhi` command line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use gongzhi::{Settings, demo, grids, open_database, prepare, read_pack_dir};
use gongzhi_domain::checkpoint::{Bundle, KeyVerifier};
use gongzhi_domain::pack::PackSet;
use gongzhi_domain::places::ImportMapping;
use gongzhi_store::Db;
use gongzhi_web::{AppState, LogConfig, ServerConfig};

#[derive(Parser)]
#[command(
    name = "gongzhi",
    version,
    about = "共治 gongzhi: one window for a city's requests, disputes and cases"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Common {
    /// Data folder: the embedded database, keys, files.
    #[arg(
        long,
        global = true,
        env = "GONGZHI_DATA",
        default_value = "./gongzhi-data"
    )]
    data: PathBuf,
    /// Database URL: sqlite://PATH (default: DATA/gongzhi.db) or postgres://...
    #[arg(long, global = true, env = "GONGZHI_DATABASE")]
    database: Option<String>,
    /// Extra pack folders (TOML), loaded after the built-in packs.
    #[arg(
        long = "packs",
        global = true,
        env = "GONGZHI_PACKS",
        value_delimiter = ','
    )]
    packs: Vec<PathBuf>,
    /// Time zone of office hours and working days.
    #[arg(
        long,
        global = true,
        env = "GONGZHI_TIME_ZONE",
        default_value = "Asia/Shanghai"
    )]
    time_zone: String,
    /// Office hours of a working day.
    #[arg(
        long,
        global = true,
        env = "GONGZHI_OFFICE_HOURS",
        default_value = "09:00-12:00,13:30-18:00"
    )]
    office_hours: String,
    /// The log's origin line in checkpoints (and its key's name).
    #[arg(long, global = true, env = "GONGZHI_LOG_ORIGIN", default_value = gongzhi::DEFAULT_LOG_ORIGIN)]
    log_origin: String,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "GONGZHI_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Load the demo city (units, grids, users, cases) if the database is empty.
        #[arg(long, env = "GONGZHI_DEMO")]
        demo: bool,
        /// Mark cookies Secure (serve behind HTTPS).
        #[arg(long, env = "GONGZHI_SECURE_COOKIES")]
        secure_cookies: bool,
        /// A witness's public key (cosignature/v1); repeatable.
        #[arg(long = "witness", env = "GONGZHI_WITNESSES", value_delimiter = ',')]
        witnesses: Vec<String>,
        /// Cosignatures needed for a checkpoint to count as witnessed (default: all witnesses).
        #[arg(long, env = "GONGZHI_WITNESS_QUORUM")]
        witness_quorum: Option<usize>,
        /// SQLite commit durability: full syncs every commit (survives a power cut);
        /// normal is faster but may lose the last commits on power loss.
        #[arg(
            long,
            env = "GONGZHI_SQLITE_SYNCHRONOUS",
            value_enum,
            default_value_t = SyncArg::Full
        )]
        sqlite_synchronous: SyncArg,
    },
    /// Check the whole log: every leaf hash, the tree, every checkpoint signature.
    Verify,
    /// Check a case bundle offline against the log's public key.
    VerifyBundle {
        file: PathBuf,
        /// The log's public key (name+id+base64), or a file holding it.
        #[arg(long)]
        key: String,
    },
    /// Write a case's bundle (entries, inclusion proofs, signed checkpoint).
    ExportBundle {
        case_id: String,
        /// Output file (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// The log's keys.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// Witness another gongzhi log: check and cosign its checkpoints.
    Witness {
        /// The other instance's base URL, e.g. http://10.0.0.2:8080
        #[arg(long)]
        log: String,
        /// Its public log key (name+id+base64), or a file holding it.
        #[arg(long)]
        log_key: String,
        /// Seconds between two rounds.
        #[arg(long, default_value_t = 10)]
        interval: u64,
        /// One round, then exit.
        #[arg(long)]
        once: bool,
    },
    /// Bring the database schema up to date.
    Migrate,
    /// Manage staff users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Import data.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Validate a folder of packs and print every problem.
    CheckPack { dir: PathBuf },
    /// Measure speed (see docs/BENCHMARKS.md).
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

/// `--sqlite-synchronous` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum SyncArg {
    Full,
    Normal,
}

impl From<SyncArg> for gongzhi_store::SqliteSync {
    fn from(a: SyncArg) -> Self {
        match a {
            SyncArg::Full => gongzhi_store::SqliteSync::Full,
            SyncArg::Normal => gongzhi_store::SqliteSync::Normal,
        }
    }
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Point-in-grid lookups per second, against a linear scan.
    Locate {
        /// Grids per side of the lattice (200 → 40,000 grids).
        #[arg(long, default_value_t = 200)]
        side: usize,
        #[arg(long, default_value_t = 4_000_000)]
        lookups: usize,
    },
    /// Intake over loopback HTTP, against plain inserts of the same rows.
    Intake {
        #[arg(long, default_value_t = 32)]
        clients: usize,
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        /// A database URL to run on instead of a fresh SQLite file (it must be empty).
        #[arg(long)]
        bench_database: Option<String>,
    },
    /// Appends and integration with checkpoints, then verify throughput.
    Log {
        /// Entries appended through the normal path during the integration run.
        #[arg(long, default_value_t = 100_000)]
        entries: u64,
        /// Size of the log built (bulk) for the verify run.
        #[arg(long, default_value_t = 1_000_000)]
        verify_entries: u64,
        /// Also run on this PostgreSQL server (a scratch database is created and dropped).
        #[arg(long, env = "GONGZHI_BENCH_POSTGRES")]
        postgres: Option<String>,
    },
    /// Server-side render time of each staff page with the demo city loaded.
    Pages {
        /// Requests per page, one at a time.
        #[arg(long, default_value_t = 50)]
        requests: usize,
    },
}

#[derive(Subcommand)]
enum LogCommand {
    /// Print the log's public key and the witness key (created if missing).
    Key,
    /// Replace the log's signing key (server stopped); the hand-over checkpoint is signed by both.
    RotateKey,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from GONGZHI_PASSWORD or standard input.
    Add {
        username: String,
        #[arg(long)]
        name: Option<String>,
        /// ROLE@UNIT_CODE, e.g. admin@YZ; repeatable.
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// Set a user's password (read from GONGZHI_PASSWORD or standard input).
    Passwd { username: String },
    /// List users and their roles.
    List,
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Historical citizen requests from CSV (the 12345 message export layout:
    /// 留言编号, 留言主题, 留言时间, 留言详情, 一级分类); re-running adds only what is missing.
    Requests { file: PathBuf },
    /// Grids from a GeoJSON FeatureCollection, all or nothing.
    Grids {
        file: PathBuf,
        /// Feature property holding the grid's name.
        #[arg(long, default_value = "name")]
        name_property: String,
        /// Feature property holding the grid's code.
        #[arg(long, default_value = "code")]
        code_property: String,
        /// Feature property holding the parent community's code.
        #[arg(long)]
        parent_property: Option<String>,
        /// Parent community code for every feature without a parent property.
        #[arg(long)]
        parent: Option<String>,
    },
}

fn read_password() -> Result<String> {
    if let Ok(p) = std::env::var("GONGZHI_PASSWORD") {
        return Ok(p);
    }
    eprintln!("password (then Enter):");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

#[tokio::main]
async fn main() -> Result<()> {
    init_tracing();
    let cli = Cli::parse();
    let settings = Settings {
        data_dir: cli.common.data.clone(),
        database_url: cli.common.database.clone(),
        pack_dirs: cli.common.packs.clone(),
        time_zone: cli.common.time_zone.clone(),
        office_hours: cli.common.office_hours.clone(),
        log_origin: cli.common.log_origin.clone(),
        sqlite_synchronous: gongzhi_store::SqliteSync::default(),
    };
    run(settings, cli.command).await
}

fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GONGZHI_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// One function per command group; each returns what `main` returns.
async fn run(mut settings: Settings, command: Command) -> Result<()> {
    match command {
        Command::Serve {
            listen,
            demo: with_demo,
            secure_cookies,
            witnesses,
            witness_quorum,
            sqlite_synchronous,
        } => {
            // Only the server takes this flag; other commands keep the default.
            settings.sqlite_synchronous = sqlite_synchronous.into();
            serve(
                &settings,
                &listen,
                with_demo,
                secure_cookies,
                witnesses,
                witness_quorum,
            )
            .await
        }
        Command::Verify => verify(&settings).await,
        Command::VerifyBundle { file, key } => verify_bundle(&file, &key),
        Command::ExportBundle { case_id, output } => {
            export_bundle(&settings, &case_id, output).await
        }
        Command::Log { command } => log_keys(&settings, command).await,
        Command::Witness {
            log,
            log_key,
            interval,
            once,
        } => witness(&settings, &log, &log_key, interval, once).await,
        Command::Migrate => migrate(&settings).await,
        Command::User { command } => user(&settings, command).await,
        Command::Import { command } => import(&settings, command).await,
        Command::CheckPack { dir } => check_pack(&dir),
        Command::Bench { command } => bench(&settings, command).await,
    }
}

/// `verify`: a finding exits with status 1 after printing it to standard output.
async fn verify(settings: &Settings) -> Result<()> {
    let keys = gongzhi::keys::trusted_log_keys(settings)?;
    let db = open_database(settings).await?;
    let started = Instant::now();
    let result = gongzhi::audit::verify_log(&db, &keys).await;
    db.close().await;
    match result {
        Ok(s) => {
            println!(
                "ok: {} entries, {} checkpoints verified in {:.2} s ({} entries not yet signed)",
                s.entries,
                s.checkpoints,
                started.elapsed().as_secs_f64(),
                s.unsigned
            );
            match &s.integrity {
                gongzhi_store::Integrity::Sound(check) => {
                    println!("ok: {check}: no damage")
                }
                gongzhi_store::Integrity::Unchecked(why) => println!("warning: {why}"),
                gongzhi_store::Integrity::Damaged(_) => {}
            }
            if s.witnessed == 0 {
                println!(
                    "warning: the newest checkpoint has no witness cosignature: a rollback of the \
                     whole log cannot be detected without a witness or a copy of the checkpoints \
                     kept elsewhere (docs/ARCHITECTURE.md, \"Keeping a witness\")"
                );
            }
            Ok(())
        }
        Err(gongzhi::audit::VerifyError::Found(finding)) => {
            println!("FAILED: {finding}");
            std::process::exit(1);
        }
        Err(e) => Err(e.into()),
    }
}

/// `verify-bundle`: offline, no database; a bad bundle exits with status 1.
fn verify_bundle(file: &Path, key: &str) -> Result<()> {
    let key = read_key_arg(key)?;
    let verifier = KeyVerifier::parse(&key).map_err(|e| anyhow::anyhow!("--key: {e}"))?;
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    match Bundle::verify_text(&bytes, &verifier) {
        Ok(s) => {
            println!(
                "ok: case {}: {} entries proven in the log of size {} signed by {}",
                s.case_id, s.entries, s.tree_size, s.key
            );
            Ok(())
        }
        Err(e) => {
            println!("FAILED: {e}");
            std::process::exit(1);
        }
    }
}

async fn export_bundle(settings: &Settings, case_id: &str, output: Option<PathBuf>) -> Result<()> {
    let signer = gongzhi::keys::log_key(settings)?;
    let db = open_database(settings).await?;
    let bundle = db.case_bundle(case_id, &signer.label()).await?;
    db.close().await;
    let Some(bundle) = bundle else {
        bail!("case {case_id} has no entry in a signed checkpoint yet");
    };
    match output {
        Some(path) => std::fs::write(&path, bundle.to_text())
            .with_context(|| format!("writing {}", path.display()))?,
        None => print!("{}", bundle.to_text()),
    }
    Ok(())
}

/// `log key` and `log rotate-key`.
async fn log_keys(settings: &Settings, command: LogCommand) -> Result<()> {
    match command {
        LogCommand::Key => {
            let log = gongzhi::keys::log_key(settings)?;
            let witness = gongzhi::keys::witness_key(settings)?;
            println!("log key:     {}", log.verifier_key());
            println!("witness key: {}", witness.verifier_key());
            for k in gongzhi::keys::retired_keys(&settings.data_dir)? {
                println!("retired:     {k}");
            }
            Ok(())
        }
        LogCommand::RotateKey => {
            let db = open_database(settings).await?;
            let (old, new) = gongzhi::keys::rotate_log_key(settings, &db).await?;
            db.close().await;
            println!("retired: {}", old.verifier_key());
            println!("new key: {}", new.verifier_key());
            println!("restart the server to sign with the new key");
            Ok(())
        }
    }
}

/// `witness`: rounds until a signal; with `--once`, a failed round is the command's error.
async fn witness(
    settings: &Settings,
    log: &str,
    log_key: &str,
    interval: u64,
    once: bool,
) -> Result<()> {
    let key = KeyVerifier::parse(&read_key_arg(log_key)?)
        .map_err(|e| anyhow::anyhow!("--log-key: {e}"))?;
    let witness = gongzhi::keys::witness_key(settings)?;
    let db = open_database(settings).await?;
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?;
    println!("witnessing {log} as {}", witness.verifier_key());
    loop {
        match gongzhi::witness::witness_once(&client, &db, log, &key, &witness).await {
            Ok(w) => println!("cosigned {} at size {}", w.origin, w.size),
            Err(e) if once => {
                db.close().await;
                return Err(e);
            }
            Err(e) => eprintln!("witness: {e:#}"),
        }
        if once {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(interval)) => {}
            _ = shutdown_signal() => break,
        }
    }
    db.close().await;
    Ok(())
}

/// `migrate`: opening the database brings its schema up to date.
async fn migrate(settings: &Settings) -> Result<()> {
    let db = open_database(settings).await?;
    println!(
        "database is up to date ({})",
        gongzhi::redact(&settings.database_url())
    );
    db.close().await;
    Ok(())
}

async fn import(settings: &Settings, command: ImportCommand) -> Result<()> {
    match command {
        ImportCommand::Requests { file } => import_requests(settings, &file).await,
        ImportCommand::Grids {
            file,
            name_property,
            code_property,
            parent_property,
            parent,
        } => {
            let mapping = ImportMapping {
                name_property,
                code_property,
                parent_property,
                default_parent: parent,
            };
            import_grids(settings, &file, &mapping).await
        }
    }
}

/// `import requests`: any rejected row makes the command fail, after the others are imported.
async fn import_requests(settings: &Settings, file: &Path) -> Result<()> {
    let (db, packs, calendar) = prepare(settings).await?;
    let taxonomies = gongzhi::load_taxonomies(settings)?;
    let state = AppState::new(
        db.clone(),
        packs,
        calendar,
        taxonomies,
        ServerConfig::default(),
    )
    .await?;
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let summary = gongzhi::import_requests::import_requests(&state, file, progress).await?;
    println!(
        "{}: {} imported, {} already present, {} rejected",
        file.display(),
        summary.imported,
        summary.already_present,
        summary.rejected.len()
    );
    for (row, reason) in summary.rejected.iter().take(200) {
        println!("  row {row}: {reason}");
    }
    if summary.rejected.len() > 200 {
        println!("  ... and {} more", summary.rejected.len() - 200);
    }
    db.close().await;
    if summary.rejected.is_empty() {
        Ok(())
    } else {
        bail!(
            "{} row(s) were rejected; the others were imported",
            summary.rejected.len()
        )
    }
}

/// `import grids`: all or nothing.
async fn import_grids(settings: &Settings, file: &Path, mapping: &ImportMapping) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let db = open_database(settings).await?;
    match grids::import_grids(&db, &text, mapping).await {
        Ok(n) => {
            println!("imported {n} grids from {}", file.display());
            Ok(())
        }
        Err(e) => bail!("{}: {e}", file.display()),
    }
}

/// `check-pack`: every problem goes to standard error, then the command fails.
fn check_pack(dir: &Path) -> Result<()> {
    let sources = read_pack_dir(dir)?;
    if sources.is_empty() {
        bail!("no .toml files in {}", dir.display());
    }
    // Checked together with the built-in packs, as the server loads them
    // (a copy of a built-in pack in DIR stands for itself).
    let mut all: Vec<(String, String)> = gongzhi::BUILTIN_PACKS
        .iter()
        .filter(|(_, text)| !sources.iter().any(|(_, s)| s == text))
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    all.extend(sources);
    match PackSet::from_sources(&all) {
        Ok(set) => {
            for t in set.case_types() {
                println!(
                    "ok  {}/{}  {} states, {} actions, {} fields",
                    t.pack_id,
                    t.id,
                    t.states.len(),
                    t.actions.len(),
                    t.fields.len()
                );
            }
            Ok(())
        }
        Err(errors) => {
            eprintln!("{errors}");
            bail!("{} problem(s); the packs would not load", errors.0.len())
        }
    }
}

async fn bench(settings: &Settings, command: BenchCommand) -> Result<()> {
    match command {
        BenchCommand::Log {
            entries,
            verify_entries,
            postgres,
        } => gongzhi::bench_log::bench_log(settings, entries, verify_entries, postgres).await,
        BenchCommand::Pages { requests } => {
            println!("{}", gongzhi::bench_pages::bench_pages(requests).await?);
            Ok(())
        }
        BenchCommand::Locate { side, lookups } => {
            println!("{}", gongzhi::bench::bench_locate(side, lookups)?);
            Ok(())
        }
        BenchCommand::Intake {
            clients,
            requests,
            bench_database,
        } => bench_intake(clients, requests, bench_database).await,
    }
}

/// `bench intake`: on a given database, or on a scratch SQLite folder removed afterwards.
async fn bench_intake(
    clients: usize,
    requests: usize,
    bench_database: Option<String>,
) -> Result<()> {
    let (clients, requests) = (clients.max(1), requests.max(1));
    let report = match bench_database {
        Some(url) => gongzhi::bench::bench_intake(
            &url,
            gongzhi_store::SqliteSync::default(),
            clients,
            requests,
        )
        .await
        .map(|run| run.report),
        None => {
            let dir = std::env::temp_dir().join(format!("gongzhi-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir)?;
            let report = gongzhi::bench::bench_intake_sqlite(&dir, clients, requests).await;
            let _ = std::fs::remove_dir_all(&dir);
            report
        }
    };
    println!("{}", report?);
    Ok(())
}

/// A key given on the command line, or the path of a file holding it.
fn read_key_arg(arg: &str) -> Result<String> {
    let path = std::path::Path::new(arg);
    if !arg.contains('+') && path.is_file() {
        return Ok(std::fs::read_to_string(path)?.trim().to_string());
    }
    Ok(arg.trim().to_string())
}

async fn serve(
    settings: &Settings,
    listen: &str,
    with_demo: bool,
    secure_cookies: bool,
    witnesses: Vec<String>,
    witness_quorum: Option<usize>,
) -> Result<()> {
    let started = Instant::now();
    let addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen}: expected HOST:PORT"))?;
    let (db, packs, calendar) = prepare(settings).await?;
    // Attachments and keys live in the data folder whichever database is used.
    gongzhi::ensure_data_dir(&settings.data_dir)?;
    let mut log = LogConfig::new(gongzhi::keys::log_key(settings)?);
    log.retired = gongzhi::keys::retired_keys(&settings.data_dir)?;
    for w in &witnesses {
        log.witnesses
            .push(KeyVerifier::parse(w).map_err(|e| anyhow::anyhow!("--witness {w}: {e}"))?);
    }
    log.quorum = witness_quorum.unwrap_or(log.witnesses.len());
    if log.quorum > log.witnesses.len() {
        bail!(
            "--witness-quorum {} but only {} witnesses",
            log.quorum,
            log.witnesses.len()
        );
    }
    let config = ServerConfig {
        secure_cookies,
        data_dir: settings.data_dir.clone(),
        log,
        ..ServerConfig::default()
    };
    let taxonomies = gongzhi::load_taxonomies(settings)?;
    let state = AppState::new(db.clone(), packs, calendar, taxonomies, config).await?;
    let logins = if with_demo {
        let logins = demo::load_demo_if_empty(&state).await?;
        Some(logins)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("listening on {addr}"))?;
    let local = listener.local_addr()?;
    println!(
        "gongzhi {} listening on http://{local}/",
        env!("CARGO_PKG_VERSION")
    );
    println!("database: {}", gongzhi::redact(&settings.database_url()));
    if db.backend() == gongzhi_store::Backend::Sqlite {
        println!(
            "sqlite synchronous: {}",
            settings.sqlite_synchronous.as_str()
        );
    }
    println!("log key: {}", state.config.log.signer.verifier_key());
    if let Some(summary) = logins {
        println!("{summary}");
    }
    println!("ready in {} ms", started.elapsed().as_millis());
    gongzhi_web::serve(listener, state, shutdown_signal()).await?;
    db.close().await;
    println!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

async fn user(settings: &Settings, command: UserCommand) -> Result<()> {
    let db = open_database(settings).await?;
    match command {
        UserCommand::Add {
            username,
            name,
            roles,
        } => user_add(settings, &db, &username, name.as_deref(), &roles).await?,
        UserCommand::Passwd { username } => {
            let password = read_password()?;
            let hash = gongzhi_web::auth::hash_password(password)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            let user = db
                .user_by_username(&username)
                .await?
                .with_context(|| format!("no user {username}"))?;
            db.reset_password_logged(&user.id, &hash, &gongzhi_store::ChangeBy::system())
                .await?;
            println!("password changed for {username}; their sessions were ended");
        }
        UserCommand::List => {
            for u in db.users_with_roles().await? {
                let roles: Vec<String> = u
                    .roles
                    .iter()
                    .map(|g| format!("{}@{}", g.role.as_str(), g.unit_code))
                    .collect();
                println!(
                    "{:<24} {:<16} {:<7} {}{}",
                    u.user.username,
                    u.user.display_name,
                    u.user.kind,
                    roles.join(" "),
                    if u.user.disabled { " (disabled)" } else { "" }
                );
            }
        }
    }
    db.close().await;
    Ok(())
}

/// `user add`: every `--role` is checked before the password is read.
async fn user_add(
    settings: &Settings,
    db: &Db,
    username: &str,
    name: Option<&str>,
    roles: &[String],
) -> Result<()> {
    let packs = match gongzhi::load_packs(&settings.pack_dirs)? {
        Ok(packs) => packs,
        Err(e) => bail!("packs:\n{e}"),
    };
    let mut grants = Vec::new();
    for spec in roles {
        let (role, code) = spec
            .split_once('@')
            .with_context(|| format!("--role {spec}: expected ROLE@UNIT_CODE"))?;
        let role = packs.role(role).map(|d| d.role).with_context(|| {
            let known: Vec<&str> = packs.roles().map(|d| d.role.as_str()).collect();
            format!(
                "--role {spec}: unknown role {role} (declared: {})",
                known.join(", ")
            )
        })?;
        let unit = db
            .unit_by_code(code)
            .await?
            .with_context(|| format!("--role {spec}: no unit with code {code}"))?;
        grants.push((role, unit.id));
    }
    let password = read_password()?;
    let hash = gongzhi_web::auth::hash_password(password)
        .await
        .map_err(|e| anyhow::anyhow!(e.message))?;
    // Logged like the admin pages' changes, as the system's.
    let account = gongzhi_store::NewAccount {
        username,
        display_name: name.unwrap_or(username),
        password_hash: Some(&hash),
    };
    db.create_account_logged(account, &grants, &gongzhi_store::ChangeBy::system())
        .await?;
    println!("added {username}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_sync(args: &[&str]) -> Option<SyncArg> {
        match Cli::try_parse_from(args).ok()?.command {
            Command::Serve {
                sqlite_synchronous, ..
            } => Some(sqlite_synchronous),
            _ => None,
        }
    }

    #[test]
    fn sqlite_synchronous_flag() {
        assert_eq!(serve_sync(&["gongzhi", "serve"]), Some(SyncArg::Full));
        assert_eq!(
            serve_sync(&["gongzhi", "serve", "--sqlite-synchronous", "normal"]),
            Some(SyncArg::Normal)
        );
        assert_eq!(
            serve_sync(&["gongzhi", "serve", "--sqlite-synchronous", "off"]),
            None
        );
        assert_eq!(
            gongzhi_store::SqliteSync::from(SyncArg::Normal),
            gongzhi_store::SqliteSync::Normal
        );
    }
}
