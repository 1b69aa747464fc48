//! A simulated meta cluster: madsim nodes that run `keel::node::Node` on [`SimDisk`]s.
//!
//! Each node's process is supervised as `systemd Restart=always` would: a node whose Raft stops
//! on a fatal storage error, or that fails to start, exits (as `keel server` does), and the
//! cluster's process supervisor starts it again a second later with its disk as it was (a
//! process exit loses nothing the OS had). A node killed by the nemesis is a power loss: its
//! disk keeps only what it had synced ([`SimDisk::crash`]) when it restarts. A meta node that
//! refuses to start because its meta store is damaged is not restarted as is: the simulated
//! operator repairs it ([`crate::repair`]).

use keel::node::ObjectTier;
use keel_storage::object::FaultyStore;
use keel_storage::object_store::memory::InMemory;
use keel_storage::ObjectConfig;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::rand::Rng;
use keel::config::Config;
use keel::meta::log_store::StoreOptions;
use keel::meta::records::Role;
use keel::meta::store_format::MetaDamage;
use keel::meta::MetaNode;
use keel::node::{Node, NodeParts};
use keel_rt::disk::SimDisk;
use keel_rt::{rand, time};
use madsim::runtime::{Handle, NodeHandle};
use madsim::task::NodeId as SimNodeId;
use openraft::ServerState;

use crate::history::Recorder;
use crate::repair::{self, Operator, Target};
use crate::settings::Settings;

/// The RPC port every simulated node listens on.
pub const RPC_PORT: u16 = 7100;
/// The MQTT port of simulated brokers.
pub const MQTT_PORT: u16 = 1883;
/// Where simulated brokers serve Kafka.
pub const KAFKA_PORT: u16 = 9092;

/// One simulated meta node.
pub struct SimNode {
    pub id: u64,
    pub handle: NodeHandle,
    pub disk: SimDisk,
    pub addr: String,
    pub alive: bool,
    pub paused: bool,
}

impl SimNode {
    pub fn sim_id(&self) -> SimNodeId {
        self.handle.id()
    }
}

/// The running meta nodes' handles, by node id, for the final checks.
pub type Registry = Arc<Mutex<BTreeMap<u64, MetaNode>>>;

/// What the simulation can look into on every running node (meta or not), by node id.
#[derive(Clone)]
pub struct NodeProbe {
    pub view: keel::meta::view::ViewHandle,
    pub store: Option<keel::store::StoreNode>,
}

/// The running nodes' probes.
pub type Probes = Arc<Mutex<BTreeMap<u64, NodeProbe>>>;

/// Nodes the nemesis disturbed — killed, paused, cut off from others, slowed — as (node id, or
/// [`ALL_NODES`] for network-wide faults; simulated ms since the run started).
pub type Disturbances = Arc<Mutex<Vec<(u64, u64)>>>;

/// The node id of a disturbance that touched every node (packet loss, latency).
pub const ALL_NODES: u64 = u64::MAX;

/// Nodes whose process exited and awaits a restart by the supervisor (or, for [`Damaged`], a
/// repair by the operator).
pub type Exits = Arc<Mutex<std::collections::BTreeSet<u64>>>;

/// Meta nodes that refused to start on a damaged meta store and await the operator.
pub type Damaged = Exits;

/// The cluster.
pub struct MetaCluster {
    pub nodes: Vec<SimNode>,
    /// Nodes without the meta role (`settings.data_nodes`): storage only for now. The nemesis
    /// leaves them alone.
    pub data: Vec<SimNode>,
    pub registry: Registry,
    pub probes: Probes,
    /// Every disturbance so far, for checkers that excuse what a crash or a partition may do.
    pub disturbances: Disturbances,
    pub exits: Exits,
    pub damaged: Damaged,
    /// Meta nodes repaired by the operator so far.
    pub repairs: Arc<std::sync::atomic::AtomicU64>,
    /// A host for operator actions (membership changes) and the process supervisor.
    pub operator: NodeHandle,
    /// The object store every node tiers `object` topics to (a bucket outside the nodes: it
    /// survives their crashes), with injectable faults.
    pub objects: FaultyStore,
}

