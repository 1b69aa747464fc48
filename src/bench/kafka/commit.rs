//! `keel bench kafka --committers N`: offset commits per second. Each committer is a consumer
//! group of its own (`keel-bench-commit-<i>`) committing, one request at a time, a new offset
//! for each of the topic's partitions — as a consumer with `enable.auto.commit` or commits after
//! every poll does — to the coordinator FindCoordinator names. Groups without members take
//! commits with generation -1 (as Kafka's simple consumers do). The broker appends commits to
//! `__consumer_offsets` through the data plane, batched per shard: a commit is not a Raft write.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use keel_protocols::kafka::kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use keel_protocols::kafka::kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, FindCoordinatorResponse, GroupId, OffsetCommitRequest, OffsetCommitResponse,
    TopicName,
};
use keel_protocols::kafka::kafka_protocol::protocol::StrBytes;
use keel_rt::time;

use super::conn::Conn;
use super::Shared;

/// The coordinator of `group`, as host:port.
async fn coordinator(bootstrap: &str, group: &str) -> io::Result<String> {
    let mut conn = Conn::connect(bootstrap).await?;
    let req = FindCoordinatorRequest::default().with_key(StrBytes::from_string(group.to_string()));
    let resp: FindCoordinatorResponse = conn.call(ApiKey::FindCoordinator, 3, &req).await?;
    match resp.error_code {
        0 => Ok(format!("{}:{}", resp.host, resp.port)),
        e => Err(io::Error::other(format!("FindCoordinator answered error {e}"))),
    }
}

/// Commits until the run stops; returns the commits acknowledged.
pub async fn run(shared: Arc<Shared>, index: u32) -> Result<u64, String> {
    let opts = &shared.opts;
    let group = format!("keel-bench-commit-{index}");
    let addr = coordinator(&opts.bootstrap, &group).await.map_err(|e| format!("{group}: {e}"))?;
    let mut conn = Conn::connect(&addr).await.map_err(|e| format!("{group} to {addr}: {e}"))?;
    let mut offset = 0i64;
    let mut acked = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        offset += 1;
        let partitions = (0..opts.partitions)
            .map(|p| OffsetCommitRequestPartition::default().with_partition_index(p).with_committed_offset(offset))
            .collect();
        let req = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.clone())))
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_string(opts.topic.clone())))
                .with_partitions(partitions)]);
        let sent = shared.now_ns();
        let resp: OffsetCommitResponse =
            conn.call(ApiKey::OffsetCommit, 7, &req).await.map_err(|e| format!("{group}: OffsetCommit: {e}"))?;
        let failed = resp.topics.iter().flat_map(|t| &t.partitions).any(|p| p.error_code != 0);
        if failed {
            shared.errors.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        acked += 1;
        shared.acked.fetch_add(1, Ordering::Relaxed);
        let done = shared.now_ns();
        if shared.measured(sent) {
            shared.acked_measured.fetch_add(1, Ordering::Relaxed);
            shared.ack.lock().expect("lock").record(done - sent);
            *shared.last_measured_ack.lock().expect("lock") = Some(time::now());
        }
    }
    Ok(acked)
}
