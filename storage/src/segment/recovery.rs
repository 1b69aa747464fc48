//! Opening a segment directory: listing, loading and recovering the segments.
//!
//! The rule (also in `docs/segment-format.md`):
//! - sealed segments (all but the last) were synced whole before their successor existed, so
//!   any damage in them is corruption. Their indexes are loaded if valid, else rebuilt by a
//!   full scan, which reports a damaged batch or a gap as [`LogError::Corrupt`]; damage that
//!   a valid index skips over is reported when a read reaches it;
//! - the last segment is scanned from its start. At the first batch that is cut short, fails
//!   its CRC or is otherwise invalid, the rest of the file is searched for a valid batch: if
//!   there is none, the bad bytes are a torn append that never completed and the file is cut
//!   there (set_len + sync); if there is one, records in the middle of the log are damaged and
//!   `open` fails with [`LogError::Corrupt`]: reported, never skipped.
//!
//! Leftovers of interrupted work are removed: `.log.tmp` files and index files without a log.

use std::collections::BTreeSet;
use std::io;
use std::sync::{Arc, Mutex};

use keel_rt::disk::{self, Disk, DiskFile, OpenMode};

use super::cache::TailCache;
use super::config::SegmentConfig;
use super::engine::{join, open_file, RecoveryReport, SegmentEngine, State};
use super::format::{self, HEADER_BYTES, MAGIC};
use super::index::SegmentIndex;
use super::log_segment::Segment;
use super::names::{self, FileKind};
use super::scan::{BatchCursor, Step};
use crate::engine::LogError;

/// Bytes read at once by the recovery scans.
const SCAN_CHUNK_BYTES: usize = 1024 * 1024;

