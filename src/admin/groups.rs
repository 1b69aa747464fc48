//! Kafka consumer groups as the admin API shows them (`GET /api/groups`, `/api/groups/{group}`):
//! read from where they live, the records of `__consumer_offsets` (see
//! `broker::kafka::group::store`), so any node answers for every group whichever broker
//! coordinates it. A group shows as its last records say: its last generation (members and
//! assignments once it completed) and its committed offsets, each with its lag behind the
//! shard's high watermark. A rebalance under way, or a member that left, shows once the
//! coordinator recorded it.

use std::collections::BTreeMap;

use bytes::Buf;

use super::http::Response;
use super::view::{AssignedPartitions, GroupList, GroupMemberView, GroupOffsetView, GroupSummary, GroupView};
use super::AdminState;
use crate::broker::kafka::group::lag;
use crate::broker::kafka::group::store::{self, Generation, Loaded, OFFSETS_TOPIC};
use crate::client::{ClientConfig, DataClient};
use crate::meta::command::{MetaQuery, QueryResult};
use crate::rpc::shard::OffsetSpec;

/// High watermarks by topic and partition (`None`: the shard did not answer).
type Watermarks = BTreeMap<(String, i32), Option<u64>>;

/// `GET /api/groups`.
pub async fn list(state: &AdminState) -> Response {
    let partitions = match offsets_partitions(state).await {
        Ok(Some(n)) => n,
        Ok(None) => return Response::json(200, &to_json(&GroupList { groups: Vec::new() })),
        Err(resp) => return resp,
    };
    let mut groups = BTreeMap::new();
    for p in 0..partitions {
        match store::replay_all(&state.data, p).await {
            Ok(found) => groups.extend(found),
            Err(e) => return Response::error(503, format!("cannot read {OFFSETS_TOPIC}/{p}: {e}")),
        }
    }
    let marks = watermarks(state, groups.values()).await;
    let groups = groups.iter().map(|(id, l)| summary(id, l, &marks)).collect();
    Response::json(200, &to_json(&GroupList { groups }))
}

/// `GET /api/groups/{group}`.
pub async fn describe(state: &AdminState, group: &str) -> Response {
    let partitions = match offsets_partitions(state).await {
        Ok(Some(n)) => n,
        Ok(None) => return not_found(group),
        Err(resp) => return resp,
    };
    let partition = store::partition_of(group, partitions);
    let loaded = match store::replay(&state.data, partition, group).await {
        Ok(l) if l.generation.is_none() && l.offsets.is_empty() => return not_found(group),
        Ok(l) => l,
        Err(e) => return Response::error(503, format!("cannot read {OFFSETS_TOPIC}/{partition}: {e}")),
    };
    let marks = watermarks(state, [&loaded]).await;
    Response::json(200, &to_json(&view(group, &loaded, &marks)))
}

fn not_found(group: &str) -> Response {
    Response::error(404, format!("consumer group {group:?} does not exist (no offsets or generation recorded)"))
}

/// The partitions of `__consumer_offsets`; `None` before any group was created.
async fn offsets_partitions(state: &AdminState) -> Result<Option<u32>, Response> {
    match state.meta_client.query(&MetaQuery::Topic { name: OFFSETS_TOPIC.to_string() }).await {
        Ok(QueryResult::Topic(t)) => Ok(t.map(|t| t.partitions)),
        Ok(_) => Err(Response::error(500, "meta answered another query")),
        Err(e) => Err(Response::error(503, e)),
    }
}

/// The high watermark of every partition the groups committed offsets for, asked of each
/// shard's leader once (a second at most per shard).
async fn watermarks<'a>(state: &AdminState, groups: impl IntoIterator<Item = &'a Loaded>) -> Watermarks {
    let quick = ClientConfig { call_timeout_ms: 1_000, delivery_timeout_ms: 2_000, ..ClientConfig::default() };
    let client: DataClient = state.data.clone().with_config(quick);
    let mut marks = Watermarks::new();
    for l in groups {
        for key in l.offsets.keys() {
            if marks.contains_key(key) {
                continue;
            }
            let hw = match u32::try_from(key.1) {
                Ok(p) => client.list_offsets(&key.0, p, OffsetSpec::Latest, 0).await.ok(),
                Err(_) => None,
            };
            marks.insert(key.clone(), hw);
        }
    }
    marks
}

/// `stable`, `rebalancing` or `empty` (see [`GroupView::state`]).
fn state_of(g: Option<&Generation>) -> &'static str {
    match g {
        Some(g) if !g.members.is_empty() => "stable",
        Some(g) if !g.leader.is_empty() => "rebalancing",
        _ => "empty",
    }
}

fn offsets(l: &Loaded, marks: &Watermarks) -> Vec<GroupOffsetView> {
    l.offsets
        .iter()
        .map(|((topic, partition), c)| {
            let high_watermark = marks.get(&(topic.clone(), *partition)).copied().flatten();
            let lag = high_watermark.map(|hw| lag::lag(hw, c.offset));
            GroupOffsetView { topic: topic.clone(), partition: *partition, committed: c.offset, high_watermark, lag }
        })
        .collect()
}

fn summary(group: &str, l: &Loaded, marks: &Watermarks) -> GroupSummary {
    let offsets = offsets(l, marks);
    GroupSummary {
        group: group.to_string(),
        state: state_of(l.generation.as_ref()).to_string(),
        generation: l.generation.as_ref().map(|g| g.generation),
        protocol: l.generation.as_ref().map(|g| g.protocol_name.clone()).unwrap_or_default(),
        members: l.generation.as_ref().map_or(0, |g| g.members.len()),
        partitions: offsets.len(),
        lag: offsets.iter().map(|o| o.lag).sum(),
    }
}

