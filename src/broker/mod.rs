//! The broker role: protocol front-ends for clients. Stateless: any broker serves any client,
//! and a broker that dies loses nothing (what it acknowledged is in the log; sessions are in
//! meta). MQTT ([`mqtt`]) with its authentication and ACLs ([`auth`]), and the Kafka wire protocol
//! ([`kafka`]); AMQP will share the role's listeners and limits.

pub mod auth;
pub mod kafka;
pub mod listener;
pub mod mqtt;
pub mod queue;
#[cfg(not(madsim))]
pub mod tls;
pub mod ws;

/// A TLS certificate chain and its private key, PEM (read by the command line at start).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}
