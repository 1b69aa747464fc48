//! Starting the MQTT front-end and its background loops: binding its listeners (so a taken port
//! fails the start at once), then, once the namespace log exists, the appender, the meta
//! batcher, a tailer per shard, the cursor commits, the sweep, `$SYS`, and accepting clients.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use keel_protocols::mqtt::{PublishProperties, QoS};
use keel_rt::net::TcpListener;
use keel_rt::{task, time};
use tokio::sync::Semaphore;

use super::appender::Appender;
use super::batch::MetaBatcher;
use super::record::MqttRecord;
use super::tail::{self, Tailer};
use super::{connection, namespace, publish, takeover, Core, MqttStats};
use crate::broker::auth::Authenticator;
#[cfg(not(madsim))]
use crate::broker::listener::accept_tls_loop;
use crate::broker::listener::{accept_loop, bind, bind_tls, TlsAcceptor};
use crate::client::DataClient;
use crate::config::Config;
use crate::meta::client::MetaClient;
use crate::meta::mqtt::{MqttOp, MqttResult};
use crate::meta::records::Role;
use crate::meta::view::ViewHandle;

/// How often persistent sessions' cursors are committed (those that moved).
const COMMIT_EVERY: Duration = Duration::from_millis(250);
/// How often the sweep runs (on one broker of the cluster).
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// WebSocket subprotocols MQTT is offered under.
const WS_PROTOCOLS: &[&str] = &["mqtt", "mqttv3.1"];

/// What the MQTT front-end is started with.
pub struct MqttParts {
    pub config: Config,
    pub meta: MetaClient,
    pub view: ViewHandle,
    pub data: DataClient,
    /// TEST ONLY: acknowledge QoS 1/2 publishes before they are in the log.
    pub unsafe_ack_before_append: bool,
    /// The TLS listener's certificate and key (with `[broker] mqtt_tls_listen`).
    pub tls: Option<crate::broker::TlsFiles>,
    /// The node's metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The running MQTT front-end.
#[derive(Clone)]
pub struct MqttBroker {
    core: Arc<OnceLock<Arc<Core>>>,
}

/// Bound listeners, waiting for the core.
struct Listeners {
    tcp: Option<TcpListener>,
    ws: Option<TcpListener>,
    #[cfg_attr(madsim, allow(dead_code))]
    tls: Option<(TcpListener, TlsAcceptor)>,
}

impl MqttBroker {
    /// Binds the listeners and starts the front-end; it serves once the namespace log exists.
    pub async fn start(parts: MqttParts) -> std::io::Result<(MqttBroker, task::JoinHandle<()>)> {
        let auth = Authenticator::new(&parts.config.mqtt)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let listeners = Listeners {
            tcp: bind(&parts.config.broker.mqtt_listen).await?,
            ws: bind(&parts.config.broker.mqtt_ws_listen).await?,
            tls: bind_tls(parts.tls.as_ref(), &parts.config.broker.mqtt_tls_listen).await?,
        };
        let broker = MqttBroker { core: Arc::default() };
        let cell = broker.core.clone();
        let task = task::spawn(async move {
            let core = build(parts, auth).await;
            let _ = cell.set(core.clone());
            serve(core, listeners).await;
        });
        Ok((broker, task))
    }

    /// The core, once started.
    pub fn core(&self) -> Option<Arc<Core>> {
        self.core.get().cloned()
    }

    /// Handles `broker.mqtt.*` RPC methods.
    pub async fn call(&self, method: &str, body: Bytes) -> Result<Bytes, crate::rpc::RemoteError> {
        use crate::rpc::RemoteError;
        let Some(core) = self.core() else {
            return Err(RemoteError::new(RemoteError::APPLICATION, "the MQTT front-end is starting"));
        };
        match method {
            takeover::RELEASE => {
                let req: takeover::ReleaseRequest = serde_json::from_slice(&body).map_err(RemoteError::bad_request)?;
                let released = takeover::local(&core, &req.client_id).await;
                serde_json::to_vec(&released)
                    .map(Bytes::from)
                    .map_err(|e| RemoteError::new(RemoteError::APPLICATION, e.to_string()))
            }
            other => Err(RemoteError::new(RemoteError::NO_SUCH_METHOD, format!("no method {other:?}"))),
        }
    }

