//! `gongzhi verify`: recomputes every leaf hash from the stored entries,
//! rebuilds the tree, checks it against every stored checkpoint and its
//! signature, and names the first bad entry and what is wrong with it.

use gongzhi_domain::checkpoint::{CheckpointError, KeyVerifier, open_checkpoint};
use gongzhi_domain::log::LogEntry;
use gongzhi_domain::merkle::{self, EMPTY_HASH, Frontier, Hash, hash_hex};
use std::collections::HashMap;

use gongzhi_domain::replay::{CaseRow, Departure, ReplayEntry, Replayed};
use gongzhi_store::{Db, Integrity, StoreError, TreeState};

/// What verification found wrong: the first problem only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Finding {
    #[error(
        "entry {id} (seq {seq}): content changed: its fields no longer hash to its leaf in the tree"
    )]
    Changed { id: String, seq: u64 },
    #[error("entry at seq {seq}: missing (deleted); the next entry is {next_id} at seq {next_seq}")]
    Missing {
        seq: u64,
        next_id: String,
        next_seq: u64,
    },
    #[error(
        "entries from seq {from}: missing (deleted); checkpoint {checkpoint} covers {size} entries"
    )]
    MissingTail {
        from: u64,
        size: u64,
        checkpoint: String,
    },
    #[error("entry {id} (seq {seq}): swapped with entry {other_id} (seq {other_seq})")]
    Swapped {
        id: String,
        seq: u64,
        other_id: String,
        other_seq: u64,
    },
    #[error("entry {id} (seq {seq}): moved: the tree has it at seq {tree_seq}")]
    Moved { id: String, seq: u64, tree_seq: u64 },
    #[error(
        "entry {id} (seq {seq}): inserted: it is not in the tree, and the entry the tree has at seq {seq} is now at seq {shifted_to}"
    )]
    Inserted {
        id: String,
        seq: u64,
        shifted_to: u64,
    },
    #[error(
        "entry {id} (seq {seq}): rewritten: not in the tree (its content and leaf hash were both replaced)"
    )]
    Rewritten { id: String, seq: u64 },
    #[error("checkpoint {id} (size {size}): signed by key {key}, not by a key of this log")]
    ForeignKey { id: String, size: u64, key: String },
    #[error("checkpoint {id} (size {size}): {problem}")]
    BadCheckpoint {
        id: String,
        size: u64,
        problem: String,
    },
    #[error("checkpoint {id} (size {size}): root hash does not match the entries")]
    RootMismatch { id: String, size: u64 },
    #[error("stored tree (size {size}): root does not match the entries")]
    TreeMismatch { size: u64 },
    #[error(
        "the log holds no case entries, but {cases} cases remain: the log was wiped or replaced"
    )]
    LogWiped { cases: u64 },
    #[error("the database is damaged: {detail}")]
    Damaged { detail: String },
    #[error("case {case_id}: no creation entry in the log; the case row is not accounted for")]
    NoCreationEntry { case_id: String },
    #[error(
        "case {case_id}: its {what} in the case row ({row:?}) is not what its log says ({log:?}): the case row was changed outside the engine"
    )]
    CaseDiffers {
        case_id: String,
        /// state, holder, area, or a field by name.
        what: String,
        row: String,
        log: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub entries: u64,
    pub checkpoints: usize,
    /// Entries after the newest checkpoint (not yet signed).
    pub unsigned: u64,
    /// How the entries were read.
    pub read_path: ReadPath,
    /// Which integrity check of the database engine ran, or why none could.
    pub integrity: Integrity,
    /// Witness cosignatures on the newest checkpoint. Without one, a rollback
    /// of the whole log (entries, tree and checkpoints together) cannot be
    /// detected from this database alone.
    pub witnessed: i64,
}

/// Which read path confirmed the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPath {
    /// The bulk read path ([`Db::log_leaf_batches`]): the usual case.
    Bulk,
    /// The regular read path, after the bulk read failed or disagreed with it.
    Regular,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{0}")]
    Found(Finding),
    #[error(transparent)]
    Store(#[from] StoreError),
}

const BATCH: i64 = 20_000;

fn hex_eq(hash: &[u8; 32], text: &str) -> bool {
    let mut buf = [0u8; 64];
    hex::encode_to_slice(hash, &mut buf).is_ok() && buf.as_slice() == text.as_bytes()
}

struct SignedHead {
    id: String,
    size: u64,
    root: Hash,
}

