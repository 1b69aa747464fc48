//! One bench consumer: every partition fetched from its end at the start, each record's stamp
//! read for the end-to-end latency.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Buf;
use keel_protocols::kafka::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use keel_protocols::kafka::kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use keel_protocols::kafka::kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, TopicName,
};
use keel_protocols::kafka::kafka_protocol::protocol::StrBytes;
use keel_protocols::kafka::kafka_protocol::records::RecordBatchDecoder;
use keel_rt::time;

use super::conn::Conn;
use super::Shared;

const FETCH_VERSION: i16 = 11;
const LIST_OFFSETS_VERSION: i16 = 5;

pub async fn run(shared: Arc<Shared>, id: u32) -> Result<(), String> {
    let opts = shared.opts.clone();
    let fail = |e: std::io::Error| format!("consumer {id}: {e}");
    let mut conn = Conn::connect(&opts.bootstrap).await.map_err(fail)?;
    let topic = TopicName(StrBytes::from_string(opts.topic.clone()));
    let partitions: Vec<i32> = (0..opts.partitions).collect();
    let req =
        ListOffsetsRequest::default().with_replica_id(BrokerId(-1)).with_topics(vec![ListOffsetsTopic::default()
            .with_name(topic.clone())
            .with_partitions(
                partitions
                    .iter()
                    .map(|p| ListOffsetsPartition::default().with_partition_index(*p).with_timestamp(-1))
                    .collect(),
            )]);
    let resp: ListOffsetsResponse = conn.call(ApiKey::ListOffsets, LIST_OFFSETS_VERSION, &req).await.map_err(fail)?;
    let mut next: BTreeMap<i32, i64> =
        resp.topics.iter().flat_map(|t| &t.partitions).map(|p| (p.partition_index, p.offset.max(0))).collect();
    while !shared.stop.load(Ordering::Relaxed) {
        let fetch = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(100)
            .with_min_bytes(1)
            .with_max_bytes(64 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default().with_topic(topic.clone()).with_partitions(
                next.iter()
                    .map(|(p, o)| {
                        FetchPartition::default()
                            .with_partition(*p)
                            .with_fetch_offset(*o)
                            .with_partition_max_bytes(8 << 20)
                    })
                    .collect(),
            )]);
        let resp: FetchResponse = conn.call(ApiKey::Fetch, FETCH_VERSION, &fetch).await.map_err(fail)?;
        for p in resp.responses.iter().flat_map(|t| &t.partitions) {
            if p.error_code != 0 {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let Some(mut records) = p.records.clone() else { continue };
            if records.is_empty() {
                continue;
            }
            let sets = RecordBatchDecoder::decode_all(&mut records).map_err(|e| format!("consumer {id}: {e}"))?;
            let from = next.get(&p.partition_index).copied().unwrap_or(0);
            let now_ns = shared.now_ns();
            let (mut n, mut n_measured) = (0u64, 0u64);
            let mut last = from - 1;
            {
                let mut e2e = shared.e2e.lock().expect("lock");
                for r in sets.iter().flat_map(|s| &s.records).filter(|r| r.offset >= from) {
                    last = last.max(r.offset);
                    n += 1;
                    let Some(mut v) = r.value.clone().filter(|v| v.len() >= 16) else { continue };
                    let due_ns = v.get_u64();
                    if shared.measured(due_ns) {
                        e2e.record(now_ns.saturating_sub(due_ns));
                        n_measured += 1;
                    }
                }
            }
            next.insert(p.partition_index, last + 1);
            shared.consumed.fetch_add(n, Ordering::Relaxed);
            if n_measured > 0 {
                shared.consumed_measured.fetch_add(n_measured, Ordering::Relaxed);
                *shared.last_measured_receipt.lock().expect("lock") = Some(time::now());
            }
        }
    }
    Ok(())
}
