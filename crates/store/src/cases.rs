//! Cases: creation and actions through the engine, the log, deadlines, reads.
//!
//! Every change goes through [`Db::act`]: in one write transaction it loads the
//! case, asks the pure engine for a decision, writes the new case row, closes and
//! opens deadlines, and appends the log entry. Either all of it lands or nothing.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value, json};
use sqlx::Row;

use gongzhi_domain::access::Actor;
use gongzhi_domain::calendar::WorkCalendar;
use gongzhi_domain::duration::{DurationRule, DurationUnit};
use gongzhi_domain::engine::{
    self, ActionRequest, CaseSnapshot, EngineError, TargetDecision, Transition,
};
use gongzhi_domain::ids::{new_id, new_salt, random_receipt_code};
use gongzhi_domain::link::{LinkKind, NewLink};
use gongzhi_domain::log::{LogEntry, canonical_json, personal_digest};
use gongzhi_domain::pack::{CaseType, DeadlineDef, Effect, FieldKind};
use gongzhi_domain::time::Micros;

use crate::case_rows::{ASSIST_PATHS, CASE_SELECT, case_from_row, load_case_tx};
pub use crate::case_rows::{CaseRecord, CaseScopeRecord};
use crate::db::{Db, Tx, with_pool, with_tx};
pub use crate::deadline_rules::Rules;
use crate::deadline_rules::{DeadlineBasis, PreparedDeadline, prepare_deadline, warn_time};
use crate::error::ActError;
use crate::error::StoreError;
use crate::log_write::append_log;

fn invalid(field: &str, message: impl Into<String>) -> ActError {
    ActError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
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
    /// The routing suggestion shown to the dispatcher.
    pub suggestion: Option<RouteSuggestion>,
    /// A key the caller chose: the same key again answers with the same case.
    pub idempotency_key: Option<String>,
}

/// Where routing suggests a new case goes: a unit (or none: the manual
/// queue), and why, in words in both languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSuggestion {
    pub unit_id: Option<String>,
    pub reason_zh: String,
    pub reason_en: String,
}

/// A created case, or the one an earlier request with the same key created.
#[derive(Debug, Clone)]
pub struct Created {
    pub case_id: String,
    /// Known when the case was made now; a replay leaves it to the caller to read.
    pub receipt_code: Option<String>,
    /// `None` when the key had been used: nothing new was written.
    pub log_entry: Option<LogEntry>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadlineRecord {
    pub id: String,
    pub state: String,
    /// The pack's named clock this is (`None`: the deadline of `state`).
    pub clock: Option<String>,
    /// The record whose state's limit this is (`state` is then the record's).
    pub record_id: Option<String>,
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
    /// Only cases routing could not place (no place, outside every grid, or a
    /// rule naming a missing unit): the dispatcher's manual queue.
    pub manual_queue: bool,
    pub holder_unit_id: Option<String>,
    /// Only cases assigned to this staff member (their user id).
    pub assignee_user_id: Option<String>,
    /// Only cases placed in this unit or below it (the unit's path).
    pub area_path: Option<String>,
    pub category: Option<String>,
    /// Only cases of this category or one below it (`R01` takes `R01.02`).
    pub category_under: Option<String>,
    /// Only cases created at or after this time.
    pub created_from: Option<Micros>,
    /// Only cases created before this time.
    pub created_before: Option<Micros>,
    /// A receipt code, or words of the title (personal fields are never searched).
    pub text: Option<String>,
    /// Leave out closed cases.
    pub open_only: bool,
    pub due: Option<DueFilter>,
    /// Only cases placed inside a box and created since a time (likely duplicates).
    pub near: Option<NearFilter>,
    pub sort: CaseSort,
    pub limit: i64,
    pub offset: i64,
}

/// A bounding box in degrees and a creation-time floor. The exact distance
/// is for the caller to check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearFilter {
    pub min_lng: f64,
    pub max_lng: f64,
    pub min_lat: f64,
    pub max_lat: f64,
    pub since: Micros,
}

/// Cases by where their current deadline stands at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueFilter {
    /// Past the warning time of the running deadline, not yet due (即将超期).
    Soon { now: Micros },
    /// Marked overdue, or the deadline of the current state has run out (已超期).
    Overdue { now: Micros },
    /// Either of the two: past the warning time of the current state's deadline.
    Warned { now: Micros },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaseSort {
    #[default]
    Newest,
    /// Earliest running deadline first; cases without one last.
    DueFirst,
}

/// A value bound to a placeholder of a built query.
enum Bind {
    Text(String),
    Int(i64),
    Real(f64),
}

/// Binds built values to a query, in order (one code for both backends).
macro_rules! bind_all {
    ($query:expr, $binds:expr) => {{
        let mut q = $query;
        for b in $binds {
            q = match b {
                Bind::Text(t) => q.bind(t),
                Bind::Int(i) => q.bind(*i),
                Bind::Real(r) => q.bind(*r),
            };
        }
        q
    }};
}

