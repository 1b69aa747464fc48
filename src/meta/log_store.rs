//! The meta Raft log and vote, persisted through the disk seam.
//!
//! Files under the store's directory (byte layouts in `docs/meta-store.md`, encoding in
//! [`super::store_format`]):
//! - `vote`: the current vote, replaced atomically (see [`keel_rt::disk::write_atomic`]);
//! - `log`: entries appended as checked records, each carrying its log index;
//! - `purged`: the id of the last purged entry, replaced atomically; never past the last
//!   snapshot on disk ([`SnapshotMark`]); the log is purged up to whichever of the two is later.
//!
//! Nothing is reported saved before it is synced: `save_vote` returns after the vote file and
//! its directory are synced; `append` calls openraft's flush callback only after the log file
//! is synced (one sync for the whole batch). On opening, an append that never completed (a
//! torn tail) is cut; damage to synced data, in any of the files, fails `open` with a
//! [`MetaDamage`] naming the file and offset: a node must not take part in Raft having lost
//! entries or a vote it acknowledged (the operator's way out is in the error and in
//! `docs/meta-store.md`). Purged entries are dropped from
//! memory at once and from the file when enough of them pile up (a rewrite through a temporary
//! file and an atomic rename). openraft may purge up to a snapshot a follower is still
//! installing; the file then records the purge only as far as the durable snapshot reaches
//! (later purges move it on), so that a crash never leaves the log purged past the snapshot
//! that survives it.
//!
//! `StoreOptions::unsafe_ack_before_sync` and `unsafe_truncate_damaged_log` exist only so the
//! simulation can show it catches the bugs they introduce: acknowledging votes and appends
//! before they are durable, and cutting a damaged synced record as if it were a torn append.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::sync::{Arc, Mutex};

use keel_rt::disk::{self, Disk, DiskFile, OpenMode};
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, LogState, RaftLogId, RaftLogReader};

use super::state_machine::SnapshotMark;
use super::store_format::{self as format, FileKind, MetaDamage, Tail, FILE_HEADER_BYTES};
use super::types::{Entry, LogId, StorageError, TypeConfig, Vote};

/// Purged bytes at the head of the file past which the file is rewritten.
const COMPACT_BYTES_MIN: u64 = 1024 * 1024;

