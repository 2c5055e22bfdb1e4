//! The persisted Merkle tree over the log, its signed checkpoints, witness
//! cosignatures, and the state of logs this instance witnesses.
//!
//! Integration appends to the tree in one write transaction: it reads the
//! tree's frontier (at most 64 hashes), hashes the new leaves in memory and
//! inserts the new stored hashes, so each entry costs O(1) amortised and at
//! most O(log n) writes, and nothing is ever rebuilt at start-up.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row;

use gongzhi_domain::checkpoint::{BUNDLE_FORMAT, Bundle, BundleEntry, restrict_note};
use gongzhi_domain::ids::new_id;
use gongzhi_domain::log::LogEntry;
use gongzhi_domain::merkle::{self, Frontier, Hash, MapReader};
use gongzhi_domain::time::{Micros, now_micros};

use crate::db::{Db, with_pool, with_tx};
use crate::error::StoreError;

/// The stored tree: how many entries it covers and its root.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeState {
    pub size: u64,
    pub root: Hash,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoredCheckpoint {
    pub id: String,
    pub tree_size: u64,
    pub root_hash: String,
    /// The signed note as signed by the log (no cosignatures).
    pub note: String,
    pub created_at: Micros,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoredCosignature {
    pub checkpoint_id: String,
    /// The witness key, `name+hexid`.
    pub witness: String,
    /// The signature line, `— name base64`.
    pub line: String,
    /// When the witness cosigned (epoch seconds, from the cosignature).
    pub cosigned_at: i64,
    pub received_at: Micros,
}

/// The last checkpoint this instance cosigned for a log it witnesses.
#[derive(Debug, Clone)]
pub struct WitnessedLog {
    pub origin: String,
    pub tree_size: u64,
    pub root_hash: String,
    pub note: String,
}

fn to_i64(v: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::invalid(what, "too large"))
}

fn to_u64(v: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} {v}")))
}

