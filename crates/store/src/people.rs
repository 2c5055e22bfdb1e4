//! Person fields: a case assigned to a staff member (a mediator, a case
//! officer) as well as to a unit. A person field names a user who must hold
//! one of the field's roles over the unit holding the case; when the case
//! moves to a unit the person does not work for, the field is cleared in the
//! same logged step, so an assignment never outlives the unit it was made in.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use gongzhi_domain::conflict::Conflict;
use gongzhi_domain::engine::{FieldChange, Transition};
use gongzhi_domain::pack::{CaseType, FieldKind};
use gongzhi_domain::role::Role;
use gongzhi_domain::unit::path_within;

use crate::admin_log::{ChangeBy, log_admin};
use crate::case_rows::CaseRecord;
use crate::db::{Db, Tx, with_pool, with_tx};
use crate::error::ActError;
use crate::error::StoreError;

/// A staff member who may be named in a person field, with their load.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    /// The roles (of the field's) they hold over the holding unit.
    pub roles: Vec<Role>,
    /// Open cases assigned to them now, of any type.
    pub open_cases: i64,
    /// How they stand to the case's parties, for a field with `conflict_check`.
    pub conflict: Option<Conflict>,
    /// What they are experienced in (options of the field's `expertise`
    /// choice field), in option order.
    pub expertise: Vec<String>,
    /// Whether that includes the case's own value of the choice field.
    pub knows_this: bool,
}

fn refuse(field: &str, message: impl Into<String>) -> ActError {
    ActError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

fn person_roles<'a>(case_type: &'a CaseType, key: &str) -> Option<&'a [Role]> {
    match case_type.fields.get(key).map(|f| &f.kind) {
        Some(FieldKind::Person { roles, .. }) => Some(roles),
        _ => None,
    }
}

/// Which of `roles` the user holds over `unit_path`; none when the account
/// is missing or disabled.
async fn roles_held_tx(
    tx: &mut Tx,
    user_id: &str,
    roles: &[Role],
    unit_path: &str,
) -> Result<Vec<Role>, StoreError> {
    let grants: Vec<(String, String)> = with_tx!(tx, conn => {
        let rows = sqlx::query(
            "SELECT r.role, u.path FROM role_assignments r JOIN units u ON u.id = r.unit_id \
             JOIN users a ON a.id = r.user_id WHERE r.user_id = $1 AND a.disabled_at IS NULL",
        )
        .bind(user_id)
        .fetch_all(conn)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push((r.try_get("role")?, r.try_get("path")?));
        }
        out
    });
    let mut held: Vec<Role> = roles
        .iter()
        .copied()
        .filter(|role| {
            grants
                .iter()
                .any(|(r, p)| r == role.as_str() && path_within(unit_path, p))
        })
        .collect();
    held.dedup();
    Ok(held)
}

async fn unit_path_tx(tx: &mut Tx, unit_id: &str) -> Result<String, StoreError> {
    with_tx!(tx, conn => {
        let row = sqlx::query("SELECT path FROM units WHERE id = $1")
            .bind(unit_id)
            .fetch_optional(conn)
            .await?
            .ok_or(StoreError::NotFound("the holding unit"))?;
        Ok(row.try_get::<String, _>("path")?)
    })
}

/// At creation no one is assigned yet: the unit that registers a case
/// assigns it by an action, where the choice is checked and logged.
pub(crate) fn refuse_people_at_creation(
    case_type: &CaseType,
    transition: &Transition,
) -> Result<(), ActError> {
    for change in &transition.changes {
        if person_roles(case_type, &change.key).is_some() && change.after.is_some() {
            return Err(refuse(
                &change.key,
                "a person is assigned by an action once the case is registered",
            ));
        }
    }
    Ok(())
}

/// What settling the person fields decided: the bound assignee, and the
/// conflicts of interest accepted with a reason (field, conflict), which the
/// log entry records.
pub(crate) struct Settled {
    pub assignee: Option<String>,
    pub warnings: Vec<(String, Conflict)>,
}

