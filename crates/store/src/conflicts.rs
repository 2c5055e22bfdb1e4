//! Conflicts of interest in the store: staff members' declarations (their
//! own identifiers and related people's), parties' identifiers, and the check
//! that compares them when a person field with `conflict_check` is set. Both
//! sides are kept only as digests under the instance's identity key.

use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::Row;

use gongzhi_domain::conflict::{Conflict, Relation, hint, identity_digest, strongest};
use gongzhi_domain::ids::new_id;
use gongzhi_domain::pack::PartyDef;
use gongzhi_domain::time::Micros;

use crate::db::{Db, Tx, with_pool, with_tx};
use crate::error::StoreError;

/// Most declarations one staff member may keep.
pub const MAX_INTERESTS: i64 = 200;
/// Longest note on a declaration, in characters.
pub const MAX_INTEREST_NOTE: usize = 100;

/// A declaration as its owner sees it: never the value, only its last four.
#[derive(Debug, Clone, Serialize)]
pub struct Interest {
    pub id: String,
    pub relation: Relation,
    pub hint: String,
    pub note: Option<String>,
    pub created_at: Micros,
}

async fn identity_key_tx(tx: &mut Tx) -> Result<String, StoreError> {
    with_tx!(tx, conn => {
        let row = sqlx::query("SELECT value FROM instance_secrets WHERE name = 'identity_key'")
            .fetch_optional(conn)
            .await?
            .ok_or(StoreError::NotFound("the instance's identity key"))?;
        Ok(row.try_get::<String, _>("value")?)
    })
}

/// Keeps the digests of a new party's identifying values.
pub(crate) async fn record_party_identifiers_tx(
    tx: &mut Tx,
    def: &PartyDef,
    case_id: &str,
    party_id: &str,
    fields: &Map<String, Value>,
) -> Result<(), StoreError> {
    if def.identified_by.is_empty() {
        return Ok(());
    }
    let key = identity_key_tx(tx).await?;
    let mut digests: Vec<String> = def
        .identified_by
        .iter()
        .filter_map(|k| fields.get(k).and_then(Value::as_str))
        .filter_map(|v| identity_digest(&key, v))
        .collect();
    digests.sort();
    digests.dedup();
    for digest in digests {
        with_tx!(tx, conn => {
            sqlx::query("INSERT INTO party_identifiers (party_id, case_id, digest) VALUES ($1, $2, $3)")
                .bind(party_id)
                .bind(case_id)
                .bind(&digest)
                .execute(conn)
                .await?;
        });
    }
    Ok(())
}

/// A removed party no longer counts in any check.
pub(crate) async fn forget_party_identifiers_tx(
    tx: &mut Tx,
    party_id: &str,
) -> Result<(), StoreError> {
    with_tx!(tx, conn => {
        sqlx::query("DELETE FROM party_identifiers WHERE party_id = $1")
            .bind(party_id)
            .execute(conn)
            .await?;
    });
    Ok(())
}

/// The digests of the case's live parties that match the user's declarations
/// of `relation`.
const MATCH_HERE: &str = "SELECT COUNT(*) AS n FROM party_identifiers p \
     JOIN staff_interests s ON s.digest = p.digest \
     WHERE p.case_id = $1 AND s.user_id = $2 AND s.relation = $3 AND s.removed_at IS NULL";

/// Another open case where the user (by their own identifier) is a party
/// beside someone who is also a party to this case.
const MATCH_ELSEWHERE: &str = "SELECT COUNT(*) AS n FROM party_identifiers mine \
     JOIN cases c ON c.id = mine.case_id AND c.closed_at IS NULL \
     JOIN party_identifiers theirs ON theirs.case_id = mine.case_id AND theirs.party_id <> mine.party_id \
     WHERE mine.case_id <> $1 \
     AND mine.digest IN (SELECT digest FROM staff_interests WHERE user_id = $2 AND relation = 'own' AND removed_at IS NULL) \
     AND theirs.digest IN (SELECT digest FROM party_identifiers WHERE case_id = $1)";

async fn count_tx(
    tx: &mut Tx,
    sql: &str,
    case_id: &str,
    user_id: &str,
    relation: Option<Relation>,
) -> Result<i64, StoreError> {
    with_tx!(tx, conn => {
        let mut q = sqlx::query(sql).bind(case_id).bind(user_id);
        if let Some(r) = relation {
            q = q.bind(r.as_str());
        }
        Ok(q.fetch_one(conn).await?.try_get::<i64, _>("n")?)
    })
}

