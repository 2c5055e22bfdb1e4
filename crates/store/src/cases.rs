//! Cases: creation and actions through the engine, the log, deadlines, reads.
//!
//! Every change goes through [`Db::act`]: in one write transaction it loads the
//! case, asks the pure engine for a decision, writes the new case row, closes and
//! opens deadlines, and appends the log entry. Either all of it lands or nothing.

use serde::Serialize;
use serde_json::{Map, Value, json};
use sqlx::Row;
use thiserror::Error;

use gongzhi_domain::access::{Actor, CaseScope};
use gongzhi_domain::calendar::WorkCalendar;
use gongzhi_domain::engine::{
    self, ActionRequest, CaseSnapshot, EngineError, TargetDecision, Transition,
};
use gongzhi_domain::ids::{new_id, new_salt, random_receipt_code};
use gongzhi_domain::log::{LogEntry, canonical_json, personal_digest};
use gongzhi_domain::pack::{DeadlineDef, EscalateTo, Expiry, PackSet};
use gongzhi_domain::time::Micros;

use crate::db::{Db, Tx, with_pool, with_tx};
use crate::error::StoreError;

/// Why an action was refused. Nothing was written.
#[derive(Debug, Error)]
pub enum ActError {
    /// No such case, or not visible to this actor (the two look the same).
    #[error("case not found")]
    CaseNotFound,
    #[error("unknown case type {pack}/{case_type}")]
    UnknownCaseType { pack: String, case_type: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("the case changed since version {expected}; reload and try again")]
    VersionConflict { expected: i64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ActError {
    fn from(e: sqlx::Error) -> Self {
        ActError::Store(StoreError::Database(e))
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ActError {
    ActError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

/// The rules an action is decided under: the loaded packs and the calendar.
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub packs: &'a PackSet,
    pub calendar: &'a WorkCalendar,
}

/// Where a new case lies: a point and the unit (usually a grid) it falls in.
#[derive(Debug, Clone, Default)]
pub struct Place {
    pub lng: Option<f64>,
    pub lat: Option<f64>,
    pub area_unit_id: Option<String>,
}

/// A request to create a case.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub pack: String,
    pub case_type: String,
    pub request: ActionRequest,
    pub place: Place,
    /// The unit the actor creates it for, when they hold the role at several.
    pub acting_unit: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadlineRecord {
    pub id: String,
    pub state: String,
    pub rule: String,
    pub calendar_version: String,
    pub started_at: Micros,
    pub due_at: Option<Micros>,
    pub warn_at: Option<Micros>,
    pub provisional: bool,
    pub on_expiry: String,
    pub status: String,
    pub warned_at: Option<Micros>,
    pub fired_at: Option<Micros>,
    pub closed_at: Option<Micros>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseRecord {
    pub id: String,
    pub receipt_code: String,
    pub pack: String,
    pub pack_version: String,
    pub case_type: String,
    pub state: String,
    pub fields: Map<String, Value>,
    pub holder_unit_id: String,
    pub holder_unit_name: String,
    pub area_unit_id: Option<String>,
    pub area_unit_name: Option<String>,
    pub lng: Option<f64>,
    pub lat: Option<f64>,
    pub overdue_since: Option<Micros>,
    pub version: i64,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub closed_at: Option<Micros>,
    #[serde(skip)]
    pub scope: CaseScopeRecord,
    #[serde(skip)]
    pub personal_salt: String,
}

/// The unit paths that place a case, for access decisions.
#[derive(Debug, Clone, Default)]
pub struct CaseScopeRecord {
    pub holder_path: String,
    pub area_path: Option<String>,
    pub holder_parent_id: Option<String>,
}

impl CaseRecord {
    pub fn access_scope(&self) -> CaseScope {
        CaseScope {
            holder_path: self.scope.holder_path.clone(),
            area_path: self.scope.area_path.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TimelineEntry {
    pub seq: i64,
    pub id: String,
    pub at: Micros,
    pub actor_id: Option<String>,
    pub actor_name: Option<String>,
    pub actor_unit_id: Option<String>,
    pub actor_unit_name: Option<String>,
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub changes: Value,
    pub reason: Option<String>,
    pub leaf_hash: String,
}

#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub state: Option<String>,
    pub holder_unit_id: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

const CASE_SELECT: &str = "SELECT c.*, h.name AS holder_name, h.path AS holder_path, h.parent_id AS holder_parent_id, \
     a.name AS area_name, a.path AS area_path \
     FROM cases c JOIN units h ON h.id = c.holder_unit_id LEFT JOIN units a ON a.id = c.area_unit_id";

macro_rules! case_from_row {
    ($row:expr) => {{
        let row = $row;
        let fields_text: String = row.try_get("fields")?;
        let fields: Map<String, Value> = serde_json::from_str(&fields_text)
            .map_err(|e| StoreError::Corrupt(format!("case fields: {e}")))?;
        CaseRecord {
            id: row.try_get("id")?,
            receipt_code: row.try_get("receipt_code")?,
            pack: row.try_get("pack_id")?,
            pack_version: row.try_get("pack_version")?,
            case_type: row.try_get("case_type")?,
            state: row.try_get("state")?,
            fields,
            holder_unit_id: row.try_get("holder_unit_id")?,
            holder_unit_name: row.try_get("holder_name")?,
            area_unit_id: row.try_get("area_unit_id")?,
            area_unit_name: row.try_get("area_name")?,
            lng: row.try_get("lng")?,
            lat: row.try_get("lat")?,
            overdue_since: row.try_get("overdue_since")?,
            version: row.try_get("version")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            closed_at: row.try_get("closed_at")?,
            scope: CaseScopeRecord {
                holder_path: row.try_get("holder_path")?,
                area_path: row.try_get("area_path")?,
                holder_parent_id: row.try_get("holder_parent_id")?,
            },
            personal_salt: row.try_get("personal_salt")?,
        }
    }};
}

macro_rules! deadline_from_row {
    ($row:expr) => {{
        let row = $row;
        DeadlineRecord {
            id: row.try_get("id")?,
            state: row.try_get("state")?,
            rule: row.try_get("rule")?,
            calendar_version: row.try_get("calendar_version")?,
            started_at: row.try_get("started_at")?,
            due_at: row.try_get("due_at")?,
            warn_at: row.try_get("warn_at")?,
            provisional: row.try_get::<i64, _>("provisional")? != 0,
            on_expiry: row.try_get("on_expiry")?,
            status: row.try_get("status")?,
            warned_at: row.try_get("warned_at")?,
            fired_at: row.try_get("fired_at")?,
            closed_at: row.try_get("closed_at")?,
        }
    }};
}

fn expiry_text(expiry: &Expiry) -> String {
    match expiry {
        Expiry::Warn => "warn".into(),
        Expiry::MarkOverdue => "mark_overdue".into(),
        Expiry::Escalate(EscalateTo::Parent) => "escalate:parent".into(),
        Expiry::Escalate(EscalateTo::Unit(code)) => format!("escalate:{code}"),
    }
}

/// The changes object of a log entry: `{key: {before, after}}`, personal values
/// replaced by salted digests.
fn changes_json(transition: &Transition, salt: &str, extra: Vec<(&str, Value, Value)>) -> String {
    let mut changes = Map::new();
    for change in &transition.changes {
        let conceal = |v: &Option<Value>| match v {
            Some(v) if change.personal && !v.is_null() => Value::String(personal_digest(salt, v)),
            Some(v) => v.clone(),
            None => Value::Null,
        };
        changes.insert(
            change.key.clone(),
            json!({"before": conceal(&change.before), "after": conceal(&change.after)}),
        );
    }
    for (key, before, after) in extra {
        changes.insert(key.to_string(), json!({"before": before, "after": after}));
    }
    canonical_json(&Value::Object(changes))
}

/// Appends one entry to the log inside the caller's transaction.
pub(crate) async fn append_log(tx: &mut Tx, mut entry: LogEntry) -> Result<LogEntry, StoreError> {
    let seq: i64 = with_tx!(tx, conn => {
        sqlx::query("UPDATE log_head SET next_seq = next_seq + 1 WHERE id = 1 RETURNING next_seq")
            .fetch_one(conn)
            .await?
            .try_get::<i64, _>("next_seq")?
    }) - 1;
    entry.seq = u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("log head {seq}")))?;
    let leaf = entry.leaf_hash_hex();
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO log_entries (seq, id, case_id, at, actor_id, actor_unit_id, action, from_state, to_state, changes, reason, leaf_hash) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(seq)
        .bind(&entry.id)
        .bind(&entry.case_id)
        .bind(entry.at)
        .bind(&entry.actor_id)
        .bind(&entry.actor_unit_id)
        .bind(&entry.action)
        .bind(&entry.from_state)
        .bind(&entry.to_state)
        .bind(&entry.changes)
        .bind(&entry.reason)
        .bind(&leaf)
        .execute(conn)
        .await?;
    });
    Ok(entry)
}

pub(crate) async fn load_case_tx(
    tx: &mut Tx,
    case_id: &str,
) -> Result<Option<CaseRecord>, StoreError> {
    let sql = format!("{CASE_SELECT} WHERE c.id = $1");
    with_tx!(tx, conn => {
        match sqlx::query(&sql).bind(case_id).fetch_optional(conn).await? {
            Some(row) => Ok(Some(case_from_row!(row))),
            None => Ok(None),
        }
    })
}

async fn unit_parent_tx(tx: &mut Tx, unit_id: &str) -> Result<Option<Option<String>>, StoreError> {
    with_tx!(tx, conn => {
        match sqlx::query("SELECT parent_id FROM units WHERE id = $1").bind(unit_id).fetch_optional(conn).await? {
            Some(row) => Ok(Some(row.try_get::<Option<String>, _>("parent_id")?)),
            None => Ok(None),
        }
    })
}

async fn unit_id_by_code_tx(tx: &mut Tx, code: &str) -> Result<Option<String>, StoreError> {
    with_tx!(tx, conn => {
        match sqlx::query("SELECT id FROM units WHERE code = $1").bind(code).fetch_optional(conn).await? {
            Some(row) => Ok(Some(row.try_get::<String, _>("id")?)),
            None => Ok(None),
        }
    })
}

/// Closes the case's open deadlines (the state they measured has ended).
async fn close_deadlines_tx(tx: &mut Tx, case_id: &str, at: Micros) -> Result<(), StoreError> {
    with_tx!(tx, conn => {
        sqlx::query("UPDATE deadlines SET status = 'met', closed_at = $1 WHERE case_id = $2 AND status IN ('active', 'suspended')")
            .bind(at)
            .bind(case_id)
            .execute(conn)
            .await?;
    });
    Ok(())
}

/// The warning time: `ratio` of the way from the start to the due time.
fn warn_time(start: Micros, due: Micros, ratio: f64) -> Micros {
    start + ((due - start) as f64 * ratio).round() as i64
}

async fn open_deadline_tx(
    tx: &mut Tx,
    calendar: &WorkCalendar,
    case_id: &str,
    state: &str,
    def: &DeadlineDef,
    at: Micros,
) -> Result<(), StoreError> {
    let due = calendar.due(at, def.rule);
    let warn_at = def.warn_at.map(|ratio| warn_time(at, due.at, ratio));
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO deadlines (id, case_id, state, rule, calendar_version, started_at, due_at, warn_ratio, warn_at, provisional, on_expiry, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active')",
        )
        .bind(new_id())
        .bind(case_id)
        .bind(state)
        .bind(def.rule.to_string())
        .bind(calendar.version())
        .bind(at)
        .bind(due.at)
        .bind(def.warn_at)
        .bind(warn_at)
        .bind(i64::from(due.provisional))
        .bind(expiry_text(&def.on_expiry))
        .execute(conn)
        .await?;
    });
    Ok(())
}

/// A deadline whose warning or due time has come.
struct DueDeadline {
    id: String,
    case_id: String,
    due_at: Option<i64>,
    warn_at: Option<i64>,
    warned_at: Option<i64>,
    on_expiry: String,
    state: String,
}

/// The outcome of an accepted action.
#[derive(Debug, Clone)]
pub struct Acted {
    pub case_id: String,
    pub log_entry: LogEntry,
}

impl Db {
    /// Creates a case through the pack's creation action, at time `at`.
    pub async fn create_case(
        &self,
        rules: Rules<'_>,
        actor: &Actor,
        new: NewCase,
        at: Micros,
    ) -> Result<Acted, ActError> {
        let mut tx = self.begin_write().await?;
        let acted = create_case_tx(&mut tx, rules, actor, new, at).await?;
        tx.commit().await?;
        Ok(acted)
    }

    /// Applies an action to a case at time `at`. `expected_version`, when given,
    /// must match the case's version (optimistic concurrency for forms).
    pub async fn act(
        &self,
        rules: Rules<'_>,
        actor: &Actor,
        case_id: &str,
        request: ActionRequest,
        expected_version: Option<i64>,
        at: Micros,
    ) -> Result<Acted, ActError> {
        let mut tx = self.begin_write().await?;
        let acted = act_tx(
            &mut tx,
            rules,
            actor,
            case_id,
            request,
            expected_version,
            at,
        )
        .await?;
        tx.commit().await?;
        Ok(acted)
    }

    /// A case as the actor may see it, or `None` if it does not exist or lies
    /// outside every scope of the actor.
    pub async fn case_for(
        &self,
        actor: &Actor,
        case_id: &str,
    ) -> Result<Option<CaseRecord>, StoreError> {
        let case = self.case_unscoped(case_id).await?;
        Ok(case.filter(|c| actor.can_see(&c.access_scope())))
    }

    /// A case regardless of who asks: for the system's own work only.
    pub async fn case_unscoped(&self, case_id: &str) -> Result<Option<CaseRecord>, StoreError> {
        let sql = format!("{CASE_SELECT} WHERE c.id = $1");
        with_pool!(self, pool => {
            match sqlx::query(&sql).bind(case_id).fetch_optional(pool).await? {
                Some(row) => Ok(Some(case_from_row!(row))),
                None => Ok(None),
            }
        })
    }

    /// Cases inside the actor's scopes, newest first.
    pub async fn cases_for(
        &self,
        actor: &Actor,
        filter: &CaseFilter,
    ) -> Result<Vec<CaseRecord>, StoreError> {
        let scopes = actor.scope_paths();
        if scopes.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = format!("{CASE_SELECT} WHERE (");
        for (i, _) in scopes.iter().enumerate() {
            let n = i + 1;
            if i > 0 {
                sql.push_str(" OR ");
            }
            // substr, not LIKE: unit ids may hold LIKE's wildcard characters.
            sql.push_str(&format!(
                "substr(h.path, 1, length(${n})) = ${n} OR substr(a.path, 1, length(${n})) = ${n}"
            ));
        }
        sql.push(')');
        let mut next = scopes.len() + 1;
        if filter.state.is_some() {
            sql.push_str(&format!(" AND c.state = ${next}"));
            next += 1;
        }
        if filter.holder_unit_id.is_some() {
            sql.push_str(&format!(" AND c.holder_unit_id = ${next}"));
            next += 1;
        }
        sql.push_str(&format!(
            " ORDER BY c.created_at DESC, c.id DESC LIMIT ${} OFFSET ${}",
            next,
            next + 1
        ));
        with_pool!(self, pool => {
            let mut q = sqlx::query(&sql);
            for s in &scopes {
                q = q.bind(s);
            }
            if let Some(state) = &filter.state {
                q = q.bind(state);
            }
            if let Some(unit) = &filter.holder_unit_id {
                q = q.bind(unit);
            }
            let rows = q.bind(filter.limit.clamp(1, 500)).bind(filter.offset.max(0)).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(case_from_row!(row));
            }
            Ok(out)
        })
    }

    pub async fn case_count(&self) -> Result<i64, StoreError> {
        with_pool!(self, pool => {
            Ok(sqlx::query("SELECT COUNT(*) AS n FROM cases").fetch_one(pool).await?.try_get::<i64, _>("n")?)
        })
    }

    pub async fn deadlines_of(&self, case_id: &str) -> Result<Vec<DeadlineRecord>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT * FROM deadlines WHERE case_id = $1 ORDER BY started_at, id")
                .bind(case_id)
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(deadline_from_row!(row));
            }
            Ok(out)
        })
    }

    /// The case's history, read from the log, oldest first.
    pub async fn timeline(&self, case_id: &str) -> Result<Vec<TimelineEntry>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT l.*, u.display_name AS actor_name, n.name AS unit_name FROM log_entries l \
                 LEFT JOIN users u ON u.id = l.actor_id LEFT JOIN units n ON n.id = l.actor_unit_id \
                 WHERE l.case_id = $1 ORDER BY l.seq",
            )
            .bind(case_id)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let changes: String = row.try_get("changes")?;
                out.push(TimelineEntry {
                    seq: row.try_get("seq")?,
                    id: row.try_get("id")?,
                    at: row.try_get("at")?,
                    actor_id: row.try_get("actor_id")?,
                    actor_name: row.try_get("actor_name")?,
                    actor_unit_id: row.try_get("actor_unit_id")?,
                    actor_unit_name: row.try_get("unit_name")?,
                    action: row.try_get("action")?,
                    from_state: row.try_get("from_state")?,
                    to_state: row.try_get("to_state")?,
                    changes: serde_json::from_str(&changes).map_err(|e| StoreError::Corrupt(format!("log changes: {e}")))?,
                    reason: row.try_get("reason")?,
                    leaf_hash: row.try_get("leaf_hash")?,
                });
            }
            Ok(out)
        })
    }

    /// Every log entry in order, as stored (for verification and proofs).
    pub async fn log_entries(
        &self,
        from_seq: i64,
        limit: i64,
    ) -> Result<Vec<(LogEntry, String)>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT * FROM log_entries WHERE seq >= $1 ORDER BY seq LIMIT $2")
                .bind(from_seq)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let seq: i64 = row.try_get("seq")?;
                out.push((
                    LogEntry {
                        seq: u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("seq {seq}")))?,
                        id: row.try_get("id")?,
                        case_id: row.try_get("case_id")?,
                        at: row.try_get("at")?,
                        actor_id: row.try_get("actor_id")?,
                        actor_unit_id: row.try_get("actor_unit_id")?,
                        action: row.try_get("action")?,
                        from_state: row.try_get("from_state")?,
                        to_state: row.try_get("to_state")?,
                        changes: row.try_get("changes")?,
                        reason: row.try_get("reason")?,
                    },
                    row.try_get::<String, _>("leaf_hash")?,
                ));
            }
            Ok(out)
        })
    }

    /// Records that a user read personal fields of a case, and why.
    pub async fn record_personal_read(
        &self,
        case_id: &str,
        user_id: &str,
        fields: &[String],
        purpose: &str,
        at: Micros,
    ) -> Result<(), StoreError> {
        with_pool!(self, pool => {
            sqlx::query("INSERT INTO personal_data_reads (id, case_id, user_id, fields, purpose, at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(new_id())
                .bind(case_id)
                .bind(user_id)
                .bind(fields.join(","))
                .bind(purpose)
                .bind(at)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn personal_reads_count(&self, case_id: &str) -> Result<i64, StoreError> {
        with_pool!(self, pool => {
            Ok(sqlx::query("SELECT COUNT(*) AS n FROM personal_data_reads WHERE case_id = $1")
                .bind(case_id)
                .fetch_one(pool)
                .await?
                .try_get::<i64, _>("n")?)
        })
    }

    /// Recomputes open deadlines that were provisional (they reached into a year
    /// without holiday data) with the calendar as now loaded. Returns how many
    /// changed. Run at start-up, after new holiday years are loaded.
    pub async fn recompute_provisional_deadlines(
        &self,
        calendar: &WorkCalendar,
    ) -> Result<usize, StoreError> {
        let rows: Vec<(String, String, i64, Option<f64>)> = with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, rule, started_at, warn_ratio FROM deadlines WHERE status = 'active' AND provisional = 1",
            )
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push((r.try_get("id")?, r.try_get("rule")?, r.try_get("started_at")?, r.try_get("warn_ratio")?));
            }
            out
        });
        let mut changed = 0;
        for (id, rule_text, started_at, warn_ratio) in rows {
            let rule: gongzhi_domain::duration::DurationRule = rule_text
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("deadline {id}: {e}")))?;
            let due = calendar.due(started_at, rule);
            let warn_at = warn_ratio.map(|ratio| warn_time(started_at, due.at, ratio));
            let n = with_pool!(self, pool => {
                sqlx::query(
                    "UPDATE deadlines SET due_at = $1, warn_at = $2, provisional = $3, calendar_version = $4 \
                     WHERE id = $5 AND status = 'active'",
                )
                .bind(due.at)
                .bind(warn_at)
                .bind(i64::from(due.provisional))
                .bind(calendar.version())
                .bind(&id)
                .execute(pool)
                .await?
                .rows_affected()
            });
            changed += n as usize;
        }
        Ok(changed)
    }

    /// Fires every deadline warning and expiry due at `now`, each exactly once:
    /// the conditional UPDATE that claims a deadline is what makes it once, even
    /// with several workers. Returns how many fired.
    pub async fn fire_due_deadlines(&self, now: Micros, batch: i64) -> Result<usize, StoreError> {
        let due: Vec<DueDeadline> = with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, case_id, due_at, warn_at, warned_at, on_expiry, state FROM deadlines \
                 WHERE status = 'active' AND (due_at <= $1 OR (warn_at <= $1 AND warned_at IS NULL)) \
                 ORDER BY due_at LIMIT $2",
            )
            .bind(now)
            .bind(batch)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(DueDeadline {
                    id: r.try_get("id")?,
                    case_id: r.try_get("case_id")?,
                    due_at: r.try_get("due_at")?,
                    warn_at: r.try_get("warn_at")?,
                    warned_at: r.try_get("warned_at")?,
                    on_expiry: r.try_get("on_expiry")?,
                    state: r.try_get("state")?,
                });
            }
            out
        });
        let mut fired = 0;
        for DueDeadline {
            id,
            case_id,
            due_at,
            warn_at,
            warned_at,
            on_expiry,
            state,
        } in due
        {
            let mut tx = self.begin_write().await?;
            let expired = due_at.is_some_and(|d| d <= now);
            let claimed = if expired {
                with_tx!(&mut tx, conn => {
                    sqlx::query("UPDATE deadlines SET status = 'expired', fired_at = $1 WHERE id = $2 AND status = 'active'")
                        .bind(now).bind(&id).execute(conn).await?.rows_affected()
                })
            } else if warn_at.is_some() && warned_at.is_none() {
                with_tx!(&mut tx, conn => {
                    sqlx::query("UPDATE deadlines SET warned_at = $1 WHERE id = $2 AND status = 'active' AND warned_at IS NULL")
                        .bind(now).bind(&id).execute(conn).await?.rows_affected()
                })
            } else {
                0
            };
            if claimed != 1 {
                continue;
            }
            let Some(case) = load_case_tx(&mut tx, &case_id).await? else {
                return Err(StoreError::Corrupt(format!(
                    "deadline {id} of missing case {case_id}"
                )));
            };
            let mut changes = Map::new();
            let action;
            if !expired {
                action = "deadline_warning";
                changes.insert("deadline".into(), json!({"before": null, "after": id}));
            } else {
                action = "deadline_expired";
                changes.insert("deadline".into(), json!({"before": null, "after": id}));
                let new_holder = match on_expiry.as_str() {
                    "warn" => None,
                    "mark_overdue" => {
                        if case.overdue_since.is_none() {
                            with_tx!(&mut tx, conn => {
                                sqlx::query("UPDATE cases SET overdue_since = $1, version = version + 1, updated_at = $2 WHERE id = $3")
                                    .bind(due_at).bind(now).bind(&case_id).execute(conn).await?;
                            });
                            changes.insert(
                                "overdue_since".into(),
                                json!({"before": null, "after": due_at}),
                            );
                        }
                        None
                    }
                    "escalate:parent" => case.scope.holder_parent_id.clone(),
                    other => match other.strip_prefix("escalate:") {
                        Some(code) => unit_id_by_code_tx(&mut tx, code).await?,
                        None => None,
                    },
                };
                if let Some(holder) = new_holder.filter(|h| *h != case.holder_unit_id) {
                    with_tx!(&mut tx, conn => {
                        sqlx::query("UPDATE cases SET holder_unit_id = $1, overdue_since = COALESCE(overdue_since, $2), version = version + 1, updated_at = $3 WHERE id = $4")
                            .bind(&holder).bind(due_at).bind(now).bind(&case_id).execute(conn).await?;
                    });
                    changes.insert(
                        "holder_unit_id".into(),
                        json!({"before": case.holder_unit_id, "after": holder}),
                    );
                }
            }
            append_log(
                &mut tx,
                LogEntry {
                    seq: 0,
                    id: new_id(),
                    case_id: case_id.clone(),
                    at: now,
                    actor_id: None,
                    actor_unit_id: None,
                    action: action.to_string(),
                    from_state: Some(state.clone()),
                    to_state: case.state.clone(),
                    changes: canonical_json(&Value::Object(changes)),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await?;
            fired += 1;
        }
        Ok(fired)
    }
}

