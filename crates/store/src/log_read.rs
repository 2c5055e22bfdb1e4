//! The bulk read path of `gongzhi verify`: every log entry in seq order,
//! encoded straight into its canonical bytes, without building a `LogEntry`
//! (or any per-row `String`) on the way.
//!
//! Reading rows through sqlx, not hashing, was what limited verify, so this
//! path bypasses sqlx's row decoding: on SQLite it scans the database file
//! read-only with `rusqlite` (linked to the same libsqlite3-sys as sqlx, so
//! there is one SQLite in the binary); on PostgreSQL it streams
//! `COPY ... TO STDOUT (FORMAT binary)` and parses it with [`CopyBinaryParser`].
//! The read runs on its own thread (SQLite) or task (PostgreSQL) and hands
//! over bounded batches through a channel, so the caller hashes one batch
//! while the next loads and memory stays bounded whatever the log's size.
//!
//! A row this path cannot decode exactly as the regular read path would (a
//! value of an unexpected type, a NULL where none is allowed) ends the stream
//! with [`StoreError::Corrupt`]: the caller falls back to the regular path,
//! which gives the authoritative answer.

use std::path::PathBuf;

use futures_util::StreamExt;
use gongzhi_domain::log::{EntryFields, TEXT_FIELDS};
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::sync::mpsc;

use crate::db::Db;
use crate::error::StoreError;

/// Rows per batch: large enough that handing a batch over costs nothing per
/// row, small enough that the batches in flight stay a few MB.
const BATCH_ROWS: usize = 4096;
/// Batches in flight between the reader and the consumer.
const BATCHES_IN_FLIGHT: usize = 4;

/// The columns read, in this order: `seq`, `at`, the text fields in canonical
/// order, then `leaf_hash`.
const COLUMNS: usize = 12;
const SELECT_COLUMNS: &str = "seq, at, id, case_id, actor_id, actor_unit_id, action, from_state, to_state, changes, reason, leaf_hash";
/// Which text fields may be NULL (the optional ones), in canonical order.
const NULLABLE: [bool; 9] = [false, false, true, true, false, true, false, false, true];

/// One stored log row as verify needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafRow<'a> {
    pub seq: u64,
    /// The entry's canonical bytes (the leaf hash's input).
    pub canonical: &'a [u8],
    /// The stored leaf hash, when it is spelled as 64 lowercase hex digits
    /// (the only spelling the regular path accepts as equal); `None` otherwise.
    pub stored_leaf: Option<[u8; 32]>,
}

/// A batch of consecutive log rows: their canonical bytes back to back.
#[derive(Debug, Default)]
pub struct LeafBatch {
    canonical: Vec<u8>,
    rows: Vec<RowSlot>,
}

#[derive(Debug, Clone, Copy)]
struct RowSlot {
    seq: u64,
    end: usize,
    stored_leaf: Option<[u8; 32]>,
}

impl LeafBatch {
    fn with_capacity(rows: usize) -> Self {
        LeafBatch {
            canonical: Vec::with_capacity(rows * 400),
            rows: Vec::with_capacity(rows),
        }
    }

    fn clear(&mut self) {
        self.canonical.clear();
        self.rows.clear();
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn rows(&self) -> impl Iterator<Item = LeafRow<'_>> {
        let mut start = 0;
        self.rows.iter().map(move |slot| {
            let canonical = self.canonical.get(start..slot.end).unwrap_or_default();
            start = slot.end;
            LeafRow {
                seq: slot.seq,
                canonical,
                stored_leaf: slot.stored_leaf,
            }
        })
    }

    /// Appends one row decoded from its columns (see [`COLUMNS`]).
    fn push(
        &mut self,
        seq: i64,
        at: i64,
        texts: [Option<&[u8]>; 9],
        leaf_hash: &[u8],
    ) -> Result<(), StoreError> {
        let seq = u64::try_from(seq).map_err(|_| StoreError::Corrupt(format!("seq {seq}")))?;
        for (i, text) in texts.iter().enumerate() {
            if text.is_none() && !NULLABLE[i] {
                return Err(StoreError::Corrupt(format!(
                    "log row at seq {seq}: {} is NULL",
                    TEXT_FIELDS[i]
                )));
            }
        }
        EntryFields { seq, at, texts }.write_canonical(&mut self.canonical);
        self.rows.push(RowSlot {
            seq,
            end: self.canonical.len(),
            stored_leaf: parse_lowercase_hash(leaf_hash),
        });
        Ok(())
    }
}

