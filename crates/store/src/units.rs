//! Units and their polygons.

use serde::Serialize;
use sqlx::Row;

use gongzhi_domain::time::{Micros, now_micros};
use gongzhi_domain::unit::{UnitKind, child_path};

use crate::db::{Db, Tx, with_pool, with_tx};
use crate::error::StoreError;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unit {
    pub id: String,
    pub parent_id: Option<String>,
    pub kind: UnitKind,
    pub code: String,
    pub name: String,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geometry: Option<String>,
    pub created_at: Micros,
}

/// What a caller supplies to create a unit.
#[derive(Debug, Clone)]
pub struct NewUnit {
    pub id: String,
    pub parent_id: Option<String>,
    pub kind: UnitKind,
    pub code: String,
    pub name: String,
    /// GeoJSON text of a validated (Multi)Polygon, with its bounding box.
    pub geometry: Option<(String, [f64; 4])>,
}

const UNIT_COLUMNS: &str = "id, parent_id, kind, code, name, path, created_at";

macro_rules! unit_from_row {
    ($row:expr, $with_geometry:expr) => {{
        let row = $row;
        let kind: String = row.try_get("kind")?;
        Unit {
            id: row.try_get("id")?,
            parent_id: row.try_get("parent_id")?,
            kind: UnitKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("unit kind {kind}")))?,
            code: row.try_get("code")?,
            name: row.try_get("name")?,
            path: row.try_get("path")?,
            geometry: if $with_geometry {
                row.try_get("geometry")?
            } else {
                None
            },
            created_at: row.try_get("created_at")?,
        }
    }};
}

impl Db {
    pub async fn unit(&self, id: &str) -> Result<Option<Unit>, StoreError> {
        let sql = format!("SELECT {UNIT_COLUMNS}, geometry FROM units WHERE id = $1");
        with_pool!(self, pool => {
            match sqlx::query(&sql).bind(id).fetch_optional(pool).await? {
                Some(row) => Ok(Some(unit_from_row!(row, true))),
                None => Ok(None),
            }
        })
    }

    pub async fn unit_by_code(&self, code: &str) -> Result<Option<Unit>, StoreError> {
        let sql = format!("SELECT {UNIT_COLUMNS}, geometry FROM units WHERE code = $1");
        with_pool!(self, pool => {
            match sqlx::query(&sql).bind(code).fetch_optional(pool).await? {
                Some(row) => Ok(Some(unit_from_row!(row, true))),
                None => Ok(None),
            }
        })
    }

    /// All units without geometry, ordered by path (parents before children).
    pub async fn units(&self) -> Result<Vec<Unit>, StoreError> {
        let sql = format!("SELECT {UNIT_COLUMNS} FROM units ORDER BY path");
        with_pool!(self, pool => {
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(unit_from_row!(row, false));
            }
            Ok(out)
        })
    }

    /// Units that carry a polygon, with it, for building the place index.
    pub async fn units_with_geometry(&self) -> Result<Vec<Unit>, StoreError> {
        let sql = format!(
            "SELECT {UNIT_COLUMNS}, geometry FROM units WHERE geometry IS NOT NULL ORDER BY code"
        );
        with_pool!(self, pool => {
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(unit_from_row!(row, true));
            }
            Ok(out)
        })
    }

    pub async fn unit_count(&self) -> Result<i64, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM units").fetch_one(pool).await?;
            Ok(row.try_get::<i64, _>("n")?)
        })
    }

    /// Creates one unit in its own transaction.
    pub async fn insert_unit(&self, unit: NewUnit) -> Result<Unit, StoreError> {
        let mut tx = self.begin_write().await?;
        let out = insert_unit_tx(&mut tx, unit).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Creates many units all or nothing, parents before children.
    pub async fn insert_units(&self, units: Vec<NewUnit>) -> Result<usize, StoreError> {
        let mut tx = self.begin_write().await?;
        let n = units.len();
        for unit in units {
            insert_unit_tx(&mut tx, unit).await?;
        }
        tx.commit().await?;
        Ok(n)
    }
}

/// Checks the tree rules and inserts one unit inside a transaction.
pub async fn insert_unit_tx(tx: &mut Tx, unit: NewUnit) -> Result<Unit, StoreError> {
    if unit.code.trim().is_empty() || unit.code.len() > 64 {
        return Err(StoreError::invalid("code", "must be 1 to 64 characters"));
    }
    if unit.name.trim().is_empty() || unit.name.chars().count() > 100 {
        return Err(StoreError::invalid("name", "must be 1 to 100 characters"));
    }
    let parent: Option<(String, UnitKind)> = match &unit.parent_id {
        None => None,
        Some(pid) => {
            let row = with_tx!(tx, conn => {
                sqlx::query("SELECT path, kind FROM units WHERE id = $1")
                    .bind(pid)
                    .fetch_optional(conn)
                    .await?
                    .map(|r| Ok::<_, sqlx::Error>((r.try_get::<String, _>("path")?, r.try_get::<String, _>("kind")?)))
                    .transpose()?
            });
            let (path, kind) =
                row.ok_or_else(|| StoreError::invalid("parent_id", format!("no unit {pid}")))?;
            let kind = UnitKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("unit kind {kind}")))?;
            Some((path, kind))
        }
    };
    if !unit.kind.may_have_parent(parent.as_ref().map(|p| p.1)) {
        return Err(StoreError::invalid(
            "parent_id",
            format!(
                "a {} cannot sit under {}",
                unit.kind.as_str(),
                parent.as_ref().map(|p| p.1.as_str()).unwrap_or("nothing")
            ),
        ));
    }
    let path = child_path(parent.as_ref().map(|p| p.0.as_str()), &unit.id);
    let now = now_micros();
    let (geometry, bbox) = match unit.geometry {
        Some((g, b)) => (Some(g), Some(b)),
        None => (None, None),
    };
    let result = with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO units (id, parent_id, kind, code, name, path, geometry, min_lng, min_lat, max_lng, max_lat, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
        )
        .bind(&unit.id)
        .bind(&unit.parent_id)
        .bind(unit.kind.as_str())
        .bind(&unit.code)
        .bind(&unit.name)
        .bind(&path)
        .bind(&geometry)
        .bind(bbox.map(|b| b[0]))
        .bind(bbox.map(|b| b[1]))
        .bind(bbox.map(|b| b[2]))
        .bind(bbox.map(|b| b[3]))
        .bind(now)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
    });
    match result {
        Ok(_) => {}
        Err(e) => {
            let err = StoreError::from(e);
            if err.is_unique_violation() {
                return Err(StoreError::invalid(
                    "code",
                    format!("unit code {} already exists", unit.code),
                ));
            }
            return Err(err);
        }
    }
    Ok(Unit {
        id: unit.id,
        parent_id: unit.parent_id,
        kind: unit.kind,
        code: unit.code,
        name: unit.name,
        path,
        geometry,
        created_at: now,
    })
}
