//! The follower's side: the fetch loop, truncation of a divergent suffix, and its HW.
//!
//! One step at a time ([`Stage`]): fetch → append → sync → fetch, or fetch → truncate → fetch.
//! Events that do not match the current step (an answer to a fetch of an older epoch, a sync
//! ordered while this replica still led) update what they can and do not advance the loop.

use super::producers::ProducerBatch;
use super::replica::{Command, FetchReply, FollowerState, NodeId, Role, ShardReplica, Stage};

/// The fields of [`super::Event::FetchedRecords`].
pub(super) struct Fetched {
    pub epoch: u64,
    pub from_offset: u64,
    pub count: u64,
    pub epoch_starts: Vec<(u64, u64)>,
    pub producers: Vec<(ProducerBatch, u64)>,
    pub leader_hw: u64,
}

impl ShardReplica {
    pub(super) fn become_follower(&mut self, epoch: u64, leader: NodeId, out: &mut Vec<Command>) {
        let same = matches!(&self.role, Role::Follower(f) if f.leader == leader) && epoch == self.epoch;
        if epoch < self.epoch || same {
            return; // stale or repeated assignment
        }
        self.step_down(out);
        self.epoch = epoch;
        self.role = Role::Follower(FollowerState { leader, stage: Stage::Idle, leader_hw: self.hw });
        self.follower_fetch_next(out);
    }

    fn stage(&self) -> Option<Stage> {
        match &self.role {
            Role::Follower(f) => Some(f.stage),
            _ => None,
        }
    }

    fn set_stage(&mut self, stage: Stage) {
        if let Role::Follower(f) = &mut self.role {
            f.stage = stage;
        }
    }

    /// Sends the next fetch if the loop is idle: from the durable end, so that the offset asked
    /// for tells the leader what this replica holds durably.
    pub(super) fn follower_fetch_next(&mut self, out: &mut Vec<Command>) {
        if self.stage() != Some(Stage::Idle) {
            return;
        }
        if self.durable_end < self.log_end {
            // Records appended while leading (or before a truncation) are not durable yet: sync
            // them first, so the fetch offset is both the log end and durable.
            self.set_stage(Stage::Syncing);
            out.push(Command::Sync);
            return;
        }
        self.set_stage(Stage::Fetching);
        let Role::Follower(f) = &self.role else { return };
        let (leader, epoch, fetch_offset) = (f.leader, self.epoch, self.durable_end);
        out.push(Command::Fetch { leader, epoch, fetch_offset, last_fetched_epoch: self.epochs.latest() });
    }

    /// Drops the fetch under way (its answer will not match) and starts over.
    pub(super) fn follower_restart_fetch(&mut self, out: &mut Vec<Command>) {
        if self.stage() == Some(Stage::Fetching) {
            self.set_stage(Stage::Idle);
            self.follower_fetch_next(out);
        }
    }

    pub(super) fn fetched(&mut self, f: Fetched, out: &mut Vec<Command>) {
        let Fetched { epoch, from_offset, count, epoch_starts, producers, leader_hw } = f;
        if epoch != self.epoch || self.stage() != Some(Stage::Fetching) || from_offset != self.log_end {
            return; // an answer to an older fetch, or a duplicate
        }
        if let Role::Follower(f) = &mut self.role {
            f.leader_hw = leader_hw;
        }
        if count == 0 {
            self.set_stage(Stage::Idle);
            self.follower_hw(out);
            self.follower_fetch_next(out);
            return;
        }
        let before = self.epochs.clone();
        for (e, start) in epoch_starts {
            self.epochs.assign(e, start);
        }
        if self.epochs != before {
            out.push(Command::SaveEpochs { entries: self.epochs.entries().to_vec() });
        }
        for (b, base) in &producers {
            self.producers.observe(b, *base);
        }
        self.set_stage(Stage::Appending);
        out.push(Command::Append { req: None, epoch: self.epoch });
    }

    pub(super) fn follower_appended(&mut self, out: &mut Vec<Command>) {
        if self.stage() == Some(Stage::Appending) {
            self.set_stage(Stage::Syncing);
            out.push(Command::Sync);
        } else {
            // An append ordered before a new assignment landed under the fetch that followed
            // it: that fetch asked for the old log end.
            self.follower_restart_fetch(out);
        }
    }

    /// After a sync: the HW follows the leader's, up to what is durable here; then, if the
    /// sync was the loop's, the next fetch.
    pub(super) fn follower_synced(&mut self, out: &mut Vec<Command>) {
        self.follower_hw(out);
        if self.stage() == Some(Stage::Syncing) {
            self.set_stage(Stage::Idle);
            self.follower_fetch_next(out);
        }
    }

    fn follower_hw(&mut self, out: &mut Vec<Command>) {
        let Role::Follower(f) = &self.role else { return };
        let hw = f.leader_hw.min(self.durable_end);
        if hw > self.hw {
            self.hw = hw;
            out.push(Command::HighWatermark { hw });
        }
    }

    pub(super) fn fetch_refused(&mut self, epoch: u64, fetch_offset: u64, reply: FetchReply, out: &mut Vec<Command>) {
        if epoch != self.epoch || self.stage() != Some(Stage::Fetching) || fetch_offset != self.log_end {
            return; // the answer to an older fetch
        }
        match reply {
            FetchReply::Diverging { epoch: leader_epoch, end_offset } => {
                // Keep only what both logs agree on: up to where the leader's epoch ended, and
                // no further than where this log's own records of that epoch (or older) end.
                let own_end = match self.epochs.end_of(leader_epoch, self.log_end) {
                    Some((_, end)) => end,
                    None => self.epochs.entries().first().map_or(0, |(_, start)| *start),
                };
                self.set_stage(Stage::Truncating);
                out.push(Command::Truncate { end: end_offset.min(own_end).min(self.log_end) });
            }
            // Everything this replica would fetch next is gone from the leader: start over
            // there (this replica's records are all below it, so all committed or gone).
            FetchReply::OutOfRange { start } if start > self.log_end => {
                self.set_stage(Stage::Truncating);
                out.push(Command::Reset { start });
            }
            FetchReply::OutOfRange { .. } => {
                self.set_stage(Stage::Idle);
                self.follower_fetch_next(out);
            }
            // Meta will tell this replica its new role; until then it asks again at each tick.
            FetchReply::Fenced { .. } | FetchReply::NotLeader => self.set_stage(Stage::Idle),
        }
    }

    pub(super) fn fetch_failed(&mut self, epoch: u64, out: &mut Vec<Command>) {
        if epoch == self.epoch && self.stage() == Some(Stage::Fetching) {
            self.set_stage(Stage::Idle);
            self.follower_fetch_next(out);
        }
    }

    pub(super) fn tick(&mut self, now_ms: u64, out: &mut Vec<Command>) {
        match &self.role {
            Role::Leader(_) => self.leader_tick(now_ms, out),
            Role::Follower(_) => self.follower_fetch_next(out),
            Role::Idle => {}
        }
    }
}
