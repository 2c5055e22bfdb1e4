//! Administration: changes to units, grids, users, role grants and the
//! category/routing layer. Each change and its `admin.*` log entry are
//! written in one transaction, so the log never misses a change.
//!
//! Admin entries name no case: their `case_id` is `admin:KIND:ID` (never a
//! case id), so case timelines, bundles and indicators, which select by case
//! id, never see them. Passwords never enter an entry.

use geo::BoundingRect;
use serde_json::{Value, json};
use sqlx::Row;

use gongzhi_domain::ids::new_id;
use gongzhi_domain::places::{
    FeatureRejection, ImportMapping, ImportReport, geometry_to_geojson, parse_feature_collection,
};
use gongzhi_domain::role::Role;
use gongzhi_domain::time::{Micros, now_micros};
use gongzhi_domain::unit::UnitKind;

use crate::admin_log::{ChangeBy, log_admin};
use crate::db::{Db, Tx, with_pool, with_tx};
use crate::error::StoreError;
use crate::units::{NewUnit, Unit, insert_unit_tx};
use crate::users::{NewAccount, User, grant_tx, insert_user_tx, user_from_row};

/// Why a grid import stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum GridImportError {
    #[error("nothing was imported:\n{0}")]
    Rejected(ImportReport),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One saved category/routing revision: the whole admin layer as JSON text.
#[derive(Debug, Clone)]
pub struct TaxonomyRevision {
    pub revision: i64,
    pub categories: String,
    pub routing: String,
    pub created_by: Option<String>,
    pub created_at: Micros,
}

fn check_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() || name.chars().count() > 100 {
        return Err(StoreError::invalid("name", "must be 1 to 100 characters"));
    }
    Ok(())
}

impl Db {
    /// Creates a unit and logs it.
    pub async fn create_unit_logged(
        &self,
        unit: NewUnit,
        by: &ChangeBy,
    ) -> Result<Unit, StoreError> {
        let mut tx = self.begin_write().await?;
        let unit = insert_unit_tx(&mut tx, unit).await?;
        let changes = json!({
            "code": unit.code, "name": unit.name, "kind": unit.kind.as_str(),
            "parent_id": unit.parent_id,
        });
        log_admin(
            &mut tx,
            by,
            "unit.create",
            &format!("unit:{}", unit.id),
            changes,
        )
        .await?;
        tx.commit().await?;
        Ok(unit)
    }

