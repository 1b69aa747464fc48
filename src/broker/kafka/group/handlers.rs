//! The group APIs: FindCoordinator, JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit,
//! OffsetFetch, ListGroups, DescribeGroups and DeleteGroups, each a translation between the
//! Kafka messages and the coordinator ([`super::Coordinator`]).

use std::time::Duration;

use bytes::Bytes;
use keel_protocols::kafka::group::{Command, Event, GroupError, Protocol, State};
use keel_protocols::kafka::kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use keel_protocols::kafka::kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use keel_protocols::kafka::kafka_protocol::messages::find_coordinator_response::Coordinator as FoundCoordinator;
use keel_protocols::kafka::kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use keel_protocols::kafka::kafka_protocol::messages::leave_group_response::MemberResponse;
use keel_protocols::kafka::kafka_protocol::messages::list_groups_response::ListedGroup;
use keel_protocols::kafka::kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use keel_protocols::kafka::kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use keel_protocols::kafka::kafka_protocol::messages::*;
use keel_protocols::kafka::kafka_protocol::protocol::StrBytes;
use keel_protocols::kafka::kafka_protocol::ResponseError;

use super::store::Committed;
use super::{locate, Core};
use crate::broker::kafka::authorize::{Caller, Need};
use crate::broker::kafka::metadata::live_brokers;
use crate::broker::kafka::Listener;

/// A join waits at most the member's rebalance timeout plus this.
const JOIN_SLACK: Duration = Duration::from_secs(5);
/// A sync waits at most this for the leader's assignment.
const SYNC_WAIT: Duration = Duration::from_secs(300);
/// Heartbeats and leaves are answered at once; this bounds a stuck coordinator.
const QUICK_WAIT: Duration = Duration::from_secs(10);

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn group_error(e: GroupError) -> ResponseError {
    match e {
        GroupError::UnknownMemberId => ResponseError::UnknownMemberId,
        GroupError::IllegalGeneration => ResponseError::IllegalGeneration,
        GroupError::RebalanceInProgress => ResponseError::RebalanceInProgress,
        GroupError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        GroupError::MemberIdRequired => ResponseError::MemberIdRequired,
        GroupError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
    }
}

fn valid_group(g: &str) -> bool {
    !g.is_empty()
}

/// The coordinator of each group asked about, named by its address on `listener` (a broker
/// without that listener answers COORDINATOR_NOT_AVAILABLE).
pub async fn find_coordinator(
    core: &Core,
    listener: Listener,
    req: FindCoordinatorRequest,
    version: i16,
) -> FindCoordinatorResponse {
    let keys: Vec<String> = match version >= 4 {
        true => req.coordinator_keys.iter().map(|k| k.to_string()).collect(),
        false => vec![req.key.to_string()],
    };
    let mut found = Vec::with_capacity(keys.len());
    for key in keys {
        let c = FoundCoordinator::default().with_key(s(&key));
        let located = match req.key_type {
            0 => locate(core, &key).await,
            _ => Err(ResponseError::CoordinatorNotAvailable), // transactions are not served
        };
        let brokers = live_brokers(&core.view.current(), listener);
        found.push(match located.map(|(_, b)| (b, brokers.get(&b).cloned())) {
            Ok((b, Some((host, port)))) => c.with_node_id(BrokerId(b as i32)).with_host(s(&host)).with_port(port),
            Ok((_, None)) | Err(_) => c
                .with_node_id(BrokerId(-1))
                .with_port(-1)
                .with_error_code(located.err().unwrap_or(ResponseError::CoordinatorNotAvailable).code()),
        });
    }
    if version >= 4 {
        return FindCoordinatorResponse::default().with_coordinators(found);
    }
    let c = found.pop().unwrap_or_default();
    FindCoordinatorResponse::default()
        .with_error_code(c.error_code)
        .with_node_id(c.node_id)
        .with_host(c.host)
        .with_port(c.port)
}

