//! Shard replication, as a state machine: events in, commands out, no I/O.
//!
//! A shard is replicated on RF storage nodes. Meta names a leader and an epoch; followers pull
//! from the leader (`Fetch`), and the leader tracks how far each follower has *durably*
//! appended (a follower asks for offset `n` only after syncing everything below `n`). The high
//! watermark (HW) is the smallest durable end over the in-sync replicas (ISR), the leader
//! included, and advances only while the ISR has at least `min_insync` members: a produce with
//! acks=all is acknowledged once the HW passes it, i.e. once it is synced on the leader and on
//! every in-sync replica. Consumers never read at or above the HW.
//!
//! Epochs fence everything: a replica ignores roles with an epoch older than its own, the
//! leader refuses fetches from another epoch, and a follower coming back learns from the
//! leader where its last epoch ended there ([`EpochCache`]) and truncates the divergent suffix
//! before it fetches. ISR changes are proposed to meta and count only once meta commits them
//! — except that a replica being added counts at once (so the HW computed is never over a set
//! smaller than the one meta may elect from).
//!
//! Idempotent producers number their records; the leader deduplicates retried requests
//! against a [`ProducerTable`] every replica keeps from its log, so a retry that reaches a new
//! leader is answered with the offsets its records already have.
//!
//! The driver (the storage node) executes the commands in order: appending and syncing through
//! the log engine, sending fetches, serving reads, and talking to meta; it reports the results
//! back as events.

mod epochs;
#[cfg(test)]
mod fetch_tests;
mod follower;
mod invariants;
mod leader;
pub mod producers;
mod replica;
#[cfg(test)]
mod tests;

pub use epochs::EpochCache;
pub use producers::{ProducerBatch, ProducerCheck, ProducerTable};
pub use replica::{
    Command, Event, FetchReply, FollowerState, LeaderState, NodeId, ProduceError, ReplicaConfig, Role, ShardReplica,
    Stage,
};
