//! The meta state machine's data and how commands change it. Pure: no I/O, no clocks, so
//! every node that applies the same log reaches the same state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::command::{MetaCommand, MetaError, MetaOk, MetaResult, TopicSpec};
use super::types::NodeId;

/// The partitions a topic may have, at most.
pub const PARTITIONS_MAX: u32 = 10_000;
/// The replication factor a topic may have, at most.
pub const REPLICATION_FACTOR_MAX: u32 = 7;
/// The longest topic name, in bytes.
pub const TOPIC_NAME_BYTES_MAX: usize = 249;

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
}

/// One shard (a topic partition): where its replicas live and who leads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRecord {
    pub partition: u32,
    pub replicas: Vec<NodeId>,
    pub leader: Option<NodeId>,
    pub epoch: u64,
}

/// A topic and its shards.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u32,
    pub engine: Engine,
    pub retention_ms: Option<u64>,
    pub retention_bytes: Option<u64>,
    /// 1 at creation, bumped by every update; the compare-and-set token.
    pub version: u64,
    pub shards: Vec<ShardRecord>,
}

/// All cluster metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaState {
    pub nodes: BTreeMap<NodeId, NodeRecord>,
    pub topics: BTreeMap<String, TopicRecord>,
}

impl MetaState {
    /// Applies one command.
    pub fn apply(&mut self, cmd: &MetaCommand) -> MetaResult {
        match cmd {
            MetaCommand::RegisterNode { id, addr, roles } => {
                let mut roles = roles.clone();
                roles.sort();
                roles.dedup();
                self.nodes.insert(*id, NodeRecord { id: *id, addr: addr.clone(), roles, alive: true });
                Ok(MetaOk::Done)
            }
            MetaCommand::SetNodeAlive { id, alive } => match self.nodes.get_mut(id) {
                Some(n) => {
                    n.alive = *alive;
                    Ok(MetaOk::Done)
                }
                None => Err(MetaError::Invalid { reason: format!("unknown node {id}") }),
            },
            MetaCommand::CreateTopic(spec) => self.create_topic(spec),
            MetaCommand::DeleteTopic { name } => match self.topics.remove(name) {
                Some(_) => Ok(MetaOk::Deleted),
                None => Err(MetaError::TopicNotFound { name: name.clone() }),
            },
            MetaCommand::UpdateTopic { name, expected_version, retention_ms, retention_bytes } => {
                let t = self.topics.get_mut(name).ok_or_else(|| MetaError::TopicNotFound { name: name.clone() })?;
                if t.version != *expected_version {
                    return Err(MetaError::VersionMismatch { name: name.clone(), current: t.version });
                }
                t.version += 1;
                t.retention_ms = *retention_ms;
                t.retention_bytes = *retention_bytes;
                Ok(MetaOk::Topic(t.clone()))
            }
        }
    }

    fn create_topic(&mut self, spec: &TopicSpec) -> MetaResult {
        validate(spec)?;
        if self.topics.contains_key(&spec.name) {
            return Err(MetaError::TopicExists { name: spec.name.clone() });
        }
        let storage: Vec<NodeId> =
            self.nodes.values().filter(|n| n.roles.contains(&Role::Storage)).map(|n| n.id).collect();
        if (storage.len() as u32) < spec.replication_factor {
            return Err(MetaError::NotEnoughNodes { needed: spec.replication_factor, available: storage.len() as u32 });
        }
        let mut load = self.replica_load(&storage);
        let shards = (0..spec.partitions)
            .map(|partition| {
                let replicas = place(&mut load, spec.replication_factor as usize);
                ShardRecord { partition, leader: replicas.first().copied(), replicas, epoch: 1 }
            })
            .collect();
        let t = TopicRecord {
            name: spec.name.clone(),
            partitions: spec.partitions,
            replication_factor: spec.replication_factor,
            engine: spec.engine,
            retention_ms: spec.retention_ms,
            retention_bytes: spec.retention_bytes,
            version: 1,
            shards,
        };
        self.topics.insert(t.name.clone(), t.clone());
        Ok(MetaOk::Topic(t))
    }

    /// How many replicas each storage node holds now.
    fn replica_load(&self, storage: &[NodeId]) -> BTreeMap<NodeId, usize> {
        let mut load: BTreeMap<NodeId, usize> = storage.iter().map(|id| (*id, 0)).collect();
        for shard in self.topics.values().flat_map(|t| &t.shards) {
            for r in &shard.replicas {
                if let Some(c) = load.get_mut(r) {
                    *c += 1;
                }
            }
        }
        load
    }

    /// A digest of the whole state, to compare replicas.
    pub fn digest(&self) -> u64 {
        let json = serde_json::to_vec(self).expect("meta state serialises");
        keel_rt::trace::hash(&json)
    }
}