/// Verifies the whole log against `keys` (the first is the current log key,
/// whose name is the origin).
///
/// Two passes over the same checks: a fast one through the bulk read path
/// that only says whether everything holds, and, when it does not (or the bulk
/// read is unavailable), the exact one that finds the first bad entry and what
/// happened to it. An intact log is read once, quickly; a tampered one pays
/// for the exact diagnosis.
pub async fn verify_log(db: &Db, keys: &[KeyVerifier]) -> Result<Summary, VerifyError> {
    // Damaged pages first: every later read would be of damaged data.
    let integrity = db.integrity_check().await?;
    if let Integrity::Damaged(detail) = integrity {
        return Err(VerifyError::Found(Finding::Damaged { detail }));
    }
    let origin = keys
        .first()
        .map(|k| k.name().to_string())
        .unwrap_or_default();
    let mut heads = Vec::new();
    for cp in db.all_checkpoints().await? {
        let bad = |problem: String| Finding::BadCheckpoint {
            id: cp.id.clone(),
            size: cp.tree_size,
            problem,
        };
        let opened = match open_checkpoint(&cp.note, keys) {
            Ok(o) => o,
            Err(CheckpointError::UnknownKey(key)) => {
                return Err(VerifyError::Found(Finding::ForeignKey {
                    id: cp.id,
                    size: cp.tree_size,
                    key,
                }));
            }
            Err(e) => return Err(VerifyError::Found(bad(e.to_string()))),
        };
        if opened.head.origin != origin {
            return Err(VerifyError::Found(bad(format!(
                "origin {:?}, not {origin:?}",
                opened.head.origin
            ))));
        }
        if opened.head.size != cp.tree_size || hash_hex(&opened.head.root) != cp.root_hash {
            return Err(VerifyError::Found(bad(
                "its row differs from its signed note".into(),
            )));
        }
        heads.push(SignedHead {
            id: cp.id,
            size: cp.tree_size,
            root: opened.head.root,
        });
    }
    let checkpoints = heads.len();
    let tree = db.tree_state().await?;

    let mut next_head = 0;
    while next_head < heads.len() && heads[next_head].size == 0 {
        if heads[next_head].root != EMPTY_HASH {
            let h = &heads[next_head];
            return Err(VerifyError::Found(Finding::RootMismatch {
                id: h.id.clone(),
                size: 0,
            }));
        }
        next_head += 1;
    }
    let remaining: Vec<(u64, Hash)> = heads[next_head..]
        .iter()
        .map(|h| (h.size, h.root))
        .collect();
    let (entries, read_path) = match fast_pass(db, remaining, (tree.size, tree.root)).await {
        Ok(Some(entries)) => (entries, ReadPath::Bulk),
        // Something is wrong: the exact pass finds the first bad entry and what
        // happened to it.
        Ok(None) => (
            exact_pass(db, &heads, next_head, &tree).await?,
            ReadPath::Regular,
        ),
        Err(e) => {
            tracing::warn!(
                "verify: the bulk read stopped ({e}); checking through the regular path"
            );
            (
                exact_pass(db, &heads, next_head, &tree).await?,
                ReadPath::Regular,
            )
        }
    };
    check_cases_against_log(db, entries).await?;
    let signed = heads.last().map(|h| h.size).unwrap_or(0);
    let witnessed = db.newest_checkpoint_cosignatures().await?;
    Ok(Summary {
        integrity,
        witnessed,
        entries,
        checkpoints,
        unsigned: entries.saturating_sub(signed),
        read_path,
    })
}

/// Case rows read per round of the replay.
const REPLAY_BATCH: i64 = 2_000;

