//! Raft **Election Safety**: at most one leader can be elected in a given term
//! (Ongaro & Ousterhout, "In Search of an Understandable Consensus Algorithm",
//! 2014, Figure 3).
//!
//! Every other Raft safety property leans on this one: a leader's log is the source
//! of truth for its term, so two leaders in one term could both commit different
//! entries at the same index. The simulation records a [`LeaderObservation`] each
//! time a node sees itself as leader; this checker fails if two *different* nodes
//! were leader in the same term. The same node observed repeatedly is fine.

use std::collections::BTreeMap;

use super::Violation;

/// Name reported in [`Violation::invariant`].
pub const INVARIANT: &str = "single_leader_per_term";

/// A node observed itself as leader in `term` at simulated time `at_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderObservation {
    pub term: u64,
    pub node: u64,
    pub at_ms: u64,
}

/// Fails on the lowest term in which two different nodes were leader.
pub fn check(observations: &[LeaderObservation]) -> Result<(), Violation> {
    for (term, leaders) in &earliest_by_term(observations) {
        if let Some(violation) = conflict(*term, leaders) {
            return Err(violation);
        }
    }
    Ok(())
}

/// term -> node -> earliest time that node was observed as leader in that term.
fn earliest_by_term(observations: &[LeaderObservation]) -> BTreeMap<u64, BTreeMap<u64, u64>> {
    let mut by_term: BTreeMap<u64, BTreeMap<u64, u64>> = BTreeMap::new();
    for o in observations {
        let at = by_term.entry(o.term).or_default().entry(o.node).or_insert(o.at_ms);
        *at = (*at).min(o.at_ms);
    }
    by_term
}

/// A violation naming the two earliest-observed leaders of `term`, if it had several.
fn conflict(term: u64, leaders: &BTreeMap<u64, u64>) -> Option<Violation> {
    let mut by_time: Vec<(u64, u64)> = leaders.iter().map(|(node, at)| (*at, *node)).collect();
    by_time.sort_unstable();
    let [(t1, n1), (t2, n2), rest @ ..] = by_time.as_slice() else {
        return None;
    };
    let mut detail = format!(
        "term {term} had {} leaders: node {n1} was leader at {t1}ms and node {n2} was leader at {t2}ms",
        by_time.len()
    );
    for (t, n) in rest {
        detail.push_str(&format!(", node {n} at {t}ms"));
    }
    Some(Violation::new(INVARIANT, detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(term: u64, node: u64, at_ms: u64) -> LeaderObservation {
        LeaderObservation { term, node, at_ms }
    }

    #[test]
    fn empty_history_passes() {
        assert_eq!(check(&[]), Ok(()));
    }

    #[test]
    fn one_leader_per_term_passes_even_when_reobserved() {
        let history = [obs(1, 1, 10), obs(1, 1, 20), obs(2, 2, 30), obs(3, 1, 40), obs(2, 2, 35)];
        assert_eq!(check(&history), Ok(()));
    }

    #[test]
    fn two_leaders_in_one_term_fails_naming_both() {
        let history = [obs(1, 1, 10), obs(2, 2, 50), obs(2, 3, 70)];
        let err = check(&history).unwrap_err();
        assert_eq!(err.invariant, INVARIANT);
        assert_eq!(err.detail, "term 2 had 2 leaders: node 2 was leader at 50ms and node 3 was leader at 70ms");
    }

    #[test]
    fn reports_lowest_conflicting_term_regardless_of_input_order() {
        let history = [obs(9, 5, 1), obs(9, 6, 2), obs(4, 2, 80), obs(4, 1, 90)];
        let err = check(&history).unwrap_err();
        assert!(err.detail.starts_with("term 4 had 2 leaders"), "{err}");
        assert!(err.detail.contains("node 2 was leader at 80ms"), "{err}");
        assert!(err.detail.contains("node 1 was leader at 90ms"), "{err}");
    }

    #[test]
    fn three_leaders_are_all_listed_with_earliest_times() {
        let history = [obs(7, 3, 30), obs(7, 1, 12), obs(7, 2, 20), obs(7, 1, 5)];
        let err = check(&history).unwrap_err();
        assert_eq!(
            err.detail,
            "term 7 had 3 leaders: node 1 was leader at 5ms and node 2 was leader at 20ms, node 3 at 30ms"
        );
    }
}
