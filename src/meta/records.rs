//! The records of cluster metadata: nodes, their roles, topics and their shards. A leaf
//! module: the commands, the state machine, the watch and every role read these types, and
//! they depend on nothing else of Keel's.

use serde::{Deserialize, Serialize};

/// A node's id in the cluster (all roles share one id space).
pub type NodeId = u64;

/// What a node does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Meta,
    Broker,
    Storage,
}

/// How a topic's shards store records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Memory,
    Segment,
    Object,
    Rocksdb,
}

impl std::str::FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "memory" => Ok(Engine::Memory),
            "segment" => Ok(Engine::Segment),
            "object" => Ok(Engine::Object),
            "rocksdb" => Ok(Engine::Rocksdb),
            other => Err(format!("unknown engine {other:?} (expected memory, segment, object or rocksdb)")),
        }
    }
}

/// A node of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub id: NodeId,
    pub addr: String,
    pub roles: Vec<Role>,
    pub alive: bool,
    /// Where Kafka clients reach it (`host:port`), if it serves Kafka.
    #[serde(default)]
    pub kafka_addr: Option<String>,
    /// Where Kafka clients reach it over TLS, if it has a Kafka TLS listener.
    #[serde(default)]
    pub kafka_tls_addr: Option<String>,
}

/// One shard (a topic partition): where its replicas live and who leads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    pub partition: u32,
    pub replicas: Vec<NodeId>,
    /// `None` while no eligible replica is alive (the shard is offline).
    pub leader: Option<NodeId>,
    /// Bumped by every change of leader or replicas; storage nodes reject older epochs.
    pub epoch: u64,
    /// The in-sync replicas (the leader included), as the leader last committed them.
    #[serde(default)]
    pub isr: Vec<NodeId>,
    /// Bumped by every change of the ISR (and of the leader or replicas): an ISR change names
    /// the version it was based on, so a delayed duplicate of an old request cannot apply
    /// after the ISR went away and came back to the same members.
    #[serde(default)]
    pub isr_version: u64,
}

/// A topic and its shards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    /// Unique to this incarnation of the name: a topic deleted and created again gets another,
    /// so replicas of the old one are never taken for the new one's (0: created before ids).
    #[serde(default)]
    pub id: u64,
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u32,
    pub engine: Engine,
    pub retention_ms: Option<u64>,
    pub retention_bytes: Option<u64>,
    /// 1 at creation, bumped by every update; the compare-and-set token.
    pub version: u64,
    /// Whether a replica outside the ISR may be elected when no in-sync one is alive (risks
    /// losing acknowledged records; an explicit opt-in).
    #[serde(default)]
    pub unclean_leader_election: bool,
    /// The in-sync replicas (leader included) a shard needs to accept writes: with fewer,
    /// produces are refused rather than acknowledged on too few copies. 1 to RF.
    #[serde(default = "one")]
    pub min_insync_replicas: u32,
    pub shards: Vec<ShardRecord>,
    /// Bindings: each names a Kafka topic that is a view of this topic's records whose keys
    /// (MQTT topic names) match an MQTT topic filter, name to filter. Only the MQTT namespace
    /// log has any (`docs/kafka.md`, "One log, two views").
    #[serde(default)]
    pub bindings: std::collections::BTreeMap<String, String>,
}

/// Serde's default for fields that count from one.
pub fn one() -> u32 {
    1
}
