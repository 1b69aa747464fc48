//! The consumer group's life in the Kafka scenario: three members on hosts of their own; during
//! the safety phase one leaves the group (LeaveGroup) and a new member takes its place a little
//! later, and another's host is killed (its session expires; nothing tells the coordinator) and
//! a new member on a fresh host replaces it. All times are drawn from the seed. After the final
//! read, [`drain`] waits until the group has polled everything in the log, so that
//! `kafka_unseen` judges the group at its end (Jepsen's final drain).

use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use ::rand::Rng;
use keel_rt::{rand, time, trace};
use madsim::runtime::{Handle, NodeHandle};

use crate::invariants::kafka_history::FinalRead;
use crate::kafka_group::{member, GroupShared};
use crate::kafka_scenario::Brokers;

/// Starts the members and the task that makes one leave and kills another's host.
pub(crate) fn start(
    hosts: &mut impl Iterator<Item = NodeHandle>,
    brokers: &Brokers,
    group: &GroupShared,
    stop: &Arc<AtomicBool>,
    safety_ms: u64,
) {
    let start = time::now();
    let at = |lo: u64, hi: u64| {
        start + Duration::from_millis(rand::rng().gen_range(safety_ms * lo / 10..safety_ms * hi / 10))
    };
    let (leave_at, kill_at) = (at(2, 5), at(3, 7));
    let rejoin_after = Duration::from_millis(rand::rng().gen_range(1_000..4_000));
    let replace_after = Duration::from_millis(rand::rng().gen_range(1_000..6_000));
    let spawn = |host: &NodeHandle, name: &str, leave: Option<time::Instant>| {
        let (b, g, s, name) = (brokers.clone(), group.clone(), stop.clone(), name.to_string());
        host.spawn(async move { member(name, b, g, s, leave).await });
    };
    let mut host = || hosts.next().expect("a host");
    spawn(&host(), "g0", None);
    spawn(&host(), "g1", Some(leave_at));
    let doomed = host();
    spawn(&doomed, "g2", None);
    let (rejoiner, replacement) = (host(), host());
    let (b, g, s) = (brokers.clone(), group.clone(), stop.clone());
    keel_rt::task::spawn(async move {
        time::sleep_until(leave_at + rejoin_after).await;
        rejoiner.spawn(member("g1b".into(), b.clone(), g.clone(), s.clone(), None));
        time::sleep_until(kill_at).await;
        Handle::current().kill(doomed.id());
        trace::record("kafka.group.killed", 2);
        time::sleep(replace_after).await;
        replacement.spawn(member("g2b".into(), b, g, s, None));
    });
}

/// Waits until the group has polled every record of the final read, or `until`.
pub async fn drain(group: &GroupShared, read: &FinalRead, until: time::Instant) {
    let want: BTreeSet<(i32, &str)> = read.iter().flat_map(|(p, r)| r.iter().map(|(_, v)| (*p, v.as_str()))).collect();
    while time::now() < until {
        let missing = {
            let g = group.lock();
            let seen: BTreeSet<(i32, &str)> = g.polled.iter().map(|(p, _, v)| (*p, v.as_str())).collect();
            want.iter().any(|w| !seen.contains(w))
        };
        if !missing {
            return;
        }
        time::sleep(Duration::from_millis(200)).await;
    }
}
