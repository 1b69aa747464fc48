//! Metadata: the live brokers and, for each topic asked about (all when the client asks for
//! all), its partitions with a leader broker. Brokers are stateless and any of them serves any
//! partition, so a partition's leader is the broker on the shard's storage leader when that
//! node is a live broker (no forwarding hop), else one picked by hash among the live brokers:
//! leadership spreads over them, and a dead broker stops being named once meta marks it dead.
//! Brokers are named by their addresses on the client's listener (plain or TLS), and one
//! without that listener is not named to it.

use std::collections::BTreeMap;

use keel_protocols::kafka::kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use keel_protocols::kafka::kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use keel_protocols::kafka::kafka_protocol::protocol::StrBytes;
use keel_protocols::kafka::kafka_protocol::ResponseError;

use super::authorize::{Caller, Need};
use super::{leader_epoch, topics, Core, Listener};
use crate::meta::bindings;
use crate::meta::records::{NodeId, NodeRecord, Role, TopicRecord};
use crate::meta::view::MetaView;

/// The cluster id every Metadata answer carries.
pub const CLUSTER_ID: &str = "keel";

/// The live brokers that serve Kafka on `listener`, with where its clients reach them, by id.
pub fn live_brokers(view: &MetaView, listener: Listener) -> BTreeMap<NodeId, (String, i32)> {
    view.nodes.values().filter(|n| is_live_broker(n)).filter_map(|n| broker_endpoint(n, listener)).collect()
}

/// The live brokers that serve Kafka on any listener (where groups are coordinated), by id.
pub fn kafka_brokers(view: &MetaView) -> BTreeMap<NodeId, ()> {
    let serves = |n: &&NodeRecord| n.kafka_addr.is_some() || n.kafka_tls_addr.is_some();
    view.nodes.values().filter(|n| is_live_broker(n)).filter(serves).map(|n| (n.id, ())).collect()
}

fn is_live_broker(n: &NodeRecord) -> bool {
    n.alive && n.roles.contains(&Role::Broker)
}

fn broker_endpoint(n: &NodeRecord, listener: Listener) -> Option<(NodeId, (String, i32))> {
    let addr = match listener {
        Listener::Plain => n.kafka_addr.as_deref()?,
        Listener::Tls => n.kafka_tls_addr.as_deref()?,
    };
    Some((n.id, host_port(addr)?))
}

/// `host:port` (the host maybe bracketed) split for a Metadata answer.
fn host_port(addr: &str) -> Option<(String, i32)> {
    let (host, port) = addr.rsplit_once(':')?;
    Some((host.trim_start_matches('[').trim_end_matches(']').to_string(), port.parse().ok()?))
}

/// The broker that leads `partition` of `topic` for clients, if any broker is live.
pub fn leader_broker<V>(
    brokers: &BTreeMap<NodeId, V>,
    topic: &str,
    partition: u32,
    storage_leader: Option<NodeId>,
) -> Option<NodeId> {
    if let Some(l) = storage_leader.filter(|l| brokers.contains_key(l)) {
        return Some(l);
    }
    if brokers.is_empty() {
        return None;
    }
    let h = fnv1a(topic.as_bytes()) ^ u64::from(partition).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    brokers.keys().nth((h % brokers.len() as u64) as usize).copied()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// The brokers, by their addresses on `listener`, and the topics asked about (those `caller` may read).
pub async fn handle(
    core: &Core,
    caller: Caller<'_>,
    listener: Listener,
    req: MetadataRequest,
    version: i16,
) -> MetadataResponse {
    let mut view = core.view.current();
    // v0: an empty list means every topic; v1+: null means every topic, empty means none.
    let wanted: Option<Vec<String>> = match req.topics {
        None => None,
        Some(t) if t.is_empty() && version == 0 => None,
        Some(t) => Some(t.into_iter().filter_map(|t| t.name.map(|n| n.0.to_string())).collect()),
    };
    let auto_create = core.config.kafka.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
    if let (Some(names), true) = (&wanted, auto_create) {
        let missing: Vec<&String> = names
            .iter()
            .filter(|n| bindings::resolve(&view.topics, n).is_none() && caller.may(Need::Alter, n))
            .collect();
        if !missing.is_empty() {
            for name in missing {
                let _ = topics::create_default(core, name).await;
            }
            view = core.view.current();
        }
    }
    let mut brokers = live_brokers(&view, listener);
    // A broker whose own registration has not reached its view yet still names itself: a
    // client that reached it must always learn at least one broker (and a controller).
    let own = match listener {
        Listener::Plain => core.config.kafka_advertise_addr(),
        Listener::Tls => core.config.kafka_tls_advertise_addr(),
    };
    if let Some(endpoint) = own.as_deref().and_then(host_port) {
        brokers.entry(core.config.node_id).or_insert(endpoint);
    }
    let topics: Vec<MetadataResponseTopic> = match wanted {
        None => view
            .topics
            .values()
            .filter(|t| !t.name.starts_with("__"))
            .map(|t| (t.name.as_str(), t))
            .chain(view.topics.values().flat_map(|t| t.bindings.keys().map(move |name| (name.as_str(), t))))
            .filter(|(name, _)| caller.may(Need::Describe, name))
            .map(|(name, t)| topic(name, t, &brokers))
            .collect(),
        Some(names) => names
            .iter()
            .map(|n| match bindings::resolve(&view.topics, n) {
                _ if !caller.may(Need::Describe, n) => MetadataResponseTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(n.clone()))))
                    .with_error_code(ResponseError::TopicAuthorizationFailed.code()),
                Some(target) => topic(n, target.topic, &brokers),
                None => MetadataResponseTopic::default()
                    .with_name(Some(TopicName(StrBytes::from_string(n.clone()))))
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code()),
            })
            .collect(),
    };
    let controller = brokers.keys().next().map_or(-1, |id| *id as i32);
    MetadataResponse::default()
        .with_brokers(
            brokers
                .iter()
                .map(|(id, (host, port))| {
                    MetadataResponseBroker::default()
                        .with_node_id(BrokerId(*id as i32))
                        .with_host(StrBytes::from_string(host.clone()))
                        .with_port(*port)
                })
                .collect(),
        )
        .with_cluster_id(Some(StrBytes::from_static_str(CLUSTER_ID)))
        .with_controller_id(BrokerId(controller))
        .with_topics(topics)
}

