//! The Kafka scenario: meta/storage nodes and stateless broker nodes, Kafka clients on hosts of
//! their own speaking to random brokers (any broker serves any partition): idempotent producers
//! (acks=all, one batch in flight, retried unchanged on another broker after any failure, a new
//! epoch after giving one up), a consumer per partition polling it throughout, under the nemesis
//! (brokers killed too), then a liveness phase and a final read of every partition. Checked
//! with the anomalies Jepsen names for Kafka: lost write, duplicate, inconsistent offsets,
//! nonmonotonic poll, poll skip, nonmonotonic send. Beside them a consumer group
//! ([`crate::kafka_group`], with members that leave and members whose host is killed:
//! [`crate::kafka_group_churn`]) consumes the topic with committed offsets, checked for no
//! acknowledged commit lost, one owner per partition per generation, and nothing unseen.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ::rand::Rng;
use bytes::{Bytes, BytesMut};
use keel::meta::log_store::StoreOptions;
use keel::meta::records::Role;
use keel_protocols::kafka::kafka_protocol::messages::create_topics_request::CreatableTopic;
use keel_protocols::kafka::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use keel_protocols::kafka::kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use keel_protocols::kafka::kafka_protocol::messages::{
    ApiKey, BrokerId, CreateTopicsRequest, CreateTopicsResponse, FetchRequest, FetchResponse, InitProducerIdRequest,
    InitProducerIdResponse, ProduceRequest, ProduceResponse, ProducerId, TopicName,
};
use keel_protocols::kafka::kafka_protocol::protocol::StrBytes;
use keel_protocols::kafka::kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use keel_rt::{rand, time, trace};
use madsim::runtime::Handle;

use crate::cluster::{data_ip, MetaCluster, KAFKA_PORT};
use crate::history::Recorder;
use crate::invariants::kafka_group_history::CommitOutcome;
use crate::invariants::kafka_history::{FinalRead, PollLog, ProduceOutcome, Produced};
use crate::invariants::{
    kafka_duplicate, kafka_inconsistent_offsets, kafka_lost_write, kafka_nonmonotonic_poll, kafka_nonmonotonic_send,
    kafka_offsets_backwards, kafka_poll_skip, kafka_split_ownership, kafka_unseen, Violation,
};
use crate::kafka_client::KafkaConn;
use crate::kafka_group::GroupShared;
use crate::kafka_group_churn;
use crate::meta_scenario::Outcome;
use crate::nemesis::safety_then_heal;
use crate::settings::Settings;

pub(crate) const TOPIC: &str = "k";
pub(crate) const PARTITIONS: i32 = 2;
/// How long one request may take before its outcome counts as unknown.
pub(crate) const CALL: Duration = Duration::from_secs(10);
/// Error codes a producer retries unchanged.
const RETRIABLE: &[i16] = &[3, 5, 6, 7, 19, 20, 56];

/// Test-only switches of the Kafka scenario.
#[derive(Clone, Debug, Default)]
pub struct KafkaOptions {
    /// Shard replicas report appends durable without syncing them, so acks=all is answered
    /// before the followers (or the leader) synced (the planted bug).
    pub unsafe_ack_before_sync: bool,
}

/// The settings of a Kafka run: 2 or 3 broker nodes beside the meta/storage nodes.
pub fn settings(seed: u64) -> Settings {
    let mut s = Settings::from_seed(seed);
    s.data_nodes = 2 + (seed % 2) as usize;
    s.data_roles = vec![Role::Broker];
    s.faults.no_bit_flips = true; // as in the MQTT scenario: storage damage is the storage suite's
    s
}

#[derive(Default)]
struct Log {
    produced: Vec<Produced>,
    polls: BTreeMap<i32, PollLog>,
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Log>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Log> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn client_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 6, i as u8 + 1))
}

#[derive(Clone)]
pub(crate) struct Brokers(Vec<String>);

impl Brokers {
    fn pick(&self) -> String {
        self.0[rand::rng().gen_range(0..self.0.len())].clone()
    }

    pub(crate) async fn connect(&self) -> Option<KafkaConn> {
        KafkaConn::connect(&self.pick(), CALL).await.ok()
    }
}

pub(crate) fn topic() -> TopicName {
    TopicName(StrBytes::from_static_str(TOPIC))
}

