//! One segment in memory: its file, extent, timestamps and sparse index.
//!
//! The engine keeps one [`Segment`] per `.log` file, in offset order; the last one is the
//! active segment, which appends extend. Everything here is bookkeeping: I/O is the engine's.

use std::sync::Arc;

use keel_rt::disk::DiskFile;

use super::config::SegmentConfig;
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

    /// Whether an append of `bytes` taking `offsets` offsets, whose newest record is `max_ts`,
    /// must go to a new segment: this one is not empty and would pass its size limit, or its
    /// records would span more than `segment_ms`, or its offsets would no longer fit the index
    /// format's `u32` relative offsets (records spanning many offsets can get there long
    /// before the size limit).
    pub fn should_roll(&self, bytes: u64, offsets: u64, max_ts: u64, config: &SegmentConfig) -> bool {
        let too_big = self.bytes + bytes > config.segment_bytes_max;
        let too_old = self.first_batch_ts.is_some_and(|t| max_ts.saturating_sub(t) > config.segment_ms);
        let too_many = (self.end - self.base).saturating_add(offsets) > u64::from(u32::MAX);
        !self.is_empty() && (too_big || too_old || too_many)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use keel_rt::disk::{Disk, OpenMode, SimDisk};

    use super::*;

    /// A batch of `count` records and `bytes` bytes at `base`, all records at `ts`.
    fn header(base: u64, count: u32, bytes: u32, ts: u64) -> BatchHeader {
        BatchHeader {
            crc: 0,
            base_offset: base,
            record_count: count,
            offset_count: count,
            batch_bytes: bytes,
            base_timestamp_ms: ts,
            max_timestamp_ms: ts,
            producer: None,
        }
    }

    async fn segment(base: u64) -> Segment {
        let file = SimDisk::new(1).open("s.log", OpenMode::Create).await.unwrap();
        Segment::new(base, Arc::from(file))
    }

    /// Ten batches of 100 bytes and 10 records each, at 1000, 1010, ...; batch `i` at `ts + i`.
    async fn ten_batches(interval: u64) -> Segment {
        let mut s = segment(1_000).await;
        for i in 0..10 {
            s.note_batch(&header(1_000 + 10 * i, 10, 100, 5_000 + i), interval);
        }
        s
    }

    #[tokio::test]
    async fn index_points_are_taken_once_an_interval_has_passed() {
        let s = ten_batches(250).await;
        let points: Vec<(u64, u64)> = [300, 600, 900]
            .iter()
            .map(|&pos| {
                let seek = s.seek(1_000 + pos / 10);
                (seek.pos, seek.base_offset)
            })
            .collect();
        assert_eq!(points, [(300, 1_030), (600, 1_060), (900, 1_090)]);
        assert_eq!(s.seek(1_029).pos, 0, "no point before position 300");
        assert_eq!(s.seek(1_059).base_offset, 1_030, "none between the points");
        assert_eq!((s.bytes, s.end, s.max_ts, s.first_batch_ts), (1_000, 1_100, Some(5_009), Some(5_000)));
    }

    #[tokio::test]
    async fn a_time_seek_lands_on_the_point_before_the_time() {
        let s = ten_batches(250).await;
        let seek = s.seek_time(5_005);
        assert_eq!((seek.pos, seek.base_offset, seek.max_ts_before), (300, 1_030, Some(5_002)));
        assert_eq!(s.seek_time(5_002), s.start(), "records before the first point are as new as 5002");
    }

    #[tokio::test]
    async fn a_segment_rolls_only_past_its_limits() {
        let s = ten_batches(250).await;
        let config = SegmentConfig { segment_bytes_max: 1_024, segment_ms: 60_000, ..SegmentConfig::default() };
        assert!(!s.should_roll(24, 1, 5_000, &config), "exactly at the size limit");
        assert!(s.should_roll(25, 1, 5_000, &config));
        assert!(!s.should_roll(1, 1, 65_000, &config), "records spanning exactly segment_ms");
        assert!(s.should_roll(1, 1, 65_001, &config));
        assert!(s.should_roll(1, 1, 70_000, &config));
        let offsets_left = u64::from(u32::MAX) - 100;
        assert!(!s.should_roll(1, offsets_left, 5_000, &config), "offsets up to u32::MAX past the base");
        assert!(s.should_roll(1, offsets_left + 1, 5_000, &config));
        assert!(!segment(7).await.should_roll(2_000, 1, 99_999, &config), "an empty segment takes any batch");
    }
}
