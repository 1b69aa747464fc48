//! [`ShardReplica`]: one node's replica of one shard, its events and its commands.

use std::collections::{BTreeMap, BTreeSet};

use super::follower::Fetched;
use super::producers::{ProducerBatch, ProducerTable};
use super::EpochCache;

/// A node's id.
pub type NodeId = u64;

/// Limits of replication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaConfig {
    /// A follower that has not caught up to the leader's log end for this long leaves the ISR.
    pub lag_ms_max: u64,
    /// The ISR size (leader included) below which the HW stops and produces are refused.
    pub min_insync: usize,
    /// The most bytes one fetch returns.
    pub fetch_bytes_max: usize,
    /// TEST ONLY: the leader's HW counts its own log alone, so produces are acknowledged
    /// before any follower has the records (the broken build the Jepsen harness must catch).
    pub unsafe_ack_before_replication: bool,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        ReplicaConfig {
            lag_ms_max: 5_000,
            min_insync: 1,
            fetch_bytes_max: 1024 * 1024,
            unsafe_ack_before_replication: false,
        }
    }
}

/// Why a produce was not acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProduceError {
    /// This replica does not lead the shard: nothing was appended; send it to the leader.
    NotLeader { epoch: u64 },
    /// This replica appended the records as leader and lost the leadership before they were
    /// committed: the new leader may or may not keep them, so the outcome is unknown. Only an
    /// idempotent producer may retry (deduplicated by sequence); any other retry may store the
    /// records twice (found by the Jepsen Kafka workload: a plain producer's record stored at
    /// two offsets after an isolated leader's waiter was refused and the broker retried).
    Deposed { epoch: u64 },
    /// The ISR is smaller than `min_insync`; nothing was appended.
    NotEnoughReplicas { isr: usize, min: usize },
    /// The same producer request is being appended now; retry it a little later.
    InFlight,
    /// The producer's sequence does not follow what the shard holds (`expected` is next).
    OutOfOrderSequence { expected: u32 },
    /// The producer's epoch is older than `current`: another instance took over.
    ProducerFenced { current: u16 },
}

/// What the leader answers a follower's fetch with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchReply {
    /// The follower's log diverges: truncate to `min(end_offset, own end)`, then fetch again.
    Diverging { epoch: u64, end_offset: u64 },
    /// The follower's epoch is older than the leader's: wait for meta's new assignment.
    Fenced { leader_epoch: u64 },
    /// This node does not lead in the follower's epoch.
    NotLeader,
    /// The leader no longer holds the offset asked for (retention dropped it): its log starts
    /// at `start`. The follower starts over, empty, there.
    OutOfRange { start: u64 },
}

/// Something that happened to the replica.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Meta made this node leader in `epoch`, with this ISR (leader included).
    BecomeLeader { epoch: u64, isr: Vec<NodeId>, now_ms: u64 },
    /// Meta made this node a follower of `leader` in `epoch`.
    BecomeFollower { epoch: u64, leader: NodeId },
    /// (Leader) A producer asks to append request `req`'s records with acks=all; an
    /// idempotent producer's request carries its numbers, checked for duplicates.
    Produce { req: u64, producer: Option<ProducerBatch> },
    /// The driver appended records: request `req`'s (leader) or fetched ones (follower, `None`).
    Appended { req: Option<u64>, base: u64, last: u64 },
    /// The driver synced the log: everything below `durable_end` is durable.
    Synced { durable_end: u64 },
    /// The driver truncated the log to `end`.
    Truncated { end: u64 },
    /// The driver reset the log: empty, starting at `start`.
    Reset { start: u64 },
    /// (Leader) A follower fetches from `fetch_offset`, having last fetched in epoch
    /// `last_fetched_epoch` (`None` for an empty log); it is in `epoch`.
    FetchRequest { from: NodeId, epoch: u64, fetch_offset: u64, last_fetched_epoch: Option<u64>, now_ms: u64 },
    /// (Follower) The leader sent records from `from_offset` (the driver holds them): `count`
    /// records whose batches began new epochs at `epoch_starts`, the producer runs among
    /// them with their offsets, and the leader's HW.
    FetchedRecords {
        epoch: u64,
        from_offset: u64,
        count: u64,
        epoch_starts: Vec<(u64, u64)>,
        producers: Vec<(ProducerBatch, u64)>,
        leader_hw: u64,
    },
    /// (Follower) The leader refused the fetch this replica sent in `epoch` from `fetch_offset`.
    FetchRefused { epoch: u64, fetch_offset: u64, reply: FetchReply },
    /// (Follower) The fetch failed in transport; try again.
    FetchFailed { epoch: u64 },
    /// (Leader) Meta committed this ISR for `epoch`.
    IsrCommitted { epoch: u64, isr: Vec<NodeId> },
    /// Time passes.
    Tick { now_ms: u64 },
}