/// Creation inside a caller's transaction (used by imports and the demo loader
/// to batch many cases in one commit).
pub async fn create_case_tx(
    tx: &mut Tx,
    rules: Rules<'_>,
    actor: &Actor,
    new: NewCase,
    at: Micros,
) -> Result<Acted, ActError> {
    let case_type = rules
        .packs
        .case_type(&new.pack, &new.case_type)
        .ok_or_else(|| ActError::UnknownCaseType {
            pack: new.pack.clone(),
            case_type: new.case_type.clone(),
        })?;
    let creation = case_type.creation_action();
    if new.request.action != creation.id {
        return Err(EngineError::UnknownAction {
            action: new.request.action.clone(),
        }
        .into());
    }
    let assignment = actor
        .creating_assignment(&creation.roles, new.acting_unit.as_deref())
        .ok_or(EngineError::RoleNotAllowed {
            action: creation.id.clone(),
        })?
        .clone();
    let transition = engine::decide(case_type, None, &new.request, &[assignment.role])?;
    validate_place(&new.place)?;
    if let Some(area) = &new.place.area_unit_id
        && unit_parent_tx(tx, area).await?.is_none()
    {
        return Err(invalid("area_unit_id", format!("no unit {area}")));
    }
    let holder = resolve_target(tx, &transition, &assignment.unit_id, None).await?;
    let case_id = new_id();
    let salt = new_salt();
    // 44 random bits: a clash is rare; look before writing so a retry never
    // aborts the transaction.
    let mut receipt = random_receipt_code();
    for _ in 0..5 {
        let taken = with_tx!(tx, conn => {
            sqlx::query("SELECT 1 AS x FROM cases WHERE receipt_code = $1").bind(&receipt).fetch_optional(conn).await?.is_some()
        });
        if !taken {
            break;
        }
        receipt = random_receipt_code();
    }
    let fields_text =
        serde_json::to_string(&transition.fields).map_err(|e| invalid("fields", e.to_string()))?;
    let terminal = case_type
        .states
        .get(&transition.to_state)
        .is_some_and(|s| s.terminal);
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO cases (id, receipt_code, pack_id, pack_version, case_type, state, fields, holder_unit_id, area_unit_id, \
             lng, lat, personal_salt, version, created_at, updated_at, closed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 1, $13, $13, $14)",
        )
        .bind(&case_id)
        .bind(&receipt)
        .bind(&case_type.pack_id)
        .bind(&case_type.pack_version)
        .bind(&case_type.id)
        .bind(&transition.to_state)
        .bind(&fields_text)
        .bind(&holder)
        .bind(&new.place.area_unit_id)
        .bind(new.place.lng)
        .bind(new.place.lat)
        .bind(&salt)
        .bind(at)
        .bind(terminal.then_some(at))
        .execute(conn)
        .await?;
    });
    if let Some(def) = &transition.enter_deadline {
        open_deadline_tx(tx, rules.calendar, &case_id, &transition.to_state, def, at).await?;
    }
    let mut extra = vec![("holder_unit_id", Value::Null, Value::String(holder.clone()))];
    if let Some(area) = &new.place.area_unit_id {
        extra.push(("area_unit_id", Value::Null, Value::String(area.clone())));
    }
    let entry = append_log(
        tx,
        LogEntry {
            seq: 0,
            id: new_id(),
            case_id: case_id.clone(),
            at,
            actor_id: Some(actor.user_id.clone()),
            actor_unit_id: Some(assignment.unit_id.clone()),
            action: transition.action.clone(),
            from_state: None,
            to_state: transition.to_state.clone(),
            changes: changes_json(&transition, &salt, extra),
            reason: transition.reason.clone(),
        },
    )
    .await?;
    Ok(Acted {
        case_id,
        log_entry: entry,
    })
}

