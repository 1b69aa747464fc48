//! [`ObjectEngine`]: its state, opening (and reconciling the manifest with the local log), and
//! the [`LogEngine`] methods that simply delegate to the local log.
//!
//! The log is the remote segments listed in the manifest followed by the local segments; the
//! two may overlap (a segment uploaded but not yet evicted), and reads prefer the local copy.
//! Invariants between operations: the remote part ends at or before the local end, and the
//! local log starts at or before the remote end (no gap); the local start is a segment
//! boundary of the remote part (or the remote end).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use keel_rt::disk::Disk;
use object_store::ObjectStore;

use super::config::ObjectConfig;
use super::keys::Keys;
use super::manifest::Manifest;
use super::remote::{self, FetchCache};
use crate::engine::{LogEngine, LogError, Record, StoredRecord};
use crate::segment::SegmentEngine;

/// What the engine knows of the remote part.
pub(super) struct Remote {
    /// The manifest as last written (or read at open).
    pub manifest: Manifest,
    /// A manifest put failed or is in flight: the store may hold this manifest or the one
    /// before. Nothing is evicted or deleted on the strength of it until a put succeeds.
    pub uncertain: bool,
    /// Segment objects that no manifest lists may exist (after an open or a failed put or
    /// delete); the next tiering round lists and deletes them.
    pub orphans_possible: bool,
}

/// A log whose sealed segments are tiered to object storage (see the module docs).
pub struct ObjectEngine {
    pub(super) local: SegmentEngine,
    pub(super) store: Arc<dyn ObjectStore>,
    pub(super) keys: Keys,
    pub(super) config: ObjectConfig,
    pub(super) remote: Mutex<Remote>,
    pub(super) cache: Mutex<FetchCache>,
    pub(super) committed_end: AtomicU64,
    /// Serializes everything that writes the manifest: tiering, truncation, retention.
    pub(super) manifest_lock: tokio::sync::Mutex<()>,
}

