//! MQTT session changes sent to meta in batches: every op queued while the previous batch is in
//! Raft goes in the next one, so a storm of connections and subscriptions costs one Raft round
//! per batch, not one per client (`MetaCommand::Mqtt`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use keel_rt::task;
use tokio::sync::{mpsc, oneshot};

use crate::meta::client::MetaClient;
use crate::meta::command::{MetaCommand, MetaOk};
use crate::meta::mqtt::{MqttOp, MqttResult};

/// Ops one batch carries at most.
pub const BATCH_OPS_MAX: usize = 2_048;
/// Ops waiting before callers wait.
pub const QUEUE_MAX: usize = 65_536;

/// Why an op has no result: the batch failed (the outcome may be unknown).
pub type OpResult = Result<MqttResult, String>;

type Item = (MqttOp, Option<oneshot::Sender<OpResult>>);

/// Counters of what the batcher did.
#[derive(Debug, Default)]
pub struct BatchStats {
    pub batches: AtomicU64,
    pub ops: AtomicU64,
}

/// The broker's queue of MQTT ops to meta. Cheap to clone.
#[derive(Clone)]
pub struct MetaBatcher {
    tx: mpsc::Sender<Item>,
    pub stats: Arc<BatchStats>,
}

impl MetaBatcher {
    pub fn start(meta: MetaClient) -> MetaBatcher {
        let (tx, rx) = mpsc::channel(QUEUE_MAX);
        let stats = Arc::new(BatchStats::default());
        task::spawn(run(meta, rx, stats.clone()));
        MetaBatcher { tx, stats }
    }

    /// Applies `op` in the next batch and returns its result.
    pub async fn apply(&self, op: MqttOp) -> OpResult {
        let rx = self.queue(op).await?;
        rx.await.map_err(|_| "the meta batcher stopped".to_string())?
    }

    /// Queues `op` (ops queued one after another apply in that order); its result comes on the
    /// receiver.
    pub async fn queue(&self, op: MqttOp) -> Result<oneshot::Receiver<OpResult>, String> {
        let (reply, rx) = oneshot::channel();
        self.tx.send((op, Some(reply))).await.map_err(|_| "the meta batcher stopped".to_string())?;
        Ok(rx)
    }

    /// Queues `op` without waiting for its result.
    pub async fn submit(&self, op: MqttOp) {
        let _ = self.tx.send((op, None)).await;
    }
}

async fn run(meta: MetaClient, mut rx: mpsc::Receiver<Item>, stats: Arc<BatchStats>) {
    let mut batch: Vec<Item> = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < BATCH_OPS_MAX {
            match rx.try_recv() {
                Ok(item) => batch.push(item),
                Err(_) => break,
            }
        }
        let (ops, replies): (Vec<MqttOp>, Vec<_>) = batch.drain(..).unzip();
        stats.batches.fetch_add(1, Ordering::Relaxed);
        stats.ops.fetch_add(ops.len() as u64, Ordering::Relaxed);
        let results: Vec<OpResult> = match meta.write(&MetaCommand::Mqtt(ops)).await {
            Ok(ok) => match ok.result {
                Ok(MetaOk::Mqtt(results)) if results.len() == replies.len() => results.into_iter().map(Ok).collect(),
                other => vec![Err(format!("unexpected answer to an MQTT batch: {other:?}")); replies.len()],
            },
            Err(e) => vec![Err(e.to_string()); replies.len()],
        };
        for (reply, result) in replies.into_iter().zip(results) {
            if let Some(reply) = reply {
                let _ = reply.send(result);
            }
        }
    }
}
