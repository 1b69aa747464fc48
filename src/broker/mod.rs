//! The broker role: protocol front-ends for clients. Stateless: any broker serves any client,
//! and a broker that dies loses nothing (what it acknowledged is in the log; sessions are in
//! meta). MQTT today ([`mqtt`]), with its authentication and ACLs ([`auth`]); Kafka and AMQP
//! share the role's listeners and limits.

pub mod auth;
pub mod listener;
pub mod mqtt;
pub mod queue;
pub mod ws;
