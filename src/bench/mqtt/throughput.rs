//! A publishers-to-subscribers run: subscribers connect and subscribe first, then the
//! publishers send for the duration (or their count); the subscribers are given until every
//! message arrived, or until messages stop coming, then the results are tallied.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use keel_protocols::mqtt::QoS;
use keel_rt::task::{self, JoinHandle};
use keel_rt::time::{self, Instant};
use tokio::sync::{mpsc, watch};

use super::live::{Clock, Live};
use super::options::Plan;
use super::progress;
use super::publisher::{self, PublisherResult, PublisherSpec};
use super::report::{Latency, ThroughputReport};
use super::subscriber::{self, SubscriberResult, SubscriberSpec};
use super::tracker::Tracker;
use super::wire::{connect_packet, CONNECT_TIMEOUT};

/// The longest the subscribers may take to all be subscribed.
const SUBSCRIBE_PHASE_TIMEOUT: Duration = Duration::from_secs(120);
/// After the publishers are done: how long without a new message ends the wait for the rest
/// (QoS 0 loses messages for good; QoS 1 and 2 may be slow to catch up).
const QOS0_QUIET: Duration = Duration::from_secs(1);
const QOS12_QUIET: Duration = Duration::from_secs(10);
/// The longest the subscribers are waited for after the publishers are done.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);
/// How often delivery is checked while waiting.
const DELIVERY_POLL: Duration = Duration::from_millis(20);

/// Runs the plan's publishers and subscribers and tallies what happened.
pub async fn run(plan: &Plan) -> Result<ThroughputReport, String> {
    let o = &plan.opts;
    let live = Arc::new(Live::new(Clock::new(), o.subscribers));
    let (stop, stopped) = watch::channel(false);
    let subscribers = start_subscribers(plan, &live, &stopped).await;
    let subscribers = match subscribers {
        Ok(s) => s,
        Err(e) => {
            let _ = stop.send(true);
            return Err(e);
        }
    };
    let started = time::now();
    live.measure_from_ns.store(live.clock.ns(started + plan.warmup), Ordering::Relaxed);
    let progress = task::spawn(progress::throughput(live.clone(), stopped.clone()));
    let publishers = start_publishers(plan, &live, started + plan.duration);
    let mut published = Vec::new();
    for p in publishers {
        published
            .push(p.await.unwrap_or_else(|e| PublisherResult { error: Some(e.to_string()), ..Default::default() }));
    }
    if o.publishers == 0 {
        time::sleep_until(started + plan.duration).await;
    }
    let sent: u64 = published.iter().map(|p| p.sent).sum();
    await_delivery(plan, &live, sent).await;
    let _ = stop.send(true);
    let mut received = Vec::new();
    for s in subscribers {
        received.push(s.await.unwrap_or_else(|e| panicked(e.to_string(), o.publishers)));
    }
    let _ = progress.await;
    Ok(tally(plan, &live, &published, &received))
}

fn panicked(error: String, publishers: u32) -> SubscriberResult {
    SubscriberResult { tracker: Tracker::new(publishers), received: 0, foreign: 0, error: Some(error) }
}

/// Starts every subscriber and waits until all are subscribed.
async fn start_subscribers(
    plan: &Plan,
    live: &Arc<Live>,
    stop: &watch::Receiver<bool>,
) -> Result<Vec<JoinHandle<SubscriberResult>>, String> {
    let o = &plan.opts;
    let (ready, mut readies) = mpsc::channel(o.subscribers.max(1) as usize);
    let filter = match o.shared {
        true => format!("$share/bench/{}/#", o.topic_prefix),
        false => format!("{}/#", o.topic_prefix),
    };
    let handles: Vec<_> = (0..o.subscribers)
        .map(|i| {
            let spec = SubscriberSpec {
                index: i,
                addr: plan.addr(i),
                connect: connect_packet(
                    plan.version,
                    format!("{}-sub-{i}", o.client_prefix),
                    o.persistent,
                    o.keep_alive,
                ),
                filter: filter.clone(),
                qos: plan.qos,
                publishers: o.publishers,
                ping_every: Duration::from_secs(u64::from(o.keep_alive) / 2),
                live: live.clone(),
                ready: ready.clone(),
                stop: stop.clone(),
            };
            task::spawn(subscriber::run(spec))
        })
        .collect();
    let deadline = time::now() + SUBSCRIBE_PHASE_TIMEOUT.max(CONNECT_TIMEOUT);
    for _ in 0..o.subscribers {
        match time::timeout_at(deadline, readies.recv()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(e))) => return Err(format!("a subscriber could not subscribe: {e}")),
            Ok(None) => return Err("a subscriber ended before subscribing".into()),
            Err(_) => return Err(format!("subscribers not all subscribed within {SUBSCRIBE_PHASE_TIMEOUT:?}")),
        }
    }
    Ok(handles)
}

