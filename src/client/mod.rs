//! The internal data client: produce, fetch (long poll) and list offsets on shards, each call
//! routed to the shard's current leader and retried across leader changes until a deadline.
//!
//! Brokers (the Kafka and MQTT front-ends) build on it; the admin API and the simulation use
//! it now. Retrying a produce is safe only for an idempotent [`Producer`]: the shard leader
//! deduplicates its numbered requests, so a retry after a lost answer or a leader change is
//! answered with the offsets the records already have. [`DataClient::produce`] without a
//! producer is at least once: it retries refusals (a leader deposed while the records waited
//! for its followers refuses them, yet they may be committed by the next leader) but not a
//! call whose answer was lost.

mod producer;
mod retry;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

pub use self::producer::Producer;
use self::retry::Step;
use crate::meta::client::MetaClient;
use crate::meta::command::{MetaQuery, QueryResult};
use crate::meta::network::Peers;
use crate::meta::view::ViewHandle;
use crate::rpc::shard::{
    Code, ListOffsetsRequest, ListOffsetsResponse, OffsetSpec, ProduceRequest, ProduceResponse, ReadRequest,
    ReadResponse, WireRecord, LIST_OFFSETS, PRODUCE, READ,
};

/// Timeouts and retry pacing.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// How long one call may take (a long-polling read adds its wait).
    pub call_timeout_ms: u64,
    /// How long an operation is retried before it fails (for a produce: "outcome unknown").
    pub delivery_timeout_ms: u64,
    /// First and largest pause between retries (doubling).
    pub retry_backoff_ms_min: u64,
    pub retry_backoff_ms_max: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            call_timeout_ms: 10_000,
            delivery_timeout_ms: 30_000,
            retry_backoff_ms_min: 50,
            retry_backoff_ms_max: 1_000,
        }
    }
}

