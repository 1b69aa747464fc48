//! Jepsen-style checks of the `keel` binary users run: real processes on loopback, real sockets
//! and files, client libraries nobody here wrote (librdkafka through the rdkafka crate, rumqttc)
//! and the admin API, under faults injected from outside (process kills and pauses, partitions
//! through fault-injecting proxies on every inter-node link, file damage while a node is down).
//!
//! A run ([`run`]) starts a cluster ([`cluster`]), drives a workload's clients ([`workload`])
//! while the nemesis ([`nemesis`]) injects faults, heals everything, waits for recovery, drains,
//! and checks what the clients recorded with the checkers the simulation uses (keel-sim's
//! `invariants`), reporting Jepsen's anomaly names ([`verdict`]). Every run writes a results
//! folder: the history as JSON lines ([`history`]), the verdict, and latency and throughput
//! plots with the fault windows shaded ([`plot`]).

// The harness runs outside any node: it starts processes, opens sockets and files and keeps
// time like any client, so the runtime seam (clippy.toml's ban list) is not in play here.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

pub mod cluster;
pub mod history;
pub mod http;
pub mod nemesis;
pub mod opts;
pub mod plot;
pub mod proxy;
pub mod run;
pub mod verdict;
pub mod workload;
