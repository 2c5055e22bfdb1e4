//! A case's records (`domain::pack::RecordDef`): added and moved through
//! their small life by staff whose roles over the case the pack allows, each
//! step an entry in the case's log whose personal values are salted digests
//! (the case's salt), as for the case's own fields.

use serde::Serialize;
use serde_json::{Map, Value, json};
use sqlx::Row;

use gongzhi_domain::access::Actor;
use gongzhi_domain::calendar::WorkCalendar;
use gongzhi_domain::ids::new_id;
use gongzhi_domain::log::{LogEntry, canonical_json, personal_digest};
use gongzhi_domain::pack::{FieldKind, MAX_RECORDS, RecordDef};
use gongzhi_domain::role::Role;
use gongzhi_domain::time::Micros;

use crate::case_rows::{CaseRecord, load_case_tx};
use crate::db::{Db, Tx, with_pool, with_tx};
use crate::error::StoreError;
use crate::log_write::append_log;
use crate::record_deadlines::{RecordNow, close_record_deadlines_tx, open_record_deadline_tx};

const ADD_ACTION: &str = "record.add";
const ACT_ACTION: &str = "record.act";

/// A record of a case, with its fields in clear (the caller masks them).
#[derive(Debug, Clone, Serialize)]
pub struct CaseRecordEntry {
    pub id: String,
    pub case_id: String,
    pub kind: String,
    pub state: Option<String>,
    pub fields: Map<String, Value>,
    pub version: i64,
    pub created_by: Option<String>,
    /// The party who added it on the public lookup, if one did.
    pub party_id: Option<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

macro_rules! record_from_row {
    ($row:expr) => {{
        let row = $row;
        let id: String = row.try_get("id")?;
        let fields: String = row.try_get("fields")?;
        let fields: Map<String, Value> = serde_json::from_str(&fields)
            .map_err(|e| StoreError::Corrupt(format!("record {id}: {e}")))?;
        CaseRecordEntry {
            case_id: row.try_get("case_id")?,
            kind: row.try_get("kind")?,
            state: row.try_get("state")?,
            fields,
            version: row.try_get("version")?,
            created_by: row.try_get("created_by")?,
            party_id: row.try_get("party_id")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            id,
        }
    }};
}

/// Field values as the log commits to them: personal ones as digests.
fn logged_fields(def: &RecordDef, salt: &str, fields: &Map<String, Value>) -> Value {
    let out: Map<String, Value> = fields
        .iter()
        .map(|(k, v)| {
            // A field the pack no longer declares is treated as personal.
            let personal = def.fields.get(k).is_none_or(|f| f.personal);
            let logged = if personal {
                Value::String(personal_digest(salt, v))
            } else {
                v.clone()
            };
            (k.clone(), logged)
        })
        .collect();
    Value::Object(out)
}

/// The case and the actor's roles over it (its holder and area: assisting
/// units keep to their task), or the missing-case answer.
async fn case_and_roles_tx(
    tx: &mut Tx,
    actor: &Actor,
    case_id: &str,
) -> Result<(CaseRecord, Vec<Role>), StoreError> {
    let case = load_case_tx(tx, case_id)
        .await?
        .filter(|c| actor.can_see(&c.access_scope()))
        .ok_or(StoreError::NotFound("case"))?;
    // The person the case is assigned to, once a party bars them (a party
    // added since, or one they declared related), steps aside: no records.
    if case.assignee_user_id.as_deref() == Some(actor.user_id.as_str())
        && let Some(c) = crate::conflicts::conflict_of_tx(tx, &case.id, &actor.user_id).await?
        && c.bars()
    {
        return Err(StoreError::Forbidden(c.step_aside_message()));
    }
    let roles = actor.roles_over(&case.access_scope().without_assists());
    Ok((case, roles))
}

async fn log_record(
    tx: &mut Tx,
    actor: &Actor,
    case: &CaseRecord,
    action: &str,
    change: Value,
    at: Micros,
) -> Result<(), StoreError> {
    let scope = case.access_scope();
    let actor_unit = actor
        .roles_over(&scope)
        .into_iter()
        .find_map(|role| actor.acting_assignment(role, &scope))
        .map(|a| a.unit_id.clone());
    append_log(
        tx,
        LogEntry {
            seq: 0,
            id: new_id(),
            case_id: case.id.clone(),
            at,
            actor_id: Some(actor.user_id.clone()),
            actor_unit_id: actor_unit,
            action: action.to_string(),
            from_state: Some(case.state.clone()),
            to_state: case.state.clone(),
            changes: canonical_json(&change),
            reason: None,
        },
    )
    .await?;
    Ok(())
}

fn refused(e: gongzhi_domain::pack::RecordError) -> StoreError {
    StoreError::invalid(&e.field, e.message)
}

impl Db {
    /// Adds a record of `def`'s kind to a case the actor can see, if their
    /// roles over it allow; returns its id.
    pub async fn add_record_logged(
        &self,
        calendar: &WorkCalendar,
        actor: &Actor,
        case_id: &str,
        def: &RecordDef,
        fields: &Map<String, Value>,
        at: Micros,
    ) -> Result<String, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = add_record_tx(&mut tx, calendar, actor, case_id, def, fields, at).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Takes a record action: its state and the fields it sets, checked
    /// against the record as it is now; the log keeps what changed.
    #[allow(clippy::too_many_arguments)]
    pub async fn act_on_record_logged(
        &self,
        calendar: &WorkCalendar,
        actor: &Actor,
        case_id: &str,
        record_id: &str,
        def: &RecordDef,
        action: &str,
        fields: &Map<String, Value>,
        at: Micros,
    ) -> Result<CaseRecordEntry, StoreError> {
        let mut tx = self.begin_write().await?;
        let record = act_on_record_tx(
            &mut tx, calendar, actor, case_id, record_id, def, action, fields, at,
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// A party takes a record action declared for its role (see
    /// [`party_acts_on_record_tx`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn party_acts_on_record_logged(
        &self,
        calendar: &WorkCalendar,
        actor: &Actor,
        case_id: &str,
        party_id: &str,
        record_id: &str,
        def: &RecordDef,
        action: &str,
        at: Micros,
    ) -> Result<CaseRecordEntry, StoreError> {
        let mut tx = self.begin_write().await?;
        let record = party_acts_on_record_tx(
            &mut tx, calendar, actor, case_id, party_id, record_id, def, action, at,
        )
        .await?;
        tx.commit().await?;
        Ok(record)
    }

    /// A party adds a record on the public lookup (see
    /// [`party_adds_record_tx`]).
    #[allow(clippy::too_many_arguments)]
    pub async fn party_adds_record_logged(
        &self,
        calendar: &WorkCalendar,
        actor: &Actor,
        case_id: &str,
        party_id: &str,
        def: &RecordDef,
        fields: &Map<String, Value>,
        at: Micros,
    ) -> Result<String, StoreError> {
        let mut tx = self.begin_write().await?;
        let id = party_adds_record_tx(&mut tx, calendar, actor, case_id, party_id, def, fields, at)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// A case's records, oldest first. The caller has checked the case and
    /// masks personal values.
    pub async fn records_of(&self, case_id: &str) -> Result<Vec<CaseRecordEntry>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT * FROM case_records WHERE case_id = $1 ORDER BY created_at, id")
                .bind(case_id)
                .fetch_all(pool)
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(record_from_row!(row));
            }
            Ok(out)
        })
    }
}

