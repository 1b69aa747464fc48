//! The meta state machine's data and how commands change it. Pure: no I/O, no clocks, so
//! every node that applies the same log reaches the same state.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::command::{MetaCommand, MetaError, MetaOk, MetaResult, TopicSpec};
use super::mqtt::MqttState;
use super::records::{Engine, NodeId, NodeRecord, Role, ShardRecord, TopicRecord};

/// The partitions a topic may have, at most.
pub const PARTITIONS_MAX: u32 = 10_000;
/// The replication factor a topic may have, at most.
pub const REPLICATION_FACTOR_MAX: u32 = 7;
/// The longest topic name, in bytes.
pub const TOPIC_NAME_BYTES_MAX: usize = 249;

/// Whether `name` is a topic name Kafka and Keel both accept.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= TOPIC_NAME_BYTES_MAX
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// All cluster metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaState {
    pub nodes: BTreeMap<NodeId, NodeRecord>,
    pub topics: BTreeMap<String, TopicRecord>,
    /// The last idempotent producer id handed out (ids start at 1; 0 means "none").
    #[serde(default)]
    pub last_producer_id: u64,
    /// MQTT sessions, retained messages and shared subscriptions.
    #[serde(default)]
    pub mqtt: MqttState,
    /// The last topic id handed out (ids start at 1; 0 marks topics created before ids).
    #[serde(default)]
    pub last_topic_id: u64,
}

impl MetaState {
    /// Applies one command; test, debug and simulation builds then check the state's invariants
    /// (`invariants.rs`).
    pub fn apply(&mut self, cmd: &MetaCommand) -> MetaResult {
        let r = self.apply_command(cmd);
        #[cfg(any(test, debug_assertions, madsim))]
        self.assert_invariants();
        r
    }