macro_rules! deadline_from_row {
    ($row:expr) => {{
        let row = $row;
        DeadlineRecord {
            id: row.try_get("id")?,
            state: row.try_get("state")?,
            clock: row.try_get("clock")?,
            record_id: row.try_get("record_id")?,
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

/// The changes object of a log entry: `{key: {before, after}}`, personal values
/// replaced by salted digests.
fn changes_json<K: Into<String>>(
    transition: &Transition,
    salt: &str,
    extra: Vec<(K, Value, Value)>,
) -> String {
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
        changes.insert(key.into(), json!({"before": before, "after": after}));
    }
    canonical_json(&Value::Object(changes))
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
pub(crate) async fn close_deadlines_tx(
    tx: &mut Tx,
    case_id: &str,
    at: Micros,
) -> Result<(), StoreError> {
    with_tx!(tx, conn => {
        sqlx::query("UPDATE deadlines SET status = 'met', closed_at = $1 WHERE case_id = $2 AND status IN ('active', 'paused') AND clock IS NULL AND record_id IS NULL")
            .bind(at)
            .bind(case_id)
            .execute(conn)
            .await?;
    });
    Ok(())
}

async fn open_deadline_tx(
    tx: &mut Tx,
    rules: Rules<'_>,
    case_id: &str,
    state: &str,
    def: &DeadlineDef,
    basis: DeadlineBasis<'_>,
    at: Micros,
) -> Result<(), StoreError> {
    let d = prepare_deadline(rules, def, state, basis, at);
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO deadlines (id, case_id, state, rule, calendar_version, started_at, due_at, warn_ratio, warn_at, provisional, on_expiry, status) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'active')",
        )
        .bind(&d.id)
        .bind(case_id)
        .bind(&d.state)
        .bind(&d.rule)
        .bind(&d.calendar_version)
        .bind(at)
        .bind(d.due_at)
        .bind(d.warn_ratio)
        .bind(d.warn_at)
        .bind(i64::from(d.provisional))
        .bind(&d.on_expiry)
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
    record_id: Option<String>,
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
    ) -> Result<Created, ActError> {
        // Two first tries with one key can race on PostgreSQL: the loser's
        // insert of the key fails, and its retry finds the winner's case.
        let retry = new.idempotency_key.is_some();
        let first = async {
            let mut tx = self.begin_write().await?;
            let created = create_case_tx(&mut tx, rules, actor, new.clone(), at).await?;
            tx.commit().await?;
            Ok::<_, ActError>(created)
        }
        .await;
        match first {
            Err(ActError::Store(e)) if retry && e.is_unique_violation() => {
                let mut tx = self.begin_write().await?;
                let created = create_case_tx(&mut tx, rules, actor, new, at).await?;
                tx.commit().await?;
                Ok(created)
            }
            other => other,
        }
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
        let case = with_pool!(self, pool => {
            match sqlx::query(&sql).bind(case_id).fetch_optional(pool).await? {
                Some(row) => Some(case_from_row!(row)),
                None => None,
            }
        });
        let Some(case) = case else {
            return Ok(None);
        };
        let mut cases = vec![case];
        self.fill_assist_paths(&mut cases).await?;
        Ok(cases.pop())
    }

    /// The case with this receipt code, regardless of who asks.
    pub async fn case_by_receipt(
        &self,
        receipt_code: &str,
    ) -> Result<Option<CaseRecord>, StoreError> {
        let id: Option<String> = with_pool!(self, pool => {
            match sqlx::query("SELECT id FROM cases WHERE receipt_code = $1").bind(receipt_code).fetch_optional(pool).await? {
                Some(row) => Some(row.try_get("id")?),
                None => None,
            }
        });
        match id {
            Some(id) => self.case_unscoped(&id).await,
            None => Ok(None),
        }
    }

    async fn fill_assist_paths(&self, cases: &mut [CaseRecord]) -> Result<(), StoreError> {
        if cases.is_empty() {
            return Ok(());
        }
        let placeholders: Vec<String> = (1..=cases.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "{ASSIST_PATHS} AND ca.case_id IN ({}) ORDER BY u.path",
            placeholders.join(", ")
        );
        let pairs: Vec<(String, String)> = with_pool!(self, pool => {
            let mut q = sqlx::query(&sql);
            for c in cases.iter() {
                q = q.bind(&c.id);
            }
            let rows = q.fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push((r.try_get("case_id")?, r.try_get("path")?));
            }
            out
        });
        for (case_id, path) in pairs {
            if let Some(c) = cases.iter_mut().find(|c| c.id == case_id) {
                c.scope.assist_paths.push(path);
            }
        }
        Ok(())
    }

    /// The WHERE clause for the actor's scopes and a filter, with its binds;
    /// `None` when the actor's grants cover no case at all.
    fn case_where(&self, actor: &Actor, filter: &CaseFilter) -> Option<(String, Vec<Bind>)> {
        let scopes = actor.scope_paths();
        let assigned = actor.assigned_scope_paths();
        if scopes.is_empty() && assigned.is_empty() {
            return None;
        }
        let mut binds: Vec<Bind> = Vec::new();
        let mut alternatives: Vec<String> = Vec::new();
        for scope in scopes {
            binds.push(Bind::Text(scope));
            let n = binds.len();
            // substr, not LIKE: unit ids may hold LIKE's wildcard characters.
            alternatives.push(format!(
                "substr(h.path, 1, length(${n})) = ${n} OR substr(a.path, 1, length(${n})) = ${n} \
                 OR EXISTS (SELECT 1 FROM case_assists ca JOIN units au ON au.id = ca.unit_id \
                    WHERE ca.case_id = c.id AND ca.status = 'open' AND substr(au.path, 1, length(${n})) = ${n})"
            ));
        }
        if !assigned.is_empty() {
            binds.push(Bind::Text(actor.user_id.clone()));
            let user = binds.len();
            let mut under = Vec::new();
            for scope in assigned {
                binds.push(Bind::Text(scope));
                let n = binds.len();
                under.push(format!(
                    "substr(h.path, 1, length(${n})) = ${n} OR substr(a.path, 1, length(${n})) = ${n}"
                ));
            }
            alternatives.push(format!(
                "(c.assignee_user_id = ${user} AND ({}))",
                under.join(" OR ")
            ));
        }
        let mut sql = format!(" WHERE ({})", alternatives.join(" OR "));
        let mut push = |sql: &mut String, clause: &str, bind: Bind| {
            binds.push(bind);
            sql.push_str(&clause.replace("$?", &format!("${}", binds.len())));
        };
        if let Some(state) = &filter.state {
            push(&mut sql, " AND c.state = $?", Bind::Text(state.clone()));
        }
        if let Some(unit) = &filter.holder_unit_id {
            push(
                &mut sql,
                " AND c.holder_unit_id = $?",
                Bind::Text(unit.clone()),
            );
        }
        if let Some(user) = &filter.assignee_user_id {
            push(
                &mut sql,
                " AND c.assignee_user_id = $?",
                Bind::Text(user.clone()),
            );
        }
        if let Some(path) = &filter.area_path {
            push(
                &mut sql,
                " AND substr(a.path, 1, length($?)) = $?",
                Bind::Text(path.clone()),
            );
        }
        if let Some(category) = &filter.category {
            push(
                &mut sql,
                " AND c.category = $?",
                Bind::Text(category.clone()),
            );
        }
        if let Some(code) = &filter.category_under {
            push(&mut sql, " AND (c.category = $?", Bind::Text(code.clone()));
            // substr, not LIKE: the subtree is the code and a dot before the rest.
            push(
                &mut sql,
                " OR substr(c.category, 1, length($?)) = $?)",
                Bind::Text(format!("{code}.")),
            );
        }
        if let Some(from) = filter.created_from {
            push(&mut sql, " AND c.created_at >= $?", Bind::Int(from));
        }
        if let Some(before) = filter.created_before {
            push(&mut sql, " AND c.created_at < $?", Bind::Int(before));
        }
        if let Some(text) = filter
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let title = match self {
                Db::Sqlite(_) => "(c.fields ->> '$.title')",
                Db::Postgres(_) => "(CAST(c.fields AS JSON) ->> 'title')",
            };
            push(
                &mut sql,
                " AND (upper(c.receipt_code) = upper($?)",
                Bind::Text(text.to_string()),
            );
            let pattern = format!(
                "%{}%",
                text.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            );
            push(
                &mut sql,
                &format!(" OR lower({title}) LIKE lower($?) ESCAPE '\\')"),
                Bind::Text(pattern),
            );
        }
        if filter.open_only {
            sql.push_str(" AND c.closed_at IS NULL");
        }
        if let Some(near) = filter.near {
            push(&mut sql, " AND c.lng >= $?", Bind::Real(near.min_lng));
            push(&mut sql, " AND c.lng <= $?", Bind::Real(near.max_lng));
            push(&mut sql, " AND c.lat >= $?", Bind::Real(near.min_lat));
            push(&mut sql, " AND c.lat <= $?", Bind::Real(near.max_lat));
            push(&mut sql, " AND c.created_at >= $?", Bind::Int(near.since));
        }
        if filter.manual_queue {
            sql.push_str(" AND c.route_reason IS NOT NULL AND c.suggested_unit_id IS NULL AND c.closed_at IS NULL");
        }
        match filter.due {
            None => {}
            Some(DueFilter::Soon { now }) => push(
                &mut sql,
                " AND c.closed_at IS NULL AND c.overdue_since IS NULL AND EXISTS (SELECT 1 FROM deadlines d \
                 WHERE d.case_id = c.id AND d.state = c.state AND d.status = 'active' \
                 AND d.warn_at <= $? AND d.due_at > $?)",
                Bind::Int(now),
            ),
            Some(DueFilter::Overdue { now }) => push(
                &mut sql,
                " AND c.closed_at IS NULL AND (c.overdue_since IS NOT NULL OR EXISTS (SELECT 1 FROM deadlines d \
                 WHERE d.case_id = c.id AND d.state = c.state \
                 AND (d.status = 'expired' OR (d.status = 'active' AND d.due_at <= $?))))",
                Bind::Int(now),
            ),
            Some(DueFilter::Warned { now }) => push(
                &mut sql,
                " AND c.closed_at IS NULL AND (c.overdue_since IS NOT NULL OR EXISTS (SELECT 1 FROM deadlines d \
                 WHERE d.case_id = c.id AND d.state = c.state \
                 AND (d.status = 'expired' OR (d.status = 'active' AND (d.warn_at <= $? OR d.due_at <= $?)))))",
                Bind::Int(now),
            ),
        }
        Some((sql, binds))
    }

    /// Cases inside the actor's scopes, newest first (or by due time).
    pub async fn cases_for(
        &self,
        actor: &Actor,
        filter: &CaseFilter,
    ) -> Result<Vec<CaseRecord>, StoreError> {
        let Some((clause, mut binds)) = self.case_where(actor, filter) else {
            return Ok(Vec::new());
        };
        let order = match filter.sort {
            CaseSort::Newest => "c.created_at DESC, c.id DESC",
            CaseSort::DueFirst => {
                "COALESCE((SELECT MIN(d.due_at) FROM deadlines d WHERE d.case_id = c.id AND d.status = 'active'), 9223372036854775807), c.created_at, c.id"
            }
        };
        let n = binds.len();
        let sql = format!(
            "{CASE_SELECT}{clause} ORDER BY {order} LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        binds.push(Bind::Int(filter.limit.clamp(1, 500)));
        binds.push(Bind::Int(filter.offset.max(0)));
        with_pool!(self, pool => {
            let q = bind_all!(sqlx::query(&sql), &binds);
            let rows = q.fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(case_from_row!(row));
            }
            self.fill_assist_paths(&mut out).await?;
            Ok(out)
        })
    }

    /// How many cases inside the actor's scopes match the filter (limit and
    /// offset aside).
    pub async fn count_cases_for(
        &self,
        actor: &Actor,
        filter: &CaseFilter,
    ) -> Result<i64, StoreError> {
        let Some((clause, binds)) = self.case_where(actor, filter) else {
            return Ok(0);
        };
        let sql = format!(
            "SELECT COUNT(*) AS n FROM cases c JOIN units h ON h.id = c.holder_unit_id LEFT JOIN units a ON a.id = c.area_unit_id{clause}"
        );
        with_pool!(self, pool => {
            let q = bind_all!(sqlx::query(&sql), &binds);
            Ok(q.fetch_one(pool).await?.try_get::<i64, _>("n")?)
        })
    }

    /// How many cases inside the actor's scopes match the filter, per area
    /// unit (cases without a place are left out): one query for the map.
    pub async fn count_cases_by_area(
        &self,
        actor: &Actor,
        filter: &CaseFilter,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let Some((clause, binds)) = self.case_where(actor, filter) else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT c.area_unit_id AS area, COUNT(*) AS n FROM cases c JOIN units h ON h.id = c.holder_unit_id \
             LEFT JOIN units a ON a.id = c.area_unit_id{clause} AND c.area_unit_id IS NOT NULL GROUP BY c.area_unit_id"
        );
        with_pool!(self, pool => {
            let q = bind_all!(sqlx::query(&sql), &binds);
            let rows = q.fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push((row.try_get("area")?, row.try_get::<i64, _>("n")?));
            }
            Ok(out)
        })
    }

    /// The running deadline of each case that has one: `(due_at, warn_at)`
    /// of the earliest active deadline, for lists.
    pub async fn running_deadlines(
        &self,
        case_ids: &[String],
    ) -> Result<std::collections::HashMap<String, (Micros, Option<Micros>)>, StoreError> {
        let mut out = std::collections::HashMap::new();
        if case_ids.is_empty() {
            return Ok(out);
        }
        let placeholders: Vec<String> = (1..=case_ids.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT case_id, due_at, warn_at FROM deadlines WHERE status = 'active' AND due_at IS NOT NULL \
             AND case_id IN ({}) ORDER BY due_at DESC",
            placeholders.join(", ")
        );
        with_pool!(self, pool => {
            let mut q = sqlx::query(&sql);
            for id in case_ids {
                q = q.bind(id);
            }
            // Latest due first, so the earliest one is inserted last and wins.
            for row in q.fetch_all(pool).await? {
                out.insert(row.try_get::<String, _>("case_id")?, (row.try_get::<Micros, _>("due_at")?, row.try_get::<Option<Micros>, _>("warn_at")?));
            }
        });
        Ok(out)
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
        let assists = self.fire_due_assists(now, batch).await?;
        Ok(assists + self.fire_due_case_deadlines(now, batch).await?)
    }

    /// Assist tasks still open past their own due time: marked overdue once,
    /// with a log entry by the system.
    async fn fire_due_assists(&self, now: Micros, batch: i64) -> Result<usize, StoreError> {
        let due: Vec<(String, String, String, i64)> = with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, case_id, unit_id, due_at FROM case_assists \
                 WHERE status = 'open' AND overdue_at IS NULL AND due_at <= $1 ORDER BY due_at LIMIT $2",
            )
            .bind(now)
            .bind(batch)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push((r.try_get("id")?, r.try_get("case_id")?, r.try_get("unit_id")?, r.try_get("due_at")?));
            }
            out
        });
        let mut fired = 0;
        for (id, case_id, unit_id, due_at) in due {
            let mut tx = self.begin_write().await?;
            let claimed = with_tx!(&mut tx, conn => {
                sqlx::query("UPDATE case_assists SET overdue_at = $1 WHERE id = $2 AND status = 'open' AND overdue_at IS NULL")
                    .bind(now).bind(&id).execute(conn).await?.rows_affected()
            });
            let Some(case) = (if claimed == 1 {
                load_case_tx(&mut tx, &case_id).await?
            } else {
                None
            }) else {
                tx.rollback().await?;
                continue;
            };
            let changes = json!({"assist": {"before": {"unit_id": unit_id, "status": "open"},
                                             "after": {"unit_id": unit_id, "status": "open", "overdue_since": due_at}}});
            append_log(
                &mut tx,
                LogEntry {
                    seq: 0,
                    id: new_id(),
                    case_id: case_id.clone(),
                    at: now,
                    actor_id: None,
                    actor_unit_id: None,
                    action: "assist_overdue".into(),
                    from_state: Some(case.state.clone()),
                    to_state: case.state.clone(),
                    changes: canonical_json(&changes),
                    reason: None,
                },
            )
            .await?;
            tx.commit().await?;
            fired += 1;
        }
        Ok(fired)
    }

    async fn fire_due_case_deadlines(&self, now: Micros, batch: i64) -> Result<usize, StoreError> {
        let due: Vec<DueDeadline> = with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, case_id, due_at, warn_at, warned_at, on_expiry, state, record_id FROM deadlines \
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
                    record_id: r.try_get("record_id")?,
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
            record_id,
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
                tx.rollback().await?;
                continue;
            }
            let Some(case) = load_case_tx(&mut tx, &case_id).await? else {
                return Err(StoreError::Corrupt(format!(
                    "deadline {id} of missing case {case_id}"
                )));
            };
            let mut changes = Map::new();
            // A record's limit is logged against the record; the case itself
            // stays in its own state.
            let from_state = match &record_id {
                Some(record) => {
                    changes.insert("record".into(), json!({"before": null, "after": record}));
                    case.state.clone()
                }
                None => state,
            };
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
                    from_state: Some(from_state),
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