/// `client_id` is the request header's: it names the member (its id starts with it) and shows
/// in DescribeGroups and `keel group describe`.
pub async fn join(core: &Core, req: JoinGroupRequest, version: i16, client_id: &str) -> JoinGroupResponse {
    let fail = |e: ResponseError| {
        JoinGroupResponse::default()
            .with_error_code(e.code())
            .with_generation_id(-1)
            .with_member_id(req.member_id.clone())
    };
    let group = req.group_id.0.to_string();
    if !valid_group(&group) {
        return fail(ResponseError::InvalidGroupId);
    }
    let session = req.session_timeout_ms.max(0) as u64;
    let rebalance = if version >= 1 { req.rebalance_timeout_ms.max(0) as u64 } else { session };
    let protocols =
        req.protocols.iter().map(|p| Protocol { name: p.name.to_string(), metadata: p.metadata.clone() }).collect();
    let wait = Duration::from_millis(rebalance.max(session)) + JOIN_SLACK;
    let answer = core
        .groups
        .request(core, &group, wait, |token, now_ms| Event::Join {
            token,
            member_id: req.member_id.to_string(),
            member_id_required: version >= 4,
            client_id: if client_id.is_empty() { "kafka".into() } else { client_id.to_string() },
            session_timeout_ms: session,
            rebalance_timeout_ms: rebalance,
            protocol_type: req.protocol_type.to_string(),
            protocols,
            now_ms,
        })
        .await;
    match answer {
        Ok(Command::JoinAnswer { result: Ok(ok), .. }) => JoinGroupResponse::default()
            .with_generation_id(ok.generation)
            .with_protocol_type(Some(s(&ok.protocol_type)))
            .with_protocol_name(Some(s(&ok.protocol_name)))
            .with_leader(s(&ok.leader))
            .with_member_id(s(&ok.member_id))
            .with_members(
                ok.members
                    .into_iter()
                    .map(|m| {
                        JoinGroupResponseMember::default().with_member_id(s(&m.member_id)).with_metadata(m.metadata)
                    })
                    .collect(),
            ),
        Ok(Command::JoinAnswer { result: Err((GroupError::MemberIdRequired, id)), .. }) => {
            fail(ResponseError::MemberIdRequired).with_member_id(s(&id))
        }
        Ok(Command::JoinAnswer { result: Err((e, _)), .. }) => fail(group_error(e)),
        Ok(_) => fail(ResponseError::UnknownServerError),
        Err(e) => fail(e),
    }
}

pub async fn sync(core: &Core, req: SyncGroupRequest) -> SyncGroupResponse {
    let group = req.group_id.0.to_string();
    let assignments = req.assignments.iter().map(|a| (a.member_id.to_string(), a.assignment.clone())).collect();
    let answer = core
        .groups
        .request(core, &group, SYNC_WAIT, |token, now_ms| Event::Sync {
            token,
            member_id: req.member_id.to_string(),
            generation: req.generation_id,
            assignments,
            now_ms,
        })
        .await;
    let r = SyncGroupResponse::default().with_protocol_type(req.protocol_type).with_protocol_name(req.protocol_name);
    match answer {
        Ok(Command::SyncAnswer { result: Ok(a), .. }) => r.with_assignment(a),
        Ok(Command::SyncAnswer { result: Err(e), .. }) => r.with_error_code(group_error(e).code()),
        Ok(_) => r.with_error_code(ResponseError::UnknownServerError.code()),
        Err(e) => r.with_error_code(e.code()),
    }
}

pub async fn heartbeat(core: &Core, req: HeartbeatRequest) -> HeartbeatResponse {
    let group = req.group_id.0.to_string();
    let answer = core
        .groups
        .request(core, &group, QUICK_WAIT, |token, now_ms| Event::Heartbeat {
            token,
            member_id: req.member_id.to_string(),
            generation: req.generation_id,
            now_ms,
        })
        .await;
    let code = match answer {
        Ok(Command::HeartbeatAnswer { result: Ok(()), .. }) => 0,
        Ok(Command::HeartbeatAnswer { result: Err(e), .. }) => group_error(e).code(),
        Ok(_) => ResponseError::UnknownServerError.code(),
        Err(e) => e.code(),
    };
    HeartbeatResponse::default().with_error_code(code)
}

