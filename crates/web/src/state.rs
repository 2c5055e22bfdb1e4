use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use gongzhi_domain::calendar::WorkCalendar;
use gongzhi_domain::checkpoint::{KeySigner, KeyVerifier, generate_key};
use gongzhi_domain::pack::{PackSet, Sees};
use gongzhi_domain::places::{IndexedArea, PlaceIndex, parse_geometry};
use gongzhi_domain::unit::UnitKind;
use gongzhi_store::{BlobStore, Db, StoreError};

use crate::batcher::IntakeBatcher;

pub mod caches;
pub mod jobs;
pub mod limits;
pub mod taxonomy;

use caches::{ApiKeyCache, HistoryCache, StatsCache};
use jobs::Jobs;
use limits::LoginLimiter;
use taxonomy::{SharedTaxonomies, Taxonomies, TaxonomyLayer};

/// Server settings that are not the database.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Mark cookies `Secure` (behind HTTPS).
    pub secure_cookies: bool,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How often the deadline worker looks for due deadlines.
    pub deadline_interval: Duration,
    /// The data folder; attachments are kept under `DATA/blobs`.
    pub data_dir: PathBuf,
    /// Largest attachment accepted, in bytes. An upload request may be this
    /// plus [`UPLOAD_OVERHEAD`] for the multipart framing.
    pub attachment_max_bytes: usize,
    /// The tamper-evident log: signing key, witnesses, integrator pace.
    pub log: LogConfig,
}

/// Room for multipart boundaries and part headers around one uploaded file.
pub const UPLOAD_OVERHEAD: usize = 64 * 1024;

impl ServerConfig {
    /// The largest upload request body.
    pub fn upload_body_limit(&self) -> usize {
        self.attachment_max_bytes.saturating_add(UPLOAD_OVERHEAD)
    }
}

/// How the log is integrated, signed and witnessed.
#[derive(Clone)]
pub struct LogConfig {
    /// The key that signs checkpoints; its name is the log's origin.
    pub signer: KeySigner,
    /// Verifier keys of earlier (rotated) log keys, published for old checkpoints.
    pub retired: Vec<String>,
    /// Verifier keys (`cosignature/v1`) of the witnesses whose cosignatures count.
    pub witnesses: Vec<KeyVerifier>,
    /// Cosignatures from distinct configured witnesses a checkpoint needs to count as witnessed.
    pub quorum: usize,
    /// How often the integrator looks for new entries.
    pub interval: Duration,
    /// Entries integrated per transaction.
    pub batch: usize,
}

impl std::fmt::Debug for LogConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogConfig")
            .field("key", &self.signer.label())
            .field("witnesses", &self.witness_labels())
            .field("quorum", &self.quorum)
            .finish()
    }
}

impl LogConfig {
    pub fn new(signer: KeySigner) -> Self {
        LogConfig {
            signer,
            retired: Vec::new(),
            witnesses: Vec::new(),
            quorum: 0,
            interval: Duration::from_millis(100),
            batch: 20_000,
        }
    }

    /// A throw-away key (tests, and a server started without a data folder).
    pub fn ephemeral(origin: &str) -> Self {
        let signer = generate_key(origin, false)
            .ok()
            .and_then(|(skey, _)| KeySigner::parse(&skey).ok());
        match signer {
            Some(signer) => LogConfig::new(signer),
            // Only a malformed origin gets here; fall back to the default name.
            None => LogConfig::ephemeral("gongzhi.local/log"),
        }
    }

    pub fn origin(&self) -> &str {
        self.signer.name()
    }

