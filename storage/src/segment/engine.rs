//! [`SegmentEngine`]: the durable log engine, its shared state and its locks.
//!
//! State lives behind a plain mutex held only between awaits (never across disk I/O). Two
//! async locks order the I/O: `writer` serializes everything that changes the files
//! (append, roll, seal, truncate, retention) and `syncer` serializes syncs. A sync holds only
//! `syncer`, so appends proceed while a sync is in flight (the next sync covers them);
//! truncation and retention take both, writer first, because they remove what a sync may be
//! touching. Reads take neither.
//!
//! Durability invariants (what recovery relies on):
//! - a segment is sealed only after its file is synced and its name made durable, so every
//!   sealed segment is entirely durable: damage there is corruption, never a torn append;
//! - `durable_end` only covers bytes that a file sync and, for a new segment, a directory
//!   sync have made durable;
//! - after a failed sync or a write that could not be undone the engine refuses writes
//!   ([`LogError::Closed`]): what is on disk is then unknown until a reopen scans it.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use keel_rt::disk::{Disk, OpenMode};

use super::cache::TailCache;
use super::config::SegmentConfig;
use super::log_segment::Segment;
use crate::engine::{LogEngine, LogError, Record, StoredRecord};

/// What [`SegmentEngine::open`] found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments in the log.
    pub segments: usize,
    /// Bytes of a torn append cut from the end of the last segment.
    pub truncated_bytes: u64,
    /// Sealed segments whose index files were missing or invalid and were rebuilt.
    pub rebuilt_indexes: usize,
    /// Leftover files of an interrupted truncation or retention that were removed.
    pub removed_files: usize,
}

/// The mutable state of the engine.
pub(super) struct State {
    /// The segments in offset order; never empty; the last is the active one.
    pub segments: Vec<Segment>,
    pub cache: TailCache,
    pub durable_end: u64,
    /// Bumped whenever a name is created in the directory.
    pub dir_version: u64,
    /// The `dir_version` that the last directory sync made durable.
    pub dir_synced: u64,
    /// Set when the files are in an unknown state: writes are refused.
    pub failed: bool,
}

impl State {
    pub fn active(&self) -> &Segment {
        self.segments.last().expect("a log always has an active segment")
    }

    pub fn active_mut(&mut self) -> &mut Segment {
        self.segments.last_mut().expect("a log always has an active segment")
    }

    pub fn start(&self) -> u64 {
        self.segments[0].base
    }

    pub fn end(&self) -> u64 {
        self.active().end
    }

    /// Index of the segment holding `offset` (`start <= offset < end`), or of the active
    /// segment for `offset == end`.
    pub fn find(&self, offset: u64) -> usize {
        self.segments.partition_point(|s| s.base <= offset).saturating_sub(1)
    }

    pub fn dir_dirty(&self) -> bool {
        self.dir_version > self.dir_synced
    }

    pub fn out_of_range(&self, requested: u64) -> LogError {
        LogError::OffsetOutOfRange { requested, start: self.start(), end: self.end() }
    }
}

/// A log stored as segment files in one directory of a [`Disk`].
pub struct SegmentEngine {
    pub(super) disk: Arc<dyn Disk>,
    pub(super) dir: String,
    pub(super) config: SegmentConfig,
    pub(super) state: Mutex<State>,
    pub(super) writer: tokio::sync::Mutex<()>,
    pub(super) syncer: tokio::sync::Mutex<()>,
    pub(super) recovery: RecoveryReport,
    /// Retention never drops a record at or above this (`u64::MAX` until set).
    pub(super) committed_end: std::sync::atomic::AtomicU64,
}

impl SegmentEngine {
    /// What the last open found and repaired.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// The limits this engine runs with.
    pub fn config(&self) -> &SegmentConfig {
        &self.config
    }

    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn path(&self, name: &str) -> String {
        join(&self.dir, name)
    }

