//! MQTT ordering: the messages of one publisher's connection on one topic reach a subscriber in
//! the order they were published [MQTT-4.6.0-5]. Redeliveries (QoS 1 after a reconnect) may
//! repeat older messages, so the order is checked on first arrivals.

use std::collections::{BTreeMap, BTreeSet};

use super::mqtt_history::{parse, SubscriberLog};
use super::Violation;

pub const INVARIANT: &str = "mqtt_order";

pub fn check(subscribers: &[SubscriberLog]) -> Result<(), Violation> {
    for s in subscribers {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut last: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for g in &s.got {
            if !seen.insert(&g.payload) {
                continue;
            }
            let Some((source, topic, seq)) = parse(&g.payload) else { continue };
            if let Some(prev) = last.insert((source, topic), seq) {
                if seq < prev {
                    return Err(Violation::new(
                        INVARIANT,
                        format!("{} got {source} on {topic} out of order: {seq} after {prev}", s.name),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invariants::mqtt_history::{payload, Got};

    fn sub(seqs: &[(&str, u64)]) -> SubscriberLog {
        let got = seqs.iter().map(|(t, s)| Got { payload: payload("p/1", t, *s), qos: 1, at_ms: 0 }).collect();
        SubscriberLog { name: "s".into(), got, ..Default::default() }
    }

    #[test]
    fn redeliveries_and_other_topics_do_not_count() {
        assert_eq!(check(&[sub(&[("a", 1), ("b", 9), ("a", 2), ("a", 1), ("a", 3), ("b", 10)])]), Ok(()));
    }

    #[test]
    fn a_reordered_first_arrival_fails() {
        let v = check(&[sub(&[("a", 1), ("a", 3), ("a", 2)])]).unwrap_err();
        assert_eq!(v.invariant, INVARIANT);
        assert!(v.detail.contains("2 after 3"), "{}", v.detail);
    }
}
