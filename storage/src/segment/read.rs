//! Reads by offset and lookups by time.
//!
//! A read at the tail is served from the cache. Otherwise it goes segment by segment: find
//! the segment (binary search on base offsets), seek with its sparse index, walk the batches
//! (each CRC-checked) and decode those holding offsets >= `from`, until the byte budget is
//! spent. The budget counts whole encoded batches, and always admits the first one.

use super::cache::CachedBatch;
use super::engine::SegmentEngine;
use super::format::{self, BatchHeader};
use super::view::{Flow, View, Want};
use crate::engine::{LogError, StoredRecord};

/// Smallest read from disk, in bytes: small budgets still read a useful amount.
const READ_CHUNK_BYTES_MIN: usize = 64 * 1024;
/// Largest read from disk, in bytes: huge budgets are served in several reads.
const READ_CHUNK_BYTES_MAX: usize = 8 * 1024 * 1024;

/// How much of a read's byte budget is spent (shared with the object tier's read-through).
pub(crate) struct Budget {
    bytes_max: usize,
    used: usize,
    started: bool,
    full: bool,
}

impl Budget {
    pub(crate) fn new(bytes_max: usize) -> Self {
        Budget { bytes_max, used: 0, started: false, full: false }
    }

    /// A budget that does not admit a first batch past `bytes_max`: for a read that continues
    /// one that already returned records.
    pub(crate) fn strict(bytes_max: usize) -> Self {
        Budget { bytes_max, used: 0, started: true, full: false }
    }

    /// Whether a batch of `size` bytes fits (the first always does).
    pub(crate) fn admit(&mut self, size: usize) -> bool {
        if self.started && self.used.saturating_add(size) > self.bytes_max {
            self.full = true;
            return false;
        }
        self.started = true;
        self.used = self.used.saturating_add(size);
        true
    }

    /// Whether a batch was refused: the read is over.
    pub(crate) fn is_full(&self) -> bool {
        self.full
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes_max.saturating_sub(self.used)
    }
}

fn decode_cached(batches: &[CachedBatch], from: u64) -> Result<Vec<StoredRecord>, LogError> {
    let mut out = Vec::new();
    for b in batches {
        format::decode(&b.data, &b.header, from, &mut out)
            .map_err(|detail| LogError::Corrupt { offset_hint: b.header.base_offset, detail })?;
    }
    Ok(out)
}

impl SegmentEngine {
    /// Like [`crate::LogEngine::read`], but without the promise of a first batch: only whole
    /// batches within `bytes_max` (possibly none). For a caller that continues a read which
    /// already returned records from elsewhere (the object tier's read-through).
    pub async fn read_within(&self, from: u64, bytes_max: usize) -> Result<Vec<StoredRecord>, LogError> {
        self.read_impl(from, bytes_max, true).await
    }

    pub(super) async fn read_impl(
        &self,
        from: u64,
        bytes_max: usize,
        strict: bool,
    ) -> Result<Vec<StoredRecord>, LogError> {
        let cached = {
            let st = self.state();
            if from < st.start() || from > st.end() {
                return Err(st.out_of_range(from));
            }
            st.cache.covers(from).then(|| st.cache.collect(from, bytes_max))
        };
        if let Some(batches) = cached {
            if strict && batches.first().is_some_and(|b| b.data.len() > bytes_max) {
                return Ok(Vec::new());
            }
            return decode_cached(&batches, from);
        }
        let mut budget = if strict { Budget::strict(bytes_max) } else { Budget::new(bytes_max) };
        let mut out = Vec::new();
        let mut offset = from;
        while !budget.full {
            let view = {
                let st = self.state();
                if offset < st.start() {
                    return Err(st.out_of_range(from));
                }
                if offset >= st.end() {
                    break;
                }
                let seg = &st.segments[st.find(offset)];
                View::new(seg, seg.seek(offset))
            };
            let chunk = bytes_max.saturating_add(self.config.index_interval_bytes as usize);
            let chunk = chunk.clamp(READ_CHUNK_BYTES_MIN, READ_CHUNK_BYTES_MAX);
            let want = |_: u64, h: &BatchHeader| {
                if h.end_offset() <= from {
                    Want::Skip
                } else if budget.admit(h.size()) {
                    Want::Read
                } else {
                    Want::Stop
                }
            };
            let walked = view
                .walk(chunk, want, |_, h, data| {
                    format::decode(data, h, from, &mut out).map_err(|d| view.corrupt(h.base_offset, d))?;
                    Ok(Flow::Continue)
                })
                .await;
            walked.map_err(|e| self.vanished_or(e, from))?;
            offset = view.end;
        }
        Ok(out)
    }

    /// An I/O error on a segment that retention dropped meanwhile is an out-of-range read.
    fn vanished_or(&self, e: LogError, from: u64) -> LogError {
        let st = self.state();
        match e {
            LogError::Io(_) if from < st.start() => st.out_of_range(from),
            e => e,
        }
    }

    pub(super) async fn offset_for_time_impl(&self, ts_ms: u64) -> Result<u64, LogError> {
        let mut after: Option<u64> = None;
        loop {
            let view = {
                let st = self.state();
                let candidate = st.segments.iter().find(|s| {
                    after.is_none_or(|a| s.base > a) && s.max_ts.is_some_and(|m| m >= ts_ms) && !s.is_empty()
                });
                match candidate {
                    Some(seg) => View::new(seg, seg.seek_time(ts_ms)),
                    None => return Ok(st.end()),
                }
            };
            if let Some(offset) = self.first_at_or_after(&view, ts_ms).await? {
                return Ok(offset);
            }
            after = Some(view.base);
        }
    }

