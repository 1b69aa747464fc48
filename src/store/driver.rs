//! One shard replica on a storage node: runs the replication state machine over a log engine.
//!
//! A single task owns the [`ShardReplica`] and executes its commands strictly in order before it
//! takes the next input, so what the state machine decided is what the log did. Slow or remote
//! work (fetching from the leader, proposing ISR changes to meta, long-polling for new records)
//! runs in spawned tasks that report back as inputs.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use keel_rt::disk::{self, Disk};
use keel_rt::{task, time};
use keel_storage::replication::producers::runs_of;
use keel_storage::replication::{
    Command, EpochCache, Event, NodeId, ProduceError, ProducerBatch, ProducerTable, ReplicaConfig, Role, ShardReplica,
};
use keel_storage::{LogEngine, LogError, Record, StoredRecord};
use prost::Message;
use tokio::sync::{mpsc, oneshot, watch, Notify};

use crate::meta::client::MetaClient;
use crate::meta::command::{MetaCommand, MetaError, MetaOk};
use crate::meta::network::Peers;
use crate::rpc::shard::{EpochStart, FetchKind, ReplicaFetchRequest, ReplicaFetchResponse, WireRecord};

/// The most record bytes one replica fetch returns (well under the engines' batch limit: the
/// follower appends a fetch as one batch).
const FETCH_BYTES_MAX: usize = 1024 * 1024;
/// How long the leader holds a fetch that finds nothing new.
const LONG_POLL: Duration = Duration::from_millis(300);
/// How often a replica applies its topic's retention.
const RETENTION_EVERY_MS: u64 = 5_000;
/// The pause before asking meta again about an ISR change whose outcome is unknown.
const ISR_RETRY: Duration = Duration::from_millis(200);
/// How long a follower waits for the leader's answer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// The most recent records a restarted replica scans to rebuild its idempotent producers:
/// producers silent for longer lose deduplication of their (old) retries.
const PRODUCER_SCAN_RECORDS_MAX: u64 = 1_000_000;
/// Bytes per read while scanning.
const SCAN_BYTES: usize = 1024 * 1024;
/// Reads of one stretch tried before the scan (and the replica's start) fails.
const SCAN_READ_ATTEMPTS: u32 = 3;
/// The pause before a failed scan read is tried again.
const SCAN_READ_RETRY: Duration = Duration::from_millis(50);

pub type ProduceReply = oneshot::Sender<Result<(u64, u64), ProduceError>>;

/// What the driver task receives.
pub enum Input {
    /// An event for the state machine (assignments from meta, ticks).
    Event(Event),
    /// A follower's fetch (this replica leads).
    ReplicaFetch { req: ReplicaFetchRequest, reply: oneshot::Sender<ReplicaFetchResponse> },
    /// A producer's records (this replica leads), non-empty; an idempotent producer's carry
    /// their sequences, summed up in `producer`.
    Produce { records: Vec<Record>, producer: Option<ProducerBatch>, reply: ProduceReply },
    /// The answer to this replica's own fetch.
    Fetched { epoch: u64, fetch_offset: u64, result: Result<ReplicaFetchResponse, String> },
    /// Where the current leader listens.
    LeaderAddr(String),
    /// This node holds no replica of the shard any more (moved away, or topic deleted).
    Stop,
}