/// Runs the scenario to its end and checks it.
pub async fn run(settings: Settings, options: KafkaOptions) -> Outcome {
    let recorder = Recorder::default();
    let store = StoreOptions { unsafe_shard_ack_before_sync: options.unsafe_ack_before_sync, ..Default::default() };
    let mut cluster = MetaCluster::start(&settings, store, &recorder);
    cluster.operator.spawn(cluster.supervise_processes());
    let brokers = Brokers(cluster.data.iter().map(|n| format!("{}:{KAFKA_PORT}", data_ip(n.id))).collect());
    let log = Shared::default();
    let stop = Arc::new(AtomicBool::new(false));
    let handle = Handle::current();
    let mut hosts = (0..).map(|i| handle.create_node().name(format!("kafka-client-{i}")).ip(client_ip(i)).build());
    let mut failures = Vec::new();

    let b = brokers.clone();
    if !hosts.next().expect("a host").spawn(async move { create_topic(&b).await }).await.unwrap_or(false) {
        failures.push("liveness: the topic could not be created within 90 s".to_string());
    }
    for p in 0..PARTITIONS {
        let (b, l, s) = (brokers.clone(), log.clone(), stop.clone());
        hosts.next().expect("a host").spawn(async move { consumer(p, b, l, s).await });
    }
    let safety_end = time::now() + Duration::from_millis(settings.safety_ms);
    let group = GroupShared::default();
    kafka_group_churn::start(&mut hosts, &brokers, &group, &stop, settings.safety_ms);
    let mut workers = Vec::new();
    for i in 0..settings.clients {
        let (b, l) = (brokers.clone(), log.clone());
        let work = async move {
            producer(format!("p{i}"), b, l, safety_end, false).await;
        };
        workers.push(hosts.next().expect("a host").spawn(work));
    }
    let (nemesis, live_end, failure) = safety_then_heal(&mut cluster, &settings, safety_end, workers).await;
    failures.extend(failure);
    let (b, l) = (brokers.clone(), log.clone());
    let final_ok =
        hosts.next().expect("a host").spawn(async move { producer("final".into(), b, l, live_end, true).await }).await;
    if !final_ok.unwrap_or(false) {
        failures.push("liveness: no record acknowledged after healing".into());
    }
    // A leader just elected may report a high watermark below what it acknowledged before
    // (until its followers catch up): the final read goes at least past every acknowledged offset.
    let min_end: BTreeMap<i32, i64> = {
        let l = log.lock();
        let mut m = BTreeMap::new();
        for p in &l.produced {
            if let ProduceOutcome::Acked(o) = p.outcome {
                let e = m.entry(p.partition).or_insert(0);
                *e = (*e).max(o + 1);
            }
        }
        m
    };
    let b = brokers.clone();
    let read = hosts.next().expect("a host").spawn(async move { final_read(&b, live_end, &min_end).await }).await;
    let read = match read {
        Ok(Some(r)) => r,
        _ => {
            failures.push("liveness: the partitions could not be read after healing".into());
            FinalRead::new()
        }
    };
    wait_consumers(&log, &read, live_end).await;
    kafka_group_churn::drain(&group, &read, live_end).await;
    stop.store(true, Ordering::Relaxed);
    finish(&settings, &log, &group, &read, &cluster, failures, &nemesis.injected)
}

