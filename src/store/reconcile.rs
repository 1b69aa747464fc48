//! Keeping the replicas in line with meta: on every change of the metadata view (pushed by
//! the meta watch, `crate::meta::view`) and every `TICK_EVERY`, start missing replicas, stop
//! removed ones, reopen those whose retention changed, restart stopped ones (salvaging a
//! damaged copy first), tell each driver its role when its epoch or leader changed, and tick
//! every driver (ISR lag is measured on ticks).

use std::collections::BTreeMap;
use std::time::Duration;

use keel_rt::{task, time};
use keel_storage::replication::Event;
use keel_storage::LogError;

use super::driver::{self, Input, ShardContext, ShardHandle};
use super::open::TopicSettings;
use super::{Replica, ShardKey, StoreNode};
use crate::meta::command::{MetaCommand, MetaQuery, QueryResult};
use crate::meta::records::{NodeId, ShardRecord};
use crate::meta::view::{MetaView, ViewHandle};

/// How long a replica being reopened may take to stop.
const STOP_WAIT: Duration = Duration::from_secs(30);
/// How long confirming a leadership with meta may take before the next round tries again.
const CONFIRM_WAIT: Duration = Duration::from_secs(2);
/// How often the drivers are ticked (and reconciliation retried) without a metadata change.
const TICK_EVERY: Duration = Duration::from_millis(500);

impl StoreNode {
    /// Keeps the replicas in line with meta's view; runs until the task is dropped.
    pub async fn assign_loop(self, mut view: ViewHandle) {
        loop {
            let v = view.current();
            if v.version > 0 {
                if let Err(e) = self.reconcile(&v).await {
                    tracing::debug!(error = %e, "reconciling shards with meta");
                }
            }
            if let Ok(false) = time::timeout(TICK_EVERY, view.changed()).await {
                time::sleep(TICK_EVERY).await; // the watch stopped (shutting down)
            }
        }
    }

    async fn reconcile(&self, view: &MetaView) -> Result<(), String> {
        let topics = view.topics.values();
        let addrs: BTreeMap<NodeId, String> = view.nodes.values().map(|n| (n.id, n.addr.clone())).collect();
        let mut wanted = BTreeMap::new();
        for t in topics {
            for s in t.shards.iter().filter(|s| s.replicas.contains(&self.node)) {
                wanted.insert((t.name.clone(), s.partition), (TopicSettings::of(t), s.clone()));
            }
        }
        let removed: Vec<(ShardHandle, String)> = {
            let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
            // Gone: no longer placed here, or placed here in another incarnation of the topic
            // (deleted and created again while this node did not see it go).
            let gone: Vec<ShardKey> = shards
                .iter()
                .filter(|(k, r)| wanted.get(*k).is_none_or(|(settings, _)| settings.id != r.topic_id))
                .map(|(k, _)| k.clone())
                .collect();
            gone.iter().filter_map(|k| shards.remove(k)).map(|r| (r.handle, r.dir)).collect()
        };
        for (h, dir) in removed {
            let _ = h.tx.send(Input::Stop).await;
            let (disk, discarding) = (self.disk.clone(), self.discarding.clone());
            discarding.lock().unwrap_or_else(|e| e.into_inner()).insert(dir.clone());
            task::spawn(async move {
                // The driver must be gone first: it may still be writing.
                match time::timeout(STOP_WAIT, h.tx.closed()).await {
                    Err(_) => tracing::warn!(dir, "a removed replica did not stop; its files stay"),
                    Ok(()) => match super::discard::discard(disk.as_ref(), &dir).await {
                        Ok(()) => tracing::info!(dir, "discarded the files of a removed replica"),
                        Err(e) => tracing::warn!(dir, error = %e, "discarding a removed replica's files"),
                    },
                }
                discarding.lock().unwrap_or_else(|e| e.into_inner()).remove(&dir);
            });
        }
        let now_ms = time::since_start().as_millis() as u64;
        let mut failed = None;
        for ((topic, partition), (settings, shard)) in wanted {
            self.reopen_if_retention_changed(&topic, partition, &settings).await;
            // One replica that cannot start yet does not hold the others back.
            if let Err(e) = self.ensure(&topic, partition, &settings).await {
                failed.get_or_insert(e);
                continue;
            }
            self.tell(&topic, &shard, &addrs, now_ms).await;
        }
        failed.map_or(Ok(()), Err)
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
        let dir = format!("shards/{}", super::open::shard_path(topic, settings.id, partition));
        if self.discarding.lock().unwrap_or_else(|e| e.into_inner()).contains(&dir) {
            // Placed here again while its old files are being discarded: opened once they are.
            return Err(format!("{dir}: the files of its removed replica are still being discarded"));
        }
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
            metrics: self.metrics.clone(),
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
        let replica = Replica { handle, told: None, _tiering: tiering, retention, topic_id: settings.id, dir };
        shards.insert((topic.to_string(), partition), replica);
        Ok(())
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
    ///
    /// The view can lag meta (the meta node serving it is behind, or cut off from the others
    /// and still thinks it leads). Following on a stale record is harmless (a stale leader
    /// cannot commit without its in-sync followers), but leading on one is not: a restarted node
    /// would take an old epoch's in-sync set for its own and acknowledge alone what meta's
    /// newer leader never gets. So leadership is confirmed with a linearizable read first, and
    /// the driver is told what meta says now.
    async fn tell(&self, topic: &str, shard: &ShardRecord, addrs: &BTreeMap<NodeId, String>, now_ms: u64) {
        let mut shard = std::borrow::Cow::Borrowed(shard);
        if shard.leader == Some(self.node) && self.role_changed(topic, &shard) {
            match self.confirm(topic, shard.partition).await {
                Some(fresh) => shard = std::borrow::Cow::Owned(fresh),
                None => return, // meta unreachable or the shard gone: try again next round
            }
        }
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

    /// Whether the driver was last told another (epoch, leader) than `shard`'s.
    fn role_changed(&self, topic: &str, shard: &ShardRecord) -> bool {
        let shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        shards.get(&(topic.to_string(), shard.partition)).is_some_and(|r| r.told != Some((shard.epoch, shard.leader)))
    }

    /// The shard's record as meta has it now (a linearizable read), if meta answers in time.
    async fn confirm(&self, topic: &str, partition: u32) -> Option<ShardRecord> {
        let q = MetaQuery::Topic { name: topic.to_string() };
        match time::timeout(CONFIRM_WAIT, self.meta.query(&q)).await {
            Ok(Ok(QueryResult::Topic(Some(t)))) => t.shards.get(partition as usize).cloned(),
            Ok(Ok(_)) => None,
            Ok(Err(e)) => {
                tracing::debug!(topic, partition, error = %e, "confirming a shard's leadership; will retry");
                None
            }
            Err(_) => None,
        }
    }
}