    /// Renames a unit and logs the old and new name.
    pub async fn rename_unit(&self, id: &str, name: &str, by: &ChangeBy) -> Result<(), StoreError> {
        let name = name.trim();
        check_name(name)?;
        let mut tx = self.begin_write().await?;
        let before: Option<String> = with_tx!(&mut tx, conn => {
            sqlx::query("SELECT name FROM units WHERE id = $1")
                .bind(id)
                .fetch_optional(conn)
                .await?
                .map(|r| r.try_get::<String, _>("name"))
                .transpose()?
        });
        let Some(before) = before else {
            return Err(StoreError::NotFound("unit"));
        };
        with_tx!(&mut tx, conn => {
            sqlx::query("UPDATE units SET name = $1, updated_at = $2 WHERE id = $3")
                .bind(name)
                .bind(now_micros())
                .bind(id)
                .execute(conn)
                .await?;
        });
        let changes = json!({"name": {"before": before, "after": name}});
        log_admin(&mut tx, by, "unit.rename", &format!("unit:{id}"), changes).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Imports grids from a GeoJSON FeatureCollection, all or nothing: every
    /// feature is checked against the mapping and the units first, then all
    /// are inserted (and the import logged) in one transaction. `progress` is
    /// told `(done, total)` steps as it goes (checking, then inserting).
    pub async fn import_grids(
        &self,
        text: &str,
        mapping: &ImportMapping,
        by: &ChangeBy,
        progress: &(dyn Fn(usize, usize) + Send + Sync),
    ) -> Result<usize, GridImportError> {
        let features =
            parse_feature_collection(text, mapping).map_err(GridImportError::Rejected)?;
        let total = features.len().saturating_mul(2);
        progress(0, total);
        let mut rejected = Vec::new();
        let mut units = Vec::with_capacity(features.len());
        for (i, feature) in features.into_iter().enumerate() {
            let reject = |reason: String| FeatureRejection {
                index: feature.index,
                code: Some(feature.code.clone()),
                reason,
            };
            progress(i + 1, total);
            if self.unit_by_code(&feature.code).await?.is_some()
                || units.iter().any(|u: &NewUnit| u.code == feature.code)
            {
                rejected.push(reject(format!(
                    "a unit with code {} already exists",
                    feature.code
                )));
                continue;
            }
            let Some(parent) = self.unit_by_code(&feature.parent_code).await? else {
                rejected.push(reject(format!(
                    "parent unit {} does not exist",
                    feature.parent_code
                )));
                continue;
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
                id: new_id(),
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
        let n = units.len();
        let codes: Vec<String> = units.iter().map(|u| u.code.clone()).collect();
        let mut tx = self.begin_write().await?;
        for (i, unit) in units.into_iter().enumerate() {
            insert_unit_tx(&mut tx, unit).await?;
            progress(n + i + 1, total);
        }
        let changes = json!({"count": n, "codes": codes});
        log_admin(
            &mut tx,
            by,
            "grid.import",
            &format!("import:{}", new_id()),
            changes,
        )
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Creates a person with a password and a first role grant, logged.
    pub async fn create_user_logged(
        &self,
        username: &str,
        display_name: &str,
        password_hash: &str,
        first_grant: (Role, &str),
        by: &ChangeBy,
    ) -> Result<User, StoreError> {
        let mut tx = self.begin_write().await?;
        let account = NewAccount {
            username,
            display_name,
            password_hash: Some(password_hash),
        };
        let user = match insert_user_tx(&mut tx, account).await {
            Err(StoreError::Conflict(message)) => {
                return Err(StoreError::invalid("username", message));
            }
            other => other?,
        };
        let id = user.id.clone();
        grant_tx(&mut tx, &id, first_grant.0, first_grant.1).await?;
        let changes = json!({
            "username": user.username, "display_name": user.display_name,
            "role": first_grant.0.as_str(), "unit_id": first_grant.1,
        });
        log_admin(&mut tx, by, "user.create", &format!("user:{id}"), changes).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Grants a role at a unit (no change if already held), logged.
    pub async fn grant_role_logged(
        &self,
        user_id: &str,
        role: Role,
        unit_id: &str,
        by: &ChangeBy,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        if grant_tx(&mut tx, user_id, role, unit_id).await? {
            let changes = json!({"role": role.as_str(), "unit_id": unit_id});
            log_admin(
                &mut tx,
                by,
                "role.grant",
                &format!("user:{user_id}"),
                changes,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Revokes a role at a unit, logged. `NotFound` if it was not held.
    pub async fn revoke_role_logged(
        &self,
        user_id: &str,
        role: Role,
        unit_id: &str,
        by: &ChangeBy,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let removed = with_tx!(&mut tx, conn => {
            sqlx::query("DELETE FROM role_assignments WHERE user_id = $1 AND role = $2 AND unit_id = $3")
                .bind(user_id)
                .bind(role.as_str())
                .bind(unit_id)
                .execute(conn)
                .await?
                .rows_affected()
        });
        if removed == 0 {
            return Err(StoreError::NotFound("role grant"));
        }
        let changes = json!({"role": role.as_str(), "unit_id": unit_id});
        log_admin(
            &mut tx,
            by,
            "role.revoke",
            &format!("user:{user_id}"),
            changes,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets a new password (ending the user's sessions), logged without it.
    pub async fn reset_password_logged(
        &self,
        user_id: &str,
        password_hash: &str,
        by: &ChangeBy,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let done = with_tx!(&mut tx, conn => {
            sqlx::query("UPDATE users SET password_hash = $1, kind = 'person', updated_at = $2 WHERE id = $3")
                .bind(password_hash)
                .bind(now_micros())
                .bind(user_id)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("user"));
        }
        end_sessions_tx(&mut tx, user_id).await?;
        log_admin(
            &mut tx,
            by,
            "user.password_reset",
            &format!("user:{user_id}"),
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Disables (ending their sessions) or enables a user, logged.
    pub async fn set_user_disabled(
        &self,
        user_id: &str,
        disabled: bool,
        by: &ChangeBy,
    ) -> Result<(), StoreError> {
        let now = now_micros();
        let mut tx = self.begin_write().await?;
        let done = with_tx!(&mut tx, conn => {
            sqlx::query("UPDATE users SET disabled_at = $1, updated_at = $2 WHERE id = $3")
                .bind(disabled.then_some(now))
                .bind(now)
                .bind(user_id)
                .execute(&mut *conn)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("user"));
        }
        if disabled {
            end_sessions_tx(&mut tx, user_id).await?;
        }
        let action = if disabled {
            "user.disable"
        } else {
            "user.enable"
        };
        log_admin(&mut tx, by, action, &format!("user:{user_id}"), json!({})).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Logs an administrator's lifting of a user's login locks; the locks
    /// live in the server's memory, so only the log entry is stored.
    /// `locked_addresses` is how many addresses were locked (never which).
    pub async fn log_user_unlocked(
        &self,
        user_id: &str,
        locked_addresses: usize,
        by: &ChangeBy,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        log_admin(
            &mut tx,
            by,
            "user.unlock",
            &format!("user:{user_id}"),
            json!({"locked_addresses": locked_addresses}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A user by id, disabled or not.
    pub async fn user_by_id(&self, user_id: &str) -> Result<Option<User>, StoreError> {
        with_pool!(self, pool => {
            match sqlx::query("SELECT id, username, display_name, kind, disabled_at, created_at FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(pool)
                .await?
            {
                Some(row) => Ok(Some(user_from_row!(row))),
                None => Ok(None),
            }
        })
    }

    /// The newest category/routing revision, if any was made.
    pub async fn latest_taxonomy_revision(&self) -> Result<Option<TaxonomyRevision>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query(
                "SELECT revision, categories, routing, created_by, created_at FROM taxonomy_revisions \
                 ORDER BY revision DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await?;
            match row {
                Some(r) => Ok(Some(TaxonomyRevision {
                    revision: r.try_get("revision")?,
                    categories: r.try_get("categories")?,
                    routing: r.try_get("routing")?,
                    created_by: r.try_get("created_by")?,
                    created_at: r.try_get("created_at")?,
                })),
                None => Ok(None),
            }
        })
    }

    /// Saves a new revision of the admin layer and logs what changed.
    /// `after` is the revision it was made from: a concurrent save makes the
    /// second one fail with a conflict instead of silently dropping the first.
    pub async fn add_taxonomy_revision(
        &self,
        after: i64,
        categories: &str,
        routing: &str,
        change: Value,
        by: &ChangeBy,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let latest: i64 = with_tx!(&mut tx, conn => {
            sqlx::query("SELECT COALESCE(MAX(revision), 0) AS n FROM taxonomy_revisions")
                .fetch_one(conn)
                .await?
                .try_get::<i64, _>("n")?
        });
        if latest != after {
            return Err(StoreError::Conflict(format!(
                "revision {latest} was saved meanwhile; reload and try again"
            )));
        }
        let revision = latest + 1;
        with_tx!(&mut tx, conn => {
            sqlx::query(
                "INSERT INTO taxonomy_revisions (revision, categories, routing, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(revision)
            .bind(categories)
            .bind(routing)
            .bind(&by.actor_id)
            .bind(now_micros())
            .execute(conn)
            .await?;
        });
        let action = change
            .get("action")
            .and_then(Value::as_str)
            .unwrap_or("taxonomy.revise")
            .to_string();
        let changes = json!({"revision": revision, "change": change});
        log_admin(
            &mut tx,
            by,
            &action,
            &format!("taxonomy:{revision}"),
            changes,
        )
        .await?;
        tx.commit().await?;
        Ok(revision)
    }
}

async fn end_sessions_tx(tx: &mut Tx, user_id: &str) -> Result<(), StoreError> {
    with_tx!(tx, conn => {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(conn)
            .await?;
    });
    Ok(())
}
