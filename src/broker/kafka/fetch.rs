//! Fetch: committed records from each partition asked for, up to the high watermark, as
//! Kafka record batches: a batch a producer sent comes back as it was stored, with its base
//! offset set; a record written by anything else (Keel's own data plane) is wrapped in a
//! one-record batch. Each batch is stamped with the leader epoch it was written in
//! ([`super::leader_epoch`]); a `current_leader_epoch` that is not the partition's is answered
//! FENCED_LEADER_EPOCH or UNKNOWN_LEADER_EPOCH. With fewer than `min_bytes` at hand the request waits (at most
//! `max_wait_ms`, capped by `[kafka] fetch_wait_ms_max`) until some partition has records.
//! `read_committed` is served like `read_uncommitted`: there are no transactions, so the last
//! stable offset is the high watermark. From v7 a Fetch may open or continue an incremental
//! fetch session ([`super::fetch_session`]): the partitions read are then the session's, and
//! the answer carries only those that changed.

use std::sync::atomic::Ordering;

use bytes::{Bytes, BytesMut};
use futures::stream::{FuturesUnordered, StreamExt};
use keel_protocols::kafka::batch;
use keel_protocols::kafka::kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use keel_protocols::kafka::kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use keel_protocols::kafka::kafka_protocol::protocol::StrBytes;
use keel_protocols::kafka::kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions};
use keel_protocols::kafka::kafka_protocol::ResponseError;

use super::fetch_session::{Answered, SessionCache, SessionRequest, Wanted, FINAL_EPOCH};
use super::sasl::Session;
use super::{binding, errors, leader_epoch, Core};
use crate::broker::auth::Access;
use crate::meta::bindings;
use crate::rpc::shard::WireRecord;

/// One partition to read.
#[derive(Clone)]
struct Want {
    topic: TopicName,
    partition: i32,
    offset: i64,
    bytes_max: i32,
    /// The leader epoch the client believes current (-1: unchecked).
    current_leader_epoch: i32,
}

/// What one partition answers.
struct Got {
    error: Option<ResponseError>,
    high_watermark: i64,
    start_offset: i64,
    records: Bytes,
}

impl Got {
    fn error(e: ResponseError) -> Got {
        Got { error: Some(e), high_watermark: -1, start_offset: -1, records: Bytes::new() }
    }
}

pub async fn handle(core: &Core, session: &Session, client_id: &str, req: FetchRequest, version: i16) -> FetchResponse {
    let begun = sessions(core).begin(session_request(&req, version), keel_rt::rand::u64());
    let plan = match begun {
        Ok(plan) => plan,
        Err(e) => return FetchResponse::default().with_error_code(e.code()),
    };
    let wants: Vec<Want> = plan
        .partitions
        .iter()
        .map(|((topic, partition), w)| Want {
            topic: TopicName(StrBytes::from_string(topic.clone())),
            partition: *partition,
            offset: w.fetch_offset,
            bytes_max: w.bytes_max,
            current_leader_epoch: w.current_leader_epoch,
        })
        .collect();
    let allowed = |w: &Want| session.allows(core, client_id, Access::Subscribe, w.topic.0.as_str());
    let mut got: Vec<Got> = futures::future::join_all(wants.iter().map(|w| async move {
        match allowed(w) {
            true => read(core, w, 0).await,
            false => Got::error(ResponseError::TopicAuthorizationFailed),
        }
    }))
    .await;
    let have: usize = got.iter().map(|g| g.records.len()).sum();
    let wait_ms = req.max_wait_ms.clamp(0, core.config.kafka.fetch_wait_ms_max as i32) as u32;
    if have < req.min_bytes.max(1) as usize && wait_ms > 0 && !wants.is_empty() {
        wait_for_any(core, &wants, &mut got, wait_ms).await;
    }
    let sizes: Vec<usize> = got.iter().map(|g| g.records.len()).collect();
    let kept = within_response_limit(&sizes, req.max_bytes);
    for (g, keep) in got.iter_mut().zip(&kept) {
        if !keep {
            g.records = Bytes::new();
        }
    }
    let answered: Vec<Answered> = got
        .iter()
        .map(|g| Answered {
            has_records: !g.records.is_empty(),
            error: g.error.is_some(),
            high_watermark: g.high_watermark,
            start_offset: g.start_offset,
        })
        .collect();
    let carried = sessions(core).finish(&plan, &answered);
    let mut topics: Vec<FetchableTopicResponse> = Vec::new();
    for ((w, g), _) in wants.into_iter().zip(got).zip(carried).filter(|(_, carry)| *carry) {
        let mut p = PartitionData::default()
            .with_partition_index(w.partition)
            .with_high_watermark(g.high_watermark)
            .with_last_stable_offset(g.high_watermark)
            .with_log_start_offset(g.start_offset)
            .with_records(Some(g.records));
        if let Some(e) = g.error {
            p = p.with_error_code(e.code());
        }
        match topics.last_mut() {
            Some(t) if t.topic == w.topic => t.partitions.push(p),
            _ => topics.push(FetchableTopicResponse::default().with_topic(w.topic).with_partitions(vec![p])),
        }
    }
    FetchResponse::default().with_session_id(plan.session_id).with_responses(topics)
}

