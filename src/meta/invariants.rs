//! What must hold of a [`MetaState`] after every command. The state machine checks it after each
//! applied entry and installed snapshot in test, debug and simulation builds; a violation is a
//! bug in a command's apply (every node would reach the same bad state, so Raft cannot help).
//!
//! - nodes: keyed by their own id, roles sorted without repeats;
//! - topics: keyed by their own name, one shard per partition in partition order, version >= 1,
//!   `1 <= min_insync_replicas <= replication_factor`;
//! - shards: epoch >= 1; replicas and ISR without repeats; ISR ⊆ replicas; every replica a known
//!   node (nodes are never removed); a leader, when there is one, is a replica and in the ISR
//!   (an unclean election makes the ISR the new leader alone, a leader leaving the ISR leaves
//!   leadership, and an ISR change must keep the leader);
//! - bindings: no binding is named like a topic, and no name binds two topics;
//! - MQTT: sessions have a generation, exactly the disconnected ones carry a disconnection time,
//!   `retained_bytes` is the size of the live retained messages, and a shared subscription lists
//!   only brokers with members.

use std::collections::BTreeSet;

use super::state::MetaState;

impl MetaState {
    /// Panics, with a message naming the broken property, if the state is inconsistent.
    pub fn assert_invariants(&self) {
        self.assert_nodes();
        self.assert_topics();
        self.assert_mqtt();
    }

    fn assert_nodes(&self) {
        for (id, n) in &self.nodes {
            assert_eq!(*id, n.id, "node {id} is recorded under another id");
            assert!(n.roles.windows(2).all(|w| w[0] < w[1]), "node {id}: roles {:?} unsorted", n.roles);
        }
    }

    fn assert_topics(&self) {
        let mut bound = BTreeSet::new();
        for (name, t) in &self.topics {
            assert_eq!(*name, t.name, "topic {name} is recorded under another name");
            assert_eq!(t.shards.len(), t.partitions as usize, "topic {name}: shards != partitions");
            assert!(t.version >= 1, "topic {name}: version 0");
            assert!(
                (1..=t.replication_factor).contains(&t.min_insync_replicas),
                "topic {name}: min_insync_replicas {} outside 1..={}",
                t.min_insync_replicas,
                t.replication_factor
            );
            for (i, s) in t.shards.iter().enumerate() {
                let at = format!("{name}/{i}");
                assert_eq!(s.partition as usize, i, "{at}: shard records partition {}", s.partition);
                assert!(s.epoch >= 1, "{at}: epoch 0");
                assert!(distinct(&s.replicas), "{at}: replicas {:?} repeat", s.replicas);
                assert!(distinct(&s.isr), "{at}: ISR {:?} repeats", s.isr);
                assert!(s.isr.iter().all(|r| s.replicas.contains(r)), "{at}: ISR {:?} ⊄ {:?}", s.isr, s.replicas);
                for r in &s.replicas {
                    assert!(self.nodes.contains_key(r), "{at}: replica on unknown node {r}");
                }
                if let Some(l) = s.leader {
                    assert!(s.replicas.contains(&l), "{at}: leader {l} not a replica of {:?}", s.replicas);
                    assert!(s.isr.contains(&l), "{at}: leader {l} not in ISR {:?}", s.isr);
                }
            }
            for b in t.bindings.keys() {
                assert!(!self.topics.contains_key(b), "binding {b} of {name} is also a topic");
                assert!(bound.insert(b.as_str()), "binding {b} names two topics' views");
            }
        }
    }

    fn assert_mqtt(&self) {
        let m = &self.mqtt;
        for (id, s) in &m.sessions {
            assert!(s.generation >= 1, "session {id}: generation 0");
            assert_eq!(
                s.owner.is_none(),
                s.disconnected_at_ms.is_some(),
                "session {id}: owner {:?} with disconnection time {:?}",
                s.owner,
                s.disconnected_at_ms
            );
        }
        let live: u64 = m.retained.values().filter_map(|r| r.record.as_ref()).map(|b| b.0.len() as u64).sum();
        assert_eq!(m.retained_bytes, live, "retained_bytes differs from the live retained messages");
        for (key, brokers) in &m.shared {
            assert!(!brokers.is_empty(), "shared subscription {key} without brokers");
            assert!(brokers.values().all(|n| *n > 0), "shared subscription {key}: a broker with 0 members");
        }
    }
}

fn distinct(ids: &[u64]) -> bool {
    ids.iter().collect::<BTreeSet<_>>().len() == ids.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::command::{MetaCommand, TopicSpec};
    use crate::meta::records::Role;

    fn state() -> MetaState {
        let mut s = MetaState::default();
        for id in 1..=3 {
            let addr = format!("n{id}");
            s.apply(&MetaCommand::RegisterNode {
                id,
                addr,
                roles: vec![Role::Storage],
                kafka_addr: None,
                kafka_tls_addr: None,
            })
            .unwrap();
        }
        s.apply(&MetaCommand::CreateTopic(TopicSpec::for_test("t", 2, 2))).unwrap();
        s
    }

    #[test]
    #[should_panic(expected = "not in ISR")]
    fn a_leader_outside_the_isr_is_caught() {
        let mut s = state();
        let shard = &mut s.topics.get_mut("t").unwrap().shards[0];
        let leader = shard.leader.unwrap();
        shard.isr.retain(|r| *r != leader);
        s.assert_invariants();
    }

    #[test]
    #[should_panic(expected = "shards != partitions")]
    fn a_missing_shard_is_caught() {
        let mut s = state();
        s.topics.get_mut("t").unwrap().shards.pop();
        s.assert_invariants();
    }

    #[test]
    #[should_panic(expected = "is also a topic")]
    fn a_binding_named_like_a_topic_is_caught() {
        let mut s = state();
        s.topics.get_mut("t").unwrap().bindings.insert("t".into(), "a/#".into());
        s.assert_invariants();
    }
}