/// The value of each lowercase hex digit; 0xFF for every other byte.
const HEX_DIGITS: [u8; 256] = {
    let mut table = [0xFF; 256];
    let mut i = 0;
    while i < 16 {
        table[b"0123456789abcdef"[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// 64 lowercase hex digits as 32 bytes; anything else is `None`. By table,
/// without a branch per digit: this runs for every entry.
fn parse_lowercase_hash(text: &[u8]) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut invalid = 0u8;
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (high, low) = (
            HEX_DIGITS[usize::from(pair[0])],
            HEX_DIGITS[usize::from(pair[1])],
        );
        invalid |= high | low;
        *byte = high << 4 | low;
    }
    (invalid & 0xF0 == 0).then_some(out)
}

/// The batches of a bulk log read, in seq order. Dropping it stops the reader.
pub struct LeafBatches {
    receiver: mpsc::Receiver<Result<LeafBatch, StoreError>>,
    spares: std::sync::mpsc::SyncSender<LeafBatch>,
}

/// Where the reader takes the buffers of its next batch: batches handed back
/// through [`LeafBatches::recycle`] first. Reusing them saves allocating (and
/// the kernel zeroing) megabytes of fresh pages for every batch.
struct BatchBuffers {
    spares: std::sync::mpsc::Receiver<LeafBatch>,
}

impl BatchBuffers {
    fn next(&self) -> LeafBatch {
        match self.spares.try_recv() {
            Ok(mut batch) => {
                batch.clear();
                batch
            }
            Err(_) => LeafBatch::with_capacity(BATCH_ROWS),
        }
    }
}

impl LeafBatches {
    /// The next batch, waiting for it; `None` after the last one. Call it from
    /// a blocking thread (`spawn_blocking`), not from async code.
    pub fn blocking_next(&mut self) -> Option<Result<LeafBatch, StoreError>> {
        self.receiver.blocking_recv()
    }

    /// Hands a batch that has been used back to the reader, to fill again.
    pub fn recycle(&self, batch: LeafBatch) {
        let _ = self.spares.try_send(batch);
    }
}

impl Db {
    /// Starts reading every log entry in seq order for verification (see the
    /// module documentation). Errors arrive through the batches. Call it
    /// inside a Tokio runtime (the PostgreSQL reader is a task).
    pub fn log_leaf_batches(&self) -> LeafBatches {
        let (sender, receiver) = mpsc::channel(BATCHES_IN_FLIGHT);
        let (spares, spare_receiver) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT + 2);
        let buffers = BatchBuffers {
            spares: spare_receiver,
        };
        match self {
            Db::Sqlite(pool) => {
                let options = pool.connect_options();
                let path = options.get_filename().to_path_buf();
                let spawned = std::thread::Builder::new()
                    .name("gongzhi-log-read".into())
                    .spawn(move || {
                        if let Err(e) = read_sqlite(path, &buffers, &sender) {
                            let _ = sender.blocking_send(Err(e));
                        }
                    });
                if let Err(e) = spawned {
                    return failed(
                        spares,
                        StoreError::Unavailable(format!("log reader thread: {e}")),
                    );
                }
            }
            Db::Postgres(pool) => {
                let options = pool.connect_options();
                tokio::spawn(async move {
                    if let Err(e) = read_postgres(&options, buffers, &sender).await {
                        let _ = sender.send(Err(e)).await;
                    }
                });
            }
        }
        LeafBatches { receiver, spares }
    }
}

fn failed(spares: std::sync::mpsc::SyncSender<LeafBatch>, error: StoreError) -> LeafBatches {
    let (sender, receiver) = mpsc::channel(1);
    let _ = sender.try_send(Err(error));
    LeafBatches { receiver, spares }
}

fn sqlite_error(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("SQLite bulk read: {e}"))
}

