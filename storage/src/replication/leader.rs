//! The leader's side: produce, the high watermark, serving followers, and the ISR.

use std::collections::{BTreeMap, BTreeSet};

use super::producers::{ProducerBatch, ProducerCheck};
use super::replica::{Command, FetchReply, LeaderState, NodeId, ProduceError, Role, ShardReplica};

impl ShardReplica {
    pub(super) fn become_leader(&mut self, epoch: u64, isr: Vec<NodeId>, now_ms: u64, out: &mut Vec<Command>) {
        // Lead only in an epoch newer than any this replica has written in: a replica that
        // restarted may have lost records of its last epoch, and if it led that epoch again,
        // one epoch would name two different histories and followers could not find where
        // they diverge. Meta must give a restarted leader a new epoch.
        if epoch <= self.epoch && matches!(self.role, Role::Leader(_)) || epoch < self.epoch {
            return; // stale or repeated assignment
        }
        if self.epochs.latest().is_some_and(|e| epoch <= e) {
            tracing::warn!(epoch, latest = ?self.epochs.latest(), "refusing to lead an epoch already written in");
            return;
        }
        self.step_down(out);
        self.epoch = epoch;
        // Records this replica holds but did not commit are committed by this epoch once the
        // ISR has them: the epoch starts at the log end.
        self.epochs.assign(epoch, self.log_end);
        out.push(Command::SaveEpochs { entries: self.epochs.entries().to_vec() });
        let mut isr: BTreeSet<NodeId> = isr.into_iter().collect();
        isr.insert(self.id);
        let caught_up_ms = isr.iter().filter(|r| **r != self.id).map(|r| (*r, now_ms)).collect();
        self.role = Role::Leader(LeaderState {
            isr,
            proposed: None,
            progress: BTreeMap::new(),
            caught_up_ms,
            waiting: BTreeMap::new(),
        });
        self.advance_hw(out);
    }

    pub(super) fn produce(&mut self, req: u64, producer: Option<ProducerBatch>, out: &mut Vec<Command>) {
        let Role::Leader(l) = &mut self.role else {
            out.push(Command::Reject { req, error: ProduceError::NotLeader { epoch: self.epoch } });
            return;
        };
        if l.isr.len() < self.config.min_insync {
            let error = ProduceError::NotEnoughReplicas { isr: l.isr.len(), min: self.config.min_insync };
            out.push(Command::Reject { req, error });
            return;
        }
        if let Some(b) = producer {
            let error = match self.producers.check(&b) {
                ProducerCheck::Append => None,
                // Already in the log: acknowledged with its offsets once committed, never
                // appended again.
                ProducerCheck::Duplicate { base, last } if last < self.hw => {
                    out.push(Command::Ack { req, base, last });
                    return;
                }
                ProducerCheck::Duplicate { base, last } => {
                    l.waiting.insert((last, req), base);
                    return;
                }
                ProducerCheck::InFlight => Some(ProduceError::InFlight),
                ProducerCheck::OutOfOrder { expected } => Some(ProduceError::OutOfOrderSequence { expected }),
                ProducerCheck::Fenced { current } => Some(ProduceError::ProducerFenced { current }),
            };
            if let Some(error) = error {
                out.push(Command::Reject { req, error });
                return;
            }
            self.producers.begin(&b);
            self.producing.insert(req, b);
        }
        out.push(Command::Append { req: Some(req), epoch: self.epoch });
    }

    pub(super) fn appended(&mut self, req: Option<u64>, base: u64, last: u64, out: &mut Vec<Command>) {
        assert_eq!(base, self.log_end, "appends are dense");
        assert!(last >= base, "an append holds at least one record");
        self.log_end = last + 1;
        if let Some(b) = req.and_then(|r| self.producing.remove(&r)) {
            self.producers.appended(&b, base, last);
        }
        match (&mut self.role, req) {
            (Role::Leader(l), Some(req)) => {
                l.waiting.insert((last, req), base);
                out.push(Command::Sync);
            }
            (Role::Follower(_), None) => self.follower_appended(out),
            // The role changed while the append ran: the append stands (it is above the HW and
            // will be kept or truncated by epoch), but nobody waits for it here. A follower
            // restarts its fetch loop: the fetch under way asked for the old log end.
            (_, Some(req)) => {
                out.push(Command::Reject { req, error: ProduceError::Deposed { epoch: self.epoch } });
                self.follower_restart_fetch(out);
            }
            (_, None) => {}
        }
    }