/// The unit that will hold the case after an action, and whether it is
/// another than today's.
pub(crate) struct HolderMove<'a> {
    pub unit_id: &'a str,
    pub changed: bool,
}

/// Refuses a person barred by a conflict of interest with the case's
/// parties; a warning needs the action's reason. Returns the warning.
async fn check_conflict_tx(
    tx: &mut Tx,
    case_id: &str,
    key: &str,
    user_id: &str,
    has_reason: bool,
) -> Result<Option<Conflict>, ActError> {
    match crate::conflicts::conflict_of_tx(tx, case_id, user_id).await? {
        None => Ok(None),
        Some(c) if c.bars() => Err(refuse(key, c.message())),
        Some(c) if !has_reason => Err(refuse("reason", c.message())),
        Some(c) => Ok(Some(c)),
    }
}

/// Checks the person fields an action sets against the unit that will hold
/// the case (and, where the field asks, against conflicts of interest), and
/// clears those a move to another unit leaves without standing (recorded as
/// changes of the same entry).
pub(crate) async fn settle_people_tx(
    tx: &mut Tx,
    case_type: &CaseType,
    case_id: &str,
    transition: &mut Transition,
    actor_user_id: &str,
    holder: HolderMove<'_>,
) -> Result<Settled, ActError> {
    let HolderMove {
        unit_id: holder_unit_id,
        changed: holder_changed,
    } = holder;
    let mut warnings = Vec::new();
    let person_keys: Vec<(String, Vec<Role>, bool)> = case_type
        .fields
        .values()
        .filter_map(|f| match &f.kind {
            FieldKind::Person {
                roles,
                conflict_check,
                ..
            } => Some((f.key.clone(), roles.clone(), *conflict_check)),
            _ => None,
        })
        .collect();
    if !person_keys.is_empty() {
        let path = unit_path_tx(tx, holder_unit_id).await?;
        for (key, roles, conflict_check) in &person_keys {
            let Some(Value::String(user_id)) = transition.fields.get(key).cloned() else {
                continue;
            };
            let changed = transition.changes.iter().any(|c| &c.key == key);
            // A party added after the assignment may bar the person already
            // named: they step aside (回避) and act no more until another
            // takes the case over.
            if !changed && *conflict_check && user_id == actor_user_id {
                let found = crate::conflicts::conflict_of_tx(tx, case_id, &user_id).await?;
                if let Some(c) = found.filter(|c| c.bars()) {
                    return Err(refuse(key, c.step_aside_message()));
                }
            }
            if !changed && !holder_changed {
                continue;
            }
            if !roles_held_tx(tx, &user_id, roles, &path).await?.is_empty() {
                if changed && *conflict_check {
                    let has_reason = transition.reason.is_some();
                    if let Some(c) =
                        check_conflict_tx(tx, case_id, key, &user_id, has_reason).await?
                    {
                        warnings.push((key.clone(), c));
                    }
                }
                continue;
            }
            if changed {
                let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                return Err(refuse(
                    key,
                    format!(
                        "this person does not hold the role {} over the unit holding the case",
                        names.join(" or ")
                    ),
                ));
            }
            // The case moved where this person does not work: let go.
            transition.fields.remove(key);
            let personal = case_type.fields.get(key).is_some_and(|f| f.personal);
            transition.changes.push(FieldChange {
                key: key.clone(),
                before: Some(Value::String(user_id)),
                after: None,
                personal,
            });
        }
        transition.changes.sort_by(|a, b| a.key.cmp(&b.key));
    }
    let assignee = case_type
        .bindings
        .assignee
        .as_ref()
        .and_then(|key| transition.fields.get(key))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(Settled { assignee, warnings })
}

