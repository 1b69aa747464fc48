//! Workloads: what the clients do, what they record, and which checkers judge it.
//!
//! A workload sets up what it needs before the faults, runs one loop per client on its own
//! thread until told to stop, and after the cluster is healed drains what is left (final reads,
//! consumers catching up) and runs its checkers into the [`Verdict`].

pub mod kafka;
pub mod log;
pub mod metadata;
pub mod mqtt;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::Value;

use crate::history::History;
use crate::http::{self, Outcome};
use crate::verdict::Verdict;

/// Where clients reach one node.
#[derive(Clone, Debug)]
pub struct NodeAddrs {
    pub id: u64,
    pub admin: SocketAddr,
    pub kafka: SocketAddr,
    pub mqtt: SocketAddr,
}

/// What every client shares.
#[derive(Clone)]
pub struct Env {
    pub history: History,
    pub nodes: Vec<NodeAddrs>,
    pub stop: Arc<AtomicBool>,
    pub seed: u64,
}

impl Env {
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// A seeded random source for client `i`.
    pub fn rng(&self, i: usize) -> SmallRng {
        SmallRng::seed_from_u64(self.seed.wrapping_mul(1_000_003).wrapping_add(i as u64))
    }

    /// A node picked at random.
    pub fn any_node(&self, rng: &mut SmallRng) -> &NodeAddrs {
        self.nodes.choose(rng).expect("nodes")
    }

    /// Every Kafka listener, as a bootstrap list.
    pub fn kafka_bootstrap(&self) -> String {
        self.nodes.iter().map(|n| n.kafka.to_string()).collect::<Vec<_>>().join(",")
    }

    /// `method path` on some node's admin API, retried on other nodes until an answer with a
    /// status in `accept` or `limit` passes (setup and final reads, not measured operations).
    pub fn admin_until(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        accept: &[u16],
        limit: Duration,
    ) -> Result<Value, String> {
        let start = Instant::now();
        let mut last = String::new();
        for i in 0.. {
            let node = &self.nodes[i % self.nodes.len()];
            match http::request(node.admin, method, path, body, Duration::from_secs(5)) {
                Outcome::Answer(status, v) if accept.contains(&status) => return Ok(v),
                other => last = format!("{other:?}"),
            }
            if start.elapsed() > limit {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Err(format!("{method} {path}: no accepted answer within {}s (last: {last})", limit.as_secs()))
    }
}

impl Env {
    /// Creates `name` (replication factor 3, two in sync to acknowledge), or finds it there.
    pub fn create_topic(&self, name: &str, partitions: u32) -> Result<(), String> {
        let topic = serde_json::json!({ "name": name, "partitions": partitions, "replication_factor": 3, "min_insync_replicas": 2 });
        self.admin_until("POST", "/api/topics", Some(&topic), &[201, 409], Duration::from_secs(60)).map(|_| ())
    }
}

/// A workload the harness can run.
pub trait Workload: Send + Sync {
    /// Creates what the clients need, before any fault.
    fn setup(&self, env: &Env) -> Result<(), String>;
    /// Client `i`'s loop; returns once `env.stopped()`.
    fn client(&self, i: usize, env: &Env);
    /// After the heal: drains, reads back and checks.
    fn finish(&self, env: &Env, verdict: &mut Verdict);
}

/// The workload called `name`; `mqtt_qos`: the MQTT publishers' QoS levels, in turn.
pub fn by_name(name: &str, mqtt_qos: &[u8]) -> Result<Box<dyn Workload>, String> {
    Ok(match name {
        "log" => Box::<log::LogWorkload>::default(),
        "metadata" => Box::<metadata::MetadataWorkload>::default(),
        "kafka" => Box::<kafka::KafkaWorkload>::default(),
        "mqtt" => Box::new(mqtt::MqttWorkload {
            published: Default::default(),
            subscribers: Default::default(),
            qos: mqtt_qos.to_vec(),
        }),
        other => return Err(format!("unknown workload {other:?}: expected log, metadata, kafka or mqtt")),
    })
}