/// Starts every publisher, each sending until `stop_at` or its count.
fn start_publishers(plan: &Plan, live: &Arc<Live>, stop_at: Instant) -> Vec<JoinHandle<PublisherResult>> {
    let o = &plan.opts;
    (0..o.publishers)
        .map(|i| {
            let spec = PublisherSpec {
                index: i,
                addr: plan.addr(o.subscribers + i),
                connect: connect_packet(
                    plan.version,
                    format!("{}-pub-{i}", o.client_prefix),
                    o.persistent,
                    o.keep_alive,
                ),
                topic: format!("{}/{}", o.topic_prefix, i % o.topics),
                qos: plan.qos,
                payload_bytes: o.payload,
                count: o.count.unwrap_or(u64::MAX),
                stop_at,
                rate: o.rate as f64 / f64::from(o.publishers),
                inflight: o.inflight,
                ping_every: Duration::from_secs(u64::from(o.keep_alive) / 2),
                live: live.clone(),
            };
            task::spawn(publisher::run(spec))
        })
        .collect()
}

/// Waits until the subscribers have every one of the `sent` messages, or until they stop
/// coming in, bounded by [`DELIVERY_TIMEOUT`].
async fn await_delivery(plan: &Plan, live: &Live, sent: u64) {
    let o = &plan.opts;
    let want = if o.shared { sent } else { sent * u64::from(o.subscribers) };
    let quiet = if plan.qos == QoS::AtMostOnce { QOS0_QUIET } else { QOS12_QUIET };
    let deadline = time::now() + DELIVERY_TIMEOUT;
    let (mut seen, mut moved) = (live.fresh(), time::now());
    while seen < want {
        time::sleep(DELIVERY_POLL).await;
        let (now, fresh) = (time::now(), live.fresh());
        if fresh != seen {
            (seen, moved) = (fresh, now);
        }
        if now >= deadline || now.duration_since(moved) >= quiet {
            return;
        }
    }
}

/// What the subscribers had of what was sent: (expected, distinct, duplicates, out of order).
/// Each non-shared subscriber expects every message; a shared group expects each once.
fn deliveries(shared: bool, sent: u64, received: &[SubscriberResult]) -> (u64, u64, u64, u64) {
    let trackers: Vec<&Tracker> = received.iter().map(|s| &s.tracker).collect();
    if shared && !trackers.is_empty() {
        let group = Tracker::union(trackers.iter().copied());
        return (sent, group.distinct(), group.duplicates, group.out_of_order);
    }
    let sum = |f: fn(&Tracker) -> u64| trackers.iter().map(|t| f(t)).sum::<u64>();
    (sent * trackers.len() as u64, sum(Tracker::distinct), sum(|t| t.duplicates), sum(|t| t.out_of_order))
}

/// Rates over the measured window (from the end of the warm-up to the last measured send,
/// or receive): (send window s, receive window s, sent/s, received/s).
fn rates(live: &Live, published: &[PublisherResult]) -> (f64, f64, f64, f64) {
    let from = live.measure_from();
    let secs = |end_ns: u64| end_ns.saturating_sub(from) as f64 / 1e9;
    let subscribers = &live.subscribers;
    let send_s = secs(published.iter().map(|p| p.last_sent_ns).max().unwrap_or(0));
    let receive_s = secs(subscribers.iter().map(|s| s.last_measured_ns.load(Ordering::Relaxed)).max().unwrap_or(0));
    let sent: u64 = published.iter().map(|p| p.measured).sum();
    let received: u64 = subscribers.iter().map(|s| s.measured.load(Ordering::Relaxed)).sum();
    let per_s = |n: u64, s: f64| if s > 0.0 { n as f64 / s } else { 0.0 };
    (send_s, receive_s, per_s(sent, send_s), per_s(received, receive_s))
}

/// The report from every client's results.
fn tally(plan: &Plan, live: &Live, published: &[PublisherResult], received: &[SubscriberResult]) -> ThroughputReport {
    let o = &plan.opts;
    let sent: u64 = published.iter().map(|p| p.sent).sum();
    let (expected, distinct, duplicates, out_of_order) = deliveries(o.shared, sent, received);
    let (send_window_s, receive_window_s, sent_per_s, received_per_s) = rates(live, published);
    let errors = published.iter().map(|p| &p.error).chain(received.iter().map(|s| &s.error));
    ThroughputReport {
        mode: "throughput",
        broker: plan.addr(0),
        version: plan.version_name(),
        qos: o.qos,
        publishers: o.publishers,
        subscribers: o.subscribers,
        shared: o.shared,
        topics: o.topics,
        payload_bytes: o.payload,
        rate: o.rate,
        warmup_s: plan.warmup.as_secs_f64(),
        sent,
        acked: published.iter().map(|p| p.acked).sum(),
        rejected: published.iter().map(|p| p.rejected).sum(),
        expected,
        received: received.iter().map(|s| s.received - s.foreign).sum(),
        lost: expected.saturating_sub(distinct),
        duplicates,
        out_of_order,
        foreign: received.iter().map(|s| s.foreign).sum(),
        send_window_s,
        receive_window_s,
        sent_per_s,
        received_per_s,
        latency: Latency::of(&live.latency()),
        errors: errors.flatten().cloned().collect(),
    }
}
