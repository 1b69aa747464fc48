//! The Kafka wire protocol on the broker role, over the log: a Kafka topic is a Keel topic and
//! a partition a shard. Produce appends each record batch as the producer sent it (one stored
//! record taking one offset per record inside it, compressed or not) through the shard
//! leader's acks=all path; Fetch serves the stored batches back with their base offsets set;
//! Metadata spreads partition leadership over the live brokers, any of which serves any
//! partition (it forwards to the shard's storage leader). Brokers keep no state of their own.
//!
//! Each connection runs [`connection::serve`]: one request at a time, answered in order (as a
//! Kafka broker does, muting the connection until it answers). The handlers, one file per API
//! family, turn a decoded request into its response. The same protocol is served on the plain
//! listener (`kafka_listen`) and, with a certificate, the TLS one (`kafka_tls_listen`); a
//! connection knows its [`Listener`], and Metadata and FindCoordinator name brokers by the
//! addresses of that listener (a client reconnects to what it is told).

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

use keel_rt::task;
use tokio::sync::Semaphore;

#[cfg(not(madsim))]
use crate::broker::listener::accept_tls_loop;
use crate::broker::listener::{accept_loop, bind, bind_tls};
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
    /// The TLS listener's certificate and key (with `[broker] kafka_tls_listen`).
    pub tls: Option<crate::broker::TlsFiles>,
    /// The node's metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// Which of the broker's Kafka listeners a connection came through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Listener {
    #[default]
    Plain,
    Tls,
}

/// What every connection of the Kafka front-end shares.
pub struct Core {
    pub config: Config,
    pub meta: MetaClient,
    pub view: ViewHandle,
    pub data: DataClient,
    pub stats: KafkaStats,
    pub metrics: Arc<crate::metrics::Metrics>,
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
    /// Binds the Kafka listeners (a taken port or a bad certificate fails the start at once)
    /// and serves clients on the returned task; `None` when neither `[broker] kafka_listen` nor
    /// (with a certificate) `kafka_tls_listen` is set.
    pub async fn start(parts: KafkaParts) -> std::io::Result<Option<(KafkaBroker, task::JoinHandle<()>)>> {
        let auth = crate::broker::auth::Authenticator::new(&parts.config.mqtt)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let plain = bind(&parts.config.broker.kafka_listen).await?;
        let tls = bind_tls(parts.tls.as_ref(), &parts.config.broker.kafka_tls_listen).await?;
        if plain.is_none() && tls.is_none() {
            return Ok(None);
        }
        let fetch_sessions = Mutex::new(fetch_session::SessionCache::new(parts.config.kafka.fetch_sessions_max));
        let core = Arc::new(Core {
            fetch_sessions,
            config: parts.config,
            meta: parts.meta,
            view: parts.view,
            data: parts.data,
            stats: KafkaStats::default(),
            metrics: parts.metrics,
            groups: group::Coordinator::default(),
            auth: Arc::new(auth),
            skips: Default::default(),
        });
        task::spawn(group::Coordinator::tick_loop(core.clone()));
        task::spawn(group::lag::run(core.clone()));
        let weak = Arc::downgrade(&core);
        core.metrics.on_scrape(Box::new(move || {
            if let Some(core) = weak.upgrade() {
                let k = &core.metrics.kafka;
                k.connections.set(core.stats.connections.load(std::sync::atomic::Ordering::Relaxed) as i64);
                k.protocol_errors.sync(core.stats.protocol_errors.load(std::sync::atomic::Ordering::Relaxed));
            }
        }));
        let limit = Arc::new(Semaphore::new(core.config.broker.connections_max));
        let tls_limit = limit.clone();
        let (c, t) = (core.clone(), core.clone());
        // Both accept loops on the one task, so stopping it stops both.
        let task = task::spawn(async move {
            let plain = async move {
                if let Some(l) = plain {
                    let serve = move |stream, peer| connection::serve(c.clone(), stream, peer, Listener::Plain);
                    accept_loop("kafka", l, limit, serve).await;
                }
            };
            #[cfg(not(madsim))]
            let tls = async move {
                if let Some((l, acceptor)) = tls {
                    let serve = move |stream, peer| connection::serve(t.clone(), stream, peer, Listener::Tls);
                    accept_tls_loop("kafka-tls", l, acceptor, tls_limit, serve).await;
                }
            };
            #[cfg(madsim)]
            let tls = async move { drop((tls, t, tls_limit)) };
            futures::join!(plain, tls);
        });
        Ok(Some((KafkaBroker { core }, task)))
    }
}
