//! What the clients of a run share while it runs: the clock their stamps are read against,
//! and counters the progress line and the final report read.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use keel_rt::time::{self, Instant};

use super::histogram::Histogram;

/// The run's clock: stamps are nanoseconds since `start`.
#[derive(Clone)]
pub struct Clock {
    pub start: Instant,
    /// Tells this run's messages from others' (random).
    pub run: u32,
}

impl Clock {
    /// A clock starting now.
    pub fn new() -> Clock {
        Clock { start: time::now(), run: keel_rt::rand::u64() as u32 }
    }

    /// Nanoseconds from the start to `at`.
    pub fn ns(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.start).as_nanos() as u64
    }

    /// Nanoseconds from the start to now.
    pub fn now_ns(&self) -> u64 {
        self.ns(time::now())
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::new()
    }
}

/// Counters of the whole run.
pub struct Live {
    pub clock: Clock,
    /// When measuring starts (end of the warm-up), ns since the start; `u64::MAX` until the
    /// publishers are started.
    pub measure_from_ns: AtomicU64,
    /// PUBLISHes written by every publisher.
    pub sent: AtomicU64,
    /// PUBLISHes received by every subscriber (this run's or not, duplicates included).
    pub received: AtomicU64,
    pub subscribers: Vec<Arc<SubscriberLive>>,
}

impl Live {
    pub fn new(clock: Clock, subscribers: u32) -> Live {
        Live {
            clock,
            measure_from_ns: AtomicU64::new(u64::MAX),
            sent: AtomicU64::new(0),
            received: AtomicU64::new(0),
            subscribers: (0..subscribers).map(|_| Arc::default()).collect(),
        }
    }

    /// When measuring starts, ns since the start.
    pub fn measure_from(&self) -> u64 {
        self.measure_from_ns.load(Ordering::Relaxed)
    }

    /// Every subscriber's latency histogram, merged.
    pub fn latency(&self) -> Histogram {
        let mut all = Histogram::default();
        for s in &self.subscribers {
            all.merge(&s.latency_mut());
        }
        all
    }

    /// Distinct messages of this run received, every subscriber together.
    pub fn fresh(&self) -> u64 {
        self.subscribers.iter().map(|s| s.fresh.load(Ordering::Relaxed)).sum()
    }
}

/// Counters of one subscriber.
#[derive(Default)]
pub struct SubscriberLive {
    /// Distinct messages of this run received.
    pub fresh: AtomicU64,
    /// Of those, messages sent once measuring had started.
    pub measured: AtomicU64,
    /// When the last measured message arrived, ns since the start.
    pub last_measured_ns: AtomicU64,
    /// End-to-end latency of measured messages, in nanoseconds.
    latency: Mutex<Histogram>,
}

impl SubscriberLive {
    /// The latency histogram, locked (held for one read's worth of messages at a time).
    pub fn latency_mut(&self) -> MutexGuard<'_, Histogram> {
        self.latency.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A copy of the latency histogram.
    pub fn latency(&self) -> Histogram {
        self.latency_mut().clone()
    }
}
