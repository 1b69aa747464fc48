//! MQTT QoS 2, exactly once: a message published at QoS 2 and delivered at QoS 2 reaches a
//! subscriber's application at most once (the client drops a retransmission of a packet id it
//! holds; a second delivery under a new packet id is the broker's fault), through broker losses
//! and session resumptions. (At least once is `mqtt_at_least_once`'s.)

use std::collections::BTreeMap;

use super::mqtt_history::SubscriberLog;
use super::Violation;

pub const INVARIANT: &str = "mqtt_exactly_once";

pub fn check(subscribers: &[SubscriberLog]) -> Result<(), Violation> {
    for s in subscribers {
        let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
        for g in s.got.iter().filter(|g| g.qos == 2) {
            if let Some(first) = seen.insert(&g.payload, g.at_ms) {
                return Err(Violation::new(
                    INVARIANT,
                    format!(
                        "{} received QoS 2 message {:?} twice, at {first} ms and {} ms",
                        s.name, g.payload, g.at_ms
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invariants::mqtt_history::Got;

    fn sub(got: &[(&str, u8)]) -> SubscriberLog {
        let got = got.iter().map(|(p, q)| Got { payload: p.to_string(), qos: *q, at_ms: 7 }).collect();
        SubscriberLog { name: "s".into(), got, ..Default::default() }
    }

    #[test]
    fn qos1_duplicates_are_allowed_qos2_ones_not() {
        assert_eq!(check(&[sub(&[("a", 2), ("b", 1), ("b", 1)])]), Ok(()));
        let v = check(&[sub(&[("a", 2), ("b", 2), ("a", 2)])]).unwrap_err();
        assert_eq!(v.invariant, INVARIANT);
        assert!(v.detail.contains("\"a\""), "{}", v.detail);
    }
}