/// The shard's identity and its collaborators.
pub struct ShardContext {
    pub node: NodeId,
    pub topic: String,
    pub partition: u32,
    pub disk: Arc<dyn Disk>,
    pub dir: String,
    pub peers: Peers,
    pub meta: MetaClient,
    /// TEST ONLY: report appends durable without syncing them.
    pub unsafe_ack_before_sync: bool,
    pub replica_config: ReplicaConfig,
    /// The node's metrics (syncs, ISR changes).
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// A running driver: its inbox and what readers need.
#[derive(Clone)]
pub struct ShardHandle {
    pub tx: mpsc::Sender<Input>,
    /// Set when the driver stopped because its log is damaged: the copy must be salvaged.
    pub damaged: Arc<std::sync::atomic::AtomicBool>,
    /// The newest `isr_version` of the shard seen in meta (raised by reconciliation and by
    /// meta's answers); ISR changes are proposed against it.
    pub isr_version: Arc<AtomicU64>,
    pub hw: watch::Receiver<u64>,
    /// The replica's leader-epoch cache as last saved (Kafka's batch epochs and
    /// OffsetForLeaderEpoch are answered from it).
    pub epochs: watch::Receiver<EpochCache>,
    pub engine: Arc<dyn LogEngine>,
}

struct Driver {
    ctx: ShardContext,
    /// When retention next runs (ms since start).
    retention_due_ms: u64,
    damaged: Arc<std::sync::atomic::AtomicBool>,
    isr_version: Arc<AtomicU64>,
    replica: ShardReplica,
    engine: Arc<dyn LogEngine>,
    tx: mpsc::Sender<Input>,
    hw: watch::Sender<u64>,
    epochs: watch::Sender<EpochCache>,
    appended: Arc<Notify>,
    leader_addr: String,
    next_req: u64,
    produces: BTreeMap<u64, (Vec<Record>, ProduceReply)>,
    waiters: BTreeMap<NodeId, oneshot::Sender<ReplicaFetchResponse>>,
    fetched: Vec<Record>,
    /// An epoch meta made this replica lead but that it refused (it had written in it before
    /// a restart): asked again at every tick until meta assigns a new one.
    refused_lead: Option<u64>,
}

fn epochs_path(ctx: &ShardContext) -> String {
    format!("{}/epochs", ctx.dir)
}

/// The epoch cache file: the CRC-32C (big-endian u32) of the body, then the body, a JSON
/// array of `[epoch, start offset]` pairs.
pub fn encode_epochs(entries: &[(u64, u64)]) -> Vec<u8> {
    let body = serde_json::to_vec(entries).expect("epochs serialise");
    let mut out = crc32c::crc32c(&body).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

/// Decodes [`encode_epochs`]; damage is `InvalidData` (the replica's copy must be salvaged).
pub fn decode_epochs(bytes: &[u8]) -> std::io::Result<EpochCache> {
    let damaged = |why: String| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("epochs file: {why}"));
    let (crc, body) = bytes.split_at_checked(4).ok_or_else(|| damaged("too short".into()))?;
    if crc32c::crc32c(body).to_be_bytes() != crc {
        return Err(damaged("checksum mismatch".into()));
    }
    let entries: Vec<(u64, u64)> = serde_json::from_slice(body).map_err(|e| damaged(e.to_string()))?;
    EpochCache::from_entries(entries).map_err(damaged)
}

/// Starts the driver of a shard whose log is `engine`.
pub async fn start(ctx: ShardContext, engine: Arc<dyn LogEngine>) -> std::io::Result<ShardHandle> {
    ctx.disk.create_dir_all(&ctx.dir).await?;
    let epochs = match disk::read_all(ctx.disk.as_ref(), &epochs_path(&ctx)).await? {
        Some(b) => decode_epochs(&b)?,
        None => EpochCache::new(),
    };
    let mut replica = ShardReplica::new(ctx.node, ctx.replica_config.clone(), engine.end_offset(), epochs);
    replica.producers = scan_producers(engine.as_ref()).await?;
    let (tx, rx) = mpsc::channel(1024);
    let (hw_tx, hw_rx) = watch::channel(0);
    let (epochs_tx, epochs_rx) = watch::channel(replica.epochs.clone());
    let damaged = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let isr_version = Arc::new(AtomicU64::new(0));
    let handle = ShardHandle {
        tx: tx.clone(),
        damaged: damaged.clone(),
        isr_version: isr_version.clone(),
        hw: hw_rx,
        epochs: epochs_rx,
        engine: engine.clone(),
    };
    // Nothing is committed until the HW says so: retention waits for it.
    engine.set_committed_end(0);
    let driver = Driver {
        ctx,
        retention_due_ms: 0,
        damaged,
        isr_version,
        replica,
        engine,
        tx,
        hw: hw_tx,
        epochs: epochs_tx,
        appended: Arc::new(Notify::new()),
        leader_addr: String::new(),
        next_req: 1,
        produces: BTreeMap::new(),
        waiters: BTreeMap::new(),
        fetched: Vec::new(),
        refused_lead: None,
    };
    task::spawn(driver.run(rx));
    Ok(handle)
}

/// Rebuilds the producer table from the log's most recent records. Without it a new leader
/// would append a retry its predecessor (or this replica before a restart) already holds, so
/// the scan must see every record it covers: a read that fails is retried a few times, then
/// the replica is not started (the next reconciliation tries again); damaged records are
/// `InvalidData`, which salvages the copy, as a damaged log found on opening does.
async fn scan_producers(engine: &dyn LogEngine) -> std::io::Result<ProducerTable> {
    let end = engine.end_offset();
    let mut at = engine.start_offset().max(end.saturating_sub(PRODUCER_SCAN_RECORDS_MAX));
    let mut records = Vec::new();
    while at < end {
        let got = read_retrying(engine, at).await?;
        let Some(last) = got.last() else { break };
        at = last.end_offset();
        records.extend(got.into_iter().filter(|r| r.producer.is_some()));
    }
    Ok(ProducerTable::from_log(&records))
}

/// One scan read, retried [`SCAN_READ_ATTEMPTS`] times on disk errors.
async fn read_retrying(engine: &dyn LogEngine, at: u64) -> std::io::Result<Vec<StoredRecord>> {
    let mut attempt = 1;
    loop {
        match engine.read(at, SCAN_BYTES).await {
            Ok(got) => return Ok(got),
            Err(e @ LogError::Corrupt { .. }) => {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("producer scan: {e}")));
            }
            Err(e) if attempt >= SCAN_READ_ATTEMPTS => {
                return Err(std::io::Error::other(format!("producer scan at offset {at}: {e}")));
            }
            Err(e) => {
                tracing::warn!(offset = at, attempt, error = %e, "producer scan read failed; retrying");
                attempt += 1;
                time::sleep(SCAN_READ_RETRY).await;
            }
        }
    }
}

