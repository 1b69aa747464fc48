//! The meta Raft log and vote, persisted through the disk seam.
//!
//! Files under the store's directory (byte layouts in `docs/meta-store.md`):
//! - `vote`: the current vote, replaced atomically (see [`keel_rt::disk::write_atomic`]);
//! - `log`: entries appended as records `[len u32 BE][crc32c u32 BE][json entry]`;
//! - `purged`: the id of the last purged entry, replaced atomically; never past the last
//!   snapshot on disk ([`SnapshotMark`]); the log is purged up to whichever of the two is later.
//!
//! Nothing is reported saved before it is synced: `save_vote` returns after the vote file and
//! its directory are synced; `append` calls openraft's flush callback only after the log file
//! is synced (one sync for the whole batch). A torn or corrupt record at the tail of `log` is
//! an append that never completed: recovery truncates it. An entry whose index does not go
//! past the one before it is damage, and recovery refuses the log. Purged entries are dropped from
//! memory at once and from the file when enough of them pile up (a rewrite through a temporary
//! file and an atomic rename). openraft may purge up to a snapshot a follower is still
//! installing; the file then records the purge only as far as the durable snapshot reaches
//! (later purges move it on), so that a crash never leaves the log purged past the snapshot
//! that survives it.
//!
//! `StoreOptions::unsafe_ack_before_sync` exists only so the simulation can show it catches
//! the bug it introduces: acknowledging votes and appends before they are durable.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex};

use keel_rt::disk::{self, Disk, DiskFile, OpenMode};
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, LogState, RaftLogId, RaftLogReader};

use super::state_machine::SnapshotMark;
use super::types::{Entry, LogId, StorageError, TypeConfig, Vote};

/// Bytes of a record header: length and CRC32C.
const RECORD_HEADER_BYTES: u64 = 8;
/// The largest entry accepted when reading the log back, in bytes.
const ENTRY_BYTES_MAX: u32 = 64 * 1024 * 1024;
/// Purged bytes at the head of the file past which the file is rewritten.
const COMPACT_BYTES_MIN: u64 = 1024 * 1024;

/// Switches for the store; defaults are the only safe choice.
#[derive(Clone, Debug, Default)]
pub struct StoreOptions {
    /// TEST ONLY: acknowledge votes and appends before syncing them.
    pub unsafe_ack_before_sync: bool,
    /// TEST ONLY: shard replicas report appends durable without syncing them.
    pub unsafe_shard_ack_before_sync: bool,
    /// Shard followers leave the ISR after lagging this long (default: the replication
    /// default). Lets a simulation make out-of-sync replicas common.
    pub shard_lag_ms_max: Option<u64>,
    /// TEST ONLY: the scheduler elects out-of-sync shard replicas (see `ScheduleConfig`).
    pub unsafe_elect_out_of_sync: bool,
    /// Segment size of `segment` shard logs (default: the engine's), so a short simulation
    /// rolls segments and applies retention.
    pub shard_segment_bytes_max: Option<u64>,
    /// TEST ONLY: brokers acknowledge MQTT QoS 1/2 publishes before the log has them.
    pub unsafe_mqtt_ack_before_append: bool,
}

/// One entry in memory, with where its record starts in the file.
#[derive(Clone)]
struct Slot {
    entry: Entry,
    offset: u64,
}

type Entries = Arc<Mutex<BTreeMap<u64, Slot>>>;

/// Reads entries for replication; shares the log's memory.
#[derive(Clone)]
pub struct LogReader {
    entries: Entries,
}

/// The Raft log storage of one meta node.
pub struct LogStore {
    disk: Arc<dyn Disk>,
    dir: String,
    file: Box<dyn DiskFile>,
    end: u64,
    entries: Entries,
    vote: Option<Vote>,
    purged: Option<LogId>,
    /// The purge the `purged` file records: `purged` held back to the durable snapshot.
    purged_on_disk: Option<LogId>,
    snapshot_mark: SnapshotMark,
    options: StoreOptions,
}