pub async fn leave(core: &Core, req: LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
    let group = req.group_id.0.to_string();
    let ids: Vec<String> = match version >= 3 {
        true => req.members.iter().map(|m| m.member_id.to_string()).collect(),
        false => vec![req.member_id.to_string()],
    };
    let answer = core
        .groups
        .request(core, &group, QUICK_WAIT, |token, now_ms| Event::Leave { token, member_ids: ids, now_ms })
        .await;
    match answer {
        Ok(Command::LeaveAnswer { results, .. }) => {
            let members: Vec<MemberResponse> = results
                .iter()
                .map(|(id, e)| {
                    MemberResponse::default()
                        .with_member_id(s(id))
                        .with_error_code(e.map_or(0, |e| group_error(e).code()))
                })
                .collect();
            // Before v3 the one member's error is the answer's.
            let top = if version < 3 { members.first().map_or(0, |m| m.error_code) } else { 0 };
            LeaveGroupResponse::default().with_error_code(top).with_members(if version >= 3 { members } else { vec![] })
        }
        Ok(_) => LeaveGroupResponse::default().with_error_code(ResponseError::UnknownServerError.code()),
        Err(e) => LeaveGroupResponse::default().with_error_code(e.code()),
    }
}

/// OffsetCommit: the topics the caller may read are committed together (one append); the others
/// are answered TOPIC_AUTHORIZATION_FAILED.
pub async fn offset_commit(core: &Core, caller: Caller<'_>, mut req: OffsetCommitRequest) -> OffsetCommitResponse {
    let group = req.group_id.0.to_string();
    let all = std::mem::take(&mut req.topics);
    let (allowed, denied): (Vec<_>, Vec<_>) = all.into_iter().partition(|t| caller.may(Need::Read, t.name.0.as_str()));
    req.topics = allowed;
    let answer = |topics: &[offset_commit_request::OffsetCommitRequestTopic], code: i16| {
        topics
            .iter()
            .map(|t| {
                OffsetCommitResponseTopic::default().with_name(t.name.clone()).with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code)
                        })
                        .collect(),
                )
            })
            .collect::<Vec<_>>()
    };
    let code = match req.topics.is_empty() {
        true => 0,
        false => match commit(core, &group, &req).await {
            Ok(()) => 0,
            Err(e) => e.code(),
        },
    };
    let mut topics = answer(&req.topics, code);
    topics.extend(answer(&denied, ResponseError::TopicAuthorizationFailed.code()));
    OffsetCommitResponse::default().with_topics(topics)
}

async fn commit(core: &Core, group: &str, req: &OffsetCommitRequest) -> Result<(), ResponseError> {
    if !valid_group(group) {
        return Err(ResponseError::InvalidGroupId);
    }
    let mut g = core.groups.lock_group(core, group).await?;
    g.machine().check_commit(&req.member_id, req.generation_id_or_member_epoch).map_err(group_error)?;
    let commits = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                let c = Committed {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_deref().unwrap_or_default().to_string(),
                };
                ((t.name.0.to_string(), p.partition_index), c)
            })
        })
        .collect();
    g.commit(commits).await.map_err(|e| {
        tracing::warn!(group, error = %e, "kafka: an offset commit was not appended");
        ResponseError::CoordinatorNotAvailable
    })
}

