//! The data-plane RPC bodies (protobuf): produce, replica fetch, consumer reads, list offsets.

use bytes::Bytes;
use keel_storage::{ProducerSeq, Record, StoredRecord};

/// A record on the wire. `producer_id` 0 means the record has no producer (and then the
/// epoch and sequence are 0).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WireRecord {
    #[prost(uint64, tag = "1")]
    pub offset: u64,
    #[prost(uint64, tag = "2")]
    pub timestamp_ms: u64,
    #[prost(bytes = "bytes", optional, tag = "3")]
    pub key: Option<Bytes>,
    #[prost(bytes = "bytes", tag = "4")]
    pub value: Bytes,
    #[prost(uint64, tag = "5")]
    pub producer_id: u64,
    #[prost(uint32, tag = "6")]
    pub producer_epoch: u32,
    #[prost(uint32, tag = "7")]
    pub sequence: u32,
}

impl WireRecord {
    /// A record without a producer, for a produce request (the leader assigns the offset).
    pub fn new(timestamp_ms: u64, key: Option<Bytes>, value: Bytes) -> Self {
        WireRecord { timestamp_ms, key, value, ..Default::default() }
    }

    pub fn from_stored(r: &StoredRecord) -> Self {
        let p = r.producer.unwrap_or(ProducerSeq { producer_id: 0, producer_epoch: 0, sequence: 0 });
        WireRecord {
            offset: r.offset,
            timestamp_ms: r.timestamp_ms,
            key: r.key.clone(),
            value: r.value.clone(),
            producer_id: p.producer_id,
            producer_epoch: u32::from(p.producer_epoch),
            sequence: p.sequence,
        }
    }

    /// The record, or `None` if its producer fields are impossible.
    pub fn to_record(&self) -> Option<Record> {
        let producer = match self.producer_id {
            0 if self.producer_epoch == 0 && self.sequence == 0 => None,
            0 => return None,
            id => Some(ProducerSeq {
                producer_id: id,
                producer_epoch: u16::try_from(self.producer_epoch).ok()?,
                sequence: self.sequence,
            }),
        };
        Some(Record { timestamp_ms: self.timestamp_ms, key: self.key.clone(), value: self.value.clone(), producer })
    }
}

/// Result codes of the data-plane methods (0 is success).
pub mod code {
    pub const OK: u32 = 0;
    /// This node does not lead the shard (or holds no replica of it): refresh and retry.
    pub const NOT_LEADER: u32 = 1;
    /// Too few in-sync replicas to accept writes: retry later.
    pub const NOT_ENOUGH_REPLICAS: u32 = 2;
    /// The same idempotent request is being appended: retry a little later.
    pub const IN_FLIGHT: u32 = 3;
    /// Not acknowledged in time: the outcome is unknown (an idempotent retry is safe).
    pub const TIMEOUT: u32 = 4;
    /// The producer's sequence does not follow the shard's (fatal for this producer epoch).
    pub const OUT_OF_ORDER_SEQUENCE: u32 = 5;
    /// A newer epoch of this producer exists (fatal).
    pub const PRODUCER_FENCED: u32 = 6;
    /// The request is malformed or asks the impossible (fatal).
    pub const INVALID: u32 = 7;
    /// The replica's log failed (retry elsewhere later).
    pub const STORAGE: u32 = 8;

    /// Whether the same request may succeed if sent again.
    pub fn is_retriable(code: u32) -> bool {
        matches!(code, NOT_LEADER | NOT_ENOUGH_REPLICAS | IN_FLIGHT | TIMEOUT | STORAGE)
    }
}

/// `shard.produce`: append records with acks=all.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProduceRequest {
    #[prost(string, tag = "1")]
    pub topic: String,
    #[prost(uint32, tag = "2")]
    pub partition: u32,
    #[prost(message, repeated, tag = "3")]
    pub records: Vec<WireRecord>,
    /// An idempotent producer's id (0: not idempotent); the records' own producer fields are
    /// ignored and numbered from `first_sequence`.
    #[prost(uint64, tag = "4")]
    pub producer_id: u64,
    #[prost(uint32, tag = "5")]
    pub producer_epoch: u32,
    #[prost(uint32, tag = "6")]
    pub first_sequence: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ProduceResponse {
    /// Empty on success.
    #[prost(string, tag = "1")]
    pub error: String,
    #[prost(uint64, tag = "2")]
    pub base_offset: u64,
    #[prost(uint64, tag = "3")]
    pub last_offset: u64,
    /// One of [`code`].
    #[prost(uint32, tag = "4")]
    pub code: u32,
}

