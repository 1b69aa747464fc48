//! The storage scenario: a topic replicated on every node (segment engine on `SimDisk`),
//! producers appending through the shard leaders with acks=all under the same nemesis as the
//! meta scenario, then a liveness phase, then reading every replica back. Checked: no
//! acknowledged record lost, dense offsets, no read at or above the HW, no record written
//! twice by the idempotent producers (who retry across leader changes), replicas agree below
//! it, and every shard led and fully placed.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::rand::Rng;
use bytes::Bytes;
use keel::client::{ClientConfig, DataClient};
use keel::meta::client::MetaClient;
use keel::meta::command::{MetaCommand, MetaQuery, QueryResult, TopicSpec};
use keel::meta::log_store::StoreOptions;
use keel::meta::network::Peers;
use keel::meta::records::{Engine, TopicRecord};
use keel::rpc::shard::{ReadRequest, ReadResponse, READ};
use keel_rt::{rand, time, trace};
use madsim::runtime::Handle;
use prost::Message;

use crate::cluster::MetaCluster;
use crate::history::Recorder;
use crate::invariants::no_acked_record_lost::{self, AckedRecord, ReadBack};
use crate::invariants::{no_duplicates, replicas_agree, shards_led, Violation};
use crate::meta_scenario::Outcome;
use crate::nemesis::safety_then_heal;
use crate::settings::Settings;

const TOPIC: &str = "data";
const PARTITIONS: u32 = 2;

/// A producer (and, at the end, a reader).
struct Producer {
    id: u64,
    meta: MetaClient,
    peers: Peers,
    data: DataClient,
    /// The idempotent producer, once meta allocated its id.
    idempotent: tokio::sync::OnceCell<keel::client::Producer>,
    acked: Arc<Mutex<Vec<AckedRecord>>>,
}

impl Producer {
    async fn topic(&self) -> Option<(TopicRecord, BTreeMap<u64, String>)> {
        let t = match self.meta.query(&MetaQuery::Topic { name: TOPIC.into() }).await {
            Ok(QueryResult::Topic(Some(t))) => t,
            _ => return None,
        };
        let nodes = match self.meta.query(&MetaQuery::Nodes).await {
            Ok(QueryResult::Nodes(n)) => n.into_iter().map(|n| (n.id, n.addr)).collect(),
            _ => return None,
        };
        Some((t, nodes))
    }

    /// Appends one record to `partition` with the idempotent producer (routed to the leader,
    /// retried across leader changes); records it if acknowledged.
    async fn produce(&self, partition: u32, value: String) -> bool {
        let Ok(producer) = self.idempotent.get_or_try_init(|| self.data.producer()).await else { return false };
        let records = vec![(None, Bytes::from(value.clone()))];
        match producer.send(TOPIC, partition, records).await {
            Ok((base, _)) => {
                trace::record("produce.ack", base);
                let shard = format!("{TOPIC}/{partition}");
                self.acked.lock().unwrap_or_else(|e| e.into_inner()).push(AckedRecord { shard, offset: base, value });
                true
            }
            Err(_) => false,
        }
    }

    async fn run(&self, until: time::Instant) {
        let mut n = 0u64;
        while time::now() < until {
            let partition = rand::rng().gen_range(0..PARTITIONS);
            n += 1;
            self.produce(partition, format!("p{}-{n}", self.id)).await;
            time::sleep(Duration::from_millis(rand::rng().gen_range(10..200))).await;
        }
    }

    /// Every committed record of `partition` that node `addr` serves. Reads again from the
    /// start if retention moves the log's start while it reads (a few times at most).
    async fn read_back(&self, addr: &str, partition: u32) -> Option<ReadBack> {
        for _ in 0..5 {
            if let Some(r) = self.read_back_once(addr, partition).await? {
                return Some(r);
            }
        }
        None
    }

    /// `None`: the read failed; `Some(None)`: the start moved meanwhile.
    async fn read_back_once(&self, addr: &str, partition: u32) -> Option<Option<ReadBack>> {
        let mut out = ReadBack::default();
        let mut offset = 0;
        loop {
            let req = ReadRequest { topic: TOPIC.into(), partition, offset, bytes_max: 1 << 20, wait_ms: 0 };
            let b =
                self.peers.client(addr).call(READ, req.encode_to_vec().into(), Duration::from_secs(5)).await.ok()?;
            let resp = ReadResponse::decode(b).ok()?;
            if !resp.error.is_empty() {
                return None;
            }
            if offset == 0 {
                out.start_offset = resp.start_offset;
            } else if resp.records.first().is_some_and(|r| r.offset != offset) {
                return Some(None);
            }
            out.high_watermark = resp.high_watermark;
            if resp.records.is_empty() {
                return Some(Some(out));
            }
            for r in &resp.records {
                out.records.push((r.offset, String::from_utf8_lossy(&r.value).into_owned()));
                offset = r.offset + 1;
            }
        }
    }
}