impl Driver {
    async fn run(mut self, mut rx: mpsc::Receiver<Input>) {
        while let Some(input) = rx.recv().await {
            if matches!(input, Input::Stop) {
                tracing::info!(topic = %self.ctx.topic, partition = self.ctx.partition, "replica removed; driver stops");
                return;
            }
            let event = match self.input_event(input) {
                Some(e) => e,
                None => continue,
            };
            match &event {
                Event::BecomeLeader { epoch, .. } => self.refused_lead = Some(*epoch),
                Event::BecomeFollower { .. } => self.refused_lead = None,
                _ => {}
            }
            if let Event::Tick { now_ms } = event {
                self.apply_retention(now_ms).await;
            }
            let ask = matches!(event, Event::Tick { .. } | Event::BecomeLeader { .. });
            if let Err(e) = self.process(event).await {
                tracing::error!(topic = %self.ctx.topic, partition = self.ctx.partition, error = %e, "shard stopped");
                if matches!(e, keel_storage::LogError::Corrupt { .. }) {
                    self.damaged.store(true, std::sync::atomic::Ordering::SeqCst);
                }
                return;
            }
            if !matches!(self.replica.role, Role::Idle) {
                self.refused_lead = None;
            }
            // Ask at once, then at every tick (the request may not have reached meta).
            if let Some(epoch) = self.refused_lead.filter(|_| ask) {
                self.ask_new_epoch(epoch);
            }
        }
    }

    /// Drops segments past the topic's retention, every `RETENTION_EVERY_MS`; only committed
    /// records go (the engine's committed end is the HW). A failure is retried next time.
    async fn apply_retention(&mut self, now_ms: u64) {
        if now_ms < self.retention_due_ms {
            return;
        }
        self.retention_due_ms = now_ms + RETENTION_EVERY_MS;
        if let Err(e) = self.engine.apply_retention(time::wall_ms()).await {
            tracing::warn!(topic = %self.ctx.topic, partition = self.ctx.partition, error = %e, "retention failed");
        }
    }

