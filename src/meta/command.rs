//! What clients ask of the meta state machine: commands (through the Raft log) and queries
//! (linearizable reads of the applied state).

use serde::{Deserialize, Serialize};

use super::mqtt::{MqttOp, MqttResult, SessionRecord, SessionSummary};
use super::records::{Engine, NodeId, NodeRecord, Role, ShardRecord, TopicRecord};

/// A change to cluster metadata; applied in log order on every meta node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaCommand {
    /// Adds or updates a node (id, address, roles).
    RegisterNode {
        id: NodeId,
        addr: String,
        roles: Vec<Role>,
        /// Where Kafka clients reach the node, if it serves Kafka.
        #[serde(default)]
        kafka_addr: Option<String>,
        /// Where Kafka clients reach the node over TLS, if it has that listener.
        #[serde(default)]
        kafka_tls_addr: Option<String>,
    },
    /// Marks a node alive or dead (failure detection).
    SetNodeAlive { id: NodeId, alive: bool },
    /// Creates a topic and places its shards; fails if it exists.
    CreateTopic(TopicSpec),
    /// Deletes a topic; fails if it does not exist.
    DeleteTopic { name: String },
    /// Grows a topic to `partitions` shards (never shrinks), placing the new ones like a
    /// creation does; bumps the topic's version.
    AddPartitions { name: String, partitions: u32 },
    /// Compare-and-set of a topic's settings: applies only if the topic's version is
    /// `expected_version`, and bumps it. Retention is set as given; the minimum in-sync
    /// replicas and unclean election only when `Some`.
    UpdateTopic {
        name: String,
        expected_version: u64,
        retention_ms: Option<u64>,
        retention_bytes: Option<u64>,
        #[serde(default)]
        min_insync_replicas: Option<u32>,
        #[serde(default)]
        unclean_leader_election: Option<bool>,
    },
    /// The shard leader's ISR change from `from` to `isr`; applies only in the shard's current
    /// `epoch` and while its ISR is still `from`.
    AlterIsr {
        topic: String,
        partition: u32,
        epoch: u64,
        from: Vec<NodeId>,
        isr: Vec<NodeId>,
        /// The shard's `isr_version` the change is based on (`None`: not checked).
        #[serde(default)]
        isr_version: Option<u64>,
    },
    /// A new leader (`None`: offline) and epoch for a shard whose epoch is `expected_epoch`.
    /// The leader must be in the ISR unless the topic allows unclean elections or `unclean`
    /// forces one (an operator's explicit choice to accept losing acknowledged records).
    ElectLeader {
        topic: String,
        partition: u32,
        expected_epoch: u64,
        leader: Option<NodeId>,
        #[serde(default)]
        unclean: bool,
    },
    /// Moves the replica on `old` (a lost node, not the leader) to `new`.
    ReplaceReplica { topic: String, partition: u32, expected_epoch: u64, old: NodeId, new: NodeId },
    /// Hands out a new idempotent producer id, unique in the cluster's history.
    AllocateProducerId,
    /// Rebalancing, step 1: an extra replica on `node` (not in the ISR until it catches up).
    AddReplica { topic: String, partition: u32, expected_epoch: u64, node: NodeId },
    /// Rebalancing, step 2: drops the replica on `node` (a follower) once the shard has more
    /// replicas than its replication factor.
    RemoveReplica { topic: String, partition: u32, expected_epoch: u64, node: NodeId },
    /// A replica that lost records it had reported durable (damaged storage) withdraws from
    /// the shard's ISR before it discards its copy and fetches again; refused if it is the
    /// last in-sync replica. Bumps the epoch (and drops the leadership if it led) so the
    /// leader learns the new ISR at once.
    LeaveIsr { topic: String, partition: u32, node: NodeId },
    /// Binds Kafka topic `name` to the records of `topic` whose keys match the MQTT topic
    /// `filter` (`None`: removes the binding). `name` must not be a topic or another binding;
    /// setting a binding that exists with the same filter changes nothing. Bumps the topic's
    /// version.
    Bind { topic: String, name: String, filter: Option<String> },
    /// A batch of MQTT session, retained and shared-subscription changes (`super::mqtt`), one
    /// result per op.
    Mqtt(Vec<MqttOp>),
}

