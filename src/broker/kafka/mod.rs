//! The Kafka wire protocol on the broker role, over the log: a Kafka topic is a Keel topic and
//! a partition a shard. Produce appends each record batch as the producer sent it (one stored
//! record taking one offset per record inside it, compressed or not) through the shard
//! leader's acks=all path; Fetch serves the stored batches back with their base offsets set;
//! Metadata spreads partition leadership over the live brokers, any of which serves any
//! partition (it forwards to the shard's storage leader). Brokers keep no state of their own.
//!
//! Each connection runs [`connection::serve`]: one request at a time, answered in order (as a
//! Kafka broker does, muting the connection until it answers). The handlers, one file per API
//! family, turn a decoded request into its response.

mod api_versions;
pub mod authorize;
pub mod binding;
mod configs;
pub mod connection;
mod errors;
mod fetch;
mod fetch_session;
pub mod group;
mod leader_epoch;
mod list_offsets;
mod metadata;
mod offset_for_leader_epoch;
mod produce;
mod producer_id;
mod sasl;
mod topics;

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use keel_rt::net::TcpListener;
use keel_rt::task;
use tokio::sync::Semaphore;

use crate::broker::listener::accept_loop;
use crate::client::DataClient;
use crate::config::Config;
use crate::meta::client::MetaClient;
use crate::meta::view::ViewHandle;

/// Counters of the Kafka front-end.
#[derive(Debug, Default)]
pub struct KafkaStats {
    pub connections: AtomicU64,
    pub requests: AtomicU64,
    pub protocol_errors: AtomicU64,
    pub records_produced: AtomicU64,
    pub batches_fetched: AtomicU64,
}

/// What the Kafka front-end is started with.
pub struct KafkaParts {
    pub config: Config,
    pub meta: MetaClient,
    pub view: ViewHandle,
    pub data: DataClient,
}

/// What every connection of the Kafka front-end shares.
pub struct Core {
    pub config: Config,
    pub meta: MetaClient,
    pub view: ViewHandle,
    pub data: DataClient,
    pub stats: KafkaStats,
    /// The consumer groups this broker coordinates.
    pub groups: group::Coordinator,
    /// Users and topic ACLs (the `[mqtt]` ones).
    pub auth: Arc<crate::broker::auth::Authenticator>,
    /// Log ranges known to hold nothing for a binding's readers.
    pub skips: binding::skips::Skips,
    /// Incremental fetch sessions (KIP-227).
    pub fetch_sessions: Mutex<fetch_session::SessionCache>,
}

/// The running Kafka front-end.
#[derive(Clone)]
pub struct KafkaBroker {
    pub core: Arc<Core>,
}

impl KafkaBroker {
    /// Binds the Kafka listener (a taken port fails the start at once) and serves clients on
    /// the returned task; `None` when `[broker] kafka_listen` is empty.
    pub async fn start(parts: KafkaParts) -> std::io::Result<Option<(KafkaBroker, task::JoinHandle<()>)>> {
        let addr = parts.config.broker.kafka_listen.clone();
        if addr.is_empty() {
            return Ok(None);
        }
        let auth = crate::broker::auth::Authenticator::new(&parts.config.mqtt)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|e| std::io::Error::new(e.kind(), format!("binding the Kafka listener {addr}: {e}")))?;
        let fetch_sessions = Mutex::new(fetch_session::SessionCache::new(parts.config.kafka.fetch_sessions_max));
        let core = Arc::new(Core {
            fetch_sessions,
            config: parts.config,
            meta: parts.meta,
            view: parts.view,
            data: parts.data,
            stats: KafkaStats::default(),
            groups: group::Coordinator::default(),
            auth: Arc::new(auth),
            skips: Default::default(),
        });
        task::spawn(group::Coordinator::tick_loop(core.clone()));
        let limit = Arc::new(Semaphore::new(core.config.broker.connections_max));
        let c = core.clone();
        let task = task::spawn(async move {
            accept_loop("kafka", listener, limit, move |stream, peer| connection::serve(c.clone(), stream, peer)).await;
        });
        Ok(Some((KafkaBroker { core }, task)))
    }
}