    fn input_event(&mut self, input: Input) -> Option<Event> {
        match input {
            Input::Event(e) => Some(e),
            Input::Stop => None,
            Input::LeaderAddr(a) => {
                self.leader_addr = a;
                None
            }
            Input::Produce { records, producer, reply } => {
                assert!(!records.is_empty(), "the service refuses empty produce requests");
                let req = self.next_req;
                self.next_req += 1;
                self.produces.insert(req, (records, reply));
                Some(Event::Produce { req, producer })
            }
            Input::ReplicaFetch { req, reply } => {
                self.waiters.insert(req.from, reply);
                let now_ms = time::since_start().as_millis() as u64;
                let ReplicaFetchRequest { from, epoch, fetch_offset, last_fetched_epoch, .. } = req;
                Some(Event::FetchRequest { from, epoch, fetch_offset, last_fetched_epoch, now_ms })
            }
            Input::Fetched { epoch, fetch_offset, result } => Some(self.fetched_event(epoch, fetch_offset, result)),
        }
    }

    fn fetched_event(&mut self, epoch: u64, fetch_offset: u64, result: Result<ReplicaFetchResponse, String>) -> Event {
        let Ok(resp) = result else { return Event::FetchFailed { epoch } };
        if let Some(reply) = resp.refused() {
            return Event::FetchRefused { epoch, fetch_offset, reply };
        }
        let Some(records) = resp.records.iter().map(WireRecord::to_record).collect::<Option<Vec<_>>>() else {
            tracing::warn!(topic = %self.ctx.topic, "leader sent a record with impossible producer fields");
            return Event::FetchFailed { epoch };
        };
        self.fetched = records;
        Event::FetchedRecords {
            epoch,
            from_offset: fetch_offset,
            count: self.fetched.len() as u64,
            epoch_starts: resp.epoch_starts.iter().map(|e| (e.epoch, e.start)).collect(),
            producers: runs_of(&self.fetched, fetch_offset),
            leader_hw: resp.hw,
        }
    }

    /// Feeds `event` to the state machine and runs every command that follows, in order.
    async fn process(&mut self, event: Event) -> Result<(), keel_storage::LogError> {
        let mut queue: VecDeque<Command> = self.replica.handle(event).into();
        while let Some(cmd) = queue.pop_front() {
            if let Some(next) = self.execute(cmd).await? {
                let mut more: VecDeque<Command> = self.replica.handle(next).into();
                more.append(&mut queue);
                queue = more;
            }
        }
        Ok(())
    }

    async fn execute(&mut self, cmd: Command) -> Result<Option<Event>, keel_storage::LogError> {
        Ok(match cmd {
            Command::Append { req: Some(req), .. } => {
                let records = self.produces.get_mut(&req).map(|p| std::mem::take(&mut p.0)).unwrap_or_default();
                let (base, last) = self.engine.append(records).await?;
                self.appended.notify_waiters();
                Some(Event::Appended { req: Some(req), base, last })
            }
            Command::Append { req: None, .. } => {
                let (base, last) = self.engine.append(std::mem::take(&mut self.fetched)).await?;
                Some(Event::Appended { req: None, base, last })
            }
            Command::Sync if self.ctx.unsafe_ack_before_sync => {
                Some(Event::Synced { durable_end: self.engine.end_offset() })
            }
            Command::Sync => {
                let started = time::now();
                let durable_end = self.engine.sync().await?;
                let took = time::now().saturating_duration_since(started);
                self.ctx.metrics.shards.sync_seconds.observe(took.as_secs_f64());
                Some(Event::Synced { durable_end })
            }
            Command::Truncate { end } if end < self.engine.start_offset() => {
                // Retention already dropped records below the cut: nothing is left to keep.
                self.engine.reset(end).await?;
                Some(Event::Truncated { end })
            }
            Command::Truncate { end } => {
                self.engine.truncate(end).await?;
                Some(Event::Truncated { end })
            }
            Command::Reset { start } => {
                self.engine.reset(start).await?;
                Some(Event::Reset { start })
            }
            Command::SaveEpochs { entries } => {
                let bytes = encode_epochs(&entries);
                disk::write_atomic(self.ctx.disk.as_ref(), &epochs_path(&self.ctx), &bytes).await?;
                self.epochs.send_replace(self.replica.epochs.clone());
                None
            }
            Command::Ack { req, base, last } => {
                if let Some((_, reply)) = self.produces.remove(&req) {
                    let _ = reply.send(Ok((base, last)));
                }
                None
            }
            Command::Reject { req, error } => {
                if let Some((_, reply)) = self.produces.remove(&req) {
                    let _ = reply.send(Err(error));
                }
                None
            }
            Command::Fetch { epoch, fetch_offset, last_fetched_epoch, .. } => {
                self.send_fetch(epoch, fetch_offset, last_fetched_epoch);
                None
            }
            Command::ServeFetch { to, from_offset, hw, epoch } => {
                self.serve_fetch(to, from_offset, hw, epoch).await?;
                None
            }
            Command::RefuseFetch { to, reply, .. } => {
                let resp = ReplicaFetchResponse::refusal(reply);
                if let Some(w) = self.waiters.remove(&to) {
                    let _ = w.send(resp);
                }
                None
            }
            Command::ProposeIsr { epoch, from, isr } => {
                let m = &self.ctx.metrics.shards;
                match isr.len().cmp(&from.len()) {
                    std::cmp::Ordering::Less => m.isr_shrinks.inc(),
                    std::cmp::Ordering::Greater => m.isr_expands.inc(),
                    std::cmp::Ordering::Equal => 0,
                };
                self.propose_isr(epoch, from, isr);
                None
            }
            Command::HighWatermark { hw } => {
                self.hw.send_replace(hw);
                // Only committed records may be tiered (object engine).
                self.engine.set_committed_end(hw);
                None
            }
        })
    }

