//! Seeded simulations of the meta cluster (run under `--cfg madsim`; see `tests/sim.rs` at the
//! workspace root).
#![cfg(madsim)]

use keel::meta::log_store::StoreOptions;
use keel_sim::meta_scenario;
use keel_sim::run::{run_seeds, seeds};
use keel_sim::settings::Settings;

/// Seeds per CI run of the safety suite.
const SAFETY_SEEDS: u64 = 300;
/// Seeds the unsafe store gets to be caught in.
const BUG_SEEDS: u64 = 16;

#[test]
fn meta_cluster_safety_and_liveness() {
    let results = run_seeds("meta_cluster_safety_and_liveness", &seeds(SAFETY_SEEDS), |seed| {
        meta_scenario::run(Settings::from_seed(seed), StoreOptions::default())
    });
    let failed: Vec<u64> = results.iter().filter(|r| r.failed()).map(|r| r.seed).collect();
    if results.is_empty() {
        return; // a child process: its one run was reported to the parent
    }
    keel_sim::run::emit(&format!("meta_cluster_safety_and_liveness: {} seeds, {} failed", results.len(), failed.len()));
    assert!(failed.is_empty(), "failing seeds: {failed:?} (replay commands above)");
}

/// The simulator must catch a store that acknowledges votes and appends before syncing them.
#[test]
fn unsafe_ack_before_sync_is_caught() {
    let results = run_seeds("unsafe_ack_before_sync_is_caught", &seeds(BUG_SEEDS), |seed| {
        let s = Settings::crash_heavy(seed);
        meta_scenario::run(s, StoreOptions { unsafe_ack_before_sync: true })
    });
    let safety = ["single_leader_per_term", "committed_never_lost", "state_machines_converge", "linearizable"];
    let caught: Vec<u64> =
        results.iter().filter(|r| r.violations.iter().any(|v| safety.contains(&v.invariant))).map(|r| r.seed).collect();
    if results.is_empty() {
        return; // a child process
    }
    keel_sim::run::emit(&format!("unsafe_ack_before_sync_is_caught: caught in seeds {caught:?} of {}", results.len()));
    assert!(!caught.is_empty(), "no safety invariant caught acknowledging before sync in {} seeds", results.len());
}