/// The case rows that pages and the API read must be what the (verified) log
/// says: each case is replayed from its entries (creation, state, holder,
/// area, field values) and compared with its row. Reads a batch of cases and
/// their entries at a time, so memory stays bounded.
async fn check_cases_against_log(db: &Db, entries: u64) -> Result<(), VerifyError> {
    let cases = u64::try_from(db.case_count().await?).unwrap_or(0);
    if cases > 0 && entries == 0 {
        return Err(VerifyError::Found(Finding::LogWiped { cases }));
    }
    let mut after = String::new();
    loop {
        let rows = db.cases_after(&after, REPLAY_BATCH).await?;
        let Some(last) = rows.last().map(|c| c.id.clone()) else {
            return Ok(());
        };
        let logged = db.case_entries_between(&after, &last).await?;
        let mut replays: HashMap<&str, Replayed> = HashMap::with_capacity(rows.len());
        for e in &logged {
            // Entries of other subjects (admin changes) may fall in the range.
            let replay = replays.entry(e.case_id.as_str()).or_default();
            let applied = replay.apply(ReplayEntry {
                from_state: e.from_state.as_deref(),
                to_state: &e.to_state,
                changes: &e.changes,
            });
            if let Err(departure) = applied {
                return Err(departed(&e.case_id, departure));
            }
        }
        for case in &rows {
            let fields: serde_json::Value = serde_json::from_str(&case.fields)
                .map_err(|_| departed(&case.id, Departure::Field { key: String::new() }))?;
            let row = CaseRow {
                state: &case.state,
                holder_unit_id: &case.holder_unit_id,
                area_unit_id: case.area_unit_id.as_deref(),
                fields: &fields,
                personal_salt: &case.personal_salt,
            };
            let replay = replays.remove(case.id.as_str()).unwrap_or_default();
            if let Some(departure) = replay.compare(&row) {
                return Err(departed(&case.id, departure));
            }
        }
        after = last;
    }
}

fn departed(case_id: &str, departure: Departure) -> VerifyError {
    let case_id = case_id.to_string();
    VerifyError::Found(match departure {
        Departure::NoCreationEntry => Finding::NoCreationEntry { case_id },
        Departure::State { row, log } => Finding::CaseDiffers {
            case_id,
            what: "state".into(),
            row,
            log,
        },
        Departure::Holder { row, log } => Finding::CaseDiffers {
            case_id,
            what: "holder".into(),
            row,
            log,
        },
        Departure::Area { row, log } => Finding::CaseDiffers {
            case_id,
            what: "area".into(),
            row,
            log,
        },
        Departure::Field { key } => Finding::CaseDiffers {
            case_id,
            what: format!("field {key:?}"),
            row: "a value".into(),
            log: "another value".into(),
        },
        Departure::Unreadable => Finding::CaseDiffers {
            case_id,
            what: "log entry".into(),
            row: String::new(),
            log: "changes that cannot be read".into(),
        },
    })
}

/// Checks the whole log through the bulk read path ([`Db::log_leaf_batches`]):
/// every leaf hash against its entry, every checkpoint root (`heads`: size and
/// root, in size order, none of size 0) and the stored tree's root (`tree`).
/// `Some(entries)` when all is well; `None` as soon as anything disagrees,
/// without saying what (the exact pass does). The reader fills the next batch
/// on one core while this hashes on the other.
async fn fast_pass(
    db: &Db,
    heads: Vec<(u64, Hash)>,
    tree: (u64, Hash),
) -> Result<Option<u64>, StoreError> {
    let mut batches = db.log_leaf_batches();
    tokio::task::spawn_blocking(move || {
        let mut frontier = Frontier::new();
        let mut heads = heads.into_iter().peekable();
        while let Some(batch) = batches.blocking_next() {
            let batch = batch?;
            for row in batch.rows() {
                let leaf = merkle::leaf_hash(row.canonical);
                if row.seq != frontier.size() || row.stored_leaf != Some(leaf.0) {
                    return Ok(None);
                }
                frontier.push_only(leaf);
                let size = frontier.size();
                while let Some((_, root)) = heads.next_if(|(head_size, _)| *head_size == size) {
                    if frontier.root() != root {
                        return Ok(None);
                    }
                }
                if size == tree.0 && frontier.root() != tree.1 {
                    return Ok(None);
                }
            }
            batches.recycle(batch);
        }
        // A checkpoint left over covers entries that are gone.
        Ok(heads.peek().is_none().then(|| frontier.size()))
    })
    .await
    .map_err(|e| StoreError::Unavailable(format!("verify hasher stopped: {e}")))?
}

