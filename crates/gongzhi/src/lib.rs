//! The `gongzhi` program: configuration, start-up (database, packs, calendar,
//! demo city) and the commands. `main.rs` is only the command line.

pub mod audit;
pub mod bench;
pub mod bench_log;
pub mod bench_pages;
pub mod demo;
pub mod grids;
pub mod import_requests;
pub mod keys;
pub mod witness;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use gongzhi_domain::calendar::{OfficeHours, WorkCalendar};
use gongzhi_domain::pack::{PackErrors, PackSet};
use gongzhi_store::{ConnectOptions, Db, SqliteSync};
use gongzhi_web::state::taxonomy::Taxonomies;

/// Packs shipped inside the binary: (file name, TOML text).
pub const BUILTIN_PACKS: &[(&str, &str)] = &[
    (
        "packs/generic/pack.toml",
        include_str!("../../../packs/generic/pack.toml"),
    ),
    (
        "packs/requests/pack.toml",
        include_str!("../../../packs/requests/pack.toml"),
    ),
    (
        "packs/mediation/pack.toml",
        include_str!("../../../packs/mediation/pack.toml"),
    ),
];

/// Where things live and how the server behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// Extra pack directories, loaded after the built-in packs.
    pub pack_dirs: Vec<PathBuf>,
    pub time_zone: String,
    pub office_hours: String,
    /// The log's origin line (and its key's name).
    pub log_origin: String,
    /// How SQLite flushes commits (FULL unless the server is told otherwise).
    pub sqlite_synchronous: SqliteSync,
}

pub const DEFAULT_LOG_ORIGIN: &str = "gongzhi.local/log";

impl Settings {
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", self.data_dir.join("gongzhi.db").display()),
        }
    }
}

/// Creates the data folder (owner-only where the platform allows).
pub fn ensure_data_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating data folder {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

/// Opens the database and brings its schema up to date.
pub async fn open_database(settings: &Settings) -> Result<Db> {
    let url = settings.database_url();
    if url.starts_with("sqlite:") {
        ensure_data_dir(&settings.data_dir)?;
    }
    let options = ConnectOptions {
        sqlite_synchronous: settings.sqlite_synchronous,
    };
    let db = Db::connect_with(&url, options)
        .await
        .with_context(|| format!("opening database {}", redact(&url)))?;
    let applied = db.migrate().await.context("migrating the database")?;
    if !applied.is_empty() {
        tracing::info!(?applied, "database migrated");
    }
    Ok(db)
}

/// Hides a password in a database URL before printing it.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Reads every `*.toml` under a directory (recursively), sorted by path.
pub fn read_pack_dir(dir: &Path) -> Result<Vec<(String, String)>> {
    let mut files = Vec::new();
    collect_toml(dir, &mut files).with_context(|| format!("reading packs in {}", dir.display()))?;
    files.sort();
    let mut out = Vec::with_capacity(files.len());
    for path in files {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        out.push((path.display().to_string(), text));
    }
    Ok(out)
}

fn collect_toml(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        // `data/` folders hold taxonomies and routing rules, not workflows.
        if path.is_dir() && path.file_name().is_some_and(|n| n == "data") {
            continue;
        }
        if path.is_dir() {
            collect_toml(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
    Ok(())
}

/// The built-in packs plus those in `dirs`, validated together: any problem
/// anywhere and nothing loads.
pub fn load_packs(dirs: &[PathBuf]) -> Result<std::result::Result<PackSet, PackErrors>> {
    let mut sources: Vec<(String, String)> = BUILTIN_PACKS
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect();
    for dir in dirs {
        sources.extend(read_pack_dir(dir)?);
    }
    Ok(PackSet::from_sources(&sources))
}

/// The working-day calendar: built-in holiday data, plus any
/// `DATA/calendar/*.json` year files (holiday-cn format) a city has added.
pub fn load_calendar(settings: &Settings) -> Result<WorkCalendar> {
    let tz = WorkCalendar::parse_tz(&settings.time_zone)
        .map_err(|e| anyhow::anyhow!("time zone: {e}"))?;
    let hours = OfficeHours::parse(&settings.office_hours)
        .map_err(|e| anyhow::anyhow!("office hours: {e}"))?;
    let mut calendar = WorkCalendar::new(tz, hours);
    let dir = settings.data_dir.join("calendar");
    if dir.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file)?;
            let year = calendar
                .load_year_json(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            tracing::info!(year, file = %file.display(), "holiday data loaded");
        }
    }
    Ok(calendar)
}

/// Category and routing extension files of a city: every `data/*.csv` and
/// `data/*.toml` under the pack folders, as `(path, text)`.
pub fn read_taxonomy_extensions(dirs: &[PathBuf]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for dir in dirs {
        let mut stack = vec![dir.clone()];
        while let Some(d) = stack.pop() {
            for entry in
                std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))?
            {
                let path = entry?.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path
                    .parent()
                    .and_then(|p| p.file_name())
                    .is_some_and(|n| n == "data")
                    && path.extension().is_some_and(|e| e == "csv" || e == "toml")
                {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    out.push((path.display().to_string(), text));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The taxonomies and routing rules: built in, plus the city's extensions.
pub fn load_taxonomies(settings: &Settings) -> Result<Taxonomies> {
    let extensions = read_taxonomy_extensions(&settings.pack_dirs)?;
    Taxonomies::load(&extensions)
        .map_err(|e| anyhow::anyhow!("categories or routing rules have problems:\n{e}"))
}

/// Everything `serve` needs, ready to go.
pub async fn prepare(settings: &Settings) -> Result<(Db, PackSet, WorkCalendar)> {
    let packs = match load_packs(&settings.pack_dirs)? {
        Ok(p) => p,
        Err(errors) => bail!("the packs have problems; nothing was loaded:\n{errors}"),
    };
    let calendar = load_calendar(settings)?;
    let db = open_database(settings).await?;
    let recomputed = db.recompute_provisional_deadlines(&calendar).await?;
    if recomputed > 0 {
        tracing::info!(
            recomputed,
            "provisional deadlines recomputed with the loaded calendar"
        );
    }
    Ok((db, packs, calendar))
}
