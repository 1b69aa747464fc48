//! Appends MQTT messages to the namespace log, batched per shard: every publish that arrives
//! while a shard's previous request is in flight goes out in its next request, so a busy shard
//! costs one replicated, synced append per batch rather than per message.
//!
//! Appends go through an idempotent producer: a request retried across a leader change is
//! written once. Each message's sender learns the outcome: its offset once the record is synced
//! on every in-sync replica (what a PUBACK or PUBREC may promise), or why not.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use keel_rt::{task, time};
use tokio::sync::{mpsc, oneshot};

use crate::client::{ClientError, Producer};

/// Records one request carries at most.
pub const BATCH_RECORDS_MAX: usize = 4_096;
/// Bytes of values one request carries at most (more than one broker packet, well under what a
/// storage node accepts in one produce).
pub const BATCH_BYTES_MAX: usize = 1024 * 1024;
/// Messages waiting per shard before publishers wait (backpressure to their connections).
pub const QUEUE_MAX: usize = 16_384;

/// Where an appended message landed, or why it did not.
pub type Appended = Result<u64, String>;

struct Item {
    key: Bytes,
    value: Bytes,
    reply: Option<oneshot::Sender<Appended>>,
    /// Past this the record is not sent (answered as failed): whoever looks for it later knows
    /// how long it may still arrive (`qos2_in.rs`).
    send_by: Option<time::Instant>,
}

/// Counters of what the appender did.
#[derive(Debug, Default)]
pub struct AppendStats {
    pub requests: AtomicU64,
    pub records: AtomicU64,
    pub failed: AtomicU64,
}

/// The namespace log's appender. Cheap to clone.
#[derive(Clone)]
pub struct Appender {
    shards: Arc<Vec<mpsc::Sender<Item>>>,
    pub stats: Arc<AppendStats>,
}

impl Appender {
    /// Starts one batching task per shard of `topic`, appending through `producer`.
    pub fn start(topic: &str, shards: u32, producer: Producer) -> Appender {
        let stats = Arc::new(AppendStats::default());
        let senders = (0..shards)
            .map(|shard| {
                let (tx, rx) = mpsc::channel(QUEUE_MAX);
                task::spawn(run(topic.to_string(), shard, producer.clone(), rx, stats.clone()));
                tx
            })
            .collect();
        Appender { shards: Arc::new(senders), stats }
    }

    /// Queues a record (`key`: the MQTT topic; `value`: the encoded message); the receiver
    /// answers once it is acknowledged. Waits while the shard's queue is full.
    pub async fn append(&self, shard: u32, key: Bytes, value: Bytes) -> oneshot::Receiver<Appended> {
        let (reply, rx) = oneshot::channel();
        self.append_reply(shard, key, value, reply, None).await;
        rx
    }

    /// Queues a record whose outcome goes to `reply`; not sent at all once `send_by` passed.
    pub async fn append_reply(
        &self,
        shard: u32,
        key: Bytes,
        value: Bytes,
        reply: oneshot::Sender<Appended>,
        send_by: Option<time::Instant>,
    ) {
        self.send(shard, Item { key, value, reply: Some(reply), send_by }).await;
    }

    /// Queues a record whose outcome nobody waits for (QoS 0).
    pub async fn append_detached(&self, shard: u32, key: Bytes, value: Bytes) {
        self.send(shard, Item { key, value, reply: None, send_by: None }).await;
    }

    async fn send(&self, shard: u32, item: Item) {
        let Some(tx) = self.shards.get(shard as usize) else {
            if let Some(reply) = item.reply {
                let _ = reply.send(Err(format!("no shard {shard}")));
            }
            return;
        };
        if let Err(mpsc::error::SendError(item)) = tx.send(item).await {
            if let Some(reply) = item.reply {
                let _ = reply.send(Err("the appender stopped".into()));
            }
        }
    }
}

/// One shard's loop: take what is queued (up to a batch), append it, answer, repeat.
async fn run(topic: String, shard: u32, producer: Producer, mut rx: mpsc::Receiver<Item>, stats: Arc<AppendStats>) {
    let mut batch: Vec<Item> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut bytes = 0;
        let mut next = Some(first);
        while let Some(item) = next.take() {
            if item.send_by.is_some_and(|at| time::now() > at) {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                if let Some(reply) = item.reply {
                    let _ = reply.send(Err("not sent in time (queued too long)".into()));
                }
            } else {
                bytes += item.value.len();
                batch.push(item);
            }
            if batch.len() < BATCH_RECORDS_MAX && bytes < BATCH_BYTES_MAX {
                next = rx.try_recv().ok();
            }
        }
        if batch.is_empty() {
            continue;
        }
        let records = batch.iter().map(|i| (Some(i.key.clone()), i.value.clone())).collect();
        stats.requests.fetch_add(1, Ordering::Relaxed);
        stats.records.fetch_add(batch.len() as u64, Ordering::Relaxed);
        match producer.send(&topic, shard, records).await {
            Ok((base, _)) => {
                for (i, item) in batch.drain(..).enumerate() {
                    if let Some(reply) = item.reply {
                        let _ = reply.send(Ok(base + i as u64));
                    }
                }
            }
            Err(e) => {
                stats.failed.fetch_add(batch.len() as u64, Ordering::Relaxed);
                let why = describe(&e);
                tracing::warn!(topic, shard, error = %why, records = batch.len(), "MQTT append failed");
                for item in batch.drain(..) {
                    if let Some(reply) = item.reply {
                        let _ = reply.send(Err(why.clone()));
                    }
                }
            }
        }
    }
}

fn describe(e: &ClientError) -> String {
    e.to_string()
}
