//! Meta log recovery from arbitrary bytes as the store's directory (`log`, `vote`, `purged`):
//! the record splitter stops at the first torn or corrupt record and its prefix re-encodes to
//! the same bytes; `LogStore::open` gives a clean error or a log that opens again the same,
//! and whose truncation is what a reopen finds. Never a panic.
#![no_main]
use std::sync::Arc;

use keel::meta::log_store::{decode_records, encode_record, LogStore, StoreOptions};
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

/// The records found are the file's valid prefix, in order, and nothing else.
fn check_split(data: &[u8]) {
    let (records, end) = decode_records(data);
    assert!(end as usize <= data.len());
    let mut again = Vec::new();
    for (offset, payload) in &records {
        assert_eq!(*offset as usize, again.len(), "records are back to back");
        encode_record(payload, &mut again);
    }
    assert_eq!(&again[..], &data[..end as usize], "the valid prefix re-encodes to itself");
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
