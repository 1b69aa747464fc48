//! The log engine contract shared by every engine: [`LogEngine`], its records and its errors.
//!
//! A log is a sequence of records with dense offsets, from `start_offset` (older records were
//! dropped by retention) to `end_offset` (the next offset to assign). A record takes `span`
//! offsets: 1 for a message, the record count for a batch kept whole (a Kafka record batch is
//! stored as sent, compressed or not, and its records keep their own offsets). Records arrive in batches
//! and are stored as batches: a batch is the unit of writing, checksumming and retention
//! accounting. Appends are written at once but become durable only through `sync`, so that
//! one sync can cover many appends (see [`crate::GroupCommit`]); `durable_end` tells how far
//! a crash cannot reach.

use std::fmt;
use std::io;

use bytes::Bytes;

/// Who wrote a record and its number, for deduplication: an idempotent producer numbers its
/// records per shard, `sequence` 0, 1, 2, … within one `producer_epoch`. Engines store it per
/// batch (a run of records of one producer and epoch with consecutive sequences).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProducerSeq {
    /// The producer's id, allocated by meta; never 0 (0 means "no producer" on disk).
    pub producer_id: u64,
    /// Raised by the producer to restart its sequences; older epochs are fenced.
    pub producer_epoch: u16,
    /// The record's number within the producer's epoch on this shard.
    pub sequence: u32,
}

impl ProducerSeq {
    /// Whether `next` directly follows `self`, a record of `span` offsets (and as many
    /// sequence numbers), in one producer's numbering.
    pub fn is_followed_by(&self, span: u32, next: &ProducerSeq) -> bool {
        self.producer_id == next.producer_id
            && self.producer_epoch == next.producer_epoch
            && self.sequence.checked_add(span) == Some(next.sequence)
    }
}

/// A record to append: the engine assigns its offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The producer's timestamp, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// An optional key (`None` is distinct from an empty key).
    pub key: Option<Bytes>,
    /// The payload.
    pub value: Bytes,
    /// The idempotent producer and sequence number, if any (a record of span `n` holds the
    /// sequences `sequence..sequence + n`).
    pub producer: Option<ProducerSeq>,
    /// The offsets the record takes, at least 1: a batch kept whole (`value` holds its
    /// records) takes one per record it holds.
    pub span: u32,
}

impl Record {
    /// A record without a producer, one offset long.
    pub fn new(timestamp_ms: u64, key: Option<Bytes>, value: Bytes) -> Self {
        Record { timestamp_ms, key, value, producer: None, span: 1 }
    }
}

/// The offsets `records` take together.
pub fn span_of(records: &[Record]) -> u64 {
    records.iter().map(|r| u64::from(r.span)).sum()
}

/// A record read back, with its (first) offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRecord {
    pub offset: u64,
    pub timestamp_ms: u64,
    pub key: Option<Bytes>,
    pub value: Bytes,
    pub producer: Option<ProducerSeq>,
    /// The offsets the record takes (`offset..offset + span`), at least 1.
    pub span: u32,
}

impl StoredRecord {
    /// The record without its offset.
    pub fn to_record(&self) -> Record {
        Record {
            timestamp_ms: self.timestamp_ms,
            key: self.key.clone(),
            value: self.value.clone(),
            producer: self.producer,
            span: self.span,
        }
    }

    /// One past the record's last offset.
    pub fn end_offset(&self) -> u64 {
        self.offset + u64::from(self.span)
    }
}

