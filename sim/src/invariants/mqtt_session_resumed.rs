//! MQTT persistent sessions survive broker losses: a subscriber whose session was established
//! (subscription acknowledged, session expiry longer than the run) finds it present on every
//! later connection, to whichever broker, after whatever failed ([MQTT-3.2.2-2]).

use super::mqtt_history::SubscriberLog;
use super::Violation;

pub const INVARIANT: &str = "mqtt_session_resumed";

pub fn check(subscribers: &[SubscriberLog]) -> Result<(), Violation> {
    for s in subscribers {
        let Some(since) = s.subscribed_ms else { continue };
        if let Some((at, _)) = s.connects.iter().find(|(at, present)| *at > since && !present) {
            return Err(Violation::new(
                INVARIANT,
                format!("{}: session not present when it reconnected at {at} ms (established at {since} ms)", s.name),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reconnect_after_the_subscription_finds_the_session() {
        let mut s = SubscriberLog { name: "s".into(), subscribed_ms: Some(10), ..Default::default() };
        s.connects = vec![(5, false), (20, true), (30, true)];
        assert_eq!(check(std::slice::from_ref(&s)), Ok(()));
        s.connects.push((40, false));
        let v = check(&[s]).unwrap_err();
        assert_eq!(v.invariant, INVARIANT);
        assert!(v.detail.contains("40 ms"), "{}", v.detail);
    }
}