fn view(group: &str, l: &Loaded, marks: &Watermarks) -> GroupView {
    let g = l.generation.as_ref();
    let consumer = g.is_some_and(|g| g.protocol_type == "consumer");
    let members = g.map(|g| g.members.as_slice()).unwrap_or_default();
    GroupView {
        group: group.to_string(),
        state: state_of(g).to_string(),
        generation: g.map(|g| g.generation),
        protocol_type: g.map(|g| g.protocol_type.clone()).unwrap_or_default(),
        protocol: g.map(|g| g.protocol_name.clone()).unwrap_or_default(),
        leader: g.map(|g| g.leader.clone()).unwrap_or_default(),
        members: members
            .iter()
            .map(|m| GroupMemberView {
                member_id: m.member_id.clone(),
                client_id: m.client_id.clone(),
                assignment: if consumer { consumer_assignment(&m.assignment).unwrap_or_default() } else { Vec::new() },
            })
            .collect(),
        offsets: offsets(l, marks),
    }
}

/// The partitions of a consumer protocol assignment (Kafka's `ConsumerProtocolAssignment`,
/// every version: `version:i16`, then `[topic:string(i16 length), [partition:i32]]` with i32
/// counts, then user data, which is not read); `None` if it does not parse.
fn consumer_assignment(bytes: &[u8]) -> Option<Vec<AssignedPartitions>> {
    let mut b = bytes;
    if b.remaining() < 6 {
        return None;
    }
    let _version = b.get_i16();
    let topics = usize::try_from(b.get_i32()).ok()?;
    let mut out = Vec::new();
    for _ in 0..topics {
        if b.remaining() < 2 {
            return None;
        }
        let len = usize::try_from(b.get_i16()).ok()?;
        let name = b.get(..len)?;
        let topic = String::from_utf8(name.to_vec()).ok()?;
        b.advance(len);
        if b.remaining() < 4 {
            return None;
        }
        let n = usize::try_from(b.get_i32()).ok()?;
        if b.remaining() < n.checked_mul(4)? {
            return None;
        }
        let partitions = (0..n).map(|_| b.get_i32()).collect();
        out.push(AssignedPartitions { topic, partitions });
    }
    Some(out)
}

fn to_json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).expect("api values serialise")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::kafka::group::store::Committed;

    /// `ConsumerProtocolAssignment` v0 of `orders` [0, 2] and `audit` [1], with 3 bytes of user
    /// data (as Kafka's Java client encodes it).
    const ASSIGNMENT: &[u8] = &[
        0, 0, // version
        0, 0, 0, 2, // topics
        0, 6, b'o', b'r', b'd', b'e', b'r', b's', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, // orders
        0, 5, b'a', b'u', b'd', b'i', b't', 0, 0, 0, 1, 0, 0, 0, 1, // audit
        0, 0, 0, 3, 1, 2, 3, // user data
    ];

    #[test]
    fn a_consumer_assignment_decodes_to_its_partitions() {
        let got = consumer_assignment(ASSIGNMENT).expect("parses");
        assert_eq!(
            got,
            vec![
                AssignedPartitions { topic: "orders".into(), partitions: vec![0, 2] },
                AssignedPartitions { topic: "audit".into(), partitions: vec![1] },
            ]
        );
    }

    #[test]
    fn a_cut_or_hostile_assignment_is_none_never_a_panic() {
        for cut in 0..ASSIGNMENT.len() - 7 {
            assert_eq!(consumer_assignment(&ASSIGNMENT[..cut]), None, "cut at {cut}");
        }
        let mut huge = ASSIGNMENT.to_vec();
        huge[2..6].copy_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(consumer_assignment(&huge), None);
        let mut negative = ASSIGNMENT.to_vec();
        negative[16..20].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(consumer_assignment(&negative), None);
    }

    fn loaded(generation: Option<Generation>, offsets: &[(&str, i32, i64)]) -> Loaded {
        let offsets = offsets
            .iter()
            .map(|(t, p, o)| ((t.to_string(), *p), Committed { offset: *o, leader_epoch: 0, metadata: String::new() }))
            .collect();
        Loaded { offsets, generation, end: 0 }
    }

    #[test]
    fn lag_is_the_high_watermark_minus_the_commit_and_unknown_without_an_answer() {
        let l = loaded(None, &[("orders", 0, 7), ("orders", 1, 12), ("orders", 2, 1)]);
        let marks: Watermarks = [
            (("orders".to_string(), 0), Some(10)),
            (("orders".to_string(), 1), Some(10)),
            (("orders".to_string(), 2), None),
        ]
        .into_iter()
        .collect();
        let o = offsets(&l, &marks);
        assert_eq!(o.iter().map(|o| o.lag).collect::<Vec<_>>(), vec![Some(3), Some(0), None]);
        let s = summary("g", &l, &marks);
        assert_eq!(
            (s.state.as_str(), s.partitions, s.lag),
            ("empty", 3, None),
            "one unknown lag makes the sum unknown"
        );
        let known = loaded(None, &[("orders", 0, 7)]);
        assert_eq!(summary("g", &known, &marks).lag, Some(3));
    }

    #[test]
    fn the_state_follows_the_last_generation() {
        let started = Generation { generation: 2, leader: "m".into(), ..Generation::default() };
        assert_eq!(state_of(None), "empty");
        assert_eq!(state_of(Some(&started)), "rebalancing");
        let mut completed = started.clone();
        completed.members.push(keel_protocols::kafka::group::StoredMember {
            member_id: "m".into(),
            client_id: "c".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 10_000,
            protocols: Vec::new(),
            assignment: bytes::Bytes::new(),
        });
        assert_eq!(state_of(Some(&completed)), "stable");
        assert_eq!(state_of(Some(&Generation { generation: 3, ..Generation::default() })), "empty");
    }
}
