//! The storage role: the shard replicas this node holds, kept in line with meta's placement.
//!
//! Every `ASSIGN_EVERY`, the node reads the topics from meta and, for each shard it holds a
//! replica of, starts a [`driver`] (over the topic's engine) and tells it its role whenever the
//! shard's epoch or leader changed. Methods: `shard.produce` (acks=all), `shard.replica_fetch`
//! (followers), `shard.read` (consumers, below the high watermark).

pub mod driver;
pub mod wire;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use keel_rt::disk::Disk;
use keel_rt::{task, time};
use keel_storage::replication::Event;
use keel_storage::{LogEngine, LogError, MemoryConfig, MemoryEngine, ObjectEngine, SegmentConfig, SegmentEngine};
use prost::Message;
use tokio::sync::oneshot;

use self::driver::{Input, ShardContext, ShardHandle};
use self::wire::{
    code, offset_spec, ListOffsetsRequest, ListOffsetsResponse, ProduceRequest, ProduceResponse, ReadRequest,
    ReadResponse, ReplicaFetchRequest, WireRecord,
};
use crate::meta::client::MetaClient;
use crate::meta::command::{MetaCommand, MetaQuery, QueryResult};
use crate::meta::network::Peers;
use crate::meta::state::{Engine, ShardRecord};
use crate::meta::types::NodeId;
use crate::rpc::RemoteError;
use keel_storage::replication::{ProduceError, ProducerBatch};
use keel_storage::ProducerSeq;

pub const PRODUCE: &str = "shard.produce";
pub const REPLICA_FETCH: &str = "shard.replica_fetch";
pub const READ: &str = "shard.read";
pub const LIST_OFFSETS: &str = "shard.list_offsets";

/// How long a replica being reopened may take to stop.
const STOP_WAIT: Duration = Duration::from_secs(30);
/// How often an object engine runs a tiering round (upload, clean up, evict).
const TIER_EVERY: Duration = Duration::from_secs(1);

/// How often the node reconciles its replicas with meta.
const ASSIGN_EVERY: Duration = Duration::from_millis(500);
/// How long a produce may wait for acknowledgement.
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes one read returns.
const READ_BYTES_MAX: u32 = 4 * 1024 * 1024;
/// The longest a read may wait for new records.
const READ_WAIT_MS_MAX: u32 = 30_000;
/// The most records one produce request may hold.
const PRODUCE_RECORDS_MAX: usize = 100_000;

type ShardKey = (String, u32);

struct Replica {
    handle: ShardHandle,
    /// The (epoch, leader) last told to the driver.
    told: Option<(u64, Option<NodeId>)>,
    /// The object engine's tiering loop, stopped with the replica.
    _tiering: Option<AbortOnDrop>,
    /// The topic's retention the log was opened with.
    retention: (Option<u64>, Option<u64>),
}

