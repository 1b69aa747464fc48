//! The storage role: the shard replicas this node holds, kept in line with meta's placement.
//!
//! - [`reconcile`]: every change of the metadata (and every `TICK_EVERY`) starts, reopens or
//!   stops replicas so they match meta's placement, and tells each driver its role;
//! - [`open`]: opens a shard's log with its topic's engine (and tiers `object` logs);
//! - [`driver`]: one task per replica running the replication state machine over its log;
//! - [`service`]: the `shard.*` RPC methods (`crate::rpc::shard`): produce (acks=all),
//!   follower fetches, consumer reads (below the high watermark), list offsets.

mod discard;
pub mod driver;
pub mod figures;
mod open;
mod reconcile;
mod service;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use keel_rt::disk::Disk;
use keel_rt::task;

use self::driver::ShardHandle;
pub use self::open::ObjectTier;
use crate::meta::client::MetaClient;
use crate::meta::network::Peers;
use crate::meta::records::NodeId;
use crate::meta::view::ViewHandle;

type ShardKey = (String, u32);

struct Replica {
    handle: ShardHandle,
    /// The (epoch, leader) last told to the driver.
    told: Option<(u64, Option<NodeId>)>,
    /// The object engine's tiering loop, stopped with the replica.
    _tiering: Option<AbortOnDrop>,
    /// The topic's retention the log was opened with.
    retention: (Option<u64>, Option<u64>),
    /// The id of the topic incarnation it belongs to.
    topic_id: u64,
    /// Where its files are.
    dir: String,
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
    /// Directories of removed replicas whose files are being discarded: not opened meanwhile.
    discarding: Arc<Mutex<std::collections::BTreeSet<String>>>,
    /// TEST ONLY: report appends durable without syncing them.
    pub unsafe_ack_before_sync: bool,
    /// Replication limits of every shard replica here.
    pub replica_config: keel_storage::replication::ReplicaConfig,
    /// Where `object` topics tier to; without it they are refused here.
    pub object_tier: Option<ObjectTier>,
    /// Segment size of `segment` topics (default: the engine's), for simulations that want
    /// segments to roll and retention to bite in a short run.
    pub segment_bytes_max: Option<u64>,
    /// The node's metrics (requests served here; replicas' figures: `figures.rs`).
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl StoreNode {
    pub fn new(node: NodeId, disk: Arc<dyn Disk>, peers: Peers, meta: MetaClient) -> Self {
        StoreNode {
            node,
            disk,
            peers,
            meta,
            shards: Arc::default(),
            discarding: Arc::default(),
            unsafe_ack_before_sync: false,
            replica_config: Default::default(),
            object_tier: None,
            segment_bytes_max: None,
            metrics: Arc::default(),
        }
    }

    fn handle(&self, topic: &str, partition: u32) -> Option<ShardHandle> {
        let shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        shards.get(&(topic.to_string(), partition)).map(|r| r.handle.clone())
    }

    /// Starts the storage role: replicas follow `view`, meta's placement as this node sees it.
    pub fn start(self, view: ViewHandle) -> task::JoinHandle<()> {
        task::spawn(self.assign_loop(view))
    }

    /// The shards this node holds a replica of now.
    pub fn shards(&self) -> Vec<(String, u32)> {
        self.shards.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }
}
