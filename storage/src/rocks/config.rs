//! [`RocksConfig`]: the limits of a RocksDB log, with the memory and segment engines' meaning.

const MIB: u64 = 1024 * 1024;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// Limits of a [`super::RocksEngine`] (see [`crate::SegmentConfig`] for their meaning).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RocksConfig {
    /// A "segment" (the unit of retention) rolls before it would grow past this, in bytes.
    pub segment_bytes_max: u64,
    /// A segment rolls once its batches span more than this, by record timestamps, in ms.
    pub segment_ms: u64,
    /// Sealed segments are dropped, oldest first, while the log holds more than this.
    pub retention_bytes: Option<u64>,
    /// Sealed segments whose newest record is older than this are dropped, oldest first.
    pub retention_ms: Option<u64>,
    /// The largest batch accepted, encoded, in bytes.
    pub batch_bytes_max: usize,
}

impl Default for RocksConfig {
    fn default() -> Self {
        RocksConfig {
            segment_bytes_max: 128 * MIB,
            segment_ms: 7 * DAY_MS,
            retention_bytes: None,
            retention_ms: None,
            batch_bytes_max: 4 * MIB as usize,
        }
    }
}