/// Aborts a background task when dropped.
struct AbortOnDrop(task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A node's storage role.
#[derive(Clone)]
pub struct StoreNode {
    node: NodeId,
    disk: Arc<dyn Disk>,
    peers: Peers,
    meta: MetaClient,
    shards: Arc<Mutex<BTreeMap<ShardKey, Replica>>>,
    /// TEST ONLY: report appends durable without syncing them.
    pub unsafe_ack_before_sync: bool,
    /// Replication limits of every shard replica here.
    pub replica_config: keel_storage::replication::ReplicaConfig,
    /// Where `object` topics tier to; without it they are refused here.
    pub object_tier: Option<crate::node::ObjectTier>,
    /// Segment size of `segment` topics (default: the engine's), for simulations that want
    /// segments to roll and retention to bite in a short run.
    pub segment_bytes_max: Option<u64>,
}

/// What a replica needs to know of its topic. Retention is read when the replica opens (a
/// change applies from the replica's next start).
struct TopicSettings {
    engine: Engine,
    min_insync: u32,
    retention_ms: Option<u64>,
    retention_bytes: Option<u64>,
}

impl TopicSettings {
    fn of(t: &crate::meta::state::TopicRecord) -> Self {
        TopicSettings {
            engine: t.engine,
            min_insync: t.min_insync_replicas,
            retention_ms: t.retention_ms,
            retention_bytes: t.retention_bytes,
        }
    }
}

/// A RocksDB log in `dir` of `disk` (real files: RocksDB does its own I/O there).
#[cfg(all(feature = "rocksdb", not(madsim)))]
async fn rocksdb_log(disk: &dyn Disk, dir: &str, settings: &TopicSettings) -> Result<Arc<dyn LogEngine>, String> {
    let config = keel_storage::RocksConfig {
        retention_ms: settings.retention_ms,
        retention_bytes: settings.retention_bytes,
        ..keel_storage::RocksConfig::default()
    };
    let log = keel_storage::RocksEngine::open(disk, dir, config).await.map_err(|e| e.to_string())?;
    Ok(Arc::new(log))
}

/// Without the `rocksdb` feature (and always in simulation), rocksdb topics cannot be served.
#[cfg(not(all(feature = "rocksdb", not(madsim))))]
async fn rocksdb_log(_disk: &dyn Disk, _dir: &str, _settings: &TopicSettings) -> Result<Arc<dyn LogEngine>, String> {
    Err("the rocksdb engine is not built into this binary (build with --features rocksdb)".into())
}

fn remote(e: impl std::fmt::Display) -> RemoteError {
    RemoteError::new(RemoteError::APPLICATION, e.to_string())
}

impl StoreNode {
    pub fn new(node: NodeId, disk: Arc<dyn Disk>, peers: Peers, meta: MetaClient) -> Self {
        StoreNode {
            node,
            disk,
            peers,
            meta,
            shards: Arc::default(),
            unsafe_ack_before_sync: false,
            replica_config: Default::default(),
            object_tier: None,
            segment_bytes_max: None,
        }
    }

    fn handle(&self, topic: &str, partition: u32) -> Option<ShardHandle> {
        let shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        shards.get(&(topic.to_string(), partition)).map(|r| r.handle.clone())
    }

    /// Keeps the replicas in line with meta; runs until the task is dropped.
    pub async fn assign_loop(self) {
        loop {
            time::sleep(ASSIGN_EVERY).await;
            if let Err(e) = self.reconcile().await {
                tracing::debug!(error = %e, "reconciling shards with meta");
            }
        }
    }

    async fn reconcile(&self) -> Result<(), String> {
        let topics = match self.meta.query(&MetaQuery::Topics).await.map_err(|e| e.to_string())? {
            QueryResult::Topics(t) => t,
            _ => return Err("unexpected answer".into()),
        };
        let addrs: BTreeMap<NodeId, String> =
            match self.meta.query(&MetaQuery::Nodes).await.map_err(|e| e.to_string())? {
                QueryResult::Nodes(n) => n.into_iter().map(|n| (n.id, n.addr)).collect(),
                _ => return Err("unexpected answer".into()),
            };
        let mut wanted = BTreeMap::new();
        for t in &topics {
            for s in t.shards.iter().filter(|s| s.replicas.contains(&self.node)) {
                wanted.insert((t.name.clone(), s.partition), (TopicSettings::of(t), s.clone()));
            }
        }
        let removed: Vec<ShardHandle> = {
            let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
            let gone: Vec<ShardKey> = shards.keys().filter(|k| !wanted.contains_key(*k)).cloned().collect();
            gone.iter().filter_map(|k| shards.remove(k)).map(|r| r.handle).collect()
        };
        for h in removed {
            let _ = h.tx.send(Input::Stop).await;
        }
        let now_ms = time::since_start().as_millis() as u64;
        for ((topic, partition), (settings, shard)) in wanted {
            self.reopen_if_retention_changed(&topic, partition, &settings).await;
            self.ensure(&topic, partition, &settings).await?;
            self.tell(&topic, &shard, &addrs, now_ms).await;
        }
        Ok(())
    }

    /// An engine's retention is fixed when it opens: after a topic update, the replica stops
    /// and is opened again from its disk with the new settings.
    async fn reopen_if_retention_changed(&self, topic: &str, partition: u32, settings: &TopicSettings) {
        let stale = {
            let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
            let key = (topic.to_string(), partition);
            let changed =
                shards.get(&key).is_some_and(|r| r.retention != (settings.retention_ms, settings.retention_bytes));
            if changed {
                shards.remove(&key)
            } else {
                None
            }
        };
        if let Some(r) = stale {
            tracing::info!(topic, partition, "retention changed; reopening the replica");
            let _ = r.handle.tx.send(Input::Stop).await;
            // The old driver must be gone before a new engine opens the same files: if it has
            // not stopped in time, it stays registered and the next round tries again.
            if time::timeout(STOP_WAIT, r.handle.tx.closed()).await.is_err() {
                tracing::warn!(topic, partition, "the replica did not stop in time; reopening later");
                let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
                shards.insert((topic.to_string(), partition), r);
            }
        }
    }

    async fn ensure(&self, topic: &str, partition: u32, settings: &TopicSettings) -> Result<(), String> {
        let dir = format!("shards/{topic}/{partition}");
        match self.handle(topic, partition) {
            Some(h) if !h.tx.is_closed() => return Ok(()),
            Some(h) => {
                // The driver stopped on a log error. A failed sync leaves durability unknown:
                // reopening recovers what is durable. Damaged data is salvaged first.
                tracing::warn!(topic, partition, "restarting a stopped shard replica from its disk");
                self.shards.lock().unwrap_or_else(|e| e.into_inner()).remove(&(topic.to_string(), partition));
                if h.damaged.load(std::sync::atomic::Ordering::SeqCst) {
                    return self.salvage(topic, partition, &dir).await;
                }
            }
            None => {}
        }
        let (log, tiering) = match self.open_engine(topic, partition, settings, &dir).await {
            Ok(opened) => opened,
            Err(LogError::Corrupt { .. }) => return self.salvage(topic, partition, &dir).await,
            Err(e) => return Err(e.to_string()),
        };
        let ctx = ShardContext {
            node: self.node,
            topic: topic.to_string(),
            partition,
            disk: self.disk.clone(),
            dir: dir.clone(),
            peers: self.peers.clone(),
            meta: self.meta.clone(),
            unsafe_ack_before_sync: self.unsafe_ack_before_sync,
            replica_config: keel_storage::replication::ReplicaConfig {
                min_insync: settings.min_insync as usize,
                ..self.replica_config.clone()
            },
        };
        let handle = match driver::start(ctx, log).await {
            Ok(h) => h,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                drop(tiering);
                return self.salvage(topic, partition, &dir).await;
            }
            Err(e) => return Err(e.to_string()),
        };
        let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        let retention = (settings.retention_ms, settings.retention_bytes);
        shards.insert((topic.to_string(), partition), Replica { handle, told: None, _tiering: tiering, retention });
        Ok(())
    }

    /// Opens the shard's log with its topic's engine (and starts tiering for `object`).
    async fn open_engine(
        &self,
        topic: &str,
        partition: u32,
        settings: &TopicSettings,
        dir: &str,
    ) -> Result<(Arc<dyn LogEngine>, Option<AbortOnDrop>), LogError> {
        let unavailable = |why: String| LogError::Io(std::io::Error::other(why));
        let (retention_ms, retention_bytes) = (settings.retention_ms, settings.retention_bytes);
        let mut segment = SegmentConfig { retention_ms, retention_bytes, ..SegmentConfig::default() };
        if let Some(bytes) = self.segment_bytes_max {
            segment.segment_bytes_max = bytes;
        }
        let engine = settings.engine;
        Ok(match engine {
            Engine::Memory => {
                let config = MemoryConfig { retention_ms, retention_bytes, ..MemoryConfig::default() };
                (Arc::new(MemoryEngine::new(config)), None)
            }
            Engine::Segment => {
                (Arc::new(SegmentEngine::open(self.disk.clone(), &format!("{dir}/log"), segment).await?), None)
            }
            Engine::Object => {
                let tier = self
                    .object_tier
                    .clone()
                    .ok_or_else(|| unavailable("no object store configured on this node".into()))?;
                // One prefix per replica: each replica tiers its own log (they may differ
                // above the HW, and each truncates on its own). A single copy uploaded by the
                // leader would save space; it needs remote metadata shared through meta.
                let base = if tier.prefix.is_empty() { String::new() } else { format!("{}/", tier.prefix) };
                let prefix = format!("{base}{topic}/{partition}/replica-{}", self.node);
                let mut config = tier.config;
                (config.segment.retention_ms, config.segment.retention_bytes) = (retention_ms, retention_bytes);
                let log =
                    ObjectEngine::open(self.disk.clone(), &format!("{dir}/log"), tier.store, &prefix, config).await?;
                let log = Arc::new(log);
                let tiering = AbortOnDrop(task::spawn(tier_loop(log.clone())));
                (log, Some(tiering))
            }
            Engine::Rocksdb => {
                (rocksdb_log(self.disk.as_ref(), &format!("{dir}/rocksdb"), settings).await.map_err(unavailable)?, None)
            }
        })
    }

    /// This replica's copy is damaged (records it reported durable are unreadable or gone):
    /// it withdraws from the ISR, so it cannot be elected while it lacks them, then discards
    /// its log and epochs; the next reconciliation starts it empty and it fetches everything
    /// again. The last in-sync replica is refused the withdrawal and stays as it is.
    async fn salvage(&self, topic: &str, partition: u32, dir: &str) -> Result<(), String> {
        let leave = MetaCommand::LeaveIsr { topic: topic.to_string(), partition, node: self.node };
        match self.meta.write(&leave).await.map_err(|e| e.to_string())?.result {
            Ok(_) => {}
            Err(e) => return Err(format!("{topic}/{partition}: damaged copy kept: {e:?}")),
        }
        tracing::warn!(topic, partition, "discarding a damaged replica copy; it will fetch again");
        let log_dir = format!("{dir}/log");
        let mut names = self.disk.list_dir(&log_dir).await.unwrap_or_default();
        // Newest first, so that a crash midway leaves a prefix of the log (a truncation).
        names.sort();
        for name in names.iter().rev() {
            self.disk.remove_file(&format!("{log_dir}/{name}")).await.map_err(|e| e.to_string())?;
        }
        self.disk.sync_dir(&log_dir).await.map_err(|e| e.to_string())?;
        match self.disk.remove_file(&format!("{dir}/epochs")).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.to_string()),
            _ => {}
        }
        self.disk.sync_dir(dir).await.map_err(|e| e.to_string())?;
        Err(format!("{topic}/{partition}: damaged copy discarded; reopening next round"))
    }

    /// Tells the driver its role if the epoch or leader changed, and ticks it.
    async fn tell(&self, topic: &str, shard: &ShardRecord, addrs: &BTreeMap<NodeId, String>, now_ms: u64) {
        let (tx, changed) = {
            let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
            let Some(r) = shards.get_mut(&(topic.to_string(), shard.partition)) else { return };
            let now = (shard.epoch, shard.leader);
            r.handle.isr_version.fetch_max(shard.isr_version, std::sync::atomic::Ordering::SeqCst);
            let changed = r.told != Some(now);
            r.told = Some(now);
            (r.handle.tx.clone(), changed)
        };
        if changed {
            if let Some(addr) = shard.leader.and_then(|l| addrs.get(&l)) {
                let _ = tx.send(Input::LeaderAddr(addr.clone())).await;
            }
            let event = match shard.leader {
                Some(l) if l == self.node => Event::BecomeLeader { epoch: shard.epoch, isr: shard.isr.clone(), now_ms },
                Some(l) => Event::BecomeFollower { epoch: shard.epoch, leader: l },
                None => return,
            };
            let _ = tx.send(Input::Event(event)).await;
        }
        let _ = tx.send(Input::Event(Event::Tick { now_ms })).await;
    }

    /// Handles a `shard.*` method.
    pub async fn call(&self, method: &str, body: Bytes) -> Result<Bytes, RemoteError> {
        match method {
            PRODUCE => self.produce(ProduceRequest::decode(body).map_err(RemoteError::bad_request)?).await,
            REPLICA_FETCH => {
                self.replica_fetch(ReplicaFetchRequest::decode(body).map_err(RemoteError::bad_request)?).await
            }
            READ => self.read(ReadRequest::decode(body).map_err(RemoteError::bad_request)?).await,
            LIST_OFFSETS => {
                self.list_offsets(ListOffsetsRequest::decode(body).map_err(RemoteError::bad_request)?).await
            }
            other => Err(RemoteError::new(RemoteError::NO_SUCH_METHOD, format!("no method {other:?}"))),
        }
    }

    async fn produce(&self, req: ProduceRequest) -> Result<Bytes, RemoteError> {
        let fail = |code, error: String| ProduceResponse { error, code, ..Default::default() };
        let resp = match produce_input(&req) {
            Err(e) => fail(code::INVALID, e),
            Ok((records, producer)) => match self.handle(&req.topic, req.partition) {
                None => fail(code::NOT_LEADER, "no replica of this shard here".into()),
                Some(h) => {
                    let (reply, rx) = oneshot::channel();
                    h.tx.send(Input::Produce { records, producer, reply }).await.map_err(remote)?;
                    match time::timeout(PRODUCE_TIMEOUT, rx).await {
                        Ok(Ok(Ok((base, last)))) => ProduceResponse {
                            error: String::new(),
                            base_offset: base,
                            last_offset: last,
                            code: code::OK,
                        },
                        Ok(Ok(Err(e))) => fail(produce_code(&e), format!("{e:?}")),
                        Ok(Err(_)) => fail(code::STORAGE, "the shard replica stopped (outcome unknown)".into()),
                        Err(_) => fail(code::TIMEOUT, "not acknowledged in time (outcome unknown)".into()),
                    }
                }
            },
        };
        Ok(resp.encode_to_vec().into())
    }

    async fn replica_fetch(&self, req: ReplicaFetchRequest) -> Result<Bytes, RemoteError> {
        let h = self.handle(&req.topic, req.partition).ok_or_else(|| remote("no replica of this shard here"))?;
        let (reply, rx) = oneshot::channel();
        h.tx.send(Input::ReplicaFetch { req, reply }).await.map_err(remote)?;
        let resp = rx.await.map_err(|_| remote("fetch dropped"))?;
        Ok(resp.encode_to_vec().into())
    }

    async fn read(&self, req: ReadRequest) -> Result<Bytes, RemoteError> {
        let Some(h) = self.handle(&req.topic, req.partition) else {
            let resp = ReadResponse {
                error: "no replica of this shard here".into(),
                code: code::NOT_LEADER,
                ..Default::default()
            };
            return Ok(resp.encode_to_vec().into());
        };
        let mut hw_rx = h.hw.clone();
        if req.wait_ms > 0 && *hw_rx.borrow() <= req.offset {
            // Long poll: wait until something is committed at the offset asked for.
            let wait = Duration::from_millis(u64::from(req.wait_ms.min(READ_WAIT_MS_MAX)));
            let _ = time::timeout(wait, hw_rx.wait_for(|hw| *hw > req.offset)).await;
        }
        let hw = *hw_rx.borrow();
        let start = h.engine.start_offset();
        let bytes_max = req.bytes_max.clamp(1, READ_BYTES_MAX) as usize;
        let records = if req.offset < hw {
            match h.engine.read(req.offset.max(start), bytes_max).await {
                Ok(r) => r,
                Err(e) => {
                    let resp = ReadResponse { error: e.to_string(), code: code::STORAGE, ..Default::default() };
                    return Ok(resp.encode_to_vec().into());
                }
            }
        } else {
            vec![]
        };
        // Consumers never see records at or above the high watermark.
        let records = records.iter().filter(|r| r.offset < hw).map(WireRecord::from_stored).collect();
        let resp =
            ReadResponse { error: String::new(), records, high_watermark: hw, start_offset: start, code: code::OK };
        Ok(resp.encode_to_vec().into())
    }

    async fn list_offsets(&self, req: ListOffsetsRequest) -> Result<Bytes, RemoteError> {
        let fail = |code, error: String| ListOffsetsResponse { error, code, offset: 0 };
        let resp = match self.handle(&req.topic, req.partition) {
            None => fail(code::NOT_LEADER, "no replica of this shard here".into()),
            Some(h) => {
                let hw = *h.hw.borrow();
                match req.spec {
                    offset_spec::EARLIEST => {
                        ListOffsetsResponse { offset: h.engine.start_offset().min(hw), ..fail(code::OK, String::new()) }
                    }
                    offset_spec::LATEST => ListOffsetsResponse { offset: hw, ..fail(code::OK, String::new()) },
                    offset_spec::TIMESTAMP => match h.engine.offset_for_time(req.timestamp_ms).await {
                        Ok(o) => ListOffsetsResponse { offset: o.min(hw), ..fail(code::OK, String::new()) },
                        Err(e) => fail(code::STORAGE, e.to_string()),
                    },
                    other => fail(code::INVALID, format!("unknown offset spec {other}")),
                }
            }
        };
        Ok(resp.encode_to_vec().into())
    }

    /// Spawns the reconciliation loop.
    pub fn spawn(&self) -> task::JoinHandle<()> {
        task::spawn(self.clone().assign_loop())
    }
}