fn io_err(subject: ErrorSubject<u64>, verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError {
    StorageError::from(openraft::StorageIOError::new(subject, verb, openraft::AnyError::new(&e)))
}

fn log_err(verb: ErrorVerb, e: io::Error) -> StorageError {
    io_err(ErrorSubject::Logs, verb, e)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Encodes one log record.
pub fn encode_record(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Splits `data` into record payloads with their offsets; stops at the first torn or corrupt
/// record and returns where the valid prefix ends.
pub fn decode_records(data: &[u8]) -> (Vec<(u64, &[u8])>, u64) {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while data.len() - pos >= RECORD_HEADER_BYTES as usize {
        let len = u32::from_be_bytes(data[pos..pos + 4].try_into().expect("4 bytes"));
        let crc = u32::from_be_bytes(data[pos + 4..pos + 8].try_into().expect("4 bytes"));
        let start = pos + RECORD_HEADER_BYTES as usize;
        if len > ENTRY_BYTES_MAX || data.len() - start < len as usize {
            break;
        }
        let payload = &data[start..start + len as usize];
        if crc32c::crc32c(payload) != crc {
            break;
        }
        out.push((pos as u64, payload));
        pos = start + len as usize;
    }
    (out, pos as u64)
}

impl LogStore {
    /// Opens (or creates) the log under `dir`, recovering from a crash.
    pub async fn open(
        disk: Arc<dyn Disk>,
        dir: &str,
        snapshot_mark: SnapshotMark,
        options: StoreOptions,
    ) -> io::Result<Self> {
        disk.create_dir_all(dir).await?;
        let vote = match disk::read_all(disk.as_ref(), &format!("{dir}/vote")).await? {
            Some(b) => Some(decode_checked(&b)?),
            None => None,
        };
        let purged: Option<LogId> = match disk::read_all(disk.as_ref(), &format!("{dir}/purged")).await? {
            Some(b) => decode_checked(&b)?,
            None => None,
        };
        // A purge held back by the snapshot mark is complete once the snapshot is on disk: the
        // log may hold entries only past it (a lagging follower's log jumps to the snapshot).
        let purged = purged.max(snapshot_mark.get());
        let path = format!("{dir}/log");
        let file = disk.open(&path, OpenMode::Create).await?;
        disk.sync_dir(dir).await?;
        let len = file.len().await?;
        let data = file.read_at(0, len as usize).await?;
        if data.len() as u64 != len {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short read of the raft log"));
        }
        let (records, end) = decode_records(&data);
        if end < len {
            tracing::warn!(dir, dropped_bytes = len - end, "truncating a torn tail of the raft log");
            file.set_len(end).await?;
            file.sync().await?;
        }
        let mut entries = BTreeMap::new();
        for (offset, payload) in records {
            let entry: Entry = serde_json::from_slice(payload).map_err(io::Error::other)?;
            if purged.is_some_and(|p| entry.log_id.index <= p.index) {
                continue;
            }
            if let Some((&last, _)) = entries.last_key_value() {
                // Appends only go forward and a truncation cuts the file: an entry at or below
                // the one before it is a damaged record that passed its CRC, not a torn append.
                if entry.log_id.index <= last {
                    let detail = format!("raft log entry {} at byte {offset} follows entry {last}", entry.log_id.index);
                    return Err(io::Error::new(io::ErrorKind::InvalidData, detail));
                }
            }
            entries.insert(entry.log_id.index, Slot { entry, offset });
        }
        Ok(LogStore {
            disk,
            dir: dir.to_string(),
            file,
            end,
            entries: Arc::new(Mutex::new(entries)),
            vote,
            purged,
            purged_on_disk: purged,
            snapshot_mark,
            options,
        })
    }

    async fn write_small(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let path = format!("{}/{name}", self.dir);
        let framed = encode_checked(bytes);
        if self.options.unsafe_ack_before_sync {
            let f = self.disk.open(&path, OpenMode::Create).await?;
            f.set_len(0).await?;
            return f.write_at(0, &framed).await;
        }
        disk::write_atomic(self.disk.as_ref(), &path, &framed).await
    }

    /// The index of the last entry in the log (as opened, or as appended since).
    pub fn last_index(&self) -> Option<u64> {
        lock(&self.entries).keys().next_back().copied().or(self.purged.map(|p| p.index))
    }

    /// Rewrites the file without the purged head once it is large enough (and the `purged`
    /// file covers all of it).
    async fn maybe_compact(&mut self) -> io::Result<()> {
        if self.purged_on_disk != self.purged {
            return Ok(());
        }
        let first = lock(&self.entries).values().next().map(|s| s.offset).unwrap_or(self.end);
        if first < COMPACT_BYTES_MIN {
            return Ok(());
        }
        let tmp = format!("{}/log.compact", self.dir);
        let f = self.disk.open(&tmp, OpenMode::Create).await?;
        f.set_len(0).await?;
        let tail = self.file.read_at(first, (self.end - first) as usize).await?;
        f.write_at(0, &tail).await?;
        f.sync().await?;
        self.disk.rename(&tmp, &format!("{}/log", self.dir)).await?;
        self.disk.sync_dir(&self.dir).await?;
        for slot in lock(&self.entries).values_mut() {
            slot.offset -= first;
        }
        self.end -= first;
        self.file = f;
        Ok(())
    }
}

/// One checked record holding `bytes`: the layout of every small metadata file.
pub(crate) fn encode_checked(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 8);
    encode_record(bytes, &mut out);
    out
}

/// The JSON value in a file written by [`encode_checked`].
pub(crate) fn decode_checked<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    let (records, _) = decode_records(bytes);
    let (_, payload) =
        records.first().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "corrupt metadata file"))?;
    serde_json::from_slice(payload).map_err(io::Error::other)
}