    pub fn witness_labels(&self) -> Vec<String> {
        self.witnesses.iter().map(KeyVerifier::label).collect()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            secure_cookies: false,
            body_limit: 1024 * 1024,
            deadline_interval: Duration::from_secs(5),
            data_dir: PathBuf::from("./gongzhi-data"),
            attachment_max_bytes: 10 * 1024 * 1024,
            log: LogConfig::ephemeral("gongzhi.local/log"),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub packs: Arc<PackSet>,
    pub calendar: Arc<WorkCalendar>,
    /// Category taxonomies, routing rules and the text suggester; read
    /// through [`AppState::taxonomies`].
    pub taxonomy_cell: SharedTaxonomies,
    /// Background jobs of the admin pages (imports), with their progress.
    pub jobs: Arc<Jobs>,
    /// Intake creations, committed in groups.
    pub batcher: IntakeBatcher,
    /// Swapped whole when units change; readers clone the inner Arc.
    pub places: Arc<RwLock<Arc<Places>>>,
    pub limiter: Arc<LoginLimiter>,
    /// Failed public lookups, per receipt code and per address: four digits
    /// are guessable, so each code gets few tries.
    pub lookup_limiter: Arc<LoginLimiter>,
    /// API keys resolved recently (see `caches::API_KEY_CACHE_TTL`).
    pub api_keys: Arc<ApiKeyCache>,
    /// Attachment files, content-addressed under `DATA/blobs`.
    pub blobs: BlobStore,
    pub config: ServerConfig,
    /// The public statistics page's figures, reused for a few minutes.
    pub public_stats: Arc<StatsCache>,
    /// Case histories the indicators last read, brought up to date from the log.
    pub histories: Arc<HistoryCache>,
}

impl AppState {
    pub async fn new(
        db: Db,
        packs: PackSet,
        calendar: WorkCalendar,
        taxonomies: Taxonomies,
        config: ServerConfig,
    ) -> Result<Self, StoreError> {
        let index = Places::load(&db).await?;
        let packs = Arc::new(packs);
        let calendar = Arc::new(calendar);
        let taxonomies = SharedTaxonomies::new(with_latest_revision(&db, taxonomies).await?);
        let batcher = IntakeBatcher::start(
            db.clone(),
            packs.clone(),
            calendar.clone(),
            taxonomies.clone(),
        );
        Ok(AppState {
            db,
            packs,
            calendar,
            taxonomy_cell: taxonomies,
            jobs: Arc::default(),
            batcher,
            places: Arc::new(RwLock::new(Arc::new(index))),
            limiter: Arc::new(LoginLimiter::per_pair(Duration::from_secs(15 * 60), 5, 50)),
            lookup_limiter: Arc::new(LoginLimiter::per_subject(
                Duration::from_secs(15 * 60),
                5,
                30,
            )),
            api_keys: Arc::new(ApiKeyCache::default()),
            blobs: BlobStore::new(config.data_dir.join("blobs")),
            config,
            public_stats: Arc::default(),
            histories: Arc::default(),
        })
    }

    /// A user with the grants that carry powers now: grants of roles that no
    /// loaded pack declares (a pack retired, a role renamed) give none, though
    /// the admin pages still show them so they can be revoked.
    pub async fn actor(
        &self,
        user_id: &str,
    ) -> Result<Option<gongzhi_domain::access::Actor>, StoreError> {
        let Some(mut actor) = self.db.actor(user_id).await? else {
            return Ok(None);
        };
        actor
            .assignments
            .retain_mut(|a| match self.packs.role(a.role.as_str()) {
                Some(def) => {
                    a.assigned_only = def.sees == Sees::Assigned;
                    true
                }
                None => false,
            });
        Ok(Some(actor))
    }

    /// The packs, calendar and categories actions are decided under; `tax`
    /// is a snapshot from [`AppState::taxonomies`].
    pub fn rules<'a>(&'a self, tax: &'a Taxonomies) -> gongzhi_store::Rules<'a> {
        gongzhi_store::Rules {
            packs: &self.packs,
            calendar: &self.calendar,
            categories: &tax.categories,
        }
    }

    /// The taxonomies and routing rules in force now.
    pub fn taxonomies(&self) -> Arc<Taxonomies> {
        self.taxonomy_cell.get()
    }

