//! Committed entries are never lost or changed.
//!
//! Checks Raft's **State Machine Safety** property — "if a server has applied a log
//! entry at a given index to its state machine, no other server will ever apply a
//! different log entry for the same index" — together with its client-visible
//! consequence of **Leader Completeness** (Ongaro & Ousterhout 2014, Figure 3): an
//! entry committed in some term is present in every later leader's log, so a write
//! the client was told is committed must eventually be applied by every node, and
//! must never be replaced by a different entry.
//!
//! Concretely, over everything the simulation recorded:
//!
//! * (a) all applies of one index, on any node and at any time (including replays
//!   after a restart), carry the same `(term, hash)`;
//! * (b) every acknowledged write was applied by at least one node, with exactly the
//!   acknowledged `(term, hash)`;
//! * (c) at the end of the run every node has applied at least up to the highest
//!   acknowledged index.
//!
//! Violations are reported lowest index first ((a) before (b) at the same index),
//! then (c), so a given history always yields the same message.

use std::collections::{BTreeMap, BTreeSet};

use super::Violation;

/// Name reported in [`Violation::invariant`].
pub const INVARIANT: &str = "committed_never_lost";

/// `node` applied the log entry at `index`, written in term `term`, whose payload
/// hashes to `hash`. A node may apply the same index several times (log replay).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyEvent {
    pub node: u64,
    pub index: u64,
    pub term: u64,
    pub hash: u64,
}

/// A client was told this write committed at log position `index` in term `term`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckedWrite {
    pub index: u64,
    pub term: u64,
    pub hash: u64,
}

/// `(term, hash)` of an entry -> the nodes that applied it.
type Versions = BTreeMap<(u64, u64), BTreeSet<u64>>;

/// Checks (a), (b) and (c) above; see the module docs.
pub fn check(
    applies: &[ApplyEvent],
    acked: &[AckedWrite],
    final_applied: &BTreeMap<u64, u64>,
) -> Result<(), Violation> {
    let applied = group_applies(applies);
    let acked_by_index = group_acked(acked);
    let indices: BTreeSet<u64> = applied.keys().chain(acked_by_index.keys()).copied().collect();
    for index in indices {
        let versions = applied.get(&index);
        check_agreement(index, versions)?;
        let acked_here = acked_by_index.get(&index).into_iter().flatten();
        for &(term, hash) in acked_here {
            check_acked(index, term, hash, versions)?;
        }
    }
    check_final(acked, final_applied)
}

fn group_applies(applies: &[ApplyEvent]) -> BTreeMap<u64, Versions> {
    let mut by_index: BTreeMap<u64, Versions> = BTreeMap::new();
    for a in applies {
        let versions = by_index.entry(a.index).or_default();
        versions.entry((a.term, a.hash)).or_default().insert(a.node);
    }
    by_index
}

fn group_acked(acked: &[AckedWrite]) -> BTreeMap<u64, BTreeSet<(u64, u64)>> {
    let mut by_index: BTreeMap<u64, BTreeSet<(u64, u64)>> = BTreeMap::new();
    for w in acked {
        by_index.entry(w.index).or_default().insert((w.term, w.hash));
    }
    by_index
}

/// (a): one `(term, hash)` per index across all nodes and all replays.
fn check_agreement(index: u64, versions: Option<&Versions>) -> Result<(), Violation> {
    match versions {
        Some(v) if v.len() > 1 => Err(Violation::new(
            INVARIANT,
            format!("index {index} was applied with {} different entries: {}", v.len(), describe_versions(v)),
        )),
        _ => Ok(()),
    }
}

/// (b): the acknowledged entry is what was applied, and someone applied it.
fn check_acked(index: u64, term: u64, hash: u64, versions: Option<&Versions>) -> Result<(), Violation> {
    let acked = entry(term, hash);
    let Some(v) = versions.filter(|v| !v.is_empty()) else {
        return Err(Violation::new(
            INVARIANT,
            format!("acknowledged write at index {index} ({acked}) was never applied by any node (lost)"),
        ));
    };
    if v.len() == 1 && v.contains_key(&(term, hash)) {
        return Ok(());
    }
    Err(Violation::new(
        INVARIANT,
        format!("acknowledged write at index {index} ({acked}) was replaced: applied as {}", describe_versions(v)),
    ))
}

/// (c): every node ends at or beyond the highest acknowledged index.
fn check_final(acked: &[AckedWrite], final_applied: &BTreeMap<u64, u64>) -> Result<(), Violation> {
    let Some(max_acked) = acked.iter().map(|w| w.index).max() else {
        return Ok(());
    };
    let lagging: Vec<String> = final_applied
        .iter()
        .filter(|(_, last)| **last < max_acked)
        .map(|(node, last)| format!("node {node} at {last}"))
        .collect();
    if lagging.is_empty() {
        return Ok(());
    }
    Err(Violation::new(
        INVARIANT,
        format!(
            "highest acknowledged write is at index {max_acked} but at the end of the run {} had applied less: {}",
            if lagging.len() == 1 { "1 node" } else { "several nodes" },
            lagging.join(", ")
        ),
    ))
}