/// Switches for the store; defaults are the only safe choice.
#[derive(Clone, Debug, Default)]
pub struct StoreOptions {
    /// TEST ONLY: acknowledge votes and appends before syncing them.
    pub unsafe_ack_before_sync: bool,
    /// TEST ONLY: cut the meta log at a damaged synced record, as if it were a torn append,
    /// instead of refusing to start (what the store did before format 2).
    pub unsafe_truncate_damaged_log: bool,
    /// TEST ONLY: shard replicas report appends durable without syncing them.
    pub unsafe_shard_ack_before_sync: bool,
    /// TEST ONLY: shard leaders acknowledge produces once in their own log, unsynced, before
    /// any follower has them (`storage.unsafe_ack_before_replication`, debug builds only).
    pub unsafe_ack_before_replication: bool,
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

impl LogStore {
    /// Opens (or creates) the log under `dir`, recovering from a crash.
    pub async fn open(
        disk: Arc<dyn Disk>,
        dir: &str,
        snapshot_mark: SnapshotMark,
        options: StoreOptions,
    ) -> io::Result<Self> {
        disk.create_dir_all(dir).await?;
        let vote: Option<Vote> = read_small(disk.as_ref(), dir, "vote", FileKind::Vote).await?;
        let purged: Option<LogId> = read_small(disk.as_ref(), dir, "purged", FileKind::Purged).await?.flatten();
        // A purge held back by the snapshot mark is complete once the snapshot is on disk: the
        // log may hold entries only past it (a lagging follower's log jumps to the snapshot).
        let purged = purged.max(snapshot_mark.get());
        let path = format!("{dir}/log");
        let file = disk.open(&path, OpenMode::Create).await?;
        disk.sync_dir(dir).await?;
        let data = read_log(file.as_ref(), &path).await?;
        let (records, tail) = format::scan_log(&path, &data)?;
        let end = match tail {
            Tail::Clean => data.len() as u64,
            Tail::Torn { at } => at,
            Tail::Damaged(d) if options.unsafe_truncate_damaged_log => d.offset,
            Tail::Damaged(d) => return Err(d.into()),
        };
        if end < data.len() as u64 {
            tracing::warn!(
                dir,
                at = end,
                dropped_bytes = data.len() as u64 - end,
                "cutting a torn append of the raft log"
            );
            file.set_len(end).await?;
            file.sync().await?;
        }
        let mut entries = BTreeMap::new();
        for r in records {
            let undecodable = |detail: String| MetaDamage::new(&path, r.offset, detail);
            let entry: Entry =
                serde_json::from_slice(r.payload).map_err(|e| undecodable(format!("entry does not decode: {e}")))?;
            if entry.log_id.index != r.index {
                return Err(
                    undecodable(format!("entry {} in a record of index {}", entry.log_id.index, r.index)).into()
                );
            }
            if purged.is_some_and(|p| entry.log_id.index <= p.index) {
                continue;
            }
            entries.insert(entry.log_id.index, Slot { entry, offset: r.offset });
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

    async fn write_small<T: serde::Serialize>(&self, name: &str, kind: FileKind, value: &T) -> io::Result<()> {
        let path = format!("{}/{name}", self.dir);
        let framed = format::encode_file(kind, value)?;
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
        let mut data = format::file_header(FileKind::Log).to_vec();
        data.extend(self.file.read_at(first, (self.end - first) as usize).await?);
        f.write_at(0, &data).await?;
        f.sync().await?;
        self.disk.rename(&tmp, &format!("{}/log", self.dir)).await?;
        self.disk.sync_dir(&self.dir).await?;
        let moved = first - FILE_HEADER_BYTES as u64;
        for slot in lock(&self.entries).values_mut() {
            slot.offset -= moved;
        }
        self.end -= moved;
        self.file = f;
        Ok(())
    }
}

/// The value of the small file `name` under `dir`, `None` if there is no such file.
async fn read_small<T: serde::de::DeserializeOwned>(
    disk: &dyn Disk,
    dir: &str,
    name: &str,
    kind: FileKind,
) -> io::Result<Option<T>> {
    let path = format!("{dir}/{name}");
    match disk::read_all(disk, &path).await? {
        Some(data) => format::decode_file(&path, kind, &data).map(Some),
        None => Ok(None),
    }
}

/// The whole `log` file, given a header first if it has none yet: a new file, or one whose
/// creation a crash interrupted (a prefix of the header, never any record).
async fn read_log(file: &dyn DiskFile, path: &str) -> io::Result<Vec<u8>> {
    let len = file.len().await?;
    let data = file.read_at(0, len as usize).await?;
    if data.len() as u64 != len {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("short read of {path}")));
    }
    let header = format::file_header(FileKind::Log);
    if data.len() >= FILE_HEADER_BYTES || !header.starts_with(&data) {
        return Ok(data);
    }
    file.set_len(0).await?;
    file.write_at(0, &header).await?;
    file.sync().await?;
    Ok(header.to_vec())
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
        let written = self.write_small("vote", FileKind::Vote, vote).await;
        written.map_err(|e| io_err(ErrorSubject::Vote, ErrorVerb::Write, e))?;
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
            format::encode_record(slots.last().expect("just pushed").entry.log_id.index, &payload, &mut buf);
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
            let written = self.write_small("purged", FileKind::Purged, &durable).await;
            written.map_err(|e| log_err(ErrorVerb::Delete, e))?;
            self.purged_on_disk = durable;
        }
        self.purged = Some(log_id);
        lock(&self.entries).retain(|i, _| *i > log_id.index);
        self.maybe_compact().await.map_err(|e| log_err(ErrorVerb::Delete, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            format::encode_record(i, &serde_json::to_vec(&entry).unwrap(), &mut buf);
        }
        buf
    }

    /// Appends `bytes` to the log file (created with its header if missing) and syncs it.
    async fn write_log(disk: &keel_rt::disk::SimDisk, bytes: &[u8]) {
        disk.create_dir_all("raft").await.unwrap();
        let file = disk.open("raft/log", OpenMode::Create).await.unwrap();
        let mut at = file.len().await.unwrap();
        if at == 0 {
            file.write_at(0, &format::file_header(FileKind::Log)).await.unwrap();
            at = FILE_HEADER_BYTES as u64;
        }
        file.write_at(at, bytes).await.unwrap();
        file.sync().await.unwrap();
        disk.sync_dir("raft").await.unwrap();
    }

    #[test]
    fn the_vote_file_is_laid_out_as_documented() {
        let data = format::encode_file(FileKind::Vote, &Vote::new_committed(3, 2)).unwrap();
        let json = br#"{"leader_id":{"term":3,"voted_for":2},"committed":true}"#;
        assert_eq!(data[..12], [0x4b, 0x4d, 0x45, 0x54, 2, 0x56, 0, 0, 0, 0, 0, 55]);
        assert_eq!(data[12..20], [0; 8]);
        let crc = crc32c::crc32c_append(crc32c::crc32c(&data[8..20]), json).to_be_bytes();
        assert_eq!((&data[20..24], &data[24..], data.len()), (&crc[..], &json[..], 79));
    }

    async fn try_open(disk: &keel_rt::disk::SimDisk, options: StoreOptions) -> io::Result<LogStore> {
        LogStore::open(Arc::new(disk.clone()), "raft", SnapshotMark::default(), options).await
    }

    async fn read_file(disk: &keel_rt::disk::SimDisk, path: &str) -> Vec<u8> {
        disk::read_all(disk, path).await.unwrap().unwrap()
    }

