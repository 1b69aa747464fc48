//! Time through the seam: monotonic instants, sleeps, timeouts, intervals and the wall clock.
//!
//! In simulation all of these run on madsim's virtual clock. madsim has one clock for all
//! nodes, so the wall clock adds a per-node offset and drift ([`set_clock_skew`]) to model
//! skewed and jumping clocks. Monotonic time is shared by all nodes.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
pub use std::time::Duration;

pub use tokio::time::{Instant, Interval, MissedTickBehavior, Sleep};

/// A [`timeout`] ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// The monotonic now.
#[allow(clippy::disallowed_methods)]
pub fn now() -> Instant {
    Instant::now()
}

/// Sleeps for `duration`.
pub fn sleep(duration: Duration) -> Sleep {
    tokio::time::sleep(duration)
}

/// Sleeps until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    tokio::time::sleep_until(deadline)
}

/// An interval whose missed ticks are delayed, not burst.
pub fn interval(period: Duration) -> Interval {
    let mut i = tokio::time::interval(period);
    i.set_missed_tick_behavior(MissedTickBehavior::Delay);
    i
}

/// Runs `future` with a time limit. Unlike madsim's own, this future is `Send` and named.
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout { future: Box::pin(future), sleep: Box::pin(sleep(duration)) }
}

/// Runs `future` until `deadline`.
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout { future: Box::pin(future), sleep: Box::pin(sleep_until(deadline)) }
}

/// The future returned by [`timeout`]: the inner future's output, or [`Elapsed`].
pub struct Timeout<F: Future> {
    future: Pin<Box<F>>,
    sleep: Pin<Box<Sleep>>,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Poll::Ready(v) = self.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Time since the simulated run started (production: since the first call).
pub fn since_start() -> Duration {
    #[cfg(madsim)]
    {
        madsim::time::TimeHandle::current().elapsed()
    }
    #[cfg(not(madsim))]
    {
        use std::sync::OnceLock;
        static START: OnceLock<Instant> = OnceLock::new();
        now().duration_since(*START.get_or_init(now))
    }
}

/// Milliseconds since the Unix epoch on this node's wall clock (skewed in simulation).
#[allow(clippy::disallowed_methods)]
pub fn wall_ms() -> u64 {
    let real =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    #[cfg(madsim)]
    {
        skew::apply(real)
    }
    #[cfg(not(madsim))]
    {
        real
    }
}

/// Sets the wall-clock skew of a simulated node: a fixed offset (a jump when changed) and a
/// drift in parts per million of elapsed time.
#[cfg(madsim)]
pub fn set_clock_skew(node: madsim::task::NodeId, offset_ms: i64, drift_ppm: i64) {
    skew::set(node, offset_ms, drift_ppm);
}

#[cfg(madsim)]
mod skew {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    #[derive(Clone, Copy)]
    struct Skew {
        offset_ms: i64,
        drift_ppm: i64,
    }

    thread_local! {
        // Per thread: a simulated run lives on one thread.
        static SKEWS: RefCell<BTreeMap<String, Skew>> = const { RefCell::new(BTreeMap::new()) };
    }

    pub fn set(node: madsim::task::NodeId, offset_ms: i64, drift_ppm: i64) {
        SKEWS.with_borrow_mut(|m| m.insert(node.to_string(), Skew { offset_ms, drift_ppm }));
    }

    pub fn apply(real_ms: u64) -> u64 {
        let node = madsim::plugin::node().to_string();
        let skew = SKEWS.with_borrow(|m| m.get(&node).copied());
        let Some(s) = skew else { return real_ms };
        let elapsed_ms = super::since_start().as_millis() as i64;
        let drift_ms = elapsed_ms.saturating_mul(s.drift_ppm) / 1_000_000;
        (real_ms as i64).saturating_add(s.offset_ms).saturating_add(drift_ms).max(0) as u64
    }

    pub fn reset() {
        SKEWS.with_borrow_mut(|m| m.clear());
    }
}

/// Clears every node's skew at the start of a simulated run.
pub fn reset_skews() {
    #[cfg(madsim)]
    skew::reset();
}
