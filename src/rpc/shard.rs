//! The shard data-plane protocol between nodes (protobuf bodies over [`crate::rpc`]): produce
//! (acks=all), follower fetches, consumer reads and list offsets. Storage nodes serve it
//! (`store`); the data client, the admin API and brokers call it, and none of them need the
//! storage role to do so. The bytes are in `docs/rpc.md`.

use bytes::Bytes;
use keel_storage::replication::FetchReply;
use keel_storage::{ProducerSeq, Record, StoredRecord};

/// Appends records with acks=all ([`ProduceRequest`] → [`ProduceResponse`]).
pub const PRODUCE: &str = "shard.produce";
/// A follower pulls from the leader ([`ReplicaFetchRequest`] → [`ReplicaFetchResponse`]).
pub const REPLICA_FETCH: &str = "shard.replica_fetch";
/// A consumer reads committed records ([`ReadRequest`] → [`ReadResponse`]).
pub const READ: &str = "shard.read";
/// Where a consumer can start ([`ListOffsetsRequest`] → [`ListOffsetsResponse`]).
pub const LIST_OFFSETS: &str = "shard.list_offsets";

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
    /// The offsets the record takes less one (0 for an ordinary record; a Kafka batch kept
    /// whole takes one per record it holds).
    #[prost(uint32, tag = "8")]
    pub extra_offsets: u32,
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
            extra_offsets: r.span.saturating_sub(1),
        }
    }

    /// The offsets the record takes.
    pub fn span(&self) -> u32 {
        self.extra_offsets.saturating_add(1)
    }

    /// The record, or `None` if its producer or span fields are impossible.
    pub fn to_record(&self) -> Option<Record> {
        let span = self.extra_offsets.checked_add(1)?;
        let producer = match self.producer_id {
            0 if self.producer_epoch == 0 && self.sequence == 0 => None,
            0 => return None,
            id => Some(ProducerSeq {
                producer_id: id,
                producer_epoch: u16::try_from(self.producer_epoch).ok()?,
                sequence: self.sequence,
            }),
        };
        let (key, value) = (self.key.clone(), self.value.clone());
        Some(Record { timestamp_ms: self.timestamp_ms, key, value, producer, span })
    }
}

/// Result codes of the data-plane methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum Code {
    Ok = 0,
    /// This node does not lead the shard (or holds no replica of it): refresh and retry.
    NotLeader = 1,
    /// Too few in-sync replicas to accept writes: retry later.
    NotEnoughReplicas = 2,
    /// The same idempotent request is being appended: retry a little later.
    InFlight = 3,
    /// Not acknowledged in time: the outcome is unknown (an idempotent retry is safe).
    Timeout = 4,
    /// The producer's sequence does not follow the shard's (fatal for this producer epoch).
    OutOfOrderSequence = 5,
    /// A newer epoch of this producer exists (fatal).
    ProducerFenced = 6,
    /// The request is malformed or asks the impossible (fatal).
    Invalid = 7,
    /// The replica's log failed (retry elsewhere later).
    Storage = 8,
}

impl Code {
    /// Whether the same request may succeed if sent again.
    pub fn is_retriable(self) -> bool {
        matches!(self, Code::NotLeader | Code::NotEnoughReplicas | Code::InFlight | Code::Timeout | Code::Storage)
    }

