//! One run: start the cluster, set up, drive the clients under the nemesis for the time limit,
//! heal, wait for recovery, drain and check; then write the results folder.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use serde_json::json;

use crate::cluster::Cluster;
use crate::history::{self, History};
use crate::nemesis;
use crate::opts::Opts;
use crate::plot;
use crate::verdict::Verdict;
use crate::workload::{self, Env, NodeAddrs};

/// How long a cluster may take to come up, or to recover after the heal.
const READY_LIMIT: Duration = Duration::from_secs(90);

/// Runs `opts`; returns the verdict and the results folder.
pub fn run(opts: &Opts) -> Result<(Verdict, PathBuf), String> {
    let faults = opts.faults()?;
    let hold_ms = opts.fault_ms()?;
    let keel = opts.keel_binary()?;
    let workload = workload::by_name(&opts.workload, &opts.mqtt_qos()?)?;
    if opts.nodes < 3 {
        return Err("--nodes: at least 3 (a replication factor of 3)".into());
    }
    let out =
        opts.out.clone().unwrap_or_else(|| PathBuf::from(format!("jepsen-results/{}-{}", opts.workload, opts.seed)));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let cluster = Cluster::create(&keel, &out.join("nodes"), opts.nodes, opts.unsafe_ack_before_replication)
        .map_err(|e| format!("cluster: {e}"))?;
    let mut cluster = cluster;
    if faults.iter().any(|f| f == "clock") {
        cluster.use_faketime(opts.faketime()?);
    }
    let cluster = Arc::new(Mutex::new(cluster));
    let history = History::default();
    let lock = |c: &Arc<Mutex<Cluster>>| c.lock().unwrap_or_else(|e| e.into_inner()).ids();

    for id in lock(&cluster) {
        cluster.lock().unwrap_or_else(|e| e.into_inner()).start(id).map_err(|e| format!("start node {id}: {e}"))?;
    }
    let ready = cluster.lock().unwrap_or_else(|e| e.into_inner()).wait_ready(READY_LIMIT);
    let verdict = match ready {
        Err(e) => Verdict::failed(format!("cluster did not start: {e}")),
        Ok(()) => drive(opts, &cluster, &history, workload.as_ref(), faults, hold_ms),
    };
    cluster.lock().unwrap_or_else(|e| e.into_inner()).stop_all();
    write_results(&out, &history, &verdict).map_err(|e| format!("results: {e}"))?;
    Ok((verdict, out))
}

fn drive(
    opts: &Opts,
    cluster: &Arc<Mutex<Cluster>>,
    history: &History,
    workload: &dyn workload::Workload,
    faults: Vec<String>,
    hold_ms: (u64, u64),
) -> Verdict {
    let nodes: Vec<NodeAddrs> = cluster
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .nodes
        .iter()
        .map(|n| NodeAddrs { id: n.id, admin: n.admin, kafka: n.kafka, mqtt: n.mqtt })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let env = Env { history: history.clone(), nodes, stop: stop.clone(), seed: opts.seed };
    if let Err(e) = workload.setup(&env) {
        return Verdict::failed(format!("setup: {e}"));
    }
    history.nemesis("workload-start", json!({ "workload": opts.workload }));
    let nemesis_stop = Arc::new(AtomicBool::new(false));
    let counts = thread::scope(|s| {
        let clients: Vec<_> = (0..opts.concurrency)
            .map(|i| {
                let env = env.clone();
                s.spawn(move || workload.client(i, &env))
            })
            .collect();
        let nemesis = {
            let (cluster, history, stop) = (cluster.clone(), history.clone(), nemesis_stop.clone());
            let plan = nemesis::Plan {
                kinds: faults,
                interval: Duration::from_secs(opts.nemesis_interval),
                hold_ms,
                leader_bias: opts.leader_bias,
                seed: opts.seed,
            };
            s.spawn(move || nemesis::run(cluster, history, plan, stop))
        };
        thread::sleep(Duration::from_secs(opts.time_limit));
        nemesis_stop.store(true, Ordering::Relaxed);
        let counts = nemesis.join().unwrap_or_default();
        // Heal everything, and let the clients run on through the recovery.
        let healed = cluster.lock().unwrap_or_else(|e| e.into_inner()).heal_all();
        history.nemesis("heal", json!({ "ok": healed.is_ok() }));
        let recovered = cluster.lock().unwrap_or_else(|e| e.into_inner()).wait_ready(READY_LIMIT);
        history.nemesis("recovered", json!({ "ok": recovered.is_ok(), "error": recovered.err() }));
        thread::sleep(Duration::from_secs(5));
        stop.store(true, Ordering::Relaxed);
        for c in clients {
            let _ = c.join();
        }
        counts
    });
    history.nemesis("drain", json!({}));
    let mut verdict = Verdict::new();
    workload.finish(&env, &mut verdict);
    history.nemesis("checked", json!({ "valid": verdict.valid }));
    let counted = [
        ("kill", counts.kill),
        ("pause", counts.pause),
        ("partition", counts.partition),
        ("disk", counts.disk),
        ("clock", counts.clock),
    ];
    for (name, n) in counted {
        verdict.stat(&format!("faults-{name}"), u64::from(n));
    }
    verdict
}

fn write_results(out: &Path, history: &History, verdict: &Verdict) -> std::io::Result<()> {
    history.write(&out.join("history.jsonl"))?;
    std::fs::write(out.join("verdict.json"), serde_json::to_string_pretty(verdict)? + "\n")?;
    let events = history.events();
    let end_ms = events.last().map_or(0, |e| e.time_ms);
    let ops = history::completed(&events);
    let windows = nemesis::windows(&events, end_ms);
    std::fs::write(out.join("latency.svg"), plot::latency(&ops, &windows, end_ms))?;
    std::fs::write(out.join("throughput.svg"), plot::throughput(&ops, &windows, end_ms))?;
    Ok(())
}
