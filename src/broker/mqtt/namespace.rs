//! The MQTT namespace log: one Keel topic, `__mqtt`, whose shards hold every MQTT message. A
//! message goes to the shard its topic name hashes to, so messages of one topic stay in order.
//!
//! The first broker to start creates it from `[mqtt]` (shards, engine, replication factor capped
//! by the storage nodes there are, retention); later brokers use it as it is (its shard count is
//! fixed at creation: changing it would move topics between shards and break their order).
//!
//! Its replication factor is fixed at creation too, so the creator waits for the storage nodes
//! it expects (the replication factor, capped by the cluster's configured meta voters: one for
//! a single node) before creating it, up to [`STORAGE_WAIT`]: a broker that raced its peers'
//! registration would otherwise create a log with one copy that a node's loss makes unavailable.

use std::time::Duration;

use keel_rt::time;

use crate::config::MqttSection;
use crate::meta::client::MetaClient;
use crate::meta::command::{MetaCommand, MetaError, TopicSpec};
use crate::meta::records::{Engine, Role};
use crate::meta::view::ViewHandle;

/// The namespace log's topic name.
pub const TOPIC: &str = "__mqtt";

/// The shard a topic's messages go to: FNV-1a of the topic name, modulo the shards (stable
/// across builds and machines: every broker must agree).
pub fn shard_of(topic: &str, shards: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in topic.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % u64::from(shards.max(1))) as u32
}

/// How long the creator waits for the storage nodes it expects before it creates the namespace
/// log with those there are (and warns).
pub const STORAGE_WAIT: Duration = Duration::from_secs(20);

/// Waits until the namespace log exists (creating it if no one has), and returns its shard
/// count. Retries until it succeeds: a broker cannot serve before. `cluster_nodes` is how many
/// nodes the configuration names (the meta voters or endpoints; one for a single node).
pub async fn ensure(meta: &MetaClient, view: &ViewHandle, config: &MqttSection, cluster_nodes: u32) -> u32 {
    let mut view = view.clone();
    let started = time::now();
    let wanted = config.replication_factor.min(cluster_nodes).max(1);
    loop {
        let v = view.current();
        if let Some(t) = v.topics.get(TOPIC) {
            return t.partitions;
        }
        if v.version > 0 {
            let storage = v.nodes.values().filter(|n| n.alive && n.roles.contains(&Role::Storage)).count() as u32;
            let waited = started.elapsed() >= STORAGE_WAIT;
            if storage > 0 && storage < wanted && waited {
                tracing::warn!(storage, wanted, "creating the MQTT namespace log with fewer copies than wanted");
            }
            if storage >= wanted || (storage > 0 && waited) {
                match meta.write(&MetaCommand::CreateTopic(spec(config, storage))).await {
                    Ok(ok) => match ok.result {
                        Ok(_) | Err(MetaError::TopicExists { .. }) => {}
                        Err(e) => tracing::warn!(error = %e, "creating the MQTT namespace log"),
                    },
                    Err(e) => tracing::debug!(error = %e, "creating the MQTT namespace log; will retry"),
                }
            }
        }
        let _ = time::timeout(Duration::from_millis(500), view.changed()).await;
    }
}

/// Sets the configured bindings (`[[mqtt.bindings]]`) in meta, retrying what meta could not
/// take yet; a binding meta refuses (its name is a topic's) is logged and left.
pub async fn bind_configured(meta: MetaClient, config: MqttSection) {
    for b in &config.bindings {
        let cmd =
            MetaCommand::Bind { topic: TOPIC.into(), name: b.kafka_topic.clone(), filter: Some(b.filter.clone()) };
        loop {
            match meta.write(&cmd).await {
                Ok(w) => {
                    if let Err(e) = w.result {
                        tracing::warn!(binding = %b.kafka_topic, error = %e, "the configured binding was refused");
                    }
                    break;
                }
                Err(e) => tracing::debug!(binding = %b.kafka_topic, error = %e, "setting a binding; will retry"),
            }
            time::sleep(Duration::from_millis(500)).await;
        }
    }
}

fn spec(config: &MqttSection, storage_nodes: u32) -> TopicSpec {
    let engine = if config.engine == "memory" { Engine::Memory } else { Engine::Segment };
    let rf = config.replication_factor.min(storage_nodes).max(1);
    TopicSpec {
        name: TOPIC.to_string(),
        partitions: config.shards,
        replication_factor: rf,
        engine,
        retention_ms: Some(config.retention_ms),
        retention_bytes: None,
        unclean_leader_election: false,
        // With three copies or more, a write needs two of them: one node's loss loses nothing.
        min_insync_replicas: if rf >= 3 { 2 } else { 1 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        // Fixed values: every broker of every build must agree.
        assert_eq!(shard_of("", 8), (0xcbf2_9ce4_8422_2325u64 % 8) as u32);
        assert_eq!(shard_of("a/b", 1), 0);
        let mut counts = [0u32; 8];
        for i in 0..8_000 {
            counts[shard_of(&format!("sensors/{i}/temp"), 8) as usize] += 1;
        }
        assert!(counts.iter().all(|c| (800..1_200).contains(c)), "{counts:?}");
    }

    #[test]
    fn the_spec_caps_replication_by_the_storage_nodes() {
        let c = MqttSection::default();
        let s = spec(&c, 1);
        assert_eq!((s.replication_factor, s.min_insync_replicas, s.partitions), (1, 1, c.shards));
        let s = spec(&c, 5);
        assert_eq!((s.replication_factor, s.min_insync_replicas), (3, 2));
        assert!(matches!(s.engine, Engine::Segment));
    }
}
