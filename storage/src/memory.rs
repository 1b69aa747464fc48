//! [`MemoryEngine`]: a log kept in memory, for tests and for logs that need no durability.
//!
//! It follows the segment engine's rules so that both pass the same suite: batches are
//! grouped into segments (rolled by size, age and `seal`), retention drops whole sealed
//! segments, and batch sizes are counted as the segment format would encode them, so byte
//! limits mean the same for both. Nothing survives the process: `sync` only moves
//! `durable_end` to the end.

use std::sync::{Mutex, MutexGuard};

use crate::engine::{LogEngine, LogError, Record, StoredRecord};
use crate::segment::format;

const MIB: u64 = 1024 * 1024;
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// Limits of a [`MemoryEngine`] (see [`crate::SegmentConfig`] for their meaning).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryConfig {
    pub segment_bytes_max: u64,
    pub segment_ms: u64,
    pub retention_bytes: Option<u64>,
    pub retention_ms: Option<u64>,
    pub batch_bytes_max: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        MemoryConfig {
            segment_bytes_max: 128 * MIB,
            segment_ms: 7 * DAY_MS,
            retention_bytes: None,
            retention_ms: None,
            batch_bytes_max: 4 * MIB as usize,
        }
    }
}

struct Batch {
    records: Vec<StoredRecord>,
    /// Encoded size, as the segment format would write it.
    bytes: usize,
    max_ts: u64,
}

impl Batch {
    fn new(records: Vec<StoredRecord>) -> Self {
        let plain: Vec<Record> = records.iter().map(StoredRecord::to_record).collect();
        let max_ts = records.iter().map(|r| r.timestamp_ms).max().unwrap_or(0);
        Batch { bytes: format::encoded_len(&plain), records, max_ts }
    }

    fn base(&self) -> u64 {
        self.records[0].offset
    }

    fn end(&self) -> u64 {
        self.records.last().expect("a batch holds records").end_offset()
    }
}

struct Segment {
    base: u64,
    batches: Vec<Batch>,
}

impl Segment {
    fn end(&self) -> u64 {
        self.batches.last().map_or(self.base, Batch::end)
    }

    fn bytes(&self) -> u64 {
        self.batches.iter().map(|b| b.bytes as u64).sum()
    }

    fn max_ts(&self) -> Option<u64> {
        self.batches.iter().map(|b| b.max_ts).max()
    }
}

struct State {
    /// Never empty; the last is the active segment.
    segments: Vec<Segment>,
    durable_end: u64,
}

impl State {
    fn start(&self) -> u64 {
        self.segments[0].base
    }

    fn end(&self) -> u64 {
        self.active().end()
    }

    fn active(&self) -> &Segment {
        self.segments.last().expect("a log always has an active segment")
    }

    fn find(&self, offset: u64) -> usize {
        self.segments.partition_point(|s| s.base <= offset).saturating_sub(1)
    }

    fn out_of_range(&self, requested: u64) -> LogError {
        LogError::OffsetOutOfRange { requested, start: self.start(), end: self.end() }
    }

    fn roll(&mut self) {
        let end = self.end();
        self.segments.push(Segment { base: end, batches: Vec::new() });
    }
}

/// A log in memory.
pub struct MemoryEngine {
    config: MemoryConfig,
    state: Mutex<State>,
    /// Retention never drops a record at or above this (`u64::MAX` until set).
    committed_end: std::sync::atomic::AtomicU64,
}