    fn apply_command(&mut self, cmd: &MetaCommand) -> MetaResult {
        match cmd {
            MetaCommand::RegisterNode { id, addr, roles, kafka_addr, kafka_tls_addr } => {
                let mut roles = roles.clone();
                roles.sort();
                roles.dedup();
                let (kafka_addr, kafka_tls_addr) = (kafka_addr.clone(), kafka_tls_addr.clone());
                let node = NodeRecord { id: *id, addr: addr.clone(), roles, alive: true, kafka_addr, kafka_tls_addr };
                self.nodes.insert(*id, node);
                self.restarted(*id);
                Ok(MetaOk::Done)
            }
            MetaCommand::AddPartitions { name, partitions } => self.add_partitions(name, *partitions),
            MetaCommand::Bind { topic, name, filter } => self.bind(topic, name, filter.as_deref()),
            MetaCommand::SetNodeAlive { id, alive } => match self.nodes.get_mut(id) {
                Some(n) => {
                    n.alive = *alive;
                    Ok(MetaOk::Done)
                }
                None => Err(MetaError::Invalid { reason: format!("unknown node {id}") }),
            },
            MetaCommand::CreateTopic(spec) => self.create_topic(spec),
            MetaCommand::LeaveIsr { topic, partition, node } => self.leave_isr(topic, *partition, *node),
            MetaCommand::AddReplica { topic, partition, expected_epoch, node } => {
                self.add_replica(topic, *partition, *expected_epoch, *node)
            }
            MetaCommand::RemoveReplica { topic, partition, expected_epoch, node } => {
                self.remove_replica(topic, *partition, *expected_epoch, *node)
            }
            MetaCommand::Mqtt(ops) => {
                let results = ops.iter().map(|op| self.mqtt.apply(op, &self.nodes)).collect();
                Ok(MetaOk::Mqtt(results))
            }
            MetaCommand::AllocateProducerId => {
                self.last_producer_id += 1;
                Ok(MetaOk::ProducerId(self.last_producer_id))
            }
            MetaCommand::DeleteTopic { name } => match self.topics.remove(name) {
                Some(_) => Ok(MetaOk::Deleted),
                None => Err(MetaError::TopicNotFound { name: name.clone() }),
            },
            MetaCommand::AlterIsr { topic, partition, epoch, from, isr, isr_version } => {
                self.alter_isr(topic, *partition, *epoch, from, isr, *isr_version)
            }
            MetaCommand::ElectLeader { topic, partition, expected_epoch, leader, unclean } => {
                self.elect_leader(topic, *partition, *expected_epoch, *leader, *unclean)
            }
            MetaCommand::ReplaceReplica { topic, partition, expected_epoch, old, new } => {
                self.replace_replica(topic, *partition, *expected_epoch, *old, *new)
            }
            MetaCommand::UpdateTopic {
                name,
                expected_version,
                retention_ms,
                retention_bytes,
                min_insync_replicas,
                unclean_leader_election,
            } => {
                let t = self.topics.get_mut(name).ok_or_else(|| MetaError::TopicNotFound { name: name.clone() })?;
                if t.version != *expected_version {
                    return Err(MetaError::VersionMismatch { name: name.clone(), current: t.version });
                }
                if let Some(m) = *min_insync_replicas {
                    if m == 0 || m > t.replication_factor {
                        let reason = format!("min_insync_replicas must be 1 to {}, not {m}", t.replication_factor);
                        return Err(MetaError::Invalid { reason });
                    }
                    t.min_insync_replicas = m;
                }
                if let Some(u) = *unclean_leader_election {
                    t.unclean_leader_election = u;
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
        if self.topics.contains_key(&spec.name) || self.bound(&spec.name).is_some() {
            return Err(MetaError::TopicExists { name: spec.name.clone() });
        }
        let storage: Vec<NodeId> =
            self.nodes.values().filter(|n| n.roles.contains(&Role::Storage)).map(|n| n.id).collect();
        if (storage.len() as u32) < spec.replication_factor {
            return Err(MetaError::NotEnoughNodes { needed: spec.replication_factor, available: storage.len() as u32 });
        }
        let shards = self.place_shards(&storage, 0..spec.partitions, spec.replication_factor);
        self.last_topic_id += 1;
        let t = TopicRecord {
            id: self.last_topic_id,
            name: spec.name.clone(),
            partitions: spec.partitions,
            replication_factor: spec.replication_factor,
            engine: spec.engine,
            retention_ms: spec.retention_ms,
            retention_bytes: spec.retention_bytes,
            version: 1,
            unclean_leader_election: spec.unclean_leader_election,
            min_insync_replicas: spec.min_insync_replicas,
            shards,
            bindings: Default::default(),
        };
        self.topics.insert(t.name.clone(), t.clone());
        Ok(MetaOk::Topic(t))
    }

    /// New shards `partitions` of `replication_factor` copies each, spread over `storage` by
    /// load, each led by the replica leading the fewest shards.
    fn place_shards(
        &self,
        storage: &[NodeId],
        partitions: std::ops::Range<u32>,
        replication_factor: u32,
    ) -> Vec<ShardRecord> {
        let mut load = self.replica_load(storage);
        let mut leading = self.leader_load(storage);
        partitions
            .map(|partition| {
                let mut replicas = place(&mut load, replication_factor as usize);
                replicas.sort_by_key(|r| (leading.get(r).copied().unwrap_or(0), *r));
                *leading.entry(replicas[0]).or_insert(0) += 1;
                ShardRecord {
                    partition,
                    leader: replicas.first().copied(),
                    isr: replicas.clone(),
                    replicas,
                    epoch: 1,
                    isr_version: 1,
                }
            })
            .collect()
    }

    fn add_partitions(&mut self, name: &str, partitions: u32) -> MetaResult {
        let t = self.topics.get(name).ok_or_else(|| MetaError::TopicNotFound { name: name.to_string() })?;
        if partitions <= t.partitions || partitions > PARTITIONS_MAX {
            let reason = format!("{name} has {} partitions; it can grow to at most {PARTITIONS_MAX}", t.partitions);
            return Err(MetaError::Invalid { reason });
        }
        if name.starts_with("__") {
            return Err(MetaError::Invalid { reason: format!("{name} is internal: its partition count is fixed") });
        }
        let storage: Vec<NodeId> =
            self.nodes.values().filter(|n| n.roles.contains(&Role::Storage)).map(|n| n.id).collect();
        if (storage.len() as u32) < t.replication_factor {
            return Err(MetaError::NotEnoughNodes { needed: t.replication_factor, available: storage.len() as u32 });
        }
        let shards = self.place_shards(&storage, t.partitions..partitions, t.replication_factor);
        let t = self.topics.get_mut(name).expect("checked");
        t.shards.extend(shards);
        t.partitions = partitions;
        t.version += 1;
        Ok(MetaOk::Topic(t.clone()))
    }

    pub(crate) fn shard_mut(&mut self, topic: &str, partition: u32) -> Result<(&mut ShardRecord, bool), MetaError> {
        let t = self.topics.get_mut(topic).ok_or_else(|| MetaError::TopicNotFound { name: topic.to_string() })?;
        let unclean = t.unclean_leader_election;
        let shard = t
            .shards
            .get_mut(partition as usize)
            .ok_or_else(|| MetaError::Invalid { reason: format!("topic {topic:?} has no partition {partition}") })?;
        Ok((shard, unclean))
    }

    /// The shard leader's ISR change, fenced by its epoch.
    fn alter_isr(
        &mut self,
        topic: &str,
        partition: u32,
        epoch: u64,
        from: &[NodeId],
        isr: &[NodeId],
        version: Option<u64>,
    ) -> MetaResult {
        let (shard, _) = self.shard_mut(topic, partition)?;
        if shard.epoch != epoch {
            return Err(MetaError::StaleEpoch { current: shard.epoch });
        }
        // Compared as sets: the ISR's order carries no meaning (a shard's ISR starts in
        // replica order, which is not sorted).
        let (mut expected, mut current) = (from.to_vec(), shard.isr.clone());
        expected.sort();
        expected.dedup();
        current.sort();
        if expected != current || version.is_some_and(|v| v != shard.isr_version) {
            return Err(MetaError::StaleIsr { current: shard.isr.clone(), version: shard.isr_version });
        }
        let leader_in = shard.leader.is_some_and(|l| isr.contains(&l));
        if !leader_in || !isr.iter().all(|r| shard.replicas.contains(r)) {
            return Err(MetaError::Invalid { reason: format!("ISR {isr:?} must hold the leader and only replicas") });
        }
        let mut isr = isr.to_vec();
        isr.sort();
        isr.dedup();
        shard.isr = isr;
        shard.isr_version += 1;
        Ok(MetaOk::Shard(shard.clone()))
    }

    /// A new leader (or none: offline) with a new epoch, chosen from the ISR unless the topic
    /// allows unclean elections.
    fn elect_leader(
        &mut self,
        topic: &str,
        partition: u32,
        expected: u64,
        leader: Option<NodeId>,
        forced: bool,
    ) -> MetaResult {
        let dead: Vec<NodeId> = self.nodes.values().filter(|n| !n.alive).map(|n| n.id).collect();
        let (shard, unclean) = self.shard_mut(topic, partition)?;
        let unclean = unclean || forced;
        if shard.epoch != expected {
            return Err(MetaError::StaleEpoch { current: shard.epoch });
        }
        if let Some(l) = leader {
            let clean = shard.isr.contains(&l);
            if !shard.replicas.contains(&l) || (!clean && !unclean) {
                return Err(MetaError::Invalid { reason: format!("node {l} is not an eligible replica") });
            }
            if !clean {
                shard.isr = vec![l];
            }
        }
        // A dead former leader leaves the ISR with its leadership: it can acknowledge nothing,
        // and the new leader should not wait for it.
        if let Some(old) = shard.leader.filter(|o| Some(*o) != leader && dead.contains(o)) {
            if shard.isr.len() > 1 {
                shard.isr.retain(|r| *r != old);
            }
        }
        shard.leader = leader;
        shard.epoch += 1;
        shard.isr_version += 1;
        Ok(MetaOk::Shard(shard.clone()))
    }

    fn add_replica(&mut self, topic: &str, partition: u32, expected: u64, node: NodeId) -> MetaResult {
        let is_storage = self.nodes.get(&node).is_some_and(|n| n.roles.contains(&Role::Storage));
        let rf = self.topics.get(topic).map_or(0, |t| t.replication_factor as usize);
        let (shard, _) = self.shard_mut(topic, partition)?;
        if shard.epoch != expected {
            return Err(MetaError::StaleEpoch { current: shard.epoch });
        }
        if !is_storage || shard.replicas.contains(&node) || shard.replicas.len() != rf {
            return Err(MetaError::Invalid { reason: format!("cannot add a replica on {node} now") });
        }
        shard.replicas.push(node);
        shard.epoch += 1;
        shard.isr_version += 1;
        Ok(MetaOk::Shard(shard.clone()))
    }

    fn remove_replica(&mut self, topic: &str, partition: u32, expected: u64, node: NodeId) -> MetaResult {
        let rf = self.topics.get(topic).map_or(0, |t| t.replication_factor as usize);
        let (shard, _) = self.shard_mut(topic, partition)?;
        if shard.epoch != expected {
            return Err(MetaError::StaleEpoch { current: shard.epoch });
        }
        if shard.replicas.len() <= rf || shard.leader == Some(node) || !shard.replicas.contains(&node) {
            return Err(MetaError::Invalid { reason: format!("cannot remove the replica on {node} now") });
        }
        shard.replicas.retain(|r| *r != node);
        shard.isr.retain(|r| *r != node);
        shard.epoch += 1;
        shard.isr_version += 1;
        Ok(MetaOk::Shard(shard.clone()))
    }

    /// A node registers when its process starts: its replicas leave every ISR they share with
    /// others, and rejoin once their leader sees them caught up. What a replica recovered from
    /// its disk may be less than it had acknowledged (a file truncated while the node was down
    /// looks like a torn append), so it must not be elected on its word; a shard whose only
    /// in-sync replica it is keeps it (nothing better exists).
    fn restarted(&mut self, node: NodeId) {
        for shard in self.topics.values_mut().flat_map(|t| t.shards.iter_mut()) {
            if shard.isr.contains(&node) && shard.isr.len() > 1 {
                shard.isr.retain(|r| *r != node);
                if shard.leader == Some(node) {
                    shard.leader = None;
                }
                shard.epoch += 1;
                shard.isr_version += 1;
            }
        }
    }

    fn leave_isr(&mut self, topic: &str, partition: u32, node: NodeId) -> MetaResult {
        let (shard, _) = self.shard_mut(topic, partition)?;
        if !shard.isr.contains(&node) {
            return Ok(MetaOk::Shard(shard.clone()));
        }
        if shard.isr.len() == 1 {
            return Err(MetaError::Invalid { reason: format!("node {node} is the last in-sync replica") });
        }
        shard.isr.retain(|r| *r != node);
        if shard.leader == Some(node) {
            shard.leader = None;
        }
        shard.epoch += 1;
        shard.isr_version += 1;
        Ok(MetaOk::Shard(shard.clone()))
    }

    /// Moves a replica from a lost node to another; the new one joins the ISR once caught up.
    fn replace_replica(&mut self, topic: &str, partition: u32, expected: u64, old: NodeId, new: NodeId) -> MetaResult {
        let is_storage = self.nodes.get(&new).is_some_and(|n| n.roles.contains(&Role::Storage));
        let (shard, _) = self.shard_mut(topic, partition)?;
        if shard.epoch != expected {
            return Err(MetaError::StaleEpoch { current: shard.epoch });
        }
        if !is_storage || shard.replicas.contains(&new) || shard.leader == Some(old) {
            return Err(MetaError::Invalid { reason: format!("cannot move the replica on {old} to {new}") });
        }
        let Some(slot) = shard.replicas.iter_mut().find(|r| **r == old) else {
            return Err(MetaError::Invalid { reason: format!("node {old} holds no replica") });
        };
        *slot = new;
        shard.isr.retain(|r| *r != old);
        shard.epoch += 1;
        shard.isr_version += 1;
        Ok(MetaOk::Shard(shard.clone()))
    }

    /// How many replicas each storage node holds now.
    pub fn replica_load(&self, storage: &[NodeId]) -> BTreeMap<NodeId, usize> {
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

    /// How many shards each storage node leads now.
    fn leader_load(&self, storage: &[NodeId]) -> BTreeMap<NodeId, usize> {
        let mut load: BTreeMap<NodeId, usize> = storage.iter().map(|id| (*id, 0)).collect();
        for leader in self.topics.values().flat_map(|t| &t.shards).filter_map(|s| s.leader) {
            if let Some(c) = load.get_mut(&leader) {
                *c += 1;
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

/// Whether this binary has the rocksdb engine (cargo feature `rocksdb`, never in simulation).
/// Meta accepts rocksdb topics only then, so every node of a cluster must run the same build:
/// a storage node without it cannot open the shards that meta places on it.
pub const ROCKSDB_BUILT: bool = cfg!(all(feature = "rocksdb", not(madsim)));

fn validate(spec: &TopicSpec) -> Result<(), MetaError> {
    let invalid = |reason: String| Err(MetaError::Invalid { reason });
    match spec.engine {
        Engine::Memory | Engine::Segment | Engine::Object => {}
        Engine::Rocksdb if ROCKSDB_BUILT => {}
        Engine::Rocksdb => {
            return invalid("the rocksdb engine is not built into this binary (build with --features rocksdb)".into())
        }
    }
    if spec.min_insync_replicas == 0 || spec.min_insync_replicas > spec.replication_factor {
        return invalid(format!(
            "min_insync_replicas must be 1 to the replication factor ({}), not {}",
            spec.replication_factor, spec.min_insync_replicas
        ));
    }
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
        TopicSpec::for_test(name, partitions, rf)
    }

    fn with_storage(n: u64) -> MetaState {
        let mut s = MetaState::default();
        for id in 1..=n {
            let cmd = MetaCommand::RegisterNode {
                id,
                addr: format!("10.0.0.{id}:7100"),
                roles: vec![Role::Storage],
                kafka_addr: None,
                kafka_tls_addr: None,
            };
            s.apply(&cmd).unwrap();
        }
        s
    }

    /// Jepsen's log workload, seed 1: node 4's shard file was truncated while it was down;
    /// back, still in the ISR, it was elected and served a log missing acknowledged records.
    #[test]
    fn a_restarted_node_leaves_the_isrs_it_shares_and_keeps_the_ones_it_alone_holds() {
        let mut s = with_storage(3);
        s.apply(&MetaCommand::CreateTopic(spec("shared", 1, 3))).unwrap();
        s.apply(&MetaCommand::CreateTopic(spec("alone", 1, 1))).unwrap();
        let alone = s.topics["alone"].shards[0].clone();
        let node = alone.replicas[0];
        let before = s.topics["shared"].shards[0].clone();
        let register = MetaCommand::RegisterNode {
            id: node,
            addr: format!("10.0.0.{node}:7100"),
            roles: vec![Role::Storage],
            kafka_addr: None,
            kafka_tls_addr: None,
        };
        s.apply(&register).unwrap();
        let after = &s.topics["shared"].shards[0];
        assert!(!after.isr.contains(&node) && after.isr.len() == 2, "{after:?}");
        assert_eq!((after.epoch, after.isr_version), (before.epoch + 1, before.isr_version + 1));
        assert_ne!(after.leader, Some(node), "a leader that restarted is replaced");
        assert_eq!(s.topics["alone"].shards[0], alone, "the last in-sync replica stays");
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
            assert_eq!(sh.isr, sh.replicas);
            assert_eq!(sh.epoch, 1);
            for r in &sh.replicas {
                *per_node.entry(*r).or_insert(0) += 1;
            }
        }
        assert_eq!(per_node.values().copied().collect::<Vec<_>>(), vec![2, 2, 2]);
        let leaders: std::collections::BTreeSet<_> = t.shards.iter().map(|s| s.leader).collect();
        assert_eq!(leaders.len(), 3, "leadership is spread");
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
        for min in [0, 2] {
            let bad = TopicSpec { min_insync_replicas: min, ..spec("m", 1, 1) };
            assert!(
                matches!(s.apply(&MetaCommand::CreateTopic(bad)), Err(MetaError::Invalid { reason }) if reason.contains("min_insync_replicas"))
            );
        }
        let rocks = TopicSpec { engine: Engine::Rocksdb, ..spec("o", 1, 1) };
        let created = s.apply(&MetaCommand::CreateTopic(rocks));
        if ROCKSDB_BUILT {
            assert!(created.is_ok(), "{created:?}");
        } else {
            assert!(matches!(created, Err(MetaError::Invalid { reason }) if reason.contains("not built")));
        }
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
            min_insync_replicas: None,
            unclean_leader_election: None,
        };
        assert!(matches!(s.apply(&upd(1)), Ok(MetaOk::Topic(t)) if t.version == 2 && t.retention_ms == Some(5)));
        assert_eq!(s.apply(&upd(1)), Err(MetaError::VersionMismatch { name: "t".into(), current: 2 }));
        assert_eq!(s.apply(&MetaCommand::DeleteTopic { name: "t".into() }), Ok(MetaOk::Deleted));
        assert_eq!(s.apply(&upd(2)), Err(MetaError::TopicNotFound { name: "t".into() }));
    }

    #[test]
    fn partitions_grow_placed_like_new_ones_and_never_shrink() {
        let mut s = with_storage(3);
        s.apply(&MetaCommand::CreateTopic(spec("t", 2, 2))).unwrap();
        let grow = |n| MetaCommand::AddPartitions { name: "t".into(), partitions: n };
        let Ok(MetaOk::Topic(t)) = s.apply(&grow(5)) else { panic!() };
        assert_eq!((t.partitions, t.shards.len(), t.version), (5, 5, 2));
        for (i, sh) in t.shards.iter().enumerate() {
            assert_eq!((sh.partition, sh.replicas.len(), sh.leader.is_some()), (i as u32, 2, true));
        }
        assert!(matches!(s.apply(&grow(5)), Err(MetaError::Invalid { .. })), "no shrinking or standing still");
        assert!(matches!(s.apply(&grow(4)), Err(MetaError::Invalid { .. })));
        let missing = MetaCommand::AddPartitions { name: "nope".into(), partitions: 9 };
        assert_eq!(s.apply(&missing), Err(MetaError::TopicNotFound { name: "nope".into() }));
    }

    #[test]
    fn partitions_are_added_only_with_the_storage_nodes_their_copies_need() {
        let mut s = with_storage(3);
        s.apply(&MetaCommand::CreateTopic(TopicSpec::for_test("t", 1, 3))).unwrap();
        // A storage node re-registers without the storage role: two left for three copies.
        let cmd = MetaCommand::RegisterNode {
            id: 3,
            addr: "10.0.0.3:7100".into(),
            roles: vec![Role::Broker],
            kafka_addr: None,
            kafka_tls_addr: None,
        };
        s.apply(&cmd).unwrap();
        let grow = MetaCommand::AddPartitions { name: "t".into(), partitions: 2 };
        assert_eq!(s.apply(&grow), Err(MetaError::NotEnoughNodes { needed: 3, available: 2 }));
        assert_eq!(s.topics["t"].partitions, 1);
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