/// Adds a record inside the caller's transaction (see [`Db::add_record_logged`]).
#[allow(clippy::too_many_arguments)]
pub async fn add_record_tx(
    tx: &mut Tx,
    calendar: &WorkCalendar,
    actor: &Actor,
    case_id: &str,
    def: &RecordDef,
    fields: &Map<String, Value>,
    at: Micros,
) -> Result<String, StoreError> {
    let (case, roles) = case_and_roles_tx(tx, actor, case_id).await?;
    let (state, fields) = def.check_new(fields, &roles).map_err(refused)?;
    let new = NewRecord {
        def,
        state,
        fields,
        party: None,
    };
    insert_record_tx(tx, calendar, actor, &case, new, at).await
}

/// A party of the case adds a record of a kind the pack leaves to its role
/// (evidence for the exchange) on the public lookup. `actor` is the system
/// account the lookup acts under; the record and its log entry name the party.
#[allow(clippy::too_many_arguments)]
pub async fn party_adds_record_tx(
    tx: &mut Tx,
    calendar: &WorkCalendar,
    actor: &Actor,
    case_id: &str,
    party_id: &str,
    def: &RecordDef,
    fields: &Map<String, Value>,
    at: Micros,
) -> Result<String, StoreError> {
    let case = load_case_tx(tx, case_id)
        .await?
        .ok_or(StoreError::NotFound("case"))?;
    let role = party_role_tx(tx, &case.id, party_id).await?;
    let (state, fields) = def.check_new_by_party(fields, &role).map_err(refused)?;
    let new = NewRecord {
        def,
        state,
        fields,
        party: Some(party_id),
    };
    insert_record_tx(tx, calendar, actor, &case, new, at).await
}

/// A record checked against its kind, to be stored.
struct NewRecord<'a> {
    def: &'a RecordDef,
    state: Option<String>,
    fields: Map<String, Value>,
    party: Option<&'a str>,
}