    /// Answers a follower's fetch with records from `from_offset`; with none yet, a task waits a
    /// little for new appends before answering (long poll).
    async fn serve_fetch(&mut self, to: NodeId, from: u64, hw: u64, epoch: u64) -> Result<(), keel_storage::LogError> {
        let Some(waiter) = self.waiters.remove(&to) else { return Ok(()) };
        let start = self.engine.start_offset();
        if from < start {
            let _ = waiter.send(ReplicaFetchResponse {
                kind: FetchKind::OutOfRange as i32,
                end_offset: start,
                epoch,
                ..Default::default()
            });
            return Ok(());
        }
        let mut records =
            if from < self.engine.end_offset() { self.engine.read(from, FETCH_BYTES_MAX).await? } else { vec![] };
        // A follower fetches from its log's end, a record boundary of a log that agrees with
        // this one; records that start elsewhere would land at the wrong offsets, so none are
        // sent (the epoch check, not this, repairs such a follower).
        if records.first().is_some_and(|r| r.offset != from) {
            tracing::warn!(topic = %self.ctx.topic, from, "a follower fetches from inside a record; nothing sent");
            records.clear();
        }
        let starts = |count: u64, epochs: &EpochCache| -> Vec<EpochStart> {
            epochs
                .starts_within(from, from + count)
                .into_iter()
                .map(|(epoch, start)| EpochStart { epoch, start })
                .collect()
        };
        if !records.is_empty() {
            let end = records.last().map_or(from, StoredRecord::end_offset);
            let epoch_starts = starts(end - from, &self.replica.epochs);
            let records = records.iter().map(WireRecord::from_stored).collect();
            let _ = waiter.send(ReplicaFetchResponse {
                kind: FetchKind::Records as i32,
                records,
                epoch_starts,
                hw,
                epoch,
                end_offset: 0,
            });
            return Ok(());
        }
        // Nothing new: answer empty after a short wait (or at once on an append), so followers
        // do not spin. The HW sent is the latest then.
        let (appended, hw_rx) = (self.appended.clone(), self.hw.subscribe());
        task::spawn(async move {
            let _ = time::timeout(LONG_POLL, appended.notified()).await;
            let hw = *hw_rx.borrow();
            let _ =
                waiter.send(ReplicaFetchResponse { kind: FetchKind::Records as i32, hw, epoch, ..Default::default() });
        });
        Ok(())
    }