impl RaftLogReader<TypeConfig> for LogReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        Ok(lock(&self.entries).range(range).map(|(_, s)| s.entry.clone()).collect())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        Ok(lock(&self.entries).range(range).map(|(_, s)| s.entry.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogReader;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last = lock(&self.entries).values().next_back().map(|s| *s.entry.get_log_id());
        Ok(LogState { last_purged_log_id: self.purged, last_log_id: last.or(self.purged) })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        LogReader { entries: self.entries.clone() }
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(vote).map_err(|e| io_err(ErrorSubject::Vote, ErrorVerb::Write, e))?;
        self.write_small("vote", &bytes).await.map_err(|e| io_err(ErrorSubject::Vote, ErrorVerb::Write, e))?;
        self.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.vote)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut buf = Vec::new();
        let mut slots = Vec::new();
        for entry in entries {
            let payload = serde_json::to_vec(&entry).map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Write, e))?;
            slots.push(Slot { offset: self.end + buf.len() as u64, entry });
            encode_record(&payload, &mut buf);
        }
        if let Err(e) = self.file.write_at(self.end, &buf).await {
            callback.log_io_completed(Err(io::Error::new(e.kind(), e.to_string())));
            return Err(log_err(ErrorVerb::Write, e));
        }
        self.end += buf.len() as u64;
        {
            let mut m = lock(&self.entries);
            for s in slots {
                m.insert(s.entry.log_id.index, s);
            }
        }
        if self.options.unsafe_ack_before_sync {
            callback.log_io_completed(Ok(()));
            return Ok(());
        }
        if keel_rt::fault::point("meta.log.slow_sync") {
            keel_rt::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        match self.file.sync().await {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(io::Error::new(e.kind(), e.to_string())));
                Err(log_err(ErrorVerb::Write, e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let cut = {
            let mut m = lock(&self.entries);
            let cut = m.range(log_id.index..).next().map(|(_, s)| s.offset);
            m.retain(|i, _| *i < log_id.index);
            cut
        };
        if let Some(offset) = cut {
            self.file.set_len(offset).await.map_err(|e| log_err(ErrorVerb::Delete, e))?;
            self.file.sync().await.map_err(|e| log_err(ErrorVerb::Delete, e))?;
            self.end = offset;
        }
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let durable = Some(log_id).min(self.snapshot_mark.get().or(self.purged_on_disk));
        if durable > self.purged_on_disk {
            let bytes = serde_json::to_vec(&durable).map_err(log_err_json)?;
            self.write_small("purged", &bytes).await.map_err(|e| log_err(ErrorVerb::Delete, e))?;
            self.purged_on_disk = durable;
        }
        self.purged = Some(log_id);
        lock(&self.entries).retain(|i, _| *i > log_id.index);
        self.maybe_compact().await.map_err(|e| log_err(ErrorVerb::Delete, e))
    }
}

fn log_err_json(e: serde_json::Error) -> StorageError {
    io_err(ErrorSubject::Logs, ErrorVerb::Write, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_roundtrip_and_stop_at_a_torn_tail() {
        let mut buf = Vec::new();
        encode_record(b"one", &mut buf);
        encode_record(b"two", &mut buf);
        let full = buf.len() as u64;
        let (recs, end) = decode_records(&buf);
        assert_eq!(recs, vec![(0, &b"one"[..]), (11, &b"two"[..])]);
        assert_eq!(end, full);
        for cut in 12..buf.len() {
            let (recs, end) = decode_records(&buf[..cut]);
            assert_eq!((recs.len(), end), (1, 11), "cut at {cut}");
        }
        let mut flipped = buf.clone();
        flipped[20] ^= 0x10;
        assert_eq!(decode_records(&flipped).1, 11, "a corrupt record ends the valid prefix");
    }

    #[test]
    fn record_layout_is_length_crc_payload() {
        let mut buf = Vec::new();
        encode_record(b"a", &mut buf);
        let crc = crc32c::crc32c(b"a").to_be_bytes();
        assert_eq!(buf, [&[0, 0, 0, 1][..], &crc, b"a"].concat());
    }

    fn log_id(index: u64) -> LogId {
        LogId::new(openraft::CommittedLeaderId::new(1, 1), index)
    }

    async fn open(disk: &keel_rt::disk::SimDisk, mark: &SnapshotMark) -> LogStore {
        LogStore::open(Arc::new(disk.clone()), "raft", mark.clone(), StoreOptions::default()).await.unwrap()
    }

    async fn purged_and_first(log: &mut LogStore) -> (Option<u64>, Option<u64>) {
        let state = log.get_log_state().await.unwrap();
        let first = log.try_get_log_entries(0..100).await.unwrap().first().map(|e| e.log_id.index);
        (state.last_purged_log_id.map(|l| l.index), first)
    }

    fn records(indexes: std::ops::RangeInclusive<u64>) -> Vec<u8> {
        let mut buf = Vec::new();
        for i in indexes {
            let entry = Entry { log_id: log_id(i), payload: openraft::EntryPayload::Blank };
            encode_record(&serde_json::to_vec(&entry).unwrap(), &mut buf);
        }
        buf
    }

    async fn write_log(disk: &keel_rt::disk::SimDisk, at: u64, bytes: &[u8]) {
        disk.create_dir_all("raft").await.unwrap();
        let file = disk.open("raft/log", OpenMode::Create).await.unwrap();
        file.write_at(at, bytes).await.unwrap();
        file.sync().await.unwrap();
    }

    /// Found by fuzzing (`fuzz/fuzz_targets/meta_log.rs`): a log holding entry 1 twice (a
    /// record repeated whole, its CRC with it) opened, and a truncation then cut the file at the
    /// second copy while the first stayed on disk: the reopened log had an entry the truncated
    /// one had not. Entries that do not go forward are damage, refused at open.
    #[tokio::test]
    async fn entries_that_do_not_go_forward_are_refused() {
        let disk = keel_rt::disk::SimDisk::new(1);
        let mut log = records(0..=1);
        log.extend_from_slice(&records(1..=2));
        write_log(&disk, 0, &log).await;
        let opened = LogStore::open(Arc::new(disk), "raft", SnapshotMark::default(), StoreOptions::default()).await;
        let err = opened.err().expect("a repeated entry is refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("entry 1 at byte"), "{err}");
    }

    #[tokio::test]
    async fn a_follower_that_lagged_behind_its_snapshot_reopens_past_it() {
        let disk = keel_rt::disk::SimDisk::new(1);
        let head = records(1..=3);
        write_log(&disk, 0, &head).await;
        let mark = SnapshotMark::default();
        let mut log = open(&disk, &mark).await;
        // A snapshot at 6 arrives; openraft purges to 6 before the snapshot is on disk.
        log.purge(log_id(6)).await.unwrap();
        mark.advance(Some(log_id(6)));
        // The leader goes on from 7 (written as the appends would).
        write_log(&disk, head.len() as u64, &records(7..=8)).await;
        disk.crash();
        let mut log = open(&disk, &mark).await;
        assert_eq!(purged_and_first(&mut log).await, (Some(6), Some(7)), "no hole between 3 and 7");
        assert_eq!(log.get_log_state().await.unwrap().last_log_id.map(|l| l.index), Some(8));
    }

    #[tokio::test]
    async fn a_purge_is_recorded_no_further_than_the_durable_snapshot() {
        let disk = keel_rt::disk::SimDisk::new(1);
        let buf = records(1..=5);
        write_log(&disk, 0, &buf).await;
        let mark = SnapshotMark::default();
        mark.advance(Some(log_id(2)));

        // openraft purges to 4 while the snapshot at 4 is still being installed.
        let mut log = open(&disk, &mark).await;
        log.purge(log_id(4)).await.unwrap();
        assert_eq!(purged_and_first(&mut log).await, (Some(4), Some(5)), "openraft sees its purge");
        disk.crash();
        let mut log = open(&disk, &mark).await;
        assert_eq!(purged_and_first(&mut log).await, (Some(2), Some(3)), "the disk keeps what the snapshot lacks");

        // Once the snapshot is durable, the next purge records all of it.
        mark.advance(Some(log_id(4)));
        log.purge(log_id(4)).await.unwrap();
        disk.crash();
        let mut log = open(&disk, &mark).await;
        assert_eq!(purged_and_first(&mut log).await, (Some(4), Some(5)));
    }
}