fn entry(term: u64, hash: u64) -> String {
    format!("term {term}, hash {hash:#018x}")
}

fn describe_versions(v: &Versions) -> String {
    let parts: Vec<String> = v
        .iter()
        .map(|((term, hash), nodes)| {
            let nodes: Vec<String> = nodes.iter().map(u64::to_string).collect();
            format!("({}) on nodes [{}]", entry(*term, *hash), nodes.join(", "))
        })
        .collect();
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(node: u64, index: u64, term: u64, hash: u64) -> ApplyEvent {
        ApplyEvent { node, index, term, hash }
    }

    fn ack(index: u64, term: u64, hash: u64) -> AckedWrite {
        AckedWrite { index, term, hash }
    }

    fn finals(entries: &[(u64, u64)]) -> BTreeMap<u64, u64> {
        entries.iter().copied().collect()
    }

    /// Three nodes apply indices 1..=3; node 2 restarts and replays 1..=2.
    fn healthy_applies() -> Vec<ApplyEvent> {
        let mut v = Vec::new();
        for node in 1..=3 {
            v.push(apply(node, 1, 1, 0x11));
            v.push(apply(node, 2, 1, 0x22));
            v.push(apply(node, 3, 2, 0x33));
        }
        v.push(apply(2, 1, 1, 0x11));
        v.push(apply(2, 2, 1, 0x22));
        v
    }

    #[test]
    fn empty_history_passes() {
        assert_eq!(check(&[], &[], &BTreeMap::new()), Ok(()));
    }

    #[test]
    fn healthy_cluster_with_replay_passes() {
        let acked = [ack(1, 1, 0x11), ack(3, 2, 0x33)];
        let fin = finals(&[(1, 3), (2, 3), (3, 4)]);
        assert_eq!(check(&healthy_applies(), &acked, &fin), Ok(()));
    }

    #[test]
    fn unacked_entries_need_not_reach_every_node() {
        let applies = [apply(1, 1, 1, 0x11), apply(1, 2, 1, 0x22), apply(2, 1, 1, 0x11)];
        let fin = finals(&[(1, 2), (2, 1)]);
        assert_eq!(check(&applies, &[ack(1, 1, 0x11)], &fin), Ok(()));
    }

    #[test]
    fn two_nodes_applying_different_entries_at_one_index_fails() {
        let mut applies = healthy_applies();
        applies.push(apply(3, 2, 2, 0x99));
        let err = check(&applies, &[], &BTreeMap::new()).unwrap_err();
        assert_eq!(err.invariant, INVARIANT);
        assert_eq!(
            err.detail,
            "index 2 was applied with 2 different entries: \
             (term 1, hash 0x0000000000000022) on nodes [1, 2, 3]; \
             (term 2, hash 0x0000000000000099) on nodes [3]"
        );
    }

    #[test]
    fn replay_that_changes_an_entry_fails() {
        let applies = [apply(1, 1, 1, 0xaa), apply(1, 1, 1, 0xbb)];
        let err = check(&applies, &[], &BTreeMap::new()).unwrap_err();
        assert!(err.detail.starts_with("index 1 was applied with 2 different entries"), "{err}");
    }

    #[test]
    fn acked_write_never_applied_is_lost() {
        let acked = [ack(4, 2, 0x44)];
        let err = check(&healthy_applies(), &acked, &BTreeMap::new()).unwrap_err();
        assert_eq!(err.invariant, INVARIANT);
        assert_eq!(
            err.detail,
            "acknowledged write at index 4 (term 2, hash 0x0000000000000044) was never applied by any node (lost)"
        );
    }

    #[test]
    fn acked_write_overwritten_by_a_later_leader_fails() {
        let applies = [apply(1, 1, 2, 0x77), apply(2, 1, 2, 0x77)];
        let err = check(&applies, &[ack(1, 1, 0x11)], &BTreeMap::new()).unwrap_err();
        assert_eq!(
            err.detail,
            "acknowledged write at index 1 (term 1, hash 0x0000000000000011) was replaced: \
             applied as (term 2, hash 0x0000000000000077) on nodes [1, 2]"
        );
    }

    #[test]
    fn node_behind_highest_acked_index_fails() {
        let acked = [ack(3, 2, 0x33)];
        let fin = finals(&[(1, 3), (2, 2), (3, 3)]);
        let err = check(&healthy_applies(), &acked, &fin).unwrap_err();
        assert_eq!(
            err.detail,
            "highest acknowledged write is at index 3 but at the end of the run 1 node had applied less: node 2 at 2"
        );
    }

    #[test]
    fn lowest_index_violation_is_reported_first() {
        let applies = [apply(1, 5, 1, 0x55), apply(2, 5, 1, 0x56), apply(1, 2, 1, 0x22)];
        let acked = [ack(5, 1, 0x55), ack(2, 1, 0x99)];
        let fin = finals(&[(1, 0)]);
        let err = check(&applies, &acked, &fin).unwrap_err();
        assert!(err.detail.starts_with("acknowledged write at index 2"), "{err}");
    }
}