    pub fn places(&self) -> Arc<Places> {
        match self.places.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Rebuilds the place index after units or polygons changed.
    pub async fn reload_places(&self) -> Result<(), StoreError> {
        let index = Arc::new(Places::load(&self.db).await?);
        match self.places.write() {
            Ok(mut guard) => *guard = index,
            Err(poisoned) => *poisoned.into_inner() = index,
        }
        Ok(())
    }
}

/// The taxonomies with the newest admin revision on top. A revision that no
/// longer loads (the city's files changed under it) is skipped with an error
/// in the log, so the server still starts.
async fn with_latest_revision(db: &Db, base: Taxonomies) -> Result<Taxonomies, StoreError> {
    let Some(rev) = db.latest_taxonomy_revision().await? else {
        return Ok(base);
    };
    let layer = match TaxonomyLayer::from_json(&rev.categories, &rev.routing) {
        Ok(layer) => layer,
        Err(e) => {
            tracing::error!(revision = rev.revision, error = %e, "taxonomy revision unreadable; not applied");
            return Ok(base);
        }
    };
    match base.with_layer(rev.revision, layer) {
        Ok(t) => Ok(t),
        Err(e) => {
            tracing::error!(revision = rev.revision, error = %e, "taxonomy revision does not load; not applied");
            Ok(base)
        }
    }
}

/// A unit as intake and routing need it.
#[derive(Debug, Clone)]
pub struct UnitInfo {
    pub id: String,
    pub code: String,
    pub name: String,
    pub kind: UnitKind,
    pub parent_id: Option<String>,
}

/// The unit tree and the polygon index, in memory: locating a point and
/// walking up to its district needs no database round trip.
#[derive(Debug)]
pub struct Places {
    pub index: PlaceIndex,
    units: HashMap<String, UnitInfo>,
    by_code: HashMap<String, String>,
}

impl Places {
    pub async fn load(db: &Db) -> Result<Places, StoreError> {
        let index = build_place_index(db).await?;
        let mut units = HashMap::new();
        let mut by_code = HashMap::new();
        for u in db.units().await? {
            by_code.insert(u.code.clone(), u.id.clone());
            units.insert(
                u.id.clone(),
                UnitInfo {
                    id: u.id,
                    code: u.code,
                    name: u.name,
                    kind: u.kind,
                    parent_id: u.parent_id,
                },
            );
        }
        Ok(Places {
            index,
            units,
            by_code,
        })
    }

    pub fn unit(&self, id: &str) -> Option<&UnitInfo> {
        self.units.get(id)
    }

    pub fn unit_by_code(&self, code: &str) -> Option<&UnitInfo> {
        self.by_code.get(code).and_then(|id| self.units.get(id))
    }

    /// The unit and its ancestors, deepest first.
    pub fn chain(&self, unit_id: &str) -> Vec<&UnitInfo> {
        let mut out = Vec::new();
        let mut next = self.units.get(unit_id);
        while let Some(u) = next {
            out.push(u);
            // A cycle would be corrupt data; the depth bound keeps us safe.
            if out.len() > 32 {
                break;
            }
            next = u.parent_id.as_deref().and_then(|p| self.units.get(p));
        }
        out
    }

    /// The units whose parent is `unit_id`, by code.
    pub fn children(&self, unit_id: &str) -> Vec<&UnitInfo> {
        let mut out: Vec<&UnitInfo> = self
            .units
            .values()
            .filter(|u| u.parent_id.as_deref() == Some(unit_id))
            .collect();
        out.sort_by(|a, b| a.code.cmp(&b.code));
        out
    }

    /// The unit's materialised path (`/city/district/.../unit/`).
    pub fn path(&self, unit_id: &str) -> String {
        let ids: Vec<&str> = self
            .chain(unit_id)
            .iter()
            .rev()
            .map(|u| u.id.as_str())
            .collect();
        format!("/{}/", ids.join("/"))
    }

    /// The chain of units containing a point, grid first; empty outside.
    pub fn locate_chain(&self, lng: f64, lat: f64) -> Vec<&UnitInfo> {
        match self.index.locate(lng, lat) {
            Some(area) => self.chain(&area.unit_id),
            None => Vec::new(),
        }
    }
}

/// The R-tree over every unit polygon in the database.
pub async fn build_place_index(db: &Db) -> Result<PlaceIndex, StoreError> {
    let units = db.units_with_geometry().await?;
    let mut areas = Vec::with_capacity(units.len());
    for unit in units {
        let (Some(text), Some(level)) = (&unit.geometry, unit.kind.area_level()) else {
            continue;
        };
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| StoreError::Corrupt(format!("geometry of {}: {e}", unit.code)))?;
        let shape = parse_geometry(&value)
            .map_err(|e| StoreError::Corrupt(format!("geometry of {}: {e}", unit.code)))?;
        areas.push(IndexedArea {
            unit_id: unit.id,
            code: unit.code,
            level,
            shape,
        });
    }
    Ok(PlaceIndex::new(areas))
}
