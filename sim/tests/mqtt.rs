//! Seeded simulations of MQTT over the whole cluster (run under `--cfg madsim`; see
//! `tests/sim.rs` at the workspace root): stateless brokers, meta and storage nodes under the
//! nemesis, MQTT clients on the codec.
#![cfg(madsim)]

use keel_sim::mqtt_scenario::{self, MqttOptions};
use keel_sim::run::{run_seeds, seeds};

/// Seeds per CI run of the MQTT suite.
const MQTT_SEEDS: u64 = 40;
/// Seeds the planted bug gets to be caught in.
const BUG_SEEDS: u64 = 24;

#[test]
fn mqtt_keeps_its_promises() {
    let results = run_seeds("mqtt_keeps_its_promises", &seeds(MQTT_SEEDS), |seed| {
        mqtt_scenario::run(mqtt_scenario::settings(seed), MqttOptions::default())
    });
    if results.is_empty() {
        return; // a child process
    }
    let failed: Vec<u64> = results.iter().filter(|r| r.failed()).map(|r| r.seed).collect();
    keel_sim::run::emit(&format!("mqtt_keeps_its_promises: {} seeds, {} failed", results.len(), failed.len()));
    assert!(failed.is_empty(), "failing seeds: {failed:?} (replay commands above)");
}

/// The simulator must catch brokers that acknowledge QoS 1/2 publishes before the log has them.
#[test]
fn mqtt_unsafe_ack_before_append_is_caught() {
    let results = run_seeds("mqtt_unsafe_ack_before_append_is_caught", &seeds(BUG_SEEDS), |seed| {
        let options = MqttOptions { unsafe_ack_before_append: true };
        mqtt_scenario::run(mqtt_scenario::settings(seed), options)
    });
    if results.is_empty() {
        return; // a child process
    }
    let safety = ["mqtt_at_least_once", "mqtt_retained"];
    let caught: Vec<u64> =
        results.iter().filter(|r| r.violations.iter().any(|v| safety.contains(&v.invariant))).map(|r| r.seed).collect();
    keel_sim::run::emit(&format!(
        "mqtt_unsafe_ack_before_append_is_caught: caught in seeds {caught:?} of {}",
        results.len()
    ));
    assert!(!caught.is_empty(), "no MQTT safety invariant caught the planted bug in {} seeds", results.len());
}