    fn send_fetch(&self, epoch: u64, fetch_offset: u64, last_fetched_epoch: Option<u64>) {
        let req = ReplicaFetchRequest {
            topic: self.ctx.topic.clone(),
            partition: self.ctx.partition,
            from: self.ctx.node,
            epoch,
            fetch_offset,
            last_fetched_epoch,
        };
        let (peers, addr, tx) = (self.ctx.peers.clone(), self.leader_addr.clone(), self.tx.clone());
        task::spawn(async move {
            let body = bytes::Bytes::from(req.encode_to_vec());
            let result = match peers.client(&addr).call(crate::rpc::shard::REPLICA_FETCH, body, FETCH_TIMEOUT).await {
                Ok(b) => ReplicaFetchResponse::decode(b).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if result.is_err() {
                time::sleep(Duration::from_millis(100)).await; // do not hammer an absent leader
            }
            let _ = tx.send(Input::Fetched { epoch, fetch_offset, result }).await;
        });
    }

    fn propose_isr(&self, epoch: u64, from: Vec<NodeId>, isr: Vec<NodeId>) {
        let cmd = MetaCommand::AlterIsr {
            topic: self.ctx.topic.clone(),
            partition: self.ctx.partition,
            epoch,
            from: from.clone(),
            isr: isr.clone(),
            isr_version: Some(self.isr_version.load(Ordering::SeqCst)),
        };
        let (meta, tx, version) = (self.ctx.meta.clone(), self.tx.clone(), self.isr_version.clone());
        task::spawn(async move {
            // An unknown outcome is retried with the same compare-and-set until meta answers:
            // if the first attempt committed, the retry finds the new ISR (`StaleIsr`) and
            // reports it. Assuming it failed would leave the leader and meta disagreeing for
            // good (found by the simulation: a follower never rejoined the ISR).
            let now = loop {
                match meta.write(&cmd).await {
                    Ok(ok) => match ok.result {
                        Ok(MetaOk::Shard(s)) => {
                            version.fetch_max(s.isr_version, Ordering::SeqCst);
                            break s.isr;
                        }
                        Err(MetaError::StaleIsr { current, version: v }) => {
                            version.fetch_max(v, Ordering::SeqCst);
                            break current;
                        }
                        _ => break from,
                    },
                    Err(_) if tx.is_closed() => return,
                    Err(_) => time::sleep(ISR_RETRY).await,
                }
            };
            let _ = tx.send(Input::Event(Event::IsrCommitted { epoch, isr: now })).await;
        });
    }

    /// Meta named this replica leader in an epoch it already wrote in (it restarted and may
    /// have lost records of that epoch): ask for a new epoch, keeping itself as leader.
    fn ask_new_epoch(&self, epoch: u64) {
        let cmd = MetaCommand::ElectLeader {
            topic: self.ctx.topic.clone(),
            partition: self.ctx.partition,
            expected_epoch: epoch,
            leader: Some(self.ctx.node),
            unclean: false,
        };
        let meta = self.ctx.meta.clone();
        task::spawn(async move {
            match meta.write(&cmd).await {
                // Not eligible any more (out of the ISR): step down, so that meta elects
                // another replica.
                Ok(ok) if matches!(ok.result, Err(MetaError::Invalid { .. })) => {
                    let MetaCommand::ElectLeader { topic, partition, expected_epoch, .. } = cmd else { return };
                    let down =
                        MetaCommand::ElectLeader { topic, partition, expected_epoch, leader: None, unclean: false };
                    let _ = meta.write(&down).await;
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "asking for a new epoch"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use async_trait::async_trait;
    use bytes::Bytes;
    use keel_storage::replication::producers::{ProducerBatch, ProducerCheck};
    use keel_storage::{LogEngine, LogError, MemoryConfig, MemoryEngine, ProducerSeq, Record, StoredRecord};

    use super::{decode_epochs, encode_epochs, scan_producers, SCAN_READ_ATTEMPTS};

    /// A memory log whose next `failures` reads fail (with disk errors, or as damaged data).
    struct FlakyReads {
        inner: MemoryEngine,
        failures: AtomicU32,
        corrupt: bool,
    }

    #[async_trait]
    impl LogEngine for FlakyReads {
        async fn append(&self, records: Vec<Record>) -> Result<(u64, u64), LogError> {
            self.inner.append(records).await
        }
        async fn sync(&self) -> Result<u64, LogError> {
            self.inner.sync().await
        }
        async fn read(&self, from: u64, bytes_max: usize) -> Result<Vec<StoredRecord>, LogError> {
            if self.failures.load(Ordering::SeqCst) > 0 {
                self.failures.fetch_sub(1, Ordering::SeqCst);
                return Err(match self.corrupt {
                    true => LogError::Corrupt { offset_hint: from, detail: "flipped bit".into() },
                    false => LogError::Io(std::io::Error::other("read error")),
                });
            }
            self.inner.read(from, bytes_max).await
        }
        async fn truncate(&self, end: u64) -> Result<(), LogError> {
            self.inner.truncate(end).await
        }
        async fn reset(&self, start: u64) -> Result<(), LogError> {
            self.inner.reset(start).await
        }
        async fn seal(&self) -> Result<(), LogError> {
            self.inner.seal().await
        }
        async fn apply_retention(&self, now_ms: u64) -> Result<u64, LogError> {
            self.inner.apply_retention(now_ms).await
        }
        fn start_offset(&self) -> u64 {
            self.inner.start_offset()
        }
        fn end_offset(&self) -> u64 {
            self.inner.end_offset()
        }
        fn durable_end(&self) -> u64 {
            self.inner.durable_end()
        }
        async fn offset_for_time(&self, ts_ms: u64) -> Result<u64, LogError> {
            self.inner.offset_for_time(ts_ms).await
        }
    }

    /// A log holding producer 7's sequences 0..3, with `failures` reads to fail first.
    async fn log_with_producer(failures: u32, corrupt: bool) -> FlakyReads {
        let inner = MemoryEngine::new(MemoryConfig::default());
        for sequence in 0..3 {
            let mut r = Record::new(1, None, Bytes::from_static(b"v"));
            r.producer = Some(ProducerSeq { producer_id: 7, producer_epoch: 0, sequence });
            inner.append(vec![r]).await.expect("append");
        }
        inner.sync().await.expect("sync");
        FlakyReads { inner, failures: AtomicU32::new(failures), corrupt }
    }

    fn retry_of_sequence_2() -> ProducerBatch {
        ProducerBatch { producer_id: 7, producer_epoch: 0, first_sequence: 2, count: 1 }
    }

    #[tokio::test]
    async fn the_producer_scan_outlasts_a_passing_read_error() {
        let log = log_with_producer(SCAN_READ_ATTEMPTS - 1, false).await;
        let table = scan_producers(&log).await.expect("the scan retries");
        // Seed 36 of the storage simulation: a scan that gave up on one read error left the
        // table empty, and the restarted replica, elected, appended a retry a second time.
        assert_eq!(table.check(&retry_of_sequence_2()), ProducerCheck::Duplicate { base: 2, last: 2 });
    }

    #[tokio::test]
    async fn a_producer_scan_that_cannot_read_fails_instead_of_forgetting() {
        let log = log_with_producer(SCAN_READ_ATTEMPTS, false).await;
        let e = scan_producers(&log).await.expect_err("no partial table");
        assert_ne!(e.kind(), std::io::ErrorKind::InvalidData, "a disk error is not damage: {e}");
        let log = log_with_producer(1, true).await;
        let e = scan_producers(&log).await.expect_err("no partial table");
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "damage salvages the copy: {e}");
    }

    #[test]
    fn the_epoch_file_roundtrips_and_any_damage_is_invalid_data() {
        let bytes = encode_epochs(&[(1, 0), (3, 17)]);
        assert_eq!(decode_epochs(&bytes).expect("decode").entries(), &[(1, 0), (3, 17)]);
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x08;
            let e = decode_epochs(&bad).expect_err("a flipped bit is found");
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "byte {i}");
        }
        assert_eq!(decode_epochs(&bytes[..3]).expect_err("short").kind(), std::io::ErrorKind::InvalidData);
    }
}