async fn insert_record_tx(
    tx: &mut Tx,
    calendar: &WorkCalendar,
    actor: &Actor,
    case: &CaseRecord,
    new: NewRecord<'_>,
    at: Micros,
) -> Result<String, StoreError> {
    let NewRecord {
        def,
        state,
        fields,
        party,
    } = new;
    check_attachments_tx(tx, &case.id, def, &fields).await?;
    let count: i64 = with_tx!(tx, conn => {
        sqlx::query("SELECT COUNT(*) AS n FROM case_records WHERE case_id = $1")
            .bind(&case.id)
            .fetch_one(&mut *conn)
            .await?
            .try_get("n")?
    });
    if usize::try_from(count).unwrap_or(usize::MAX) >= MAX_RECORDS {
        return Err(StoreError::invalid(
            "kind",
            format!("a case holds at most {MAX_RECORDS} records"),
        ));
    }
    let id = new_id();
    let text =
        serde_json::to_string(&fields).map_err(|e| StoreError::invalid("fields", e.to_string()))?;
    with_tx!(tx, conn => {
        sqlx::query(
            "INSERT INTO case_records (id, case_id, kind, state, fields, version, created_by, party_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $8)",
        )
        .bind(&id)
        .bind(&case.id)
        .bind(&def.kind)
        .bind(&state)
        .bind(&text)
        .bind(&actor.user_id)
        .bind(party)
        .bind(at)
        .execute(&mut *conn)
        .await?;
    });
    let now = RecordNow {
        case_id: &case.id,
        record_id: &id,
        def,
        state: state.as_deref(),
        fields: &fields,
    };
    let deadline = open_record_deadline_tx(tx, calendar, now, at).await?;
    let mut after = json!({
        "id": id, "kind": def.kind, "state": state,
        "fields": logged_fields(def, &case.personal_salt, &fields),
    });
    if let Some(obj) = after.as_object_mut() {
        if let Some(deadline) = deadline {
            obj.insert("deadline".into(), deadline);
        }
        if let Some(party) = party {
            obj.insert("party".into(), Value::String(party.to_string()));
        }
    }
    let change = json!({"record": {"before": Value::Null, "after": after}});
    log_record(tx, actor, case, ADD_ACTION, change, at).await?;
    Ok(id)
}

/// Every `attachment` field names a file attached to this same case.
async fn check_attachments_tx(
    tx: &mut Tx,
    case_id: &str,
    def: &RecordDef,
    fields: &Map<String, Value>,
) -> Result<(), StoreError> {
    for field in def
        .fields
        .values()
        .filter(|f| f.kind == FieldKind::Attachment)
    {
        let Some(id) = fields.get(&field.key).and_then(Value::as_str) else {
            continue;
        };
        let found = with_tx!(tx, conn => {
            sqlx::query("SELECT id FROM attachments WHERE id = $1 AND case_id = $2")
                .bind(id)
                .bind(case_id)
                .fetch_optional(&mut *conn)
                .await?
                .is_some()
        });
        if !found {
            return Err(StoreError::invalid(
                &format!("fields.{}", field.key),
                "is not a file attached to this case",
            ));
        }
    }
    Ok(())
}

async fn party_role_tx(tx: &mut Tx, case_id: &str, party_id: &str) -> Result<String, StoreError> {
    with_tx!(tx, conn => {
        match sqlx::query("SELECT role FROM case_parties WHERE id = $1 AND case_id = $2 AND removed_at IS NULL")
            .bind(party_id)
            .bind(case_id)
            .fetch_optional(&mut *conn)
            .await?
        {
            Some(row) => Ok(row.try_get("role")?),
            None => Err(StoreError::NotFound("party")),
        }
    })
}

/// Takes a record action inside the caller's transaction (see
/// [`Db::act_on_record_logged`]).
#[allow(clippy::too_many_arguments)]
pub async fn act_on_record_tx(
    tx: &mut Tx,
    calendar: &WorkCalendar,
    actor: &Actor,
    case_id: &str,
    record_id: &str,
    def: &RecordDef,
    action: &str,
    fields: &Map<String, Value>,
    at: Micros,
) -> Result<CaseRecordEntry, StoreError> {
    let (case, roles) = case_and_roles_tx(tx, actor, case_id).await?;
    let record = load_record_tx(tx, &case.id, record_id, def).await?;
    let step = def
        .decide(
            record.state.as_deref(),
            &record.fields,
            action,
            fields,
            &roles,
        )
        .map_err(refused)?;
    let taken = Taken {
        case: &case,
        record,
        def,
        action,
        party: None,
    };
    commit_step_tx(tx, calendar, actor, taken, step, at).await
}

