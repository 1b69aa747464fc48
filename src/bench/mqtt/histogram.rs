//! A log-linear latency histogram: exact below 256, then 256 linear sub-buckets per power of
//! two, so any recorded value is reported within 0.2% (half a sub-bucket) of itself. Fixed size
//! (about 68 KiB), no allocation when recording, mergeable: one per subscriber, summed at the end.
//!
//! Written here rather than taken from a crate: percentiles and a merge are all the bench needs.

/// Sub-buckets per power of two, as a power of two (2^8 = 256: relative bucket width ≤ 1/256).
const SUB_BITS: u32 = 8;
const SUB: u64 = 1 << SUB_BITS;
/// Values at or above 2^44 (about 4.9 hours in nanoseconds) are recorded as 2^44 − 1.
const VALUE_BITS: u32 = 44;
const VALUE_MAX: u64 = (1 << VALUE_BITS) - 1;
const BUCKETS: usize = ((VALUE_BITS - SUB_BITS + 1) as u64 * SUB) as usize;

/// Counts of values (nanoseconds, or any unit) in log-linear buckets.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    max: u64,
    min: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram { counts: vec![0; BUCKETS].into_boxed_slice(), total: 0, max: 0, min: u64::MAX }
    }
}

/// The bucket of `value` (already capped at `VALUE_MAX`).
fn index(value: u64) -> usize {
    if value < SUB {
        return value as usize;
    }
    let shift = 63 - value.leading_zeros() - SUB_BITS;
    let mantissa = value >> shift; // in [SUB, 2·SUB)
    ((shift as u64 + 1) * SUB + (mantissa - SUB)) as usize
}

/// The middle of bucket `i`: the value reported for everything recorded in it.
fn middle(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let shift = i / SUB - 1;
    let low = (SUB + i % SUB) << shift;
    low + (1u64 << shift) / 2
}

impl Histogram {
    /// Records one value.
    pub fn record(&mut self, value: u64) {
        let value = value.min(VALUE_MAX);
        self.counts[index(value)] += 1;
        self.total += 1;
        self.max = self.max.max(value);
        self.min = self.min.min(value);
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        if other.total == 0 {
            return;
        }
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
        self.min = self.min.min(other.min);
    }

    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest value recorded, exactly (0 when empty).
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at `percentile` (0 to 100): the smallest recorded value with at least that
    /// share of values at or below it, to within half a bucket; 0 when empty. Never above
    /// [`max`](Self::max) nor below the minimum.
    pub fn percentile(&self, percentile: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((percentile / 100.0) * self.total as f64).ceil().clamp(1.0, self.total as f64) as u64;
        let mut seen = 0;
        for (i, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return middle(i).clamp(self.min, self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// The exact percentile of sorted values, by the same rank rule.
    fn exact(sorted: &[u64], percentile: f64) -> u64 {
        let rank = ((percentile / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
        sorted[rank - 1]
    }

    fn assert_within_one_percent(values: &mut [u64]) {
        let mut h = Histogram::default();
        for &v in values.iter() {
            h.record(v);
        }
        values.sort_unstable();
        for p in [50.0, 90.0, 99.0, 99.9, 99.99, 100.0] {
            let (want, got) = (exact(values, p) as f64, h.percentile(p) as f64);
            assert!((got - want).abs() <= want * 0.01, "p{p}: got {got}, want {want}");
        }
        assert_eq!(h.max(), *values.last().unwrap());
        assert_eq!(h.count(), values.len() as u64);
    }

    #[test]
    fn buckets_are_contiguous_and_narrow() {
        let mut last = 0;
        for v in (0..1_000_000u64).chain((20..VALUE_BITS).map(|b| (1u64 << b) + 12345)) {
            let i = index(v);
            assert!(i >= last && i < BUCKETS, "value {v} index {i}");
            last = i;
            let m = middle(i) as f64;
            assert!((m - v as f64).abs() <= (v as f64 / 256.0).max(0.5), "value {v} middle {m}");
        }
        assert_eq!(index(VALUE_MAX), BUCKETS - 1);
    }

    #[test]
    fn uniform_values_are_within_one_percent() {
        let mut values: Vec<u64> = (1..=1_000_000).collect();
        assert_within_one_percent(&mut values);
    }

    #[test]
    fn long_tailed_values_are_within_one_percent() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        // Log-uniform from 1 µs to 1 s, in nanoseconds: a latency-like spread.
        let mut values: Vec<u64> = (0..200_000).map(|_| 10f64.powf(rng.gen_range(3.0..9.0)) as u64).collect();
        assert_within_one_percent(&mut values);
    }

    #[test]
    fn merging_adds_counts_and_keeps_extremes() {
        let (mut a, mut b) = (Histogram::default(), Histogram::default());
        (1..=500u64).for_each(|v| a.record(v * 1000));
        (501..=1000u64).for_each(|v| b.record(v * 1000));
        a.merge(&b);
        assert_eq!(a.count(), 1000);
        assert_eq!(a.max(), 1_000_000);
        let p50 = a.percentile(50.0) as f64;
        assert!((p50 - 500_000.0).abs() <= 5_000.0, "{p50}");
        assert_eq!(Histogram::default().percentile(99.0), 0);
    }
}