/// The settings of a new topic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u32,
    pub engine: Engine,
    pub retention_ms: Option<u64>,
    pub retention_bytes: Option<u64>,
    /// See [`TopicRecord::unclean_leader_election`].
    #[serde(default)]
    pub unclean_leader_election: bool,
    /// See [`TopicRecord::min_insync_replicas`].
    #[serde(default = "crate::meta::records::one")]
    pub min_insync_replicas: u32,
}

#[cfg(test)]
impl TopicSpec {
    /// A `segment` topic with every other setting at its default, for tests.
    pub(crate) fn for_test(name: &str, partitions: u32, replication_factor: u32) -> Self {
        TopicSpec {
            name: name.into(),
            partitions,
            replication_factor,
            engine: Engine::Segment,
            retention_ms: None,
            retention_bytes: None,
            unclean_leader_election: false,
            min_insync_replicas: 1,
        }
    }
}

/// A successful command's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaOk {
    /// Nothing to report beyond success.
    Done,
    /// The topic as it is after the command.
    Topic(TopicRecord),
    /// The topic was deleted.
    Deleted,
    /// The shard as it is after the command.
    Shard(ShardRecord),
    /// A new producer id.
    ProducerId(u64),
    /// The results of an MQTT batch, in order.
    Mqtt(Vec<MqttResult>),
}

/// Why a command was refused. Refusals are part of the replicated history: every node
/// refuses the same command the same way.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaError {
    TopicExists {
        name: String,
    },
    TopicNotFound {
        name: String,
    },
    VersionMismatch {
        name: String,
        current: u64,
    },
    Invalid {
        reason: String,
    },
    NotEnoughNodes {
        needed: u32,
        available: u32,
    },
    /// A shard command's epoch is not the shard's current one.
    StaleEpoch {
        current: u64,
    },
    /// An ISR change based on an ISR that has changed since.
    StaleIsr {
        current: Vec<NodeId>,
        #[serde(default)]
        version: u64,
    },
}

impl std::fmt::Display for MetaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetaError::TopicExists { name } => write!(f, "topic {name:?} already exists"),
            MetaError::TopicNotFound { name } => write!(f, "topic {name:?} does not exist"),
            MetaError::VersionMismatch { name, current } => {
                write!(f, "topic {name:?} is at version {current}, not the expected one")
            }
            MetaError::Invalid { reason } => write!(f, "invalid request: {reason}"),
            MetaError::StaleEpoch { current } => write!(f, "stale shard epoch (current {current})"),
            MetaError::StaleIsr { current, version } => write!(f, "stale ISR (current {current:?}, version {version})"),
            MetaError::NotEnoughNodes { needed, available } => {
                write!(f, "replication factor {needed} needs {needed} live storage nodes, the cluster has {available}")
            }
        }
    }
}

impl std::error::Error for MetaError {}

/// The state machine's answer to a command.
pub type MetaResult = Result<MetaOk, MetaError>;

/// A read of the applied state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaQuery {
    Topic {
        name: String,
    },
    Topics,
    Nodes,
    /// An MQTT session, as meta has it.
    MqttSession {
        client_id: String,
    },
    /// Every MQTT session, summarised (the first `limit` by client id).
    MqttSessions {
        limit: u32,
    },
}

/// The answer to a [`MetaQuery`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueryResult {
    Topic(Option<TopicRecord>),
    Topics(Vec<TopicRecord>),
    Nodes(Vec<NodeRecord>),
    MqttSession(Option<SessionRecord>),
    MqttSessions { sessions: Vec<SessionSummary>, total: u64 },
}
