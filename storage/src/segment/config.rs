//! The segment engine's limits, with defaults and their reasons.

use super::format::BATCH_BYTES_LIMIT;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// Limits of a [`super::SegmentEngine`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentConfig {
    /// A segment rolls before it would grow past this, in bytes (one batch may exceed it in an
    /// otherwise empty segment). Default 128 MiB: retention frees space in steps of this size,
    /// and recovery scans at most one segment, about a tenth of a second at disk speed.
    pub segment_bytes_max: u64,
    /// A segment rolls once its records span more than this, by record timestamps, in ms.
    /// Default 7 days, so that time-based retention can drop the data of idle logs.
    pub segment_ms: u64,
    /// Log bytes between two sparse index points. Default 4 KiB: a read scans at most that
    /// (plus one batch) past its index point, and the index costs about 20 bytes per 4 KiB.
    pub index_interval_bytes: u64,
    /// Sealed segments are dropped, oldest first, while the log holds more than this in total.
    /// Default none: how long to keep data is a policy of the topic, not of the engine.
    pub retention_bytes: Option<u64>,
    /// Sealed segments whose newest record is older than this (vs. the caller's `now_ms`)
    /// are dropped, oldest first. Default none, as for `retention_bytes`.
    pub retention_ms: Option<u64>,
    /// The largest batch accepted, encoded, in bytes. Default 4 MiB: a batch is encoded,
    /// checksummed and decoded in one piece, so this bounds the memory of one append or read.
    pub batch_bytes_max: usize,
    /// The in-memory cache of the log's most recent batches, in bytes. Default 4 MiB: readers
    /// at the tail (most consumers, and followers) are served without touching the disk, and a
    /// broker with many logs pays this once per log; readers further behind use the page cache.
    pub cache_bytes_max: usize,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig {
            segment_bytes_max: 128 * MIB,
            segment_ms: 7 * DAY_MS,
            index_interval_bytes: 4 * KIB,
            retention_bytes: None,
            retention_ms: None,
            batch_bytes_max: 4 * MIB as usize,
            cache_bytes_max: 4 * MIB as usize,
        }
    }
}

impl SegmentConfig {
    /// Checks the limits against the format: file positions and relative offsets are `u32`.
    pub fn validate(&self) -> Result<(), String> {
        if self.batch_bytes_max > BATCH_BYTES_LIMIT || self.batch_bytes_max == 0 {
            return Err(format!("batch_bytes_max must be in 1..={BATCH_BYTES_LIMIT}"));
        }
        let worst_segment_bytes = self.segment_bytes_max.saturating_add(self.batch_bytes_max as u64);
        if self.segment_bytes_max == 0 || worst_segment_bytes > u64::from(u32::MAX) {
            return Err("segment_bytes_max + batch_bytes_max must fit in a u32 file position".to_string());
        }
        if self.index_interval_bytes == 0 {
            return Err("index_interval_bytes must be positive".to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_limits_are_refused() {
        SegmentConfig::default().validate().unwrap();
        let huge = SegmentConfig { segment_bytes_max: 4 * 1024 * MIB, ..SegmentConfig::default() };
        assert!(huge.validate().is_err());
        let big_batch = SegmentConfig { batch_bytes_max: BATCH_BYTES_LIMIT + 1, ..SegmentConfig::default() };
        assert!(big_batch.validate().is_err());
        assert!(SegmentConfig { index_interval_bytes: 0, ..SegmentConfig::default() }.validate().is_err());
    }

    #[test]
    fn the_default_age_limit_is_a_week() {
        assert_eq!(SegmentConfig::default().segment_ms, 604_800_000);
    }

    #[test]
    fn limits_exactly_at_the_format_bounds_are_valid() {
        let largest_batch = SegmentConfig { batch_bytes_max: BATCH_BYTES_LIMIT, ..SegmentConfig::default() };
        largest_batch.validate().unwrap();
        let fills_u32 = SegmentConfig {
            segment_bytes_max: u64::from(u32::MAX) - 4 * MIB,
            batch_bytes_max: 4 * MIB as usize,
            ..SegmentConfig::default()
        };
        fills_u32.validate().unwrap();
        let one_past = SegmentConfig { segment_bytes_max: fills_u32.segment_bytes_max + 1, ..fills_u32 };
        assert!(one_past.validate().is_err());
    }
}
