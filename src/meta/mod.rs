//! The meta role: cluster metadata (nodes, topics, shard placement) on openraft.
//!
//! [`MetaNode`] composes the Raft instance with its log store, state machine and network.
//! Writes go through the Raft log; a node that is not leader forwards them one hop to the
//! leader it knows. Reads are linearizable: the serving leader confirms its leadership with a
//! quorum (read index) and waits until it has applied up to that point before reading.

pub mod bindings;
pub mod client;
pub mod command;
mod invariants;
pub mod liveness;
pub mod log_store;
pub mod mqtt;
pub mod network;
#[cfg(all(test, not(madsim)))]
mod raft_suite_test;
pub mod records;
pub mod runtime;
pub mod schedule;
pub mod service;
pub mod state;
pub mod state_machine;
pub mod store_format;
pub mod types;
pub mod view;
pub mod watch;

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::Arc;
use std::time::Duration;

use keel_rt::disk::Disk;
use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ServerState};
use serde::{Deserialize, Serialize};

use self::command::{MetaCommand, MetaQuery, MetaResult, QueryResult};
use self::log_store::{LogStore, StoreOptions};
use self::network::{NetworkFactory, Peers};
use self::records::NodeId;
use self::state_machine::{ApplyHook, StateMachineStore};
use self::types::{LogId, Raft};
use crate::rpc::RpcError;

/// How long a read waits for the entries this node had before a restart to be applied.
const READ_CATCH_UP_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a forwarded request may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a forwarded membership change may take (a new voter must catch up first).
const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings of one meta node.
#[derive(Clone, Debug)]
pub struct MetaConfig {
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Take a snapshot after this many applied entries.
    pub snapshot_every_entries: u64,
    /// Entries kept in the log behind the latest snapshot.
    pub log_keep_entries: u64,
    /// Failure detection and repair timing.
    pub schedule: schedule::ScheduleConfig,
    pub store: StoreOptions,
}

impl Default for MetaConfig {
    fn default() -> Self {
        MetaConfig {
            heartbeat_ms: 100,
            election_timeout_min_ms: 500,
            election_timeout_max_ms: 1_000,
            snapshot_every_entries: 1_000,
            log_keep_entries: 500,
            schedule: schedule::ScheduleConfig::default(),
            store: StoreOptions::default(),
        }
    }
}

/// Why a metadata request got no answer from the state machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MetaApiError {
    /// No leader is known right now; retry later. The request was not executed.
    NoLeader,
    /// The request reached a node that is not leader (after forwarding); not executed.
    NotLeader { leader: Option<NodeId> },
    /// The outcome is unknown: the request may or may not have been executed.
    Indeterminate(String),
    /// The node cannot serve (stopped, storage failed).
    Unavailable(String),
    /// The request is not allowed as asked; nothing was done.
    Refused(String),
}

impl std::fmt::Display for MetaApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MetaApiError::NoLeader => write!(f, "no meta leader"),
            MetaApiError::NotLeader { leader } => write!(f, "not the meta leader (leader: {leader:?})"),
            MetaApiError::Indeterminate(e) => write!(f, "outcome unknown: {e}"),
            MetaApiError::Unavailable(e) => write!(f, "meta unavailable: {e}"),
            MetaApiError::Refused(e) => write!(f, "refused: {e}"),
        }
    }
}

impl std::error::Error for MetaApiError {}

/// How a Raft write failed, as the API reports it.
fn write_error(e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>) -> MetaApiError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => MetaApiError::NotLeader { leader: f.leader_id },
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => MetaApiError::Unavailable(e.to_string()),
        // The entry may already be in the log of a majority.
        RaftError::Fatal(e) => MetaApiError::Indeterminate(e.to_string()),
    }
}

/// A change to the meta voters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberChange {
    Add { id: NodeId, addr: String },
    Remove { id: NodeId },
}

/// A committed command's result and where it sits in the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteOk {
    pub result: MetaResult,
    pub log_id: LogId,
}

/// What `keel cluster status` shows of one meta node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetaStatus {
    pub id: NodeId,
    pub state: String,
    pub term: u64,
    pub leader: Option<NodeId>,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub voters: Vec<NodeId>,
    pub learners: Vec<NodeId>,
    pub members: BTreeMap<NodeId, String>,
}

/// A running meta node.
#[derive(Clone)]
pub struct MetaNode {
    pub id: NodeId,
    pub raft: Raft,
    pub sm: StateMachineStore,
    pub peers: Peers,
    pub liveness: liveness::SharedLiveness,
    /// The last log index this node had durably when it started. openraft may restore a
    /// leader's role at startup from its committed vote, and then bases read indexes on the
    /// leader's first entry of the term, which can be older than entries it committed before
    /// the restart; reads therefore also wait until this index is applied.
    pub startup_last_index: Option<u64>,
    /// The RPC requests this node has served, by method.
    pub requests: Arc<service::RequestCounts>,
}