/// Creation inside a caller's transaction (used by imports, the demo loader
/// and the one-by-one retry of a failed batch): the same checks and rows as a
/// batch of one, with the area and receipt code checked up front so that a
/// problem is a clear error rather than a failed insert.
pub async fn create_case_tx(
    tx: &mut Tx,
    rules: Rules<'_>,
    actor: &Actor,
    new: NewCase,
    at: Micros,
) -> Result<Created, ActError> {
    let mut seen = HashMap::new();
    let mut prepared = match prepare_case_tx(tx, rules, actor, &new, at, &mut seen).await? {
        Prepared::Replay(case_id) => {
            return Ok(Created {
                case_id,
                receipt_code: None,
                log_entry: None,
            });
        }
        Prepared::Ready(prepared) => prepared,
    };
    if let Some(area) = &prepared.area
        && unit_parent_tx(tx, area).await?.is_none()
    {
        return Err(invalid("area_unit_id", format!("no unit {area}")));
    }
    // 44 random bits: a clash is rare; look before writing so a retry never
    // aborts the transaction.
    for _ in 0..5 {
        let taken = with_tx!(tx, conn => {
            sqlx::query("SELECT 1 AS x FROM cases WHERE receipt_code = $1").bind(&prepared.receipt).fetch_optional(conn).await?.is_some()
        });
        if !taken {
            break;
        }
        prepared.receipt = random_receipt_code();
    }
    let mut entries = write_prepared_tx(tx, &[prepared.as_ref()]).await?;
    Ok(Created {
        case_id: prepared.case_id.clone(),
        receipt_code: Some(prepared.receipt.clone()),
        log_entry: entries.pop(),
    })
}