fn parse_stored_hash(text: &str, what: &str) -> Result<Hash, StoreError> {
    merkle::parse_hash(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn in_list(start: usize, n: usize) -> String {
    (0..n)
        .map(|i| format!("${}", start + i))
        .collect::<Vec<_>>()
        .join(",")
}

/// Rows per multi-row statement: well under both backends' parameter limits.
const CHUNK: usize = 500;

macro_rules! checkpoint_from_row {
    ($row:expr) => {
        StoredCheckpoint {
            id: $row.try_get("id")?,
            tree_size: to_u64($row.try_get("tree_size")?, "checkpoint size")?,
            root_hash: $row.try_get("root_hash")?,
            note: $row.try_get("note")?,
            created_at: $row.try_get("created_at")?,
        }
    };
}

macro_rules! entry_from_row {
    ($row:expr) => {
        LogEntry {
            seq: to_u64($row.try_get("seq")?, "seq")?,
            id: $row.try_get("id")?,
            case_id: $row.try_get("case_id")?,
            at: $row.try_get("at")?,
            actor_id: $row.try_get("actor_id")?,
            actor_unit_id: $row.try_get("actor_unit_id")?,
            action: $row.try_get("action")?,
            from_state: $row.try_get("from_state")?,
            to_state: $row.try_get("to_state")?,
            changes: $row.try_get("changes")?,
            reason: $row.try_get("reason")?,
        }
    };
}

impl Db {
    /// How many entries the log has (committed).
    pub async fn log_size(&self) -> Result<u64, StoreError> {
        with_pool!(self, pool => {
            let n: i64 = sqlx::query("SELECT next_seq FROM log_head WHERE id = 1")
                .fetch_one(pool).await?.try_get("next_seq")?;
            to_u64(n, "log head")
        })
    }

    pub async fn tree_state(&self) -> Result<TreeState, StoreError> {
        with_pool!(self, pool => {
            let row = sqlx::query("SELECT size, root_hash FROM log_tree WHERE id = 1")
                .fetch_one(pool).await?;
            Ok(TreeState {
                size: to_u64(row.try_get("size")?, "tree size")?,
                root: parse_stored_hash(&row.try_get::<String, _>("root_hash")?, "tree root")?,
            })
        })
    }

    /// Stored tree hashes by index; missing indexes are absent from the map.
    pub async fn read_tree_hashes(
        &self,
        indexes: &[u64],
    ) -> Result<HashMap<u64, Hash>, StoreError> {
        let mut out = HashMap::with_capacity(indexes.len());
        for chunk in indexes.chunks(CHUNK) {
            let sql = format!(
                "SELECT idx, hash FROM log_tree_hashes WHERE idx IN ({})",
                in_list(1, chunk.len())
            );
            with_pool!(self, pool => {
                let mut q = sqlx::query(&sql);
                for i in chunk {
                    q = q.bind(to_i64(*i, "index")?);
                }
                for row in q.fetch_all(pool).await? {
                    let idx = to_u64(row.try_get("idx")?, "tree index")?;
                    out.insert(idx, parse_stored_hash(&row.try_get::<String, _>("hash")?, "tree hash")?);
                }
            });
        }
        Ok(out)
    }

    /// Integrates up to `max` new log entries into the stored tree, in one
    /// transaction. Returns the new state, or `None` when there was nothing new.
    pub async fn integrate(&self, max: usize) -> Result<Option<TreeState>, StoreError> {
        let mut tx = self.begin_write().await?;
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let (size, leaves) = with_tx!(&mut tx, conn => {
            let size: i64 = sqlx::query("SELECT size FROM log_tree WHERE id = 1")
                .fetch_one(&mut *conn).await?.try_get("size")?;
            let rows = sqlx::query("SELECT seq, leaf_hash FROM log_entries WHERE seq >= $1 ORDER BY seq LIMIT $2")
                .bind(size).bind(limit).fetch_all(&mut *conn).await?;
            let mut leaves = Vec::with_capacity(rows.len());
            for row in rows {
                leaves.push((row.try_get::<i64, _>("seq")?, row.try_get::<String, _>("leaf_hash")?));
            }
            (size, leaves)
        });
        if leaves.is_empty() {
            return Ok(None);
        }
        let old_size = to_u64(size, "tree size")?;
        let indexes = Frontier::indexes(old_size);
        let mut stored = HashMap::new();
        if !indexes.is_empty() {
            let sql = format!(
                "SELECT idx, hash FROM log_tree_hashes WHERE idx IN ({})",
                in_list(1, indexes.len())
            );
            with_tx!(&mut tx, conn => {
                let mut q = sqlx::query(&sql);
                for i in &indexes {
                    q = q.bind(to_i64(*i, "index")?);
                }
                for row in q.fetch_all(&mut *conn).await? {
                    stored.insert(to_u64(row.try_get("idx")?, "tree index")?, row.try_get::<String, _>("hash")?);
                }
            });
        }
        let mut roots = Vec::with_capacity(indexes.len());
        for i in &indexes {
            let text = stored
                .get(i)
                .ok_or_else(|| StoreError::Corrupt(format!("tree hash {i} missing")))?;
            roots.push(parse_stored_hash(text, "tree hash")?);
        }
        let mut frontier = Frontier::from_stored(old_size, roots)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let mut new_hashes = Vec::with_capacity(leaves.len() * 2);
        for (seq, leaf) in &leaves {
            // Only a dense run of entries joins the tree; a gap means an entry
            // was removed, which `gongzhi verify` reports.
            if to_u64(*seq, "seq")? != frontier.size() {
                if frontier.size() == old_size {
                    return Err(StoreError::Corrupt(format!(
                        "log entry {} missing",
                        frontier.size()
                    )));
                }
                break;
            }
            new_hashes.extend(frontier.push(parse_stored_hash(leaf, "leaf hash")?));
        }
        for chunk in new_hashes.chunks(CHUNK) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
                .collect();
            let sql = format!(
                "INSERT INTO log_tree_hashes (idx, hash) VALUES {}",
                values.join(",")
            );
            with_tx!(&mut tx, conn => {
                let mut q = sqlx::query(&sql);
                for (idx, hash) in chunk {
                    q = q.bind(to_i64(*idx, "index")?).bind(merkle::hash_hex(hash));
                }
                q.execute(&mut *conn).await?;
            });
        }
        let state = TreeState {
            size: frontier.size(),
            root: frontier.root(),
        };
        let updated = with_tx!(&mut tx, conn => {
            sqlx::query("UPDATE log_tree SET size = $1, root_hash = $2, updated_at = $3 WHERE id = 1 AND size = $4")
                .bind(to_i64(state.size, "size")?)
                .bind(merkle::hash_hex(&state.root))
                .bind(now_micros())
                .bind(size)
                .execute(&mut *conn).await?.rows_affected()
        });
        if updated != 1 {
            return Err(StoreError::Conflict(
                "the tree moved during integration".into(),
            ));
        }
        tx.commit().await?;
        Ok(Some(state))
    }

    /// The inclusion proof of entry `seq` in the tree of `size` entries.
    pub async fn inclusion_proof(&self, seq: u64, size: u64) -> Result<Vec<Hash>, StoreError> {
        self.check_tree_covers(size).await?;
        let need = merkle::inclusion_indexes(seq, size)
            .map_err(|e| StoreError::invalid("seq", e.to_string()))?;
        let reader = MapReader(self.read_tree_hashes(&need).await?);
        merkle::prove_inclusion(seq, size, &reader).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// The consistency proof from the tree of `old` entries to the one of `new`.
    pub async fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, StoreError> {
        self.check_tree_covers(new).await?;
        let need = merkle::consistency_indexes(old, new)
            .map_err(|e| StoreError::invalid("from", e.to_string()))?;
        let reader = MapReader(self.read_tree_hashes(&need).await?);
        merkle::prove_consistency(old, new, &reader).map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn check_tree_covers(&self, size: u64) -> Result<(), StoreError> {
        let state = self.tree_state().await?;
        if size > state.size {
            return Err(StoreError::invalid(
                "size",
                format!("the tree has {} entries, not {size}", state.size),
            ));
        }
        Ok(())
    }

    /// Stores a signed checkpoint.
    pub async fn insert_checkpoint(
        &self,
        size: u64,
        root: &Hash,
        note: &str,
    ) -> Result<StoredCheckpoint, StoreError> {
        let cp = StoredCheckpoint {
            id: new_id(),
            tree_size: size,
            root_hash: merkle::hash_hex(root),
            note: note.to_string(),
            created_at: now_micros(),
        };
        with_pool!(self, pool => {
            sqlx::query("INSERT INTO log_checkpoints (id, tree_size, root_hash, note, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(&cp.id)
                .bind(to_i64(size, "size")?)
                .bind(&cp.root_hash)
                .bind(&cp.note)
                .bind(cp.created_at)
                .execute(pool).await?;
        });
        Ok(cp)
    }

    /// The newest checkpoint.
    pub async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        Ok(self.checkpoints(None, 1).await?.into_iter().next())
    }

    /// Checkpoints, newest first, optionally only those below a size.
    pub async fn checkpoints(
        &self,
        below_size: Option<u64>,
        limit: i64,
    ) -> Result<Vec<StoredCheckpoint>, StoreError> {
        let below = to_i64(below_size.unwrap_or(i64::MAX as u64), "before")?;
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT * FROM log_checkpoints WHERE tree_size < $1 ORDER BY tree_size DESC, created_at DESC LIMIT $2")
                .bind(below).bind(limit).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(checkpoint_from_row!(row));
            }
            Ok(out)
        })
    }

    /// Every checkpoint, oldest first (for verification).
    pub async fn all_checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT * FROM log_checkpoints ORDER BY tree_size, created_at")
                .fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(checkpoint_from_row!(row));
            }
            Ok(out)
        })
    }

    /// The newest checkpoint of exactly `size` entries.
    pub async fn checkpoint_at_size(
        &self,
        size: u64,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        with_pool!(self, pool => {
            match sqlx::query("SELECT * FROM log_checkpoints WHERE tree_size = $1 ORDER BY created_at DESC LIMIT 1")
                .bind(to_i64(size, "size")?).fetch_optional(pool).await? {
                Some(row) => Ok(Some(checkpoint_from_row!(row))),
                None => Ok(None),
            }
        })
    }

    /// Stores a verified cosignature; `false` when this witness had already cosigned.
    pub async fn add_cosignature(
        &self,
        checkpoint_id: &str,
        witness: &str,
        line: &str,
        cosigned_at: i64,
    ) -> Result<bool, StoreError> {
        let result = with_pool!(self, pool => {
            sqlx::query("INSERT INTO log_cosignatures (id, checkpoint_id, witness, line, cosigned_at, received_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(new_id()).bind(checkpoint_id).bind(witness).bind(line).bind(cosigned_at).bind(now_micros())
                .execute(pool).await.map(|r| r.rows_affected())
        });
        match result {
            Ok(_) => Ok(true),
            Err(e) => {
                let e = StoreError::from(e);
                if e.is_unique_violation() {
                    Ok(false)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Cosignatures of the given checkpoints.
    pub async fn cosignatures(
        &self,
        checkpoint_ids: &[String],
    ) -> Result<Vec<StoredCosignature>, StoreError> {
        let mut out = Vec::new();
        for chunk in checkpoint_ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT * FROM log_cosignatures WHERE checkpoint_id IN ({}) ORDER BY received_at",
                in_list(1, chunk.len())
            );
            with_pool!(self, pool => {
                let mut q = sqlx::query(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                for row in q.fetch_all(pool).await? {
                    out.push(StoredCosignature {
                        checkpoint_id: row.try_get("checkpoint_id")?,
                        witness: row.try_get("witness")?,
                        line: row.try_get("line")?,
                        cosigned_at: row.try_get("cosigned_at")?,
                        received_at: row.try_get("received_at")?,
                    });
                }
            });
        }
        Ok(out)
    }

    /// The newest checkpoint with at least `quorum` cosignatures from `witnesses`.
    pub async fn latest_witnessed_checkpoint(
        &self,
        witnesses: &[String],
        quorum: usize,
    ) -> Result<Option<StoredCheckpoint>, StoreError> {
        // Checkpoints are signed at most once a second: a bounded look back is enough.
        let recent = self.checkpoints(None, 200).await?;
        let ids: Vec<String> = recent.iter().map(|c| c.id.clone()).collect();
        let cosigs = self.cosignatures(&ids).await?;
        Ok(recent.into_iter().find(|cp| {
            cosigs
                .iter()
                .filter(|c| c.checkpoint_id == cp.id && witnesses.contains(&c.witness))
                .count()
                >= quorum
        }))
    }

    /// Every entry of a case, oldest first, as stored.
    pub async fn case_log_entries(&self, case_id: &str) -> Result<Vec<LogEntry>, StoreError> {
        with_pool!(self, pool => {
            let rows = sqlx::query("SELECT * FROM log_entries WHERE case_id = $1 ORDER BY seq")
                .bind(case_id).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                out.push(entry_from_row!(row));
            }
            Ok(out)
        })
    }

    /// The stored entry at `seq` and its stored leaf hash.
    pub async fn log_entry_at(&self, seq: u64) -> Result<Option<(LogEntry, String)>, StoreError> {
        let seq = to_i64(seq, "seq")?;
        with_pool!(self, pool => {
            match sqlx::query("SELECT * FROM log_entries WHERE seq = $1").bind(seq).fetch_optional(pool).await? {
                Some(row) => Ok(Some((entry_from_row!(row), row.try_get::<String, _>("leaf_hash")?))),
                None => Ok(None),
            }
        })
    }

    /// Where the stored tree has `leaf` as a leaf, if anywhere (diagnosis only:
    /// this scans the tree).
    pub async fn find_tree_leaf(&self, leaf: &Hash) -> Result<Option<u64>, StoreError> {
        let hex = merkle::hash_hex(leaf);
        let rows = with_pool!(self, pool => {
            let rows = sqlx::query("SELECT idx FROM log_tree_hashes WHERE hash = $1").bind(&hex).fetch_all(pool).await?;
            let mut out = Vec::new();
            for row in rows {
                out.push(to_u64(row.try_get("idx")?, "tree index")?);
            }
            out
        });
        Ok(rows
            .into_iter()
            .map(merkle::split_stored_hash_index)
            .find(|(level, _)| *level == 0)
            .map(|(_, n)| n))
    }

    /// Leaves of the stored tree for entries `from..to` (those it has).
    pub async fn tree_leaves(&self, from: u64, to: u64) -> Result<HashMap<u64, Hash>, StoreError> {
        let indexes: Vec<u64> = (from..to)
            .map(|n| merkle::stored_hash_index(0, n))
            .collect();
        let by_index = self.read_tree_hashes(&indexes).await?;
        Ok((from..to)
            .filter_map(|n| {
                by_index
                    .get(&merkle::stored_hash_index(0, n))
                    .map(|h| (n, *h))
            })
            .collect())
    }

    /// Appends many entries in one transaction (imports, benchmarks). Entries
    /// get consecutive seqs; returns them as stored.
    pub async fn append_log_batch(
        &self,
        entries: Vec<LogEntry>,
    ) -> Result<Vec<LogEntry>, StoreError> {
        if entries.is_empty() {
            return Ok(entries);
        }
        let n =
            i64::try_from(entries.len()).map_err(|_| StoreError::invalid("entries", "too many"))?;
        let mut tx = self.begin_write().await?;
        let next: i64 = with_tx!(&mut tx, conn => {
            sqlx::query("UPDATE log_head SET next_seq = next_seq + $1 WHERE id = 1 RETURNING next_seq")
                .bind(n).fetch_one(&mut *conn).await?.try_get("next_seq")?
        });
        let first = to_u64(next - n, "log head")?;
        let mut out = entries;
        for (i, e) in out.iter_mut().enumerate() {
            e.seq = first + i as u64;
        }
        for chunk in out.chunks(CHUNK / 2) {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let b = i * 12;
                    format!(
                        "(${},${},${},${},${},${},${},${},${},${},${},${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7,
                        b + 8,
                        b + 9,
                        b + 10,
                        b + 11,
                        b + 12
                    )
                })
                .collect();
            let sql = format!(
                "INSERT INTO log_entries (seq, id, case_id, at, actor_id, actor_unit_id, action, from_state, to_state, changes, reason, leaf_hash) VALUES {}",
                values.join(",")
            );
            with_tx!(&mut tx, conn => {
                let mut q = sqlx::query(&sql);
                for e in chunk {
                    q = q.bind(to_i64(e.seq, "seq")?).bind(&e.id).bind(&e.case_id).bind(e.at).bind(&e.actor_id)
                        .bind(&e.actor_unit_id).bind(&e.action).bind(&e.from_state).bind(&e.to_state)
                        .bind(&e.changes).bind(&e.reason).bind(e.leaf_hash_hex());
                }
                q.execute(&mut *conn).await?;
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// A case's export bundle: its entries covered by the newest checkpoint,
    /// each with its inclusion proof, and that checkpoint signed by `key`
    /// (`name+hexid`) alone. `None` when the case has no entry signed yet.
    pub async fn case_bundle(
        &self,
        case_id: &str,
        key: &str,
    ) -> Result<Option<Bundle>, StoreError> {
        let Some(cp) = self.latest_checkpoint().await? else {
            return Ok(None);
        };
        let Some(note) = restrict_note(&cp.note, key) else {
            return Err(StoreError::Conflict(
                "the newest checkpoint is not signed by the current key".into(),
            ));
        };
        let mut entries = Vec::new();
        for entry in self.case_log_entries(case_id).await? {
            if entry.seq >= cp.tree_size {
                break;
            }
            let proof = self.inclusion_proof(entry.seq, cp.tree_size).await?;
            entries.push(BundleEntry {
                entry,
                proof: proof.iter().map(merkle::hash_hex).collect(),
            });
        }
        if entries.is_empty() {
            return Ok(None);
        }
        Ok(Some(Bundle {
            format: BUNDLE_FORMAT.to_string(),
            case_id: case_id.to_string(),
            checkpoint: note,
            entries,
        }))
    }

    pub async fn witnessed_log(&self, origin: &str) -> Result<Option<WitnessedLog>, StoreError> {
        with_pool!(self, pool => {
            match sqlx::query("SELECT * FROM witnessed_logs WHERE origin = $1").bind(origin).fetch_optional(pool).await? {
                Some(row) => Ok(Some(WitnessedLog {
                    origin: row.try_get("origin")?,
                    tree_size: to_u64(row.try_get("tree_size")?, "witnessed size")?,
                    root_hash: row.try_get("root_hash")?,
                    note: row.try_get("note")?,
                })),
                None => Ok(None),
            }
        })
    }

    /// Records the checkpoint just cosigned for a witnessed log. Refuses to
    /// move backwards (the caller checked consistency first).
    pub async fn set_witnessed_log(&self, log: &WitnessedLog) -> Result<(), StoreError> {
        let size = to_i64(log.tree_size, "size")?;
        with_pool!(self, pool => {
            let done = sqlx::query(
                "INSERT INTO witnessed_logs (origin, tree_size, root_hash, note, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (origin) DO UPDATE SET tree_size = excluded.tree_size, root_hash = excluded.root_hash, \
                 note = excluded.note, updated_at = excluded.updated_at WHERE witnessed_logs.tree_size <= excluded.tree_size",
            )
            .bind(&log.origin).bind(size).bind(&log.root_hash).bind(&log.note).bind(now_micros())
            .execute(pool).await?.rows_affected();
            if done == 0 {
                return Err(StoreError::Conflict(format!("{} already witnessed at a larger size", log.origin)));
            }
        });
        Ok(())
    }
}
