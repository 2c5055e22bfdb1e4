//! `gongzhi import grids FILE.geojson`: grids from a GeoJSON FeatureCollection,
//! all or nothing, with every rejected feature and why. The work is the
//! store's (`Db::import_grids`), shared with the admin pages.

use gongzhi_domain::places::ImportMapping;
use gongzhi_store::{ChangeBy, Db};

pub use gongzhi_store::GridImportError;

/// Validates the whole file against the mapping and the units in the database,
/// then inserts every grid in one transaction, logged as the system's change.
/// Returns how many were imported.
pub async fn import_grids(
    db: &Db,
    text: &str,
    mapping: &ImportMapping,
) -> Result<usize, GridImportError> {
    db.import_grids(text, mapping, &ChangeBy::system(), &|_, _| {})
        .await
}
