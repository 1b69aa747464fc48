//! The meta-cluster scenario: 3 or 5 meta nodes, clients issuing metadata operations, a
//! safety phase under the nemesis, a liveness phase without it, then every invariant.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ::rand::Rng;
use keel::meta::command::{MetaQuery, QueryResult};
use keel::meta::log_store::StoreOptions;
use keel_rt::disk::DiskStats;
use keel_rt::{rand, time, trace};
use madsim::runtime::Handle;

use crate::cluster::MetaCluster;
use crate::history::{History, Recorder};
use crate::invariants::shards_led::{self, ShardView};
use crate::invariants::state_machines_converge::NodeFinal;
use crate::invariants::{
    committed_never_lost, linearizable, single_leader_per_term, state_machines_converge, Violation,
};
use crate::nemesis::safety_then_heal;
use crate::settings::Settings;
use crate::workload::Client;

/// The end of one run.
pub struct Outcome {
    pub violations: Vec<Violation>,
    pub digest: u64,
    pub summary: String,
}

fn client_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 2, i as u8 + 1))
}

/// Runs the scenario to its end and checks it.
pub async fn run(settings: Settings, store: StoreOptions) -> Outcome {
    tracing::info!(seed = settings.seed, "settings: {settings}");
    let recorder = Recorder::default();
    let mut cluster = MetaCluster::start(&settings, store, &recorder);
    let handle = Handle::current();
    cluster.operator.spawn(cluster.supervise_processes());
    let clients: Vec<_> = (0..settings.clients)
        .map(|i| {
            let node = handle.create_node().name(format!("client-{i}")).ip(client_ip(i)).build();
            (node, std::sync::Arc::new(Client::new(i as u64 + 1, cluster.addrs(), recorder.clone(), &settings)))
        })
        .collect();

    let formed = {
        let c = clients[0].1.clone();
        let want = settings.meta_nodes;
        clients[0].0.spawn(async move { wait_formed(&c, want).await }).await.unwrap_or(false)
    };
    if !formed {
        recorder.lock().failures.push("liveness: the cluster did not form within 60 s".into());
    }

    // Safety phase.
    let safety_end = time::now() + Duration::from_millis(settings.safety_ms);
    let mut workers = Vec::new();
    for (node, c) in &clients {
        let (c, ops) = (c.clone(), settings.ops_per_client);
        workers.push(node.spawn(async move { c.run(ops, safety_end).await }));
    }
    let (nemesis, live_end, failure) = safety_then_heal(&mut cluster, &settings, safety_end, workers).await;
    recorder.lock().failures.extend(failure);

    // Liveness phase.
    let mut finals = Vec::new();
    for (node, c) in &clients {
        let c = c.clone();
        finals.push(node.spawn(async move { final_ops(&c, live_end).await }));
    }
    for f in finals {
        if let Ok(Err(e)) = f.await {
            recorder.lock().failures.push(format!("liveness: {e}"));
        }
    }
    let converged = converge(&cluster, &recorder, live_end + Duration::from_secs(10)).await;
    let shards = shards_settled(&cluster, live_end + Duration::from_secs(20)).await;
    let mut violations = check(&recorder.lock(), &converged);
    let all: std::collections::BTreeSet<u64> = cluster.nodes.iter().map(|n| n.id).collect();
    violations.extend(shards_led::check(&shards, &all).err());
    let h = recorder.lock();
    let unknown = h.ops.iter().filter(|(_, o)| o.return_ms.is_none()).count();
    let disk = cluster.nodes.iter().map(|n| n.disk.stats()).fold(DiskStats::default(), |mut a, s| {
        a.crashes += s.crashes;
        a.torn_writes += s.torn_writes;
        a.lost_unsynced_ops += s.lost_unsynced_ops;
        a.sync_failures += s.sync_failures;
        a.read_errors += s.read_errors;
        a.full_errors += s.full_errors;
        a.bit_flips += s.bit_flips;
        a
    });
    let max_epoch = cluster.leader().map_or(0, |m| {
        m.sm.read(|a| a.state.topics.values().flat_map(|t| &t.shards).map(|s| s.epoch).max().unwrap_or(0))
    });
    let summary = format!(
        "{settings}\n  shards={} max_shard_epoch={max_epoch} ops={} unknown={} acked_writes={} leaders={} faults={:?} disk: crashes={} torn={} lost_unsynced={} \
         sync_fail={} read_err={} full={} flips={} meta_repairs={} fault_points={:?} sim_secs={:.1}",
        shards.len(),
        h.ops.len(),
        unknown,
        h.acked.len(),
        h.leaders.len(),
        nemesis.injected,
        disk.crashes,
        disk.torn_writes,
        disk.lost_unsynced_ops,
        disk.sync_failures,
        disk.read_errors,
        disk.full_errors,
        disk.bit_flips,
        cluster.repairs.load(std::sync::atomic::Ordering::Relaxed),
        keel_rt::fault::enabled_sites(),
        time::since_start().as_secs_f64()
    );
    let digest = trace::fnv1a(trace::digest(), summary.as_bytes());
    Outcome { violations, digest, summary }
}