/// Something the driver must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Append request `req`'s records (leader), stamped with leader epoch `epoch`, or the
    /// fetched records (follower, `req` `None`), which keep the epochs they carry.
    Append { req: Option<u64>, epoch: u64 },
    /// Sync the log (one sync may cover many appends).
    Sync,
    /// Truncate the log to `end` (remove offsets `>= end`), durably.
    Truncate { end: u64 },
    /// Discard the whole log and start it over, empty, at `start`, durably.
    Reset { start: u64 },
    /// Persist the epoch cache durably before executing the commands after this one.
    SaveEpochs { entries: Vec<(u64, u64)> },
    /// Acknowledge request `req`: its records are `base..=last`, committed.
    Ack { req: u64, base: u64, last: u64 },
    /// Refuse request `req`.
    Reject { req: u64, error: ProduceError },
    /// (Follower) Fetch from the leader.
    Fetch { leader: NodeId, epoch: u64, fetch_offset: u64, last_fetched_epoch: Option<u64> },
    /// (Leader) Answer a follower's fetch with records from `from_offset` and the HW.
    ServeFetch { to: NodeId, from_offset: u64, hw: u64, epoch: u64 },
    /// (Leader) Answer a follower's fetch (sent in `epoch` from `fetch_offset`) with a refusal.
    RefuseFetch { to: NodeId, epoch: u64, fetch_offset: u64, reply: FetchReply },
    /// (Leader) Ask meta to change the ISR from `from` to `isr`: a compare-and-set on the
    /// epoch and on the current ISR, so a stale proposal cannot undo a newer change.
    ProposeIsr { epoch: u64, from: Vec<NodeId>, isr: Vec<NodeId> },
    /// The HW moved: readers may now read below `hw`.
    HighWatermark { hw: u64 },
}

/// The leader's view of replication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderState {
    /// The ISR meta has committed (the leader included).
    pub isr: BTreeSet<NodeId>,
    /// An ISR change proposed to meta and not yet committed.
    pub proposed: Option<BTreeSet<NodeId>>,
    /// Per follower: the offset below which it holds everything durably.
    pub progress: BTreeMap<NodeId, u64>,
    /// Per follower: when it last asked for the leader's log end.
    pub caught_up_ms: BTreeMap<NodeId, u64>,
    /// Produce requests appended and waiting for the HW, by (last offset, request): the base
    /// offset. A retried request may wait on the same records as the original.
    pub waiting: BTreeMap<(u64, u64), u64>,
}

/// Where the follower's fetch loop is: one step at a time, so that at most one fetch is ever
/// outstanding and fetched records are appended and synced before the next fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Nothing under way; the next fetch goes out now or at the next tick.
    Idle,
    Fetching,
    Appending,
    Syncing,
    Truncating,
}

/// The follower's fetch loop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowerState {
    pub leader: NodeId,
    pub stage: Stage,
    /// The leader's HW from the last fetch.
    pub leader_hw: u64,
}

/// The replica's role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Not assigned yet, or deposed without a new assignment.
    Idle,
    Leader(LeaderState),
    Follower(FollowerState),
}

/// One node's replica of a shard.
#[derive(Clone, Debug)]
pub struct ShardReplica {
    pub id: NodeId,
    pub config: ReplicaConfig,
    pub epoch: u64,
    pub role: Role,
    /// The next offset to assign.
    pub log_end: u64,
    /// Everything below this is durable here.
    pub durable_end: u64,
    /// Everything below this is committed (and readable).
    pub hw: u64,
    pub epochs: EpochCache,
    /// Idempotent producers seen in this log (set by the driver after recovery).
    pub producers: ProducerTable,
    /// Producer requests whose `Append` is under way, by request.
    pub producing: BTreeMap<u64, ProducerBatch>,
}

impl ShardReplica {
    /// A replica recovered from its log (`log_end`, all durable after recovery) and its
    /// persisted epoch cache. The HW starts at 0 and catches up from the leader.
    pub fn new(id: NodeId, config: ReplicaConfig, log_end: u64, mut epochs: EpochCache) -> Self {
        // Epochs that started past the recovered log (their records were lost) are forgotten.
        epochs.truncate_from(log_end + 1);
        let epoch = epochs.latest().unwrap_or(0);
        ShardReplica {
            id,
            config,
            epoch,
            role: Role::Idle,
            log_end,
            durable_end: log_end,
            hw: 0,
            epochs,
            producers: ProducerTable::default(),
            producing: BTreeMap::new(),
        }
    }