/// `shard.replica_fetch`: a follower pulls from the leader.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReplicaFetchRequest {
    #[prost(string, tag = "1")]
    pub topic: String,
    #[prost(uint32, tag = "2")]
    pub partition: u32,
    #[prost(uint64, tag = "3")]
    pub from: u64,
    #[prost(uint64, tag = "4")]
    pub epoch: u64,
    #[prost(uint64, tag = "5")]
    pub fetch_offset: u64,
    #[prost(uint64, optional, tag = "6")]
    pub last_fetched_epoch: Option<u64>,
}

/// What kind of answer a [`ReplicaFetchResponse`] is.
pub mod fetch_kind {
    pub const RECORDS: u32 = 0;
    pub const DIVERGING: u32 = 1;
    pub const FENCED: u32 = 2;
    pub const NOT_LEADER: u32 = 3;
    /// The offset asked for is below the leader's log start (retention): `end_offset` holds
    /// the start.
    pub const OUT_OF_RANGE: u32 = 4;
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EpochStart {
    #[prost(uint64, tag = "1")]
    pub epoch: u64,
    #[prost(uint64, tag = "2")]
    pub start: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ReplicaFetchResponse {
    #[prost(uint32, tag = "1")]
    pub kind: u32,
    #[prost(message, repeated, tag = "2")]
    pub records: Vec<WireRecord>,
    #[prost(message, repeated, tag = "3")]
    pub epoch_starts: Vec<EpochStart>,
    #[prost(uint64, tag = "4")]
    pub hw: u64,
    /// For `DIVERGING`: the leader's epoch and where it ended; for `FENCED`: the leader's epoch.
    #[prost(uint64, tag = "5")]
    pub epoch: u64,
    #[prost(uint64, tag = "6")]
    pub end_offset: u64,
}

/// `shard.read`: a consumer reads committed records.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadRequest {
    #[prost(string, tag = "1")]
    pub topic: String,
    #[prost(uint32, tag = "2")]
    pub partition: u32,
    #[prost(uint64, tag = "3")]
    pub offset: u64,
    #[prost(uint32, tag = "4")]
    pub bytes_max: u32,
    /// With nothing committed at `offset` yet, wait up to this long for records (long poll).
    #[prost(uint32, tag = "5")]
    pub wait_ms: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadResponse {
    #[prost(string, tag = "1")]
    pub error: String,
    #[prost(message, repeated, tag = "2")]
    pub records: Vec<WireRecord>,
    #[prost(uint64, tag = "3")]
    pub high_watermark: u64,
    #[prost(uint64, tag = "4")]
    pub start_offset: u64,
    /// One of [`code`].
    #[prost(uint32, tag = "5")]
    pub code: u32,
}

/// What offset a [`ListOffsetsRequest`] asks for.
pub mod offset_spec {
    /// The first offset still stored.
    pub const EARLIEST: u32 = 0;
    /// The high watermark: the offset the next committed record will have.
    pub const LATEST: u32 = 1;
    /// The first committed offset whose timestamp is at or after `timestamp_ms` (the HW if
    /// none).
    pub const TIMESTAMP: u32 = 2;
}

/// `shard.list_offsets`: where a consumer can start.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListOffsetsRequest {
    #[prost(string, tag = "1")]
    pub topic: String,
    #[prost(uint32, tag = "2")]
    pub partition: u32,
    /// One of [`offset_spec`].
    #[prost(uint32, tag = "3")]
    pub spec: u32,
    #[prost(uint64, tag = "4")]
    pub timestamp_ms: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListOffsetsResponse {
    #[prost(string, tag = "1")]
    pub error: String,
    /// One of [`code`].
    #[prost(uint32, tag = "2")]
    pub code: u32,
    #[prost(uint64, tag = "3")]
    pub offset: u64,
}