    /// Recomputes the HW over the ISR (plus replicas being added) and acknowledges what it
    /// passed.
    pub(super) fn advance_hw(&mut self, out: &mut Vec<Command>) {
        let Role::Leader(l) = &mut self.role else { return };
        let mut counted: BTreeSet<NodeId> = l.isr.clone();
        if let Some(p) = &l.proposed {
            counted.extend(p.iter().copied()); // additions count at once, removals once committed
        }
        if counted.len() < self.config.min_insync {
            return;
        }
        if self.config.unsafe_ack_before_replication {
            counted = BTreeSet::from([self.id]);
        }
        let candidate = counted
            .iter()
            .map(|r| if *r == self.id { self.durable_end } else { l.progress.get(r).copied().unwrap_or(0) })
            .min()
            .unwrap_or(self.durable_end);
        // A new leader's HW may only be raised by records of its own epoch being committed or
        // by followers confirming; it never goes down.
        if candidate <= self.hw {
            return;
        }
        self.hw = candidate;
        out.push(Command::HighWatermark { hw: self.hw });
        let done: Vec<(u64, u64)> = l.waiting.range(..(self.hw, 0)).map(|(k, _)| *k).collect();
        for (last, req) in done {
            let base = l.waiting.remove(&(last, req)).expect("listed above");
            out.push(Command::Ack { req, base, last });
        }
    }

    pub(super) fn serve_fetch(
        &mut self,
        from: NodeId,
        epoch: u64,
        fetch_offset: u64,
        last_fetched_epoch: Option<u64>,
        now_ms: u64,
        out: &mut Vec<Command>,
    ) {
        let refuse = |reply| Command::RefuseFetch { to: from, epoch, fetch_offset, reply };
        let Role::Leader(_) = &self.role else {
            out.push(refuse(FetchReply::NotLeader));
            return;
        };
        if epoch < self.epoch {
            out.push(refuse(FetchReply::Fenced { leader_epoch: self.epoch }));
            return;
        }
        if epoch > self.epoch {
            out.push(refuse(FetchReply::NotLeader));
            return;
        }
        if let Some(reply) = self.divergence(fetch_offset, last_fetched_epoch) {
            out.push(refuse(reply));
            return;
        }
        self.follower_progress(from, fetch_offset, now_ms, out);
        self.advance_hw(out);
        out.push(Command::ServeFetch { to: from, from_offset: fetch_offset, hw: self.hw, epoch: self.epoch });
    }

    /// Whether a follower at `fetch_offset`, last written in `last_fetched_epoch`, holds
    /// records this log does not.
    fn divergence(&self, fetch_offset: u64, last_fetched_epoch: Option<u64>) -> Option<FetchReply> {
        let Some(lfe) = last_fetched_epoch else {
            return (fetch_offset > self.log_end).then_some(FetchReply::Diverging { epoch: 0, end_offset: 0 });
        };
        match self.epochs.end_of(lfe, self.log_end) {
            Some((e, end)) if e == lfe && fetch_offset <= end => None,
            Some((e, end)) => Some(FetchReply::Diverging { epoch: e, end_offset: end.min(fetch_offset) }),
            // The follower's epoch predates everything this log remembers: start over.
            None => Some(FetchReply::Diverging { epoch: 0, end_offset: 0 }),
        }
    }

    fn follower_progress(&mut self, from: NodeId, fetch_offset: u64, now_ms: u64, out: &mut Vec<Command>) {
        let (log_end, hw, epoch) = (self.log_end, self.hw, self.epoch);
        let Role::Leader(l) = &mut self.role else { return };
        l.progress.insert(from, fetch_offset);
        if fetch_offset >= log_end {
            l.caught_up_ms.insert(from, now_ms);
        }
        // One ISR change in flight at a time.
        if !l.isr.contains(&from) && l.proposed.is_none() && fetch_offset >= hw && fetch_offset >= log_end {
            let mut next = l.isr.clone();
            next.insert(from);
            l.proposed = Some(next.clone());
            let from = l.isr.iter().copied().collect();
            out.push(Command::ProposeIsr { epoch, from, isr: next.into_iter().collect() });
        }
    }

    /// Meta answered the proposal in flight: `isr` is the ISR it holds now (the proposed one,
    /// or the current one if it refused).
    pub(super) fn isr_committed(&mut self, epoch: u64, isr: Vec<NodeId>, out: &mut Vec<Command>) {
        if epoch != self.epoch {
            return;
        }
        let Role::Leader(l) = &mut self.role else { return };
        l.isr = isr.into_iter().collect();
        l.isr.insert(self.id);
        l.proposed = None;
        self.advance_hw(out);
    }

    /// Proposes to drop followers that have not caught up for `lag_ms_max`.
    pub(super) fn leader_tick(&mut self, now_ms: u64, out: &mut Vec<Command>) {
        let (id, epoch, lag) = (self.id, self.epoch, self.config.lag_ms_max);
        let Role::Leader(l) = &mut self.role else { return };
        if l.proposed.is_some() {
            return;
        }
        let lagging: Vec<NodeId> = l
            .isr
            .iter()
            .copied()
            .filter(|r| *r != id && now_ms.saturating_sub(l.caught_up_ms.get(r).copied().unwrap_or(0)) > lag)
            .collect();
        if lagging.is_empty() {
            return;
        }
        let next: BTreeSet<NodeId> = l.isr.iter().copied().filter(|r| !lagging.contains(r)).collect();
        l.proposed = Some(next.clone());
        let from = l.isr.iter().copied().collect();
        out.push(Command::ProposeIsr { epoch, from, isr: next.into_iter().collect() });
    }
}