impl Db {
    /// Staff who may be named in person field `key` of a case held at
    /// `holder_unit_id`, with how many open cases each has assigned now.
    pub async fn person_candidates(
        &self,
        case_type: &CaseType,
        key: &str,
        case: &CaseRecord,
    ) -> Result<Vec<Candidate>, StoreError> {
        let mut out = self
            .candidates_by_role(case_type, key, &case.holder_unit_id)
            .await?;
        let kind = case_type.fields.get(key).map(|f| &f.kind);
        let checked = matches!(
            kind,
            Some(FieldKind::Person {
                conflict_check: true,
                ..
            })
        );
        if checked && !out.is_empty() {
            let ids: Vec<String> = out.iter().map(|c| c.user_id.clone()).collect();
            for (candidate, (_, conflict)) in out
                .iter_mut()
                .zip(self.conflicts_for(&case.id, &ids).await?)
            {
                candidate.conflict = conflict;
            }
        }
        if let Some(FieldKind::Person {
            expertise: Some(choice),
            ..
        }) = kind
            && !out.is_empty()
        {
            let ids: Vec<String> = out.iter().map(|c| c.user_id.clone()).collect();
            let known = self.expertise_of(&ids, &case_type.pack_id, choice).await?;
            let wanted = case.fields.get(choice).and_then(Value::as_str);
            let order = choice_order(case_type, choice);
            for c in &mut out {
                let mut values = known.get(&c.user_id).cloned().unwrap_or_default();
                values.sort_by_key(|v| order.iter().position(|o| o == v));
                c.knows_this = wanted.is_some_and(|w| values.iter().any(|v| v == w));
                c.expertise = values;
            }
            // Those who know this kind of case first; then the least loaded.
            out.sort_by_key(|c| (!c.knows_this, c.open_cases));
        }
        Ok(out)
    }

    async fn candidates_by_role(
        &self,
        case_type: &CaseType,
        key: &str,
        holder_unit_id: &str,
    ) -> Result<Vec<Candidate>, StoreError> {
        let Some(roles) = person_roles(case_type, key).filter(|r| !r.is_empty()) else {
            return Ok(Vec::new());
        };
        let names: Vec<String> = roles.iter().map(|r| r.as_str().to_string()).collect();
        with_pool!(self, pool => {
            let holder: Option<String> = sqlx::query("SELECT path FROM units WHERE id = $1")
                .bind(holder_unit_id)
                .fetch_optional(pool)
                .await?
                .map(|r| r.try_get("path"))
                .transpose()?;
            let Some(holder) = holder else {
                return Ok(Vec::new());
            };
            // Only grants of the field's roles: the load is counted for those.
            let marks: Vec<String> = (1..=names.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT a.id, a.username, a.display_name, r.role, u.path, \
                 (SELECT COUNT(*) FROM cases c WHERE c.assignee_user_id = a.id AND c.closed_at IS NULL) AS open_cases \
                 FROM role_assignments r JOIN units u ON u.id = r.unit_id JOIN users a ON a.id = r.user_id \
                 WHERE a.disabled_at IS NULL AND r.role IN ({}) ORDER BY a.display_name, a.id",
                marks.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for name in &names {
                q = q.bind(name);
            }
            let rows = q.fetch_all(pool).await?;
            let mut out: Vec<Candidate> = Vec::new();
            for row in rows {
                let role: String = row.try_get("role")?;
                let path: String = row.try_get("path")?;
                if !path_within(&holder, &path) {
                    continue;
                }
                let user_id: String = row.try_get("id")?;
                let role = Role::intern(&role);
                match out.iter_mut().find(|c| c.user_id == user_id) {
                    Some(c) if !c.roles.contains(&role) => c.roles.push(role),
                    Some(_) => {}
                    None => out.push(Candidate {
                        user_id,
                        username: row.try_get("username")?,
                        display_name: row.try_get("display_name")?,
                        roles: vec![role],
                        open_cases: row.try_get("open_cases")?,
                        conflict: None,
                        expertise: Vec::new(),
                        knows_this: false,
                    }),
                }
            }
            Ok(out)
        })
    }
}

/// The options of a choice field, in declared order.
fn choice_order(case_type: &CaseType, choice: &str) -> Vec<String> {
    match case_type.fields.get(choice).map(|f| &f.kind) {
        Some(FieldKind::Choice { options }) => options.iter().map(|o| o.value.clone()).collect(),
        _ => Vec::new(),
    }
}

impl Db {
    /// What each of `user_ids` is experienced in, as values of `pack`'s
    /// choice field `field`.
    pub async fn expertise_of(
        &self,
        user_ids: &[String],
        pack: &str,
        field: &str,
    ) -> Result<std::collections::HashMap<String, Vec<String>>, StoreError> {
        let mut out: std::collections::HashMap<String, Vec<String>> =
            std::collections::HashMap::new();
        if user_ids.is_empty() {
            return Ok(out);
        }
        let marks: Vec<String> = (3..user_ids.len() + 3).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT user_id, value FROM staff_expertise WHERE pack_id = $1 AND field = $2 \
             AND user_id IN ({}) ORDER BY value",
            marks.join(", ")
        );
        with_pool!(self, pool => {
            let mut q = sqlx::query(&sql).bind(pack).bind(field);
            for id in user_ids {
                q = q.bind(id);
            }
            for row in q.fetch_all(pool).await? {
                out.entry(row.try_get("user_id")?)
                    .or_default()
                    .push(row.try_get("value")?);
            }
        });
        Ok(out)
    }