/// The address of meta node `id`.
pub fn meta_ip(id: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 1, id as u8))
}

/// The address of data node `id` (ids follow the meta nodes').
pub fn data_ip(id: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 4, id as u8))
}

impl MetaCluster {
    /// Builds and starts `settings.meta_nodes` nodes.
    pub fn start(settings: &Settings, store: StoreOptions, recorder: &Recorder) -> MetaCluster {
        let handle = Handle::current();
        let registry: Registry = Arc::default();
        let probes: Probes = Arc::default();
        let exits: Exits = Arc::default();
        let damaged: Damaged = Arc::default();
        let ids: Vec<u64> = (1..=settings.meta_nodes as u64).collect();
        let peers: BTreeMap<String, String> =
            ids.iter().map(|id| (id.to_string(), format!("{}:{RPC_PORT}", meta_ip(*id)))).collect();
        let objects = FaultyStore::from_runtime(Arc::new(InMemory::new()));
        let object_tier =
            ObjectTier { store: Arc::new(objects.clone()), prefix: String::new(), config: sim_object_config() };
        let shared = NodeCtx {
            config: Config::default(),
            disk: SimDisk::new(0),
            store: store.clone(),
            object_tier: object_tier.clone(),
            recorder: recorder.clone(),
            registry: registry.clone(),
            probes: probes.clone(),
            exits: exits.clone(),
            damaged: damaged.clone(),
        };
        let mut nodes = Vec::new();
        for &id in &ids {
            let mut config = Config { node_id: id, roles: vec![Role::Meta, Role::Storage], ..Config::default() };
            config.rpc.listen = format!("{}:{RPC_PORT}", meta_ip(id));
            config.admin.listen = String::new();
            config.meta.peers = peers.clone();
            config.meta.snapshot_every_entries = settings.snapshot_every_entries;
            config.meta.log_keep_entries = settings.snapshot_every_entries / 2;
            let disk = SimDisk::new(settings.seed.wrapping_mul(31).wrapping_add(id));
            disk.set_faults(keel_rt::disk::DiskFaults::ssd());
            let ctx = shared.ctx(config, disk.clone());
            nodes.push(start_node(&handle, ctx, format!("meta-{id}"), meta_ip(id), disk));
        }
        let mut data = Vec::new();
        for id in (1..=settings.data_nodes as u64).map(|i| settings.meta_nodes as u64 + i) {
            let mut config = Config { node_id: id, roles: settings.data_roles.clone(), ..Config::default() };
            config.rpc.listen = format!("{}:{RPC_PORT}", data_ip(id));
            config.admin.listen = String::new();
            config.broker.mqtt_listen = format!("{}:{MQTT_PORT}", data_ip(id));
            config.broker.mqtt_ws_listen = String::new();
            config.broker.kafka_listen = format!("{}:{KAFKA_PORT}", data_ip(id));
            config.mqtt.sys_interval_s = 0;
            config.mqtt.shards = 2;
            config.meta.endpoints = peers.values().cloned().collect();
            let disk = SimDisk::new(settings.seed.wrapping_mul(31).wrapping_add(id));
            let ctx = shared.ctx(config, disk.clone());
            data.push(start_node(&handle, ctx, format!("data-{id}"), data_ip(id), disk));
        }
        let operator = handle.create_node().name("operator").ip(IpAddr::V4(Ipv4Addr::new(10, 0, 3, 1))).build();
        let disturbances = Disturbances::default();
        let repairs = Arc::default();
        MetaCluster { nodes, data, registry, probes, disturbances, exits, damaged, repairs, operator, objects }
    }

    /// The running node that leads in the highest term, if any.
    pub fn leader(&self) -> Option<MetaNode> {
        leader_of(&self.registry)
    }

