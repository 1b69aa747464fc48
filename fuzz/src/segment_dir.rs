//! A segment directory as a fuzz input: the names of its files, the engine's limits, and seeds
//! written by the real segment engine (several segments with their index files, a torn tail,
//! leftovers of an interrupted truncation, a log that starts past 0).

use std::sync::Arc;

use bytes::Bytes;
use keel_rt::disk::{Disk, SimDisk};
use keel_storage::segment::names::{self, FileKind};
use keel_storage::{LogEngine, ProducerSeq, Record, SegmentConfig, SegmentEngine};

use crate::exec::block_on;
use crate::files::{self, File};

/// Where the log lives on the disk.
pub const DIR: &str = "log";

/// Small segments and a dense index, so that a few kilobytes hold several of each.
pub fn config() -> SegmentConfig {
    SegmentConfig {
        segment_bytes_max: 512,
        index_interval_bytes: 64,
        batch_bytes_max: 64 * 1024,
        cache_bytes_max: 4096,
        ..SegmentConfig::default()
    }
}

const KINDS: [FileKind; 4] = [FileKind::Log, FileKind::Index, FileKind::TimeIndex, FileKind::Temp];

/// The name an entry stands for: tag 0-3 a segment file at `base` (log, index, time index,
/// truncation leftover), anything else a foreign file the engine must ignore.
pub fn name(f: &File) -> Option<String> {
    Some(match KINDS.get(usize::from(f.tag % 5)) {
        Some(FileKind::Log) => names::log(f.base),
        Some(FileKind::Index) => names::index(f.base),
        Some(FileKind::TimeIndex) => names::time_index(f.base),
        Some(FileKind::Temp) => names::temp(f.base),
        None => "notes.txt".to_string(),
    })
}

fn entry(name: &str, bytes: Vec<u8>) -> File {
    let (base, kind) = names::parse(name).unwrap_or((0, FileKind::Log));
    let tag = if names::parse(name).is_none() { 4 } else { KINDS.iter().position(|k| *k == kind).expect("a kind") };
    File { tag: tag as u8, base, bytes }
}

fn record(i: u64) -> Record {
    let value = Bytes::from(format!("value-{i}-{}", "x".repeat((i % 5) as usize * 7)));
    let mut r = Record::new(1_000 + i, i.is_multiple_of(2).then(|| Bytes::from(format!("k{i}"))), value);
    if i.is_multiple_of(3) {
        r.producer = Some(ProducerSeq { producer_id: 7, producer_epoch: 1, sequence: i as u32 });
    }
    if i % 4 == 1 {
        r.span = 3;
    }
    r
}

/// The files of a log that starts at `start` and had `appends` batches of 1-3 records.
async fn written(start: u64, appends: u64) -> Vec<File> {
    let disk = SimDisk::new(1);
    let shared: Arc<dyn Disk> = Arc::new(disk.clone());
    let log = SegmentEngine::open(shared, DIR, config()).await.expect("a new log");
    if start > 0 {
        log.reset(start).await.expect("reset");
    }
    for i in 0..appends {
        log.append((0..1 + i % 3).map(|j| record(i * 3 + j)).collect()).await.expect("append");
    }
    log.sync().await.expect("sync");
    drop(log);
    files::from_disk(&disk, DIR).await.into_iter().map(|(n, b)| entry(&n, b)).collect()
}

/// The seed inputs.
pub fn seeds() -> Vec<Vec<u8>> {
    block_on(async {
        let one = written(0, 2).await;
        let many = written(0, 12).await;
        let mut torn = many.clone();
        let last = torn.iter_mut().rev().find(|f| f.tag == 0).expect("a log file");
        last.bytes.truncate(last.bytes.len().saturating_sub(9));
        let mut leftovers = one.clone();
        leftovers.push(File { tag: 3, base: 0, bytes: one[0].bytes.clone() });
        leftovers.push(File { tag: 1, base: 999, bytes: vec![0; 8] });
        leftovers.push(File { tag: 4, base: 0, bytes: b"not a segment".to_vec() });
        let later = written(1_000, 6).await;
        [one, many, torn, leftovers, later].iter().map(|f| files::encode(f)).collect()
    })
}
