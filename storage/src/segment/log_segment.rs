//! One segment in memory: its file, extent, timestamps and sparse index.
//!
//! The engine keeps one [`Segment`] per `.log` file, in offset order; the last one is the
//! active segment, which appends extend. Everything here is bookkeeping: I/O is the engine's.

use std::sync::Arc;

use keel_rt::disk::DiskFile;

use super::format::BatchHeader;
use super::index::{IndexPoint, SegmentIndex};

/// Where a scan of a segment starts: a batch boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seek {
    /// File position of the batch.
    pub pos: u64,
    /// The batch's base offset.
    pub base_offset: u64,
    /// Largest timestamp of the segment's records before the batch (`None`: no record).
    pub max_ts_before: Option<u64>,
}

/// A segment of the log.
pub struct Segment {
    /// Offset of the segment's first record (its file name).
    pub base: u64,
    pub file: Arc<dyn DiskFile>,
    /// Bytes of valid batches in the file.
    pub bytes: u64,
    /// One past the segment's last offset.
    pub end: u64,
    pub index: SegmentIndex,
    /// Largest record timestamp (`None` while empty).
    pub max_ts: Option<u64>,
    /// Largest timestamp of the first batch: the segment's age for time-based rolling.
    pub first_batch_ts: Option<u64>,
}

impl Segment {
    /// An empty segment starting at `base`.
    pub fn new(base: u64, file: Arc<dyn DiskFile>) -> Self {
        Segment { base, file, bytes: 0, end: base, index: SegmentIndex::default(), max_ts: None, first_batch_ts: None }
    }

    /// Whether the segment holds no record.
    pub fn is_empty(&self) -> bool {
        self.end == self.base
    }

    /// Number of offsets (records, or more when a record spans several).
    pub fn record_count(&self) -> u32 {
        u32::try_from(self.end - self.base).expect("segment record count fits the u32 index format")
    }

    /// Accounts for batch `h`, written at `self.bytes`; takes an index point if one is due.
    pub fn note_batch(&mut self, h: &BatchHeader, index_interval_bytes: u64) {
        assert_eq!(h.base_offset, self.end, "batches are dense");
        let pos = self.bytes;
        if pos > 0 && pos - self.index.last_pos() >= index_interval_bytes {
            let rel = u32::try_from(h.base_offset - self.base).expect("relative offset fits u32");
            let pos = u32::try_from(pos).expect("segment position fits u32 (checked by the config)");
            self.index.push(IndexPoint { rel, pos, max_ts_before: self.max_ts.unwrap_or(0) });
        }
        self.bytes += h.size() as u64;
        self.end = h.end_offset();
        self.max_ts = Some(self.max_ts.map_or(h.max_timestamp_ms, |m| m.max(h.max_timestamp_ms)));
        self.first_batch_ts.get_or_insert(h.max_timestamp_ms);
    }

    /// Where to start scanning for `offset` (in this segment).
    pub fn seek(&self, offset: u64) -> Seek {
        match self.index.floor_by_offset(offset.saturating_sub(self.base)) {
            Some(p) => self.seek_at(p),
            None => self.start(),
        }
    }

    /// Where to start scanning for the first record with timestamp >= `ts_ms`.
    pub fn seek_time(&self, ts_ms: u64) -> Seek {
        match self.index.floor_by_time(ts_ms) {
            Some(p) => self.seek(self.base + u64::from(p.rel)),
            None => self.start(),
        }
    }

    fn seek_at(&self, p: IndexPoint) -> Seek {
        Seek { pos: u64::from(p.pos), base_offset: self.base + u64::from(p.rel), max_ts_before: Some(p.max_ts_before) }
    }

    /// The segment's first batch.
    pub fn start(&self) -> Seek {
        Seek { pos: 0, base_offset: self.base, max_ts_before: None }
    }

    /// Whether an append of `bytes` whose newest record is `max_ts` must go to a new segment:
    /// this one is not empty and would pass its size limit, or its records would span more
    /// than `segment_ms`.
    pub fn should_roll(&self, bytes: u64, max_ts: u64, segment_bytes_max: u64, segment_ms: u64) -> bool {
        let too_big = self.bytes + bytes > segment_bytes_max;
        let too_old = self.first_batch_ts.is_some_and(|t| max_ts.saturating_sub(t) > segment_ms);
        !self.is_empty() && (too_big || too_old)
    }
}