/// Scans the log on a read-only connection of its own. One statement is one
/// read transaction, so the whole scan sees one snapshot of the database.
fn read_sqlite(
    path: PathBuf,
    buffers: &BatchBuffers,
    sender: &mpsc::Sender<Result<LeafBatch, StoreError>>,
) -> Result<(), StoreError> {
    use rusqlite::OpenFlags;
    use rusqlite::types::ValueRef;

    // Only a database file can be opened a second time: an in-memory database
    // (sqlx names those `file:sqlx-in-memory-N`) cannot, and must not be
    // mistaken for an empty file of that name.
    if !path.is_file() {
        return Err(StoreError::Unavailable(format!(
            "SQLite bulk read: {} is not a database file",
            path.display()
        )));
    }
    let connection = rusqlite::Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite_error)?;
    // No memory-mapped I/O: measured no faster here, and a mapped file that
    // another process truncates ends this one with SIGBUS.
    connection
        .execute_batch("PRAGMA query_only = 1;")
        .map_err(sqlite_error)?;
    let mut statement = connection
        .prepare(&format!(
            "SELECT {SELECT_COLUMNS} FROM log_entries ORDER BY seq"
        ))
        .map_err(sqlite_error)?;
    let mut rows = statement.query([]).map_err(sqlite_error)?;
    let mut batch = buffers.next();
    while let Some(row) = rows.next().map_err(sqlite_error)? {
        let integer = |i: usize| match row.get_ref(i) {
            Ok(ValueRef::Integer(v)) => Ok(v),
            _ => Err(column_type_error(i)),
        };
        let text = |i: usize| match row.get_ref(i) {
            Ok(ValueRef::Text(t)) => Ok(Some(t)),
            Ok(ValueRef::Null) => Ok(None),
            _ => Err(column_type_error(i)),
        };
        let mut texts = [None; 9];
        for (i, slot) in texts.iter_mut().enumerate() {
            *slot = text(2 + i)?;
        }
        let leaf = text(11)?.ok_or_else(|| column_type_error(11))?;
        batch.push(integer(0)?, integer(1)?, texts, leaf)?;
        if batch.len() == BATCH_ROWS {
            let full = std::mem::replace(&mut batch, buffers.next());
            if sender.blocking_send(Ok(full)).is_err() {
                return Ok(()); // The consumer stopped: nothing more to read.
            }
        }
    }
    if !batch.is_empty() {
        let _ = sender.blocking_send(Ok(batch));
    }
    Ok(())
}

fn column_type_error(column: usize) -> StoreError {
    let name = SELECT_COLUMNS.split(", ").nth(column).unwrap_or("?");
    StoreError::Corrupt(format!(
        "log column {name} holds a value of an unexpected type"
    ))
}

/// Streams the log with binary `COPY` on a connection of its own (not the
/// pool's: a COPY abandoned half-way would leave data queued on it). `COPY` of
/// one query is one snapshot.
async fn read_postgres(
    options: &sqlx::postgres::PgConnectOptions,
    buffers: BatchBuffers,
    sender: &mpsc::Sender<Result<LeafBatch, StoreError>>,
) -> Result<(), StoreError> {
    let mut connection = PgConnection::connect_with(options).await?;
    let statement = format!(
        "COPY (SELECT {SELECT_COLUMNS} FROM log_entries ORDER BY seq) TO STDOUT (FORMAT binary)"
    );
    let mut stopped = false;
    {
        let mut stream = connection.copy_out_raw(&statement).await?;
        let mut parser = CopyBinaryParser::new();
        let mut batch = buffers.next();
        while let Some(chunk) = stream.next().await {
            parser.feed(&chunk?, |fields: [Option<&[u8]>; COLUMNS]| {
                let [seq, at, texts @ .., leaf] = fields;
                let integer = |value: Option<&[u8]>, column: usize| {
                    value
                        .and_then(|v| <[u8; 8]>::try_from(v).ok())
                        .map(i64::from_be_bytes)
                        .ok_or_else(|| column_type_error(column))
                };
                let texts: [Option<&[u8]>; 9] = texts;
                let leaf = leaf.ok_or_else(|| column_type_error(11))?;
                batch.push(integer(seq, 0)?, integer(at, 1)?, texts, leaf)
            })?;
            // Whole chunks are parsed at a time, so a batch may pass BATCH_ROWS a little.
            if batch.len() >= BATCH_ROWS {
                let full = std::mem::replace(&mut batch, buffers.next());
                if sender.send(Ok(full)).await.is_err() {
                    stopped = true;
                    break;
                }
            }
        }
        if !stopped {
            parser.finish()?;
            if !batch.is_empty() {
                let _ = sender.send(Ok(batch)).await;
            }
        }
    }
    if !stopped {
        connection.close().await?;
    }
    Ok(())
}

