//! Seeded whole-cluster simulations of Keel under madsim (`cargo test --features sim`).
//!
//! Each seed derives its settings ([`settings`]), builds a cluster whose nodes start through
//! the production entry point (`keel::node::Node::start`) on simulated disks and network
//! ([`cluster`]), runs client workloads that record what they saw ([`workload`], [`history`])
//! under a nemesis ([`nemesis`]) in a safety phase, then heals everything for a liveness phase,
//! and finally checks the invariants ([`invariants`], one property per file). [`run`] drives
//! seeds, prints `seed=<N> digest=<hex>` for each, checks that a seed replays to the same
//! digest, and prints the replay command of a failing seed.

pub mod invariants;

#[cfg(madsim)]
mod clock_rate;

#[cfg(madsim)]
pub mod cluster;
#[cfg(madsim)]
pub mod data_scenario;
#[cfg(madsim)]
pub mod history;
pub mod kafka_assignment;
#[cfg(madsim)]
pub mod kafka_client;
#[cfg(madsim)]
pub mod kafka_group;
#[cfg(madsim)]
pub mod kafka_group_churn;
#[cfg(madsim)]
pub mod kafka_scenario;
#[cfg(madsim)]
pub mod load_scenario;
#[cfg(madsim)]
pub mod meta_scenario;
#[cfg(madsim)]
pub mod mqtt_client;
#[cfg(madsim)]
pub mod mqtt_scenario;
#[cfg(madsim)]
pub mod nemesis;
#[cfg(madsim)]
pub mod repair;
#[cfg(madsim)]
pub mod run;
#[cfg(madsim)]
pub mod settings;
#[cfg(madsim)]
pub mod workload;