/// What a log operation can fail with.
#[derive(Debug)]
pub enum LogError {
    /// The disk failed.
    Io(io::Error),
    /// Stored bytes below the recovery point are damaged. Reported, never skipped: the records
    /// from `offset_hint` on cannot be served from this copy.
    Corrupt { offset_hint: u64, detail: String },
    /// A read or truncation outside `[start, end]`, or an append past the last offset
    /// (`requested` u64::MAX).
    OffsetOutOfRange { requested: u64, start: u64, end: u64 },
    /// A batch larger than the engine accepts, in encoded bytes.
    TooLarge { bytes: usize, max: usize },
    /// The engine refuses writes: a sync failed earlier (durability is unknown) or a write
    /// could not be undone. Reopening recovers from what is on disk.
    Closed,
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::Io(e) => write!(f, "log i/o error: {e}"),
            LogError::Corrupt { offset_hint, detail } => write!(f, "corrupt log at offset {offset_hint}: {detail}"),
            LogError::OffsetOutOfRange { requested, start, end } => {
                write!(f, "offset {requested} out of range [{start}, {end}]")
            }
            LogError::TooLarge { bytes, max } => write!(f, "batch of {bytes} bytes exceeds the limit of {max} bytes"),
            LogError::Closed => f.write_str("log engine closed after a failed write or sync: reopen it"),
        }
    }
}

impl std::error::Error for LogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LogError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for LogError {
    fn from(e: io::Error) -> Self {
        LogError::Io(e)
    }
}

/// A log of records with dense offsets. All methods may be called concurrently.
#[async_trait::async_trait]
pub trait LogEngine: Send + Sync + 'static {
    /// Appends a batch (non-empty; every record's span at least 1); assigns dense offsets
    /// `end_offset..`, `span` of them to each record; returns `(base_offset, last_offset)`. Written but not necessarily durable. Records of different
    /// producers (or none) may be mixed: the engine keeps each record's producer and sequence.
    async fn append(&self, records: Vec<Record>) -> Result<(u64, u64), LogError>;
    /// Makes every append so far durable; returns the durable end (one past the last durable
    /// offset).
    async fn sync(&self) -> Result<u64, LogError>;
    /// Records from the one holding offset `from` (whose first offset may be below `from`
    /// when its span is longer than 1): whole batches while their encoded bytes fit in
    /// `bytes_max`, but always the rest of the first batch (so at least one record if any
    /// exists at `from`); empty at the end.
    async fn read(&self, from: u64, bytes_max: usize) -> Result<Vec<StoredRecord>, LogError>;
    /// Removes every offset >= `end` (a divergent suffix); durable when it returns. A record
    /// that straddles `end` (possible only in a damaged log: replicas cut at record
    /// boundaries) goes whole, so the log may end below `end`.
    async fn truncate(&self, end: u64) -> Result<(), LogError>;
    /// Discards every record and starts the log over, empty, at `start` (a follower whose
    /// leader no longer holds the records it needs next); durable when it returns.
    async fn reset(&self, start: u64) -> Result<(), LogError>;
    /// Closes the active segment so the next append starts a new one.
    async fn seal(&self) -> Result<(), LogError>;
    /// Drops whole sealed segments past retention (by total bytes and/or age vs `now_ms`),
    /// never one holding an offset at or above the committed end (see `set_committed_end`:
    /// records not yet committed are never dropped); returns the new start offset.
    async fn apply_retention(&self, now_ms: u64) -> Result<u64, LogError>;
    /// The first offset still stored.
    fn start_offset(&self) -> u64;
    /// The next offset to assign.
    fn end_offset(&self) -> u64;
    /// One past the last offset a crash cannot lose.
    fn durable_end(&self) -> u64;
    /// The first offset whose `timestamp_ms >= ts_ms` (for time-based lookups), or
    /// `end_offset` if none.
    async fn offset_for_time(&self, ts_ms: u64) -> Result<u64, LogError>;
    /// Tells the engine that offsets below `offset` are committed (replicated to a quorum):
    /// the replication layer calls it with the high watermark. Engines that move data
    /// elsewhere (the object tier) move only committed records; the others ignore it.
    fn set_committed_end(&self, _offset: u64) {}
    /// The bytes of the records stored (their encoded batches, across every tier), when the
    /// engine knows them without reading anything; `None` when it does not.
    fn stored_bytes(&self) -> Option<u64> {
        None
    }
    /// Of [`stored_bytes`](Self::stored_bytes), those held only in the object store (no local
    /// copy); 0 for engines without an object tier.
    fn object_stored_bytes(&self) -> u64 {
        0
    }
}