    pub(super) fn check_open(&self) -> Result<(), LogError> {
        if self.state().failed {
            return Err(LogError::Closed);
        }
        Ok(())
    }

    /// Marks the engine failed (the files are in an unknown state) and returns `e`.
    pub(super) fn fail(&self, e: io::Error) -> LogError {
        tracing::error!(dir = %self.dir, error = %e, "log engine failed: refusing writes until reopened");
        self.state().failed = true;
        LogError::Io(e)
    }

    /// Removes a file that may not exist (index files are optional).
    pub(super) async fn remove_if_present(&self, name: &str) -> io::Result<()> {
        match self.disk.remove_file(&self.path(name)).await {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    async fn sync_impl(&self) -> Result<u64, LogError> {
        let _s = self.syncer.lock().await;
        self.check_open()?;
        let (file, end, dir_version, dir_dirty) = {
            let st = self.state();
            if st.end() == st.durable_end && !st.dir_dirty() {
                return Ok(st.durable_end);
            }
            (st.active().file.clone(), st.end(), st.dir_version, st.dir_dirty())
        };
        file.sync().await.map_err(|e| self.fail(e))?;
        if dir_dirty {
            self.disk.sync_dir(&self.dir).await.map_err(|e| self.fail(e))?;
        }
        let mut st = self.state();
        if dir_dirty {
            st.dir_synced = st.dir_synced.max(dir_version);
        }
        st.durable_end = st.durable_end.max(end);
        Ok(st.durable_end)
    }
}

/// `dir/name`, or `name` at the disk's root.
pub(super) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Opens `name` in `dir` for the engine's use.
pub(super) async fn open_file(
    disk: &dyn Disk,
    dir: &str,
    name: &str,
    mode: OpenMode,
) -> io::Result<Arc<dyn keel_rt::disk::DiskFile>> {
    Ok(Arc::from(disk.open(&join(dir, name), mode).await?))
}

#[async_trait::async_trait]
impl LogEngine for SegmentEngine {
    async fn append(&self, records: Vec<Record>) -> Result<(u64, u64), LogError> {
        self.append_impl(records).await
    }

    async fn sync(&self) -> Result<u64, LogError> {
        self.sync_impl().await
    }

    async fn read(&self, from: u64, bytes_max: usize) -> Result<Vec<StoredRecord>, LogError> {
        self.read_impl(from, bytes_max, false).await
    }

    async fn truncate(&self, end: u64) -> Result<(), LogError> {
        self.truncate_impl(end).await
    }

    fn set_committed_end(&self, offset: u64) {
        self.committed_end.store(offset, std::sync::atomic::Ordering::Release);
    }

    async fn reset(&self, start: u64) -> Result<(), LogError> {
        self.restart_at(start, &[]).await
    }

    async fn seal(&self) -> Result<(), LogError> {
        self.seal_impl().await
    }

    async fn apply_retention(&self, now_ms: u64) -> Result<u64, LogError> {
        self.retention_impl(now_ms).await
    }

    fn start_offset(&self) -> u64 {
        self.state().start()
    }

    fn stored_bytes(&self) -> Option<u64> {
        Some(self.state().segments.iter().map(|s| s.bytes).sum())
    }

    fn end_offset(&self) -> u64 {
        self.state().end()
    }

    fn durable_end(&self) -> u64 {
        self.state().durable_end
    }

    async fn offset_for_time(&self, ts_ms: u64) -> Result<u64, LogError> {
        self.offset_for_time_impl(ts_ms).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use keel_rt::disk::{Disk, DiskFaults, OpenMode, SimDisk};

    use super::super::names;
    use super::io;
    use crate::{LogEngine, LogError, Record, SegmentConfig, SegmentEngine};

    fn record() -> Record {
        Record::new(1, None, Bytes::from_static(b"v"))
    }

    async fn open(disk: &SimDisk, config: SegmentConfig) -> SegmentEngine {
        SegmentEngine::open(Arc::new(disk.clone()), "log", config).await.unwrap()
    }

    #[tokio::test]
    async fn the_engine_runs_with_the_config_it_was_opened_with() {
        let config = SegmentConfig { index_interval_bytes: 123, cache_bytes_max: 77, ..SegmentConfig::default() };
        assert_eq!(open(&SimDisk::new(1), config.clone()).await.config(), &config);
    }

    /// A roll syncs the sealed segment and the directory, then creates the next segment's
    /// file: its name is durable only once a sync syncs the directory again.
    #[tokio::test]
    async fn a_sync_after_a_seal_makes_the_new_segment_name_durable() {
        let disk = SimDisk::new(1);
        let log = open(&disk, SegmentConfig::default()).await;
        log.append(vec![record(), record()]).await.unwrap();
        log.seal().await.unwrap();
        assert_eq!(log.sync().await.unwrap(), 2);
        disk.crash_clean();
        assert!(disk.exists(&format!("log/{}", names::log(2))).await.unwrap());
    }

    /// Syncs are the expensive part of a write: one with nothing new does no I/O, so even a
    /// disk whose syncs all fail does not fail it.
    #[tokio::test]
    async fn a_sync_with_nothing_new_touches_no_file() {
        let disk = SimDisk::new(1);
        let log = open(&disk, SegmentConfig::default()).await;
        log.append(vec![record()]).await.unwrap();
        log.seal().await.unwrap();
        log.append(vec![record()]).await.unwrap();
        assert_eq!(log.sync().await.unwrap(), 2);
        let syncs = disk.stats().syncs;
        disk.set_faults(DiskFaults { sync_fail_rate: 1.0, ..DiskFaults::default() });
        assert_eq!(log.sync().await.unwrap(), 2);
        assert_eq!(disk.stats().syncs, syncs);
    }

    /// `SimDisk`, except that removing an index file fails as a real disk's remove can.
    struct IndexesStuck(SimDisk);

    #[async_trait::async_trait]
    impl Disk for IndexesStuck {
        async fn open(&self, path: &str, mode: OpenMode) -> io::Result<Box<dyn keel_rt::disk::DiskFile>> {
            self.0.open(path, mode).await
        }
        async fn remove_file(&self, path: &str) -> io::Result<()> {
            match path.ends_with(".index") {
                true => Err(io::Error::new(io::ErrorKind::PermissionDenied, "read-only index")),
                false => self.0.remove_file(path).await,
            }
        }
        async fn rename(&self, from: &str, to: &str) -> io::Result<()> {
            self.0.rename(from, to).await
        }
        async fn list_dir(&self, dir: &str) -> io::Result<Vec<String>> {
            self.0.list_dir(dir).await
        }
        async fn create_dir_all(&self, dir: &str) -> io::Result<()> {
            self.0.create_dir_all(dir).await
        }
        async fn sync_dir(&self, dir: &str) -> io::Result<()> {
            self.0.sync_dir(dir).await
        }
        async fn exists(&self, path: &str) -> io::Result<bool> {
            self.0.exists(path).await
        }
    }

    /// Index files are optional (a missing one is not an error), but a remove that fails for
    /// another reason is the disk's error, reported.
    #[tokio::test]
    async fn a_failed_remove_of_an_index_file_is_reported() {
        let config = SegmentConfig { retention_bytes: Some(0), ..SegmentConfig::default() };
        let log = SegmentEngine::open(Arc::new(IndexesStuck(SimDisk::new(1))), "log", config).await.unwrap();
        log.append(vec![record()]).await.unwrap();
        log.seal().await.unwrap();
        log.append(vec![record()]).await.unwrap();
        let dropped = log.apply_retention(0).await;
        assert!(matches!(&dropped, Err(LogError::Io(e)) if e.kind() == io::ErrorKind::PermissionDenied), "{dropped:?}");
    }
}
