//! [`RocksEngine`]: the [`LogEngine`] over one RocksDB instance (layout in [`super::keys`]).
//!
//! The segment index lives in memory (a base and the totals per segment, rebuilt at open from
//! the segment keys); batches are read from RocksDB. One mutex orders every operation on the
//! log: RocksDB calls made under it are memtable writes and reads (no fsync), except the
//! synced write of `truncate`. `sync` fsyncs the WAL outside the mutex, off the async workers.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use keel_rt::disk::Disk;
use keel_rt::task;
use rocksdb::{DBCompressionType, DBRawIterator, DBRecoveryMode, Options, WriteBatch, WriteOptions, DB};

use super::keys::{self, SegmentStats};
use super::RocksConfig;
use crate::engine::{LogEngine, LogError, Record, StoredRecord};
use crate::segment::format::{self, BatchHeader};

struct Segment {
    base: u64,
    stats: SegmentStats,
}

struct State {
    /// Never empty; the last is the active segment.
    segments: Vec<Segment>,
    end: u64,
    durable_end: u64,
    /// Bumped by every truncation: a sync that began before one must not move `durable_end`.
    truncations: u64,
    /// A sync or truncation failed: durability is unknown, writes are refused.
    failed: bool,
}

impl State {
    fn start(&self) -> u64 {
        self.segments[0].base
    }

    fn active(&self) -> &Segment {
        self.segments.last().expect("a log always has an active segment")
    }

    fn find(&self, offset: u64) -> usize {
        self.segments.partition_point(|s| s.base <= offset).saturating_sub(1)
    }

    fn out_of_range(&self, requested: u64) -> LogError {
        LogError::OffsetOutOfRange { requested, start: self.start(), end: self.end }
    }

    fn writable(&self) -> Result<(), LogError> {
        if self.failed {
            Err(LogError::Closed)
        } else {
            Ok(())
        }
    }
}

/// A batch cut short by a truncation: its base offset and its new encoding.
type SplitBatch = (u64, Vec<u8>);

/// A log in one RocksDB instance.
pub struct RocksEngine {
    db: Arc<DB>,
    config: RocksConfig,
    state: Mutex<State>,
    /// Retention never drops a record at or above this (`u64::MAX` until set).
    committed_end: std::sync::atomic::AtomicU64,
}

fn rocks_err(e: rocksdb::Error) -> LogError {
    LogError::Io(io::Error::other(e))
}

fn corrupt(offset_hint: u64, detail: impl Into<String>) -> LogError {
    LogError::Corrupt { offset_hint, detail: detail.into() }
}

fn write_options(sync: bool) -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(sync);
    w
}

/// Parses and verifies the batch stored under `base`.
fn checked_header(base: u64, value: &[u8]) -> Result<BatchHeader, LogError> {
    let h = format::parse_header(value).map_err(|d| corrupt(base, d))?;
    format::verify(value, &h).map_err(|d| corrupt(base, d))?;
    if h.base_offset != base {
        return Err(corrupt(base, format!("batch under key {base} says it starts at {}", h.base_offset)));
    }
    Ok(h)
}

/// The batch at the iterator, if it is on a batch key: its base, bytes and header.
fn batch_at(it: &DBRawIterator<'_>) -> Result<Option<(Bytes, BatchHeader)>, LogError> {
    let (Some(k), Some(v)) = (it.key(), it.value()) else { return Ok(None) };
    let Some(base) = keys::parse_batch(k) else { return Ok(None) };
    let value = Bytes::copy_from_slice(v);
    let h = checked_header(base, &value)?;
    Ok(Some((value, h)))
}

/// Opens (or creates) the database at `path` and makes what it holds durable.
fn open_db(path: &Path) -> Result<DB, LogError> {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.set_compression_type(DBCompressionType::None);
    opts.set_wal_recovery_mode(DBRecoveryMode::PointInTime);
    opts.set_keep_log_file_num(4);
    let db = DB::open(&opts, path).map_err(rocks_err)?;
    match db.get(keys::FORMAT_KEY).map_err(rocks_err)? {
        Some(v) if v == keys::FORMAT.to_be_bytes() => {}
        Some(v) => return Err(corrupt(0, format!("unknown layout version {v:?}"))),
        None => {
            let mut wb = WriteBatch::default();
            wb.put(keys::FORMAT_KEY, keys::FORMAT.to_be_bytes());
            wb.put(keys::segment(0), SegmentStats::default().encode());
            db.write_opt(wb, &write_options(true)).map_err(rocks_err)?;
        }
    }
    // What recovery found may sit unsynced in the WAL (a process crash, not a machine one):
    // sync it, so that everything found counts as durable.
    db.flush_wal(true).map_err(rocks_err)?;
    Ok(db)
}