    /// Restarts nodes whose process exited, a second after they did, and has the operator
    /// repair meta nodes that found their meta store damaged. Runs until the run ends.
    pub fn supervise_processes(&self) -> impl std::future::Future<Output = ()> + 'static {
        let exits = self.exits.clone();
        let op =
            Operator { registry: self.registry.clone(), damaged: self.damaged.clone(), repairs: self.repairs.clone() };
        let ids: BTreeMap<u64, SimNodeId> = self.nodes.iter().chain(&self.data).map(|n| (n.id, n.sim_id())).collect();
        let targets: BTreeMap<u64, Target> = self
            .nodes
            .iter()
            .map(|n| (n.id, Target { id: n.id, sim_id: n.sim_id(), disk: n.disk.clone(), addr: n.addr.clone() }))
            .collect();
        let repairing: Exits = Arc::default();
        async move {
            loop {
                time::sleep(Duration::from_secs(1)).await;
                let due = std::mem::take(&mut *exits.lock().unwrap_or_else(|e| e.into_inner()));
                for id in due {
                    tracing::info!(node = id, "supervisor: restarting the exited process");
                    // madsim's `restart` alone keeps the node's sockets bound; `kill` frees them.
                    Handle::current().kill(ids[&id]);
                    Handle::current().restart(ids[&id]);
                }
                // A report made while a repair of the node is under way waits for its end.
                let due: Vec<u64> = {
                    let damaged = op.damaged.lock().unwrap_or_else(|e| e.into_inner());
                    let mut busy = repairing.lock().unwrap_or_else(|e| e.into_inner());
                    let due: Vec<u64> = damaged.iter().copied().filter(|id| !busy.contains(id)).collect();
                    busy.extend(&due);
                    due
                };
                for id in due {
                    let (target, op, repairing) = (targets[&id].clone(), op.clone(), repairing.clone());
                    keel_rt::task::spawn(async move {
                        repair::repair(target, op).await;
                        repairing.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                    });
                }
            }
        }
    }

    /// The RPC addresses of every node.
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr.clone()).collect()
    }

    /// Meta nodes and data nodes together: node `i` of [`node`](Self::node) is meta node `i`
    /// below `nodes.len()`, data node `i - nodes.len()` above.
    pub fn all_len(&self) -> usize {
        self.nodes.len() + self.data.len()
    }

    /// Records that the nemesis disturbed `ids` now.
    pub fn disturbed(&self, ids: &[u64]) {
        let at = time::since_start().as_millis() as u64;
        self.disturbances.lock().unwrap_or_else(|e| e.into_inner()).extend(ids.iter().map(|id| (*id, at)));
    }

    /// Node `i` of the meta and data nodes together.
    pub fn node(&self, i: usize) -> &SimNode {
        match i.checked_sub(self.nodes.len()) {
            Some(d) => &self.data[d],
            None => &self.nodes[i],
        }
    }

    /// Node `i` of the meta and data nodes together, to change.
    pub fn node_mut(&mut self, i: usize) -> &mut SimNode {
        match i.checked_sub(self.nodes.len()) {
            Some(d) => &mut self.data[d],
            None => &mut self.nodes[i],
        }
    }

    /// Power loss on node `i` (of all nodes): the process dies and the disk keeps only what it
    /// synced.
    pub fn kill(&mut self, i: usize) {
        let registry = self.registry.clone();
        let (probes, exits) = (self.probes.clone(), self.exits.clone());
        let id = self.node(i).id;
        self.disturbed(&[id]);
        let n = self.node_mut(i);
        Handle::current().kill(n.sim_id());
        n.disk.crash();
        n.alive = false;
        n.paused = false;
        registry.lock().unwrap_or_else(|e| e.into_inner()).remove(&n.id);
        probes.lock().unwrap_or_else(|e| e.into_inner()).remove(&n.id);
        exits.lock().unwrap_or_else(|e| e.into_inner()).remove(&n.id);
        tracing::info!(node = n.id, "nemesis: killed (power loss)");
    }

    /// Starts node `i` (of all nodes) again after a kill.
    pub fn restart(&mut self, i: usize) {
        let n = self.node_mut(i);
        Handle::current().restart(n.sim_id());
        n.alive = true;
        n.paused = false;
        tracing::info!(node = n.id, "nemesis: restarted");
    }
}

