//! ListOffsets: a partition's earliest offset (-2), latest (-1: the high watermark), or the
//! first offset of the first stored batch whose newest timestamp reaches the one asked for.
//! Batches are kept whole, so a lookup by time lands on a batch's first record: a consumer
//! seeking there may see a few records older than the timestamp, never miss a newer one.
//! -3 (the record with the largest timestamp) is answered with the latest offset. A time no
//! stored record reaches is answered -1 (Kafka's "no such offset"; librdkafka reads it as the
//! end), not the high watermark. From v4 the answer carries the leader epoch of the offset (the
//! current one for the latest), and the request's `current_leader_epoch` is checked
//! ([`super::leader_epoch`]).

use futures::future::join_all;
use keel_protocols::kafka::kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use keel_protocols::kafka::kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use keel_protocols::kafka::kafka_protocol::ResponseError;

use super::authorize::{Caller, Need};
use super::{errors, leader_epoch, Core};
use crate::meta::bindings;
use crate::rpc::shard::OffsetSpec;

/// Kafka's special timestamps.
const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;

pub async fn handle(core: &Core, caller: Caller<'_>, req: ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.name.0.to_string();
        let allowed = caller.may(Need::Read, &name);
        let partitions = join_all(t.partitions.iter().map(|p| {
            let name = name.clone();
            async move {
                let r = ListOffsetsPartitionResponse::default().with_partition_index(p.partition_index);
                let found = match allowed {
                    true => lookup(core, &name, p.partition_index, p.current_leader_epoch, p.timestamp).await,
                    false => Err(ResponseError::TopicAuthorizationFailed),
                };
                match found {
                    // Before v4 the answer has no epoch (the codec refuses one that is not -1).
                    Ok((offset, epoch)) => r
                        .with_offset(offset)
                        .with_leader_epoch(if version >= 4 { epoch } else { -1 })
                        .with_timestamp(-1),
                    Err(e) => r.with_error_code(e.code()).with_offset(-1).with_timestamp(-1),
                }
            }
        }))
        .await;
        topics.push(ListOffsetsTopicResponse::default().with_name(t.name).with_partitions(partitions));
    }
    ListOffsetsResponse::default().with_topics(topics)
}

/// The offset and the leader epoch it was written in (-1: unknown).
async fn lookup(
    core: &Core,
    topic: &str,
    partition: i32,
    current_leader_epoch: i32,
    timestamp: i64,
) -> Result<(i64, i32), ResponseError> {
    let view = core.view.current();
    let target =
        bindings::resolve(&view.topics, topic).filter(|t| partition >= 0 && (partition as u32) < t.topic.partitions);
    let (Some(target), Some(current)) = (target, leader_epoch::current(&view, topic, partition)) else {
        return Err(ResponseError::UnknownTopicOrPartition);
    };
    leader_epoch::check(current_leader_epoch, current)?;
    let (spec, ts) = match timestamp {
        EARLIEST => (OffsetSpec::Earliest, 0),
        LATEST | MAX_TIMESTAMP => (OffsetSpec::Latest, 0),
        t if t >= 0 => (OffsetSpec::Timestamp, t as u64),
        _ => return Err(ResponseError::InvalidRequest),
    };
    let log = target.topic.name.as_str();
    let find = |spec| async move {
        core.data.offset_and_epoch(log, partition as u32, spec, ts, 0).await.map_err(|e| errors::of_client(&e))
    };
    let epoch_of = |e: Option<u64>| e.map_or(-1, leader_epoch::to_kafka);
    if !matches!(spec, OffsetSpec::Timestamp) {
        let (o, epoch) = find(spec).await?;
        return Ok((o as i64, epoch_of(epoch)));
    }
    // The high watermark first: a record found at or past it did not exist when it was read.
    let (latest, _) = find(OffsetSpec::Latest).await?;
    let (found, epoch) = find(OffsetSpec::Timestamp).await?;
    match by_time(found, latest) {
        -1 => Ok((-1, -1)),
        o => Ok((o, epoch_of(epoch))),
    }
}

/// The answer to a lookup by time: the offset the log found, or -1 when it found none below
/// `latest` (the storage answers the end of the log when no record reaches the time).
fn by_time(found: u64, latest: u64) -> i64 {
    match found < latest {
        true => found as i64,
        false => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::by_time;

    #[test]
    fn a_time_no_record_reaches_is_answered_minus_one() {
        assert_eq!(by_time(3, 5), 3);
        assert_eq!(by_time(0, 1), 0);
        assert_eq!(by_time(5, 5), -1, "the end of the log: no record at or after the time");
        assert_eq!(by_time(0, 0), -1, "an empty partition");
        assert_eq!(by_time(7, 5), -1, "appended after the high watermark was read");
    }
}
