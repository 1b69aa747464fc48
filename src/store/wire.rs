//! The data-plane RPC bodies (protobuf): produce, replica fetch, and consumer reads.

use bytes::Bytes;
use keel_storage::{Record, StoredRecord};

/// A record on the wire.
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
}

impl WireRecord {
    pub fn from_stored(r: &StoredRecord) -> Self {
        WireRecord { offset: r.offset, timestamp_ms: r.timestamp_ms, key: r.key.clone(), value: r.value.clone() }
    }

    pub fn to_record(&self) -> Record {
        Record { timestamp_ms: self.timestamp_ms, key: self.key.clone(), value: self.value.clone() }
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
}
