//! gongzhi's database: one enum over SQLite and PostgreSQL pools, migrations per
//! backend, and every SQL statement the product runs. Portable SQL only: `$N`
//! placeholders, `RETURNING`, `ON CONFLICT`, app-made ids, integer times.

mod accounts;
mod admin;
mod admin_log;
mod attachments;
mod bench;
mod blobs;
mod case_rows;
mod cases;
mod clocks;
mod conflicts;
mod db;
mod deadline_rules;
mod dispatch;
mod documents;
mod error;
mod guards;
mod indicators;
mod links;
mod log_read;
mod log_write;
mod migrate;
mod open311;
mod parties;
mod people;
mod record_deadlines;
mod records;
mod replay;
mod tree;
mod units;
mod users;

pub use accounts::{ApiKeyInfo, IssueKey};
pub use admin::*;
pub use admin_log::{ADMIN_ACTION_PREFIX, ADMIN_SUBJECT_PREFIX, ChangeBy};
pub use attachments::*;
pub use blobs::{BlobError, BlobStore, StoredBlob, sha256_hex};
pub use cases::*;
pub use conflicts::{Interest, MAX_INTEREST_NOTE, MAX_INTERESTS};
pub use db::{Backend, ConnectOptions, Db, SqliteSync, Tx};
pub use dispatch::AssistTask;
pub use documents::IssuedDocument;
pub use error::{ActError, StoreError};
pub use indicators::{HistoryQuery, HistoryRead};
pub use links::{CaseLink, MAX_REMOVE_REASON_CHARS};
pub use log_read::{CopyBinaryParser, CopyFormatError, LeafBatch, LeafBatches, LeafRow};
pub use migrate::{ColumnDescription, SchemaDescription};
pub use open311::*;
pub use parties::{AddedParty, MAX_PARTY_REMOVE_REASON, PartyRecord};
pub use people::Candidate;
pub use records::{
    CaseRecordEntry, act_on_record_tx, add_record_tx, party_acts_on_record_tx, party_adds_record_tx,
};
pub use replay::{Integrity, StoredCase, StoredCaseEntry};
pub use tree::*;
pub use units::*;
pub use users::*;