fn validate_place(place: &Place) -> Result<(), ActError> {
    match (place.lng, place.lat) {
        (None, None) => Ok(()),
        (Some(lng), Some(lat)) => {
            if !(lng.is_finite() && (-180.0..=180.0).contains(&lng)) {
                return Err(invalid("lng", "must be a longitude between -180 and 180"));
            }
            if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
                return Err(invalid("lat", "must be a latitude between -90 and 90"));
            }
            Ok(())
        }
        (None, Some(_)) => Err(invalid("lng", "is required with lat")),
        (Some(_), None) => Err(invalid("lat", "is required with lng")),
    }
}

async fn resolve_target(
    tx: &mut Tx,
    transition: &Transition,
    acting_unit: &str,
    current_holder: Option<(&str, Option<&str>)>,
) -> Result<String, ActError> {
    match &transition.target {
        TargetDecision::Keep => match current_holder {
            Some((holder, _)) => Ok(holder.to_string()),
            None => Ok(acting_unit.to_string()),
        },
        TargetDecision::ActorUnit => Ok(acting_unit.to_string()),
        TargetDecision::Unit(id) => {
            if unit_parent_tx(tx, id).await?.is_none() {
                return Err(invalid("target_unit", format!("no unit {id}")));
            }
            Ok(id.clone())
        }
        TargetDecision::Parent => {
            let base = current_holder.map(|h| h.0).unwrap_or(acting_unit);
            let parent = match current_holder {
                Some((_, parent)) => parent.map(str::to_string),
                None => unit_parent_tx(tx, base).await?.flatten(),
            };
            parent.ok_or_else(|| {
                invalid(
                    "target_unit",
                    "the holding unit has no parent to pass the case to",
                )
            })
        }
    }
}