/// Why an operation failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The shard refused it for good.
    Refused { code: Code, message: String },
    /// The topic or partition does not exist.
    NotFound(String),
    /// Retried until the delivery timeout without an answer: for a produce the records may or
    /// may not have been appended.
    GaveUp(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Refused { code, message } => write!(f, "refused ({code:?}): {message}"),
            ClientError::NotFound(m) => write!(f, "not found: {m}"),
            ClientError::GaveUp(m) => write!(f, "gave up after retrying (outcome unknown): {m}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// Records read from a shard.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fetched {
    pub records: Vec<WireRecord>,
    pub high_watermark: u64,
    pub start_offset: u64,
    /// The leader epochs of the records: (epoch, first offset written in it), from the one in
    /// effect at the first record on.
    pub epoch_starts: Vec<(u64, u64)>,
    /// The serving replica's log end (at or past the HW).
    pub log_end: u64,
    /// The bytes the serving replica stores for the shard, if its engine knows.
    pub stored_bytes: Option<u64>,
}

impl Fetched {
    /// Whether `offset` lies outside what the shard holds: below its start, or past its log
    /// end. Offsets between the HW and the log end are not out of range, only not readable
    /// yet: a new leader's HW lags until its followers confirm, and telling a consumer there
    /// that it is out of range sends it back to its reset policy (re-reading from the start).
    pub fn out_of_range(&self, offset: i64) -> bool {
        offset < self.start_offset as i64 || offset > self.log_end.max(self.high_watermark) as i64
    }
}

type ShardKey = (String, u32);

/// A client of the data plane. Cheap to clone; clones share the leader cache.
#[derive(Clone)]
pub struct DataClient {
    meta: MetaClient,
    peers: Peers,
    leaders: Arc<Mutex<BTreeMap<ShardKey, String>>>,
    /// The node's metadata view, where leaders are looked up first.
    view: Option<ViewHandle>,
    pub config: ClientConfig,
}

impl DataClient {
    pub fn new(meta: MetaClient, peers: Peers) -> Self {
        DataClient { meta, peers, leaders: Arc::default(), view: None, config: ClientConfig::default() }
    }

    /// Looks shard leaders up in `view` (the node's meta watch) before asking meta.
    pub fn with_view(mut self, view: ViewHandle) -> Self {
        self.view = Some(view);
        self
    }

    pub fn with_config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// A new idempotent producer (its id allocated by meta).
    pub async fn producer(&self) -> Result<Producer, ClientError> {
        Producer::allocate(self.clone()).await
    }

    /// Appends `records` with acks=all. With `producer` (id, epoch, first sequence) the call
    /// is idempotent and retried through any failure; without, see the module docs.
    pub async fn produce(
        &self,
        topic: &str,
        partition: u32,
        records: Vec<WireRecord>,
        producer: Option<(u64, u16, u32)>,
    ) -> Result<(u64, u64), ClientError> {
        let (producer_id, producer_epoch, first_sequence) = producer.unwrap_or((0, 0, 0));
        let req = ProduceRequest {
            topic: topic.to_string(),
            partition,
            records,
            producer_id,
            producer_epoch: u32::from(producer_epoch),
            first_sequence,
        };
        let body = Bytes::from(prost::Message::encode_to_vec(&req));
        let idempotent = producer.is_some();
        self.retry(topic, partition, |addr| {
            let body = body.clone();
            async move {
                match self.call::<ProduceResponse>(&addr, PRODUCE, body, 0).await {
                    Err(e) if idempotent => Step::Retry { refresh: true, why: e },
                    Err(e) => Step::Fail(ClientError::GaveUp(e)),
                    Ok(r) if Code::of(r.code) == Code::Ok => Step::Done((r.base_offset, r.last_offset)),
                    Ok(r) => retry::on_code(Code::of(r.code), r.error, idempotent),
                }
            }
        })
        .await
    }

    /// Committed records from `offset`; with none yet, waits up to `wait_ms` for some.
    pub async fn fetch(
        &self,
        topic: &str,
        partition: u32,
        offset: u64,
        bytes_max: u32,
        wait_ms: u32,
    ) -> Result<Fetched, ClientError> {
        let req = ReadRequest { topic: topic.to_string(), partition, offset, bytes_max, wait_ms };
        let body = Bytes::from(prost::Message::encode_to_vec(&req));
        self.retry(topic, partition, |addr| {
            let body = body.clone();
            async move {
                match self.call::<ReadResponse>(&addr, READ, body, u64::from(wait_ms)).await {
                    Err(e) => Step::Retry { refresh: true, why: e },
                    Ok(r) if Code::of(r.code) == Code::Ok => Step::Done(Fetched {
                        records: r.records,
                        high_watermark: r.high_watermark,
                        start_offset: r.start_offset,
                        epoch_starts: r.epoch_starts.iter().map(|e| (e.epoch, e.start)).collect(),
                        log_end: r.log_end,
                        stored_bytes: r.stored_bytes,
                    }),
                    Ok(r) => retry::on_code(Code::of(r.code), r.error, true),
                }
            }
        })
        .await
    }

    /// An offset of the shard: earliest, latest (the HW) or by time.
    pub async fn list_offsets(
        &self,
        topic: &str,
        partition: u32,
        spec: OffsetSpec,
        timestamp_ms: u64,
    ) -> Result<u64, ClientError> {
        Ok(self.offset_and_epoch(topic, partition, spec, timestamp_ms, 0).await?.0)
    }

    /// An offset of the shard with the leader epoch that goes with it (see
    /// [`ListOffsetsResponse::epoch`]); `leader_epoch` is the epoch asked about by
    /// [`OffsetSpec::EpochEnd`].
    pub async fn offset_and_epoch(
        &self,
        topic: &str,
        partition: u32,
        spec: OffsetSpec,
        timestamp_ms: u64,
        leader_epoch: u64,
    ) -> Result<(u64, Option<u64>), ClientError> {
        let req =
            ListOffsetsRequest { topic: topic.to_string(), partition, spec: spec as i32, timestamp_ms, leader_epoch };
        let body = Bytes::from(prost::Message::encode_to_vec(&req));
        self.retry(topic, partition, |addr| {
            let body = body.clone();
            async move {
                match self.call::<ListOffsetsResponse>(&addr, LIST_OFFSETS, body, 0).await {
                    Err(e) => Step::Retry { refresh: true, why: e },
                    Ok(r) if Code::of(r.code) == Code::Ok => Step::Done((r.offset, r.epoch)),
                    Ok(r) => retry::on_code(Code::of(r.code), r.error, true),
                }
            }
        })
        .await
    }

    async fn call<R: prost::Message + Default>(
        &self,
        addr: &str,
        method: &str,
        body: Bytes,
        extra_ms: u64,
    ) -> Result<R, String> {
        let timeout = Duration::from_millis(self.config.call_timeout_ms + extra_ms);
        let b = self.peers.call(addr, method, body, timeout).await.map_err(|e| e.to_string())?;
        R::decode(b).map_err(|e| e.to_string())
    }

    /// The leader's address, from the cache or from meta.
    async fn leader(&self, topic: &str, partition: u32) -> Result<Option<String>, ClientError> {
        let key = (topic.to_string(), partition);
        if let Some(a) = self.leaders.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(Some(a.clone()));
        }
        if let Some(view) = &self.view {
            let v = view.current();
            if let Some(t) = v.topics.get(topic) {
                if t.shards.len() <= partition as usize {
                    return Err(ClientError::NotFound(format!("partition {partition} of {topic:?}")));
                }
                return Ok(v.leader_addr(topic, partition).map(str::to_string));
            }
        }
        let t = match self.meta.query(&MetaQuery::Topic { name: topic.to_string() }).await {
            Ok(QueryResult::Topic(Some(t))) => t,
            Ok(QueryResult::Topic(None)) => return Err(ClientError::NotFound(format!("topic {topic:?}"))),
            _ => return Ok(None),
        };
        let shard = t.shards.get(partition as usize).ok_or_else(|| {
            ClientError::NotFound(format!("partition {partition} of {topic:?} ({} partitions)", t.shards.len()))
        })?;
        let Some(leader) = shard.leader else { return Ok(None) };
        let addr = match self.meta.query(&MetaQuery::Nodes).await {
            Ok(QueryResult::Nodes(nodes)) => nodes.into_iter().find(|n| n.id == leader).map(|n| n.addr),
            _ => None,
        };
        if let Some(a) = &addr {
            self.leaders.lock().unwrap_or_else(|e| e.into_inner()).insert(key, a.clone());
        }
        Ok(addr)
    }

    fn forget_leader(&self, topic: &str, partition: u32) {
        self.leaders.lock().unwrap_or_else(|e| e.into_inner()).remove(&(topic.to_string(), partition));
    }
}

#[cfg(test)]
mod tests {
    use super::Fetched;

    #[test]
    fn offsets_between_the_hw_and_the_log_end_are_not_out_of_range() {
        // A new leader: records up to 214 in its log, its HW still at 200 (the Jepsen Kafka
        // workload's consumer at 214 was told out of range and re-read from 0).
        let f = Fetched { high_watermark: 200, start_offset: 10, log_end: 214, ..Fetched::default() };
        assert!(!f.out_of_range(200) && !f.out_of_range(214), "committed soon: wait");
        assert!(f.out_of_range(215), "past the log end");
        assert!(f.out_of_range(9), "below the start");
        let old = Fetched { high_watermark: 200, start_offset: 0, log_end: 0, ..Fetched::default() };
        assert!(!old.out_of_range(200) && old.out_of_range(201), "no log end known: the HW bounds it");
    }
}