/// The shards as the leader records them once every one is led and placed (or at the deadline).
async fn shards_settled(cluster: &MetaCluster, deadline: time::Instant) -> Vec<ShardView> {
    let all: std::collections::BTreeSet<u64> = cluster.nodes.iter().map(|n| n.id).collect();
    loop {
        let shards = cluster.leader().map(|m| m.sm.read(|a| shard_views(&a.state)));
        match shards {
            Some(s) if shards_led::check(&s, &all).is_ok() => return s,
            Some(s) if time::now() >= deadline => return s,
            None if time::now() >= deadline => {
                return vec![ShardView {
                    topic: "(no meta leader at the end)".into(),
                    partition: 0,
                    replication_factor: 0,
                    replicas: vec![],
                    leader: None,
                    isr: vec![],
                }]
            }
            _ => {}
        }
        time::sleep(Duration::from_millis(200)).await;
    }
}

fn shard_views(state: &keel::meta::state::MetaState) -> Vec<ShardView> {
    topic_shard_views(state.topics.values())
}

/// The shards of `topics` as the `shards_led` invariant sees them.
pub fn topic_shard_views<'a>(topics: impl Iterator<Item = &'a keel::meta::records::TopicRecord>) -> Vec<ShardView> {
    topics
        .flat_map(|t| {
            t.shards.iter().map(|s| ShardView {
                topic: t.name.clone(),
                partition: s.partition,
                replication_factor: t.replication_factor,
                replicas: s.replicas.clone(),
                leader: s.leader,
                isr: s.isr.clone(),
            })
        })
        .collect()
}

async fn wait_formed(c: &Client, nodes: usize) -> bool {
    let deadline = time::now() + Duration::from_secs(60);
    while time::now() < deadline {
        if let Ok(QueryResult::Nodes(n)) = c.meta.query(&MetaQuery::Nodes).await {
            if n.len() >= nodes {
                return true;
            }
        }
        time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// One write and one read per client that must complete before `deadline`.
async fn final_ops(c: &Client, deadline: time::Instant) -> Result<(), String> {
    use crate::invariants::linearizable::TopicOp;
    let key = c.keys[rand::rng().gen_range(0..c.keys.len())].clone();
    for op in [TopicOp::Create, TopicOp::Read] {
        let mut last = String::new();
        loop {
            if time::now() >= deadline {
                return Err(format!("client {} could not complete {op:?} on {key}: {last}", c.id));
            }
            match c.execute(&key, op.clone()).await {
                Ok(()) => break,
                Err(e) => last = e,
            }
            time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Waits until every node runs and all have applied the same index, past every acknowledged
/// write; returns each node's final state (or what it had at the deadline).
async fn converge(cluster: &MetaCluster, recorder: &Recorder, deadline: time::Instant) -> BTreeMap<u64, NodeFinal> {
    let max_acked = recorder.lock().acked.iter().map(|a| a.index).max().unwrap_or(0);
    loop {
        let finals: BTreeMap<u64, NodeFinal> = {
            let reg = cluster.registry.lock().unwrap_or_else(|e| e.into_inner());
            reg.iter()
                .map(|(id, m)| {
                    let (applied_index, state_digest) =
                        m.sm.read(|a| (a.last_applied.map_or(0, |l| l.index), a.state.digest()));
                    (*id, NodeFinal { applied_index, state_digest })
                })
                .collect()
        };
        let all_up = finals.len() == cluster.nodes.len();
        let indexes: Vec<u64> = finals.values().map(|f| f.applied_index).collect();
        let same = indexes.windows(2).all(|w| w[0] == w[1]);
        let past_acked = indexes.iter().all(|i| *i >= max_acked);
        if (all_up && same && past_acked) || time::now() >= deadline {
            if !all_up {
                let missing: Vec<u64> =
                    cluster.nodes.iter().map(|n| n.id).filter(|id| !finals.contains_key(id)).collect();
                recorder.lock().failures.push(format!("liveness: nodes {missing:?} not running at the end"));
            }
            return finals;
        }
        time::sleep(Duration::from_millis(100)).await;
    }
}

fn check(h: &History, finals: &BTreeMap<u64, NodeFinal>) -> Vec<Violation> {
    let applied: BTreeMap<u64, u64> = finals.iter().map(|(id, f)| (*id, f.applied_index)).collect();
    let mut v: Vec<Violation> = [
        single_leader_per_term::check(&h.leaders),
        committed_never_lost::check(&h.applies, &h.acked, &applied),
        state_machines_converge::check(finals),
        linearizable::check_topics(&h.ops),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    v.extend(h.failures.iter().map(|f| {
        let invariant = if f.starts_with("liveness") { "liveness" } else { "expected_results" };
        Violation::new(invariant, f.clone())
    }));
    v
}