/// Category fields must name a category of the loaded taxonomies.
fn check_categories(
    rules: Rules<'_>,
    case_type: &gongzhi_domain::pack::CaseType,
    transition: &Transition,
) -> Result<(), ActError> {
    for change in &transition.changes {
        let is_category = case_type
            .fields
            .get(&change.key)
            .is_some_and(|f| f.kind == FieldKind::Category);
        if let (true, Some(Value::String(code))) = (is_category, change.after.as_ref())
            && !rules.categories.knows(code)
        {
            return Err(invalid(&change.key, format!("no category has code {code}")));
        }
    }
    Ok(())
}

/// Records links for case-reference fields that changed (a duplicate and its
/// original); the referenced case must exist and not be this one.
async fn link_cases_tx(
    tx: &mut Tx,
    case_type: &gongzhi_domain::pack::CaseType,
    case_id: &str,
    transition: &Transition,
    at: Micros,
) -> Result<(), ActError> {
    for (linked, key) in resolve_case_refs_tx(tx, case_type, transition).await? {
        let link = ref_link(case_type, case_id, &linked, &key)?;
        crate::links::insert_link_tx(tx, &link, None, at).await?;
    }
    Ok(())
}

/// The link a case-reference field makes: `duplicate` for the field the type
/// binds as its duplicate reference, `related` for any other.
pub(crate) fn ref_link(
    case_type: &gongzhi_domain::pack::CaseType,
    case_id: &str,
    linked: &str,
    key: &str,
) -> Result<NewLink, ActError> {
    let declared = match case_type.fields.get(key).map(|f| &f.kind) {
        Some(FieldKind::CaseRef { link }) => *link,
        _ => None,
    };
    let kind = match declared {
        Some(kind) => kind,
        None if case_type.bindings.duplicate.as_deref() == Some(key) => LinkKind::Duplicate,
        None => LinkKind::Related,
    };
    // The case this one came from is where a conversion or referral starts.
    let (source, target) = match kind {
        LinkKind::Conversion | LinkKind::Referral => (linked, case_id),
        LinkKind::Duplicate | LinkKind::Related => (case_id, linked),
    };
    NewLink::new(kind.as_str(), source, target, None)
        .map_err(|_| invalid(key, "a case cannot refer to itself"))
}