/// OffsetFetch: the committed offsets of the topics asked for (all the group has, when none are
/// named), but of topics the caller may read only.
pub async fn offset_fetch(core: &Core, caller: Caller<'_>, req: OffsetFetchRequest) -> OffsetFetchResponse {
    let group = req.group_id.0.to_string();
    let g = match core.groups.lock_group(core, &group).await {
        Ok(g) => g,
        Err(e) => return OffsetFetchResponse::default().with_error_code(e.code()),
    };
    let entry = |p: i32, c: Option<&Committed>| {
        let r = OffsetFetchResponsePartition::default().with_partition_index(p);
        match c {
            Some(c) => r
                .with_committed_offset(c.offset)
                .with_committed_leader_epoch(c.leader_epoch)
                .with_metadata(Some(s(&c.metadata))),
            None => r.with_committed_offset(-1).with_committed_leader_epoch(-1).with_metadata(Some(s(""))),
        }
    };
    let topics: Vec<OffsetFetchResponseTopic> = match &req.topics {
        Some(topics) => topics
            .iter()
            .map(|t| {
                let parts = match caller.may(Need::Read, t.name.0.as_str()) {
                    true => t.partition_indexes.iter().map(|p| entry(*p, g.committed(&t.name, *p))).collect(),
                    false => t
                        .partition_indexes
                        .iter()
                        .map(|p| entry(*p, None).with_error_code(ResponseError::TopicAuthorizationFailed.code()))
                        .collect(),
                };
                OffsetFetchResponseTopic::default().with_name(t.name.clone()).with_partitions(parts)
            })
            .collect(),
        None => {
            let mut out: Vec<OffsetFetchResponseTopic> = Vec::new();
            for ((topic, p), c) in g.all_committed().filter(|((topic, _), _)| caller.may(Need::Read, topic)) {
                match out.last_mut() {
                    Some(t) if t.name.0.as_str() == topic => t.partitions.push(entry(*p, Some(c))),
                    _ => out.push(
                        OffsetFetchResponseTopic::default()
                            .with_name(TopicName(s(topic)))
                            .with_partitions(vec![entry(*p, Some(c))]),
                    ),
                }
            }
            out
        }
    };
    OffsetFetchResponse::default().with_topics(topics)
}

pub async fn list_groups(core: &Core) -> ListGroupsResponse {
    let groups = core
        .groups
        .listed()
        .await
        .into_iter()
        .map(|(g, ptype, state)| {
            ListedGroup::default()
                .with_group_id(GroupId(s(&g)))
                .with_protocol_type(s(&ptype))
                .with_group_state(s(&state))
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Empty => "Empty",
        State::PreparingRebalance => "PreparingRebalance",
        State::CompletingRebalance => "CompletingRebalance",
        State::Stable => "Stable",
    }
}

pub async fn describe_groups(core: &Core, req: DescribeGroupsRequest) -> DescribeGroupsResponse {
    let mut out = Vec::with_capacity(req.groups.len());
    for id in req.groups {
        let d = DescribedGroup::default().with_group_id(id.clone());
        out.push(match core.groups.lock_group(core, &id.0).await {
            Ok(g) => {
                let m = g.machine();
                let members = m
                    .members()
                    .map(|(mid, client, a)| {
                        DescribedGroupMember::default()
                            .with_member_id(s(mid))
                            .with_client_id(s(client))
                            .with_member_assignment(a.clone())
                            .with_member_metadata(Bytes::new())
                    })
                    .collect();
                d.with_group_state(s(state_name(m.state())))
                    .with_protocol_type(s(m.protocol_type()))
                    .with_protocol_data(s(m.protocol_name()))
                    .with_members(members)
            }
            Err(e) => d.with_error_code(e.code()),
        });
    }
    DescribeGroupsResponse::default().with_groups(out)
}

pub async fn delete_groups(core: &Core, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let mut results = Vec::with_capacity(req.groups_names.len());
    for id in req.groups_names {
        let r = DeletableGroupResult::default().with_group_id(id.clone());
        let code = match core.groups.lock_group(core, &id.0).await {
            Ok(mut g) if g.machine().state() == State::Empty => match g.delete().await {
                Ok(()) => 0,
                Err(_) => ResponseError::CoordinatorNotAvailable.code(),
            },
            Ok(_) => ResponseError::NonEmptyGroup.code(),
            Err(e) => e.code(),
        };
        results.push(r.with_error_code(code));
    }
    DeleteGroupsResponse::default().with_results(results)
}