/// An action inside a caller's transaction.
pub async fn act_tx(
    tx: &mut Tx,
    rules: Rules<'_>,
    actor: &Actor,
    case_id: &str,
    request: ActionRequest,
    expected_version: Option<i64>,
    at: Micros,
) -> Result<Acted, ActError> {
    if tx.backend() == crate::Backend::Postgres {
        // Lock the row: concurrent actions on one case queue up here.
        with_tx!(tx, conn => {
            sqlx::query("SELECT id FROM cases WHERE id = $1 FOR UPDATE").bind(case_id).fetch_optional(conn).await?;
        });
    }
    let case = load_case_tx(tx, case_id)
        .await?
        .ok_or(ActError::CaseNotFound)?;
    let scope = case.access_scope();
    if !actor.can_see(&scope) {
        return Err(ActError::CaseNotFound);
    }
    if let Some(expected) = expected_version
        && expected != case.version
    {
        return Err(ActError::VersionConflict { expected });
    }
    let case_type = rules
        .packs
        .case_type(&case.pack, &case.case_type)
        .ok_or_else(|| ActError::UnknownCaseType {
            pack: case.pack.clone(),
            case_type: case.case_type.clone(),
        })?;
    let roles = actor.roles_over(&scope);
    let snapshot = CaseSnapshot {
        state: case.state.clone(),
        fields: case.fields.clone(),
    };
    let transition = engine::decide(case_type, Some(&snapshot), &request, &roles)?;
    let assignment = actor
        .acting_assignment(transition.acting_role, &scope)
        .ok_or(EngineError::RoleNotAllowed {
            action: transition.action.clone(),
        })?
        .clone();
    let holder = resolve_target(
        tx,
        &transition,
        &assignment.unit_id,
        Some((&case.holder_unit_id, case.scope.holder_parent_id.as_deref())),
    )
    .await?;
    let fields_text =
        serde_json::to_string(&transition.fields).map_err(|e| invalid("fields", e.to_string()))?;
    let terminal = case_type
        .states
        .get(&transition.to_state)
        .is_some_and(|s| s.terminal);
    let state_changed = transition.from_state.as_deref() != Some(transition.to_state.as_str());
    let closed_at = if terminal {
        case.closed_at.or(Some(at))
    } else {
        None
    };
    // A new holder or a new state starts with a clean slate on overdue marking.
    let overdue_since = if state_changed || holder != case.holder_unit_id {
        None
    } else {
        case.overdue_since
    };
    let updated = with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE cases SET state = $1, fields = $2, holder_unit_id = $3, closed_at = $4, overdue_since = $5, \
             version = version + 1, updated_at = $6 WHERE id = $7 AND version = $8",
        )
        .bind(&transition.to_state)
        .bind(&fields_text)
        .bind(&holder)
        .bind(closed_at)
        .bind(overdue_since)
        .bind(at)
        .bind(case_id)
        .bind(case.version)
        .execute(conn)
        .await?
        .rows_affected()
    });
    if updated != 1 {
        return Err(ActError::VersionConflict {
            expected: case.version,
        });
    }
    if transition.leave_deadline {
        close_deadlines_tx(tx, case_id, at).await?;
    }
    if let Some(def) = &transition.enter_deadline {
        open_deadline_tx(tx, rules.calendar, case_id, &transition.to_state, def, at).await?;
    }
    let mut extra = Vec::new();
    if holder != case.holder_unit_id {
        extra.push((
            "holder_unit_id",
            Value::String(case.holder_unit_id.clone()),
            Value::String(holder.clone()),
        ));
    }
    let entry = append_log(
        tx,
        LogEntry {
            seq: 0,
            id: new_id(),
            case_id: case_id.to_string(),
            at,
            actor_id: Some(actor.user_id.clone()),
            actor_unit_id: Some(assignment.unit_id.clone()),
            action: transition.action.clone(),
            from_state: transition.from_state.clone(),
            to_state: transition.to_state.clone(),
            changes: changes_json(&transition, &case.personal_salt, extra),
            reason: transition.reason.clone(),
        },
    )
    .await?;
    Ok(Acted {
        case_id: case_id.to_string(),
        log_entry: entry,
    })
}
