//! The `shard.*` RPC methods a storage node serves (`crate::rpc::shard`): produce with
//! acks=all, follower fetches, consumer reads below the high watermark, list offsets.

use std::time::Duration;

use bytes::Bytes;
use keel_rt::time;
use keel_storage::replication::{ProduceError, ProducerBatch};
use keel_storage::ProducerSeq;
use prost::Message;
use tokio::sync::oneshot;

use super::driver::Input;
use super::StoreNode;
use crate::rpc::shard::{
    Code, EpochStart, ListOffsetsRequest, ListOffsetsResponse, OffsetSpec, ProduceRequest, ProduceResponse,
    ReadRequest, ReadResponse, ReplicaFetchRequest, WireRecord, LIST_OFFSETS, PRODUCE, READ, REPLICA_FETCH,
};
use crate::rpc::RemoteError;

/// How long a produce may wait for acknowledgement.
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(10);
/// The most bytes one read returns.
const READ_BYTES_MAX: u32 = 4 * 1024 * 1024;
/// The longest a read may wait for new records.
const READ_WAIT_MS_MAX: u32 = 30_000;
/// The most records one produce request may hold.
const PRODUCE_RECORDS_MAX: usize = 100_000;
/// The most offsets one produce request may take (records that span several count each).
const SPAN_OFFSETS_MAX: u32 = 10_000_000;
/// The most bytes one produce request may hold, encoded as a log batch: the engines' default
/// batch limit (a batch over an engine's limit would stop the replica).
pub const PRODUCE_BYTES_MAX: usize = 4 * 1024 * 1024;

fn remote(e: impl std::fmt::Display) -> RemoteError {
    RemoteError::new(RemoteError::APPLICATION, e.to_string())
}

impl StoreNode {
    /// Handles a `shard.*` method.
    pub async fn call(&self, method: &str, body: Bytes) -> Result<Bytes, RemoteError> {
        let (started, request_bytes) = (time::now(), body.len());
        let answer = self.serve(method, body).await;
        let response_bytes = answer.as_ref().map_or(0, |b| b.len());
        let took = time::now().saturating_duration_since(started);
        self.metrics.shards.observe(method, request_bytes, response_bytes, took);
        answer
    }

    async fn serve(&self, method: &str, body: Bytes) -> Result<Bytes, RemoteError> {
        match method {
            PRODUCE => self.produce(ProduceRequest::decode(body).map_err(RemoteError::bad_request)?).await,
            REPLICA_FETCH => {
                self.replica_fetch(ReplicaFetchRequest::decode(body).map_err(RemoteError::bad_request)?).await
            }
            READ => self.read(ReadRequest::decode(body).map_err(RemoteError::bad_request)?).await,
            LIST_OFFSETS => {
                self.list_offsets(ListOffsetsRequest::decode(body).map_err(RemoteError::bad_request)?).await
            }
            other => Err(RemoteError::new(RemoteError::NO_SUCH_METHOD, format!("no method {other:?}"))),
        }
    }

    async fn produce(&self, req: ProduceRequest) -> Result<Bytes, RemoteError> {
        let fail = |code: Code, error: String| ProduceResponse { error, code: code as i32, ..Default::default() };
        let resp = match produce_input(&req) {
            Err(e) => fail(Code::Invalid, e),
            Ok((records, producer)) => match self.handle(&req.topic, req.partition) {
                None => fail(Code::NotLeader, "no replica of this shard here".into()),
                Some(h) => {
                    let (reply, rx) = oneshot::channel();
                    h.tx.send(Input::Produce { records, producer, reply }).await.map_err(remote)?;
                    match time::timeout(PRODUCE_TIMEOUT, rx).await {
                        Ok(Ok(Ok((base, last)))) => {
                            self.metrics.shards.produced_records.inc_by(last.saturating_sub(base) + 1);
                            ProduceResponse {
                                error: String::new(),
                                base_offset: base,
                                last_offset: last,
                                code: Code::Ok as i32,
                            }
                        }
                        Ok(Ok(Err(e))) => fail(produce_code(&e), format!("{e:?}")),
                        Ok(Err(_)) => fail(Code::Storage, "the shard replica stopped (outcome unknown)".into()),
                        Err(_) => fail(Code::Timeout, "not acknowledged in time (outcome unknown)".into()),
                    }
                }
            },
        };
        Ok(resp.encode_to_vec().into())
    }

    async fn replica_fetch(&self, req: ReplicaFetchRequest) -> Result<Bytes, RemoteError> {
        let h = self.handle(&req.topic, req.partition).ok_or_else(|| remote("no replica of this shard here"))?;
        let (reply, rx) = oneshot::channel();
        h.tx.send(Input::ReplicaFetch { req, reply }).await.map_err(remote)?;
        let resp = rx.await.map_err(|_| remote("fetch dropped"))?;
        Ok(resp.encode_to_vec().into())
    }