/// Checks the whole log through the regular read path and, at the first
/// problem, names the bad entry and what is wrong with it. Returns the number
/// of entries when all is well.
async fn exact_pass(
    db: &Db,
    heads: &[SignedHead],
    mut next_head: usize,
    tree: &TreeState,
) -> Result<u64, VerifyError> {
    let mut frontier = Frontier::new();
    // Entries below this size are proven by a checkpoint that matched.
    let mut proven = 0u64;
    // The next batch is read while this one is hashed.
    let fetch = |from: i64| {
        let db = db.clone();
        tokio::spawn(async move { db.log_entries(from, BATCH).await })
    };
    let mut pending = fetch(0);
    loop {
        let batch = pending
            .await
            .map_err(|e| StoreError::Unavailable(format!("log reader stopped: {e}")))??;
        let Some(last) = batch.last() else { break };
        let from = i64::try_from(last.0.seq)
            .unwrap_or(i64::MAX)
            .saturating_add(1);
        pending = fetch(from);
        for (entry, stored_leaf) in &batch {
            let seq = frontier.size();
            let leaf = entry.leaf_hash();
            if entry.seq != seq || !hex_eq(&leaf, stored_leaf) {
                return Err(VerifyError::Found(
                    locate(db, proven, entry.seq.max(seq) + 1).await?,
                ));
            }
            frontier.push_only(Hash(leaf));
            let size = frontier.size();
            while next_head < heads.len() && heads[next_head].size == size {
                if frontier.root() != heads[next_head].root {
                    let h = &heads[next_head];
                    let finding = locate(db, proven, size).await?;
                    return Err(VerifyError::Found(match finding {
                        Finding::TreeMismatch { .. } => Finding::RootMismatch {
                            id: h.id.clone(),
                            size,
                        },
                        other => other,
                    }));
                }
                proven = size;
                next_head += 1;
            }
            if size == tree.size && frontier.root() != tree.root {
                return Err(VerifyError::Found(locate(db, proven, size).await?));
            }
        }
    }
    let entries = frontier.size();
    if let Some(h) = heads.get(next_head) {
        return Err(VerifyError::Found(Finding::MissingTail {
            from: entries,
            size: h.size,
            checkpoint: h.id.clone(),
        }));
    }
    Ok(entries)
}

/// Finds the first entry in `from..to` that disagrees with the stored tree or
/// its own leaf hash, and says what happened to it.
async fn locate(db: &Db, from: u64, to: u64) -> Result<Finding, StoreError> {
    let tree_leaves = db.tree_leaves(from, to).await?;
    let mut expected = from;
    let mut cursor = i64::try_from(from).unwrap_or(i64::MAX);
    loop {
        let batch = db.log_entries(cursor, BATCH).await?;
        let Some(last) = batch.last() else { break };
        cursor = i64::try_from(last.0.seq)
            .unwrap_or(i64::MAX)
            .saturating_add(1);
        for (entry, stored_leaf) in &batch {
            if entry.seq >= to {
                return Ok(Finding::TreeMismatch { size: to });
            }
            if entry.seq != expected {
                return Ok(Finding::Missing {
                    seq: expected,
                    next_id: entry.id.clone(),
                    next_seq: entry.seq,
                });
            }
            let tree_leaf = tree_leaves.get(&entry.seq).copied();
            let content = entry.leaf_hash();
            let content_ok = hex_eq(&content, stored_leaf);
            let tree_ok = tree_leaf.is_none_or(|t| hex_eq(&t.0, stored_leaf));
            if !content_ok || !tree_ok {
                return classify(db, entry, stored_leaf, tree_leaf).await;
            }
            expected += 1;
        }
    }
    Ok(Finding::TreeMismatch { size: to })
}

async fn classify(
    db: &Db,
    entry: &LogEntry,
    stored_leaf: &str,
    tree_leaf: Option<Hash>,
) -> Result<Finding, StoreError> {
    let (id, seq) = (entry.id.clone(), entry.seq);
    let Some(tree_leaf) = tree_leaf else {
        return Ok(Finding::Changed { id, seq });
    };
    if hex_eq(&tree_leaf.0, stored_leaf) {
        return Ok(Finding::Changed { id, seq });
    }
    let moved_to = match gongzhi_domain::merkle::parse_hash(stored_leaf) {
        Ok(stored) => db.find_tree_leaf(&stored).await?.filter(|m| *m != seq),
        Err(_) => None,
    };
    if let Some(m) = moved_to {
        if let Some((other, other_leaf)) = db.log_entry_at(m).await?
            && hex_eq(&tree_leaf.0, &other_leaf)
        {
            return Ok(Finding::Swapped {
                id,
                seq,
                other_id: other.id,
                other_seq: m,
            });
        }
        return Ok(Finding::Moved {
            id,
            seq,
            tree_seq: m,
        });
    }
    if let Some((_, next_leaf)) = db.log_entry_at(seq + 1).await?
        && hex_eq(&tree_leaf.0, &next_leaf)
    {
        return Ok(Finding::Inserted {
            id,
            seq,
            shifted_to: seq + 1,
        });
    }
    if hex_eq(&entry.leaf_hash(), stored_leaf) {
        return Ok(Finding::Rewritten { id, seq });
    }
    Ok(Finding::Changed { id, seq })
}
