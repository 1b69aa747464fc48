//! The Raft type configuration of the meta cluster.

use std::io::Cursor;

use super::command::{MetaCommand, MetaResult};
use super::records::NodeId;
use super::runtime::SeamRuntime;

openraft::declare_raft_types!(
    /// Raft types of the meta cluster.
    pub TypeConfig:
        D = MetaCommand,
        R = MetaResult,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = SeamRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