/// The cases that changed case-reference fields name, as (case id, field):
/// each receipt code must belong to an existing case.
async fn resolve_case_refs_tx(
    tx: &mut Tx,
    case_type: &gongzhi_domain::pack::CaseType,
    transition: &Transition,
) -> Result<Vec<(String, String)>, ActError> {
    let mut links = Vec::new();
    for change in &transition.changes {
        let is_ref = case_type
            .fields
            .get(&change.key)
            .is_some_and(|f| matches!(f.kind, FieldKind::CaseRef { .. }));
        let Some(Value::String(receipt)) = change.after.as_ref().filter(|_| is_ref) else {
            continue;
        };
        let linked: Option<String> = with_tx!(tx, conn => {
            match sqlx::query("SELECT id FROM cases WHERE receipt_code = $1").bind(receipt).fetch_optional(conn).await? {
                Some(row) => Some(row.try_get::<String, _>("id")?),
                None => None,
            }
        });
        let linked = linked
            .ok_or_else(|| invalid(&change.key, format!("no case has receipt code {receipt}")))?;
        links.push((linked, change.key.clone()));
    }
    Ok(links)
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

/// An action inside a caller's transaction: load and check the case, let the
/// pure engine decide, then write the row, the clocks, the effect and the log
/// entry, in that order, all or nothing.
pub async fn act_tx(
    tx: &mut Tx,
    rules: Rules<'_>,
    actor: &Actor,
    case_id: &str,
    request: ActionRequest,
    expected_version: Option<i64>,
    at: Micros,
) -> Result<Acted, ActError> {
    let case = lock_case_for_action_tx(tx, actor, case_id, expected_version).await?;
    let case_type = rules
        .packs
        .case_type(&case.pack, &case.case_type)
        .ok_or_else(|| ActError::UnknownCaseType {
            pack: case.pack.clone(),
            case_type: case.case_type.clone(),
        })?;
    let action_def = case_type.actions.get(&request.action);
    let effect = action_def.map(|a| a.effect).unwrap_or(Effect::None);
    // Assisting units act only on their own task; everything else is decided
    // on the holder and the area.
    let acting_scope = if effect == Effect::ReportAssist {
        case.access_scope().assists_only()
    } else {
        case.access_scope().without_assists()
    };
    let snapshot = CaseSnapshot {
        state: case.state.clone(),
        fields: case.fields.clone(),
    };
    let roles = actor.roles_over(&acting_scope);
    let mut transition = engine::decide(case_type, Some(&snapshot), &request, &roles)?;
    check_categories(rules, case_type, &transition)?;
    let assignment = actor
        .acting_assignment(transition.acting_role, &acting_scope)
        .ok_or(EngineError::RoleNotAllowed {
            action: transition.action.clone(),
        })?
        .clone();
    let guards = action_def.map(|a| a.guards.as_slice()).unwrap_or_default();
    crate::guards::check_guards_tx(tx, case_id, guards, at).await?;

    let mut extra: Vec<(String, Value, Value)> = Vec::new();
    let limit = action_def.and_then(|a| a.escalate_after);
    let holder = choose_holder_tx(
        tx,
        &case,
        &transition,
        &assignment.unit_id,
        limit,
        &mut extra,
    )
    .await?;
    let settled = crate::people::settle_people_tx(
        tx,
        case_type,
        case_id,
        &mut transition,
        &actor.user_id,
        crate::people::HolderMove {
            unit_id: &holder,
            changed: holder != case.holder_unit_id,
        },
    )
    .await?;
    // A conflict accepted with a reason stays on the record.
    for (field, conflict) in &settled.warnings {
        extra.push((
            "conflict_warning".into(),
            Value::Null,
            json!({"field": field, "conflict": conflict.as_str()}),
        ));
    }
    let terminal = case_type
        .states
        .get(&transition.to_state)
        .is_some_and(|s| s.terminal);
    let row = CaseRowUpdate {
        transition: &transition,
        holder: &holder,
        assignee: settled.assignee.as_deref(),
        category: case_type.category_of(&transition.fields),
        terminal,
    };
    write_case_row_tx(tx, &case, row, at).await?;
    link_cases_tx(tx, case_type, case_id, &transition, at).await?;

    move_state_deadlines_tx(tx, rules, case_type, case_id, effect, &transition, at).await?;
    let clock_changes =
        crate::clocks::move_clocks_tx(tx, rules, case_type, case_id, &transition, at).await?;
    extra.extend(clock_changes);
    // An ended case has nothing left to do in time on its records either.
    if terminal
        && crate::record_deadlines::close_record_deadlines_tx(tx, case_id, None, at).await? > 0
    {
        extra.push(("record_deadlines".into(), Value::Null, Value::from("met")));
    }
    let applied = AppliedEffect {
        effect,
        field: action_def.and_then(|a| a.effect_field()),
        transition: &transition,
        holder: &holder,
    };
    if let Some(change) = apply_effect_tx(tx, rules, actor, case_id, applied, at).await? {
        extra.push(change);
    }
    if holder != case.holder_unit_id {
        extra.push((
            "holder_unit_id".into(),
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

/// Loads the case an action is about, locked against concurrent actions, and
/// checks that the actor may see it and that it is the version they saw.
async fn lock_case_for_action_tx(
    tx: &mut Tx,
    actor: &Actor,
    case_id: &str,
    expected_version: Option<i64>,
) -> Result<CaseRecord, ActError> {
    if tx.backend() == crate::Backend::Postgres {
        // Lock the row: concurrent actions on one case queue up here.
        with_tx!(tx, conn => {
            sqlx::query("SELECT id FROM cases WHERE id = $1 FOR UPDATE").bind(case_id).fetch_optional(conn).await?;
        });
    }
    let case = load_case_tx(tx, case_id)
        .await?
        .ok_or(ActError::CaseNotFound)?;
    if !actor.can_see(&case.access_scope()) {
        return Err(ActError::CaseNotFound);
    }
    if let Some(expected) = expected_version
        && expected != case.version
    {
        return Err(ActError::VersionConflict { expected });
    }
    Ok(case)
}

/// The unit that holds the case after the action: the target the action
/// names, overriding routing only with a reason, one level up when the same
/// action has been taken `escalate_after` times already.
async fn choose_holder_tx(
    tx: &mut Tx,
    case: &CaseRecord,
    transition: &Transition,
    acting_unit: &str,
    escalate_after: Option<u32>,
    extra: &mut Vec<(String, Value, Value)>,
) -> Result<String, ActError> {
    let mut holder = resolve_target(
        tx,
        transition,
        acting_unit,
        Some((&case.holder_unit_id, case.scope.holder_parent_id.as_deref())),
    )
    .await?;
    // Choosing another unit than the one routing suggested is an override:
    // it needs a reason, and the log keeps both.
    if let (TargetDecision::Unit(chosen), Some(suggested)) =
        (&transition.target, &case.suggested_unit_id)
        && chosen != suggested
    {
        if transition.reason.is_none() {
            return Err(invalid(
                "reason",
                "the unit differs from the routing suggestion: say why you override it",
            ));
        }
        extra.push((
            "route_override".into(),
            Value::String(suggested.clone()),
            Value::String(chosen.clone()),
        ));
    }
    if let Some(limit) = escalate_after {
        let earlier = action_count_tx(tx, &case.id, &transition.action).await?;
        // The (limit + 1)-th time and after: one level further up.
        if earlier >= i64::from(limit)
            && let Some(Some(parent)) = unit_parent_tx(tx, &holder).await?
        {
            extra.push((
                "escalated".into(),
                Value::Null,
                Value::String(parent.clone()),
            ));
            holder = parent;
        }
    }
    Ok(holder)
}

/// What an action writes on the case row besides its version.
struct CaseRowUpdate<'a> {
    transition: &'a Transition,
    holder: &'a str,
    assignee: Option<&'a str>,
    category: Option<&'a str>,
    terminal: bool,
}

/// Writes the case row, refusing when another action got there first.
async fn write_case_row_tx(
    tx: &mut Tx,
    case: &CaseRecord,
    row: CaseRowUpdate<'_>,
    at: Micros,
) -> Result<(), ActError> {
    let transition = row.transition;
    let fields_text =
        serde_json::to_string(&transition.fields).map_err(|e| invalid("fields", e.to_string()))?;
    let state_changed = transition.from_state.as_deref() != Some(transition.to_state.as_str());
    let closed_at = if row.terminal {
        case.closed_at.or(Some(at))
    } else {
        None
    };
    // A new holder or a new state starts with a clean slate on overdue marking.
    let overdue_since = if state_changed || row.holder != case.holder_unit_id {
        None
    } else {
        case.overdue_since
    };
    let updated = with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE cases SET state = $1, fields = $2, holder_unit_id = $3, closed_at = $4, overdue_since = $5, \
             category = $6, assignee_user_id = $10, version = version + 1, updated_at = $7 WHERE id = $8 AND version = $9",
        )
        .bind(&transition.to_state)
        .bind(&fields_text)
        .bind(row.holder)
        .bind(closed_at)
        .bind(overdue_since)
        .bind(row.category)
        .bind(at)
        .bind(&case.id)
        .bind(case.version)
        .bind(row.assignee)
        .execute(conn)
        .await?
        .rows_affected()
    });
    if updated != 1 {
        return Err(ActError::VersionConflict {
            expected: case.version,
        });
    }
    Ok(())
}

/// The deadline of the state: suspension and resumption keep the clock's
/// remaining time instead of closing it and starting afresh.
async fn move_state_deadlines_tx(
    tx: &mut Tx,
    rules: Rules<'_>,
    case_type: &CaseType,
    case_id: &str,
    effect: Effect,
    transition: &Transition,
    at: Micros,
) -> Result<(), ActError> {
    match effect {
        Effect::SuspendClock => suspend_deadlines_tx(tx, rules, case_id, at).await?,
        Effect::ResumeClock => {
            if resume_deadlines_tx(tx, rules, case_id, at).await? == 0 {
                open_entered_deadline_tx(tx, rules, case_type, case_id, transition, at).await?;
            }
        }
        _ => {
            if transition.leave_deadline {
                close_deadlines_tx(tx, case_id, at).await?;
            }
            open_entered_deadline_tx(tx, rules, case_type, case_id, transition, at).await?;
        }
    }
    Ok(())
}

/// Starts the deadline of the state the action enters, if it has one.
async fn open_entered_deadline_tx(
    tx: &mut Tx,
    rules: Rules<'_>,
    case_type: &CaseType,
    case_id: &str,
    transition: &Transition,
    at: Micros,
) -> Result<(), StoreError> {
    let Some(def) = &transition.enter_deadline else {
        return Ok(());
    };
    let basis = DeadlineBasis::of(case_type, &transition.fields);
    open_deadline_tx(tx, rules, case_id, &transition.to_state, def, basis, at).await
}

/// The engine effect an action carries, with what it reads.
struct AppliedEffect<'a> {
    effect: Effect,
    /// The action's field the effect reads (days, a task, an answer).
    field: Option<&'a str>,
    transition: &'a Transition,
    holder: &'a str,
}

