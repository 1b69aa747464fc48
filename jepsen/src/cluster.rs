//! A cluster of real `keel` processes on loopback: configs, start, SIGKILL and restart,
//! SIGSTOP/SIGCONT, and the addresses clients use.
//!
//! Node `i` (from 1) runs storage and broker roles; the first three (or all, when fewer) run
//! meta too. Every inter-node link goes through the harness's proxies ([`crate::proxy`]);
//! clients (admin API, Kafka, MQTT) reach nodes directly.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::http::{self, Outcome};
use crate::proxy::Proxies;

/// One node's ports and directory.
pub struct Node {
    pub id: u64,
    pub meta: bool,
    pub rpc: SocketAddr,
    pub admin: SocketAddr,
    pub mqtt: SocketAddr,
    pub kafka: SocketAddr,
    pub dir: PathBuf,
    child: Option<Child>,
    paused: bool,
}

impl Node {
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Whether the process runs (and is not paused).
    pub fn is_up(&self) -> bool {
        self.child.is_some() && !self.paused
    }
}

/// The cluster and its proxies.
pub struct Cluster {
    keel: PathBuf,
    /// libfaketime, preloaded into every node when clock faults are on: each node reads its
    /// clock offset from `clock` in its directory (re-read every second).
    faketime: Option<PathBuf>,
    pub nodes: Vec<Node>,
    pub proxies: Proxies,
}

/// A free loopback address, kept bound (in `held`) until the cluster's proxies have bound
/// theirs, so that no proxy takes a node's port.
fn free_addr(held: &mut Vec<TcpListener>) -> std::io::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    held.push(l);
    Ok(addr)
}

impl Cluster {
    /// Writes the configs of `n` nodes under `dir` and starts the proxies (not the nodes).
    pub fn create(keel: &Path, dir: &Path, n: usize, unsafe_ack: bool) -> std::io::Result<Cluster> {
        let mut nodes = Vec::new();
        let mut held = Vec::new();
        for id in 1..=n as u64 {
            let dir = dir.join(format!("n{id}"));
            std::fs::create_dir_all(&dir)?;
            nodes.push(Node {
                id,
                meta: id <= 3,
                rpc: free_addr(&mut held)?,
                admin: free_addr(&mut held)?,
                mqtt: free_addr(&mut held)?,
                kafka: free_addr(&mut held)?,
                dir,
                child: None,
                paused: false,
            });
        }
        let rpc: BTreeMap<u64, SocketAddr> = nodes.iter().map(|n| (n.id, n.rpc)).collect();
        let proxies = Proxies::start(&rpc)?;
        drop(held);
        let cluster = Cluster { keel: keel.to_path_buf(), faketime: None, nodes, proxies };
        for node in &cluster.nodes {
            std::fs::write(node.dir.join("keel.toml"), cluster.config(node, unsafe_ack))?;
            std::fs::write(node.dir.join("clock"), "+0\n")?;
        }
        Ok(cluster)
    }

