//! Seeded simulations of Kafka clients over the whole cluster (run under `--cfg madsim`; see
//! `tests/sim.rs` at the workspace root): stateless brokers, meta and storage nodes under the
//! nemesis, Kafka clients on the codec (a consumer group among them), checked for Jepsen's Kafka
//! anomalies and the group's promises.
#![cfg(madsim)]

use keel_sim::kafka_scenario::{self, KafkaOptions};
use keel_sim::run::{run_seeds, seeds};

/// Seeds per CI run of the Kafka suite.
const KAFKA_SEEDS: u64 = 24;
/// Seeds the planted bug gets to be caught in.
const BUG_SEEDS: u64 = 24;

#[test]
fn kafka_keeps_its_promises() {
    let results = run_seeds("kafka_keeps_its_promises", &seeds(KAFKA_SEEDS), |seed| {
        kafka_scenario::run(kafka_scenario::settings(seed), KafkaOptions::default())
    });
    if results.is_empty() {
        return; // a child process
    }
    let failed: Vec<u64> = results.iter().filter(|r| r.failed()).map(|r| r.seed).collect();
    keel_sim::run::emit(&format!("kafka_keeps_its_promises: {} seeds, {} failed", results.len(), failed.len()));
    assert!(failed.is_empty(), "failing seeds: {failed:?} (replay commands above)");
}

/// The simulator must catch acks=all answered before the in-sync replicas synced.
#[test]
fn kafka_unsafe_ack_before_sync_is_caught() {
    let results = run_seeds("kafka_unsafe_ack_before_sync_is_caught", &seeds(BUG_SEEDS), |seed| {
        let options = KafkaOptions { unsafe_ack_before_sync: true };
        kafka_scenario::run(kafka_scenario::settings(seed), options)
    });
    if results.is_empty() {
        return; // a child process
    }
    let safety = ["kafka_lost_write", "kafka_inconsistent_offsets"];
    let caught: Vec<u64> =
        results.iter().filter(|r| r.violations.iter().any(|v| safety.contains(&v.invariant))).map(|r| r.seed).collect();
    keel_sim::run::emit(&format!(
        "kafka_unsafe_ack_before_sync_is_caught: caught in seeds {caught:?} of {}",
        results.len()
    ));
    assert!(!caught.is_empty(), "no Kafka safety invariant caught the planted bug in {} seeds", results.len());
}
