//! Raft messages between meta nodes over the internal RPC.
//!
//! Methods `raft.append`, `raft.vote` and `raft.snapshot` carry openraft's request and a
//! `Result` of its response as JSON bodies (see `docs/rpc.md`). A transport failure becomes
//! `Unreachable`, so openraft backs off before retrying that peer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::records::NodeId;
use super::types::TypeConfig;
use crate::rpc::{RpcClient, RpcClientConfig, RpcError, RpcService};

/// RPC clients by address, shared by Raft replication and request forwarding; calls to this
/// node's own address are served in process (no socket, no frame), once the node set it.
#[derive(Clone, Default)]
pub struct Peers {
    clients: Arc<Mutex<BTreeMap<String, Arc<RpcClient>>>>,
    local: Arc<Mutex<Option<Local>>>,
    /// Addresses dialled instead of others (`rpc.connect_via`): a peer stays known by its own
    /// address while this node reaches it through a proxy.
    connect_via: Arc<BTreeMap<String, String>>,
}

/// This node's own address and the service that answers it.
type Local = (String, Arc<dyn RpcService>);

impl Peers {
    /// Peers reached through `connect_via` (address → the address to dial instead).
    pub fn with_connect_via(connect_via: BTreeMap<String, String>) -> Self {
        Peers { connect_via: Arc::new(connect_via), ..Peers::default() }
    }

    /// Serves calls to `addr` (this node's own) with `service`, in process.
    pub fn set_local(&self, addr: &str, service: Arc<dyn RpcService>) {
        *self.local.lock().unwrap_or_else(|e| e.into_inner()) = Some((addr.to_string(), service));
    }

    fn local_for(&self, addr: &str) -> Option<Arc<dyn RpcService>> {
        let local = self.local.lock().unwrap_or_else(|e| e.into_inner());
        local.as_ref().filter(|(a, _)| a == addr).map(|(_, s)| s.clone())
    }

    /// Calls `method` on `addr`: in process if it is this node's address, else over its
    /// client. The same errors either way, and the same life for the request: like the RPC
    /// server, an in-process call runs in its own task, to the end even when the caller stops
    /// waiting (services are written for that; cancelled half way, a produce could leave a
    /// partition's state half updated).
    pub async fn call(&self, addr: &str, method: &str, body: Bytes, timeout: Duration) -> Result<Bytes, RpcError> {
        let Some(service) = self.local_for(addr) else { return self.client(addr).call(method, body, timeout).await };
        let method = method.to_string();
        let handler = keel_rt::task::spawn(async move { service.call(&method, body).await });
        match keel_rt::time::timeout(timeout, handler).await {
            Ok(Ok(Ok(out))) => Ok(out),
            Ok(Ok(Err(e))) => Err(RpcError::Remote(e)),
            Ok(Err(e)) => Err(RpcError::Unavailable(format!("the in-process handler failed: {e}"))),
            Err(_) => Err(RpcError::Timeout),
        }
    }

    /// The client for `addr`, made on first use.
    pub fn client(&self, addr: &str) -> Arc<RpcClient> {
        let mut m = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(addr.to_string())
            .or_insert_with(|| {
                let dial = self.connect_via.get(addr).map_or(addr, String::as_str);
                Arc::new(RpcClient::new(addr, RpcClientConfig::default()).dialling(dial))
            })
            .clone()
    }

    /// Calls `method` on `addr` with a JSON body and decodes a JSON answer.
    pub async fn call_json<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        addr: &str,
        method: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, RpcError> {
        let body = Bytes::from(serde_json::to_vec(req).expect("requests serialise"));
        let out = self.call(addr, method, body, timeout).await?;
        serde_json::from_slice(&out).map_err(|e| RpcError::Unavailable(format!("undecodable response: {e}")))
    }
}

/// Makes a [`Network`] per target.
pub struct NetworkFactory {
    pub peers: Peers,
}

/// The connection to one target meta node.
pub struct Network {
    peers: Peers,
    target: NodeId,
    node: BasicNode,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = Network;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> Network {
        Network { peers: self.peers.clone(), target, node: node.clone() }
    }
}

impl Network {
    async fn send<Req, Resp, E>(
        &self,
        method: &str,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let r: Result<Result<Resp, RaftError<NodeId, E>>, RpcError> =
            self.peers.call_json(&self.node.addr, method, req, option.hard_ttl()).await;
        match r {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(RPCError::RemoteError(RemoteError::new_with_node(self.target, self.node.clone(), e))),
            Err(e) => Err(RPCError::Unreachable(Unreachable::new(&e))),
        }
    }
}

impl RaftNetwork<TypeConfig> for Network {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.send("raft.append", &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>>
    {
        self.send("raft.snapshot", &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.send("raft.vote", &rpc, &option).await
    }
}
