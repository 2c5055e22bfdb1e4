//! Accounts made outside the admin pages (API, command line) and API keys:
//! issuing, listing, revoking, last use. Each change and its `admin.*` log
//! entry are written in one transaction; a key's hash never enters an entry.

use serde::Serialize;
use serde_json::json;
use sqlx::Row;

use gongzhi_domain::ids::new_id;
use gongzhi_domain::role::Role;
use gongzhi_domain::time::{Micros, now_micros};

use crate::admin_log::{ChangeBy, log_admin};
use crate::db::{Db, Tx, with_pool, with_tx};
use crate::error::StoreError;
use crate::users::{NewAccount, User, grant_tx, insert_user_tx, user_from_row};

/// An API key as its account's administrators see it: never the key itself.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyInfo {
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    pub created_at: Micros,
    /// Username of whoever issued it; `None` for the command line or set-up.
    pub created_by: Option<String>,
    /// Last use, to within the server's key cache time.
    pub last_used_at: Option<Micros>,
    pub revoked_at: Option<Micros>,
    pub revoked_by: Option<String>,
}

/// What issuing a key needs. The key itself is made by the caller; only its
/// hash is stored.
#[derive(Debug, Clone, Copy)]
pub struct IssueKey<'a> {
    /// The system account the key belongs to (created if new).
    pub username: &'a str,
    /// The key's name, also the display name of a new account.
    pub name: &'a str,
    pub key_hash: &'a str,
    pub prefix: &'a str,
}

/// Creates the account and logs it (never the password hash).
pub(crate) async fn create_account_tx(
    tx: &mut Tx,
    account: NewAccount<'_>,
    by: &ChangeBy,
) -> Result<User, StoreError> {
    let user = insert_user_tx(tx, account).await?;
    let changes = json!({
        "username": user.username, "display_name": user.display_name, "kind": user.kind,
    });
    log_admin(tx, by, "user.create", &format!("user:{}", user.id), changes).await?;
    Ok(user)
}

/// Grants each role (a grant already held changes nothing), logging each new one.
pub(crate) async fn grant_roles_tx(
    tx: &mut Tx,
    user_id: &str,
    grants: &[(Role, String)],
    by: &ChangeBy,
) -> Result<(), StoreError> {
    for (role, unit_id) in grants {
        if grant_tx(tx, user_id, *role, unit_id).await? {
            let changes = json!({"role": role.as_str(), "unit_id": unit_id});
            log_admin(tx, by, "role.grant", &format!("user:{user_id}"), changes).await?;
        }
    }
    Ok(())
}

/// The unit paths of every grant the user holds, read inside the transaction
/// that is about to act on the account.
async fn grant_paths_tx(tx: &mut Tx, user_id: &str) -> Result<Vec<String>, StoreError> {
    with_tx!(tx, conn => {
        let rows = sqlx::query(
            "SELECT u.path FROM role_assignments r JOIN units u ON u.id = r.unit_id WHERE r.user_id = $1",
        )
        .bind(user_id)
        .fetch_all(conn)
        .await?;
        let mut paths = Vec::with_capacity(rows.len());
        for row in &rows {
            paths.push(row.try_get("path")?);
        }
        Ok(paths)
    })
}

