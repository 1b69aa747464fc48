//! Keel: a multi-protocol message broker whose whole cluster runs in deterministic simulation.
//!
//! # Layout
//! - [`node`]: one Keel process — the roles it runs, started the same way in production and
//!   in simulation.
//! - [`meta`]: the meta role, cluster metadata on openraft.
//! - [`rpc`]: internal RPC between nodes.
//! - [`admin`]: the admin HTTP API (health, Prometheus metrics, topics, cluster).
//! - [`broker`]: the broker role: client front-ends (MQTT over the log, authentication, ACLs).
//! - [`config`]: the TOML configuration, every field defaulted.
//!
//! Everything that touches the outside world goes through `keel_rt`, the runtime seam.

pub mod admin;
pub mod bench;
pub mod broker;
pub mod client;
pub mod config;
pub mod logging;
pub mod meta;
pub mod metrics;
pub mod node;
pub mod rpc;
pub mod store;