    /// Tells every connection the broker is stopping (MQTT 5: DISCONNECT 0x8B).
    pub async fn shutdown(&self) {
        if let Some(core) = self.core() {
            for c in core.controls.all() {
                let _ = c.try_push(takeover::Control::Shutdown);
            }
        }
    }
}

/// Waits for the namespace log and builds the core.
async fn build(parts: MqttParts, auth: Authenticator) -> Arc<Core> {
    let MqttParts { config, meta, view, data, unsafe_ack_before_append, tls: _, metrics } = parts;
    let cluster_nodes = config.meta_peers().map(|p| p.len()).unwrap_or(1).max(config.meta.endpoints.len());
    let shards = namespace::ensure(&meta, &view, &config.mqtt, cluster_nodes as u32).await;
    if !config.mqtt.bindings.is_empty() {
        task::spawn(namespace::bind_configured(meta.clone(), config.mqtt.clone()));
    }
    let producer = loop {
        match data.producer().await {
            Ok(p) => break p,
            Err(e) => tracing::debug!(error = %e, "MQTT: allocating a producer id; will retry"),
        }
        time::sleep(Duration::from_millis(500)).await;
    };
    let appender = Appender::start(namespace::TOPIC, shards, producer);
    let batcher = MetaBatcher::start(meta.clone());
    // Sessions this broker served before a restart have no connection any more.
    loop {
        let op = MqttOp::BrokerStarted { broker: config.node_id, now_ms: time::wall_ms() };
        match batcher.apply(op).await {
            Ok(MqttResult::Done) => break,
            other => tracing::debug!(?other, "MQTT: recording this broker's start; will retry"),
        }
        time::sleep(Duration::from_millis(500)).await;
    }
    let mut core = Core {
        node: config.node_id,
        broker: config.broker.clone(),
        mqtt: config.mqtt.clone(),
        meta,
        view,
        data,
        shards,
        appender,
        batcher,
        tailers: Vec::new(),
        router: Default::default(),
        next_key: Default::default(),
        stats: MqttStats::default(),
        metrics,
        controls: Default::default(),
        auth,
        started_ms: time::wall_ms(),
        unsafe_ack_before_append,
    };
    for shard in 0..shards {
        let pos = tail::start_position(&core, shard).await;
        core.tailers.push(Tailer::new(shard, pos));
    }
    tracing::info!(node = core.node, shards, "MQTT front-end ready");
    let core = Arc::new(core);
    let weak = Arc::downgrade(&core);
    core.metrics.on_scrape(Box::new(move || {
        if let Some(core) = weak.upgrade() {
            scrape(&core);
        }
    }));
    core
}

/// Mirrors the front-end's figures into the node's metrics.
fn scrape(core: &Core) {
    let (m, s) = (&core.metrics.mqtt, &core.stats);
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    {
        let router = core.router();
        m.sessions.set(router.session_count() as i64);
        m.subscriptions.set(router.subscription_count() as i64);
    }
    m.connections.set(load(&s.connections) as i64);
    m.connections_opened.sync(load(&s.connections_total));
    m.connections_refused.sync(load(&s.connections_refused));
    m.messages_received.sync(load(&s.messages_received));
    m.messages_sent.sync(load(&s.messages_sent));
    m.bytes_received.sync(load(&s.bytes_received));
    m.bytes_sent.sync(load(&s.bytes_sent));
    m.protocol_errors.sync(load(&s.protocol_errors));
    m.messages_dropped.sync(load(&s.shared_dropped));
    m.queue_overflows.sync(load(&s.overflows));
    m.bad_records.sync(load(&s.bad_records));
}

/// Runs the background loops and the accept loops.
async fn serve(core: Arc<Core>, listeners: Listeners) {
    for t in &core.tailers {
        task::spawn(tail::run(core.clone(), t.clone()));
    }
    task::spawn(commit_loop(core.clone()));
    task::spawn(sweep_loop(core.clone()));
    if core.mqtt.sys_interval_s > 0 {
        task::spawn(sys_loop(core.clone()));
    }
    let limit = Arc::new(Semaphore::new(core.broker.connections_max));
    if let Some(l) = listeners.ws {
        let (c, frame_max) = (core.clone(), core.broker.packet_bytes_max + 16);
        task::spawn(accept_loop("mqtt-ws", l, limit.clone(), move |stream, peer| {
            let core = c.clone();
            async move {
                if let Some(pipe) = crate::broker::ws::accept(stream, WS_PROTOCOLS, frame_max).await {
                    connection::serve(core, pipe, peer).await;
                }
            }
        }));
    }
    #[cfg(not(madsim))]
    if let Some((l, acceptor)) = listeners.tls {
        let c = core.clone();
        task::spawn(accept_tls_loop("mqtt-tls", l, acceptor, limit.clone(), move |stream, peer| {
            connection::serve(c.clone(), stream, peer)
        }));
    }
    if let Some(l) = listeners.tcp {
        let c = core.clone();
        accept_loop("mqtt", l, limit, move |stream, peer| connection::serve(c.clone(), stream, peer)).await;
    }
}

/// Commits persistent sessions' cursors that moved.
async fn commit_loop(core: Arc<Core>) {
    loop {
        time::sleep(COMMIT_EVERY).await;
        let tails = core.tails();
        let sessions: Vec<_> = core.router().sessions().filter(|s| s.persistent).cloned().collect();
        for s in sessions {
            let cursors = s.cursors_to_commit(&tails);
            if cursors.is_empty() {
                continue;
            }
            let op = MqttOp::Progress {
                client_id: s.client_id.clone(),
                generation: s.generation,
                cursors,
                qos2_out: vec![],
                qos2_in: vec![],
            };
            core.batcher.submit(op).await;
        }
    }
}

/// On the live broker with the lowest id: sessions of dead brokers, due wills, expired
/// sessions (`MqttOp::Sweep`); publishes the wills it returns.
async fn sweep_loop(core: Arc<Core>) {
    loop {
        time::sleep(SWEEP_EVERY).await;
        let view = core.view.current();
        let first = view.nodes.values().filter(|n| n.alive && n.roles.contains(&Role::Broker)).map(|n| n.id).min();
        if first != Some(core.node) {
            continue;
        }
        let r = core.batcher.apply(MqttOp::Sweep { now_ms: time::wall_ms() }).await;
        match r {
            Ok(MqttResult::Wills(wills)) => {
                for due in wills {
                    task::spawn(publish::publish_due_will(core.clone(), due));
                }
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "MQTT sweep failed; next round"),
        }
    }
}

/// Publishes this broker's statistics under `$SYS/brokers/<id>/`, retained.
async fn sys_loop(core: Arc<Core>) {
    let every = Duration::from_secs(u64::from(core.mqtt.sys_interval_s));
    loop {
        time::sleep(every).await;
        let s = &core.stats;
        let router = (core.router().session_count(), core.router().subscription_count());
        let figures: Vec<(&str, String)> = vec![
            ("version", env!("CARGO_PKG_VERSION").to_string()),
            ("uptime", format!("{} seconds", time::wall_ms().saturating_sub(core.started_ms) / 1000)),
            ("clients/connected", s.connections.load(Ordering::Relaxed).to_string()),
            ("clients/total", s.connections_total.load(Ordering::Relaxed).to_string()),
            ("sessions/local", router.0.to_string()),
            ("subscriptions/count", router.1.to_string()),
            ("messages/received", s.messages_received.load(Ordering::Relaxed).to_string()),
            ("messages/sent", s.messages_sent.load(Ordering::Relaxed).to_string()),
            ("bytes/received", s.bytes_received.load(Ordering::Relaxed).to_string()),
            ("bytes/sent", s.bytes_sent.load(Ordering::Relaxed).to_string()),
        ];
        for (name, value) in figures {
            let record = MqttRecord {
                topic: format!("$SYS/brokers/{}/{name}", core.node),
                qos: QoS::AtMostOnce,
                retain: true,
                publisher: String::new(),
                properties: PublishProperties::default(),
                payload: Bytes::from(value),
            };
            let c = core.clone();
            task::spawn(async move { publish::store_record(&c, &record).await });
        }
    }
}
