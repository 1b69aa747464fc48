//! The nemesis: one fault at a time, from the kinds asked for (in shuffled rounds), each held a few seconds and then
//! healed, with a pause between faults; every start and end goes into the history, so the
//! plots can shade the fault windows. Kills and pauses hit one node at a time; file damage
//! hits a node while it is down (a minority: one node at a time, always restarted).

pub mod disk;
pub mod partition;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::json;

use crate::cluster::Cluster;
use crate::history::History;

/// What the nemesis did, counted per kind of fault.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Counts {
    pub kill: u32,
    pub pause: u32,
    pub partition: u32,
    pub disk: u32,
    pub clock: u32,
}

/// How the nemesis runs.
#[derive(Clone, Debug)]
pub struct Plan {
    pub kinds: Vec<String>,
    /// Between the end of one fault and the start of the next.
    pub interval: Duration,
    /// How long a fault is held: drawn from this range, in milliseconds.
    pub hold_ms: (u64, u64),
    /// The share of faults aimed at a shard leader.
    pub leader_bias: f64,
    pub seed: u64,
}

/// Runs faults of `plan` until `stop` is set; returns how many of each it injected.
pub fn run(cluster: Arc<Mutex<Cluster>>, history: History, plan: Plan, stop: Arc<AtomicBool>) -> Counts {
    let Plan { kinds, interval, hold_ms, leader_bias, seed } = plan;
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x6e656d65);
    let mut counts = Counts::default();
    if kinds.is_empty() {
        return counts;
    }
    // Rounds through every kind in a shuffled order, so a short run sees each of them.
    let mut round: Vec<String> = Vec::new();
    while !sleep_unless(&stop, interval) {
        if round.is_empty() {
            round = kinds.clone();
            round.shuffle(&mut rng);
        }
        let kind = round.pop().expect("a kind");
        let hold = Duration::from_millis(rng.gen_range(hold_ms.0..=hold_ms.1));
        let (ids, leaders) = {
            let c = cluster.lock().unwrap_or_else(|e| e.into_inner());
            (c.ids(), c.shard_leaders())
        };
        // Some faults aim at a shard leader (Jepsen's "primaries"), where a broken
        // acknowledgement shows; the rest at any node.
        let target = if rng.gen_bool(leader_bias) { leaders.choose(&mut rng).copied() } else { None };
        let node = target.unwrap_or_else(|| *ids.choose(&mut rng).expect("nodes"));
        let start = |f: &str, value| history.nemesis(f, value);
        match kind.as_str() {
            "kill" | "disk" => {
                cluster.lock().unwrap_or_else(|e| e.into_inner()).kill(node);
                let damage = if kind == "disk" {
                    let dir = cluster.lock().unwrap_or_else(|e| e.into_inner()).node(node).data_dir();
                    disk::damage(&dir, &mut rng).unwrap_or_else(|e| Some(format!("damage failed: {e}")))
                } else {
                    None
                };
                start(&format!("start-{kind}"), json!({ "node": node, "leader": target.is_some(), "damage": damage }));
                sleep_unless(&stop, hold);
                let restarted = cluster.lock().unwrap_or_else(|e| e.into_inner()).start(node);
                history.nemesis(&format!("end-{kind}"), json!({ "node": node, "restart": restarted.is_ok() }));
                if kind == "disk" {
                    counts.disk += 1;
                } else {
                    counts.kill += 1;
                }
            }
            "pause" => {
                cluster.lock().unwrap_or_else(|e| e.into_inner()).pause(node);
                start("start-pause", json!({ "node": node, "leader": target.is_some() }));
                sleep_unless(&stop, hold);
                cluster.lock().unwrap_or_else(|e| e.into_inner()).resume(node);
                history.nemesis("end-pause", json!({ "node": node }));
                counts.pause += 1;
            }
            "clock" => {
                let offset_s = rng.gen_range(2..=8) * if rng.gen_bool(0.5) { 1 } else { -1 };
                let set = cluster.lock().unwrap_or_else(|e| e.into_inner()).set_clock(node, offset_s);
                start("start-clock", json!({ "node": node, "offset_s": offset_s, "ok": set.is_ok() }));
                sleep_unless(&stop, hold);
                let _ = cluster.lock().unwrap_or_else(|e| e.into_inner()).set_clock(node, 0);
                history.nemesis("end-clock", json!({ "node": node }));
                counts.clock += 1;
            }
            "partition" => {
                let (shape, (blocked, who)) = match target {
                    Some(leader) => ("isolate-leader", partition::isolate(leader, &ids)),
                    None => {
                        let shape = *partition::SHAPES.choose(&mut rng).expect("shapes");
                        (shape, partition::shape(shape, &ids, &mut rng))
                    }
                };
                cluster.lock().unwrap_or_else(|e| e.into_inner()).proxies.blocked.set(blocked);
                start("start-partition", json!({ "shape": shape, "cut": who }));
                sleep_unless(&stop, hold);
                cluster.lock().unwrap_or_else(|e| e.into_inner()).proxies.blocked.set(Default::default());
                history.nemesis("end-partition", json!({ "shape": shape }));
                counts.partition += 1;
            }
            other => unreachable!("unknown fault {other}"),
        }
    }
    counts
}

/// Sleeps `d` in small steps; true if `stop` was set meanwhile.
fn sleep_unless(stop: &AtomicBool, d: Duration) -> bool {
    let until = Instant::now() + d;
    while Instant::now() < until {
        if stop.load(Ordering::Relaxed) {
            return true;
        }
        thread::sleep(Duration::from_millis(50).min(until.saturating_duration_since(Instant::now())));
    }
    stop.load(Ordering::Relaxed)
}

/// The fault windows of a history: (kind, start ms, end ms), a fault still open at the end
/// closing at `end_ms`.
pub fn windows(events: &[crate::history::Event], end_ms: u64) -> Vec<(String, u64, u64)> {
    let mut open: Vec<(String, u64)> = Vec::new();
    let mut out = Vec::new();
    for e in events.iter().filter(|e| e.process == "nemesis") {
        if let Some(kind) = e.f.strip_prefix("start-") {
            open.push((kind.to_string(), e.time_ms));
        } else if let Some(kind) = e.f.strip_prefix("end-") {
            if let Some(i) = open.iter().position(|(k, _)| k == kind) {
                let (k, s) = open.remove(i);
                out.push((k, s, e.time_ms));
            }
        }
    }
    out.extend(open.into_iter().map(|(k, s)| (k, s, end_ms)));
    out
}