impl SegmentEngine {
    /// Opens the log in `dir` of `disk`, creating it if missing and recovering from a crash.
    pub async fn open(disk: Arc<dyn Disk>, dir: &str, config: SegmentConfig) -> Result<Self, LogError> {
        config.validate().map_err(|e| LogError::Io(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        disk.create_dir_all(dir).await?;
        let mut report = RecoveryReport::default();
        let mut bases = list_segments(disk.as_ref(), dir, &mut report).await?;
        if bases.is_empty() {
            disk.open(&join(dir, &names::log(0)), OpenMode::Create).await?;
            bases.push(0);
        }
        let mut segments = Vec::with_capacity(bases.len());
        for (i, &base) in bases.iter().enumerate() {
            let seg = match bases.get(i + 1) {
                Some(&next) => open_sealed(disk.as_ref(), dir, &config, base, next, &mut report).await?,
                None => open_last(disk.as_ref(), dir, &config, base, &mut report).await?,
            };
            segments.push(seg);
        }
        let last = segments.last().expect("at least one segment");
        last.file.sync().await?;
        disk.sync_dir(dir).await?;
        report.segments = segments.len();
        let end = last.end;
        let state = State {
            segments,
            cache: TailCache::new(config.cache_bytes_max),
            durable_end: end,
            dir_version: 0,
            dir_synced: 0,
            failed: false,
        };
        Ok(SegmentEngine {
            disk,
            dir: dir.to_string(),
            config,
            state: Mutex::new(state),
            writer: tokio::sync::Mutex::new(()),
            syncer: tokio::sync::Mutex::new(()),
            recovery: report,
            committed_end: std::sync::atomic::AtomicU64::new(u64::MAX),
        })
    }
}

/// The base offsets of the segment logs in `dir`, sorted; removes leftovers.
async fn list_segments(disk: &dyn Disk, dir: &str, report: &mut RecoveryReport) -> io::Result<Vec<u64>> {
    let names = disk.list_dir(dir).await?;
    let parsed: Vec<(String, Option<(u64, FileKind)>)> =
        names.into_iter().map(|n| (n.clone(), names::parse(&n))).collect();
    let logs: BTreeSet<u64> =
        parsed.iter().filter_map(|(_, p)| p.filter(|(_, k)| *k == FileKind::Log).map(|(b, _)| b)).collect();
    for (name, p) in &parsed {
        let leftover = match p {
            None => {
                tracing::warn!(dir, file = %name, "ignoring a foreign file in a segment directory");
                false
            }
            Some((_, FileKind::Temp)) => true,
            Some((base, FileKind::Index | FileKind::TimeIndex)) => !logs.contains(base),
            Some((_, FileKind::Log)) => false,
        };
        if leftover {
            disk.remove_file(&join(dir, name)).await?;
            report.removed_files += 1;
        }
    }
    Ok(logs.into_iter().collect())
}

fn corrupt(base: u64, offset_hint: u64, detail: String) -> LogError {
    LogError::Corrupt { offset_hint, detail: format!("{}: {detail}", names::log(base)) }
}

/// Opens a sealed segment `[base, next)`: loads its indexes, or rebuilds them by a scan.
async fn open_sealed(
    disk: &dyn Disk,
    dir: &str,
    config: &SegmentConfig,
    base: u64,
    next: u64,
    report: &mut RecoveryReport,
) -> Result<Segment, LogError> {
    let file = open_file(disk, dir, &names::log(base), OpenMode::Existing).await?;
    let bytes = file.len().await?;
    let count = u32::try_from(next - base).map_err(|_| corrupt(base, base, "segment spans too many offsets".into()))?;
    if bytes == 0 || u32::try_from(bytes).is_err() {
        return Err(corrupt(base, base, format!("sealed segment of {bytes} bytes")));
    }
    let offsets = disk::read_all(disk, &join(dir, &names::index(base))).await?;
    let times = disk::read_all(disk, &join(dir, &names::time_index(base))).await?;
    if let (Some(o), Some(t)) = (&offsets, &times) {
        match SegmentIndex::decode(o, t, count, bytes) {
            Ok((index, max_ts)) => {
                let mut seg = Segment::new(base, file);
                (seg.bytes, seg.end, seg.index, seg.max_ts) = (bytes, next, index, Some(max_ts));
                return Ok(seg);
            }
            Err(e) => tracing::warn!(dir, segment = base, error = %e, "invalid index files; rebuilding"),
        }
    }
    let seg = rebuild(file, base, bytes, config).await?;
    if seg.end != next {
        return Err(corrupt(
            base,
            seg.end,
            format!("segment ends at offset {} but the next starts at {next}", seg.end),
        ));
    }
    write_index_files(disk, dir, &seg).await;
    report.rebuilt_indexes += 1;
    Ok(seg)
}

/// Scans a whole sealed segment; any bad batch is corruption.
pub(super) async fn rebuild(
    file: Arc<dyn DiskFile>,
    base: u64,
    bytes: u64,
    config: &SegmentConfig,
) -> Result<Segment, LogError> {
    let mut seg = Segment::new(base, file.clone());
    let mut cursor = BatchCursor::new(file.as_ref(), 0, bytes, SCAN_CHUNK_BYTES);
    loop {
        match cursor.next().await? {
            Step::End => return Ok(seg),
            Step::Batch { header, .. } if header.base_offset == seg.end => {
                seg.note_batch(&header, config.index_interval_bytes)
            }
            Step::Batch { pos, header, .. } => {
                let detail =
                    format!("position {pos}: batch at offset {} where {} was due", header.base_offset, seg.end);
                return Err(corrupt(base, seg.end, detail));
            }
            Step::Bad { pos, detail } => return Err(corrupt(base, seg.end, format!("position {pos}: {detail}"))),
        }
    }
}

async fn write_index_files(disk: &dyn Disk, dir: &str, seg: &Segment) {
    let times = seg.index.encode_times(seg.record_count(), seg.max_ts.unwrap_or(0));
    for (name, data) in [(names::index(seg.base), seg.index.encode_offsets()), (names::time_index(seg.base), times)] {
        let written = async {
            let f = disk.open(&join(dir, &name), OpenMode::Create).await?;
            f.set_len(0).await?;
            f.write_at(0, &data).await
        };
        if let Err(e) = written.await {
            tracing::warn!(dir, file = %name, error = %e, "could not write a rebuilt index file");
        }
    }
}

/// Opens the last segment: scans it, cuts a torn tail, reports damage followed by data.
async fn open_last(
    disk: &dyn Disk,
    dir: &str,
    config: &SegmentConfig,
    base: u64,
    report: &mut RecoveryReport,
) -> Result<Segment, LogError> {
    let file = open_file(disk, dir, &names::log(base), OpenMode::Existing).await?;
    let len = file.len().await?;
    let mut seg = Segment::new(base, file.clone());
    let mut cursor = BatchCursor::new(file.as_ref(), 0, len, SCAN_CHUNK_BYTES);
    let (bad_pos, detail) = loop {
        match cursor.next().await? {
            Step::End => break (None, String::new()),
            Step::Batch { pos, header, .. } => {
                // Only once the batch is where it is due (at or past `base`) is its span measured.
                let fits = || {
                    pos + header.size() as u64 <= u64::from(u32::MAX)
                        && header.end_offset() - base <= u64::from(u32::MAX)
                };
                if header.base_offset != seg.end || !fits() {
                    let detail =
                        format!("position {pos}: batch at offset {} where {} was due", header.base_offset, seg.end);
                    return Err(corrupt(base, seg.end, detail));
                }
                seg.note_batch(&header, config.index_interval_bytes);
            }
            Step::Bad { pos, detail } => break (Some(pos), detail),
        }
    };
    if let Some(pos) = bad_pos {
        if valid_batch_after(file.as_ref(), pos, len, seg.end).await? {
            let detail = format!("position {pos}: {detail}; valid batches follow");
            return Err(corrupt(base, seg.end, detail));
        }
        if complete_but_damaged(file.as_ref(), pos, len).await? {
            let detail = format!("position {pos}: {detail}; a whole batch is there, damaged (not a torn append)");
            return Err(corrupt(base, seg.end, detail));
        }
        tracing::warn!(dir, segment = base, pos, dropped_bytes = len - pos, %detail, "cutting a torn append");
        file.set_len(pos).await?;
        file.sync().await?;
        report.truncated_bytes = len - pos;
    }
    for stale in [names::index(base), names::time_index(base)] {
        let _ = disk.remove_file(&join(dir, &stale)).await;
    }
    Ok(seg)
}

/// Whether the bad tail at `pos` is a whole batch whose bytes changed after it was written,
/// rather than an append cut short: its header announces exactly the bytes that are there
/// (or fewer) and only its checksum fails, or it passes its checksum once its magic, version
/// and length fields are restored to what its position implies (one of them flipped). A torn
/// append leaves a prefix of the write, which runs past the end of the file.
async fn complete_but_damaged(file: &dyn DiskFile, pos: u64, len: u64) -> io::Result<bool> {
    let tail = len - pos;
    if tail < HEADER_BYTES as u64 || tail > format::BATCH_BYTES_LIMIT as u64 {
        return Ok(false);
    }
    let mut buf = file.read_at(pos, tail as usize).await?;
    if let Ok(h) = format::parse_header(&buf) {
        if h.size() as u64 <= tail {
            return Ok(true); // whole, yet it failed its checksum
        }
    }
    buf[0] = MAGIC;
    buf[1] = format::VERSION;
    buf[format::BATCH_BYTES_AT..format::BATCH_BYTES_AT + 4].copy_from_slice(&(tail as u32).to_be_bytes());
    Ok(format::parse_header(&buf).is_ok_and(|h| format::verify(&buf, &h).is_ok()))
}

/// Whether a valid batch at offset `expected` or later starts anywhere after `bad_pos`.
async fn valid_batch_after(file: &dyn DiskFile, bad_pos: u64, len: u64, expected: u64) -> io::Result<bool> {
    let mut chunk_pos = bad_pos + 1;
    while chunk_pos < len {
        let n = (len - chunk_pos).min(SCAN_CHUNK_BYTES as u64) as usize;
        let buf = file.read_at(chunk_pos, n + HEADER_BYTES).await?;
        for i in (0..n.min(buf.len())).filter(|&i| buf[i] == MAGIC) {
            let Ok(h) = format::parse_header(&buf[i..]) else { continue };
            let q = chunk_pos + i as u64;
            let plausible = h.base_offset >= expected && h.base_offset - expected <= len;
            if !plausible || q + h.size() as u64 > len {
                continue;
            }
            let data = file.read_at(q, h.size()).await?;
            if format::verify(&data, &h).is_ok() {
                return Ok(true);
            }
        }
        chunk_pos += n as u64;
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use keel_rt::disk::{Disk, OpenMode, SimDisk};

    use super::super::{format, names};
    use crate::{LogEngine, LogError, Record, SegmentConfig, SegmentEngine};

    /// Found by fuzzing (`fuzz/fuzz_targets/segment_recovery.rs`): the last segment's first
    /// batch below the segment's base offset overflowed the span check (a panic in debug
    /// builds) before the offset check could call it what it is: corruption.
    #[tokio::test]
    async fn a_batch_below_its_segments_base_is_corruption() {
        let disk = SimDisk::new(1);
        let mut batch = Vec::new();
        format::encode(0, &[Record::new(1, None, Bytes::from_static(b"v"))], &mut batch);
        disk.create_dir_all("log").await.unwrap();
        let file = disk.open(&format!("log/{}", names::log(5)), OpenMode::Create).await.unwrap();
        file.write_at(0, &batch).await.unwrap();
        file.sync().await.unwrap();
        let opened = SegmentEngine::open(Arc::new(disk), "log", SegmentConfig::default()).await;
        assert!(matches!(opened, Err(LogError::Corrupt { offset_hint: 5, .. })), "{:?}", opened.err());
    }

    fn record(span: u32) -> Record {
        Record { span, ..Record::new(1, None, Bytes::from_static(b"v")) }
    }

    /// Writes `name` in `log/` with `data`, durably.
    async fn put(disk: &SimDisk, name: &str, data: &[u8]) {
        disk.create_dir_all("log").await.unwrap();
        let file = disk.open(&format!("log/{name}"), OpenMode::Create).await.unwrap();
        file.write_at(0, data).await.unwrap();
        file.sync().await.unwrap();
        disk.sync_dir("log").await.unwrap();
    }

    async fn open(disk: &SimDisk) -> Result<SegmentEngine, LogError> {
        SegmentEngine::open(Arc::new(disk.clone()), "log", SegmentConfig::default()).await
    }

    /// Positions and offsets are checked against `u32` relative to the segment, not absolute.
    #[tokio::test]
    async fn a_last_segment_far_into_the_log_and_its_file_reopens() {
        let disk = SimDisk::new(1);
        let log = open(&disk).await.unwrap();
        log.reset(5_000_000_000).await.unwrap();
        let big = || Record::new(1, None, Bytes::from(vec![7u8; 70_000]));
        for _ in 0..3 {
            log.append(vec![big()]).await.unwrap();
        }
        log.sync().await.unwrap();
        drop(log);
        let log = open(&disk).await.unwrap();
        assert_eq!((log.start_offset(), log.end_offset()), (5_000_000_000, 5_000_000_003));
        assert_eq!(log.read(5_000_000_002, 1).await.unwrap()[0].value.len(), 70_000);
    }

    #[tokio::test]
    async fn a_last_segment_spanning_more_offsets_than_u32_is_corruption() {
        let disk = SimDisk::new(1);
        let mut data = Vec::new();
        format::encode(0, &[record(3_000_000_000)], &mut data);
        format::encode(3_000_000_000, &[record(3_000_000_000)], &mut data);
        put(&disk, &names::log(0), &data).await;
        let opened = open(&disk).await;
        assert!(matches!(opened, Err(LogError::Corrupt { offset_hint: 3_000_000_000, .. })), "{:?}", opened.err());
    }

    /// A sealed segment with a gap between its batches (no index files: it is rebuilt).
    #[tokio::test]
    async fn a_gap_in_a_sealed_segment_is_corruption() {
        let disk = SimDisk::new(1);
        let mut data = Vec::new();
        format::encode(0, &[record(1)], &mut data);
        format::encode(2, &[record(1)], &mut data);
        put(&disk, &names::log(0), &data).await;
        put(&disk, &names::log(3), &[]).await;
        let opened = open(&disk).await;
        assert!(matches!(opened, Err(LogError::Corrupt { offset_hint: 1, .. })), "{:?}", opened.err());
    }

    /// Valid index files do not make an emptied sealed segment whole.
    #[tokio::test]
    async fn an_empty_sealed_segment_is_corruption_whatever_its_indexes_say() {
        let disk = SimDisk::new(1);
        let log = open(&disk).await.unwrap();
        log.append(vec![record(1), record(1)]).await.unwrap();
        log.seal().await.unwrap();
        log.append(vec![record(1)]).await.unwrap();
        log.sync().await.unwrap();
        drop(log);
        assert!(disk.exists(&format!("log/{}", names::time_index(0))).await.unwrap());
        let file = disk.open(&format!("log/{}", names::log(0)), OpenMode::Existing).await.unwrap();
        file.set_len(0).await.unwrap();
        file.sync().await.unwrap();
        let opened = open(&disk).await;
        assert!(matches!(opened, Err(LogError::Corrupt { offset_hint: 0, .. })), "{:?}", opened.err());
    }

    /// A whole batch of the largest size the format admits, damaged, at the end of the last
    /// segment is reported, not cut as a torn append.
    #[tokio::test]
    async fn a_damaged_batch_of_the_largest_size_is_reported() {
        let zeros = |len| Record::new(1, None, Bytes::from(vec![0u8; len]));
        let over = format::encoded_len(&[zeros(format::BATCH_BYTES_LIMIT)]) - format::BATCH_BYTES_LIMIT;
        let mut batch = Vec::new();
        format::encode(0, &[zeros(format::BATCH_BYTES_LIMIT - over)], &mut batch);
        assert_eq!(batch.len(), format::BATCH_BYTES_LIMIT);
        let last = batch.len() - 1;
        batch[last] ^= 1;
        let disk = SimDisk::new(1);
        put(&disk, &names::log(0), &batch).await;
        let opened = open(&disk).await;
        assert!(matches!(opened, Err(LogError::Corrupt { offset_hint: 0, .. })), "{:?}", opened.err());
    }
}