fn sessions(core: &Core) -> std::sync::MutexGuard<'_, SessionCache> {
    core.fetch_sessions.lock().unwrap_or_else(|e| e.into_inner())
}

/// The session fields of `req`; before v7 there are none (a sessionless full fetch).
fn session_request(req: &FetchRequest, version: i16) -> SessionRequest {
    let partitions = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                let wanted = Wanted {
                    fetch_offset: p.fetch_offset,
                    bytes_max: p.partition_max_bytes,
                    current_leader_epoch: p.current_leader_epoch,
                };
                ((t.topic.0.to_string(), p.partition), wanted)
            })
        })
        .collect();
    let forgotten = req
        .forgotten_topics_data
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p)))
        .collect();
    match version >= 7 {
        true => SessionRequest { session_id: req.session_id, epoch: req.session_epoch, partitions, forgotten },
        false => SessionRequest { session_id: 0, epoch: FINAL_EPOCH, partitions, forgotten: vec![] },
    }
}

/// Which partitions' records fit in a response of `max_bytes` (0 or less: no limit): whole
/// partitions in order while they fit, but always the first that has any, so that a batch larger
/// than the limit still gets through (as Kafka does since KIP-74) instead of stalling the client.
fn within_response_limit(sizes: &[usize], max_bytes: i32) -> Vec<bool> {
    let mut left = if max_bytes > 0 { max_bytes as usize } else { usize::MAX };
    let mut any = false;
    sizes
        .iter()
        .map(|&n| {
            let keep = n <= left || (!any && n > 0);
            if keep {
                left = left.saturating_sub(n);
                any |= n > 0;
            }
            keep
        })
        .collect()
}

/// Waits until one of the partitions that had nothing gets records (or the wait ends), and
/// puts what it got in `got`.
async fn wait_for_any(core: &Core, wants: &[Want], got: &mut [Got], wait_ms: u32) {
    let mut pending: FuturesUnordered<_> = wants
        .iter()
        .enumerate()
        .filter(|(i, _)| got[*i].error.is_none() && got[*i].records.is_empty())
        .map(|(i, w)| async move { (i, read(core, w, wait_ms).await) })
        .collect();
    while let Some((i, g)) = pending.next().await {
        let found = !g.records.is_empty();
        got[i] = g;
        if found {
            return;
        }
    }
}

