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
use crate::rpc::{RpcClient, RpcClientConfig, RpcError};

/// RPC clients by address, shared by Raft replication and request forwarding.
#[derive(Clone, Default)]
pub struct Peers {
    clients: Arc<Mutex<BTreeMap<String, Arc<RpcClient>>>>,
}

impl Peers {
    /// The client for `addr`, made on first use.
    pub fn client(&self, addr: &str) -> Arc<RpcClient> {
        let mut m = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(addr.to_string()).or_insert_with(|| Arc::new(RpcClient::new(addr, RpcClientConfig::default()))).clone()
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
        let out = self.client(addr).call(method, body, timeout).await?;
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
