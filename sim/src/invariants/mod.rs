//! Invariant checkers run over the histories that Keel's seeded simulations record.
//!
//! Each checker is a pure function over plain data (no I/O, no clocks, std only) and
//! returns `Result<(), Violation>`, so a simulation can run them after every seed and
//! fail with a readable explanation of what went wrong:
//!
//! * [`single_leader_per_term`] — Raft *Election Safety*: at most one leader per term.
//! * [`committed_never_lost`] — Raft *State Machine Safety* / *Leader Completeness*:
//!   an index is never applied with two different entries, and acknowledged writes
//!   are applied everywhere and never replaced.
//! * [`state_machines_converge`] — once the cluster is quiescent, every replica has
//!   applied the same prefix and reached the same state.
//! * [`linearizable`] — client-visible histories are linearizable (Herlihy & Wing),
//!   checked by a Wing & Gong style search with memoisation.
//! * [`no_acked_record_lost`], [`no_duplicates`], [`replicas_agree`], [`shards_led`] — the
//!   storage scenario's: acknowledged records stay at their offsets, idempotent producers'
//!   records appear once, replicas agree below the high watermark, every shard is led.
//! * [`mqtt_at_least_once`], [`mqtt_exactly_once`], [`mqtt_order`], [`mqtt_retained`],
//!   [`mqtt_will`], [`mqtt_session_resumed`] — the MQTT scenario's, over what its clients
//!   recorded ([`mqtt_history`]).
//! * [`kafka_lost_write`], [`kafka_duplicate`], [`kafka_inconsistent_offsets`],
//!   [`kafka_nonmonotonic_poll`], [`kafka_poll_skip`], [`kafka_nonmonotonic_send`] — the
//!   Kafka scenario's, named after Jepsen's Kafka anomalies, over [`kafka_history`].
//! * [`kafka_offsets_backwards`], [`kafka_split_ownership`], [`kafka_unseen`] — its consumer
//!   group's: no acknowledged offset commit lost, one owner per partition per generation, every
//!   acknowledged record polled by the group by the end, over [`kafka_group_history`].
//!
//! All output is deterministic: maps that influence reports are `BTreeMap`s and
//! violations are reported in a fixed order, so the same seed yields the same message.

pub mod committed_never_lost;
pub mod kafka_duplicate;
pub mod kafka_group_history;
pub mod kafka_history;
pub mod kafka_inconsistent_offsets;
pub mod kafka_lost_write;
pub mod kafka_nonmonotonic_poll;
pub mod kafka_nonmonotonic_send;
pub mod kafka_offsets_backwards;
pub mod kafka_poll_skip;
pub mod kafka_split_ownership;
pub mod kafka_unseen;
pub mod linearizable;
pub mod mqtt_at_least_once;
pub mod mqtt_exactly_once;
pub mod mqtt_history;
pub mod mqtt_order;
pub mod mqtt_retained;
pub mod mqtt_session_resumed;
pub mod mqtt_will;
pub mod no_acked_record_lost;
pub mod no_duplicates;
pub mod replicas_agree;
pub mod shards_led;
pub mod single_leader_per_term;
pub mod state_machines_converge;

use std::fmt;

/// A broken invariant: which one, and a human-readable account of the evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Short stable name of the invariant (for example `"single_leader_per_term"`).
    pub invariant: &'static str,
    /// What was observed, naming the nodes, terms, indices or operations involved.
    pub detail: String,
}

impl Violation {
    /// Builds a violation of `invariant` described by `detail`.
    pub fn new(invariant: &'static str, detail: impl Into<String>) -> Self {
        Violation { invariant, detail: detail.into() }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invariant `{}` violated: {}", self.invariant, self.detail)
    }
}

impl std::error::Error for Violation {}

#[cfg(test)]
mod tests {
    use super::Violation;

    #[test]
    fn display_names_invariant_and_detail() {
        let v = Violation::new("demo", "node 3 did a bad thing");
        assert_eq!(v.to_string(), "invariant `demo` violated: node 3 did a bad thing");
    }

    #[test]
    fn violation_is_a_std_error() {
        let boxed: Box<dyn std::error::Error> = Box::new(Violation::new("demo", "x"));
        assert_eq!(boxed.to_string(), "invariant `demo` violated: x");
        assert!(boxed.source().is_none());
    }
}