impl RocksEngine {
    /// Opens the log in `dir` of `disk` (created if missing), which must be real files
    /// ([`Disk::local_path`]): RocksDB does its own I/O there.
    pub async fn open(disk: &dyn Disk, dir: &str, config: RocksConfig) -> Result<Self, LogError> {
        disk.create_dir_all(dir).await?;
        let path = disk.local_path(dir).ok_or_else(|| {
            LogError::Io(io::Error::new(io::ErrorKind::Unsupported, "the rocksdb engine needs a disk of real files"))
        })?;
        // Opening replays the WAL and syncs: blocking work, off the async workers.
        let db = task::spawn_blocking(move || open_db(&path)).await.map_err(io::Error::other)??;
        let state = recover(&db)?;
        let committed_end = std::sync::atomic::AtomicU64::new(u64::MAX);
        Ok(RocksEngine { db: Arc::new(db), config, state: Mutex::new(state), committed_end })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn should_roll(&self, active: &SegmentStats, bytes: u64, max_ts: u64) -> bool {
        if active.is_empty() {
            return false;
        }
        let too_big = active.bytes + bytes > self.config.segment_bytes_max;
        too_big || max_ts.saturating_sub(active.first_max_ts) > self.config.segment_ms
    }

    fn expired_prefix(&self, st: &State, now_ms: u64) -> usize {
        let mut total: u64 = st.segments.iter().map(|s| s.stats.bytes).sum();
        let committed = self.committed_end.load(std::sync::atomic::Ordering::Acquire);
        let mut n = 0;
        for (i, s) in st.segments[..st.segments.len() - 1].iter().enumerate() {
            if st.segments[i + 1].base > committed {
                break; // holds records not committed yet
            }
            let by_bytes = self.config.retention_bytes.is_some_and(|max| total > max);
            let by_age = self
                .config
                .retention_ms
                .is_some_and(|max| !s.stats.is_empty() && now_ms.saturating_sub(s.stats.max_ts) > max);
            if !by_bytes && !by_age {
                break;
            }
            total -= s.stats.bytes;
            n += 1;
        }
        n
    }

    /// The totals of the segment at `seg_base` cut at `end`, the batch holding `end`
    /// re-encoded without its records from `end` on (if `end` splits one; empty if none is
    /// left: a record straddling `end` goes whole), and where the log then ends.
    fn cut_segment(&self, seg_base: u64, end: u64) -> Result<(SegmentStats, Option<SplitBatch>, u64), LogError> {
        let mut stats = SegmentStats::default();
        let mut split = None;
        let mut new_end = end;
        let mut it = self.db.raw_iterator();
        it.seek(keys::batch(seg_base));
        while let Some((value, h)) = batch_at(&it)? {
            if h.base_offset >= end {
                break;
            }
            if h.end_offset() <= end {
                stats.add(h.size() as u64, h.max_timestamp_ms);
            } else {
                let mut kept = Vec::new();
                format::decode(&value, &h, h.base_offset, &mut kept).map_err(|d| corrupt(h.base_offset, d))?;
                let records: Vec<Record> =
                    kept.iter().filter(|r| r.end_offset() <= end).map(StoredRecord::to_record).collect();
                new_end = h.base_offset + crate::engine::span_of(&records);
                let mut buf = Vec::new();
                if !records.is_empty() {
                    format::encode_runs(h.base_offset, &records, &mut buf);
                    let max_ts = records.iter().map(|r| r.timestamp_ms).max().unwrap_or(0);
                    stats.add(buf.len() as u64, max_ts);
                }
                split = Some((h.base_offset, buf));
            }
            it.next();
        }
        it.status().map_err(rocks_err)?;
        Ok((stats, split, new_end))
    }

    /// The first record at or after `ts_ms` in the segment `[base, end)`, if any.
    fn find_time_in(&self, base: u64, end: u64, ts_ms: u64) -> Result<Option<u64>, LogError> {
        let mut it = self.db.raw_iterator();
        it.seek(keys::batch(base));
        while let Some((value, h)) = batch_at(&it)? {
            if h.base_offset >= end {
                break;
            }
            if h.max_timestamp_ms >= ts_ms {
                let mut records = Vec::new();
                format::decode(&value, &h, h.base_offset, &mut records).map_err(|d| corrupt(h.base_offset, d))?;
                if let Some(r) = records.iter().find(|r| r.timestamp_ms >= ts_ms) {
                    return Ok(Some(r.offset));
                }
            }
            it.next();
        }
        it.status().map_err(rocks_err)?;
        Ok(None)
    }
}

/// Rebuilds the in-memory state from the segment keys and the last batch.
fn recover(db: &DB) -> Result<State, LogError> {
    let mut segments = Vec::new();
    let mut it = db.raw_iterator();
    it.seek(keys::segment(0));
    while let (Some(k), Some(v)) = (it.key(), it.value()) {
        let Some(base) = keys::parse_segment(k) else { break };
        let stats = SegmentStats::decode(v).ok_or_else(|| corrupt(base, "segment totals of a bad length"))?;
        segments.push(Segment { base, stats });
        it.next();
    }
    it.status().map_err(rocks_err)?;
    let Some(last) = segments.last() else { return Err(corrupt(0, "no segment key")) };
    let mut end = last.base;
    it.seek_for_prev(keys::batch(u64::MAX));
    if let Some((_, h)) = batch_at(&it)? {
        end = end.max(h.end_offset());
    }
    it.status().map_err(rocks_err)?;
    Ok(State { segments, end, durable_end: end, truncations: 0, failed: false })
}

#[async_trait::async_trait]
impl LogEngine for RocksEngine {
    async fn append(&self, records: Vec<Record>) -> Result<(u64, u64), LogError> {
        assert!(!records.is_empty(), "append takes a non-empty batch");
        let bytes = format::encoded_len(&records);
        if bytes > self.config.batch_bytes_max {
            return Err(LogError::TooLarge { bytes, max: self.config.batch_bytes_max });
        }
        let max_ts = records.iter().map(|r| r.timestamp_ms).max().unwrap_or(0);
        let mut st = self.state();
        st.writable()?;
        let base = st.end;
        let mut buf = Vec::with_capacity(bytes);
        let headers = format::encode_runs(base, &records, &mut buf);
        let mut wb = WriteBatch::default();
        let mut at = 0;
        for h in &headers {
            wb.put(keys::batch(h.base_offset), &buf[at..at + h.size()]);
            at += h.size();
        }
        let roll = self.should_roll(&st.active().stats, bytes as u64, max_ts);
        let (seg_base, mut stats) =
            if roll { (base, SegmentStats::default()) } else { (st.active().base, st.active().stats) };
        stats.add(bytes as u64, max_ts);
        wb.put(keys::segment(seg_base), stats.encode());
        // Written, not synced: `sync` makes it durable (one WAL fsync for many appends).
        self.db.write_opt(wb, &write_options(false)).map_err(rocks_err)?;
        if roll {
            st.segments.push(Segment { base, stats });
        } else {
            st.segments.last_mut().expect("active segment").stats = stats;
        }
        st.end = headers.last().expect("a non-empty append").end_offset();
        Ok((base, st.end - 1))
    }