impl ObjectEngine {
    /// Opens the log: the local segments in `dir` of `disk`, the remote ones listed in the
    /// manifest under `prefix` of `store`. If the manifest reaches past the local end (a
    /// fresh local disk, or a crash inside a truncation), the local log restarts empty at the
    /// remote end: the remote part then holds everything the local one did.
    pub async fn open(
        disk: Arc<dyn Disk>,
        dir: &str,
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        config: ObjectConfig,
    ) -> Result<Self, LogError> {
        config.validate().map_err(|e| LogError::Io(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
        let local = SegmentEngine::open(disk, dir, config.local_segment_config()).await?;
        let keys = Keys::new(prefix);
        let manifest = read_manifest(store.as_ref(), &keys).await?;
        reconcile(&local, &manifest).await?;
        Ok(ObjectEngine {
            local,
            store,
            keys,
            cache: Mutex::new(FetchCache::new(config.fetch_cache_bytes_max)),
            config,
            remote: Mutex::new(Remote { manifest, uncertain: false, orphans_possible: true }),
            committed_end: AtomicU64::new(0),
            manifest_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The local segment log.
    pub fn local(&self) -> &SegmentEngine {
        &self.local
    }

    /// The manifest as the engine knows it.
    pub fn manifest(&self) -> Manifest {
        self.remote().manifest.clone()
    }

    /// The offset below which records may be uploaded (set by [`LogEngine::set_committed_end`]).
    pub fn committed_end(&self) -> u64 {
        self.committed_end.load(Ordering::Acquire)
    }

    pub(super) fn remote(&self) -> MutexGuard<'_, Remote> {
        self.remote.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn fetch_cache(&self) -> MutexGuard<'_, FetchCache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Rewrites the manifest with `segments` (a new generation). The engine uses the new
    /// manifest at once; it counts as durable only once the put succeeds.
    pub(super) async fn write_manifest(&self, segments: Vec<super::RemoteSegment>) -> Result<(), LogError> {
        let m = {
            let mut r = self.remote();
            let m = Manifest { generation: r.manifest.generation + 1, segments };
            assert!(m.check().is_ok(), "a manifest written is contiguous: {m:?}");
            r.manifest = m.clone();
            r.uncertain = true;
            m
        };
        remote::put(self.store.as_ref(), &self.keys.manifest(), m.encode().into()).await?;
        let mut r = self.remote();
        if r.manifest.generation == m.generation {
            r.uncertain = false;
        }
        Ok(())
    }
}

/// The manifest under `keys`, or an empty one if there is none yet.
async fn read_manifest(store: &dyn ObjectStore, keys: &Keys) -> Result<Manifest, LogError> {
    match remote::get(store, &keys.manifest()).await {
        Ok(data) => Manifest::decode(&data).map_err(|detail| LogError::Corrupt { offset_hint: 0, detail }),
        Err(e) if remote::is_not_found(&e) => Ok(Manifest::default()),
        Err(e) => Err(e),
    }
}

/// Makes the local log fit the manifest (see [`ObjectEngine::open`]); a gap between the
/// remote end and the local start means records are missing: reported, never skipped.
async fn reconcile(local: &SegmentEngine, manifest: &Manifest) -> Result<(), LogError> {
    let Some(remote_end) = manifest.end() else { return Ok(()) };
    if remote_end > local.end_offset() {
        tracing::warn!(remote_end, local_end = local.end_offset(), "local log behind the object tier: restarting it");
        return local.restart_at(remote_end, &[]).await;
    }
    if local.start_offset() > remote_end {
        let detail = format!("records [{remote_end}, {}) are neither local nor remote", local.start_offset());
        return Err(LogError::Corrupt { offset_hint: remote_end, detail });
    }
    Ok(())
}

#[async_trait::async_trait]
impl LogEngine for ObjectEngine {
    async fn append(&self, records: Vec<Record>) -> Result<(u64, u64), LogError> {
        self.local.append(records).await
    }

    async fn sync(&self) -> Result<u64, LogError> {
        self.local.sync().await
    }

    async fn read(&self, from: u64, bytes_max: usize) -> Result<Vec<StoredRecord>, LogError> {
        self.read_impl(from, bytes_max).await
    }

    async fn truncate(&self, end: u64) -> Result<(), LogError> {
        self.truncate_impl(end).await
    }

    async fn reset(&self, start: u64) -> Result<(), LogError> {
        // The manifest first: once it lists nothing, the local restart cannot be undone by
        // an open that finds remote segments past the local end.
        let _m = self.manifest_lock.lock().await;
        self.fetch_cache().clear();
        let segments = self.remote().manifest.segments.clone();
        if !segments.is_empty() || self.remote().uncertain {
            self.write_manifest(Vec::new()).await?;
            self.delete_objects(&segments).await;
        }
        self.local.restart_at(start, &[]).await
    }

    async fn seal(&self) -> Result<(), LogError> {
        self.local.seal().await
    }

    async fn apply_retention(&self, now_ms: u64) -> Result<u64, LogError> {
        self.retention_impl(now_ms).await
    }

    fn start_offset(&self) -> u64 {
        let remote_start = self.remote().manifest.start();
        let local_start = self.local.start_offset();
        remote_start.map_or(local_start, |r| r.min(local_start))
    }

    fn end_offset(&self) -> u64 {
        self.local.end_offset()
    }

    /// The local segments, and the remote ones wholly below them (a segment tiered but still
    /// on disk counts once).
    fn stored_bytes(&self) -> Option<u64> {
        Some(self.local.stored_bytes()?.saturating_add(self.object_stored_bytes()))
    }

    /// The remote segments wholly below the local ones.
    fn object_stored_bytes(&self) -> u64 {
        let local_start = self.local.start_offset();
        self.remote().manifest.segments.iter().filter(|s| s.end <= local_start).map(|s| s.bytes).sum()
    }

    fn durable_end(&self) -> u64 {
        self.local.durable_end()
    }

    async fn offset_for_time(&self, ts_ms: u64) -> Result<u64, LogError> {
        self.offset_for_time_impl(ts_ms).await
    }

    fn set_committed_end(&self, offset: u64) {
        self.committed_end.store(offset, Ordering::Release);
    }
}
