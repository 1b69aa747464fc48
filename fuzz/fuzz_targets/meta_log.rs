//! Meta log recovery from arbitrary bytes as the store's directory (`log`, `vote`, `purged`):
//! the log scanner's valid records re-encode to the bytes they came from, with increasing
//! indexes, and what follows them is clean, a torn append or damage inside the file;
//! `LogStore::open` gives a clean error (damage included) or a log that opens again the same,
//! and whose truncation is what a reopen finds. Never a panic.
#![no_main]
use std::sync::Arc;

use keel::meta::log_store::{LogStore, StoreOptions};
use keel::meta::store_format::{encode_record, scan_log, Tail, FILE_HEADER_BYTES};
use keel::meta::state_machine::SnapshotMark;
use keel::meta::types::{Entry, LogId, Vote};
use keel_fuzz::exec::block_on;
use keel_fuzz::meta_dir::{self, DIR};
use keel_fuzz::{files, seeds};
use keel_rt::disk::Disk;
use libfuzzer_sys::fuzz_target;
use openraft::storage::RaftLogStorage;
use openraft::RaftLogReader;

fuzz_target!(init: seeds::write(meta_dir::seeds), |data: &[u8]| {
    let files = files::decode(data);
    for f in &files {
        check_split(&f.bytes);
    }
    block_on(check_store(&files));
});

/// The records found are the file's valid prefix, in order, and what follows is classified
/// within the file.
fn check_split(data: &[u8]) {
    let Ok((records, tail)) = scan_log("log", data) else { return };
    let mut again = data[..FILE_HEADER_BYTES].to_vec();
    for r in &records {
        assert_eq!(r.offset as usize, again.len(), "records are back to back");
        encode_record(r.index, r.payload, &mut again);
    }
    assert_eq!(&again[..], &data[..again.len()], "the valid prefix re-encodes to itself");
    assert!(records.windows(2).all(|w| w[0].index < w[1].index), "indexes increase");
    match tail {
        Tail::Clean => assert_eq!(again.len(), data.len(), "clean: the records fill the file"),
        Tail::Torn { at } => assert_eq!(at as usize, again.len(), "a torn append starts after the valid records"),
        Tail::Damaged(d) => assert!(d.offset as usize <= data.len(), "damage inside the file"),
    }
}

/// What a store holds: purge mark, last log id, vote, entries.
type Seen = (Option<LogId>, Option<LogId>, Option<Vote>, Vec<Entry>);

async fn seen(store: &mut LogStore) -> Seen {
    let state = store.get_log_state().await.expect("state");
    let entries = store.try_get_log_entries(..).await.expect("entries");
    let vote = store.read_vote().await.expect("vote");
    (state.last_purged_log_id, state.last_log_id, vote, entries)
}

async fn open(disk: &Arc<dyn Disk>) -> std::io::Result<LogStore> {
    LogStore::open(disk.clone(), DIR, SnapshotMark::default(), StoreOptions::default()).await
}

async fn check_store(files: &[files::File]) {
    let disk: Arc<dyn Disk> = Arc::new(files::to_disk(DIR, files, meta_dir::name).await);
    let Ok(mut store) = open(&disk).await else { return };
    let before = seen(&mut store).await;
    let (purged, last, _, entries) = &before;
    for e in entries {
        assert!(
            purged.is_none_or(|p| e.log_id.index > p.index),
            "{:?} kept at or below the purge {purged:?}",
            e.log_id
        );
    }
    assert_eq!(*last, entries.last().map(|e| e.log_id).or(*purged), "the last log id is the last entry's");
    drop(store);

    let mut store = open(&disk).await.expect("a recovered log opens again");
    assert!(seen(&mut store).await == before, "recovery is idempotent");
    let Some(cut) = entries.get(entries.len() / 2).map(|e| e.log_id) else { return };
    store.truncate(cut).await.expect("truncate");
    let kept = seen(&mut store).await;
    assert!(kept.3.iter().all(|e| e.log_id.index < cut.index));
    drop(store);
    let mut store = open(&disk).await.expect("a truncated log opens again");
    assert!(seen(&mut store).await == kept, "a reopened log is what the truncation left");
}