/// A party of the case takes a record action declared for its role (e.g.
/// confirms an agreement on the public lookup). `actor` is the system
/// account the lookup acts under; the log names the party.
#[allow(clippy::too_many_arguments)]
pub async fn party_acts_on_record_tx(
    tx: &mut Tx,
    calendar: &WorkCalendar,
    actor: &Actor,
    case_id: &str,
    party_id: &str,
    record_id: &str,
    def: &RecordDef,
    action: &str,
    at: Micros,
) -> Result<CaseRecordEntry, StoreError> {
    let case = load_case_tx(tx, case_id)
        .await?
        .ok_or(StoreError::NotFound("case"))?;
    let role = party_role_tx(tx, &case.id, party_id).await?;
    let record = load_record_tx(tx, &case.id, record_id, def).await?;
    let step = def
        .decide_as_party(record.state.as_deref(), &record.fields, action, &role)
        .map_err(refused)?;
    let taken = Taken {
        case: &case,
        record,
        def,
        action,
        party: Some(party_id),
    };
    commit_step_tx(tx, calendar, actor, taken, step, at).await
}

async fn load_record_tx(
    tx: &mut Tx,
    case_id: &str,
    record_id: &str,
    def: &RecordDef,
) -> Result<CaseRecordEntry, StoreError> {
    with_tx!(tx, conn => {
        match sqlx::query("SELECT * FROM case_records WHERE id = $1 AND case_id = $2")
            .bind(record_id)
            .bind(case_id)
            .fetch_optional(&mut *conn)
            .await?
        {
            Some(row) => Some(record_from_row!(&row)),
            None => None,
        }
    })
    .filter(|r| r.kind == def.kind)
    .ok_or(StoreError::NotFound("record"))
}

/// A record action being taken: on which record, and by which party if a
/// party takes it.
struct Taken<'a> {
    case: &'a CaseRecord,
    record: CaseRecordEntry,
    def: &'a RecordDef,
    action: &'a str,
    party: Option<&'a str>,
}

/// Stores a decided step (refused if the record changed meanwhile) and logs
/// what changed.
async fn commit_step_tx(
    tx: &mut Tx,
    calendar: &WorkCalendar,
    actor: &Actor,
    taken: Taken<'_>,
    step: gongzhi_domain::pack::RecordStep,
    at: Micros,
) -> Result<CaseRecordEntry, StoreError> {
    let Taken {
        case,
        record,
        def,
        action,
        party,
    } = taken;
    check_attachments_tx(tx, &case.id, def, &step.fields).await?;
    let text = serde_json::to_string(&step.fields)
        .map_err(|e| StoreError::invalid("fields", e.to_string()))?;
    let updated = with_tx!(tx, conn => {
        sqlx::query(
            "UPDATE case_records SET state = $1, fields = $2, version = version + 1, updated_at = $3 \
             WHERE id = $4 AND version = $5",
        )
        .bind(&step.to)
        .bind(&text)
        .bind(at)
        .bind(&record.id)
        .bind(record.version)
        .execute(&mut *conn)
        .await?
        .rows_affected()
    });
    if updated != 1 {
        return Err(StoreError::invalid(
            "record",
            "the record changed meanwhile: load it again",
        ));
    }
    let pick = |from: &Map<String, Value>| -> Map<String, Value> {
        step.changed
            .iter()
            .filter_map(|k| from.get(k).map(|v| (k.clone(), v.clone())))
            .collect()
    };
    let salt = &case.personal_salt;
    let mut after = json!({"id": record.id, "kind": def.kind, "action": action, "state": step.to,
                           "fields": logged_fields(def, salt, &pick(&step.fields))});
    if let (Some(party), Some(obj)) = (party, after.as_object_mut()) {
        obj.insert("party".into(), Value::String(party.to_string()));
    }
    // The state's limit runs from entering it, or from its anchoring date:
    // a new state or a new date starts it again.
    let anchor_moved = record
        .state
        .as_deref()
        .and_then(|s| def.states.get(s))
        .and_then(|s| s.deadline_after.as_ref())
        .is_some_and(|f| step.changed.contains(f));
    if record.state.as_deref() != Some(step.to.as_str()) || anchor_moved {
        let closed = close_record_deadlines_tx(tx, &case.id, Some(&record.id), at).await?;
        let now = RecordNow {
            case_id: &case.id,
            record_id: &record.id,
            def,
            state: Some(&step.to),
            fields: &step.fields,
        };
        let opened = open_record_deadline_tx(tx, calendar, now, at).await?;
        if let Some(obj) = after.as_object_mut() {
            if let Some(deadline) = opened {
                obj.insert("deadline".into(), deadline);
            } else if closed > 0 {
                obj.insert("deadline".into(), Value::from("met"));
            }
        }
    }
    let change = json!({"record": {
        "before": {"id": record.id, "kind": def.kind, "state": record.state,
                   "fields": logged_fields(def, salt, &pick(&record.fields))},
        "after": after,
    }});
    log_record(tx, actor, case, ACT_ACTION, change, at).await?;
    Ok(CaseRecordEntry {
        state: Some(step.to),
        fields: step.fields,
        version: record.version + 1,
        updated_at: at,
        ..record
    })
}
