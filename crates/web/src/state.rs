use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use gongzhi_domain::calendar::WorkCalendar;
use gongzhi_domain::pack::PackSet;
use gongzhi_domain::places::{IndexedArea, PlaceIndex, parse_geometry};
use gongzhi_store::{BlobStore, Db, StoreError};

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
    /// The data folder; attachments are kept under `DATA/blobs`.
    pub data_dir: PathBuf,
    /// Largest attachment accepted, in bytes. An upload request may be this
    /// plus [`UPLOAD_OVERHEAD`] for the multipart framing.
    pub attachment_max_bytes: usize,
}

/// Room for multipart boundaries and part headers around one uploaded file.
pub const UPLOAD_OVERHEAD: usize = 64 * 1024;

impl ServerConfig {
    /// The largest upload request body.
    pub fn upload_body_limit(&self) -> usize {
        self.attachment_max_bytes.saturating_add(UPLOAD_OVERHEAD)
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
    /// Attachment files, content-addressed under `DATA/blobs`.
    pub blobs: BlobStore,
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
            blobs: BlobStore::new(config.data_dir.join("blobs")),
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