fn finish(
    settings: &Settings,
    log: &Shared,
    group: &GroupShared,
    read: &FinalRead,
    cluster: &MetaCluster,
    failures: Vec<String>,
    injected: &BTreeMap<&'static str, u64>,
) -> Outcome {
    let l = log.lock();
    let g = group.lock();
    let polls: Vec<PollLog> = l.polls.values().cloned().collect();
    let mut violations: Vec<Violation> = [
        kafka_lost_write::check(&l.produced, read),
        kafka_duplicate::check(read),
        kafka_inconsistent_offsets::check(&polls, read),
        kafka_nonmonotonic_poll::check(&polls),
        kafka_poll_skip::check(&polls),
        kafka_nonmonotonic_send::check(&l.produced),
        kafka_offsets_backwards::check(&g.commits, &g.observed),
        kafka_split_ownership::check(&g.assigned),
        kafka_unseen::check(&l.produced, read, &g.polled),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    violations.extend(failures.into_iter().map(|f| Violation::new("liveness", f)));
    let acked = l.produced.iter().filter(|p| matches!(p.outcome, ProduceOutcome::Acked(_))).count();
    let polled: Vec<usize> = polls.iter().map(|p| p.records.len()).collect();
    let stored: Vec<usize> = read.values().map(Vec::len).collect();
    let acked_commits = g.commits.iter().filter(|c| c.outcome == CommitOutcome::Acked).count();
    let generations = g.assigned.iter().map(|a| a.generation).max().unwrap_or(-1);
    let summary = format!(
        "{settings} brokers={}\n  produced={} acked={acked} stored={stored:?} polled={polled:?} faults={injected:?} sim_secs={:.1}\n  group: polled={} commits={} acked={acked_commits} fetched={} generations={generations} resumed={}",
        cluster.data.len(),
        l.produced.len(),
        time::since_start().as_secs_f64(),
        g.polled.len(),
        g.commits.len(),
        g.observed.len(),
        g.resumed,
    );
    let digest = trace::fnv1a(trace::digest(), summary.as_bytes());
    Outcome { violations, digest, summary }
}

async fn create_topic(brokers: &Brokers) -> bool {
    let deadline = time::now() + Duration::from_secs(90);
    let req = CreateTopicsRequest::default().with_timeout_ms(10_000).with_topics(vec![CreatableTopic::default()
        .with_name(topic())
        .with_num_partitions(PARTITIONS)
        .with_replication_factor(-1)]);
    while time::now() < deadline {
        if let Some(mut c) = brokers.connect().await {
            let r: std::io::Result<CreateTopicsResponse> = c.call(ApiKey::CreateTopics, 5, &req, CALL).await;
            if let Ok(r) = r {
                if r.topics.iter().all(|t| t.error_code == 0 || t.error_code == 36) {
                    return true;
                }
            }
        }
        time::sleep(Duration::from_millis(500)).await;
    }
    false
}

fn batch(value: &str, producer: (i64, i16), sequence: i32) -> Bytes {
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: producer.0,
        producer_epoch: producer.1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence,
        timestamp: time::since_start().as_millis() as i64,
        key: None,
        value: Some(Bytes::from(value.to_string())),
        headers: Default::default(),
    };
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: Compression::None };
    RecordBatchEncoder::encode(&mut out, [&record], &options).expect("a one-record batch encodes");
    out.freeze()
}

/// A producer id and epoch from any broker (a new epoch of `current` if given), retried
/// until `until`.
async fn init_producer(brokers: &Brokers, current: Option<(i64, i16)>, until: time::Instant) -> Option<(i64, i16)> {
    let (id, epoch) = current.unwrap_or((-1, -1));
    let req = InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(id))
        .with_producer_epoch(epoch);
    while time::now() < until {
        if let Some(mut c) = brokers.connect().await {
            let r: std::io::Result<InitProducerIdResponse> = c.call(ApiKey::InitProducerId, 4, &req, CALL).await;
            if let Some(r) = r.ok().filter(|r| r.error_code == 0) {
                return Some((r.producer_id.0, r.producer_epoch));
            }
        }
        time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// An idempotent producer: one record at a time, alternating partitions, each retried
/// unchanged on random brokers until answered; a record given up on ends the epoch. Returns
/// whether at least one record was acknowledged (with `once`, it stops at the first).
async fn producer(name: String, brokers: Brokers, log: Shared, until: time::Instant, once: bool) -> bool {
    let Some(mut pid) = init_producer(&brokers, None, until).await else { return false };
    let mut next_seq = [0i32; PARTITIONS as usize];
    let mut n = 0u64;
    let mut any = false;
    while time::now() < until {
        let partition = (n % PARTITIONS as u64) as i32;
        let value = format!("{name}-{n}");
        n += 1;
        let data = batch(&value, pid, next_seq[partition as usize]);
        let req = ProduceRequest::default().with_acks(-1).with_timeout_ms(10_000).with_topic_data(vec![
            TopicProduceData::default().with_name(topic()).with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(data))]),
        ]);
        let index = {
            let mut l = log.lock();
            l.produced.push(Produced {
                producer: name.clone(),
                partition,
                value: value.clone(),
                outcome: ProduceOutcome::Unknown,
            });
            l.produced.len() - 1
        };
        let mut outcome = ProduceOutcome::Unknown;
        while time::now() < until {
            let Some(mut c) = brokers.connect().await else {
                time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let r: std::io::Result<ProduceResponse> = c.call(ApiKey::Produce, 7, &req, CALL).await;
            let Ok(r) = r else { continue };
            let Some(p) = r.responses.iter().flat_map(|t| &t.partition_responses).next() else { continue };
            if p.error_code == 0 {
                outcome = ProduceOutcome::Acked(p.base_offset);
                break;
            }
            if !RETRIABLE.contains(&p.error_code) {
                break;
            }
            time::sleep(Duration::from_millis(rand::rng().gen_range(50..300))).await;
        }
        log.lock().produced[index].outcome = outcome;
        trace::record("kafka.produce", n ^ matches!(outcome, ProduceOutcome::Acked(_)) as u64);
        match outcome {
            ProduceOutcome::Acked(_) if once => return true,
            ProduceOutcome::Acked(_) => {
                next_seq[partition as usize] += 1;
                any = true;
                time::sleep(Duration::from_millis(rand::rng().gen_range(10..100))).await;
            }
            ProduceOutcome::Unknown => {
                // The record may or may not be in the log: a new epoch numbers afresh, and
                // fences any late copy of the old one.
                match init_producer(&brokers, Some(pid), until).await {
                    Some(p) => pid = p,
                    None => return any,
                }
                next_seq = [0; PARTITIONS as usize];
            }
        }
    }
    any
}

