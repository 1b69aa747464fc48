//! The metadata load of a cluster at rest and how fast changes reach every node (run under
//! `--cfg madsim`; see `tests/sim.rs` at the workspace root). Simulated time, so the figures are
//! the same on every machine for a seed.
#![cfg(madsim)]

use keel_sim::load_scenario;
use keel_sim::run::{run_seeds, seeds};
use keel_sim::settings::Settings;

/// 3 meta nodes (which also store) and 9 storage nodes at rest; then 10 topic creations.
#[test]
fn meta_load_at_rest_and_change_propagation() {
    let results = run_seeds("meta_load_at_rest_and_change_propagation", &seeds(1), |seed| async move {
        let mut s = Settings::from_seed(seed);
        s.meta_nodes = 3;
        s.data_nodes = 9;
        load_scenario::run(s).await.0
    });
    if results.is_empty() {
        return; // a child process
    }
    for r in &results {
        keel_sim::run::emit(&format!("meta_load: seed={} {}", r.seed, r.summary));
    }
    let failed: Vec<u64> = results.iter().filter(|r| r.failed()).map(|r| r.seed).collect();
    assert!(failed.is_empty(), "failing seeds: {failed:?}");
}
