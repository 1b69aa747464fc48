//! The admin API's JSON answers, as plain structs: the documented, stable schema of
//! `docs/admin-api.md` and of `keel ... -o json`.
//!
//! Meta's own records (`TopicRecord`, `QueryResult`, `MetaOk`) are internal and serialise with
//! Rust enum wrappers (`{"Topic": {...}}`); the API never answers with them. These views are
//! what the routes send and what the CLI and the test harnesses parse, so one change of shape
//! is one change here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::meta::mqtt::SessionSummary;
use crate::meta::records::{NodeRecord, ShardRecord, TopicRecord};
use crate::meta::MetaStatus;

/// The `kind` of a [`TopicView`].
pub const KIND_TOPIC: &str = "topic";
/// The `kind` of a [`BindingView`].
pub const KIND_BINDING: &str = "binding";

/// A topic and its shards: the answer of `GET /api/topics/{name}`, `POST /api/topics` and
/// `PUT /api/topics/{name}/config`, and each element of `GET /api/topics`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicView {
    /// Always `"topic"` (a binding's answer says `"binding"`).
    pub kind: String,
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u32,
    /// `memory`, `segment`, `object` or `rocksdb`.
    pub engine: String,
    pub retention_ms: Option<u64>,
    pub retention_bytes: Option<u64>,
    pub min_insync_replicas: u32,
    pub unclean_leader_election: bool,
    /// 1 at creation, bumped by every update: the compare-and-set token of the config route.
    pub version: u64,
    /// Kafka topic name to MQTT topic filter (only the MQTT namespace log has any).
    pub bindings: BTreeMap<String, String>,
    pub shards: Vec<ShardView>,
}

/// One shard (a topic partition).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardView {
    pub partition: u32,
    /// `null` while the shard is offline.
    pub leader: Option<u64>,
    /// The leader epoch: bumped by every change of leader or replicas.
    pub epoch: u64,
    pub replicas: Vec<u64>,
    /// The in-sync replicas, the leader included.
    pub isr: Vec<u64>,
    /// The offset the next committed record will have, as the leader answers it; `null` when
    /// not asked (lists, writes) or when the leader did not answer within a second.
    pub high_watermark: Option<u64>,
    /// The first offset still stored (retention moves it); `null` as above.
    pub log_start_offset: Option<u64>,
    /// The leader's log end (at or past the high watermark); `null` as above.
    pub log_end_offset: Option<u64>,
    /// The bytes the leader stores for the shard (encoded batches, every tier); `null` as
    /// above, or when its engine does not know (rocksdb).
    pub stored_bytes: Option<u64>,
}

/// The log offsets of a shard, asked of its leader.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShardOffsets {
    pub high_watermark: u64,
    pub log_start_offset: u64,
    pub log_end_offset: u64,
    pub stored_bytes: Option<u64>,
}

/// A binding: Kafka topic `name` is a view of the records of `topic` whose MQTT topic matches
/// `filter`. The answer of `POST /api/bindings`, and of `GET /api/topics/{name}` for a binding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingView {
    /// Always `"binding"`.
    pub kind: String,
    pub name: String,
    pub filter: String,
    pub topic: String,
}

/// `GET /api/topics`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicList {
    pub topics: Vec<TopicView>,
}

/// The answer of a `DELETE`: the name of what is gone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    pub deleted: String,
}

/// `POST /api/topics/{name}/partitions/{p}/records`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Produced {
    pub base_offset: u64,
    pub last_offset: u64,
}

/// One record of a [`RecordPage`]. A Kafka batch kept whole is one record whose `value` is the
/// batch's bytes (lossy UTF-8) and that takes several offsets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordView {
    pub offset: u64,
    pub timestamp_ms: u64,
    /// Lossy UTF-8; `null` without a key.
    pub key: Option<String>,
    /// Lossy UTF-8.
    pub value: String,
}

/// `GET /api/topics/{name}/partitions/{p}/records?offset=N`: one page of committed records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordPage {
    pub records: Vec<RecordView>,
    pub high_watermark: u64,
    pub start_offset: u64,
    /// Where the next page starts: past the last record, or where this one was asked from
    /// (raised to `start_offset`) when it is empty.
    pub next_offset: u64,
}

/// `GET /api/topics/{name}/partitions/{p}/offsets?timestamp_ms=T`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetView {
    /// The first committed offset whose timestamp is at or after the time asked (the high
    /// watermark if none).
    pub offset: u64,
}

/// `GET /api/cluster`: this node's view of the meta cluster and every registered node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterView {
    pub node_id: u64,
    /// `null` on a node without the meta role.
    pub meta: Option<MetaStatus>,
    /// `null` when meta could not be asked (then `nodes_error` says why).
    pub nodes: Option<Vec<NodeRecord>>,
    pub nodes_error: Option<String>,
}

