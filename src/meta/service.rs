//! The meta node's RPC methods: Raft traffic between meta nodes, and forwarded or direct
//! metadata requests (`meta.write`, `meta.read`), all with JSON bodies.

use async_trait::async_trait;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::command::{MetaCommand, MetaQuery};
use super::{MemberChange, MetaNode};
use crate::rpc::{RemoteError, RpcService};

pub const RAFT_APPEND: &str = "raft.append";
pub const RAFT_VOTE: &str = "raft.vote";
pub const RAFT_SNAPSHOT: &str = "raft.snapshot";
/// Executes a command on this node if it is leader (no further forwarding).
pub const META_WRITE: &str = "meta.write";
/// Answers a query on this node if it is leader (no further forwarding).
pub const META_READ: &str = "meta.read";
/// Executes a command, forwarding it to the leader if this node is not.
pub const META_SUBMIT: &str = "meta.submit";
/// Answers a query, forwarding it to the leader if this node is not.
pub const META_QUERY: &str = "meta.query";
/// Records a node's heartbeat on this node if it is leader (no further forwarding).
pub const META_HEARTBEAT: &str = "meta.heartbeat";
/// Records a node's heartbeat, forwarding it to the leader if this node is not.
pub const META_BEAT: &str = "meta.beat";
/// Changes the meta voters on this node if it is leader (no further forwarding).
pub const META_MEMBERS: &str = "meta.members";
/// What changed since a version, from this node's applied state (long poll; `super::watch`).
pub const META_WATCH: &str = "meta.watch";

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, RemoteError> {
    serde_json::from_slice(body).map_err(RemoteError::bad_request)
}

fn encode<T: Serialize>(v: &T) -> Result<Bytes, RemoteError> {
    serde_json::to_vec(v).map(Bytes::from).map_err(|e| RemoteError::new(RemoteError::APPLICATION, e.to_string()))
}

/// How many requests of each method a meta node has served (RPC from other nodes, Raft
/// traffic included), and how many of them while it led.
#[derive(Debug, Default)]
pub struct RequestCounts {
    counts: std::sync::Mutex<std::collections::BTreeMap<String, (u64, u64)>>,
}

impl RequestCounts {
    fn count(&self, method: &str, leading: bool) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let e = c.entry(method.to_string()).or_default();
        e.0 += 1;
        e.1 += u64::from(leading);
    }

    /// Method → (served, served while leader).
    pub fn snapshot(&self) -> std::collections::BTreeMap<String, (u64, u64)> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl RpcService for MetaNode {
    async fn call(&self, method: &str, body: Bytes) -> Result<Bytes, RemoteError> {
        let leading = self.raft.metrics().borrow().current_leader == Some(self.id);
        self.requests.count(method, leading);
        match method {
            RAFT_APPEND => encode(&self.raft.append_entries(decode(&body)?).await),
            RAFT_VOTE => encode(&self.raft.vote(decode(&body)?).await),
            RAFT_SNAPSHOT => encode(&self.raft.install_snapshot(decode(&body)?).await),
            META_WRITE => {
                let cmd: MetaCommand = decode(&body)?;
                encode(&self.write_local(cmd).await)
            }
            META_READ => {
                let q: MetaQuery = decode(&body)?;
                encode(&self.query_local(q).await)
            }
            META_SUBMIT => {
                let cmd: MetaCommand = decode(&body)?;
                encode(&self.write(cmd).await)
            }
            META_QUERY => {
                let q: MetaQuery = decode(&body)?;
                encode(&self.query(q).await)
            }
            META_MEMBERS => {
                let change: MemberChange = decode(&body)?;
                encode(&self.change_members_local(change).await)
            }
            META_HEARTBEAT => {
                let node: u64 = decode(&body)?;
                encode(&self.heartbeat_local(node).await)
            }
            META_WATCH => encode(&self.watch_local(decode(&body)?).await),
            META_BEAT => {
                let node: u64 = decode(&body)?;
                encode(&self.heartbeat(node).await)
            }
            other => Err(RemoteError::new(RemoteError::NO_SUCH_METHOD, format!("no method {other:?}"))),
        }
    }
}
