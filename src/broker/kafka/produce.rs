//! Produce: each partition's record batches, checked (magic 2, lengths, CRC; no transactional
//! or control batches) and appended as sent through the shard leader's acks=all path, one
//! stored record per batch taking one offset per record inside it. acks=1 is answered as
//! acks=all (Keel acknowledges only what the in-sync replicas hold); acks=0 appends and answers
//! nothing. An idempotent producer's batches keep their producer id, epoch and sequences, which
//! the shard leader deduplicates (a retried batch is answered with its first offsets). Batches
//! to a bound topic are read record by record instead (`binding::write`), the compressed ones
//! decompressed within one budget for the whole request (`[kafka] decompressed_bytes_max`).

use futures::future::join_all;
use keel_protocols::kafka::batch::{self, BatchHeader};
use keel_protocols::kafka::kafka_protocol::messages::produce_request::PartitionProduceData;
use keel_protocols::kafka::kafka_protocol::messages::produce_response::{
    PartitionProduceResponse, TopicProduceResponse,
};
use keel_protocols::kafka::kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use keel_protocols::kafka::kafka_protocol::protocol::StrBytes;
use keel_protocols::kafka::kafka_protocol::ResponseError;
use keel_rt::time;
use std::sync::atomic::Ordering;

use super::sasl::Session;
use super::{binding, errors, Core};
use crate::broker::auth::Access;
use crate::meta::bindings;
use crate::rpc::shard::WireRecord;

/// Why a partition's batches were refused, with a message for the client.
type Refusal = (ResponseError, String);
/// A partition's answer: its base offset, or why not.
type Outcome = Result<i64, Refusal>;
/// An idempotent producer's id, epoch and first sequence.
type ProducerSeqs = Option<(u64, u16, u32)>;

pub async fn handle(core: &Core, session: &Session, client_id: &str, req: ProduceRequest) -> Option<ProduceResponse> {
    let acks = req.acks;
    let refuse_all = match acks {
        -1..=1 if req.transactional_id.is_some() => {
            Some((ResponseError::TransactionalIdAuthorizationFailed, "transactions are not supported".to_string()))
        }
        -1..=1 => None,
        n => Some((ResponseError::InvalidRequiredAcks, format!("acks={n}"))),
    };
    let budget = &binding::write::Budget::new(core.config.kafka.decompressed_bytes_max);
    let mut topics = Vec::with_capacity(req.topic_data.len());
    for t in req.topic_data {
        let name = t.name.0.to_string();
        let denied = (!session.allows(core, client_id, Access::Publish, &name))
            .then(|| (ResponseError::TopicAuthorizationFailed, format!("producing to {name} is not allowed")));
        let answers = join_all(t.partition_data.into_iter().map(|p| {
            let (name, refuse) = (name.clone(), refuse_all.clone().or(denied.clone()));
            async move {
                let index = p.index;
                let outcome = match refuse {
                    Some(e) => Err(e),
                    None => partition(core, &name, p, budget).await,
                };
                answer(index, outcome)
            }
        }))
        .await;
        topics.push(TopicProduceResponse::default().with_name(t.name).with_partition_responses(answers));
    }
    (acks != 0).then(|| ProduceResponse::default().with_responses(topics))
}

fn answer(index: i32, outcome: Outcome) -> PartitionProduceResponse {
    let r = PartitionProduceResponse::default().with_index(index);
    match outcome {
        Ok(base) => r.with_base_offset(base),
        Err((e, message)) => {
            r.with_error_code(e.code()).with_base_offset(-1).with_error_message(Some(StrBytes::from_string(message)))
        }
    }
}

/// Appends one partition's batches; those to a bound topic decompress within `budget`.
async fn partition(core: &Core, topic: &str, p: PartitionProduceData, budget: &binding::write::Budget) -> Outcome {
    let view = core.view.current();
    let target =
        bindings::resolve(&view.topics, topic).filter(|t| p.index >= 0 && (p.index as u32) < t.topic.partitions);
    let Some(target) = target else {
        return Err((ResponseError::UnknownTopicOrPartition, format!("{topic}/{} does not exist", p.index)));
    };
    let records = p.records.unwrap_or_default();
    let batches = batch::split(&records).map_err(|e| (errors::of_batch(&e), e.to_string()))?;
    let producer = producer_of(&batches)?;
    let now_ms = time::wall_ms();
    let wire: Vec<WireRecord> = match target.filter {
        Some(filter) => binding::write::records(filter, &batches, now_ms, budget)?,
        None => batches
            .iter()
            .map(|(h, bytes)| WireRecord {
                timestamp_ms: if h.max_timestamp >= 0 { h.max_timestamp as u64 } else { now_ms },
                value: bytes.clone(),
                extra_offsets: h.offsets() - 1,
                ..Default::default()
            })
            .collect(),
    };
    let offsets: u64 = batches.iter().map(|(h, _)| u64::from(h.offsets())).sum();
    match core.data.produce(&target.topic.name, p.index as u32, wire, producer).await {
        Ok((base, _)) => {
            core.stats.records_produced.fetch_add(offsets, Ordering::Relaxed);
            Ok(base as i64)
        }
        Err(e) => Err((errors::of_client(&e), e.to_string())),
    }
}

/// The idempotent producer of a partition's batches (id, epoch, first sequence): all of them
/// one producer's with consecutive sequences, or none a producer's.
fn producer_of(batches: &[(BatchHeader, bytes::Bytes)]) -> Result<ProducerSeqs, Refusal> {
    let first = &batches[0].0;
    if !first.has_producer() {
        return match batches.iter().all(|(h, _)| !h.has_producer()) {
            true => Ok(None),
            false => Err((ResponseError::InvalidRecord, "batches of a producer mixed with others".into())),
        };
    }
    let (id, epoch) = (first.producer_id, first.producer_epoch);
    if id == 0 || epoch < 0 || first.base_sequence < 0 {
        return Err((ResponseError::UnknownProducerId, format!("producer {id} epoch {epoch} is not known here")));
    }
    let mut next = first.base_sequence as i64;
    for (h, _) in batches {
        if h.producer_id != id || h.producer_epoch != epoch || i64::from(h.base_sequence) != next {
            return Err((
                ResponseError::OutOfOrderSequenceNumber,
                "one request's batches must follow each other".into(),
            ));
        }
        next += i64::from(h.offsets());
    }
    Ok(Some((id as u64, epoch as u16, first.base_sequence as u32)))
}
