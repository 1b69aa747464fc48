//! MQTT QoS 1 and 2, at least once, for persistent sessions: a message a broker acknowledged
//! (PUBACK, or PUBREC and PUBCOMP) after a subscriber's subscription was acknowledged reaches
//! that subscriber's application, however often brokers, meta and storage nodes fail, and
//! however often the subscriber reconnects (to any broker) meanwhile.

use std::collections::BTreeSet;

use super::mqtt_history::{PubOutcome, Published, SubscriberLog};
use super::Violation;

pub const INVARIANT: &str = "mqtt_at_least_once";

pub fn check(published: &[Published], subscribers: &[SubscriberLog], topic_prefix: &str) -> Result<(), Violation> {
    for s in subscribers {
        let Some(since) = s.subscribed_ms else { continue };
        let got: BTreeSet<&str> = s.got.iter().map(|g| g.payload.as_str()).collect();
        let missing: Vec<&Published> = published
            .iter()
            .filter(|p| p.qos >= 1 && p.outcome == PubOutcome::Acked && p.sent_ms > since)
            .filter(|p| p.topic.starts_with(topic_prefix) && !got.contains(p.payload.as_str()))
            .collect();
        if let Some(first) = missing.first() {
            return Err(Violation::new(
                INVARIANT,
                format!(
                    "{} missed {} acknowledged message(s), first {:?} (QoS {}, sent at {} ms; subscribed at {since} ms)",
                    s.name,
                    missing.len(),
                    first.payload,
                    first.qos,
                    first.sent_ms
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invariants::mqtt_history::Got;

    fn publ(payload: &str, sent_ms: u64, outcome: PubOutcome) -> Published {
        Published {
            source: "p/1".into(),
            topic: "t/1".into(),
            seq: 0,
            qos: 1,
            retain: false,
            payload: payload.into(),
            sent_ms,
            outcome,
        }
    }

    fn sub(got: &[&str]) -> SubscriberLog {
        SubscriberLog {
            name: "s".into(),
            subscribed_ms: Some(100),
            connects: vec![],
            got: got.iter().map(|p| Got { payload: p.to_string(), qos: 1, at_ms: 0 }).collect(),
        }
    }

    #[test]
    fn every_acknowledged_message_after_the_subscription_arrived() {
        let p =
            [publ("a", 50, PubOutcome::Acked), publ("b", 150, PubOutcome::Acked), publ("c", 160, PubOutcome::Unknown)];
        assert_eq!(check(&p, &[sub(&["b"])], "t/"), Ok(()));
    }

    #[test]
    fn a_lost_acknowledged_message_fails() {
        let p = [publ("a", 150, PubOutcome::Acked), publ("b", 160, PubOutcome::Acked)];
        let v = check(&p, &[sub(&["a"])], "t/").unwrap_err();
        assert_eq!(v.invariant, INVARIANT);
        assert!(v.detail.contains("\"b\""), "{}", v.detail);
    }
}