/// One fetch of `partition` from `offset` at any broker: (records, high watermark), or an
/// error code.
pub(crate) async fn fetch(
    conn: &mut KafkaConn,
    partition: i32,
    offset: i64,
    wait_ms: i32,
) -> Result<(Vec<(i64, String)>, i64), i16> {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default().with_topic(topic()).with_partitions(vec![FetchPartition::default()
            .with_partition(partition)
            .with_fetch_offset(offset)
            .with_partition_max_bytes(1 << 20)])]);
    let r: FetchResponse = conn.call(ApiKey::Fetch, 11, &req, CALL).await.map_err(|_| -1i16)?;
    let Some(p) = r.responses.iter().flat_map(|t| &t.partitions).next() else { return Err(-1) };
    if p.error_code != 0 {
        return Err(p.error_code);
    }
    let mut records = Vec::new();
    if let Some(mut bytes) = p.records.clone() {
        let sets = RecordBatchDecoder::decode_all(&mut bytes).map_err(|_| -2i16)?;
        for r in sets.iter().flat_map(|s| &s.records).filter(|r| r.offset >= offset) {
            let v = r.value.as_deref().map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default();
            records.push((r.offset, v));
        }
    }
    Ok((records, p.high_watermark))
}

/// Polls `partition` from offset 0 until stopped, reconnecting to random brokers.
async fn consumer(partition: i32, brokers: Brokers, log: Shared, stop: Arc<AtomicBool>) {
    let name = format!("c{partition}");
    log.lock().polls.insert(partition, PollLog { consumer: name, partition, from: 0, records: Vec::new() });
    let mut next = 0i64;
    while !stop.load(Ordering::Relaxed) {
        let Some(mut c) = brokers.connect().await else {
            time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        while !stop.load(Ordering::Relaxed) {
            match fetch(&mut c, partition, next, 500).await {
                Ok((records, _)) => {
                    if let Some((last, _)) = records.last() {
                        next = last + 1;
                    }
                    if let Some(l) = log.lock().polls.get_mut(&partition) {
                        l.records.extend(records);
                    }
                }
                Err(-1) | Err(-2) => break,
                Err(_) => {
                    time::sleep(Duration::from_millis(200)).await;
                    break;
                }
            }
        }
    }
}

/// Every partition read from offset 0 to its high watermark (and at least to `min_end`).
async fn final_read(brokers: &Brokers, until: time::Instant, min_end: &BTreeMap<i32, i64>) -> Option<FinalRead> {
    let mut out = FinalRead::new();
    for partition in 0..PARTITIONS {
        let mut records: Vec<(i64, String)> = Vec::new();
        let mut next = 0i64;
        loop {
            if time::now() >= until {
                return None;
            }
            let Some(mut c) = brokers.connect().await else { continue };
            match fetch(&mut c, partition, next, 0).await {
                Ok((got, hw)) => {
                    if let Some((last, _)) = got.last() {
                        next = last + 1;
                    }
                    let empty = got.is_empty();
                    records.extend(got);
                    if next >= hw && next >= min_end.get(&partition).copied().unwrap_or(0) {
                        break;
                    }
                    if empty {
                        time::sleep(Duration::from_millis(200)).await;
                    }
                }
                Err(_) => time::sleep(Duration::from_millis(200)).await,
            }
        }
        out.insert(partition, records);
    }
    Some(out)
}

/// Waits until every consumer has polled up to what the final read found, or `until`.
async fn wait_consumers(log: &Shared, read: &FinalRead, until: time::Instant) {
    while time::now() < until {
        let done = {
            let l = log.lock();
            read.iter().all(|(p, r)| {
                let want = r.last().map_or(-1, |(o, _)| *o);
                l.polls.get(p).and_then(|x| x.records.last()).map_or(want < 0, |(o, _)| *o >= want)
            })
        };
        if done {
            return;
        }
        time::sleep(Duration::from_millis(200)).await;
    }
}
