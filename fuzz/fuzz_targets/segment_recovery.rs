//! Segment recovery from arbitrary bytes as a segment directory (logs, index files, leftovers):
//! `SegmentEngine::open` gives a clean error or a log that reads back with dense, increasing
//! offsets (or reports damage as `Corrupt`), opens again to the same range, truncates, and
//! takes and returns a new append. Never a panic or an out-of-bounds read. Once a read has
//! reported damage, the truncated log only has to open without a panic (the truncation may
//! have made the damaged segment the last, judged by the last segment's rules).
#![no_main]
use std::sync::Arc;

use bytes::Bytes;
use keel_fuzz::exec::block_on;
use keel_fuzz::segment_dir::{self, config, DIR};
use keel_fuzz::{files, seeds};
use keel_rt::disk::Disk;
use keel_storage::{LogEngine, LogError, Record, SegmentEngine};
use libfuzzer_sys::fuzz_target;

/// Reads a recovered log could need (each returns at least one record or stops the walk).
const READS_MAX: usize = 10_000;
/// Below this end offset an append must succeed (above, offsets may run out: a clean error).
const APPENDABLE_END: u64 = 1 << 62;

fuzz_target!(init: seeds::write(segment_dir::seeds), |data: &[u8]| {
    block_on(check(data));
});

async fn open(disk: &Arc<dyn Disk>) -> Result<SegmentEngine, LogError> {
    SegmentEngine::open(disk.clone(), DIR, config()).await
}

async fn check(data: &[u8]) {
    let disk: Arc<dyn Disk> = Arc::new(files::to_disk(DIR, &files::decode(data), segment_dir::name).await);
    let Ok(log) = open(&disk).await else { return };
    let (start, end) = (log.start_offset(), log.end_offset());
    assert!(start <= end && log.durable_end() == end, "[{start}, {end}) durable to {}", log.durable_end());
    let mut damaged = read_through(&log, start, end).await;
    match log.offset_for_time(1_005).await {
        Ok(at) => assert!(start <= at && at <= end, "offset_for_time gave {at} outside [{start}, {end}]"),
        Err(LogError::Corrupt { .. }) => damaged = true,
        Err(e) => panic!("offset_for_time: {e}"),
    }
    drop(log);

    let log = open(&disk).await.expect("a recovered log opens again");
    assert_eq!((log.start_offset(), log.end_offset()), (start, end), "recovery is idempotent");
    let mid = start + (end - start) / 2;
    match log.truncate(mid).await {
        Ok(()) => assert!(start <= log.end_offset() && log.end_offset() <= mid),
        Err(LogError::Corrupt { .. }) => return,
        Err(e) => panic!("truncate to {mid} in [{start}, {end}]: {e}"),
    }
    let end = log.end_offset();
    drop(log);

    if damaged {
        // The truncation may have made a damaged segment the last one, which recovery judges
        // by the last segment's rules (refused, or cut like a torn append): only no panic.
        let _ = open(&disk).await;
        return;
    }
    let log = open(&disk).await.expect("a truncated log without damage opens again");
    assert_eq!(log.end_offset(), end, "a truncation is durable");
    let appended = log.append(vec![Record::new(2_000, None, Bytes::from_static(b"after recovery"))]).await;
    let base = match appended {
        Ok((base, last)) => {
            assert_eq!((base, last), (end, end));
            base
        }
        Err(e) if end >= APPENDABLE_END => return drop(e),
        Err(e) => panic!("append at {end}: {e}"),
    };
    let back = log.read(base, 1 << 16).await.expect("the new record reads back");
    assert_eq!((back[0].offset, &back[0].value[..]), (base, &b"after recovery"[..]));
}

/// Reads `[start, end)` in steps: every read returns the record holding its offset and those
/// after it, densely, up to `end`; damage is reported (`Corrupt`: true) and ends the walk.
async fn read_through(log: &SegmentEngine, start: u64, end: u64) -> bool {
    let mut from = start;
    for _ in 0..READS_MAX {
        if from >= end {
            return false;
        }
        let records = match log.read(from, 1024).await {
            Ok(records) => records,
            Err(LogError::Corrupt { .. }) => return true,
            Err(e) => panic!("read at {from} in [{start}, {end}): {e}"),
        };
        let first = records.first().unwrap_or_else(|| panic!("nothing read at {from} below the end {end}"));
        assert!(first.offset <= from && from < first.end_offset(), "read at {from} began at {}", first.offset);
        for pair in records.windows(2) {
            assert_eq!(pair[1].offset, pair[0].end_offset(), "offsets dense and increasing");
        }
        from = records.last().expect("not empty").end_offset();
        assert!(from <= end, "a record past the end {end}");
    }
    panic!("{READS_MAX} reads did not reach the end {end} from {start}");
}