/// Carries out the action's effect; answers the log change it makes, if any.
async fn apply_effect_tx(
    tx: &mut Tx,
    rules: Rules<'_>,
    actor: &Actor,
    case_id: &str,
    applied: AppliedEffect<'_>,
    at: Micros,
) -> Result<Option<(String, Value, Value)>, ActError> {
    let transition = applied.transition;
    let field = applied.field.unwrap_or_default();
    let text_of = |f: &str| {
        transition
            .fields
            .get(f)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let assist_unit = || {
        transition
            .assist_unit
            .clone()
            .ok_or(EngineError::TargetRequired {
                action: transition.action.clone(),
            })
    };
    let change = match applied.effect {
        Effect::ExtendDeadline => {
            let days = transition
                .fields
                .get(field)
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let amount = u32::try_from(days)
                .map_err(|_| invalid(field, "must be a positive number of working days"))?;
            let (before, after) = extend_deadline_tx(tx, rules, case_id, field, amount).await?;
            ("deadline_due".into(), json!(before), json!(after))
        }
        Effect::AddAssist => {
            let unit = assist_unit()?;
            if unit_parent_tx(tx, &unit).await?.is_none() {
                return Err(invalid("target_unit", format!("no unit {unit}")));
            }
            if unit == applied.holder {
                return Err(invalid("target_unit", "the lead unit cannot also assist"));
            }
            let task = applied.field.map(text_of).unwrap_or_default();
            let due = running_due_tx(tx, case_id).await?;
            if !add_assist_tx(tx, case_id, &unit, &task, due, at).await? {
                return Err(invalid(
                    "target_unit",
                    "this unit already has an open assist task on the case",
                ));
            }
            let after = json!({"unit_id": unit, "task": task, "due_at": due});
            ("assist".into(), Value::Null, after)
        }
        Effect::ReportAssist => {
            let result = text_of(field);
            let answer = AssistAnswer {
                field,
                text: &result,
            };
            let unit =
                report_assist_tx(tx, actor, transition.acting_role, case_id, answer, at).await?;
            (
                "assist".into(),
                json!({"unit_id": unit, "status": "open"}),
                json!({"unit_id": unit, "status": "answered"}),
            )
        }
        Effect::ReleaseAssist => {
            let unit = assist_unit()?;
            let released = with_tx!(tx, conn => {
                sqlx::query("UPDATE case_assists SET status = 'released', closed_at = $1 WHERE case_id = $2 AND unit_id = $3 AND status = 'open'")
                    .bind(at).bind(case_id).bind(&unit).execute(conn).await?.rows_affected()
            });
            if released == 0 {
                return Err(invalid(
                    "target_unit",
                    "this unit has no open assist task on the case",
                ));
            }
            (
                "assist".into(),
                json!({"unit_id": unit, "status": "open"}),
                json!({"unit_id": unit, "status": "released"}),
            )
        }
        Effect::None | Effect::SuspendClock | Effect::ResumeClock => return Ok(None),
    };
    Ok(Some(change))
}

/// How often `action` was already taken on the case, from the log.
async fn action_count_tx(tx: &mut Tx, case_id: &str, action: &str) -> Result<i64, StoreError> {
    with_tx!(tx, conn => {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM log_entries WHERE case_id = $1 AND action = $2")
            .bind(case_id)
            .bind(action)
            .fetch_one(conn)
            .await?
            .try_get::<i64, _>("n")?)
    })
}

/// The due time of the case's running deadline, if one runs.
async fn running_due_tx(tx: &mut Tx, case_id: &str) -> Result<Option<Micros>, StoreError> {
    with_tx!(tx, conn => {
        match sqlx::query("SELECT due_at FROM deadlines WHERE case_id = $1 AND status = 'active' AND clock IS NULL AND record_id IS NULL ORDER BY started_at DESC LIMIT 1")
            .bind(case_id)
            .fetch_optional(conn)
            .await?
        {
            Some(row) => Ok(row.try_get::<Option<i64>, _>("due_at")?),
            None => Ok(None),
        }
    })
}

async fn add_assist_tx(
    tx: &mut Tx,
    case_id: &str,
    unit_id: &str,
    task: &str,
    due_at: Option<Micros>,
    at: Micros,
) -> Result<bool, StoreError> {
    let open: i64 = with_tx!(tx, conn => {
        sqlx::query("SELECT COUNT(*) AS n FROM case_assists WHERE case_id = $1 AND unit_id = $2 AND status = 'open'")
            .bind(case_id).bind(unit_id).fetch_one(conn).await?.try_get::<i64, _>("n")?
    });
    if open > 0 {
        return Ok(false);
    }
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO case_assists (id, case_id, unit_id, task, status, due_at, created_at) VALUES ($1, $2, $3, $4, 'open', $5, $6)",
        )
        .bind(new_id())
        .bind(case_id)
        .bind(unit_id)
        .bind(task)
        .bind(due_at)
        .bind(at)
        .execute(conn)
        .await?;
    });
    Ok(true)
}

/// An assisting unit's answer, and the field it came in (for messages).
#[derive(Clone, Copy)]
struct AssistAnswer<'a> {
    field: &'a str,
    text: &'a str,
}

/// Marks as reported the open assist of a unit where the actor holds the role
/// the action was taken under.
async fn report_assist_tx(
    tx: &mut Tx,
    actor: &Actor,
    acting_role: gongzhi_domain::role::Role,
    case_id: &str,
    answer: AssistAnswer<'_>,
    at: Micros,
) -> Result<String, ActError> {
    let open: Vec<(String, String, String)> = with_tx!(tx, conn => {
        let rows = sqlx::query(
            "SELECT ca.id, ca.unit_id, u.path FROM case_assists ca JOIN units u ON u.id = ca.unit_id \
             WHERE ca.case_id = $1 AND ca.status = 'open' ORDER BY u.path",
        )
        .bind(case_id)
        .fetch_all(conn)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push((r.try_get("id")?, r.try_get("unit_id")?, r.try_get("path")?));
        }
        out
    });
    let (id, unit, _) = open
        .into_iter()
        .find(|(_, _, path)| actor.has_role_over(acting_role, path))
        .ok_or_else(|| {
            invalid(
                answer.field,
                "you handle for no unit with an open assist task on this case",
            )
        })?;
    with_tx!(tx, conn => {
        sqlx::query("UPDATE case_assists SET status = 'answered', result = $1, closed_at = $2 WHERE id = $3")
            .bind(answer.text).bind(at).bind(&id).execute(conn).await?;
    });
    Ok(unit)
}

fn unit_of_rule(rule: &str) -> Result<DurationUnit, StoreError> {
    rule.parse::<DurationRule>()
        .map(|r| r.unit)
        .map_err(|e| StoreError::Corrupt(format!("deadline rule: {e}")))
}

/// Pauses every running deadline of the case, keeping what it had left.
async fn suspend_deadlines_tx(
    tx: &mut Tx,
    rules: Rules<'_>,
    case_id: &str,
    at: Micros,
) -> Result<(), StoreError> {
    let running: Vec<(String, String, Option<i64>)> = with_tx!(tx, conn => {
        let rows = sqlx::query("SELECT id, rule, due_at FROM deadlines WHERE case_id = $1 AND status = 'active'")
            .bind(case_id).fetch_all(conn).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push((r.try_get("id")?, r.try_get("rule")?, r.try_get("due_at")?));
        }
        out
    });
    for (id, rule, due_at) in running {
        let Some(due_at) = due_at else { continue };
        let remaining = rules.calendar.remaining(at, due_at, unit_of_rule(&rule)?);
        let remaining =
            serde_json::to_string(&remaining).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        with_tx!(tx, conn => {
            sqlx::query("UPDATE deadlines SET status = 'paused', remaining = $1, due_at = NULL, warn_at = NULL WHERE id = $2")
                .bind(remaining).bind(&id).execute(conn).await?;
        });
    }
    Ok(())
}