    /// A store with entries 1..=5 synced and a vote saved; returns the log file.
    async fn synced_log(disk: &keel_rt::disk::SimDisk) -> Vec<u8> {
        write_log(disk, &records(1..=3)).await;
        write_log(disk, &records(4..=5)).await;
        try_open(disk, StoreOptions::default()).await.unwrap().save_vote(&Vote::new(2, 1)).await.unwrap();
        read_file(disk, "raft/log").await
    }

    async fn last_index(disk: &keel_rt::disk::SimDisk, options: StoreOptions) -> Option<u64> {
        try_open(disk, options).await.unwrap().last_index()
    }

    #[tokio::test]
    async fn a_torn_append_is_cut_and_the_synced_entries_stay() {
        let disk = keel_rt::disk::SimDisk::new(1);
        let synced = synced_log(&disk).await;
        // A crash kept a prefix of the next append (entries 6..=8): its last record is cut short.
        let batch = records(6..=8);
        write_raw(&disk, synced.len() as u64, &batch[..batch.len() - 5]).await;
        assert_eq!(last_index(&disk, StoreOptions::default()).await, Some(7), "6 and 7 whole, 8 torn");
        assert_eq!(read_file(&disk, "raft/log").await.len(), synced.len() + batch.len() / 3 * 2, "cut after 7");
    }

    async fn write_raw(disk: &keel_rt::disk::SimDisk, at: u64, bytes: &[u8]) {
        let file = disk.open("raft/log", OpenMode::Existing).await.unwrap();
        file.write_at(at, bytes).await.unwrap();
        file.sync().await.unwrap();
    }

    #[tokio::test]
    async fn a_flip_in_a_synced_record_is_reported_as_damage_not_cut() {
        for at in [FILE_HEADER_BYTES + 20, 200, 3 * 100 + 40] {
            let disk = keel_rt::disk::SimDisk::new(1);
            let synced = synced_log(&disk).await;
            let at = at.min(synced.len() - 2); // the last bytes: the last synced record
            write_raw(&disk, at as u64, &[synced[at] ^ 0x08]).await;
            let e = try_open(&disk, StoreOptions::default()).await.err().expect("damage is an error");
            let damage = MetaDamage::find(&e).unwrap_or_else(|| panic!("not a damage report: {e}"));
            assert_eq!(damage.file, "raft/log");
            assert_eq!(read_file(&disk, "raft/log").await.len(), synced.len(), "nothing cut");
            let unsafe_cut = StoreOptions { unsafe_truncate_damaged_log: true, ..StoreOptions::default() };
            assert!(last_index(&disk, unsafe_cut).await < Some(5), "the planted bug cuts synced entries");
        }
    }

    #[tokio::test]
    async fn a_flip_in_the_vote_or_purged_file_is_reported_as_damage() {
        for name in ["vote", "purged"] {
            let disk = keel_rt::disk::SimDisk::new(1);
            synced_log(&disk).await;
            let mark = SnapshotMark::default();
            let mut log = open(&disk, &mark).await;
            mark.advance(Some(log_id(2)));
            log.purge(log_id(2)).await.unwrap();
            let path = format!("raft/{name}");
            let mut data = read_file(&disk, &path).await;
            let at = data.len() - 3;
            data[at] ^= 0x01;
            disk::write_atomic(&disk, &path, &data).await.unwrap();
            let e = try_open(&disk, StoreOptions::default()).await.err().expect("damage is an error");
            assert_eq!(MetaDamage::find(&e).map(|d| d.file.as_str()), Some(path.as_str()), "{e}");
        }
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
        write_log(&disk, &log).await;
        let err = try_open(&disk, StoreOptions::default()).await.err().expect("a repeated entry is refused");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(MetaDamage::find(&err).is_some_and(|d| d.file == "raft/log"), "reported as damage: {err}");
    }

    #[tokio::test]
    async fn a_follower_that_lagged_behind_its_snapshot_reopens_past_it() {
        let disk = keel_rt::disk::SimDisk::new(1);
        let head = records(1..=3);
        write_log(&disk, &head).await;
        let mark = SnapshotMark::default();
        let mut log = open(&disk, &mark).await;
        // A snapshot at 6 arrives; openraft purges to 6 before the snapshot is on disk.
        log.purge(log_id(6)).await.unwrap();
        mark.advance(Some(log_id(6)));
        // The leader goes on from 7 (written as the appends would).
        write_log(&disk, &records(7..=8)).await;
        disk.crash();
        let mut log = open(&disk, &mark).await;
        assert_eq!(purged_and_first(&mut log).await, (Some(6), Some(7)), "no hole between 3 and 7");
        assert_eq!(log.get_log_state().await.unwrap().last_log_id.map(|l| l.index), Some(8));
    }

    #[tokio::test]
    async fn a_purge_is_recorded_no_further_than_the_durable_snapshot() {
        let disk = keel_rt::disk::SimDisk::new(1);
        let buf = records(1..=5);
        write_log(&disk, &buf).await;
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