/// Reads one partition from its offset, waiting up to `wait_ms` for records.
async fn read(core: &Core, w: &Want, wait_ms: u32) -> Got {
    let topic = w.topic.0.as_str();
    let view = core.view.current();
    let target = bindings::resolve(&view.topics, topic)
        .filter(|t| w.partition >= 0 && (w.partition as u32) < t.topic.partitions);
    let (Some(target), Some(current)) = (target, leader_epoch::current(&view, topic, w.partition)) else {
        return Got::error(ResponseError::UnknownTopicOrPartition);
    };
    if let Err(e) = leader_epoch::check(w.current_leader_epoch, current) {
        return Got::error(e);
    }
    if w.offset < 0 {
        return Got::error(ResponseError::OffsetOutOfRange);
    }
    let bytes_max = w.bytes_max.max(1) as u32;
    if let Some(filter) = target.filter {
        let bw = binding::read::Want {
            log: &target.topic.name,
            name: topic,
            filter,
            partition: w.partition as u32,
            offset: w.offset,
            bytes_max,
        };
        return match binding::read::read(core, &bw, wait_ms).await {
            Ok(r) => Got {
                error: r.out_of_range.then_some(ResponseError::OffsetOutOfRange),
                high_watermark: r.high_watermark,
                start_offset: r.start_offset,
                records: r.records,
            },
            Err(e) => Got::error(e),
        };
    }
    let fetched = match core.data.fetch(topic, w.partition as u32, w.offset as u64, bytes_max, wait_ms).await {
        Ok(f) => f,
        Err(e) => return Got::error(errors::of_client(&e)),
    };
    let (hw, start) = (fetched.high_watermark as i64, fetched.start_offset as i64);
    if fetched.out_of_range(w.offset) {
        return Got {
            error: Some(ResponseError::OffsetOutOfRange),
            high_watermark: hw,
            start_offset: start,
            records: Bytes::new(),
        };
    }
    let mut out = BytesMut::new();
    for r in &fetched.records {
        append_batch(r, leader_epoch::at(&fetched.epoch_starts, r.offset), &mut out);
    }
    core.stats.batches_fetched.fetch_add(fetched.records.len() as u64, Ordering::Relaxed);
    Got { error: None, high_watermark: hw, start_offset: start, records: out.freeze() }
}

/// Appends stored record `r` as a Kafka batch at its offset, stamped with the leader epoch it
/// was written in.
fn append_batch(r: &WireRecord, epoch: i32, out: &mut BytesMut) {
    if let Ok(h) = batch::parse_header(&r.value) {
        if h.size() == r.value.len() && h.offsets() == r.span() {
            let at = out.len();
            out.extend_from_slice(&r.value);
            batch::rebase(&mut out[at..], r.offset as i64, epoch);
            return;
        }
    }
    let record = Record {
        partition_leader_epoch: epoch,
        ..batch::plain_record(r.offset as i64, r.timestamp_ms as i64, r.key.clone(), Some(r.value.clone()))
    };
    let options = RecordEncodeOptions { version: 2, compression: Compression::None };
    if let Err(e) = RecordBatchEncoder::encode(out, [&record], &options) {
        tracing::warn!(offset = r.offset, error = %e, "kafka: a stored record does not encode as a batch");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_protocols::kafka::kafka_protocol::records::{Record, RecordBatchDecoder};

    #[test]
    fn the_response_limit_keeps_whole_partitions_and_always_the_first_with_records() {
        assert_eq!(within_response_limit(&[0, 500, 10, 10], 100), [true, true, false, false]);
        assert_eq!(within_response_limit(&[40, 50, 20], 100), [true, true, false]);
        assert_eq!(within_response_limit(&[40, 50, 20], 0), [true, true, true]);
    }

    #[test]
    fn stored_batches_come_back_at_their_offsets_and_plain_records_get_wrapped() {
        let mut producer_batch = BytesMut::new();
        let records: Vec<_> = (0..3)
            .map(|i| Record {
                partition_leader_epoch: 0,
                sequence: i as i32 - 1,
                ..batch::plain_record(i, 5, None, Some(Bytes::from(format!("v{i}"))))
            })
            .collect();
        let options = RecordEncodeOptions { version: 2, compression: Compression::None };
        RecordBatchEncoder::encode(&mut producer_batch, &records, &options).unwrap();
        let stored = WireRecord { offset: 40, value: producer_batch.freeze(), extra_offsets: 2, ..Default::default() };
        let plain = WireRecord::new(9, Some(Bytes::from("k")), Bytes::from("plain"));
        let plain = WireRecord { offset: 43, ..plain };
        let mut out = BytesMut::new();
        append_batch(&stored, 3, &mut out);
        append_batch(&plain, 4, &mut out);
        let sets = RecordBatchDecoder::decode_all(&mut out.freeze()).unwrap();
        let got: Vec<(i64, i32, Option<Bytes>)> = sets
            .iter()
            .flat_map(|s| s.records.iter().map(|r| (r.offset, r.partition_leader_epoch, r.value.clone())))
            .collect();
        let want = [(40, 3, "v0"), (41, 3, "v1"), (42, 3, "v2"), (43, 4, "plain")];
        assert_eq!(got, want.map(|(o, e, v)| (o, e, Some(Bytes::from(v)))));
    }
}