/// Restarts paused deadlines with the time they had left. Returns how many.
async fn resume_deadlines_tx(
    tx: &mut Tx,
    rules: Rules<'_>,
    case_id: &str,
    at: Micros,
) -> Result<usize, StoreError> {
    let paused: Vec<(String, Option<String>, Option<f64>)> = with_tx!(tx, conn => {
        let rows = sqlx::query("SELECT id, remaining, warn_ratio FROM deadlines WHERE case_id = $1 AND status = 'paused'")
            .bind(case_id).fetch_all(conn).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push((r.try_get("id")?, r.try_get("remaining")?, r.try_get("warn_ratio")?));
        }
        out
    });
    let n = paused.len();
    for (id, remaining, warn_ratio) in paused {
        let remaining: gongzhi_domain::calendar::Remaining = remaining
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("deadline {id} remaining: {e}")))?
            .ok_or_else(|| {
                StoreError::Corrupt(format!("deadline {id} paused without remaining time"))
            })?;
        let due = rules.calendar.resume(at, remaining);
        let warn_at = warn_ratio.map(|ratio| warn_time(at, due.at, ratio));
        with_tx!(tx, conn => {
            sqlx::query(
                "UPDATE deadlines SET status = 'active', due_at = $1, warn_at = $2, warned_at = NULL, remaining = NULL, provisional = $3 WHERE id = $4",
            )
            .bind(due.at).bind(warn_at).bind(i64::from(due.provisional)).bind(&id).execute(conn).await?;
        });
    }
    Ok(n)
}

/// Moves the running deadline out by `days` working days (延期). Returns the
/// due time before and after.
async fn extend_deadline_tx(
    tx: &mut Tx,
    rules: Rules<'_>,
    case_id: &str,
    field: &str,
    days: u32,
) -> Result<(Micros, Micros), ActError> {
    let running: Option<(String, i64, i64, Option<f64>)> = with_tx!(tx, conn => {
        match sqlx::query(
            "SELECT id, due_at, started_at, warn_ratio FROM deadlines WHERE case_id = $1 AND status = 'active' AND due_at IS NOT NULL AND clock IS NULL AND record_id IS NULL \
             ORDER BY started_at DESC LIMIT 1",
        )
        .bind(case_id)
        .fetch_optional(conn)
        .await?
        {
            Some(r) => Some((r.try_get("id")?, r.try_get("due_at")?, r.try_get("started_at")?, r.try_get("warn_ratio")?)),
            None => None,
        }
    });
    let (id, before, started_at, warn_ratio) =
        running.ok_or_else(|| invalid(field, "the case has no running deadline to extend"))?;
    let due = rules.calendar.due(
        before,
        DurationRule {
            amount: days,
            unit: DurationUnit::WorkingDays,
        },
    );
    let warn_at = warn_ratio.map(|ratio| warn_time(started_at, due.at, ratio));
    with_tx!(tx, conn => {
        sqlx::query("UPDATE deadlines SET due_at = $1, warn_at = $2, warned_at = NULL, provisional = $3 WHERE id = $4")
            .bind(due.at).bind(warn_at).bind(i64::from(due.provisional)).bind(&id).execute(conn).await?;
    });
    Ok((before, due.at))
}

impl Db {
    /// Creates several cases in one write transaction (group commit). All
    /// checks and reads come first; the rows of every accepted request are
    /// then written with one multi-row statement per table. If that write
    /// fails, nothing of it stays and each request is retried on its own, so
    /// one bad row never takes the others down. Results come back in order,
    /// and nothing is reported as created before its transaction committed.
    pub async fn create_cases_batch(
        &self,
        rules: Rules<'_>,
        batch: Vec<(Actor, NewCase, Micros)>,
    ) -> Vec<Result<Created, ActError>> {
        let n = batch.len();
        let unavailable = |what: &str| ActError::Store(StoreError::Unavailable(what.to_string()));
        let mut tx = match self.begin_write().await {
            Ok(tx) => tx,
            Err(e) => {
                return (0..n)
                    .map(|_| Err(unavailable(&format!("no write transaction: {e}"))))
                    .collect();
            }
        };
        let mut seen: HashMap<(String, String), String> = HashMap::new();
        let mut prepared: Vec<Result<Prepared, ActError>> = Vec::with_capacity(n);
        for (actor, new, at) in &batch {
            prepared.push(prepare_case_tx(&mut tx, rules, actor, new, *at, &mut seen).await);
        }
        let ready: Vec<&PreparedCase> = prepared
            .iter()
            .filter_map(|p| match p {
                Ok(Prepared::Ready(c)) => Some(c.as_ref()),
                _ => None,
            })
            .collect();
        let written = if ready.is_empty() {
            Ok(Vec::new())
        } else {
            write_prepared_tx(&mut tx, &ready).await
        };
        let committed = match written {
            Ok(entries) => tx.commit().await.map(|()| entries),
            Err(e) => {
                // Release the write lock before the one-by-one retries.
                if let Err(rollback) = tx.rollback().await {
                    tracing::error!(error = %rollback, "intake batch rollback");
                }
                Err(e)
            }
        };
        match committed {
            Ok(entries) => {
                let mut entries = entries.into_iter();
                prepared
                    .into_iter()
                    .map(|p| match p {
                        Ok(Prepared::Ready(c)) => Ok(Created {
                            case_id: c.case_id,
                            receipt_code: Some(c.receipt),
                            log_entry: entries.next(),
                        }),
                        Ok(Prepared::Replay(case_id)) => Ok(Created {
                            case_id,
                            receipt_code: None,
                            log_entry: None,
                        }),
                        Err(e) => Err(e),
                    })
                    .collect()
            }
            Err(e) => {
                // Rare (a receipt code clash, a unit gone meanwhile): redo one by one.
                tracing::warn!(error = %e, size = n, "intake batch failed; retrying its requests one by one");
                let mut out = Vec::with_capacity(n);
                for (actor, new, at) in batch {
                    out.push(self.create_case(rules, &actor, new, at).await);
                }
                out
            }
        }
    }
}

/// A request checked and turned into rows, not yet written.
struct PreparedCase {
    case_id: String,
    receipt: String,
    pack_id: String,
    pack_version: String,
    case_type: String,
    state: String,
    fields_text: String,
    holder: String,
    area: Option<String>,
    lng: Option<f64>,
    lat: Option<f64>,
    salt: String,
    at: Micros,
    closed_at: Option<Micros>,
    suggested_unit: Option<String>,
    route_reason: Option<String>,
    route_reason_en: Option<String>,
    category: Option<String>,
    idempotency: Option<(String, String)>,
    links: Vec<NewLink>,
    deadline: Option<PreparedDeadline>,
    entry: LogEntry,
}

enum Prepared {
    Ready(Box<PreparedCase>),
    /// The idempotency key was used before: the case it made.
    Replay(String),
}