/// The `rf` least-loaded nodes (ties by id), counted as loaded by one more replica each.
fn place(load: &mut BTreeMap<NodeId, usize>, rf: usize) -> Vec<NodeId> {
    let mut by_load: Vec<(usize, NodeId)> = load.iter().map(|(id, c)| (*c, *id)).collect();
    by_load.sort();
    let chosen: Vec<NodeId> = by_load.into_iter().take(rf).map(|(_, id)| id).collect();
    for id in &chosen {
        *load.get_mut(id).expect("chosen from load") += 1;
    }
    chosen
}

fn validate(spec: &TopicSpec) -> Result<(), MetaError> {
    let invalid = |reason: String| Err(MetaError::Invalid { reason });
    if spec.name.is_empty() || spec.name.len() > TOPIC_NAME_BYTES_MAX {
        return invalid(format!("topic name must be 1 to {TOPIC_NAME_BYTES_MAX} bytes"));
    }
    if !spec.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        return invalid("topic name may hold only ASCII letters, digits, '.', '_' and '-'".into());
    }
    if spec.partitions == 0 || spec.partitions > PARTITIONS_MAX {
        return invalid(format!("partitions must be 1 to {PARTITIONS_MAX}"));
    }
    if spec.replication_factor == 0 || spec.replication_factor > REPLICATION_FACTOR_MAX {
        return invalid(format!("replication factor must be 1 to {REPLICATION_FACTOR_MAX}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, partitions: u32, rf: u32) -> TopicSpec {
        TopicSpec {
            name: name.into(),
            partitions,
            replication_factor: rf,
            engine: Engine::Segment,
            retention_ms: None,
            retention_bytes: None,
        }
    }

    fn with_storage(n: u64) -> MetaState {
        let mut s = MetaState::default();
        for id in 1..=n {
            let cmd = MetaCommand::RegisterNode { id, addr: format!("10.0.0.{id}:7100"), roles: vec![Role::Storage] };
            s.apply(&cmd).unwrap();
        }
        s
    }

    #[test]
    fn create_places_balanced_replicas_with_leaders_and_epochs() {
        let mut s = with_storage(3);
        let Ok(MetaOk::Topic(t)) = s.apply(&MetaCommand::CreateTopic(spec("t", 3, 2))) else { panic!() };
        assert_eq!(t.shards.len(), 3);
        let mut per_node = BTreeMap::new();
        for sh in &t.shards {
            assert_eq!(sh.replicas.len(), 2);
            assert_eq!(sh.leader, Some(sh.replicas[0]));
            assert_eq!(sh.epoch, 1);
            for r in &sh.replicas {
                *per_node.entry(*r).or_insert(0) += 1;
            }
        }
        assert_eq!(per_node.values().copied().collect::<Vec<_>>(), vec![2, 2, 2]);
    }

    #[test]
    fn refuses_duplicates_bad_specs_and_impossible_replication() {
        let mut s = with_storage(1);
        assert!(s.apply(&MetaCommand::CreateTopic(spec("t", 1, 1))).is_ok());
        assert_eq!(
            s.apply(&MetaCommand::CreateTopic(spec("t", 1, 1))),
            Err(MetaError::TopicExists { name: "t".into() })
        );
        assert_eq!(
            s.apply(&MetaCommand::CreateTopic(spec("u", 1, 3))),
            Err(MetaError::NotEnoughNodes { needed: 3, available: 1 })
        );
        assert!(matches!(s.apply(&MetaCommand::CreateTopic(spec("bad name", 1, 1))), Err(MetaError::Invalid { .. })));
        assert!(matches!(s.apply(&MetaCommand::CreateTopic(spec("z", 0, 1))), Err(MetaError::Invalid { .. })));
    }

    #[test]
    fn update_is_a_compare_and_set_on_version() {
        let mut s = with_storage(1);
        s.apply(&MetaCommand::CreateTopic(spec("t", 1, 1))).unwrap();
        let upd = |v| MetaCommand::UpdateTopic {
            name: "t".into(),
            expected_version: v,
            retention_ms: Some(5),
            retention_bytes: None,
        };
        assert!(matches!(s.apply(&upd(1)), Ok(MetaOk::Topic(t)) if t.version == 2 && t.retention_ms == Some(5)));
        assert_eq!(s.apply(&upd(1)), Err(MetaError::VersionMismatch { name: "t".into(), current: 2 }));
        assert_eq!(s.apply(&MetaCommand::DeleteTopic { name: "t".into() }), Ok(MetaOk::Deleted));
        assert_eq!(s.apply(&upd(2)), Err(MetaError::TopicNotFound { name: "t".into() }));
    }

    #[test]
    fn digest_follows_content() {
        let a = with_storage(2);
        let mut b = with_storage(2);
        assert_eq!(a.digest(), b.digest());
        b.apply(&MetaCommand::SetNodeAlive { id: 1, alive: false }).unwrap();
        assert_ne!(a.digest(), b.digest());
    }
}
