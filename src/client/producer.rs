//! [`Producer`]: an idempotent producer. It numbers its records per shard and keeps one request
//! per shard in flight, retrying it unchanged until it is answered, so the shard leader can
//! deduplicate: every record is appended once however often a request is retried.
//!
//! If a request is given up (the delivery timeout passed: it may or may not have been
//! appended), the producer starts a new epoch on that shard with sequences from 0: the leader
//! fences any late copy of the old epoch's requests, and later requests do not depend on
//! whether the given-up one landed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use keel_rt::time;

use super::{ClientError, DataClient};
use crate::meta::command::{MetaCommand, MetaOk};
use crate::rpc::shard::{Code, WireRecord};

/// Where a producer's numbering stands on one shard.
#[derive(Clone, Copy, Debug, Default)]
struct Numbering {
    epoch: u16,
    next_sequence: u32,
}

type Shard = Arc<tokio::sync::Mutex<Numbering>>;

/// An idempotent producer. Cheap to clone; clones share the numbering.
#[derive(Clone)]
pub struct Producer {
    client: DataClient,
    id: u64,
    shards: Arc<Mutex<BTreeMap<(String, u32), Shard>>>,
}

impl Producer {
    pub(super) async fn allocate(client: DataClient) -> Result<Producer, ClientError> {
        let ok = client
            .meta
            .write(&MetaCommand::AllocateProducerId)
            .await
            .map_err(|e| ClientError::GaveUp(e.to_string()))?;
        match ok.result {
            Ok(MetaOk::ProducerId(id)) => Ok(Producer { client, id, shards: Arc::default() }),
            other => Err(ClientError::GaveUp(format!("unexpected answer to a producer id request: {other:?}"))),
        }
    }

    /// The id meta gave this producer.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Appends `(key, value)` records to a shard, exactly once; returns their offsets.
    pub async fn send(
        &self,
        topic: &str,
        partition: u32,
        records: Vec<(Option<Bytes>, Bytes)>,
    ) -> Result<(u64, u64), ClientError> {
        let count = u32::try_from(records.len()).map_err(|_| refused("too many records in one request"))?;
        let shard = self.shard(topic, partition);
        let mut n = shard.lock().await; // one request in flight per shard
        let Some(next) = n.next_sequence.checked_add(count) else {
            self.new_epoch(&mut n)?;
            return Err(refused("sequence numbers exhausted; a new epoch starts with the next request"));
        };
        let now = time::wall_ms();
        let wire = records.into_iter().map(|(k, v)| WireRecord::new(now, k, v)).collect();
        let producer = Some((self.id, n.epoch, n.next_sequence));
        match self.client.produce(topic, partition, wire, producer).await {
            Ok(offsets) => {
                n.next_sequence = next;
                Ok(offsets)
            }
            Err(e) => {
                // Given up or refused: whether it landed no longer matters to what follows.
                self.new_epoch(&mut n)?;
                Err(e)
            }
        }
    }

    fn new_epoch(&self, n: &mut Numbering) -> Result<(), ClientError> {
        n.epoch =
            n.epoch.checked_add(1).ok_or_else(|| refused("producer epochs exhausted; allocate a new producer"))?;
        n.next_sequence = 0;
        Ok(())
    }

    fn shard(&self, topic: &str, partition: u32) -> Shard {
        let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        shards.entry((topic.to_string(), partition)).or_default().clone()
    }
}

fn refused(message: &str) -> ClientError {
    ClientError::Refused { code: Code::Invalid, message: message.to_string() }
}