    fn config(&self, node: &Node, unsafe_ack: bool) -> String {
        let roles = if node.meta { r#"["meta", "storage", "broker"]"# } else { r#"["storage", "broker"]"# };
        let via: Vec<String> = self
            .nodes
            .iter()
            .filter(|o| o.id != node.id)
            .map(|o| format!("\"{}\" = \"{}\"", o.rpc, self.proxies.links[&(node.id, o.id)]))
            .collect();
        let peers: String =
            self.nodes.iter().filter(|o| o.meta).map(|o| format!("{} = \"{}\"\n", o.id, o.rpc)).collect();
        format!(
            "node_id = {id}\nroles = {roles}\ndata_dir = {data:?}\n\n[rpc]\nlisten = \"{rpc}\"\nconnect_via = {{ {via} }}\n\n\
             [admin]\nlisten = \"{admin}\"\n\n[broker]\nmqtt_listen = \"{mqtt}\"\nmqtt_ws_listen = \"\"\nkafka_listen = \"{kafka}\"\n\n\
             [mqtt]\nsys_interval_s = 0\n\n[storage]\nunsafe_ack_before_replication = {unsafe_ack}\n\n[meta.peers]\n{peers}",
            id = node.id,
            data = node.data_dir(),
            rpc = node.rpc,
            via = via.join(", "),
            admin = node.admin,
            mqtt = node.mqtt,
            kafka = node.kafka,
        )
    }

    pub fn node(&self, id: u64) -> &Node {
        &self.nodes[id as usize - 1]
    }

    fn node_mut(&mut self, id: u64) -> &mut Node {
        &mut self.nodes[id as usize - 1]
    }

    pub fn ids(&self) -> Vec<u64> {
        self.nodes.iter().map(|n| n.id).collect()
    }

    /// Starts node `id`'s process (its log appends to `keel.log` in its directory).
    pub fn start(&mut self, id: u64) -> std::io::Result<()> {
        let keel = self.keel.clone();
        let faketime = self.faketime.clone();
        let node = self.node_mut(id);
        if node.child.is_some() {
            return Ok(());
        }
        let log = OpenOptions::new().create(true).append(true).open(node.dir.join("keel.log"))?;
        let mut command = Command::new(keel);
        command
            .args(["server", "--config"])
            .arg(node.dir.join("keel.toml"))
            .env("RUST_LOG", std::env::var("JEPSEN_KEEL_LOG").unwrap_or_else(|_| "info".into()))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(lib) = &faketime {
            command
                .env("LD_PRELOAD", lib)
                .env("FAKETIME_TIMESTAMP_FILE", node.dir.join("clock"))
                .env("FAKETIME_CACHE_DURATION", "1");
        }
        let child = command.spawn()?;
        node.child = Some(child);
        node.paused = false;
        Ok(())
    }

    /// Runs every node (started from now on) under libfaketime at `lib`, for clock faults.
    pub fn use_faketime(&mut self, lib: PathBuf) {
        self.faketime = Some(lib);
    }

    /// Sets node `id`'s clock `offset_s` seconds off (wall and monotonic clocks alike; the node
    /// reads it within a second). Needs [`Cluster::use_faketime`].
    pub fn set_clock(&self, id: u64, offset_s: i64) -> std::io::Result<()> {
        std::fs::write(self.node(id).dir.join("clock"), format!("{offset_s:+}\n"))
    }

    /// SIGKILLs node `id` (resuming it first if paused, so it dies at once).
    pub fn kill(&mut self, id: u64) {
        let node = self.node_mut(id);
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        node.paused = false;
    }

    fn signal(&mut self, id: u64, signal: &str) -> bool {
        let node = self.node_mut(id);
        let Some(child) = &node.child else { return false };
        Command::new("kill").args([signal, &child.id().to_string()]).status().is_ok_and(|s| s.success())
    }

    /// SIGSTOPs node `id`.
    pub fn pause(&mut self, id: u64) {
        if self.signal(id, "-STOP") {
            self.node_mut(id).paused = true;
        }
    }

    /// SIGCONTs node `id`.
    pub fn resume(&mut self, id: u64) {
        if self.signal(id, "-CONT") {
            self.node_mut(id).paused = false;
        }
    }

    /// Whether node `id`'s process exited on its own (reaped; it can be started again).
    pub fn reap(&mut self, id: u64) -> Option<String> {
        let node = self.node_mut(id);
        let status = node.child.as_mut()?.try_wait().ok()??;
        node.child = None;
        Some(format!("node {id} exited: {status}"))
    }

    /// Resumes, restarts and reconnects everything.
    pub fn heal_all(&mut self) -> std::io::Result<()> {
        self.proxies.blocked.set(Default::default());
        for id in self.ids() {
            self.set_clock(id, 0)?;
            self.resume(id);
            self.reap(id);
            self.start(id)?;
        }
        Ok(())
    }

    /// Stops every node (SIGKILL: the run is over).
    pub fn stop_all(&mut self) {
        for id in self.ids() {
            self.kill(id);
        }
    }

    /// `GET path` on node `id`'s admin API.
    pub fn admin_get(&self, id: u64, path: &str) -> Option<Value> {
        match http::request(self.node(id).admin, "GET", path, None, Duration::from_secs(3)) {
            Outcome::Answer(200, v) => Some(v),
            _ => None,
        }
    }

    /// Waits until every node answers, one meta leader is known and every node is registered
    /// alive, up to `limit`.
    pub fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        let n = self.nodes.len();
        loop {
            for id in self.ids() {
                if let Some(why) = self.reap(id) {
                    return Err(why);
                }
            }
            let ready = self.ids().iter().all(|&id| self.admin_get(id, "/health").is_some())
                && self.admin_get(1, "/api/cluster").is_some_and(|v| alive_nodes(&v) == n);
            if ready {
                return Ok(());
            }
            if start.elapsed() > limit {
                return Err(format!("the cluster was not ready within {}s", limit.as_secs()));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Cluster {
    /// The leaders of every shard of the topics clients use (not the internal `__` ones), as
    /// some running node sees them: the nodes a targeted fault hits.
    pub fn shard_leaders(&self) -> Vec<u64> {
        let Some(topics) = self.nodes.iter().filter(|n| n.is_up()).find_map(|n| self.admin_get(n.id, "/api/topics"))
        else {
            return Vec::new();
        };
        let mut leaders: Vec<u64> = topics["topics"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| !t["name"].as_str().unwrap_or("__").starts_with("__"))
            .flat_map(|t| t["shards"].as_array().cloned().unwrap_or_default())
            .filter_map(|s| s["leader"].as_u64())
            .collect();
        leaders.sort_unstable();
        leaders.dedup();
        leaders
    }
}

/// How many nodes the cluster status (`GET /api/cluster`) lists alive.
fn alive_nodes(status: &Value) -> usize {
    let nodes = status["nodes"].as_array().map(Vec::as_slice).unwrap_or_default();
    nodes.iter().filter(|n| n["alive"].as_bool().unwrap_or(false)).count()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_all();
    }
}
