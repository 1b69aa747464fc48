//! One Keel process: binds its listeners and starts its roles. Production (`keel server`) and
//! simulation (`keel-sim`) start nodes through this same entry point.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use keel_rt::disk::Disk;
use keel_rt::{net, task, time};

use crate::broker::kafka::{KafkaBroker, KafkaParts};
use crate::broker::mqtt::{MqttBroker, MqttParts};
use crate::client::DataClient;
use crate::config::Config;
use crate::meta::client::MetaClient;
use crate::meta::command::MetaCommand;
use crate::meta::log_store::StoreOptions;
use crate::meta::network::Peers;
use crate::meta::records::Role;
use crate::meta::state_machine::ApplyHook;
use crate::meta::view::ViewHandle;
use crate::meta::MetaNode;
use crate::rpc::{self, RemoteError, RpcServerConfig, RpcService};
pub use crate::store::ObjectTier;
use crate::store::StoreNode;

/// What a node is started with.
pub struct NodeParts {
    pub config: Config,
    pub disk: Arc<dyn Disk>,
    /// Simulation only: observe every applied meta entry.
    pub apply_hook: Option<ApplyHook>,
    /// Simulation only: unsafe store switches.
    pub store: StoreOptions,
    /// Where `object` topics tier their sealed segments, and the engine's limits; `None`:
    /// `object` topics cannot be served here.
    pub object_tier: Option<ObjectTier>,
    /// The broker's TLS certificate and key, when `[broker] tls_cert_file` is set.
    pub tls: Option<crate::broker::TlsFiles>,
}

/// A running node.
pub struct Node {
    pub config: Config,
    pub meta: Option<MetaNode>,
    pub meta_client: MetaClient,
    /// This node's view of the cluster metadata (the meta watch), shared by its roles.
    pub view: ViewHandle,
    pub store: Option<StoreNode>,
    pub mqtt: Option<MqttBroker>,
    pub kafka: Option<KafkaBroker>,
    tasks: Vec<task::JoinHandle<()>>,
}

/// Routes RPC methods to the node's roles: `shard.*` to storage, `broker.*` to the broker, the
/// rest to meta.
struct NodeService {
    meta: Option<MetaNode>,
    store: Option<StoreNode>,
    mqtt: Option<MqttBroker>,
}

#[async_trait::async_trait]
impl RpcService for NodeService {
    async fn call(&self, method: &str, body: bytes::Bytes) -> Result<bytes::Bytes, RemoteError> {
        let none = || RemoteError::new(RemoteError::NO_SUCH_METHOD, format!("no method {method:?} on this node"));
        if method.starts_with("shard.") {
            return self.store.as_ref().ok_or_else(none)?.call(method, body).await;
        }
        if method.starts_with("broker.mqtt.") {
            return self.mqtt.as_ref().ok_or_else(none)?.call(method, body).await;
        }
        self.meta.as_ref().ok_or_else(none)?.call(method, body).await
    }
}

impl Node {
    /// Binds the listeners and starts every configured role, each through its own entry.
    pub async fn start(parts: NodeParts) -> io::Result<Node> {
        let NodeParts { config, disk, apply_hook, store: options, object_tier, tls } = parts;
        let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);
        config.validate().map_err(invalid)?;
        let peers = Peers::with_connect_via(config.rpc.connect_via.clone());
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let meta_peers = config.meta_peers().map_err(invalid)?;
        let rpc_listener = net::TcpListener::bind(config.rpc.listen.as_str()).await?;
        let mut tasks = Vec::new();

