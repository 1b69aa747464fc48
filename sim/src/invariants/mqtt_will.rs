//! MQTT will messages: a connection that ends without DISCONNECT has its will published; one
//! that ends with a DISCONNECT (normal disconnection) the broker took never has — unless that
//! broker crashed, or was cut off long enough for the cluster to declare it dead and orphan its
//! sessions, before it recorded the disconnect (a will is then what the cluster can know: the
//! server never finished the DISCONNECT). Such a disturbance of the broker around the
//! disconnect excuses a will.

use std::collections::BTreeSet;

use super::mqtt_history::{WillEnd, WillRun};
use super::Violation;

pub const INVARIANT: &str = "mqtt_will";

/// How long before and after a clean disconnect a disturbance of its broker excuses a will.
pub const EXCUSE_BEFORE_MS: u64 = 10_000;
pub const EXCUSE_AFTER_MS: u64 = 30_000;

/// `wills_got`: the will payloads the watcher received; `disturbed`: (node id, or `u64::MAX`
/// for all, ms) of every crash, pause, partition and network-wide fault.
pub fn check(runs: &[WillRun], wills_got: &BTreeSet<String>, disturbed: &[(u64, u64)]) -> Result<(), Violation> {
    for r in runs {
        let got = wills_got.contains(&r.will_payload);
        match r.end {
            WillEnd::Dropped { at_ms } if !got => {
                return Err(Violation::new(
                    INVARIANT,
                    format!("will {:?} not published after its connection dropped at {at_ms} ms", r.will_payload),
                ));
            }
            WillEnd::Clean { broker, at_ms } if got => {
                let window = at_ms.saturating_sub(EXCUSE_BEFORE_MS)..=at_ms + EXCUSE_AFTER_MS;
                let excused = disturbed.iter().any(|(n, t)| (*n == broker || *n == u64::MAX) && window.contains(t));
                if !excused {
                    return Err(Violation::new(
                        INVARIANT,
                        format!(
                            "will {:?} published after a clean disconnect at {at_ms} ms (broker {broker})",
                            r.will_payload
                        ),
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p: &str, end: WillEnd) -> WillRun {
        WillRun { will_payload: p.into(), end }
    }

    #[test]
    fn dropped_connections_publish_and_clean_ones_do_not() {
        let runs = [run("a", WillEnd::Dropped { at_ms: 5 }), run("b", WillEnd::Clean { broker: 4, at_ms: 9 })];
        assert_eq!(check(&runs, &["a".to_string()].into(), &[]), Ok(()));
        let v = check(&runs, &BTreeSet::new(), &[]).unwrap_err();
        assert!(v.detail.contains("\"a\" not published"), "{}", v.detail);
        let v = check(&runs, &["a".to_string(), "b".to_string()].into(), &[]).unwrap_err();
        assert_eq!(v.invariant, INVARIANT);
        assert!(v.detail.contains("clean disconnect"), "{}", v.detail);
    }

    #[test]
    fn a_disturbance_of_the_broker_around_the_disconnect_excuses_a_will() {
        let runs = [run("b", WillEnd::Clean { broker: 4, at_ms: 20_000 })];
        let got: BTreeSet<String> = ["b".to_string()].into();
        assert_eq!(check(&runs, &got, &[(4, 21_000)]), Ok(()));
        assert_eq!(check(&runs, &got, &[(4, 15_000)]), Ok(()));
        assert_eq!(check(&runs, &got, &[(u64::MAX, 25_000)]), Ok(()));
        assert!(check(&runs, &got, &[(5, 21_000)]).is_err(), "another node's crash excuses nothing");
        assert!(check(&runs, &got, &[(4, 5_000)]).is_err(), "nor one long before");
        assert!(check(&runs, &got, &[(4, 60_000)]).is_err(), "nor one long after");
    }
}
