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
use keel_storage::{LogEngine, MemoryConfig, MemoryEngine, SegmentConfig, SegmentEngine};
use prost::Message;
use tokio::sync::oneshot;

use self::driver::{Input, ShardContext, ShardHandle};
use self::wire::{ProduceRequest, ProduceResponse, ReadRequest, ReadResponse, ReplicaFetchRequest, WireRecord};
use crate::meta::client::MetaClient;
use crate::meta::command::{MetaQuery, QueryResult};
use crate::meta::network::Peers;
use crate::meta::state::{Engine, ShardRecord};
use crate::meta::types::NodeId;
use crate::rpc::RemoteError;

pub const PRODUCE: &str = "shard.produce";
pub const REPLICA_FETCH: &str = "shard.replica_fetch";
pub const READ: &str = "shard.read";

/// How often the node reconciles its replicas with meta.
const ASSIGN_EVERY: Duration = Duration::from_millis(500);
/// How long a produce may wait for acknowledgement.
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes one read returns.
const READ_BYTES_MAX: u32 = 4 * 1024 * 1024;

type ShardKey = (String, u32);

struct Replica {
    handle: ShardHandle,
    /// The (epoch, leader) last told to the driver.
    told: Option<(u64, Option<NodeId>)>,
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
                wanted.insert((t.name.clone(), s.partition), (t.engine, s.clone()));
            }
        }
        self.shards.lock().unwrap_or_else(|e| e.into_inner()).retain(|k, _| wanted.contains_key(k));
        let now_ms = time::since_start().as_millis() as u64;
        for ((topic, partition), (engine, shard)) in wanted {
            self.ensure(&topic, partition, engine).await?;
            self.tell(&topic, &shard, &addrs, now_ms).await;
        }
        Ok(())
    }

    async fn ensure(&self, topic: &str, partition: u32, engine: Engine) -> Result<(), String> {
        match self.handle(topic, partition) {
            Some(h) if !h.tx.is_closed() => return Ok(()),
            Some(_) => {
                // The driver stopped on a log error (a failed sync leaves durability unknown):
                // reopen the log from disk, which recovers what is durable, and start over.
                tracing::warn!(topic, partition, "restarting a stopped shard replica from its disk");
                let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
                shards.remove(&(topic.to_string(), partition));
            }
            None => {}
        }
        let dir = format!("shards/{topic}/{partition}");
        let log: Arc<dyn LogEngine> = match engine {
            Engine::Memory => Arc::new(MemoryEngine::new(MemoryConfig::default())),
            Engine::Segment => Arc::new(
                SegmentEngine::open(self.disk.clone(), &format!("{dir}/log"), SegmentConfig::default())
                    .await
                    .map_err(|e| e.to_string())?,
            ),
            Engine::Object | Engine::Rocksdb => return Err(format!("the {engine:?} engine is not available")),
        };
        let ctx = ShardContext {
            node: self.node,
            topic: topic.to_string(),
            partition,
            disk: self.disk.clone(),
            dir,
            peers: self.peers.clone(),
            meta: self.meta.clone(),
            unsafe_ack_before_sync: self.unsafe_ack_before_sync,
            replica_config: self.replica_config.clone(),
        };
        let handle = driver::start(ctx, log).await.map_err(|e| e.to_string())?;
        let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        shards.insert((topic.to_string(), partition), Replica { handle, told: None });
        Ok(())
    }

    /// Tells the driver its role if the epoch or leader changed, and ticks it.
    async fn tell(&self, topic: &str, shard: &ShardRecord, addrs: &BTreeMap<NodeId, String>, now_ms: u64) {
        let (tx, changed) = {
            let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
            let Some(r) = shards.get_mut(&(topic.to_string(), shard.partition)) else { return };
            let now = (shard.epoch, shard.leader);
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
            other => Err(RemoteError::new(RemoteError::NO_SUCH_METHOD, format!("no method {other:?}"))),
        }
    }

    async fn produce(&self, req: ProduceRequest) -> Result<Bytes, RemoteError> {
        let Some(h) = self.handle(&req.topic, req.partition) else {
            return Ok(ProduceResponse { error: "no replica of this shard here".into(), ..Default::default() }
                .encode_to_vec()
                .into());
        };
        let (reply, rx) = oneshot::channel();
        let records = req.records.iter().map(WireRecord::to_record).collect();
        h.tx.send(Input::Produce { records, reply }).await.map_err(remote)?;
        let resp = match time::timeout(PRODUCE_TIMEOUT, rx).await {
            Ok(Ok(Ok((base, last)))) => ProduceResponse { error: String::new(), base_offset: base, last_offset: last },
            Ok(Ok(Err(e))) => ProduceResponse { error: e, ..Default::default() },
            Ok(Err(_)) | Err(_) => {
                ProduceResponse { error: "not acknowledged in time (outcome unknown)".into(), ..Default::default() }
            }
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
            return Ok(ReadResponse { error: "no replica of this shard here".into(), ..Default::default() }
                .encode_to_vec()
                .into());
        };
        let hw = *h.hw.borrow();
        let start = h.engine.start_offset();
        let bytes_max = req.bytes_max.clamp(1, READ_BYTES_MAX) as usize;
        let records = if req.offset < hw {
            h.engine.read(req.offset.max(start), bytes_max).await.map_err(remote)?
        } else {
            vec![]
        };
        // Consumers never see records at or above the high watermark.
        let records = records.iter().filter(|r| r.offset < hw).map(WireRecord::from_stored).collect();
        Ok(ReadResponse { error: String::new(), records, high_watermark: hw, start_offset: start }
            .encode_to_vec()
            .into())
    }

    /// Spawns the reconciliation loop.
    pub fn spawn(&self) -> task::JoinHandle<()> {
        task::spawn(self.clone().assign_loop())
    }
}
