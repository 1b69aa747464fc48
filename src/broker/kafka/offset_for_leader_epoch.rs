//! OffsetForLeaderEpoch (KIP-101, KIP-320): for each partition, where the leader epoch a client
//! asks about ended on the partition's leader — the start of the next greater epoch, or the log
//! end for the current one — with the largest epoch at most the one asked for. A consumer asks
//! after a leader change to check that its position is still on the log (not truncated away).
//!
//! `current_leader_epoch` is checked against the epoch Metadata reports (FENCED_LEADER_EPOCH /
//! UNKNOWN_LEADER_EPOCH, [`super::leader_epoch`]); the end itself comes from the storage leader's
//! epoch cache (`shard.list_offsets` with `EPOCH_END`). An epoch newer than any the leader
//! knows, or -1, is answered with epoch and offset -1 (UNDEFINED), as Kafka does.

use futures::future::join_all;
use keel_protocols::kafka::kafka_protocol::messages::offset_for_leader_epoch_request::OffsetForLeaderPartition;
use keel_protocols::kafka::kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use keel_protocols::kafka::kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use keel_protocols::kafka::kafka_protocol::ResponseError;

use super::authorize::{Caller, Need};
use super::{errors, leader_epoch, Core};
use crate::rpc::shard::OffsetSpec;

pub async fn handle(core: &Core, caller: Caller<'_>, req: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse {
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.topic.0.as_str();
        let allowed = caller.may(Need::Read, name);
        let partitions = join_all(t.partitions.iter().map(|p| async move {
            let answer = EpochEndOffset::default().with_partition(p.partition);
            if !allowed {
                return answer.with_error_code(ResponseError::TopicAuthorizationFailed.code());
            }
            match end_of(core, name, p).await {
                Ok(Some((epoch, end))) => answer.with_leader_epoch(epoch).with_end_offset(end),
                Ok(None) => answer,
                Err(e) => answer.with_error_code(e.code()),
            }
        }))
        .await;
        topics.push(OffsetForLeaderTopicResult::default().with_topic(t.topic).with_partitions(partitions));
    }
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}

/// The epoch answered and where it ended; `None`: undefined.
async fn end_of(core: &Core, topic: &str, p: &OffsetForLeaderPartition) -> Result<Option<(i32, i64)>, ResponseError> {
    let view = core.view.current();
    let current = leader_epoch::current(&view, topic, p.partition).ok_or(ResponseError::UnknownTopicOrPartition)?;
    leader_epoch::check(p.current_leader_epoch, current)?;
    // A binding's partitions are its log's shards.
    let log = crate::meta::bindings::resolve(&view.topics, topic).ok_or(ResponseError::UnknownTopicOrPartition)?.topic;
    let has_leader = log.shards.get(p.partition as usize).is_some_and(|s| s.leader.is_some());
    if !has_leader {
        return Err(ResponseError::NotLeaderOrFollower);
    }
    let Ok(asked) = u64::try_from(p.leader_epoch) else { return Ok(None) };
    let got = core.data.offset_and_epoch(&log.name, p.partition as u32, OffsetSpec::EpochEnd, 0, asked).await;
    match got {
        Ok((end, Some(epoch))) => Ok(Some((leader_epoch::to_kafka(epoch), end as i64))),
        Ok((_, None)) => Ok(None),
        Err(e) => Err(errors::of_client(&e)),
    }
}
