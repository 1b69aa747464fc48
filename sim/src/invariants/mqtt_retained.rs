//! MQTT retained messages: once publishing stops, a new subscriber gets, for each topic, the
//! retained message of the last acknowledged retained publish — or of a later one whose outcome
//! the publisher did not learn — never an older one, and nothing for a topic whose last
//! acknowledged publish cleared it (unless a later unknown one set it again). A publish refused
//! with an error reason counts as unknown: the broker answers "unspecified error" when it could
//! not learn the outcome of the append or of recording it. An earlier publish whose outcome was
//! unknown may also land late (its broker's append was retried after the publisher gave up on
//! that connection and went on through another broker): it may be the value too, but never an
//! earlier acknowledged one once a later one was acknowledged.

use std::collections::BTreeMap;

use super::mqtt_history::{PubOutcome, Published};
use super::Violation;

pub const INVARIANT: &str = "mqtt_retained";

/// `published`: one publisher's retained publishes, in the order it made them (each waited
/// for); `found`: topic → the payload the new subscriber got (an empty payload clears).
pub fn check(published: &[Published], found: &BTreeMap<String, String>) -> Result<(), Violation> {
    let mut by_topic: BTreeMap<&str, Vec<&Published>> = BTreeMap::new();
    for p in published.iter().filter(|p| p.retain) {
        by_topic.entry(&p.topic).or_default().push(p);
    }
    for (topic, pubs) in by_topic {
        let last_acked = pubs.iter().rposition(|p| p.outcome == PubOutcome::Acked);
        // The acceptable values: the last acknowledged one, any later one, and any earlier one
        // whose outcome was not learnt.
        let from = last_acked.unwrap_or(0);
        let late = pubs[..from].iter().filter(|p| p.outcome != PubOutcome::Acked);
        let mut ok: Vec<&str> = pubs[from..].iter().chain(late).map(|p| p.payload.as_str()).collect();
        if last_acked.is_none() {
            ok.push(""); // nothing acknowledged: having nothing is fine too
        }
        let got = found.get(topic).map_or("", String::as_str);
        if !ok.contains(&got) {
            return Err(Violation::new(
                INVARIANT,
                format!("{topic}: retained {got:?}, expected one of {ok:?} (the last acknowledged or a later one)"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(payload: &str, outcome: PubOutcome) -> Published {
        Published {
            source: "p/1".into(),
            topic: "r/1".into(),
            seq: 0,
            qos: 1,
            retain: true,
            payload: payload.into(),
            sent_ms: 0,
            outcome,
        }
    }

    #[test]
    fn the_last_acknowledged_or_a_later_unknown_value_passes() {
        let p = [r("a", PubOutcome::Acked), r("b", PubOutcome::Acked), r("c", PubOutcome::Unknown)];
        assert_eq!(check(&p, &[("r/1".to_string(), "b".to_string())].into()), Ok(()));
        assert_eq!(check(&p, &[("r/1".to_string(), "c".to_string())].into()), Ok(()));
        // A cleared topic (empty payload acknowledged last) has nothing.
        let cleared = [r("a", PubOutcome::Acked), r("", PubOutcome::Acked)];
        assert_eq!(check(&cleared, &BTreeMap::new()), Ok(()));
    }

    #[test]
    fn an_earlier_unknown_publish_may_land_late() {
        let p = [r("a", PubOutcome::Unknown), r("b", PubOutcome::Acked)];
        assert_eq!(check(&p, &[("r/1".to_string(), "a".to_string())].into()), Ok(()));
    }

    #[test]
    fn an_older_value_fails() {
        let p = [r("a", PubOutcome::Acked), r("b", PubOutcome::Acked)];
        let v = check(&p, &[("r/1".to_string(), "a".to_string())].into()).unwrap_err();
        assert_eq!(v.invariant, INVARIANT);
        let v = check(&p, &BTreeMap::new()).unwrap_err();
        assert!(v.detail.contains("retained \"\""), "{}", v.detail);
    }
}
