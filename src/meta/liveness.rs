//! Failure detection and the scheduling loop of the meta leader.
//!
//! Every node sends a heartbeat (`meta.heartbeat`) each `heartbeat_interval`; any meta node
//! forwards it to the leader, which keeps the time it last heard from each node in memory
//! (liveness is not replicated: a new leader starts every node's clock at the moment it took
//! office). Every `tick`, the leader plans repairs from the metadata and that liveness
//! ([`super::schedule::plan`]) and proposes them through the Raft log; the commands carry
//! shard epochs, so a plan made on stale state fails instead of undoing a newer one.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_rt::time;

use super::records::NodeId;
use super::schedule::{plan, ScheduleConfig};
use super::{MetaApiError, MetaNode};

/// How often the leader plans.
pub const SCHEDULE_TICK: Duration = Duration::from_millis(500);

/// What the leader has heard from the nodes.
#[derive(Default)]
pub struct Liveness {
    /// The term in which `last_seen_ms` was started.
    term: Option<u64>,
    last_seen_ms: BTreeMap<NodeId, u64>,
}

/// Shared liveness of one meta node.
pub type SharedLiveness = Arc<Mutex<Liveness>>;

fn lock(l: &SharedLiveness) -> std::sync::MutexGuard<'_, Liveness> {
    l.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> u64 {
    time::since_start().as_millis() as u64
}

impl MetaNode {
    /// Records a heartbeat of `node` if this node leads; otherwise says who does.
    pub async fn heartbeat_local(&self, node: NodeId) -> Result<(), MetaApiError> {
        let m = self.raft.metrics().borrow().clone();
        if m.current_leader != Some(self.id) {
            return Err(MetaApiError::NotLeader { leader: m.current_leader });
        }
        lock(&self.liveness).last_seen_ms.insert(node, now_ms());
        Ok(())
    }

    /// Records a heartbeat of `node` on the leader, forwarding if needed.
    pub async fn heartbeat(&self, node: NodeId) -> Result<(), MetaApiError> {
        let local = self.heartbeat_local(node).await;
        let method = super::service::META_HEARTBEAT;
        self.forward_if_not_leader(local, method, &node, Duration::from_secs(2), MetaApiError::Unavailable).await
    }

    /// Plans and proposes repairs while this node leads; runs until the task is dropped.
    pub async fn schedule_loop(self, cfg: ScheduleConfig) {
        loop {
            time::sleep(SCHEDULE_TICK).await;
            let m = self.raft.metrics().borrow().clone();
            if m.current_leader != Some(self.id) {
                continue;
            }
            let now = now_ms();
            let last_seen = {
                let mut l = lock(&self.liveness);
                if l.term != Some(m.current_term) {
                    // New in office: everyone gets a full timeout to be heard.
                    let ids: Vec<NodeId> = self.sm.read(|a| a.state.nodes.keys().copied().collect());
                    l.last_seen_ms = ids.into_iter().map(|id| (id, now)).collect();
                    l.term = Some(m.current_term);
                }
                l.last_seen_ms.clone()
            };
            let cmds = self.sm.read(|a| plan(&a.state, &last_seen, now, &cfg));
            for cmd in cmds {
                tracing::info!(?cmd, "scheduler");
                if let Err(e) = self.write_local(cmd).await {
                    tracing::debug!(error = %e, "scheduler command not applied");
                    break;
                }
            }
        }
    }
}