    async fn sync(&self) -> Result<u64, LogError> {
        let (end, truncations) = {
            let st = self.state();
            st.writable()?;
            (st.end, st.truncations)
        };
        let db = self.db.clone();
        let synced = task::spawn_blocking(move || db.flush_wal(true)).await;
        let mut st = self.state();
        match synced {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                st.failed = true;
                return Err(rocks_err(e));
            }
            Err(e) => {
                st.failed = true;
                return Err(LogError::Io(io::Error::other(e)));
            }
        }
        if st.truncations == truncations {
            st.durable_end = st.durable_end.max(end.min(st.end));
        }
        Ok(st.durable_end)
    }

    async fn read(&self, from: u64, bytes_max: usize) -> Result<Vec<StoredRecord>, LogError> {
        let st = self.state();
        if from < st.start() || from > st.end {
            return Err(st.out_of_range(from));
        }
        let mut out = Vec::new();
        if from == st.end {
            return Ok(out);
        }
        let mut it = self.db.raw_iterator();
        it.seek_for_prev(keys::batch(from));
        let mut used = 0usize;
        let mut next = None;
        while let Some((value, h)) = batch_at(&it)? {
            if h.base_offset >= st.end {
                break;
            }
            if next.is_some_and(|n| n != h.base_offset) {
                return Err(corrupt(h.base_offset, format!("a hole in the log before offset {}", h.base_offset)));
            }
            if !out.is_empty() && used.saturating_add(h.size()) > bytes_max {
                break;
            }
            used = used.saturating_add(h.size());
            format::decode(&value, &h, from, &mut out).map_err(|d| corrupt(h.base_offset, d))?;
            next = Some(h.end_offset());
            it.next();
        }
        it.status().map_err(rocks_err)?;
        if !out.first().is_some_and(|r| r.offset <= from && from < r.end_offset()) {
            return Err(corrupt(from, "no stored batch holds this offset"));
        }
        Ok(out)
    }