/// `GET /api/mqtt/sessions`: the first sessions by client id (at most 1,000), and how many
/// there are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MqttSessionList {
    pub sessions: Vec<SessionSummary>,
    pub total: u64,
}

/// `GET /api/groups`: every consumer group `__consumer_offsets` holds, by id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupList {
    pub groups: Vec<GroupSummary>,
}

/// One group of a [`GroupList`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSummary {
    pub group: String,
    /// See [`GroupView::state`].
    pub state: String,
    pub generation: Option<i32>,
    /// The assignor of the last generation (`range`, `cooperative-sticky`, …), empty without one.
    pub protocol: String,
    pub members: usize,
    /// Partitions with a committed offset.
    pub partitions: usize,
    /// Records behind the high watermarks over those partitions; `null` if a shard did not
    /// answer.
    pub lag: Option<u64>,
}

/// `GET /api/groups/{group}`: the group as its last records in `__consumer_offsets` say.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupView {
    pub group: String,
    /// `stable` (the last generation completed with its members), `rebalancing` (a generation
    /// started and has not completed) or `empty` (no generation, or one without members).
    pub state: String,
    pub generation: Option<i32>,
    pub protocol_type: String,
    pub protocol: String,
    /// The member that computed the assignment (empty without one).
    pub leader: String,
    pub members: Vec<GroupMemberView>,
    pub offsets: Vec<GroupOffsetView>,
}

/// A member of a completed generation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMemberView {
    pub member_id: String,
    pub client_id: String,
    /// The partitions the leader assigned it (consumer groups; empty for other protocols).
    pub assignment: Vec<AssignedPartitions>,
}

/// Partitions of one topic assigned to a member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssignedPartitions {
    pub topic: String,
    pub partitions: Vec<i32>,
}

/// A committed offset and how far it is behind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupOffsetView {
    pub topic: String,
    pub partition: i32,
    pub committed: i64,
    /// `null` if the shard's leader did not answer within a second (or it no longer exists).
    pub high_watermark: Option<u64>,
    /// `high_watermark - committed` (0 if the commit is ahead); `null` with it.
    pub lag: Option<u64>,
}

impl TopicView {
    /// The view of a topic; `offsets` gives each shard's offsets when they were asked for.
    pub fn new(t: &TopicRecord, offsets: impl Fn(u32) -> Option<ShardOffsets>) -> TopicView {
        TopicView {
            kind: KIND_TOPIC.into(),
            name: t.name.clone(),
            partitions: t.partitions,
            replication_factor: t.replication_factor,
            engine: engine_name(t),
            retention_ms: t.retention_ms,
            retention_bytes: t.retention_bytes,
            min_insync_replicas: t.min_insync_replicas,
            unclean_leader_election: t.unclean_leader_election,
            version: t.version,
            bindings: t.bindings.clone(),
            shards: t.shards.iter().map(|s| ShardView::new(s, offsets(s.partition))).collect(),
        }
    }

    /// The view without shard offsets (they are not asked of the leaders).
    pub fn of(t: &TopicRecord) -> TopicView {
        TopicView::new(t, |_| None)
    }
}

fn engine_name(t: &TopicRecord) -> String {
    match serde_json::to_value(t.engine) {
        Ok(serde_json::Value::String(s)) => s,
        _ => format!("{:?}", t.engine).to_lowercase(),
    }
}

impl ShardView {
    fn new(s: &ShardRecord, offsets: Option<ShardOffsets>) -> ShardView {
        ShardView {
            partition: s.partition,
            leader: s.leader,
            epoch: s.epoch,
            replicas: s.replicas.clone(),
            isr: s.isr.clone(),
            high_watermark: offsets.map(|o| o.high_watermark),
            log_start_offset: offsets.map(|o| o.log_start_offset),
            log_end_offset: offsets.map(|o| o.log_end_offset),
            stored_bytes: offsets.and_then(|o| o.stored_bytes),
        }
    }
}

