//! What must hold of a [`ShardReplica`] between events. [`ShardReplica::handle`] checks it after
//! every event in test, debug and simulation builds; a violation is a bug in the state machine
//! (or in the driver feeding it impossible events), never something that can happen in operation.
//!
//! - offsets: `hw <= durable_end <= log_end` (the HW counts only durable records, and only
//!   appended records can be durable);
//! - epochs: the replica's epoch never decreases, and its epoch cache is strictly increasing in
//!   epoch and (weakly) in start offset, its latest epoch no newer than the replica's; a leader's
//!   latest cached epoch is its own (its records are stamped with it);
//! - leader: the ISR (committed, and proposed if a change is in flight) holds the leader, which
//!   is what makes the HW count the leader's own durable end; requests waiting for the HW wait
//!   on records the log holds;
//! - follower: a fetch is under way only from a log that is durable to its end (the fetch offset
//!   is the durable end, and the answer is matched against the log end).

use super::replica::{Role, ShardReplica, Stage};

impl ShardReplica {
    /// Panics, with a message naming the broken property, if the replica is inconsistent.
    pub fn assert_invariants(&self) {
        let (hw, durable, end) = (self.hw, self.durable_end, self.log_end);
        assert!(hw <= durable, "replica {}: hw {hw} > durable_end {durable}", self.id);
        assert!(durable <= end, "replica {}: durable_end {durable} > log_end {end}", self.id);
        let entries = self.epochs.entries();
        for w in entries.windows(2) {
            assert!(
                w[0].0 < w[1].0 && w[0].1 <= w[1].1,
                "replica {}: epoch cache not increasing: {:?} then {:?}",
                self.id,
                w[0],
                w[1]
            );
        }
        if let Some(latest) = self.epochs.latest() {
            assert!(latest <= self.epoch, "replica {}: cached epoch {latest} > epoch {}", self.id, self.epoch);
        }
        match &self.role {
            Role::Idle => {}
            Role::Leader(l) => {
                assert_eq!(
                    self.epochs.latest(),
                    Some(self.epoch),
                    "replica {}: leading epoch {} but its cache ends elsewhere",
                    self.id,
                    self.epoch
                );
                assert!(l.isr.contains(&self.id), "replica {}: leads outside its ISR {:?}", self.id, l.isr);
                if let Some(p) = &l.proposed {
                    assert!(p.contains(&self.id), "replica {}: proposed ISR {p:?} drops the leader", self.id);
                }
                for ((last, req), base) in &l.waiting {
                    assert!(
                        base <= last && *last < end,
                        "replica {}: request {req} waits on {base}..={last}, not in the log (end {end})",
                        self.id
                    );
                }
            }
            Role::Follower(f) => {
                assert_ne!(f.leader, self.id, "replica {}: follows itself", self.id);
                if f.stage == Stage::Fetching {
                    assert_eq!(durable, end, "replica {}: fetching while {durable}..{end} is not durable", self.id);
                }
            }
        }
    }

    /// The checks after an event: the invariants, and that the epoch did not go back from
    /// `before`.
    #[cfg(any(test, debug_assertions, madsim))]
    pub(super) fn check_after_event(&self, before: u64) {
        assert!(self.epoch >= before, "replica {}: epoch went back from {before} to {}", self.id, self.epoch);
        self.assert_invariants();
    }
}

#[cfg(test)]
mod tests {
    use super::super::{EpochCache, Event, ReplicaConfig, ShardReplica};

    fn leader() -> ShardReplica {
        let mut r = ShardReplica::new(1, ReplicaConfig::default(), 5, EpochCache::new());
        r.handle(Event::BecomeLeader { epoch: 2, isr: vec![1, 2], now_ms: 0 });
        r
    }

    #[test]
    fn a_consistent_replica_passes() {
        leader().assert_invariants();
    }

    #[test]
    #[should_panic(expected = "hw 6 > durable_end 5")]
    fn a_hw_past_the_durable_end_is_caught() {
        let mut r = leader();
        r.hw = 6;
        r.assert_invariants();
    }

    #[test]
    #[should_panic(expected = "leads outside its ISR")]
    fn a_leader_outside_its_isr_is_caught() {
        let mut r = leader();
        if let super::Role::Leader(l) = &mut r.role {
            l.isr.remove(&1);
        }
        r.assert_invariants();
    }

    #[test]
    #[should_panic(expected = "epoch went back from 2 to 1")]
    fn an_epoch_going_back_is_caught() {
        let mut r = leader();
        r.epoch = 1;
        r.check_after_event(2);
    }
}
