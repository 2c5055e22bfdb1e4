//! Staff users, their role assignments, API keys and login sessions.

use serde::Serialize;
use sqlx::Row;

use gongzhi_domain::access::{Actor, Assignment};
use gongzhi_domain::ids::new_id;
use gongzhi_domain::role::Role;
use gongzhi_domain::time::{Micros, now_micros};

use crate::db::{Db, Tx, with_pool, with_tx};
use crate::error::StoreError;

#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub username: String,
    pub display_name: String,
    /// `person` (logs in with a password) or `system` (API keys only).
    pub kind: String,
    pub disabled: bool,
    pub created_at: Micros,
}

#[derive(Debug, Clone, Serialize)]
pub struct UserWithRoles {
    #[serde(flatten)]
    pub user: User,
    pub roles: Vec<RoleGrant>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RoleGrant {
    pub role: Role,
    pub unit_id: String,
    pub unit_code: String,
    pub unit_name: String,
}

/// A user found for login, with the stored password hash to check.
#[derive(Debug, Clone)]
pub struct LoginCandidate {
    pub user_id: String,
    pub password_hash: Option<String>,
    pub disabled: bool,
}

macro_rules! user_from_row {
    ($row:expr) => {{
        let row = $row;
        let disabled_at: Option<i64> = row.try_get("disabled_at")?;
        User {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
            display_name: row.try_get("display_name")?,
            kind: row.try_get("kind")?,
            disabled: disabled_at.is_some(),
            created_at: row.try_get("created_at")?,
        }
    }};
}
pub(crate) use user_from_row;

pub fn validate_username(username: &str) -> Result<(), StoreError> {
    let ok = (2..=64).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid(
            "username",
            "must be 2 to 64 characters of a-z, 0-9, '.', '_' or '-'",
        ))
    }
}

/// A new account: a person (with a password hash) or a system account
/// (API keys only, `password_hash` is `None`).
#[derive(Debug, Clone, Copy)]
pub struct NewAccount<'a> {
    pub username: &'a str,
    pub display_name: &'a str,
    pub password_hash: Option<&'a str>,
}

/// Inserts a user row; a taken username is a `Conflict`.
pub(crate) async fn insert_user_tx(
    tx: &mut Tx,
    account: NewAccount<'_>,
) -> Result<User, StoreError> {
    validate_username(account.username)?;
    let display_name = account.display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 100 {
        return Err(StoreError::invalid(
            "display_name",
            "must be 1 to 100 characters",
        ));
    }
    let id = new_id();
    let now = now_micros();
    let kind = if account.password_hash.is_some() {
        "person"
    } else {
        "system"
    };
    let inserted = with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO users (id, username, display_name, password_hash, kind, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(&id)
        .bind(account.username)
        .bind(display_name)
        .bind(account.password_hash)
        .bind(kind)
        .bind(now)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
    });
    if let Err(e) = inserted {
        let err = StoreError::from(e);
        if err.is_unique_violation() {
            return Err(StoreError::Conflict(format!(
                "user {} already exists",
                account.username
            )));
        }
        return Err(err);
    }
    Ok(User {
        id,
        username: account.username.to_string(),
        display_name: display_name.to_string(),
        kind: kind.to_string(),
        disabled: false,
        created_at: now,
    })
}

/// Inserts a grant; `false` when it was already held.
pub(crate) async fn grant_tx(
    tx: &mut Tx,
    user_id: &str,
    role: Role,
    unit_id: &str,
) -> Result<bool, StoreError> {
    let res = with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO role_assignments (id, user_id, role, unit_id, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (user_id, role, unit_id) DO NOTHING",
        )
        .bind(new_id())
        .bind(user_id)
        .bind(role.as_str())
        .bind(unit_id)
        .bind(now_micros())
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
    });
    match res {
        Ok(n) => Ok(n > 0),
        Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => {
            Err(StoreError::invalid("unit_id", format!("no unit {unit_id}")))
        }
        Err(e) => Err(e.into()),
    }
}