async fn user_by_username_tx(tx: &mut Tx, username: &str) -> Result<Option<User>, StoreError> {
    with_tx!(tx, conn => {
        let row = sqlx::query(
            "SELECT id, username, display_name, kind, disabled_at, created_at FROM users WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(conn)
        .await?;
        match row {
            Some(row) => Ok(Some(user_from_row!(row))),
            None => Ok(None),
        }
    })
}

fn check_key_name(name: &str) -> Result<(), StoreError> {
    if name.trim().is_empty() || name.chars().count() > 100 {
        return Err(StoreError::invalid("name", "must be 1 to 100 characters"));
    }
    Ok(())
}

/// An `ApiKeyInfo` from a row of `KEY_COLUMNS`, on either backend.
macro_rules! key_from_row {
    ($row:expr) => {{
        let row = $row;
        ApiKeyInfo {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            name: row.try_get("name")?,
            prefix: row.try_get("prefix")?,
            created_at: row.try_get("created_at")?,
            created_by: row.try_get("created_by_name")?,
            last_used_at: row.try_get("last_used_at")?,
            revoked_at: row.try_get("revoked_at")?,
            revoked_by: row.try_get("revoked_by_name")?,
        }
    }};
}

const KEY_COLUMNS: &str = "k.id, k.user_id, k.name, k.prefix, k.created_at, k.last_used_at, k.revoked_at, \
     c.username AS created_by_name, r.username AS revoked_by_name \
     FROM api_keys k LEFT JOIN users c ON c.id = k.created_by LEFT JOIN users r ON r.id = k.revoked_by";

impl Db {
    /// Creates an account with its first grants, all logged in one
    /// transaction. The caller has checked that every grant lies inside the
    /// author's administration.
    pub async fn create_account_logged(
        &self,
        account: NewAccount<'_>,
        grants: &[(Role, String)],
        by: &ChangeBy,
    ) -> Result<User, StoreError> {
        let mut tx = self.begin_write().await?;
        let user = create_account_tx(&mut tx, account, by).await?;
        grant_roles_tx(&mut tx, &user.id, grants, by).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Issues an API key for a system account, creating the account if new
    /// and adding `grants`, all logged in one transaction. `may_manage` is
    /// asked, inside that transaction, about the unit paths of every grant an
    /// existing account already holds: a key hands over all of them, so the
    /// author must administer each one. Refused: `Forbidden`, nothing stored.
    pub async fn issue_api_key_logged(
        &self,
        key: IssueKey<'_>,
        grants: &[(Role, String)],
        may_manage: impl Fn(&[String]) -> bool,
        by: &ChangeBy,
    ) -> Result<(String, User), StoreError> {
        check_key_name(key.name)?;
        let mut tx = self.begin_write().await?;
        let user = match user_by_username_tx(&mut tx, key.username).await? {
            Some(user) if user.kind != "system" => {
                return Err(StoreError::invalid(
                    "username",
                    "names a person; API keys belong to system accounts",
                ));
            }
            Some(user) => {
                if !may_manage(&grant_paths_tx(&mut tx, &user.id).await?) {
                    return Err(StoreError::Forbidden(format!(
                        "account {} holds a role outside your administration",
                        user.username
                    )));
                }
                user
            }
            None => {
                let account = NewAccount {
                    username: key.username,
                    display_name: key.name,
                    password_hash: None,
                };
                create_account_tx(&mut tx, account, by).await?
            }
        };
        grant_roles_tx(&mut tx, &user.id, grants, by).await?;
        let id = new_id();
        with_tx!(&mut tx, conn => {
            sqlx::query(
                "INSERT INTO api_keys (id, user_id, name, key_hash, prefix, created_at, created_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&id)
            .bind(&user.id)
            .bind(key.name.trim())
            .bind(key.key_hash)
            .bind(key.prefix)
            .bind(now_micros())
            .bind(by.actor_id.as_deref())
            .execute(conn)
            .await?;
        });
        let changes = json!({"key_id": id, "name": key.name.trim(), "prefix": key.prefix});
        log_admin(
            &mut tx,
            by,
            "api_key.create",
            &format!("user:{}", user.id),
            changes,
        )
        .await?;
        tx.commit().await?;
        Ok((id, user))
    }

    /// The account's keys, newest first, revoked ones included.
    pub async fn api_keys_of(&self, user_id: &str) -> Result<Vec<ApiKeyInfo>, StoreError> {
        let sql =
            format!("SELECT {KEY_COLUMNS} WHERE k.user_id = $1 ORDER BY k.created_at DESC, k.id");
        with_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(user_id).fetch_all(pool).await?;
            let mut keys = Vec::with_capacity(rows.len());
            for row in &rows {
                keys.push(key_from_row!(row));
            }
            Ok(keys)
        })
    }

    /// One key by id.
    pub async fn api_key(&self, key_id: &str) -> Result<Option<ApiKeyInfo>, StoreError> {
        let sql = format!("SELECT {KEY_COLUMNS} WHERE k.id = $1");
        with_pool!(self, pool => {
            match sqlx::query(&sql).bind(key_id).fetch_optional(pool).await? {
                Some(r) => Ok(Some(key_from_row!(&r))),
                None => Ok(None),
            }
        })
    }

    /// Revokes a live key, logged. `NotFound` when there is no such key;
    /// `Conflict` when it was revoked already.
    pub async fn revoke_api_key_logged(
        &self,
        key_id: &str,
        by: &ChangeBy,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let found: Option<(String, String, Option<i64>)> = with_tx!(&mut tx, conn => {
            let row = sqlx::query("SELECT user_id, prefix, revoked_at FROM api_keys WHERE id = $1")
                .bind(key_id)
                .fetch_optional(conn)
                .await?;
            match row {
                Some(r) => Some((r.try_get("user_id")?, r.try_get("prefix")?, r.try_get("revoked_at")?)),
                None => None,
            }
        });
        let Some((user_id, prefix, revoked_at)) = found else {
            return Err(StoreError::NotFound("api key"));
        };
        if revoked_at.is_some() {
            return Err(StoreError::Conflict("the key was revoked already".into()));
        }
        with_tx!(&mut tx, conn => {
            sqlx::query("UPDATE api_keys SET revoked_at = $1, revoked_by = $2 WHERE id = $3 AND revoked_at IS NULL")
                .bind(now_micros())
                .bind(by.actor_id.as_deref())
                .bind(key_id)
                .execute(conn)
                .await?;
        });
        let changes = json!({"key_id": key_id, "prefix": prefix});
        log_admin(
            &mut tx,
            by,
            "api_key.revoke",
            &format!("user:{user_id}"),
            changes,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records a use of the key. Called when the key is resolved from the
    /// database (at most once per cache period), so it costs little.
    pub async fn touch_api_key(&self, key_hash: &str, at: Micros) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE key_hash = $2")
                .bind(at)
                .bind(key_hash)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The unit paths of every grant the user holds.
    pub async fn grant_paths(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT u.path FROM role_assignments r JOIN units u ON u.id = r.unit_id WHERE r.user_id = $1",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?;
            let mut paths = Vec::with_capacity(rows.len());
            for row in &rows {
                paths.push(row.try_get("path")?);
            }
            Ok(paths)
        })
    }
}