/// The records of a produce request, numbered if the producer is idempotent.
fn produce_input(req: &ProduceRequest) -> Result<(Vec<keel_storage::Record>, Option<ProducerBatch>), String> {
    if req.records.is_empty() || req.records.len() > PRODUCE_RECORDS_MAX {
        return Err(format!("a produce request holds 1 to {PRODUCE_RECORDS_MAX} records"));
    }
    let mut records: Vec<keel_storage::Record> =
        req.records.iter().map(|r| keel_storage::Record::new(r.timestamp_ms, r.key.clone(), r.value.clone())).collect();
    if req.producer_id == 0 {
        return Ok((records, None));
    }
    let producer_epoch = u16::try_from(req.producer_epoch).map_err(|_| "producer epoch above 65535".to_string())?;
    let batch = ProducerBatch {
        producer_id: req.producer_id,
        producer_epoch,
        first_sequence: req.first_sequence,
        count: records.len() as u32,
    };
    if batch.last_sequence().is_none() {
        return Err("producer sequence numbers overflow".into());
    }
    for (i, r) in records.iter_mut().enumerate() {
        r.producer =
            Some(ProducerSeq { producer_id: req.producer_id, producer_epoch, sequence: req.first_sequence + i as u32 });
    }
    Ok((records, Some(batch)))
}

fn produce_code(e: &ProduceError) -> u32 {
    match e {
        ProduceError::NotLeader { .. } => code::NOT_LEADER,
        ProduceError::NotEnoughReplicas { .. } => code::NOT_ENOUGH_REPLICAS,
        ProduceError::InFlight => code::IN_FLIGHT,
        ProduceError::OutOfOrderSequence { .. } => code::OUT_OF_ORDER_SEQUENCE,
        ProduceError::ProducerFenced { .. } => code::PRODUCER_FENCED,
    }
}

/// Tiers an object engine's committed, sealed segments, one round every `TIER_EVERY`, until
/// the replica is dropped (which aborts this task).
async fn tier_loop(engine: Arc<ObjectEngine>) {
    loop {
        time::sleep(TIER_EVERY).await;
        match engine.tier(time::wall_ms()).await {
            Ok(r) if r.uploaded + r.evicted > 0 => tracing::debug!(?r, "tiering round"),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "tiering round failed; retried next round"),
        }
    }
}