        let meta = match config.roles.contains(&Role::Meta) {
            true => Some(start_meta(&config, disk.clone(), peers.clone(), &options, apply_hook, &mut tasks).await?),
            false => None,
        };
        let endpoints = match config.meta.endpoints.is_empty() {
            true => meta_peers.values().cloned().collect(),
            false => config.meta.endpoints.clone(),
        };
        let meta_client = MetaClient::new(endpoints, peers.clone());
        let (view, watching) = ViewHandle::start(meta_client.clone(), config.roles.contains(&Role::Broker));
        tasks.push(watching);
        let store = config.roles.contains(&Role::Storage).then(|| {
            let mut store = storage_role(&config, disk.clone(), &peers, &meta_client, &options, object_tier);
            store.metrics = metrics.clone();
            crate::store::figures::scrape_into(&store, &view, &metrics);
            tasks.push(store.clone().start(view.clone()));
            store
        });
        let (mqtt, kafka) = match config.roles.contains(&Role::Broker) {
            true => {
                let w = BrokerWiring {
                    config: &config,
                    peers: &peers,
                    meta: &meta_client,
                    view: &view,
                    tls,
                    metrics: &metrics,
                };
                let mqtt = start_broker(&w, &options, &mut tasks).await?;
                let kafka = start_kafka(&w, &mut tasks).await?;
                (Some(mqtt), kafka)
            }
            false => (None, None),
        };
        let service: Arc<dyn RpcService> =
            Arc::new(NodeService { meta: meta.clone(), store: store.clone(), mqtt: mqtt.clone() });
        peers.set_local(&config.advertise_addr(), service.clone());
        tasks.push(task::spawn(rpc::serve(rpc_listener, service, RpcServerConfig::default())));
        if let Some(m) = &meta {
            // Only the bootstrap voters initialise; a joiner waits to be added.
            let bootstrap = meta_peers.contains_key(&config.node_id);
            if bootstrap && !m.raft.is_initialized().await.map_err(io::Error::other)? {
                m.initialize(&meta_peers).await.map_err(io::Error::other)?;
            }
        }

        tasks.push(task::spawn(register(meta_client.clone(), &config)));
        tasks.push(task::spawn(heartbeat(meta_client.clone(), config.node_id, config.meta.node_heartbeat_ms)));

        if !config.admin.listen.is_empty() {
            let listener = net::TcpListener::bind(config.admin.listen.as_str()).await?;
            let mut state = crate::admin::AdminState::new(config.node_id, meta.clone(), meta_client.clone());
            state.metrics = metrics.clone();
            if !config.mqtt.allow_anonymous {
                let auth = crate::broker::auth::Authenticator::new(&config.mqtt).map_err(io::Error::other)?;
                state.auth = Some(Arc::new(auth));
            }
            tasks.push(task::spawn(crate::admin::serve(listener, state)));
        }
        tracing::info!(node_id = config.node_id, rpc = %config.rpc.listen, admin = %config.admin.listen, roles = ?config.roles, "node started");
        Ok(Node { config, meta, meta_client, view, store, mqtt, kafka, tasks })
    }

    /// Resolves when a role stops on a fatal error (such as a failed sync): a node that cannot
    /// keep its promises fences itself, and the process should exit.
    pub async fn fatal(&self) -> String {
        let Some(m) = &self.meta else { return std::future::pending().await };
        let mut rx = m.raft.metrics();
        loop {
            if let Err(e) = &rx.borrow().running_state {
                return format!("meta raft stopped: {e}");
            }
            if rx.changed().await.is_err() {
                return "meta raft stopped".into();
            }
        }
    }

    /// Stops the node's tasks and its Raft (clients are told first).
    pub async fn shutdown(self) {
        if let Some(m) = &self.mqtt {
            m.shutdown().await;
            time::sleep(Duration::from_millis(100)).await;
        }
        for t in &self.tasks {
            t.abort();
        }
        if let Some(m) = &self.meta {
            let _ = m.raft.shutdown().await;
        }
        tracing::info!(node_id = self.config.node_id, "node stopped");
    }
}

/// The meta role: Raft over this node's disk, and the scheduling loop (which acts only while
/// this node leads).
async fn start_meta(
    config: &Config,
    disk: Arc<dyn Disk>,
    peers: Peers,
    options: &StoreOptions,
    apply_hook: Option<ApplyHook>,
    tasks: &mut Vec<task::JoinHandle<()>>,
) -> io::Result<MetaNode> {
    let mut mc = config.meta_config();
    mc.schedule.unsafe_elect_out_of_sync = options.unsafe_elect_out_of_sync;
    mc.store = options.clone();
    let node = MetaNode::start(config.node_id, disk, "meta", peers, &mc, apply_hook).await?;
    tasks.push(task::spawn(node.clone().schedule_loop(mc.schedule.clone())));
    Ok(node)
}