impl MetaNode {
    /// Opens the stores under `dir` on `disk` and starts Raft.
    pub async fn start(
        id: NodeId,
        disk: Arc<dyn Disk>,
        dir: &str,
        peers: Peers,
        config: &MetaConfig,
        hook: Option<ApplyHook>,
    ) -> io::Result<Self> {
        let raft_config = openraft::Config {
            cluster_name: "keel-meta".into(),
            heartbeat_interval: config.heartbeat_ms,
            election_timeout_min: config.election_timeout_min_ms,
            election_timeout_max: config.election_timeout_max_ms,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(config.snapshot_every_entries),
            max_in_snapshot_log_to_keep: config.log_keep_entries,
            ..Default::default()
        };
        let raft_config = Arc::new(raft_config.validate().map_err(io::Error::other)?);
        let sm = StateMachineStore::open(disk.clone(), &format!("{dir}/sm"), hook).await?;
        let log = LogStore::open(disk, &format!("{dir}/raft"), sm.snapshot_mark(), config.store.clone()).await?;
        let startup_last_index = log.last_index();
        let network = NetworkFactory { peers: peers.clone() };
        let raft = Raft::new(id, raft_config, network, log, sm.clone()).await.map_err(io::Error::other)?;
        let requests = Arc::default();
        Ok(MetaNode { id, raft, sm, peers, liveness: Default::default(), startup_last_index, requests })
    }

    /// Bootstraps a new cluster of `members` (id → RPC address). Harmless if this node or the
    /// cluster is already initialised.
    pub async fn initialize(&self, members: &BTreeMap<NodeId, String>) -> Result<(), MetaApiError> {
        let nodes: BTreeMap<NodeId, BasicNode> =
            members.iter().map(|(id, addr)| (*id, BasicNode { addr: addr.clone() })).collect();
        match self.raft.initialize(nodes).await {
            Ok(()) => Ok(()),
            Err(RaftError::APIError(_)) => Ok(()),
            Err(RaftError::Fatal(e)) => Err(MetaApiError::Unavailable(e.to_string())),
        }
    }

    /// Appends `cmd` to the log, forwarding to the leader if needed.
    #[tracing::instrument(level = "debug", skip(self), fields(node = self.id))]
    pub async fn write(&self, cmd: MetaCommand) -> Result<WriteOk, MetaApiError> {
        let local = self.write_local(cmd.clone()).await;
        self.forward_if_not_leader(local, service::META_WRITE, &cmd, FORWARD_TIMEOUT, MetaApiError::Indeterminate).await
    }