impl BindingView {
    pub fn new(name: &str, filter: &str, topic: &str) -> BindingView {
        BindingView { kind: KIND_BINDING.into(), name: name.into(), filter: filter.into(), topic: topic.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::records::{Engine, Role};

    fn topic() -> TopicRecord {
        TopicRecord {
            id: 1,
            name: "orders".into(),
            partitions: 1,
            replication_factor: 3,
            engine: Engine::Segment,
            retention_ms: None,
            retention_bytes: Some(1024),
            version: 2,
            unclean_leader_election: false,
            min_insync_replicas: 2,
            shards: vec![ShardRecord {
                partition: 0,
                replicas: vec![1, 2, 3],
                leader: Some(1),
                epoch: 4,
                isr: vec![1, 2],
                isr_version: 7,
            }],
            bindings: BTreeMap::new(),
        }
    }

    /// The schema of docs/admin-api.md, byte for byte: a change here is a change of the API.
    #[test]
    fn topic_view_schema_is_stable() {
        let offsets =
            ShardOffsets { high_watermark: 10, log_start_offset: 0, log_end_offset: 12, stored_bytes: Some(640) };
        let v = TopicView::new(&topic(), |_| Some(offsets));
        let expected = concat!(
            r#"{"kind":"topic","name":"orders","partitions":1,"replication_factor":3,"engine":"segment","#,
            r#""retention_ms":null,"retention_bytes":1024,"min_insync_replicas":2,"unclean_leader_election":false,"#,
            r#""version":2,"bindings":{},"shards":[{"partition":0,"leader":1,"epoch":4,"replicas":[1,2,3],"#,
            r#""isr":[1,2],"high_watermark":10,"log_start_offset":0,"log_end_offset":12,"stored_bytes":640}]}"#
        );
        assert_eq!(serde_json::to_string(&v).unwrap(), expected);
        let back: TopicView = serde_json::from_str(expected).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn unasked_offsets_are_null() {
        let v = serde_json::to_value(TopicView::of(&topic())).unwrap();
        let shard = &v["shards"][0];
        assert!(shard["high_watermark"].is_null() && shard["log_start_offset"].is_null(), "{shard}");
    }

    #[test]
    fn binding_deleted_and_page_schemas_are_stable() {
        let b = BindingView::new("sensors", "sensors/#", "__mqtt");
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(json, r#"{"kind":"binding","name":"sensors","filter":"sensors/#","topic":"__mqtt"}"#);
        let d = serde_json::to_string(&Deleted { deleted: "t".into() }).unwrap();
        assert_eq!(d, r#"{"deleted":"t"}"#);
        let page = RecordPage {
            records: vec![RecordView { offset: 3, timestamp_ms: 5, key: None, value: "v".into() }],
            high_watermark: 4,
            start_offset: 0,
            next_offset: 4,
        };
        let expected = concat!(
            r#"{"records":[{"offset":3,"timestamp_ms":5,"key":null,"value":"v"}],"#,
            r#""high_watermark":4,"start_offset":0,"next_offset":4}"#
        );
        assert_eq!(serde_json::to_string(&page).unwrap(), expected);
    }

    #[test]
    fn cluster_schema_is_stable() {
        let meta = MetaStatus {
            id: 1,
            state: "Leader".into(),
            term: 3,
            leader: Some(1),
            last_log_index: Some(9),
            last_applied: Some(9),
            voters: vec![1, 2, 3],
            learners: vec![],
            members: [(1, "127.0.0.1:7101".to_string())].into_iter().collect(),
        };
        let node = NodeRecord {
            id: 1,
            addr: "127.0.0.1:7101".into(),
            roles: vec![Role::Meta, Role::Broker, Role::Storage],
            alive: true,
            kafka_addr: Some("127.0.0.1:9092".into()),
            kafka_tls_addr: None,
        };
        let c = ClusterView { node_id: 1, meta: Some(meta), nodes: Some(vec![node]), nodes_error: None };
        let expected = concat!(
            r#"{"node_id":1,"meta":{"id":1,"state":"Leader","term":3,"leader":1,"last_log_index":9,"last_applied":9,"#,
            r#""voters":[1,2,3],"learners":[],"members":{"1":"127.0.0.1:7101"}},"nodes":[{"id":1,"addr":"127.0.0.1:7101","#,
            r#""roles":["meta","broker","storage"],"alive":true,"kafka_addr":"127.0.0.1:9092","kafka_tls_addr":null}],"#,
            r#""nodes_error":null}"#
        );
        assert_eq!(serde_json::to_string(&c).unwrap(), expected);
    }

    #[test]
    fn group_schema_is_stable() {
        let g = GroupView {
            group: "billing".into(),
            state: "stable".into(),
            generation: Some(3),
            protocol_type: "consumer".into(),
            protocol: "range".into(),
            leader: "m-1".into(),
            members: vec![GroupMemberView {
                member_id: "m-1".into(),
                client_id: "c".into(),
                assignment: vec![AssignedPartitions { topic: "orders".into(), partitions: vec![0, 1] }],
            }],
            offsets: vec![GroupOffsetView {
                topic: "orders".into(),
                partition: 0,
                committed: 7,
                high_watermark: Some(10),
                lag: Some(3),
            }],
        };
        let expected = concat!(
            r#"{"group":"billing","state":"stable","generation":3,"protocol_type":"consumer","protocol":"range","#,
            r#""leader":"m-1","members":[{"member_id":"m-1","client_id":"c","assignment":[{"topic":"orders","#,
            r#""partitions":[0,1]}]}],"offsets":[{"topic":"orders","partition":0,"committed":7,"high_watermark":10,"#,
            r#""lag":3}]}"#
        );
        assert_eq!(serde_json::to_string(&g).unwrap(), expected);
    }
}
