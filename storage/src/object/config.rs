//! The object engine's limits, with defaults and their reasons.

use crate::segment::SegmentConfig;

const MIB: u64 = 1024 * 1024;

/// Limits of an [`super::ObjectEngine`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectConfig {
    /// The local segment log's limits. Its `retention_bytes` / `retention_ms` apply to the
    /// whole log (remote and local segments together), not to the local part alone.
    pub segment: SegmentConfig,
    /// A tiering round evicts local copies of uploaded segments, oldest first, while the local
    /// segments hold more than this, in bytes. Default 1 GiB: a few segments of recent data stay
    /// on local disk for the consumers at the tail and for followers catching up.
    pub local_bytes_max: u64,
    /// A sealed segment is uploaded once its newest record is at least this old (vs. the
    /// round's `now_ms`), in ms. Default 0: upload as soon as sealed and committed.
    pub upload_delay_ms: u64,
    /// Segments uploaded by one tiering round at most. Default 16: a round's work (and the
    /// memory of the segments it holds, one at a time) stays bounded after a long outage.
    pub uploads_per_round_max: usize,
    /// Bytes of fetched remote segments kept in memory for read-through. Default 64 MiB: a
    /// consumer reading history fetches each segment once, not once per read.
    pub fetch_cache_bytes_max: u64,
}

impl Default for ObjectConfig {
    fn default() -> Self {
        ObjectConfig {
            segment: SegmentConfig::default(),
            local_bytes_max: 1024 * MIB,
            upload_delay_ms: 0,
            uploads_per_round_max: 16,
            fetch_cache_bytes_max: 64 * MIB,
        }
    }
}

impl ObjectConfig {
    /// Checks the limits.
    pub fn validate(&self) -> Result<(), String> {
        self.segment.validate()?;
        if self.uploads_per_round_max == 0 {
            return Err("uploads_per_round_max must be positive".to_string());
        }
        Ok(())
    }

    /// The config of the local segment log: the same limits without retention, which the
    /// object engine applies across the whole log itself.
    pub fn local_segment_config(&self) -> SegmentConfig {
        SegmentConfig { retention_bytes: None, retention_ms: None, ..self.segment.clone() }
    }
}