    async fn read(&self, req: ReadRequest) -> Result<Bytes, RemoteError> {
        let Some(h) = self.handle(&req.topic, req.partition) else {
            let resp = ReadResponse {
                error: "no replica of this shard here".into(),
                code: Code::NotLeader as i32,
                ..Default::default()
            };
            return Ok(resp.encode_to_vec().into());
        };
        let mut hw_rx = h.hw.clone();
        if req.wait_ms > 0 && *hw_rx.borrow() <= req.offset {
            // Long poll: wait until something is committed at the offset asked for.
            let wait = Duration::from_millis(u64::from(req.wait_ms.min(READ_WAIT_MS_MAX)));
            let _ = time::timeout(wait, hw_rx.wait_for(|hw| *hw > req.offset)).await;
        }
        let hw = *hw_rx.borrow();
        let start = h.engine.start_offset();
        let bytes_max = req.bytes_max.clamp(1, READ_BYTES_MAX) as usize;
        let records = if req.offset < hw {
            match h.engine.read(req.offset.max(start), bytes_max).await {
                Ok(r) => r,
                Err(e) => {
                    let resp = ReadResponse { error: e.to_string(), code: Code::Storage as i32, ..Default::default() };
                    return Ok(resp.encode_to_vec().into());
                }
            }
        } else {
            vec![]
        };
        // Consumers never see records at or above the high watermark.
        let records: Vec<WireRecord> = records.iter().filter(|r| r.offset < hw).map(WireRecord::from_stored).collect();
        let epoch_starts = match (records.first(), records.last()) {
            (Some(first), Some(last)) => h
                .epochs
                .borrow()
                .starts_within(first.offset, last.offset + u64::from(last.span()))
                .into_iter()
                .map(|(epoch, start)| EpochStart { epoch, start })
                .collect(),
            _ => vec![],
        };
        let resp = ReadResponse {
            error: String::new(),
            records,
            high_watermark: hw,
            start_offset: start,
            code: Code::Ok as i32,
            epoch_starts,
            log_end: h.engine.end_offset(),
            stored_bytes: h.engine.stored_bytes(),
        };
        Ok(resp.encode_to_vec().into())
    }

    async fn list_offsets(&self, req: ListOffsetsRequest) -> Result<Bytes, RemoteError> {
        let fail = |code: Code, error: String| ListOffsetsResponse { error, code: code as i32, offset: 0, epoch: None };
        let Some(h) = self.handle(&req.topic, req.partition) else {
            return Ok(fail(Code::NotLeader, "no replica of this shard here".into()).encode_to_vec().into());
        };
        let hw = *h.hw.borrow();
        let epochs = h.epochs.borrow().clone();
        let at = |offset: u64| ListOffsetsResponse {
            offset,
            epoch: epochs.epoch_at(offset),
            ..fail(Code::Ok, String::new())
        };
        let resp = match OffsetSpec::try_from(req.spec) {
            Ok(OffsetSpec::Earliest) => at(h.engine.start_offset().min(hw)),
            Ok(OffsetSpec::Latest) => ListOffsetsResponse { epoch: epochs.latest(), ..at(hw) },
            Ok(OffsetSpec::Timestamp) => match h.engine.offset_for_time(req.timestamp_ms).await {
                Ok(o) if o >= hw => ListOffsetsResponse { epoch: epochs.latest(), ..at(hw) },
                Ok(o) => at(o),
                Err(e) => fail(Code::Storage, e.to_string()),
            },
            Ok(OffsetSpec::EpochEnd) => match epochs.kafka_end_for(req.leader_epoch, h.engine.end_offset()) {
                Some((epoch, end)) => {
                    ListOffsetsResponse { offset: end, epoch: Some(epoch), ..fail(Code::Ok, String::new()) }
                }
                None => fail(Code::Ok, String::new()),
            },
            Err(_) => fail(Code::Invalid, format!("unknown offset spec {}", req.spec)),
        };
        Ok(resp.encode_to_vec().into())
    }
}

/// The records of a produce request, numbered if the producer is idempotent.
fn produce_input(req: &ProduceRequest) -> Result<(Vec<keel_storage::Record>, Option<ProducerBatch>), String> {
    if req.records.is_empty() || req.records.len() > PRODUCE_RECORDS_MAX {
        return Err(format!("a produce request holds 1 to {PRODUCE_RECORDS_MAX} records"));
    }
    let mut records: Vec<keel_storage::Record> = req
        .records
        .iter()
        .map(|r| keel_storage::Record {
            span: r.span(),
            ..keel_storage::Record::new(r.timestamp_ms, r.key.clone(), r.value.clone())
        })
        .collect();
    let offsets = keel_storage::span_of(&records);
    if offsets > u64::from(SPAN_OFFSETS_MAX) {
        return Err(format!("a produce request takes {offsets} offsets, more than {SPAN_OFFSETS_MAX}"));
    }
    let bytes = keel_storage::segment::format::encoded_len(&records);
    if bytes > PRODUCE_BYTES_MAX {
        return Err(format!("a produce request of {bytes} bytes exceeds the limit of {PRODUCE_BYTES_MAX} bytes"));
    }
    if req.producer_id == 0 {
        return Ok((records, None));
    }
    let producer_epoch = u16::try_from(req.producer_epoch).map_err(|_| "producer epoch above 65535".to_string())?;
    let batch = ProducerBatch {
        producer_id: req.producer_id,
        producer_epoch,
        first_sequence: req.first_sequence,
        count: offsets as u32,
    };
    if batch.last_sequence().is_none() {
        return Err("producer sequence numbers overflow".into());
    }
    let mut sequence = req.first_sequence;
    for r in records.iter_mut() {
        r.producer = Some(ProducerSeq { producer_id: req.producer_id, producer_epoch, sequence });
        sequence = sequence.wrapping_add(r.span); // the last step may pass u32::MAX; unused then
    }
    Ok((records, Some(batch)))
}

fn produce_code(e: &ProduceError) -> Code {
    match e {
        ProduceError::NotLeader { .. } => Code::NotLeader,
        // Appended, then the leadership went: the outcome is unknown.
        ProduceError::Deposed { .. } => Code::Timeout,
        ProduceError::NotEnoughReplicas { .. } => Code::NotEnoughReplicas,
        ProduceError::InFlight => Code::InFlight,
        ProduceError::OutOfOrderSequence { .. } => Code::OutOfOrderSequence,
        ProduceError::ProducerFenced { .. } => Code::ProducerFenced,
    }
}