/// What the broker role's front-ends are built from.
struct BrokerWiring<'a> {
    config: &'a Config,
    peers: &'a Peers,
    meta: &'a MetaClient,
    view: &'a ViewHandle,
    tls: Option<crate::broker::TlsFiles>,
    metrics: &'a Arc<crate::metrics::Metrics>,
}

impl BrokerWiring<'_> {
    fn data(&self) -> DataClient {
        DataClient::new(self.meta.clone(), self.peers.clone()).with_view(self.view.clone())
    }
}

/// The broker role: the MQTT front-end (its listeners bound now; it serves once the namespace
/// log exists).
async fn start_broker(
    w: &BrokerWiring<'_>,
    options: &StoreOptions,
    tasks: &mut Vec<task::JoinHandle<()>>,
) -> io::Result<MqttBroker> {
    let parts = MqttParts {
        config: w.config.clone(),
        meta: w.meta.clone(),
        view: w.view.clone(),
        data: w.data(),
        unsafe_ack_before_append: options.unsafe_mqtt_ack_before_append,
        tls: w.tls.clone(),
        metrics: w.metrics.clone(),
    };
    let (broker, task) = MqttBroker::start(parts).await?;
    tasks.push(task);
    Ok(broker)
}

/// The broker role's Kafka front-end (its listeners bound now), unless it has none.
async fn start_kafka(w: &BrokerWiring<'_>, tasks: &mut Vec<task::JoinHandle<()>>) -> io::Result<Option<KafkaBroker>> {
    let parts = KafkaParts {
        config: w.config.clone(),
        meta: w.meta.clone(),
        view: w.view.clone(),
        data: w.data(),
        tls: w.tls.clone(),
        metrics: w.metrics.clone(),
    };
    Ok(KafkaBroker::start(parts).await?.map(|(broker, task)| {
        tasks.push(task);
        broker
    }))
}

/// The storage role's settings (it starts following the view in [`StoreNode::start`]).
fn storage_role(
    config: &Config,
    disk: Arc<dyn Disk>,
    peers: &Peers,
    meta: &MetaClient,
    options: &StoreOptions,
    object_tier: Option<ObjectTier>,
) -> StoreNode {
    let mut s = StoreNode::new(config.node_id, disk, peers.clone(), meta.clone());
    s.unsafe_ack_before_sync = options.unsafe_shard_ack_before_sync || options.unsafe_ack_before_replication;
    s.replica_config.unsafe_ack_before_replication = options.unsafe_ack_before_replication;
    s.object_tier = object_tier;
    s.segment_bytes_max = options.shard_segment_bytes_max;
    if let Some(lag) = options.shard_lag_ms_max {
        s.replica_config.lag_ms_max = lag;
    }
    s
}

/// Tells the meta leader this node is alive, every `interval_ms`.
async fn heartbeat(client: MetaClient, id: u64, interval_ms: u64) {
    let mut tick = time::interval(Duration::from_millis(interval_ms));
    loop {
        tick.tick().await;
        if let Err(e) = client.heartbeat(id).await {
            tracing::debug!(error = %e, "heartbeat not delivered");
        }
    }
}

/// Registers this node in the cluster metadata, retrying until it is recorded.
fn register(client: MetaClient, config: &Config) -> impl std::future::Future<Output = ()> + Send + 'static {
    let broker = config.roles.contains(&Role::Broker);
    let cmd = MetaCommand::RegisterNode {
        id: config.node_id,
        addr: config.advertise_addr(),
        roles: config.roles.clone(),
        kafka_addr: broker.then(|| config.kafka_advertise_addr()).flatten(),
        kafka_tls_addr: broker.then(|| config.kafka_tls_advertise_addr()).flatten(),
    };
    async move {
        loop {
            match client.write(&cmd).await {
                Ok(_) => return,
                Err(e) => tracing::debug!(error = %e, "registering with meta, will retry"),
            }
            time::sleep(Duration::from_millis(500)).await;
        }
    }
}
