//! The metadata watch, watcher side: a node's copy of the cluster metadata it needs (nodes,
//! topics and their shards), kept current by long-polling `meta.watch` (`super::watch`), and
//! shared by the node's roles as a `tokio::sync::watch` of immutable snapshots.
//!
//! At rest this costs the meta leader one request per watcher every [`WAIT_MS`], where
//! reconciling by polling cost two linearizable reads of it every 500 ms. A change reaches the
//! watcher as soon as the leader has applied it. Only the leader serves watches (see
//! `super::watch`); a watcher that reached another node moves on to the next at once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use keel_rt::{rand, task, time};
use rand::Rng;
use tokio::sync::watch;

use super::client::MetaClient;
use super::mqtt::RetainedRecord;
use super::records::{NodeId, NodeRecord, ShardRecord, TopicRecord};
use super::watch::{Change, WatchResponse};
use super::MetaApiError;

/// How long one watch request waits for news.
pub const WAIT_MS: u64 = 10_000;
/// The pause before trying another meta node after a failure, at first and at most.
const RETRY_MS_MIN: u64 = 50;
const RETRY_MS_MAX: u64 = 1_000;
/// The pause before asking the next meta node after one that does not lead.
const NEXT_NODE_MS: u64 = 5;

/// A watcher's copy of the metadata at `version`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetaView {
    /// 0 until the first answer.
    pub version: u64,
    pub nodes: BTreeMap<NodeId, NodeRecord>,
    pub topics: BTreeMap<String, TopicRecord>,
    /// MQTT retained messages by topic (watchers of MQTT state only).
    pub retained: BTreeMap<String, RetainedRecord>,
    /// MQTT shared subscriptions: `group/filter` → broker → members there.
    pub shared: BTreeMap<String, BTreeMap<NodeId, u32>>,
}

impl MetaView {
    /// Applies a watch answer; whether anything changed.
    pub fn apply(&mut self, resp: &WatchResponse) -> bool {
        if resp.full {
            let version = self.version;
            *self = MetaView { version, ..MetaView::default() };
        }
        for c in &resp.changes {
            match c.clone() {
                Change::Node(id, n) => upsert(&mut self.nodes, id, n),
                Change::Topic(name, t) => upsert(&mut self.topics, name, t),
                Change::Retained(topic, r) => upsert(&mut self.retained, topic, r),
                Change::Shared(key, b) => upsert(&mut self.shared, key, b),
            }
        }
        self.version = self.version.max(resp.version);
        resp.full || !resp.changes.is_empty()
    }

    /// A shard's record.
    pub fn shard(&self, topic: &str, partition: u32) -> Option<&ShardRecord> {
        self.topics.get(topic)?.shards.get(partition as usize)
    }

    /// The RPC address of a shard's leader.
    pub fn leader_addr(&self, topic: &str, partition: u32) -> Option<&str> {
        let leader = self.shard(topic, partition)?.leader?;
        self.nodes.get(&leader).map(|n| n.addr.as_str())
    }
}

fn upsert<K: Ord, V>(map: &mut BTreeMap<K, V>, key: K, value: Option<V>) {
    match value {
        Some(v) => map.insert(key, v),
        None => map.remove(&key),
    };
}

/// A node's view of the metadata, shared by its roles. Cheap to clone.
#[derive(Clone)]
pub struct ViewHandle {
    rx: watch::Receiver<Arc<MetaView>>,
}

impl ViewHandle {
    /// Starts watching through `meta` (MQTT state too with `mqtt`: brokers); the task runs
    /// until aborted.
    pub fn start(meta: MetaClient, mqtt: bool) -> (ViewHandle, task::JoinHandle<()>) {
        let (tx, rx) = watch::channel(Arc::new(MetaView::default()));
        (ViewHandle { rx }, task::spawn(watch_loop(meta, tx, mqtt)))
    }

    /// A handle that never changes (tests).
    pub fn fixed(view: MetaView) -> ViewHandle {
        let (tx, rx) = watch::channel(Arc::new(view));
        std::mem::forget(tx);
        ViewHandle { rx }
    }

    /// The view as it is now.
    pub fn current(&self) -> Arc<MetaView> {
        self.rx.borrow().clone()
    }

    /// Waits until the view changes after the last call (or `current`'s snapshot); `false`
    /// once the watch has stopped.
    pub async fn changed(&mut self) -> bool {
        self.rx.changed().await.is_ok()
    }

    /// Waits until the view reaches `version` (or `timeout`); the view then.
    pub async fn at_least(&mut self, version: u64, timeout: Duration) -> Arc<MetaView> {
        let _ = time::timeout(timeout, self.rx.wait_for(|v| v.version >= version)).await;
        self.current()
    }
}

/// Long-polls the watch, moving to another meta node after a failure.
async fn watch_loop(meta: MetaClient, tx: watch::Sender<Arc<MetaView>>, mqtt: bool) {
    let mut view = MetaView::default();
    let mut node = rand::rng().gen_range(0..meta.endpoints().max(1));
    let mut retry_ms = RETRY_MS_MIN;
    loop {
        match meta.watch(node, view.version, WAIT_MS, mqtt).await {
            Ok(resp) => {
                retry_ms = RETRY_MS_MIN;
                let before = view.version;
                if view.apply(&resp) || view.version != before {
                    tracing::debug!(version = view.version, changes = resp.changes.len(), "metadata view updated");
                    tx.send_replace(Arc::new(view.clone()));
                }
            }
            Err(MetaApiError::NotLeader { leader: Some(_) }) => {
                // A leader exists elsewhere: the next node, without backing off.
                node += 1;
                time::sleep(Duration::from_millis(NEXT_NODE_MS)).await;
            }
            Err(e) => {
                tracing::debug!(error = %e, node, "metadata watch failed; trying another meta node");
                node += 1;
                time::sleep(Duration::from_millis(retry_ms)).await;
                retry_ms = (retry_ms * 2).min(RETRY_MS_MAX);
            }
        }
    }
}