    async fn truncate(&self, end: u64) -> Result<(), LogError> {
        let mut st = self.state();
        st.writable()?;
        if end < st.start() {
            return Err(st.out_of_range(end));
        }
        if end >= st.end {
            return Ok(());
        }
        let k = st.find(end);
        let seg_base = st.segments[k].base;
        let (stats, split, end) = self.cut_segment(seg_base, end)?;
        let mut wb = WriteBatch::default();
        match split {
            Some((base, batch)) if batch.is_empty() => wb.delete(keys::batch(base)),
            Some((base, batch)) => wb.put(keys::batch(base), batch),
            None => {}
        }
        wb.delete_range(&keys::batch(end)[..], &keys::batch_upper()[..]);
        wb.delete_range(&keys::segment(end + 1)[..], &keys::segment_upper()[..]);
        wb.put(keys::segment(seg_base), stats.encode());
        // A synced write: durable when it returns, and with it every earlier write.
        if let Err(e) = self.db.write_opt(wb, &write_options(true)) {
            st.failed = true;
            return Err(rocks_err(e));
        }
        st.segments.truncate(k + 1);
        st.segments[k].stats = stats;
        st.end = end;
        st.durable_end = end;
        st.truncations += 1;
        Ok(())
    }

    fn set_committed_end(&self, offset: u64) {
        self.committed_end.store(offset, std::sync::atomic::Ordering::Release);
    }

    async fn reset(&self, start: u64) -> Result<(), LogError> {
        let mut st = self.state();
        st.writable()?;
        let mut wb = WriteBatch::default();
        wb.delete_range(&keys::batch(0)[..], &keys::batch_upper()[..]);
        wb.delete_range(&keys::segment(0)[..], &keys::segment_upper()[..]);
        wb.put(keys::segment(start), SegmentStats::default().encode());
        // A synced write: durable when it returns.
        if let Err(e) = self.db.write_opt(wb, &write_options(true)) {
            st.failed = true;
            return Err(rocks_err(e));
        }
        st.segments = vec![Segment { base: start, stats: SegmentStats::default() }];
        st.end = start;
        st.durable_end = start;
        st.truncations += 1;
        Ok(())
    }

    async fn seal(&self) -> Result<(), LogError> {
        let mut st = self.state();
        st.writable()?;
        if st.active().stats.is_empty() {
            return Ok(());
        }
        let base = st.end;
        let mut wb = WriteBatch::default();
        wb.put(keys::segment(base), SegmentStats::default().encode());
        self.db.write_opt(wb, &write_options(false)).map_err(rocks_err)?;
        st.segments.push(Segment { base, stats: SegmentStats::default() });
        Ok(())
    }

    async fn apply_retention(&self, now_ms: u64) -> Result<u64, LogError> {
        let mut st = self.state();
        st.writable()?;
        let n = self.expired_prefix(&st, now_ms);
        if n == 0 {
            return Ok(st.start());
        }
        let start = st.segments[n].base;
        let mut wb = WriteBatch::default();
        wb.delete_range(keys::batch(0), keys::batch(start));
        wb.delete_range(keys::segment(0), keys::segment(start));
        // Not synced: if a crash loses it, the next round drops the same segments again.
        self.db.write_opt(wb, &write_options(false)).map_err(rocks_err)?;
        st.segments.drain(..n);
        Ok(start)
    }

    fn start_offset(&self) -> u64 {
        self.state().start()
    }

    fn end_offset(&self) -> u64 {
        self.state().end
    }

    fn durable_end(&self) -> u64 {
        self.state().durable_end
    }

    async fn offset_for_time(&self, ts_ms: u64) -> Result<u64, LogError> {
        let st = self.state();
        for (i, s) in st.segments.iter().enumerate() {
            if s.stats.is_empty() || s.stats.max_ts < ts_ms {
                continue;
            }
            let seg_end = st.segments.get(i + 1).map_or(st.end, |n| n.base);
            if let Some(offset) = self.find_time_in(s.base, seg_end, ts_ms)? {
                return Ok(offset);
            }
        }
        Ok(st.end)
    }
}
