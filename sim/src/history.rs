//! What the run observed, for the invariant checkers: leaders seen, entries applied, writes
//! acknowledged, and every client operation with its call and return times.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::invariants::committed_never_lost::{AckedWrite, ApplyEvent};
use crate::invariants::linearizable::{Operation, TopicOp, TopicRet};
use crate::invariants::single_leader_per_term::LeaderObservation;

/// Everything recorded in one run.
#[derive(Default)]
pub struct History {
    pub leaders: Vec<LeaderObservation>,
    pub applies: Vec<ApplyEvent>,
    pub acked: Vec<AckedWrite>,
    pub ops: Vec<(String, Operation<TopicOp, TopicRet>)>,
    /// What went wrong that no checker covers: liveness failures, unexpected results.
    pub failures: Vec<String>,
}

/// A history shared by every recorder in the run.
#[derive(Clone, Default)]
pub struct Recorder(Arc<Mutex<History>>);

impl Recorder {
    pub fn lock(&self) -> MutexGuard<'_, History> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn leader(&self, term: u64, node: u64) {
        let at_ms = keel_rt::time::since_start().as_millis() as u64;
        let mut h = self.lock();
        if !h.leaders.iter().any(|o| o.term == term && o.node == node) {
            h.leaders.push(LeaderObservation { term, node, at_ms });
        }
    }

    pub fn applied(&self, node: u64, index: u64, term: u64, hash: u64) {
        self.lock().applies.push(ApplyEvent { node, index, term, hash });
    }

    pub fn acked(&self, index: u64, term: u64, hash: u64) {
        self.lock().acked.push(AckedWrite { index, term, hash });
    }

    pub fn op(&self, key: String, op: Operation<TopicOp, TopicRet>) {
        keel_rt::trace::record("client.op", op.call_ms ^ op.return_ms.unwrap_or(u64::MAX));
        self.lock().ops.push((key, op));
    }
}
