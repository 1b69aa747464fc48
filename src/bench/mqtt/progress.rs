//! The progress line, printed to stderr once a second while a run goes on: rates over the last
//! second and latency percentiles so far.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use keel_rt::time;
use tokio::sync::watch;

use super::live::Live;

/// How often the progress line is printed.
pub const EVERY: Duration = Duration::from_secs(1);

/// Prints a line every [`EVERY`] until `stop` turns true.
pub async fn throughput(live: Arc<Live>, mut stop: watch::Receiver<bool>) {
    let mut tick = time::interval(EVERY);
    tick.tick().await;
    let (mut sent, mut received, mut last) = (0u64, 0u64, time::now());
    while !*stop.borrow() {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let now = time::now();
        let secs = now.duration_since(last).as_secs_f64().max(1e-3);
        let (s, r) = (live.sent.load(Ordering::Relaxed), live.received.load(Ordering::Relaxed));
        let latency = live.latency();
        let ms = |p: f64| latency.percentile(p) as f64 / 1e6;
        eprintln!(
            "[{:>6.1}s] sent {:>9.0}/s  received {:>9.0}/s  p50 {:.3} ms  p99 {:.3} ms",
            live.clock.ns(now) as f64 / 1e9,
            (s - sent) as f64 / secs,
            (r - received) as f64 / secs,
            ms(50.0),
            ms(99.0),
        );
        (sent, received, last) = (s, r, now);
    }
}
