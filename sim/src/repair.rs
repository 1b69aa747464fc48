//! The operator's procedure for a meta node that refuses to start on a damaged meta store
//! (`docs/meta-store.md`, "A damaged meta store"), as the simulated operator performs it:
//! remove the node from the voters and wait until the removal is committed, wipe its `meta/`
//! directory, start it, and add it back as a voter (it catches up as a new member).
//!
//! The order is what makes it safe: the node runs without its Raft state only once no
//! configuration that can still take effect counts it as a voter.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use keel::meta::{MemberChange, MetaNode};
use keel_rt::disk::SimDisk;
use keel_rt::time;
use madsim::runtime::Handle;
use madsim::task::NodeId as SimNodeId;

use crate::cluster::{leader_of, Damaged, Registry};

/// How long one membership change may take before the operator tries again.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(20);
/// The pause between the operator's attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// The node to repair.
#[derive(Clone)]
pub struct Target {
    pub id: u64,
    pub sim_id: SimNodeId,
    pub disk: SimDisk,
    pub addr: String,
}

/// Where a node stands in the leader's membership.
#[derive(Debug, PartialEq, Eq)]
enum Standing {
    Voter,
    /// Out of the voters in the leader's latest configuration, not yet committed.
    LeavingUncommitted,
    /// Out of the voters in a committed configuration.
    Out,
}

fn standing(leader: &MetaNode, id: u64) -> Standing {
    let m = leader.raft.metrics().borrow().clone();
    if m.membership_config.membership().voter_ids().any(|v| v == id) {
        Standing::Voter
    } else if m.last_applied.as_ref() >= m.membership_config.log_id().as_ref() {
        Standing::Out
    } else {
        Standing::LeavingUncommitted
    }
}

/// What a repair works with besides its target.
#[derive(Clone)]
pub struct Operator {
    pub registry: Registry,
    /// Nodes that reported damage (set by their process, cleared by the wipe).
    pub damaged: Damaged,
    /// Repairs completed.
    pub repairs: Arc<AtomicU64>,
}

/// Repairs `target` through the leaders found in the registry. Gives up, leaving the node in
/// `damaged` for another repair, if it reports damage again after its wipe (a power loss that
/// flipped bits before it was a voter again).
pub async fn repair(target: Target, op: Operator) {
    let id = target.id;
    tracing::warn!(node = id, "operator: meta store damaged; removing the node from the voters");
    loop {
        if let Some(leader) = leader_of(&op.registry) {
            match standing(&leader, id) {
                Standing::Out => break,
                Standing::LeavingUncommitted => {}
                Standing::Voter => {
                    let r = time::timeout(CHANGE_TIMEOUT, leader.change_members(MemberChange::Remove { id })).await;
                    tracing::info!(node = id, ?r, "operator: remove-node");
                }
            }
        }
        time::sleep(RETRY_PAUSE).await;
    }
    Handle::current().kill(target.sim_id);
    target.disk.remove_dir_all("meta");
    op.damaged.lock().unwrap_or_else(|e| e.into_inner()).remove(&id); // reports from before the wipe
    Handle::current().restart(target.sim_id);
    tracing::warn!(node = id, "operator: meta directory wiped, node started; adding it back");
    loop {
        if op.damaged.lock().unwrap_or_else(|e| e.into_inner()).contains(&id) {
            tracing::warn!(node = id, "operator: damaged again before it was a voter; repairing anew");
            return;
        }
        if let Some(leader) = leader_of(&op.registry) {
            if standing(&leader, id) == Standing::Voter {
                break;
            }
            let add = MemberChange::Add { id, addr: target.addr.clone() };
            let r = time::timeout(CHANGE_TIMEOUT, leader.change_members(add)).await;
            tracing::info!(node = id, ?r, "operator: add-node");
        }
        time::sleep(RETRY_PAUSE).await;
    }
    op.repairs.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(node = id, "operator: repaired node is a voter again");
}
