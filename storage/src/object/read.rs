//! Read-through: records below the local start come from segment objects.
//!
//! A read at or above the local start is the local log's. Below it, the read walks the
//! remote segments from the one holding `from` (fetched whole, checked, kept in the fetch
//! cache), admitting whole batches within the byte budget exactly as the segment engine does,
//! and continues into the local log with what is left of the budget. A read that races with
//! eviction (the local start moved) or with a deletion (an object vanished) is retried with a
//! fresh view. `offset_for_time` looks at remote segments whose newest record is recent enough,
//! then at the local log.

use std::sync::Arc;

use super::engine::ObjectEngine;
use super::manifest::RemoteSegment;
use super::remote::{self, Fetched};
use crate::engine::{LogEngine, LogError, StoredRecord};
use crate::segment::format;
use crate::segment::Budget;

/// Attempts of a read that races with eviction or deletion.
const READ_ATTEMPTS_MAX: usize = 3;

impl ObjectEngine {
    pub(super) async fn read_impl(&self, from: u64, bytes_max: usize) -> Result<Vec<StoredRecord>, LogError> {
        let mut attempt = 1;
        loop {
            match self.read_once(from, bytes_max).await {
                Err(e) if attempt < READ_ATTEMPTS_MAX && self.raced(&e, from) => attempt += 1,
                other => return other,
            }
        }
    }

    /// Whether `e` may come from a view that went stale under the read.
    fn raced(&self, e: &LogError, from: u64) -> bool {
        let in_range = self.start_offset() <= from && from <= self.end_offset();
        match e {
            LogError::OffsetOutOfRange { .. } => in_range,
            e => remote::is_not_found(e) && in_range,
        }
    }

    async fn read_once(&self, from: u64, bytes_max: usize) -> Result<Vec<StoredRecord>, LogError> {
        let local_start = self.local.start_offset();
        if from >= local_start {
            return self.local.read(from, bytes_max).await;
        }
        let segments = self.remote().manifest.segments.clone();
        let Some(first) = segments.iter().position(|s| s.base <= from && from < s.end) else {
            let (start, end) = (self.start_offset(), self.end_offset());
            return Err(LogError::OffsetOutOfRange { requested: from, start, end });
        };
        let mut budget = Budget::new(bytes_max);
        let mut out = Vec::new();
        let mut next = from;
        for seg in &segments[first..] {
            if next >= local_start || budget.is_full() {
                break;
            }
            let fetched = self.fetch(seg).await?;
            next = take_batches(&fetched, from, next, local_start, &mut budget, &mut out)?;
        }
        if !budget.is_full() && next >= local_start {
            out.extend(self.local.read_within(next, budget.remaining()).await?);
        }
        Ok(out)
    }

    /// The segment `seg`, from the fetch cache or the store.
    pub(super) async fn fetch(&self, seg: &RemoteSegment) -> Result<Arc<Fetched>, LogError> {
        if let Some(f) = self.fetch_cache().get(seg.base, seg.end) {
            return Ok(f);
        }
        let data = remote::get(self.store.as_ref(), &self.keys.segment(seg.base, seg.end)).await?;
        let fetched = Arc::new(remote::parse_segment(data, seg)?);
        self.fetch_cache().insert(fetched.clone());
        Ok(fetched)
    }

    pub(super) async fn offset_for_time_impl(&self, ts_ms: u64) -> Result<u64, LogError> {
        let local_start = self.local.start_offset();
        let segments = self.remote().manifest.segments.clone();
        for seg in segments.iter().filter(|s| s.base < local_start && s.max_ts >= ts_ms) {
            let fetched = self.fetch(seg).await?;
            if let Some(offset) = first_at_or_after(&fetched, ts_ms, local_start)? {
                return Ok(offset);
            }
        }
        self.local.offset_for_time(ts_ms).await
    }
}

fn corrupt(offset_hint: u64, detail: String) -> LogError {
    LogError::Corrupt { offset_hint, detail }
}

/// Decodes the batches of `f` from offset `next` (records from `from`) below `stop` while the
/// budget admits them; returns the offset after the last batch taken.
fn take_batches(
    f: &Fetched,
    from: u64,
    mut next: u64,
    stop: u64,
    budget: &mut Budget,
    out: &mut Vec<StoredRecord>,
) -> Result<u64, LogError> {
    for (h, data) in &f.batches {
        if h.end_offset() <= next {
            continue;
        }
        if h.base_offset >= stop || !budget.admit(h.size()) {
            break;
        }
        format::decode(data, h, from, out).map_err(|d| corrupt(h.base_offset, d))?;
        next = h.end_offset();
    }
    Ok(next)
}

/// The first offset below `stop` in `f` whose timestamp is >= `ts_ms`.
fn first_at_or_after(f: &Fetched, ts_ms: u64, stop: u64) -> Result<Option<u64>, LogError> {
    let mut records = Vec::new();
    for (h, data) in f.batches.iter().filter(|(h, _)| h.max_timestamp_ms >= ts_ms && h.base_offset < stop) {
        records.clear();
        format::decode(data, h, 0, &mut records).map_err(|d| corrupt(h.base_offset, d))?;
        if let Some(r) = records.iter().find(|r| r.timestamp_ms >= ts_ms && r.offset < stop) {
            return Ok(Some(r.offset));
        }
    }
    Ok(None)
}