impl Db {
    /// Creates a user. `password_hash` is an argon2id PHC string, or `None` for a
    /// system account that authenticates with API keys.
    pub async fn create_user(
        &self,
        username: &str,
        display_name: &str,
        password_hash: Option<&str>,
    ) -> Result<User, StoreError> {
        let mut tx = self.begin_write().await?;
        let account = NewAccount {
            username,
            display_name,
            password_hash,
        };
        let user = insert_user_tx(&mut tx, account).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn set_password_hash(&self, username: &str, hash: &str) -> Result<(), StoreError> {
        let done = with_pool!(self, pool => {
            sqlx::query("UPDATE users SET password_hash = $1, kind = 'person', updated_at = $2 WHERE username = $3")
                .bind(hash)
                .bind(now_micros())
                .bind(username)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("user"));
        }
        // A new password ends every session of the old one.
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE username = $1)")
                .bind(username)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Grants a role at a unit (no change if already held); unlogged, for
    /// set-up paths (demo, CLI, API) — the admin pages use the logged one.
    pub async fn grant_role(
        &self,
        user_id: &str,
        role: Role,
        unit_id: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        grant_tx(&mut tx, user_id, role, unit_id).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
        with_pool!(self, pool => {
            match sqlx::query("SELECT * FROM users WHERE username = $1").bind(username).fetch_optional(pool).await? {
                Some(row) => Ok(Some(user_from_row!(row))),
                None => Ok(None),
            }
        })
    }

    pub async fn login_candidate(
        &self,
        username: &str,
    ) -> Result<Option<LoginCandidate>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT id, password_hash, disabled_at FROM users WHERE username = $1")
                .bind(username)
                .fetch_optional(pool)
                .await?;
            match row {
                None => Ok(None),
                Some(row) => Ok(Some(LoginCandidate {
                    user_id: row.try_get("id")?,
                    password_hash: row.try_get("password_hash")?,
                    disabled: row.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
                })),
            }
        })
    }

    /// Users with their role grants, ordered by username.
    pub async fn users_with_roles(&self) -> Result<Vec<UserWithRoles>, StoreError> {
        let mut users = Vec::new();
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT * FROM users ORDER BY username").fetch_all(pool).await?;
            for row in rows {
                users.push(UserWithRoles { user: user_from_row!(row), roles: Vec::new() });
            }
            let grants = sqlx::query(
                "SELECT r.user_id, r.role, r.unit_id, u.code, u.name FROM role_assignments r \
                 JOIN units u ON u.id = r.unit_id ORDER BY u.path, r.role",
            )
            .fetch_all(pool)
            .await?;
            for g in grants {
                let user_id: String = g.try_get("user_id")?;
                let role: String = g.try_get("role")?;
                let role = Role::intern(&role);
                if let Some(u) = users.iter_mut().find(|u| u.user.id == user_id) {
                    u.roles.push(RoleGrant {
                        role,
                        unit_id: g.try_get("unit_id")?,
                        unit_code: g.try_get("code")?,
                        unit_name: g.try_get("name")?,
                    });
                }
            }
        });
        Ok(users)
    }

    /// The actor for a user id: the user and every role assignment with its
    /// scope path. `None` when the user does not exist or is disabled.
    pub async fn actor(&self, user_id: &str) -> Result<Option<Actor>, StoreError> {
        with_pool!(self, pool => {
            let Some(row) = sqlx::query("SELECT * FROM users WHERE id = $1").bind(user_id).fetch_optional(pool).await? else {
                return Ok(None);
            };
            let user = user_from_row!(row);
            if user.disabled {
                return Ok(None);
            }
            let rows = sqlx::query(
                "SELECT r.role, r.unit_id, u.path FROM role_assignments r JOIN units u ON u.id = r.unit_id \
                 WHERE r.user_id = $1 ORDER BY u.path, r.role",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?;
            let mut assignments = Vec::with_capacity(rows.len());
            for r in rows {
                let role: String = r.try_get("role")?;
                let role = Role::intern(&role);
                // Whether the grant covers only assigned cases is the role's
                // declaration, applied where packs are known (the web state).
                assignments.push(Assignment { role, unit_id: r.try_get("unit_id")?, unit_path: r.try_get("path")?, assigned_only: false });
            }
            Ok(Some(Actor { user_id: user.id, username: user.username, display_name: user.display_name, assignments }))
        })
    }

    // ---- sessions -------------------------------------------------------------

    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: &str,
        csrf_token: &str,
        expires_at: Micros,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(token_hash)
                .bind(user_id)
                .bind(csrf_token)
                .bind(now_micros())
                .bind(expires_at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The user id and CSRF token of a live session.
    pub async fn session(
        &self,
        token_hash: &str,
        now: Micros,
    ) -> Result<Option<(String, String)>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT user_id, csrf_token FROM sessions WHERE token_hash = $1 AND expires_at > $2")
                .bind(token_hash)
                .bind(now)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(r) => Ok(Some((r.try_get("user_id")?, r.try_get("csrf_token")?))),
                None => Ok(None),
            }
        })
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(pool).await?;
        });
        Ok(())
    }

    pub async fn delete_expired_sessions(&self, now: Micros) -> Result<u64, StoreError> {
        with_pool!(self, pool => {
            Ok(sqlx::query("DELETE FROM sessions WHERE expires_at <= $1").bind(now).execute(pool).await?.rows_affected())
        })
    }

    // ---- API keys -------------------------------------------------------------

    pub async fn create_api_key(
        &self,
        user_id: &str,
        name: &str,
        key_hash: &str,
        prefix: &str,
    ) -> Result<String, StoreError> {
        if name.trim().is_empty() || name.chars().count() > 100 {
            return Err(StoreError::invalid("name", "must be 1 to 100 characters"));
        }
        let id = new_id();
        with_pool!(self, pool => {
            sqlx::query("INSERT INTO api_keys (id, user_id, name, key_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&id)
                .bind(user_id)
                .bind(name)
                .bind(key_hash)
                .bind(prefix)
                .bind(now_micros())
                .execute(pool)
                .await?;
        });
        Ok(id)
    }

    /// The user id owning a live API key.
    pub async fn api_key_user(&self, key_hash: &str) -> Result<Option<String>, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT user_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
                .bind(key_hash)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(r) => Ok(Some(r.try_get("user_id")?)),
                None => Ok(None),
            }
        })
    }
}