fn client_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 2, i as u8 + 1))
}

/// Test-only switches of the storage scenario.
#[derive(Clone, Debug, Default)]
pub struct DataOptions {
    /// Shard replicas acknowledge appends before syncing them.
    pub unsafe_ack_before_sync: bool,
    /// Followers leave the ISR after lagging this long.
    pub shard_lag_ms_max: Option<u64>,
    /// The meta scheduler elects out-of-sync replicas.
    pub unsafe_elect_out_of_sync: bool,
}

/// Runs the scenario to its end and checks it.
pub async fn run(settings: Settings, options: DataOptions) -> Outcome {
    let recorder = Recorder::default();
    let store = StoreOptions {
        // Small segments, so that they roll, tier and expire within a short run.
        shard_segment_bytes_max: Some(512),
        unsafe_shard_ack_before_sync: options.unsafe_ack_before_sync,
        shard_lag_ms_max: options.shard_lag_ms_max,
        unsafe_elect_out_of_sync: options.unsafe_elect_out_of_sync,
        ..StoreOptions::default()
    };
    let mut cluster = MetaCluster::start(&settings, store, &recorder);
    cluster.operator.spawn(cluster.supervise_processes());
    let acked = Arc::new(Mutex::new(Vec::new()));
    let handle = Handle::current();
    let producers: Vec<_> = (0..settings.clients)
        .map(|i| {
            let node = handle.create_node().name(format!("producer-{i}")).ip(client_ip(i)).build();
            let meta = MetaClient::new(cluster.addrs(), Peers::default());
            let config = ClientConfig { delivery_timeout_ms: 8_000, call_timeout_ms: 3_000, ..ClientConfig::default() };
            let p = Producer {
                id: i as u64 + 1,
                data: DataClient::new(meta.clone(), Peers::default()).with_config(config),
                meta,
                peers: Peers::default(),
                idempotent: tokio::sync::OnceCell::new(),
                acked: acked.clone(),
            };
            (node, Arc::new(p))
        })
        .collect();
    let mut failures = Vec::new();
    let (node0, p0) = &producers[0];
    let rf = settings.meta_nodes.min(3) as u32;
    let p = p0.clone();
    // Half the seeds tier the topic to the (faulty) object store.
    let engine = if settings.seed.is_multiple_of(2) { Engine::Object } else { Engine::Segment };
    // Every third seed refuses writes with fewer than two in-sync copies.
    let min_insync = if settings.seed.is_multiple_of(3) { 2.min(rf) } else { 1 };
    // Every fourth seed keeps only about 2 KiB per shard: old segments expire during the run
    // and lagging followers find the leader's log starting past their end.
    let retention_bytes = (settings.seed % 4 == 1).then_some(2_048);
    let created = node0
        .spawn(async move { create_topic(&p, rf, engine, min_insync, retention_bytes).await })
        .await
        .unwrap_or(false);
    if !created {
        failures.push("liveness: the topic could not be created within 60 s".to_string());
    }

    let safety_end = time::now() + Duration::from_millis(settings.safety_ms);
    let mut workers: Vec<_> = producers
        .iter()
        .map(|(n, p)| {
            let p = p.clone();
            n.spawn(async move { p.run(safety_end).await })
        })
        .collect();
    if retention_bytes.is_some() {
        // Halfway through, the retention changes: replicas reopen with the new setting.
        let p = p0.clone();
        let at = time::now() + Duration::from_millis(settings.safety_ms / 2);
        workers.push(node0.spawn(async move { change_retention(&p, at, safety_end, 4_096).await }));
    }
    let (nemesis, live_end, failure) = safety_then_heal(&mut cluster, &settings, safety_end, workers).await;
    failures.extend(failure);
    for partition in 0..PARTITIONS {
        let p = p0.clone();
        let ok = node0.spawn(async move {
            // Each attempt writes a new value: a given-up attempt may still have landed.
            for attempt in 0.. {
                if time::now() >= live_end {
                    break;
                }
                if p.produce(partition, format!("final-{partition}-{attempt}")).await {
                    return true;
                }
                time::sleep(Duration::from_millis(200)).await;
            }
            false
        });
        if !ok.await.unwrap_or(false) {
            failures.push(format!("liveness: no produce to partition {partition} acknowledged after healing"));
        }
    }
    let p = p0.clone();
    let (leaders, replicas, shards) = node0.spawn(async move { read_everything(&p).await }).await.unwrap_or_default();
    let acked = acked.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let all: std::collections::BTreeSet<u64> = cluster.nodes.iter().map(|n| n.id).collect();
    let mut violations: Vec<Violation> = [
        no_acked_record_lost::check(&acked, &leaders),
        no_duplicates::check(&leaders),
        replicas_agree::check(&replicas),
        shards_led::check_in_sync(&shards, &all),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    violations.extend(failures.into_iter().map(|f| Violation::new("liveness", f)));
    let summary = format!(
        "{settings}\n  engine={engine:?} min_insync={min_insync} retention_bytes={retention_bytes:?} objects={:?} bit_flips={} acked_records={} read_back={:?} faults={:?} sim_secs={:.1}",
        cluster.objects.stats(),
        cluster.nodes.iter().map(|n| n.disk.stats().bit_flips).sum::<u64>(),
        acked.len(),
        leaders.iter().map(|(s, l)| (s.clone(), l.records.len())).collect::<Vec<_>>(),
        nemesis.injected,
        time::since_start().as_secs_f64()
    );
    let digest = trace::fnv1a(trace::digest(), summary.as_bytes());
    Outcome { violations, digest, summary }
}

/// From `at` until `until`, tries to set the topic's retention to `bytes` (a compare-and-set
/// on the topic's version, read first).
async fn change_retention(p: &Producer, at: time::Instant, until: time::Instant, bytes: u64) {
    time::sleep_until(at).await;
    while time::now() < until {
        if let Some((t, _)) = p.topic().await {
            let cmd = MetaCommand::UpdateTopic {
                name: TOPIC.into(),
                expected_version: t.version,
                retention_ms: t.retention_ms,
                retention_bytes: Some(bytes),
                min_insync_replicas: None,
                unclean_leader_election: None,
            };
            if matches!(p.meta.write(&cmd).await, Ok(ok) if ok.result.is_ok()) {
                trace::record("retention.changed", bytes);
                return;
            }
        }
        time::sleep(Duration::from_millis(500)).await;
    }
}

async fn create_topic(
    p: &Producer,
    rf: u32,
    engine: Engine,
    min_insync_replicas: u32,
    retention_bytes: Option<u64>,
) -> bool {
    let spec = TopicSpec {
        name: TOPIC.into(),
        partitions: PARTITIONS,
        replication_factor: rf,
        engine,
        retention_ms: None,
        retention_bytes,
        unclean_leader_election: false,
        min_insync_replicas,
    };
    let deadline = time::now() + Duration::from_secs(60);
    while time::now() < deadline {
        match p.meta.write(&MetaCommand::CreateTopic(spec.clone())).await {
            Ok(ok) if ok.result.is_ok() => return true,
            Ok(ok) if matches!(ok.result, Err(keel::meta::command::MetaError::TopicExists { .. })) => return true,
            _ => time::sleep(Duration::from_millis(300)).await,
        }
    }
    false
}

type ReadAll = (BTreeMap<String, ReadBack>, BTreeMap<String, BTreeMap<u64, ReadBack>>, Vec<shards_led::ShardView>);

/// Reads every partition back from its leader and from every replica, once every replica has
/// caught up to the leader's HW (or after 30 s).
async fn read_everything(p: &Producer) -> ReadAll {
    let deadline = time::now() + Duration::from_secs(30);
    loop {
        let Some((t, nodes)) = p.topic().await else {
            time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let mut leaders = BTreeMap::new();
        let mut replicas: BTreeMap<String, BTreeMap<u64, ReadBack>> = BTreeMap::new();
        let mut settled = true;
        for s in &t.shards {
            let shard = format!("{TOPIC}/{}", s.partition);
            let leader_log = match s.leader.and_then(|l| nodes.get(&l)) {
                Some(addr) => p.read_back(addr, s.partition).await,
                None => None,
            };
            let Some(leader_log) = leader_log else {
                settled = false;
                continue;
            };
            for r in &s.replicas {
                if let Some(log) = p.read_back(&nodes[r], s.partition).await {
                    settled &= log.high_watermark >= leader_log.high_watermark;
                    replicas.entry(shard.clone()).or_default().insert(*r, log);
                } else {
                    settled = false;
                }
            }
            leaders.insert(shard, leader_log);
        }
        let views = crate::meta_scenario::topic_shard_views(std::iter::once(&t));
        let rf = |v: &shards_led::ShardView| v.replication_factor as usize;
        settled &= views.iter().all(|v| v.isr.len() == rf(v) && v.replicas.len() == rf(v));
        if settled || time::now() >= deadline {
            return (leaders, replicas, views);
        }
        time::sleep(Duration::from_millis(300)).await;
    }
}