/// What is wrong with a binary `COPY` stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CopyFormatError {
    #[error("binary COPY: bad signature")]
    BadSignature,
    #[error("binary COPY: unsupported header flags {0:#010x}")]
    UnsupportedFlags(u32),
    #[error("binary COPY: a row has {found} fields, expected {expected}")]
    FieldCount { found: i16, expected: usize },
    #[error("binary COPY: field length {0}")]
    BadLength(i32),
    #[error("binary COPY: data after the trailer")]
    DataAfterTrailer,
    #[error("binary COPY: stream ended early")]
    Truncated,
}

impl From<CopyFormatError> for StoreError {
    fn from(e: CopyFormatError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

const COPY_SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";
/// Flag bit 16 says every row carries an OID; bits 17-31 are reserved and a
/// reader must refuse a stream that sets them. Bits 0-15 may be ignored.
const COPY_CRITICAL_FLAGS: u32 = 0xFFFF_0000;

/// An incremental parser of PostgreSQL's binary `COPY` format
/// (<https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4>):
/// feed it the stream's chunks as they come, wherever they split.
#[derive(Debug, Default)]
pub struct CopyBinaryParser {
    /// The start of a row (or of the header) whose end has not arrived yet.
    pending: Vec<u8>,
    progress: CopyProgress,
}

#[derive(Debug, Default, Clone, Copy)]
struct CopyProgress {
    header_read: bool,
    trailer_read: bool,
}

/// The result of parsing at the front of the pending bytes.
enum Step<T> {
    Done(T, usize),
    NeedMore,
}

impl CopyBinaryParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next chunk of the stream and calls `on_row` with the fields
    /// of every row it completes (`None` is SQL NULL), in order. Rows that
    /// lie whole in the chunk are read in place; only a row split across
    /// chunks is copied.
    pub fn feed<const N: usize, E>(
        &mut self,
        chunk: &[u8],
        mut on_row: impl FnMut([Option<&[u8]>; N]) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<CopyFormatError>,
    {
        if self.pending.is_empty() {
            let used = self.progress.parse(chunk, &mut on_row)?;
            self.pending
                .extend_from_slice(chunk.get(used..).unwrap_or_default());
        } else {
            let mut pending = std::mem::take(&mut self.pending);
            pending.extend_from_slice(chunk);
            let used = self.progress.parse(&pending, &mut on_row)?;
            pending.drain(..used);
            self.pending = pending;
        }
        Ok(())
    }

    /// Checks that the stream ended where it should: after the trailer.
    pub fn finish(&self) -> Result<(), CopyFormatError> {
        if self.progress.trailer_read && self.pending.is_empty() {
            Ok(())
        } else {
            Err(CopyFormatError::Truncated)
        }
    }
}

impl CopyProgress {
    /// Parses what is complete at the front of `bytes`; returns how many
    /// bytes that was.
    fn parse<const N: usize, E>(
        &mut self,
        bytes: &[u8],
        on_row: &mut impl FnMut([Option<&[u8]>; N]) -> Result<(), E>,
    ) -> Result<usize, E>
    where
        E: From<CopyFormatError>,
    {
        let mut pos = 0;
        if !self.header_read {
            match parse_header(bytes)? {
                Step::Done((), used) => {
                    pos = used;
                    self.header_read = true;
                }
                Step::NeedMore => return Ok(0),
            }
        }
        while !self.trailer_read {
            let rest = bytes.get(pos..).unwrap_or_default();
            match parse_row::<N>(rest)? {
                Step::Done(Some(fields), used) => {
                    pos += used;
                    on_row(fields)?;
                }
                Step::Done(None, used) => {
                    pos += used;
                    self.trailer_read = true;
                }
                Step::NeedMore => break,
            }
        }
        if self.trailer_read && pos < bytes.len() {
            return Err(CopyFormatError::DataAfterTrailer.into());
        }
        Ok(pos)
    }
}

fn read_array<const K: usize>(bytes: &[u8], at: usize) -> Option<[u8; K]> {
    bytes
        .get(at..at.checked_add(K)?)
        .and_then(|b| <[u8; K]>::try_from(b).ok())
}

fn parse_header(bytes: &[u8]) -> Result<Step<()>, CopyFormatError> {
    let Some(signature) = read_array::<11>(bytes, 0) else {
        if !COPY_SIGNATURE.starts_with(bytes) {
            return Err(CopyFormatError::BadSignature);
        }
        return Ok(Step::NeedMore);
    };
    if &signature != COPY_SIGNATURE {
        return Err(CopyFormatError::BadSignature);
    }
    let (Some(flags), Some(extension)) = (read_array::<4>(bytes, 11), read_array::<4>(bytes, 15))
    else {
        return Ok(Step::NeedMore);
    };
    let flags = u32::from_be_bytes(flags);
    if flags & COPY_CRITICAL_FLAGS != 0 {
        return Err(CopyFormatError::UnsupportedFlags(flags));
    }
    let extension = usize::try_from(u32::from_be_bytes(extension))
        .map_err(|_| CopyFormatError::BadLength(-1))?;
    let used = 19usize
        .checked_add(extension)
        .ok_or(CopyFormatError::BadLength(-1))?;
    if bytes.len() < used {
        return Ok(Step::NeedMore);
    }
    Ok(Step::Done((), used))
}

/// The fields of one row; `None` is SQL NULL.
type Fields<'a, const N: usize> = [Option<&'a [u8]>; N];

/// One row (`Some`) or the trailer (`None`) at the front of `bytes`.
fn parse_row<const N: usize>(bytes: &[u8]) -> Result<Step<Option<Fields<'_, N>>>, CopyFormatError> {
    let Some(count) = read_array::<2>(bytes, 0) else {
        return Ok(Step::NeedMore);
    };
    let count = i16::from_be_bytes(count);
    if count == -1 {
        return Ok(Step::Done(None, 2));
    }
    if usize::try_from(count).ok() != Some(N) {
        return Err(CopyFormatError::FieldCount {
            found: count,
            expected: N,
        });
    }
    let mut fields = [None; N];
    let mut pos = 2;
    for field in &mut fields {
        let Some(length) = read_array::<4>(bytes, pos) else {
            return Ok(Step::NeedMore);
        };
        pos += 4;
        let length = i32::from_be_bytes(length);
        if length == -1 {
            continue;
        }
        let length = usize::try_from(length).map_err(|_| CopyFormatError::BadLength(length))?;
        let Some(value) = bytes.get(pos..pos + length) else {
            return Ok(Step::NeedMore);
        };
        *field = Some(value);
        pos += length;
    }
    Ok(Step::Done(Some(fields), pos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Row = Vec<Option<Vec<u8>>>;

    fn encode(rows: &[Row], header_extension: &[u8]) -> Vec<u8> {
        let mut out = COPY_SIGNATURE.to_vec();
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&(header_extension.len() as u32).to_be_bytes());
        out.extend_from_slice(header_extension);
        for row in rows {
            out.extend_from_slice(&(row.len() as i16).to_be_bytes());
            for field in row {
                match field {
                    None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                    Some(v) => {
                        out.extend_from_slice(&(v.len() as i32).to_be_bytes());
                        out.extend_from_slice(v);
                    }
                }
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        out
    }

    /// Feeds `stream` in pieces cut at `cuts` and collects the rows.
    fn parse_in_pieces<const N: usize>(
        stream: &[u8],
        cuts: &[usize],
    ) -> Result<Vec<Row>, CopyFormatError> {
        let mut parser = CopyBinaryParser::new();
        let mut rows = Vec::new();
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        points.push(stream.len());
        points.sort_unstable();
        let mut start = 0;
        for end in points {
            let piece = &stream[start..end];
            start = end;
            parser.feed(piece, |fields: [Option<&[u8]>; N]| {
                rows.push(fields.iter().map(|f| f.map(<[u8]>::to_vec)).collect());
                Ok::<(), CopyFormatError>(())
            })?;
        }
        parser.finish()?;
        Ok(rows)
    }

    #[test]
    fn parses_what_postgresql_sends() {
        // `COPY (SELECT 7::bigint, 'ab'::text, NULL::text) TO STDOUT (FORMAT binary)`
        // as PostgreSQL 15 sent it, byte for byte.
        let stream: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0\
            \0\x03\0\0\0\x08\0\0\0\0\0\0\0\x07\0\0\0\x02ab\xff\xff\xff\xff\
            \xff\xff";
        let rows = parse_in_pieces::<3>(stream, &[]).expect("parses");
        assert_eq!(
            rows,
            vec![vec![
                Some(7i64.to_be_bytes().to_vec()),
                Some(b"ab".to_vec()),
                None
            ]]
        );
    }

    #[test]
    fn refuses_malformed_streams() {
        let good = encode(&[vec![Some(b"x".to_vec()), None]], b"");
        let mut bad_signature = good.clone();
        bad_signature[0] = b'X';
        assert_eq!(
            parse_in_pieces::<2>(&bad_signature, &[]),
            Err(CopyFormatError::BadSignature)
        );
        let mut oids = good.clone();
        oids[12] = 1; // flag bit 16 (big-endian): rows carry OIDs
        assert_eq!(
            parse_in_pieces::<2>(&oids, &[]),
            Err(CopyFormatError::UnsupportedFlags(0x0001_0000))
        );
        assert_eq!(
            parse_in_pieces::<3>(&good, &[]),
            Err(CopyFormatError::FieldCount {
                found: 2,
                expected: 3
            })
        );
        assert_eq!(
            parse_in_pieces::<2>(&good[..good.len() - 1], &[]),
            Err(CopyFormatError::Truncated)
        );
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(
            parse_in_pieces::<2>(&trailing, &[]),
            Err(CopyFormatError::DataAfterTrailer)
        );
        let mut negative = encode(&[vec![Some(b"x".to_vec()), None]], b"");
        negative[21..25].copy_from_slice(&(-2i32).to_be_bytes());
        assert_eq!(
            parse_in_pieces::<2>(&negative, &[]),
            Err(CopyFormatError::BadLength(-2))
        );
    }

    #[test]
    fn lowercase_hashes_only() {
        let hash = "ab".repeat(32);
        assert_eq!(parse_lowercase_hash(hash.as_bytes()), Some([0xab; 32]));
        assert_eq!(parse_lowercase_hash(hash.to_uppercase().as_bytes()), None);
        assert_eq!(parse_lowercase_hash(&hash.as_bytes()[1..]), None);
        assert_eq!(parse_lowercase_hash(b""), None);
    }

    proptest! {
        /// Any rows, any header extension, cut into any pieces: the same rows come out.
        #[test]
        fn round_trips_wherever_the_stream_is_cut(
            rows in proptest::collection::vec(
                proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)), 3),
                0..20,
            ),
            extension in proptest::collection::vec(any::<u8>(), 0..8),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let stream = encode(&rows, &extension);
            prop_assert_eq!(parse_in_pieces::<3>(&stream, &cuts), Ok(rows));
        }

        /// A stream cut short anywhere is refused, never taken as complete.
        #[test]
        fn truncation_is_detected(
            rows in proptest::collection::vec(
                proptest::collection::vec(proptest::option::of(proptest::collection::vec(any::<u8>(), 0..10)), 2),
                0..6,
            ),
            cut in any::<usize>(),
        ) {
            let stream = encode(&rows, b"");
            let cut = cut % stream.len();
            prop_assert!(parse_in_pieces::<2>(&stream[..cut], &[]).is_err());
        }
    }
}
