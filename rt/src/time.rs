//! Time through the seam: monotonic instants, sleeps, timeouts, intervals and the wall clock.
//!
//! In simulation all of these run on madsim's virtual clock. madsim has one clock for all
//! nodes, so this module gives each node its own view of it: the wall clock adds a per-node
//! offset and drift ([`set_clock_skew`]) to model skewed and jumping clocks, and the monotonic
//! clock runs at a per-node rate ([`set_clock_rate`]) to model oscillators that drift: on a node
//! whose clock runs 1% fast, [`now`] and [`since_start`] advance 1.01 s per simulated second and
//! a [`sleep`] of a second ends after 0.99 s. Instants are a node's own: like real monotonic
//! clocks, they mean nothing on another node.

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
    #[cfg(madsim)]
    {
        rate::local_now()
    }
    #[cfg(not(madsim))]
    {
        Instant::now()
    }
}

/// Sleeps for `duration`.
pub fn sleep(duration: Duration) -> Sleep {
    #[cfg(madsim)]
    let duration = rate::to_global(duration);
    tokio::time::sleep(duration)
}

/// Sleeps until `deadline`.
pub fn sleep_until(deadline: Instant) -> Sleep {
    #[cfg(madsim)]
    let deadline = rate::to_global_instant(deadline);
    tokio::time::sleep_until(deadline)
}

/// An interval whose missed ticks are delayed, not burst. (In simulation its period is fixed
/// at the node's clock rate when it is made; the instants its ticks return are madsim's.)
pub fn interval(period: Duration) -> Interval {
    #[cfg(madsim)]
    let period = rate::to_global(period).max(Duration::from_nanos(1));
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
        rate::local_elapsed(madsim::time::TimeHandle::current().elapsed())
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
        let elapsed_ms = madsim::time::TimeHandle::current().elapsed().as_millis() as i64;
        let drift_ms = elapsed_ms.saturating_mul(s.drift_ppm) / 1_000_000;
        (real_ms as i64).saturating_add(s.offset_ms).saturating_add(drift_ms).max(0) as u64
    }

    pub fn reset() {
        SKEWS.with_borrow_mut(|m| m.clear());
    }
}

/// Sets the rate of a simulated node's monotonic clock: `drift_ppm` parts per million fast
/// (negative: slow), from now on. The node's clock goes on from where it is (it never jumps, and
/// never goes back); 0 restores the true rate, not the true reading.
#[cfg(madsim)]
pub fn set_clock_rate(node: madsim::task::NodeId, drift_ppm: i64) {
    rate::set(node, drift_ppm);
}

/// Clears every node's skew and clock rate at the start of a simulated run.
pub fn reset_skews() {
    #[cfg(madsim)]
    {
        skew::reset();
        rate::reset();
    }
}

/// Per-node monotonic clock rates. A node's local elapsed time is piecewise linear in madsim's
/// elapsed time: from the last change (`global_at`, `local_at`) it grows at
/// `(1_000_000 + drift_ppm) / 1_000_000`.
#[cfg(madsim)]
mod rate {
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use madsim::task::NodeId;
    use madsim::time::TimeHandle;

    /// The fastest and slowest rates a node's clock may run at, in ppm off true.
    const DRIFT_PPM_MAX: i64 = 500_000;

    #[derive(Clone, Copy, Debug)]
    struct Rate {
        drift_ppm: i64,
        global_at: Duration,
        local_at: Duration,
    }

    thread_local! {
        // Per thread: a simulated run lives on one thread.
        static RATES: RefCell<BTreeMap<NodeId, Rate>> = const { RefCell::new(BTreeMap::new()) };
    }

    fn scale(d: Duration, num: i64, den: i64) -> Duration {
        let nanos = d.as_nanos().saturating_mul(num as u128) / den as u128;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    impl Rate {
        fn local(&self, global: Duration) -> Duration {
            let since = global.saturating_sub(self.global_at);
            self.local_at + scale(since, 1_000_000 + self.drift_ppm, 1_000_000)
        }

        fn global(&self, local: Duration) -> Duration {
            if local >= self.local_at {
                self.global_at + scale(local - self.local_at, 1_000_000, 1_000_000 + self.drift_ppm)
            } else {
                self.global_at.saturating_sub(scale(self.local_at - local, 1_000_000, 1_000_000 + self.drift_ppm))
            }
        }
    }

    fn current() -> Option<Rate> {
        RATES.with_borrow(|m| if m.is_empty() { None } else { m.get(&madsim::plugin::node()).copied() })
    }

    pub fn set(node: NodeId, drift_ppm: i64) {
        assert!(drift_ppm.abs() <= DRIFT_PPM_MAX, "clock drift {drift_ppm} ppm out of range");
        let global = TimeHandle::current().elapsed();
        RATES.with_borrow_mut(|m| {
            let local = m.get(&node).map_or(global, |r| r.local(global));
            m.insert(node, Rate { drift_ppm, global_at: global, local_at: local });
        });
    }

    pub fn reset() {
        RATES.with_borrow_mut(|m| m.clear());
    }

    /// This node's elapsed time when madsim's is `global`.
    pub fn local_elapsed(global: Duration) -> Duration {
        current().map_or(global, |r| r.local(global))
    }

    /// This node's monotonic now.
    pub fn local_now() -> Instant {
        let h = TimeHandle::current();
        let (now, global) = (h.now_instant(), h.elapsed());
        match current() {
            None => now,
            Some(r) => (now - global) + r.local(global),
        }
    }

    /// A span of this node's time in madsim's.
    pub fn to_global(d: Duration) -> Duration {
        current().map_or(d, |r| scale(d, 1_000_000, 1_000_000 + r.drift_ppm))
    }

    /// An instant of this node's clock on madsim's.
    pub fn to_global_instant(local: Instant) -> Instant {
        let Some(r) = current() else { return local };
        let h = TimeHandle::current();
        let start = h.now_instant() - h.elapsed();
        start + r.global(local.saturating_duration_since(start))
    }
}
