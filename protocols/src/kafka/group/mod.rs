//! The classic consumer-group protocol, coordinator side, as a state machine: Join, Sync,
//! Heartbeat and Leave requests and the passing of time go in as [`Event`]s; answers, and the
//! group record to make durable before a new generation is announced, come out as
//! [`Command`]s. No I/O and no clock: the broker's coordinator feeds it and carries out what
//! it says (`src/broker/kafka/group/`).
//!
//! States, as in Kafka's coordinator: `Empty` (no members), `PreparingRebalance` (waiting for
//! every member to (re)join, at most the longest rebalance timeout), `CompletingRebalance`
//! (a generation is announced; waiting for the leader's assignment), `Stable`. Eager and
//! cooperative rebalancing are both the clients' doing on top of these states.
//!
//! One generation never has two assignments: the generation number only grows, it is made
//! durable ([`Command::Persist`]) before any member learns it, and a coordinator that takes
//! the group over starts from the last durable generation. A completed generation is made
//! durable again with its members and their assignments ([`Command::PersistMembers`]) before
//! the sync answers go out, and a coordinator that takes the group over restores it Stable
//! with them ([`Event::Restore`]): coordination moves without a rebalance.

mod machine;
#[cfg(test)]
mod restore_tests;
#[cfg(test)]
mod tests;

pub use machine::{
    Command, Event, Group, GroupError, JoinOk, MemberInfo, Protocol, State, StoredGeneration, StoredMember,
};