/// The running node of `registry` that leads in the highest term, if any.
pub fn leader_of(registry: &Registry) -> Option<MetaNode> {
    let reg = registry.lock().unwrap_or_else(|e| e.into_inner());
    reg.values()
        .map(|m| (m.status(), m))
        .filter(|(s, _)| s.leader == Some(s.id))
        .max_by_key(|(s, _)| s.term)
        .map(|(_, m)| m.clone())
}

/// Creates the simulated host of one node and starts its process.
fn start_node(handle: &Handle, ctx: NodeCtx, name: String, ip: IpAddr, disk: SimDisk) -> SimNode {
    let id = ctx.config.node_id;
    let node = handle.create_node().name(name).ip(ip).init(move || supervise(ctx.clone())).build();
    SimNode { id, handle: node, disk, addr: format!("{ip}:{RPC_PORT}"), alive: true, paused: false }
}

impl NodeCtx {
    /// The context of a node with `config` and `disk`, sharing the rest with `self`.
    fn ctx(&self, config: Config, disk: SimDisk) -> NodeCtx {
        NodeCtx { config, disk, ..self.clone() }
    }
}

#[derive(Clone)]
struct NodeCtx {
    config: Config,
    disk: SimDisk,
    store: StoreOptions,
    object_tier: ObjectTier,
    recorder: Recorder,
    registry: Registry,
    probes: Probes,
    exits: Exits,
    damaged: Damaged,
}

/// Small segments and a small local budget, so that a short run really seals, uploads,
/// evicts and reads back through the object store.
fn sim_object_config() -> ObjectConfig {
    let mut c = ObjectConfig { local_bytes_max: 1024, ..ObjectConfig::default() };
    c.segment.segment_bytes_max = 512;
    c.segment.index_interval_bytes = 256;
    c
}

/// The node's process: runs until Raft stops on a fatal error, then exits.
async fn supervise(ctx: NodeCtx) {
    {
        // Processes never start in the same nanosecond; without this, every node's Raft ticks
        // on the same instants and elections split forever.
        let stagger = rand::rng().gen_range(0..200);
        time::sleep(Duration::from_millis(stagger)).await;
        let id = ctx.config.node_id;
        let rec = ctx.recorder.clone();
        let hook: keel::meta::state_machine::ApplyHook =
            Arc::new(move |index, term, hash| rec.applied(id, index, term, hash));
        let parts = NodeParts {
            config: ctx.config.clone(),
            disk: Arc::new(ctx.disk.clone()),
            apply_hook: Some(hook),
            store: ctx.store.clone(),
            object_tier: Some(ctx.object_tier.clone()),
            tls: None,
        };
        match Node::start(parts).await {
            Ok(node) => {
                let probe = NodeProbe { view: node.view.clone(), store: node.store.clone() };
                ctx.probes.lock().unwrap_or_else(|e| e.into_inner()).insert(id, probe);
                let Some(meta) = node.meta.clone() else { return std::future::pending().await };
                ctx.registry.lock().unwrap_or_else(|e| e.into_inner()).insert(id, meta.clone());
                watch_until_fatal(&meta, &ctx.recorder).await;
                tracing::warn!(node = id, "raft stopped on a fatal error; the process exits");
                ctx.registry.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
                ctx.probes.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            }
            Err(e) if MetaDamage::find(&e).is_some() => {
                tracing::warn!(node = id, error = %e, "node refuses to start; the process exits");
                ctx.damaged.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
                std::future::pending::<()>().await;
            }
            Err(e) => tracing::warn!(node = id, error = %e, "node failed to start; the process exits"),
        }
        ctx.exits.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
        std::future::pending::<()>().await;
    }
}

/// Records every term in which this node was leader; returns when Raft stops.
async fn watch_until_fatal(meta: &MetaNode, recorder: &Recorder) {
    let mut rx = meta.raft.metrics();
    loop {
        let (state, term, fatal) = {
            let m = rx.borrow();
            (m.state, m.current_term, m.running_state.is_err())
        };
        if state == ServerState::Leader {
            recorder.leader(term, meta.id);
        }
        if fatal || rx.changed().await.is_err() {
            return;
        }
    }
}