impl MemoryEngine {
    /// An empty log starting at offset 0.
    pub fn new(config: MemoryConfig) -> Self {
        let state = State { segments: vec![Segment { base: 0, batches: Vec::new() }], durable_end: 0 };
        MemoryEngine { config, state: Mutex::new(state), committed_end: std::sync::atomic::AtomicU64::new(u64::MAX) }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn should_roll(&self, active: &Segment, batch: &Batch) -> bool {
        let Some(first) = active.batches.first() else { return false };
        let too_big = active.bytes() + batch.bytes as u64 > self.config.segment_bytes_max;
        too_big || batch.max_ts.saturating_sub(first.max_ts) > self.config.segment_ms
    }

    fn expired_prefix(&self, st: &State, now_ms: u64) -> usize {
        let mut total: u64 = st.segments.iter().map(Segment::bytes).sum();
        let committed = self.committed_end.load(std::sync::atomic::Ordering::Acquire);
        let mut n = 0;
        for s in st.segments[..st.segments.len() - 1].iter().take_while(|s| s.end() <= committed) {
            let by_bytes = self.config.retention_bytes.is_some_and(|max| total > max);
            let by_age =
                self.config.retention_ms.is_some_and(|max| s.max_ts().is_some_and(|t| now_ms.saturating_sub(t) > max));
            if !by_bytes && !by_age {
                break;
            }
            total -= s.bytes();
            n += 1;
        }
        n
    }
}

/// Cuts `seg` so that it ends at `end` (inside it), splitting the batch that holds `end`; a
/// record straddling `end` goes whole.
fn cut_segment(seg: &mut Segment, end: u64) {
    seg.batches.retain(|b| b.base() < end);
    if let Some(last) = seg.batches.pop() {
        let kept: Vec<StoredRecord> = last.records.into_iter().filter(|r| r.end_offset() <= end).collect();
        if !kept.is_empty() {
            seg.batches.push(Batch::new(kept));
        }
    }
}

#[async_trait::async_trait]
impl LogEngine for MemoryEngine {
    async fn append(&self, records: Vec<Record>) -> Result<(u64, u64), LogError> {
        assert!(!records.is_empty(), "append takes a non-empty batch");
        let bytes = format::encoded_len(&records);
        if bytes > self.config.batch_bytes_max {
            return Err(LogError::TooLarge { bytes, max: self.config.batch_bytes_max });
        }
        let mut st = self.state();
        let base = st.end();
        let mut offset = base;
        let stored = records
            .into_iter()
            .map(|r| {
                assert!(r.span >= 1, "a record takes at least one offset");
                let at = offset;
                offset += u64::from(r.span);
                StoredRecord {
                    offset: at,
                    timestamp_ms: r.timestamp_ms,
                    key: r.key,
                    value: r.value,
                    producer: r.producer,
                    span: r.span,
                }
            })
            .collect();
        let batch = Batch::new(stored);
        if self.should_roll(st.active(), &batch) {
            st.roll();
        }
        let last = batch.end() - 1;
        st.segments.last_mut().expect("active segment").batches.push(batch);
        Ok((base, last))
    }

    async fn sync(&self) -> Result<u64, LogError> {
        let mut st = self.state();
        st.durable_end = st.end();
        Ok(st.durable_end)
    }

    async fn read(&self, from: u64, bytes_max: usize) -> Result<Vec<StoredRecord>, LogError> {
        let st = self.state();
        if from < st.start() || from > st.end() {
            return Err(st.out_of_range(from));
        }
        let mut out = Vec::new();
        let mut used = 0usize;
        for seg in &st.segments[st.find(from)..] {
            let first = seg.batches.partition_point(|b| b.end() <= from);
            for b in &seg.batches[first..] {
                if !out.is_empty() && used.saturating_add(b.bytes) > bytes_max {
                    return Ok(out);
                }
                used = used.saturating_add(b.bytes);
                out.extend(b.records.iter().filter(|r| r.end_offset() > from).cloned());
            }
        }
        Ok(out)
    }

    async fn truncate(&self, end: u64) -> Result<(), LogError> {
        let mut st = self.state();
        if end < st.start() {
            return Err(st.out_of_range(end));
        }
        if end >= st.end() {
            return Ok(());
        }
        let k = st.find(end);
        st.segments.truncate(k + 1);
        cut_segment(&mut st.segments[k], end);
        st.durable_end = st.end();
        Ok(())
    }

    fn set_committed_end(&self, offset: u64) {
        self.committed_end.store(offset, std::sync::atomic::Ordering::Release);
    }

    async fn reset(&self, start: u64) -> Result<(), LogError> {
        let mut st = self.state();
        st.segments = vec![Segment { base: start, batches: Vec::new() }];
        st.durable_end = start;
        Ok(())
    }

    async fn seal(&self) -> Result<(), LogError> {
        let mut st = self.state();
        if !st.active().batches.is_empty() {
            st.roll();
        }
        Ok(())
    }

    async fn apply_retention(&self, now_ms: u64) -> Result<u64, LogError> {
        let mut st = self.state();
        let n = self.expired_prefix(&st, now_ms);
        st.segments.drain(..n);
        Ok(st.start())
    }

    fn start_offset(&self) -> u64 {
        self.state().start()
    }

    fn stored_bytes(&self) -> Option<u64> {
        Some(self.state().segments.iter().map(Segment::bytes).sum())
    }

    fn end_offset(&self) -> u64 {
        self.state().end()
    }

    fn durable_end(&self) -> u64 {
        self.state().durable_end
    }

    async fn offset_for_time(&self, ts_ms: u64) -> Result<u64, LogError> {
        let st = self.state();
        let found = st
            .segments
            .iter()
            .flat_map(|s| &s.batches)
            .filter(|b| b.max_ts >= ts_ms)
            .find_map(|b| b.records.iter().find(|r| r.timestamp_ms >= ts_ms));
        Ok(found.map_or(st.end(), |r| r.offset))
    }
}
