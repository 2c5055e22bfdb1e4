//! `gongzhi import grids FILE.geojson`: grids from a GeoJSON FeatureCollection,
//! all or nothing, with every rejected feature and why.

use geo::BoundingRect;

use gongzhi_domain::places::{
    FeatureRejection, ImportMapping, ImportReport, geometry_to_geojson, parse_feature_collection,
};
use gongzhi_domain::unit::UnitKind;
use gongzhi_store::{Db, NewUnit, StoreError};

/// Why an import stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum GridImportError {
    #[error("nothing was imported:\n{0}")]
    Rejected(ImportReport),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Validates the whole file against the mapping and the units in the database,
/// then inserts every grid in one transaction. Returns how many were imported.
pub async fn import_grids(
    db: &Db,
    text: &str,
    mapping: &ImportMapping,
) -> Result<usize, GridImportError> {
    let features = parse_feature_collection(text, mapping).map_err(GridImportError::Rejected)?;
    let mut rejected = Vec::new();
    let mut units = Vec::with_capacity(features.len());
    for feature in features {
        let reject = |reason: String| FeatureRejection {
            index: feature.index,
            code: Some(feature.code.clone()),
            reason,
        };
        if db.unit_by_code(&feature.code).await?.is_some() {
            rejected.push(reject(format!(
                "a unit with code {} already exists",
                feature.code
            )));
            continue;
        }
        let parent = match db.unit_by_code(&feature.parent_code).await? {
            Some(p) => p,
            None => {
                rejected.push(reject(format!(
                    "parent unit {} does not exist",
                    feature.parent_code
                )));
                continue;
            }
        };
        if !UnitKind::Grid.may_have_parent(Some(parent.kind)) {
            rejected.push(reject(format!(
                "parent {} is a {}; grids belong to a community",
                parent.code,
                parent.kind.as_str()
            )));
            continue;
        }
        let Some(rect) = feature.shape.bounding_rect() else {
            rejected.push(reject("the geometry is empty".into()));
            continue;
        };
        units.push(NewUnit {
            id: gongzhi_domain::ids::new_id(),
            parent_id: Some(parent.id),
            kind: UnitKind::Grid,
            code: feature.code.clone(),
            name: feature.name.clone(),
            geometry: Some((
                geometry_to_geojson(&feature.shape).to_string(),
                [rect.min().x, rect.min().y, rect.max().x, rect.max().y],
            )),
        });
    }
    if !rejected.is_empty() {
        return Err(GridImportError::Rejected(ImportReport {
            rejected,
            top_level: None,
        }));
    }
    Ok(db.insert_units(units).await?)
}