/// How `user_id` stands to the parties of `case_id`, the strongest first.
pub(crate) async fn conflict_of_tx(
    tx: &mut Tx,
    case_id: &str,
    user_id: &str,
) -> Result<Option<Conflict>, StoreError> {
    let mut found = Vec::new();
    if count_tx(tx, MATCH_HERE, case_id, user_id, Some(Relation::Own)).await? > 0 {
        found.push(Conflict::Party);
    }
    if count_tx(tx, MATCH_HERE, case_id, user_id, Some(Relation::Related)).await? > 0 {
        found.push(Conflict::Related);
    }
    if found.is_empty() && count_tx(tx, MATCH_ELSEWHERE, case_id, user_id, None).await? > 0 {
        found.push(Conflict::PartyElsewhere);
    }
    Ok(strongest(found))
}

impl Db {
    /// How each of `user_ids` stands to the parties of a case.
    pub async fn conflicts_for(
        &self,
        case_id: &str,
        user_ids: &[String],
    ) -> Result<Vec<(String, Option<Conflict>)>, StoreError> {
        // The same statements as the check made when assigning; nothing is
        // written, and the transaction is dropped (rolled back).
        let mut tx = self.begin_write().await?;
        let mut out = Vec::with_capacity(user_ids.len());
        for user in user_ids {
            out.push((user.clone(), conflict_of_tx(&mut tx, case_id, user).await?));
        }
        Ok(out)
    }

    /// A staff member declares an identifier of their own or of someone
    /// related to them; only its digest and last four characters are kept.
    pub async fn declare_interest(
        &self,
        user_id: &str,
        relation: Relation,
        value: &str,
        note: Option<&str>,
        at: Micros,
    ) -> Result<Interest, StoreError> {
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        if note.is_some_and(|n| n.chars().count() > MAX_INTEREST_NOTE) {
            return Err(StoreError::invalid(
                "note",
                format!("at most {MAX_INTEREST_NOTE} characters"),
            ));
        }
        let mut tx = self.begin_write().await?;
        let key = identity_key_tx(&mut tx).await?;
        let digest = identity_digest(&key, value).ok_or_else(|| {
            StoreError::invalid(
                "identifier",
                "give an ID number or a phone number (at least 6 letters or digits)",
            )
        })?;
        let (count, same): (i64, i64) = with_tx!(&mut tx, conn => {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN digest = $2 AND relation = $3 THEN 1 ELSE 0 END), 0) AS same \
                 FROM staff_interests WHERE user_id = $1 AND removed_at IS NULL",
            )
            .bind(user_id)
            .bind(&digest)
            .bind(relation.as_str())
            .fetch_one(conn)
            .await?;
            (row.try_get("n")?, row.try_get("same")?)
        });
        if same > 0 {
            return Err(StoreError::invalid("identifier", "already declared"));
        }
        if count >= MAX_INTERESTS {
            return Err(StoreError::invalid(
                "identifier",
                format!("at most {MAX_INTERESTS} declarations"),
            ));
        }
        let interest = Interest {
            id: new_id(),
            relation,
            hint: hint(value),
            note: note.map(str::to_string),
            created_at: at,
        };
        with_tx!(&mut tx, conn => {
            sqlx::query(
                "INSERT INTO staff_interests (id, user_id, relation, digest, hint, note, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&interest.id)
            .bind(user_id)
            .bind(relation.as_str())
            .bind(&digest)
            .bind(&interest.hint)
            .bind(&interest.note)
            .bind(at)
            .execute(conn)
            .await?;
        });
        tx.commit().await?;
        Ok(interest)
    }

    /// A staff member's live declarations, oldest first.
    pub async fn interests_of(&self, user_id: &str) -> Result<Vec<Interest>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query(
                "SELECT id, relation, hint, note, created_at FROM staff_interests \
                 WHERE user_id = $1 AND removed_at IS NULL ORDER BY created_at, id",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let relation: String = row.try_get("relation")?;
                out.push(Interest {
                    id: row.try_get("id")?,
                    relation: Relation::parse(&relation).unwrap_or(Relation::Related),
                    hint: row.try_get("hint")?,
                    note: row.try_get("note")?,
                    created_at: row.try_get("created_at")?,
                });
            }
            Ok(out)
        })
    }

    /// Withdraws one of the user's own declarations.
    pub async fn remove_interest(
        &self,
        user_id: &str,
        id: &str,
        at: Micros,
    ) -> Result<(), StoreError> {
        let removed = with_pool!(self, pool => {
            sqlx::query(
                "UPDATE staff_interests SET removed_at = $1 WHERE id = $2 AND user_id = $3 AND removed_at IS NULL",
            )
            .bind(at)
            .bind(id)
            .bind(user_id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if removed == 0 {
            return Err(StoreError::NotFound("declaration"));
        }
        Ok(())
    }
}