    /// The code a response field carries; a number this build does not know is `Invalid`
    /// (fatal), never mistaken for success.
    pub fn of(raw: i32) -> Code {
        Code::try_from(raw).unwrap_or(Code::Invalid)
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
    /// A [`Code`].
    #[prost(enumeration = "Code", tag = "4")]
    pub code: i32,
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum FetchKind {
    Records = 0,
    Diverging = 1,
    Fenced = 2,
    NotLeader = 3,
    /// The offset asked for is below the leader's log start (retention): `end_offset` holds
    /// the start.
    OutOfRange = 4,
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
    /// A [`FetchKind`].
    #[prost(enumeration = "FetchKind", tag = "1")]
    pub kind: i32,
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
    /// A [`Code`].
    #[prost(enumeration = "Code", tag = "5")]
    pub code: i32,
    /// The leader epochs of the records: the one in effect at the first record, then each
    /// that starts among them (Kafka batches are served stamped with them).
    #[prost(message, repeated, tag = "6")]
    pub epoch_starts: Vec<EpochStart>,
    /// The replica's log end: offsets between the HW and it exist but are not committed yet
    /// (a new leader's HW catches up after its followers confirm), so a consumer there waits
    /// rather than being told it is out of range.
    #[prost(uint64, tag = "7")]
    pub log_end: u64,
    /// The bytes the replica stores for the shard, when its engine knows them cheaply.
    #[prost(uint64, optional, tag = "8")]
    pub stored_bytes: Option<u64>,
}

/// What offset a [`ListOffsetsRequest`] asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum OffsetSpec {
    /// The first offset still stored.
    Earliest = 0,
    /// The high watermark: the offset the next committed record will have.
    Latest = 1,
    /// The first committed offset whose timestamp is at or after `timestamp_ms` (the HW if
    /// none).
    Timestamp = 2,
    /// Where leader epoch `leader_epoch` ended, as Kafka's OffsetForLeaderEpoch answers it
    /// (`EpochCache::kafka_end_for`; the latest epoch ends at the log end): the offset, with
    /// the epoch answered in `epoch` (none: undefined).
    EpochEnd = 3,
}

/// `shard.list_offsets`: where a consumer can start.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListOffsetsRequest {
    #[prost(string, tag = "1")]
    pub topic: String,
    #[prost(uint32, tag = "2")]
    pub partition: u32,
    /// An [`OffsetSpec`].
    #[prost(enumeration = "OffsetSpec", tag = "3")]
    pub spec: i32,
    #[prost(uint64, tag = "4")]
    pub timestamp_ms: u64,
    /// For `EPOCH_END`: the epoch asked about.
    #[prost(uint64, tag = "5")]
    pub leader_epoch: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ListOffsetsResponse {
    #[prost(string, tag = "1")]
    pub error: String,
    /// A [`Code`].
    #[prost(enumeration = "Code", tag = "2")]
    pub code: i32,
    #[prost(uint64, tag = "3")]
    pub offset: u64,
    /// The leader epoch of the offset answered: for `LATEST` the leader's current one, else
    /// the epoch the record there was written in; for `EPOCH_END` the epoch answered. None
    /// when unknown (for `EPOCH_END`: undefined, and `offset` means nothing).
    #[prost(uint64, optional, tag = "4")]
    pub epoch: Option<u64>,
}

impl ReplicaFetchResponse {
    /// A leader's refusal of a follower's fetch.
    pub fn refusal(reply: FetchReply) -> Self {
        let (kind, epoch, end_offset) = match reply {
            FetchReply::Diverging { epoch, end_offset } => (FetchKind::Diverging, epoch, end_offset),
            FetchReply::Fenced { leader_epoch } => (FetchKind::Fenced, leader_epoch, 0),
            FetchReply::NotLeader => (FetchKind::NotLeader, 0, 0),
            FetchReply::OutOfRange { start } => (FetchKind::OutOfRange, 0, start),
        };
        ReplicaFetchResponse { kind: kind as i32, epoch, end_offset, ..Default::default() }
    }

    /// The refusal this response carries; `None` for records (and for a kind this build does
    /// not know, which the follower treats as "not leader": it asks meta again).
    pub fn refused(&self) -> Option<FetchReply> {
        match FetchKind::try_from(self.kind) {
            Ok(FetchKind::Records) => None,
            Ok(FetchKind::Diverging) => Some(FetchReply::Diverging { epoch: self.epoch, end_offset: self.end_offset }),
            Ok(FetchKind::Fenced) => Some(FetchReply::Fenced { leader_epoch: self.epoch }),
            Ok(FetchKind::OutOfRange) => Some(FetchReply::OutOfRange { start: self.end_offset }),
            Ok(FetchKind::NotLeader) | Err(_) => Some(FetchReply::NotLeader),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_round_trip_through_the_wire_form() {
        for reply in [
            FetchReply::Diverging { epoch: 4, end_offset: 17 },
            FetchReply::Fenced { leader_epoch: 9 },
            FetchReply::NotLeader,
            FetchReply::OutOfRange { start: 120 },
        ] {
            assert_eq!(ReplicaFetchResponse::refusal(reply.clone()).refused(), Some(reply));
        }
        assert_eq!(ReplicaFetchResponse::default().refused(), None);
        assert_eq!(ReplicaFetchResponse { kind: 99, ..Default::default() }.refused(), Some(FetchReply::NotLeader));
    }

    #[test]
    fn unknown_codes_are_never_success() {
        assert_eq!(Code::of(0), Code::Ok);
        assert_eq!(Code::of(8), Code::Storage);
        assert_eq!(Code::of(42), Code::Invalid);
        assert!(!Code::of(42).is_retriable());
    }
}
