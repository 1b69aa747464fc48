//! The verdict of a run: valid or not, with each anomaly under Jepsen's name.
//!
//! The checkers are the simulation's (keel-sim `invariants`); each reports its invariant's
//! name, which maps to the anomaly name Jepsen's Kafka and queue workloads use.

use std::collections::BTreeMap;

use keel_sim::invariants::Violation;
use serde::Serialize;

/// Jepsen's name for what a checker found.
pub fn anomaly_name(invariant: &str) -> &'static str {
    match invariant {
        "kafka_lost_write" => "lost-write",
        "kafka_duplicate" => "duplicate",
        "kafka_inconsistent_offsets" => "inconsistent-offsets",
        "kafka_unseen" => "unseen",
        "kafka_poll_skip" => "poll-skip",
        "kafka_nonmonotonic_poll" => "nonmonotonic-poll",
        "kafka_nonmonotonic_send" => "nonmonotonic-send",
        "mqtt_at_least_once" => "qos1-loss",
        "mqtt_exactly_once" => "qos2-duplicate",
        "mqtt_order" => "nonmonotonic-receive",
        "linearizable" => "non-linearizable",
        _ => "other",
    }
}

/// The result of checking one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Verdict {
    pub valid: bool,
    /// Anomaly name → what each checker saw.
    pub anomalies: BTreeMap<String, Vec<String>>,
    /// Checkers run, by invariant name, and whether each passed.
    pub checked: BTreeMap<String, bool>,
    /// Counts the workload reports (operations by outcome, records read, ...).
    pub stats: BTreeMap<String, u64>,
    /// Why the run could not be checked at all (the cluster did not come up, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Verdict {
    pub fn new() -> Self {
        Verdict { valid: true, ..Verdict::default() }
    }

    /// Records one checker's result under `invariant`.
    pub fn check(&mut self, invariant: &str, result: Result<(), Violation>) {
        self.checked.insert(invariant.to_string(), result.is_ok());
        if let Err(v) = result {
            self.valid = false;
            self.anomalies.entry(anomaly_name(v.invariant).to_string()).or_default().push(v.detail);
        }
    }

    /// A run that could not be checked is not valid.
    pub fn failed(error: String) -> Self {
        Verdict { valid: false, error: Some(error), ..Verdict::default() }
    }

    /// The run could not be checked to the end (`why`): not valid.
    pub fn unchecked(&mut self, why: String) {
        self.valid = false;
        self.error = Some(why);
    }

    pub fn stat(&mut self, name: &str, n: u64) {
        *self.stats.entry(name.to_string()).or_default() += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_violation_makes_the_run_invalid_under_its_jepsen_name() {
        let mut v = Verdict::new();
        v.check("kafka_duplicate", Ok(()));
        assert!(v.valid);
        v.check("kafka_lost_write", Err(Violation::new("kafka_lost_write", "p0 offset 3 acked, never read")));
        assert!(!v.valid);
        assert_eq!(v.anomalies["lost-write"], ["p0 offset 3 acked, never read"]);
        assert!(v.checked["kafka_duplicate"]);
        assert!(!v.checked["kafka_lost_write"]);
    }
}