/// Topic `t` as Kafka topic `name` (its own name, or a binding's).
fn topic(name: &str, t: &TopicRecord, brokers: &BTreeMap<NodeId, (String, i32)>) -> MetadataResponseTopic {
    let partitions = t
        .shards
        .iter()
        .map(|s| {
            let p = MetadataResponsePartition::default()
                .with_partition_index(s.partition as i32)
                .with_leader_epoch(leader_epoch::to_kafka(s.epoch));
            match leader_broker(brokers, &t.name, s.partition, s.leader).filter(|_| s.leader.is_some()) {
                Some(b) => {
                    let b = BrokerId(b as i32);
                    p.with_leader_id(b).with_replica_nodes(vec![b]).with_isr_nodes(vec![b])
                }
                None => p.with_leader_id(BrokerId(-1)).with_error_code(ResponseError::LeaderNotAvailable.code()),
            }
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))
        .with_is_internal(name.starts_with("__"))
        .with_partitions(partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brokers(ids: &[NodeId]) -> BTreeMap<NodeId, (String, i32)> {
        ids.iter().map(|id| (*id, (format!("10.0.0.{id}"), 9092))).collect()
    }

    #[test]
    fn the_storage_leader_leads_when_it_is_a_live_broker() {
        let b = brokers(&[1, 2, 3]);
        assert_eq!(leader_broker(&b, "t", 0, Some(2)), Some(2));
        let other = leader_broker(&b, "t", 0, Some(7)).unwrap();
        assert!(b.contains_key(&other), "else a live broker");
        assert_eq!(leader_broker(&brokers(&[]), "t", 0, Some(2)), None);
    }

    #[test]
    fn partitions_without_a_broker_leader_spread_over_the_brokers() {
        let b = brokers(&[1, 2, 3]);
        let mut per: BTreeMap<NodeId, u32> = BTreeMap::new();
        for p in 0..300 {
            *per.entry(leader_broker(&b, "topic", p, None).unwrap()).or_default() += 1;
        }
        assert_eq!(per.len(), 3, "every broker leads some: {per:?}");
        assert!(per.values().all(|n| *n > 50), "roughly even: {per:?}");
    }

    fn node(id: NodeId, alive: bool, kafka: Option<&str>, tls: Option<&str>) -> NodeRecord {
        NodeRecord {
            id,
            addr: String::new(),
            roles: vec![Role::Broker],
            alive,
            kafka_addr: kafka.map(str::to_string),
            kafka_tls_addr: tls.map(str::to_string),
        }
    }

    #[test]
    fn dead_brokers_and_nodes_without_kafka_are_not_named() {
        let mut view = MetaView::default();
        view.nodes.insert(1, node(1, true, Some("127.0.0.1:9092"), None));
        view.nodes.insert(2, node(2, false, Some("127.0.0.2:9092"), None));
        view.nodes.insert(3, node(3, true, None, None));
        view.nodes.insert(4, node(4, true, Some("[::1]:19092"), None));
        let got = live_brokers(&view, Listener::Plain);
        assert_eq!(got.into_iter().collect::<Vec<_>>(), [(1, ("127.0.0.1".into(), 9092)), (4, ("::1".into(), 19092))]);
    }

    #[test]
    fn tls_clients_are_told_the_tls_addresses() {
        let mut view = MetaView::default();
        view.nodes.insert(1, node(1, true, Some("h1:9092"), Some("h1:9093")));
        view.nodes.insert(2, node(2, true, Some("h2:9092"), None));
        view.nodes.insert(3, node(3, true, None, Some("h3:9093")));
        let plain = live_brokers(&view, Listener::Plain);
        assert_eq!(plain.into_iter().collect::<Vec<_>>(), [(1, ("h1".into(), 9092)), (2, ("h2".into(), 9092))]);
        let tls = live_brokers(&view, Listener::Tls);
        assert_eq!(tls.into_iter().collect::<Vec<_>>(), [(1, ("h1".into(), 9093)), (3, ("h3".into(), 9093))]);
        // Groups are coordinated over every Kafka broker, whichever listener asks.
        assert_eq!(kafka_brokers(&view).into_keys().collect::<Vec<_>>(), [1, 2, 3]);
    }
}