    /// The first offset in `view` (from its seek point) whose timestamp is >= `ts_ms`.
    async fn first_at_or_after(&self, view: &View, ts_ms: u64) -> Result<Option<u64>, LogError> {
        let mut found = None;
        let mut records = Vec::new();
        let want = |_: u64, h: &BatchHeader| if h.max_timestamp_ms < ts_ms { Want::Skip } else { Want::Read };
        view.walk(READ_CHUNK_BYTES_MIN, want, |_, h, data| {
            records.clear();
            format::decode(data, h, 0, &mut records).map_err(|d| view.corrupt(h.base_offset, d))?;
            found = records.iter().find(|r| r.timestamp_ms >= ts_ms).map(|r| r.offset);
            Ok(if found.is_some() { Flow::Stop } else { Flow::Continue })
        })
        .await?;
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_admits_the_first_batch_then_whole_batches_that_fit() {
        let mut b = Budget::new(100);
        assert!(b.admit(150), "the first batch always");
        assert!(!b.admit(1) && b.full);
        let mut b = Budget::new(100);
        assert!(b.admit(60) && b.admit(40) && !b.admit(1));
        let mut b = Budget::strict(100);
        assert!(!b.admit(150), "a strict budget admits no first batch past it");
    }

    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use keel_rt::disk::{Disk, DiskFaults, OpenMode, SimDisk};

    use super::super::names;
    use crate::{LogEngine, Record, SegmentConfig};

    fn record(ts: u64) -> Record {
        Record::new(ts, None, Bytes::from_static(b"value"))
    }

    async fn open(disk: &SimDisk, cache_bytes_max: usize) -> SegmentEngine {
        let config = SegmentConfig { cache_bytes_max, ..SegmentConfig::default() };
        SegmentEngine::open(Arc::new(disk.clone()), "log", config).await.unwrap()
    }

    #[tokio::test]
    async fn a_continued_read_takes_a_cached_batch_of_exactly_its_budget() {
        let log = open(&SimDisk::new(1), 1 << 20).await;
        log.append(vec![record(1), record(2)]).await.unwrap();
        let bytes = format::encoded_len(&[record(1), record(2)]);
        assert_eq!(log.read_within(0, bytes).await.unwrap().len(), 2);
        assert!(log.read_within(0, bytes - 1).await.unwrap().is_empty());
    }

    /// Only a segment that retention dropped during the read turns an I/O error into an
    /// out-of-range answer: a failing disk is reported as one.
    #[tokio::test]
    async fn a_read_error_in_range_is_an_io_error() {
        let disk = SimDisk::new(1);
        let log = open(&disk, 0).await;
        log.append(vec![record(1)]).await.unwrap();
        log.append(vec![record(2)]).await.unwrap();
        disk.set_faults(DiskFaults { read_error_rate: 1.0, ..DiskFaults::default() });
        for from in [0, 1] {
            let read = log.read(from, 100).await;
            assert!(matches!(read, Err(LogError::Io(_))), "read at {from}: {read:?}");
        }
    }

    /// A time index may claim newer records than its segment holds (damage that passes its
    /// checks): the lookup costs a scan of that segment and goes on to the next.
    #[tokio::test]
    async fn a_time_index_claiming_newer_records_costs_a_scan_not_a_wrong_answer() {
        let disk = SimDisk::new(1);
        let log = open(&disk, 1 << 20).await;
        log.append(vec![record(100), record(110)]).await.unwrap();
        log.seal().await.unwrap();
        log.append(vec![record(200)]).await.unwrap();
        log.seal().await.unwrap();
        log.append(vec![record(300)]).await.unwrap();
        log.sync().await.unwrap();
        drop(log);
        // The final entry of the first segment's time index: max timestamp, record count.
        let times = disk.open(&format!("log/{}", names::time_index(0)), OpenMode::Existing).await.unwrap();
        assert_eq!(times.len().await.unwrap(), 12, "no index points in so small a segment");
        times.write_at(0, &150u64.to_be_bytes()).await.unwrap();
        let log = open(&disk, 1 << 20).await;
        let found = keel_rt::time::timeout(Duration::from_secs(10), log.offset_for_time(120)).await;
        assert_eq!(found.expect("no endless lookup").unwrap(), 2);
        assert_eq!(log.offset_for_time(110).await.unwrap(), 1);
    }

    /// Retention may drop the segment a read is walking: the read then answers out of range,
    /// as it would had it started a moment later.
    #[tokio::test]
    async fn a_read_of_a_segment_that_retention_drops_meanwhile_is_out_of_range() {
        let disk = SimDisk::new(1);
        let config = SegmentConfig { cache_bytes_max: 0, retention_bytes: Some(0), ..SegmentConfig::default() };
        let log = SegmentEngine::open(Arc::new(disk.clone()), "log", config).await.unwrap();
        log.append(vec![record(1)]).await.unwrap();
        log.seal().await.unwrap();
        log.append(vec![record(2)]).await.unwrap();
        disk.set_faults(DiskFaults { stall_rate: 1.0, stall_ms_max: 5, ..DiskFaults::default() });
        let mut read = std::pin::pin!(log.read(0, 100));
        assert!(futures::poll!(read.as_mut()).is_pending(), "the read waits on its disk read");
        disk.set_faults(DiskFaults::default());
        assert_eq!(log.apply_retention(0).await.unwrap(), 1);
        let read = read.await;
        assert!(matches!(read, Err(LogError::OffsetOutOfRange { requested: 0, start: 1, .. })), "{read:?}");
    }
}
