//! One bench producer: batches of stamped records, round-robin over the partitions, up to
//! `--inflight` Produce requests pipelined on its connection.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use keel_protocols::kafka::kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use keel_protocols::kafka::kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
use keel_protocols::kafka::kafka_protocol::protocol::StrBytes;
use keel_protocols::kafka::kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions};
use keel_rt::time;

use super::conn::Conn;
use super::Shared;

/// The Produce version the bench speaks (non-flexible, served by Keel and Kafka alike).
const PRODUCE_VERSION: i16 = 7;

/// Builds one batch of `n` records due at `due_ns` (each stamped with it and its number).
fn batch(n: u32, payload: usize, due_ns: u64, seq: u64) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| {
            let mut v = vec![0u8; payload];
            v[..8].copy_from_slice(&due_ns.to_be_bytes());
            v[8..16].copy_from_slice(&(seq + u64::from(i)).to_be_bytes());
            Record {
                sequence: i as i32 - 1,
                ..keel_protocols::kafka::batch::plain_record(
                    i64::from(i),
                    time::wall_ms() as i64,
                    None,
                    Some(Bytes::from(v)),
                )
            }
        })
        .collect();
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: Compression::None };
    RecordBatchEncoder::encode(&mut out, &records, &options).expect("a bench batch encodes");
    out.freeze()
}

/// Produces until `run_for` has passed; returns the records acknowledged.
pub async fn run(shared: Arc<Shared>, id: u32, run_for: Duration) -> Result<u64, String> {
    let opts = shared.opts.clone();
    let mut conn = Conn::connect(&opts.bootstrap).await.map_err(|e| format!("producer {id}: {e}"))?;
    let stop_at = time::now() + run_for;
    // Per producer: records per second, so a batch is due every batch/rate seconds.
    let per_producer = opts.rate / u64::from(opts.producers.max(1));
    let interval_ns = (per_producer > 0).then(|| 1e9 * f64::from(opts.batch) / per_producer as f64);
    let mut in_flight: VecDeque<(u64, u64, bool)> = VecDeque::new(); // (sent at, records, measured)
    let (mut acked, mut sent_batches, mut seq) = (0u64, 0u64, 0u64);
    let partition_count = opts.partitions.max(1) as u64;
    loop {
        let now = time::now();
        let done = now >= stop_at;
        let due_ns = match interval_ns {
            Some(i) => (sent_batches as f64 * i) as u64,
            None => shared.now_ns(),
        };
        let can_send = !done && in_flight.len() < opts.inflight as usize;
        if can_send && due_ns <= shared.now_ns() {
            let partition = ((u64::from(id) + sent_batches) % partition_count) as i32;
            let req = ProduceRequest::default().with_acks(opts.acks).with_timeout_ms(30_000).with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_string(opts.topic.clone())))
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch(opts.batch, opts.payload, due_ns, seq)))]),
            ]);
            conn.send(ApiKey::Produce, PRODUCE_VERSION, &req).await.map_err(|e| format!("producer {id}: {e}"))?;
            seq += u64::from(opts.batch);
            sent_batches += 1;
            if opts.acks == 0 {
                acked += u64::from(opts.batch);
                count_ack(&shared, u64::from(opts.batch), due_ns, shared.now_ns());
                continue;
            }
            in_flight.push_back((due_ns, u64::from(opts.batch), shared.measured(due_ns)));
            continue;
        }
        if let Some((sent_ns, n, _)) = in_flight.pop_front() {
            let resp: ProduceResponse =
                conn.recv(ApiKey::Produce, PRODUCE_VERSION).await.map_err(|e| format!("producer {id}: {e}"))?;
            let ok = resp.responses.iter().flat_map(|t| &t.partition_responses).all(|p| p.error_code == 0);
            if ok {
                acked += n;
                count_ack(&shared, n, sent_ns, shared.now_ns());
            } else {
                shared.errors.fetch_add(1, Ordering::Relaxed);
            }
            continue;
        }
        if done {
            return Ok(acked);
        }
        if let Some(i) = interval_ns {
            let next_due = (sent_batches as f64 * i) as u64;
            let wait = next_due.saturating_sub(shared.now_ns());
            time::sleep(Duration::from_nanos(wait.min(1_000_000_000))).await;
        }
    }
}

fn count_ack(shared: &Shared, n: u64, sent_ns: u64, now_ns: u64) {
    shared.acked.fetch_add(n, Ordering::Relaxed);
    if shared.measured(sent_ns) {
        shared.acked_measured.fetch_add(n, Ordering::Relaxed);
        shared.ack.lock().expect("lock").record(now_ns.saturating_sub(sent_ns));
        *shared.last_measured_ack.lock().expect("lock") = Some(time::now());
    }
}