    /// Handles one event; returns the commands to run, in order. Test, debug and simulation
    /// builds check the replica's invariants after it (see `invariants.rs`).
    pub fn handle(&mut self, event: Event) -> Vec<Command> {
        let mut out = Vec::new();
        #[cfg(any(test, debug_assertions, madsim))]
        let epoch_before = self.epoch;
        match event {
            Event::BecomeLeader { epoch, isr, now_ms } => self.become_leader(epoch, isr, now_ms, &mut out),
            Event::BecomeFollower { epoch, leader } => self.become_follower(epoch, leader, &mut out),
            Event::Produce { req, producer } => self.produce(req, producer, &mut out),
            Event::Appended { req, base, last } => self.appended(req, base, last, &mut out),
            Event::Synced { durable_end } => self.synced(durable_end, &mut out),
            Event::Truncated { end } => self.truncated(end, &mut out),
            Event::Reset { start } => self.reset(start, &mut out),
            Event::FetchRequest { from, epoch, fetch_offset, last_fetched_epoch, now_ms } => {
                self.serve_fetch(from, epoch, fetch_offset, last_fetched_epoch, now_ms, &mut out)
            }
            Event::FetchedRecords { epoch, from_offset, count, epoch_starts, producers, leader_hw } => {
                let f = Fetched { epoch, from_offset, count, epoch_starts, producers, leader_hw };
                self.fetched(f, &mut out)
            }
            Event::FetchRefused { epoch, fetch_offset, reply } => {
                self.fetch_refused(epoch, fetch_offset, reply, &mut out)
            }
            Event::FetchFailed { epoch } => self.fetch_failed(epoch, &mut out),
            Event::IsrCommitted { epoch, isr } => self.isr_committed(epoch, isr, &mut out),
            Event::Tick { now_ms } => self.tick(now_ms, &mut out),
        }
        #[cfg(any(test, debug_assertions, madsim))]
        self.check_after_event(epoch_before);
        out
    }

    /// Leaves the current role: waiting produces are refused.
    pub(super) fn step_down(&mut self, out: &mut Vec<Command>) {
        if let Role::Leader(l) = std::mem::replace(&mut self.role, Role::Idle) {
            for (_, req) in l.waiting.into_keys() {
                out.push(Command::Reject { req, error: ProduceError::Deposed { epoch: self.epoch } });
            }
            self.producers.drop_in_flight();
        }
    }

    fn synced(&mut self, durable_end: u64, out: &mut Vec<Command>) {
        assert!(durable_end <= self.log_end, "synced past the log end");
        self.durable_end = self.durable_end.max(durable_end);
        match self.role {
            Role::Leader(_) => self.advance_hw(out),
            Role::Follower(_) => self.follower_synced(out),
            Role::Idle => {}
        }
    }

    /// The log was discarded and starts over at `start`: nothing it held is known any more.
    fn reset(&mut self, start: u64, out: &mut Vec<Command>) {
        if let Role::Follower(f) = &mut self.role {
            if f.stage == Stage::Truncating {
                f.stage = Stage::Idle;
            }
        }
        assert!(start >= self.hw, "a reset never drops committed records it still holds");
        self.log_end = start;
        self.durable_end = start;
        self.epochs = EpochCache::new();
        self.producers = ProducerTable::default();
        if matches!(self.role, Role::Leader(_)) {
            self.epochs.assign(self.epoch, start);
        }
        out.push(Command::SaveEpochs { entries: self.epochs.entries().to_vec() });
        self.follower_fetch_next(out);
    }

    fn truncated(&mut self, end: u64, out: &mut Vec<Command>) {
        if let Role::Follower(f) = &mut self.role {
            if f.stage == Stage::Truncating {
                f.stage = Stage::Idle;
            }
        }
        if end < self.hw {
            // Only an unclean election (an explicit per-topic opt-in) can take committed
            // records away; the local HW follows.
            tracing::warn!(end, hw = self.hw, "truncated below the high watermark");
            self.hw = end;
        }
        self.log_end = end;
        self.durable_end = self.durable_end.min(end);
        self.epochs.truncate_from(end);
        self.producers.truncate(end);
        if matches!(self.role, Role::Leader(_)) {
            // A truncation ordered while following landed after this replica took the lead:
            // its epoch now starts at the new end.
            self.epochs.assign(self.epoch, end);
        }
        out.push(Command::SaveEpochs { entries: self.epochs.entries().to_vec() });
        self.follower_fetch_next(out);
    }
}
