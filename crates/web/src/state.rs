use std::sync::{Arc, RwLock};
use std::time::Duration;

use gongzhi_domain::calendar::WorkCalendar;
use gongzhi_domain::checkpoint::{KeySigner, KeyVerifier, generate_key};
use gongzhi_domain::pack::PackSet;
use gongzhi_domain::places::{IndexedArea, PlaceIndex, parse_geometry};
use gongzhi_store::{Db, StoreError};

use crate::auth::LoginLimiter;

/// Server settings that are not the database.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Mark cookies `Secure` (behind HTTPS).
    pub secure_cookies: bool,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How often the deadline worker looks for due deadlines.
    pub deadline_interval: Duration,
    /// The tamper-evident log: signing key, witnesses, integrator pace.
    pub log: LogConfig,
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
            log: LogConfig::ephemeral("gongzhi.local/log"),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub packs: Arc<PackSet>,
    pub calendar: Arc<WorkCalendar>,
    /// Swapped whole when units change; readers clone the inner Arc.
    pub places: Arc<RwLock<Arc<PlaceIndex>>>,
    pub limiter: Arc<LoginLimiter>,
    pub config: ServerConfig,
}

impl AppState {
    pub async fn new(
        db: Db,
        packs: PackSet,
        calendar: WorkCalendar,
        config: ServerConfig,
    ) -> Result<Self, StoreError> {
        let index = build_place_index(&db).await?;
        Ok(AppState {
            db,
            packs: Arc::new(packs),
            calendar: Arc::new(calendar),
            places: Arc::new(RwLock::new(Arc::new(index))),
            limiter: Arc::new(LoginLimiter::new(Duration::from_secs(15 * 60), 5, 50)),
            config,
        })
    }

    /// The packs and calendar actions are decided under.
    pub fn rules(&self) -> gongzhi_store::Rules<'_> {
        gongzhi_store::Rules {
            packs: &self.packs,
            calendar: &self.calendar,
        }
    }

    pub fn place_index(&self) -> Arc<PlaceIndex> {
        match self.places.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Rebuilds the place index after units or polygons changed.
    pub async fn reload_places(&self) -> Result<(), StoreError> {
        let index = Arc::new(build_place_index(&self.db).await?);
        match self.places.write() {
            Ok(mut guard) => *guard = index,
            Err(poisoned) => *poisoned.into_inner() = index,
        }
        Ok(())
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
