//! Replicated state machines converge once the cluster is quiescent.
//!
//! Raft's **State Machine Safety** property (Ongaro & Ousterhout 2014, Figure 3)
//! says no two servers apply different entries at the same index; with a
//! deterministic state machine that means every replica that has applied the same
//! prefix holds the same state. At the end of a simulation, after faults are healed
//! and the cluster has been given time to catch up, every node must therefore report
//! the same `applied_index` *and* the same `state_digest`. A lagging node (different
//! index) means replication never converged; equal indices with different digests
//! mean the state machine diverged (non-determinism, a bad snapshot, or a lost or
//! reordered apply).

use std::collections::BTreeMap;

use super::Violation;

/// Name reported in [`Violation::invariant`].
pub const INVARIANT: &str = "state_machines_converge";

/// A node's state machine at the end of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeFinal {
    pub applied_index: u64,
    pub state_digest: u64,
}

/// Compares every node against the lowest-numbered node; an empty map passes.
pub fn check(finals: &BTreeMap<u64, NodeFinal>) -> Result<(), Violation> {
    let mut nodes = finals.iter();
    let Some((ref_node, reference)) = nodes.next() else {
        return Ok(());
    };
    for (node, fin) in nodes {
        if let Some(what) = disagreement(reference, fin) {
            let detail = format!(
                "nodes {ref_node} and {node} disagree on {what}: node {ref_node} {}, node {node} {} (all nodes: {})",
                describe(reference),
                describe(fin),
                summary(finals)
            );
            return Err(Violation::new(INVARIANT, detail));
        }
    }
    Ok(())
}

fn disagreement(a: &NodeFinal, b: &NodeFinal) -> Option<&'static str> {
    if a.applied_index != b.applied_index {
        Some("applied_index")
    } else if a.state_digest != b.state_digest {
        Some("state_digest at the same applied_index")
    } else {
        None
    }
}

fn describe(f: &NodeFinal) -> String {
    format!("applied through {} with digest {:#018x}", f.applied_index, f.state_digest)
}

fn summary(finals: &BTreeMap<u64, NodeFinal>) -> String {
    let parts: Vec<String> =
        finals.iter().map(|(n, f)| format!("{n}@{}/{:#018x}", f.applied_index, f.state_digest)).collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finals(entries: &[(u64, u64, u64)]) -> BTreeMap<u64, NodeFinal> {
        entries
            .iter()
            .map(|&(node, applied_index, state_digest)| (node, NodeFinal { applied_index, state_digest }))
            .collect()
    }

    #[test]
    fn empty_map_passes() {
        assert_eq!(check(&BTreeMap::new()), Ok(()));
    }

    #[test]
    fn single_node_passes() {
        assert_eq!(check(&finals(&[(4, 17, 0xabc)])), Ok(()));
    }

    #[test]
    fn identical_replicas_pass() {
        assert_eq!(check(&finals(&[(1, 42, 0xfeed), (2, 42, 0xfeed), (3, 42, 0xfeed)])), Ok(()));
    }

    #[test]
    fn lagging_node_fails_on_applied_index() {
        let err = check(&finals(&[(1, 42, 0xfeed), (2, 42, 0xfeed), (3, 40, 0xbeef)])).unwrap_err();
        assert_eq!(err.invariant, INVARIANT);
        assert!(err.detail.starts_with("nodes 1 and 3 disagree on applied_index:"), "{err}");
        assert!(err.detail.contains("node 3 applied through 40"), "{err}");
        assert!(err.detail.contains("3@40/0x000000000000beef"), "{err}");
    }

    #[test]
    fn same_index_different_digest_fails() {
        let err = check(&finals(&[(1, 42, 0xfeed), (2, 42, 0xf00d)])).unwrap_err();
        assert_eq!(err.invariant, INVARIANT);
        assert!(err.detail.starts_with("nodes 1 and 2 disagree on state_digest at the same applied_index:"), "{err}");
        assert!(err.detail.contains("0x000000000000f00d"), "{err}");
    }
}