    /// Replaces what `user_id` is experienced in for `pack`'s choice field
    /// `field` (the caller checked the values are its options); logged.
    pub async fn set_expertise_logged(
        &self,
        by: &ChangeBy,
        user_id: &str,
        pack: &str,
        field: &str,
        values: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let before: Vec<String> = with_tx!(&mut tx, conn => {
            let rows = sqlx::query(
                "SELECT value FROM staff_expertise WHERE user_id = $1 AND pack_id = $2 AND field = $3 ORDER BY value",
            )
            .bind(user_id)
            .bind(pack)
            .bind(field)
            .fetch_all(&mut *conn)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(r.try_get("value")?);
            }
            out
        });
        let mut after: Vec<String> = values.to_vec();
        after.sort();
        after.dedup();
        with_tx!(&mut tx, conn => {
            sqlx::query("DELETE FROM staff_expertise WHERE user_id = $1 AND pack_id = $2 AND field = $3")
                .bind(user_id)
                .bind(pack)
                .bind(field)
                .execute(&mut *conn)
                .await?;
            for value in &after {
                sqlx::query(
                    "INSERT INTO staff_expertise (user_id, pack_id, field, value) VALUES ($1, $2, $3, $4)",
                )
                .bind(user_id)
                .bind(pack)
                .bind(field)
                .bind(value)
                .execute(&mut *conn)
                .await?;
            }
        });
        let changes = serde_json::json!({
            "expertise": {"before": before, "after": after},
            "pack": pack,
            "field": field,
        });
        log_admin(
            &mut tx,
            by,
            "user.expertise",
            &format!("user:{user_id}"),
            changes,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Display names of these users, for showing person fields.
    pub async fn display_names(
        &self,
        user_ids: &[String],
    ) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let mut out = std::collections::HashMap::new();
        if user_ids.is_empty() {
            return Ok(out);
        }
        let marks: Vec<String> = (1..=user_ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, display_name FROM users WHERE id IN ({})",
            marks.join(", ")
        );
        with_pool!(self, pool => {
            let mut q = sqlx::query(&sql);
            for id in user_ids {
                q = q.bind(id);
            }
            for row in q.fetch_all(pool).await? {
                out.insert(row.try_get("id")?, row.try_get("display_name")?);
            }
        });
        Ok(out)
    }
}