/// Every check and read of a creation, with no write.
async fn prepare_case_tx(
    tx: &mut Tx,
    rules: Rules<'_>,
    actor: &Actor,
    new: &NewCase,
    at: Micros,
    seen: &mut HashMap<(String, String), String>,
) -> Result<Prepared, ActError> {
    let idempotency = match &new.idempotency_key {
        Some(key) => {
            if key.trim().is_empty() || key.len() > 128 {
                return Err(invalid("idempotency_key", "must be 1 to 128 characters"));
            }
            let pair = (actor.user_id.clone(), key.clone());
            if let Some(case_id) = seen.get(&pair) {
                return Ok(Prepared::Replay(case_id.clone()));
            }
            let earlier: Option<String> = with_tx!(tx, conn => {
                match sqlx::query("SELECT case_id FROM intake_keys WHERE caller_id = $1 AND idempotency_key = $2")
                    .bind(&actor.user_id)
                    .bind(key)
                    .fetch_optional(conn)
                    .await?
                {
                    Some(row) => Some(row.try_get::<String, _>("case_id")?),
                    None => None,
                }
            });
            if let Some(case_id) = earlier {
                return Ok(Prepared::Replay(case_id));
            }
            Some(pair)
        }
        None => None,
    };
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
    check_categories(rules, case_type, &transition)?;
    crate::people::refuse_people_at_creation(case_type, &transition)?;
    validate_place(&new.place)?;
    // The area comes from the place index; the foreign key guards the rest.
    let holder = resolve_target(tx, &transition, &assignment.unit_id, None).await?;
    let case_id = new_id();
    let links = resolve_case_refs_tx(tx, case_type, &transition)
        .await?
        .iter()
        .map(|(linked, key)| ref_link(case_type, &case_id, linked, key))
        .collect::<Result<Vec<_>, _>>()?;
    let salt = new_salt();
    let fields_text =
        serde_json::to_string(&transition.fields).map_err(|e| invalid("fields", e.to_string()))?;
    let terminal = case_type
        .states
        .get(&transition.to_state)
        .is_some_and(|s| s.terminal);
    let deadline = transition.enter_deadline.as_ref().map(|def| {
        let basis = DeadlineBasis::of(case_type, &transition.fields);
        prepare_deadline(rules, def, &transition.to_state, basis, at)
    });
    let mut extra = vec![("holder_unit_id", Value::Null, Value::String(holder.clone()))];
    if let Some(area) = &new.place.area_unit_id {
        extra.push(("area_unit_id", Value::Null, Value::String(area.clone())));
    }
    let entry = LogEntry {
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
    };
    if let Some(pair) = &idempotency {
        seen.insert(pair.clone(), case_id.clone());
    }
    Ok(Prepared::Ready(Box::new(PreparedCase {
        receipt: random_receipt_code(),
        pack_id: case_type.pack_id.clone(),
        pack_version: case_type.pack_version.clone(),
        case_type: case_type.id.clone(),
        state: transition.to_state.clone(),
        fields_text,
        holder,
        area: new.place.area_unit_id.clone(),
        lng: new.place.lng,
        lat: new.place.lat,
        salt,
        at,
        closed_at: terminal.then_some(at),
        suggested_unit: new.suggestion.as_ref().and_then(|s| s.unit_id.clone()),
        route_reason: new.suggestion.as_ref().map(|s| s.reason_zh.clone()),
        route_reason_en: new.suggestion.as_ref().map(|s| s.reason_en.clone()),
        category: case_type
            .category_of(&transition.fields)
            .map(str::to_string),
        idempotency,
        links,
        deadline,
        entry,
        case_id,
    })))
}

/// `($1, $2, ...), ($k, ...)` for `rows` rows of `cols` columns.
pub(crate) fn values_clause(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|r| {
            let cells: Vec<String> = (1..=cols).map(|c| format!("${}", r * cols + c)).collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes prepared cases with one statement per table; returns their log
/// entries with their positions.
async fn write_prepared_tx(
    tx: &mut Tx,
    cases: &[&PreparedCase],
) -> Result<Vec<LogEntry>, StoreError> {
    let sql = format!(
        "INSERT INTO cases (id, receipt_code, pack_id, pack_version, case_type, state, fields, holder_unit_id, area_unit_id, \
         lng, lat, personal_salt, version, created_at, updated_at, closed_at, suggested_unit_id, route_reason, route_reason_en, category) VALUES {}",
        values_clause(cases.len(), 20)
    );
    with_tx!(tx, conn => {
        let mut q = sqlx::query(&sql);
        for c in cases {
            q = q
                .bind(&c.case_id)
                .bind(&c.receipt)
                .bind(&c.pack_id)
                .bind(&c.pack_version)
                .bind(&c.case_type)
                .bind(&c.state)
                .bind(&c.fields_text)
                .bind(&c.holder)
                .bind(&c.area)
                .bind(c.lng)
                .bind(c.lat)
                .bind(&c.salt)
                .bind(1_i64)
                .bind(c.at)
                .bind(c.at)
                .bind(c.closed_at)
                .bind(&c.suggested_unit)
                .bind(&c.route_reason)
                .bind(&c.route_reason_en)
                .bind(&c.category);
        }
        q.execute(conn).await?;
    });
    let keyed: Vec<&&PreparedCase> = cases.iter().filter(|c| c.idempotency.is_some()).collect();
    if !keyed.is_empty() {
        let sql = format!(
            "INSERT INTO intake_keys (caller_id, idempotency_key, case_id, created_at) VALUES {}",
            values_clause(keyed.len(), 4)
        );
        with_tx!(tx, conn => {
            let mut q = sqlx::query(&sql);
            for c in &keyed {
                if let Some((caller, key)) = &c.idempotency {
                    q = q.bind(caller).bind(key).bind(&c.case_id).bind(c.at);
                }
            }
            q.execute(conn).await?;
        });
    }
    for c in cases {
        for link in &c.links {
            crate::links::insert_link_tx(tx, link, None, c.at).await?;
        }
    }
    let deadlines: Vec<(&PreparedCase, &PreparedDeadline)> = cases
        .iter()
        .filter_map(|c| c.deadline.as_ref().map(|d| (*c, d)))
        .collect();
    if !deadlines.is_empty() {
        let sql = format!(
            "INSERT INTO deadlines (id, case_id, state, rule, calendar_version, started_at, due_at, warn_ratio, warn_at, provisional, on_expiry, status) VALUES {}",
            values_clause(deadlines.len(), 12)
        );
        with_tx!(tx, conn => {
            let mut q = sqlx::query(&sql);
            for (c, d) in &deadlines {
                q = q
                    .bind(&d.id)
                    .bind(&c.case_id)
                    .bind(&d.state)
                    .bind(&d.rule)
                    .bind(&d.calendar_version)
                    .bind(c.at)
                    .bind(d.due_at)
                    .bind(d.warn_ratio)
                    .bind(d.warn_at)
                    .bind(i64::from(d.provisional))
                    .bind(&d.on_expiry)
                    .bind("active");
            }
            q.execute(conn).await?;
        });
    }
    // One move of the log head for the whole batch: positions stay dense.
    let count = i64::try_from(cases.len()).map_err(|_| StoreError::Corrupt("batch size".into()))?;
    let next: i64 = with_tx!(tx, conn => {
        sqlx::query("UPDATE log_head SET next_seq = next_seq + $1 WHERE id = 1 RETURNING next_seq")
            .bind(count)
            .fetch_one(conn)
            .await?
            .try_get::<i64, _>("next_seq")?
    });
    let first = next - count;
    let mut entries = Vec::with_capacity(cases.len());
    for (i, c) in cases.iter().enumerate() {
        let mut entry = c.entry.clone();
        entry.seq = u64::try_from(first + i as i64)
            .map_err(|_| StoreError::Corrupt(format!("log head {next}")))?;
        entries.push(entry);
    }
    let sql = format!(
        "INSERT INTO log_entries (seq, id, case_id, at, actor_id, actor_unit_id, action, from_state, to_state, changes, reason, leaf_hash) VALUES {}",
        values_clause(entries.len(), 12)
    );
    with_tx!(tx, conn => {
        let mut q = sqlx::query(&sql);
        for e in &entries {
            q = q
                .bind(e.seq as i64)
                .bind(&e.id)
                .bind(&e.case_id)
                .bind(e.at)
                .bind(&e.actor_id)
                .bind(&e.actor_unit_id)
                .bind(&e.action)
                .bind(&e.from_state)
                .bind(&e.to_state)
                .bind(&e.changes)
                .bind(&e.reason)
                .bind(e.leaf_hash_hex());
        }
        q.execute(conn).await?;
    });
    Ok(entries)
}