    /// Passes `local` through, unless it says another node leads: then sends `req` to that
    /// node's `method` (one hop; it will not forward again). A transport failure becomes
    /// `on_transport` (a write's outcome is then unknown; a read's is simply unavailable).
    pub(crate) async fn forward_if_not_leader<Req: Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        local: Result<Resp, MetaApiError>,
        method: &str,
        req: &Req,
        timeout: Duration,
        on_transport: fn(String) -> MetaApiError,
    ) -> Result<Resp, MetaApiError> {
        match local {
            Err(MetaApiError::NotLeader { leader: Some(l) }) if l != self.id => {
                let addr = self.addr_of(l).ok_or(MetaApiError::NoLeader)?;
                let r: Result<Result<Resp, MetaApiError>, RpcError> =
                    self.peers.call_json(&addr, method, req, timeout).await;
                r.unwrap_or_else(|e| match e.not_executed() {
                    true => Err(MetaApiError::Unavailable(e.to_string())),
                    false => Err(on_transport(e.to_string())),
                })
            }
            Err(MetaApiError::NotLeader { leader: None }) => Err(MetaApiError::NoLeader),
            other => other,
        }
    }

    /// Appends `cmd` if this node is leader.
    pub async fn write_local(&self, cmd: MetaCommand) -> Result<WriteOk, MetaApiError> {
        let resp = self.raft.client_write(cmd).await.map_err(write_error)?;
        Ok(WriteOk { result: resp.data, log_id: resp.log_id })
    }

    /// Answers `q` linearizably, forwarding to the leader if needed.
    #[tracing::instrument(level = "debug", skip(self), fields(node = self.id))]
    pub async fn query(&self, q: MetaQuery) -> Result<QueryResult, MetaApiError> {
        let local = self.query_local(q.clone()).await;
        self.forward_if_not_leader(local, service::META_READ, &q, FORWARD_TIMEOUT, MetaApiError::Unavailable).await
    }

    /// Answers `q` linearizably if this node is leader.
    pub async fn query_local(&self, q: MetaQuery) -> Result<QueryResult, MetaApiError> {
        if keel_rt::fault::point("meta.query.refuse") {
            return Err(MetaApiError::Unavailable("refused (fault point)".into()));
        }
        self.confirm_leadership().await?;
        Ok(self.sm.read(|a| match q {
            MetaQuery::Topic { name } => QueryResult::Topic(a.state.topics.get(&name).cloned()),
            MetaQuery::Topics => QueryResult::Topics(a.state.topics.values().cloned().collect()),
            MetaQuery::Nodes => QueryResult::Nodes(a.state.nodes.values().cloned().collect()),
            MetaQuery::MqttSession { client_id } => {
                QueryResult::MqttSession(a.state.mqtt.sessions.get(&client_id).cloned())
            }
            MetaQuery::MqttSessions { limit } => {
                let (sessions, total) = a.state.mqtt.summaries(usize::try_from(limit).unwrap_or(usize::MAX));
                QueryResult::MqttSessions { sessions, total }
            }
        }))
    }

    /// Confirms this node leads (a read index: a quorum still follows it) and has applied
    /// everything committed when asked: what it then reads of its state is linearizable.
    pub(crate) async fn confirm_leadership(&self) -> Result<(), MetaApiError> {
        use openraft::error::CheckIsLeaderError;
        match self.raft.ensure_linearizable().await {
            Ok(_) => {}
            Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f))) => {
                return Err(MetaApiError::NotLeader { leader: f.leader_id })
            }
            Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e))) => {
                return Err(MetaApiError::Unavailable(e.to_string()))
            }
            Err(RaftError::Fatal(e)) => return Err(MetaApiError::Unavailable(e.to_string())),
        }
        if let Some(index) = self.startup_last_index {
            let wait = self.raft.wait(Some(READ_CATCH_UP_TIMEOUT));
            if let Err(e) = wait.applied_index_at_least(Some(index), "read after restart").await {
                return Err(MetaApiError::Unavailable(format!("not caught up since restart: {e}")));
            }
        }
        Ok(())
    }

    /// Adds or removes a meta voter, forwarding to the leader if needed.
    pub async fn change_members(&self, change: MemberChange) -> Result<MetaStatus, MetaApiError> {
        let local = self.change_members_local(change.clone()).await;
        let (method, timeout) = (service::META_MEMBERS, MEMBERSHIP_TIMEOUT);
        self.forward_if_not_leader(local, method, &change, timeout, MetaApiError::Indeterminate).await
    }

    /// Adds or removes a meta voter if this node is leader. A new voter joins as a learner
    /// first and becomes a voter once it has caught up.
    pub async fn change_members_local(&self, change: MemberChange) -> Result<MetaStatus, MetaApiError> {
        let mut voters: BTreeSet<NodeId> = self.voters().into_iter().collect();
        let result = match change {
            MemberChange::Add { id, addr } => {
                self.raft.add_learner(id, BasicNode { addr }, true).await.map_err(write_error)?;
                voters.insert(id);
                self.raft.change_membership(voters, false).await
            }
            MemberChange::Remove { id } => {
                if id == self.id {
                    // openraft 0.9 mishandles a leader that commits its own removal (it may
                    // panic while it leads as a non-member); make another node lead first.
                    return Err(MetaApiError::Refused(format!(
                        "node {id} is the meta leader; stop it (another node takes over) and remove it then"
                    )));
                }
                if !voters.remove(&id) {
                    return Err(MetaApiError::Refused(format!("node {id} is not a voter")));
                }
                self.raft.change_membership(voters, false).await
            }
        };
        result.map_err(write_error)?;
        Ok(self.status())
    }

    fn voters(&self) -> Vec<NodeId> {
        self.raft.metrics().borrow().membership_config.membership().voter_ids().collect()
    }

    fn addr_of(&self, id: NodeId) -> Option<String> {
        let m = self.raft.metrics().borrow().membership_config.clone();
        m.membership().get_node(&id).map(|n| n.addr.clone())
    }

    /// This node's view of the cluster.
    pub fn status(&self) -> MetaStatus {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let learners: Vec<NodeId> = membership.learner_ids().collect();
        let members = membership.nodes().map(|(id, n)| (*id, n.addr.clone())).collect();
        let state = match m.state {
            ServerState::Leader => "leader",
            ServerState::Follower => "follower",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Shutdown => "shutdown",
        };
        MetaStatus {
            id: self.id,
            state: state.into(),
            term: m.current_term,
            leader: m.current_leader,
            last_log_index: m.last_log_index,
            last_applied: m.last_applied.map(|l| l.index),
            voters,
            learners,
            members,
        }
    }
}
