//! Counters that follow figures the code already counts in atomics.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::metrics::counter::Counter;

/// A counter that follows a monotonic figure kept elsewhere (an `AtomicU64` the code already
/// counts in): each sync adds what the figure grew by since the last one.
#[derive(Default)]
pub struct Mirror {
    pub counter: Counter<u64, AtomicU64>,
    last: AtomicU64,
}

impl Mirror {
    pub fn sync(&self, value: u64) {
        let before = self.last.swap(value, Ordering::Relaxed);
        self.counter.inc_by(value.saturating_sub(before));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mirror_adds_what_its_figure_grew_by() {
        let m = Mirror::default();
        m.sync(5);
        m.sync(5);
        m.sync(12);
        assert_eq!(m.counter.get(), 12);
    }
}
