//! The metadata load scenario: a cluster at rest (3 meta nodes, which also store, and
//! `data_nodes` storage-only nodes), no faults. Measures what the meta leader serves per second
//! at rest, by method, and how long a metadata change takes to reach every node: its view
//! (the meta watch) and, for a new topic, every replica opened where meta placed it.

use std::collections::BTreeMap;
use std::time::Duration;

use keel::meta::client::MetaClient;
use keel::meta::command::{MetaCommand, TopicSpec};
use keel::meta::log_store::StoreOptions;
use keel::meta::network::Peers;
use keel::meta::records::Engine;
use keel_rt::{time, trace};

use crate::cluster::{MetaCluster, Probes};
use crate::history::Recorder;
use crate::meta_scenario::Outcome;
use crate::settings::Settings;

/// How long the cluster settles before measuring.
const SETTLE: Duration = Duration::from_secs(15);
/// The window over which the leader's requests are counted.
const WINDOW: Duration = Duration::from_secs(30);
/// Topic creations timed after the window.
const CHANGES: usize = 10;

/// What one run measured.
#[derive(Debug, Default)]
pub struct LoadFigures {
    /// Requests the meta leader served per second at rest, by method.
    pub leader_per_sec: BTreeMap<String, f64>,
    /// Requests the meta leader served per second at rest, in all.
    pub leader_total_per_sec: f64,
    /// Per topic creation: ms from the write's acknowledgement until every node's view has it.
    pub view_ms: Vec<u64>,
    /// Per topic creation: ms from the write's acknowledgement until every replica is open.
    pub replicas_ms: Vec<u64>,
}

/// Runs the scenario and measures.
pub async fn run(settings: Settings) -> (Outcome, LoadFigures) {
    let recorder = Recorder::default();
    let cluster = MetaCluster::start(&settings, StoreOptions::default(), &recorder);
    let meta = MetaClient::new(cluster.addrs(), Peers::default());
    let probes = cluster.probes.clone();
    let registry = cluster.registry.clone();
    let (figures, failures) = cluster
        .operator
        .spawn(async move {
            let mut figures = LoadFigures::default();
            let mut failures = Vec::new();
            time::sleep(SETTLE).await;
            let leader_counts = |reg: &crate::cluster::Registry| {
                let reg = reg.lock().unwrap_or_else(|e| e.into_inner());
                reg.values().find(|m| m.status().leader == Some(m.id)).map(|m| (m.id, m.requests.snapshot()))
            };
            let before = leader_counts(&registry);
            time::sleep(WINDOW).await;
            let after = leader_counts(&registry);
            match (before, after) {
                (Some((l1, c1)), Some((l2, c2))) if l1 == l2 => {
                    for (method, (_, led)) in &c2 {
                        let was = c1.get(method).map_or(0, |c| c.1);
                        let rate = (led - was) as f64 / WINDOW.as_secs_f64();
                        if rate > 0.0 {
                            figures.leader_per_sec.insert(method.clone(), rate);
                        }
                    }
                    figures.leader_total_per_sec = figures.leader_per_sec.values().sum();
                }
                other => failures.push(format!("the meta leader changed during the window: {other:?}")),
            }
            for i in 0..CHANGES {
                let name = format!("load-{i}");
                let spec = TopicSpec {
                    name: name.clone(),
                    partitions: 9,
                    replication_factor: 3,
                    engine: Engine::Memory,
                    retention_ms: None,
                    retention_bytes: None,
                    unclean_leader_election: false,
                    min_insync_replicas: 1,
                };
                let ok = match meta.write(&MetaCommand::CreateTopic(spec)).await {
                    Ok(ok) if ok.result.is_ok() => ok,
                    other => {
                        failures.push(format!("creating {name}: {other:?}"));
                        continue;
                    }
                };
                let t0 = time::now();
                let (view_ms, replicas_ms) = wait_seen(&probes, ok.log_id.index, &name, 9 * 3, t0).await;
                figures.view_ms.push(view_ms);
                figures.replicas_ms.push(replicas_ms);
                time::sleep(Duration::from_millis(777)).await;
            }
            (figures, failures)
        })
        .await
        .unwrap_or_default();
    let summary = format!(
        "leader_req_per_sec={:.1} by_method={:?} view_ms={:?} replicas_ms={:?} failures={failures:?}",
        figures.leader_total_per_sec, figures.leader_per_sec, figures.view_ms, figures.replicas_ms
    );
    let violations = failures
        .into_iter()
        .map(|detail| crate::invariants::Violation { invariant: "load_scenario", detail })
        .collect();
    (Outcome { violations, digest: trace::digest(), summary }, figures)
}

/// Polls every node each simulated millisecond until its view reaches `version` and every
/// replica of `topic` (`replicas` in all) is open; the ms each took from `t0` (capped at 10 s).
async fn wait_seen(probes: &Probes, version: u64, topic: &str, replicas: usize, t0: time::Instant) -> (u64, u64) {
    let (mut view_ms, mut replicas_ms) = (None, None);
    while view_ms.is_none() || replicas_ms.is_none() {
        let elapsed = (time::now() - t0).as_millis() as u64;
        if elapsed > 10_000 {
            break;
        }
        let (all_views, open) = {
            let p = probes.lock().unwrap_or_else(|e| e.into_inner());
            let all_views = p.values().all(|n| n.view.current().version >= version);
            let open: usize = p
                .values()
                .filter_map(|n| n.store.as_ref())
                .map(|s| s.shards().iter().filter(|(t, _)| t == topic).count())
                .sum();
            (all_views, open)
        };
        if all_views && view_ms.is_none() {
            view_ms = Some(elapsed);
        }
        if open >= replicas && replicas_ms.is_none() {
            replicas_ms = Some(elapsed);
        }
        time::sleep(Duration::from_millis(1)).await;
    }
    (view_ms.unwrap_or(u64::MAX), replicas_ms.unwrap_or(u64::MAX))
}
