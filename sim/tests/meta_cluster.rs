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
        // Seed 180 (with a site-wide power outage) once caught reads served by a leader restored
        // at startup before it had re-applied what it committed before the outage.
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
        meta_scenario::run(s, StoreOptions { unsafe_ack_before_sync: true, ..StoreOptions::default() })
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

/// Seeds the meta store that cuts damaged records gets to be caught in: a flip must land in a
/// synced record that matters to an election, which the nemesis arranges
/// (`meta-tail-damage`): caught in 10 of these 32 seeds, 31 of the next 100.
const DAMAGE_BUG_SEEDS: u64 = 32;

/// The simulator must catch a meta store that cuts a damaged synced record as if it were a
/// torn append (what the store did before format 2), once meta files flip bits.
#[test]
fn unsafe_truncate_damaged_log_is_caught() {
    let test = "unsafe_truncate_damaged_log_is_caught";
    let results = run_seeds(test, &seeds(DAMAGE_BUG_SEEDS), |seed| {
        let store = StoreOptions { unsafe_truncate_damaged_log: true, ..StoreOptions::default() };
        meta_scenario::run(Settings::meta_damage_hunt(seed), store)
    });
    if !results.is_empty() {
        let safety = ["single_leader_per_term", "committed_never_lost", "state_machines_converge", "linearizable"];
        keel_sim::run::assert_caught(test, &results, &safety);
    }
}

/// The control for the test above: the same settings with the store as shipped.
#[test]
fn meta_damage_hunt_settings_are_safe_with_detection() {
    let test = "meta_damage_hunt_settings_are_safe_with_detection";
    let results = run_seeds(test, &seeds(DAMAGE_BUG_SEEDS), |seed| {
        meta_scenario::run(Settings::meta_damage_hunt(seed), StoreOptions::default())
    });
    if !results.is_empty() {
        keel_sim::run::assert_none_failed(test, &results);
    }
}

/// Seeds per CI run of the storage suite.
const STORAGE_SEEDS: u64 = 60;

#[test]
fn storage_keeps_acknowledged_records() {
    let results = run_seeds("storage_keeps_acknowledged_records", &seeds(STORAGE_SEEDS), |seed| {
        keel_sim::data_scenario::run(Settings::from_seed(seed), Default::default())
    });
    if results.is_empty() {
        return; // a child process
    }
    let failed: Vec<u64> = results.iter().filter(|r| r.failed()).map(|r| r.seed).collect();
    keel_sim::run::emit(&format!(
        "storage_keeps_acknowledged_records: {} seeds, {} failed",
        results.len(),
        failed.len()
    ));
    assert!(failed.is_empty(), "failing seeds: {failed:?} (replay commands above)");
}

/// Seeds the storage bug switches get to be caught in.
const STORAGE_BUG_SEEDS: u64 = 24;

fn storage_bug_caught(test: &'static str, options: keel_sim::data_scenario::DataOptions, power_outages: bool) {
    let results = run_seeds(test, &seeds(STORAGE_BUG_SEEDS), move |seed| {
        keel_sim::data_scenario::run(Settings::storage_bug_hunt(seed, power_outages), options.clone())
    });
    if results.is_empty() {
        return; // a child process
    }
    let safety = ["no_acked_record_lost", "replicas_agree"];
    let caught: Vec<u64> =
        results.iter().filter(|r| r.violations.iter().any(|v| safety.contains(&v.invariant))).map(|r| r.seed).collect();
    keel_sim::run::emit(&format!("{test}: caught in seeds {caught:?} of {}", results.len()));
    assert!(!caught.is_empty(), "no storage safety invariant caught the bug in {} seeds", results.len());
}

/// The simulator must catch shard replicas that acknowledge appends before syncing them.
#[test]
fn storage_unsafe_ack_before_sync_is_caught() {
    let options = keel_sim::data_scenario::DataOptions { unsafe_ack_before_sync: true, ..Default::default() };
    storage_bug_caught("storage_unsafe_ack_before_sync_is_caught", options, true);
}

/// The simulator must catch a scheduler that elects an out-of-sync shard replica.
#[test]
fn storage_unsafe_elect_out_of_sync_is_caught() {
    let options = keel_sim::data_scenario::DataOptions {
        unsafe_elect_out_of_sync: true,
        shard_lag_ms_max: Some(1_000),
        ..Default::default()
    };
    storage_bug_caught("storage_unsafe_elect_out_of_sync_is_caught", options, false);
}

/// The control for the tests above: the same settings without the bugs lose nothing.
#[test]
fn storage_bug_hunt_settings_are_safe_without_the_bugs() {
    let results = run_seeds("storage_bug_hunt_settings_are_safe_without_the_bugs", &seeds(STORAGE_BUG_SEEDS), |seed| {
        let options = keel_sim::data_scenario::DataOptions { shard_lag_ms_max: Some(1_000), ..Default::default() };
        keel_sim::data_scenario::run(Settings::storage_bug_hunt(seed, seed % 2 == 0), options)
    });
    if results.is_empty() {
        return; // a child process
    }
    let failed: Vec<u64> = results.iter().filter(|r| r.failed()).map(|r| r.seed).collect();
    assert!(failed.is_empty(), "failing seeds: {failed:?} (replay commands above)");
}
