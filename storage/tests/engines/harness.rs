//! Engines for the tests: the suite's harnesses and shared helpers.

use std::sync::Arc;

use async_trait::async_trait;
use keel_rt::disk::SimDisk;
use keel_storage::suite::{Harness, Limits};
use keel_storage::{
    LogEngine, LogError, MemoryConfig, MemoryEngine, ObjectConfig, ObjectEngine, Record, SegmentConfig, SegmentEngine,
    StoredRecord,
};
use object_store::memory::InMemory;
use object_store::ObjectStore;

/// The directory of the engine on its disk.
pub const DIR: &str = "log";

/// A segment config for `limits`, with a small index interval so that indexes matter.
pub fn segment_config(limits: Limits, cache_bytes_max: usize) -> SegmentConfig {
    SegmentConfig {
        segment_bytes_max: limits.segment_bytes_max,
        index_interval_bytes: 256,
        retention_bytes: limits.retention_bytes,
        retention_ms: limits.retention_ms,
        batch_bytes_max: limits.batch_bytes_max,
        cache_bytes_max,
        ..SegmentConfig::default()
    }
}

/// Opens the engine in [`DIR`] of `disk`.
pub async fn open_sim(disk: &SimDisk, config: SegmentConfig) -> Result<SegmentEngine, LogError> {
    SegmentEngine::open(Arc::new(disk.clone()), DIR, config).await
}

/// Memory engines.
pub struct MemoryHarness;

#[async_trait]
impl Harness for MemoryHarness {
    type Engine = MemoryEngine;

    async fn fresh(&mut self, l: Limits) -> MemoryEngine {
        MemoryEngine::new(MemoryConfig {
            segment_bytes_max: l.segment_bytes_max,
            retention_bytes: l.retention_bytes,
            retention_ms: l.retention_ms,
            batch_bytes_max: l.batch_bytes_max,
            ..MemoryConfig::default()
        })
    }
}

/// Segment engines, each on a new simulated disk.
pub struct SimHarness {
    pub seed: u64,
    pub cache_bytes_max: usize,
}

#[async_trait]
impl Harness for SimHarness {
    type Engine = SegmentEngine;

    async fn fresh(&mut self, l: Limits) -> SegmentEngine {
        self.seed += 1;
        open_sim(&SimDisk::new(self.seed), segment_config(l, self.cache_bytes_max)).await.expect("open")
    }
}

#[cfg(not(madsim))]
pub use real::RealHarness;
#[cfg(all(feature = "rocksdb", not(madsim)))]
pub use real::{rocks_config, RocksHarness};

#[cfg(not(madsim))]
mod real {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use async_trait::async_trait;
    use keel_rt::disk::RealDisk;
    use keel_storage::suite::{Harness, Limits};
    use keel_storage::SegmentEngine;

    use super::segment_config;

    static NEXT_ROOT: AtomicU64 = AtomicU64::new(0);

    /// Segment engines on real files under a temporary directory, removed on drop.
    pub struct RealHarness {
        pub root: PathBuf,
        disk: RealDisk,
        cases: u64,
    }

    impl RealHarness {
        pub fn new() -> Self {
            let n = NEXT_ROOT.fetch_add(1, Ordering::Relaxed);
            let root = std::env::temp_dir().join(format!("keel-storage-test-{}-{n}", std::process::id()));
            remove_tree(&root);
            let disk = RealDisk::new(&root).expect("temp dir");
            RealHarness { root, disk, cases: 0 }
        }

        pub fn disk(&self) -> Arc<RealDisk> {
            Arc::new(self.disk.clone())
        }
    }

    // Test cleanup of a temporary directory, outside the seam on purpose.
    #[allow(clippy::disallowed_methods)]
    fn remove_tree(root: &PathBuf) {
        let _ = std::fs::remove_dir_all(root);
    }

    impl Drop for RealHarness {
        fn drop(&mut self) {
            remove_tree(&self.root);
        }
    }

    /// A RocksDB engine config for `limits`.
    #[cfg(feature = "rocksdb")]
    pub fn rocks_config(l: Limits) -> keel_storage::RocksConfig {
        keel_storage::RocksConfig {
            segment_bytes_max: l.segment_bytes_max,
            retention_bytes: l.retention_bytes,
            retention_ms: l.retention_ms,
            batch_bytes_max: l.batch_bytes_max,
            ..keel_storage::RocksConfig::default()
        }
    }

    /// RocksDB engines, each in a new directory of a [`RealHarness`]'s temporary directory.
    #[cfg(feature = "rocksdb")]
    pub struct RocksHarness(pub RealHarness);

    #[cfg(feature = "rocksdb")]
    impl RocksHarness {
        pub fn new() -> Self {
            RocksHarness(RealHarness::new())
        }
    }

    #[cfg(feature = "rocksdb")]
    #[async_trait]
    impl Harness for RocksHarness {
        type Engine = keel_storage::RocksEngine;

        async fn fresh(&mut self, l: Limits) -> keel_storage::RocksEngine {
            self.0.cases += 1;
            let dir = format!("rocks-{}", self.0.cases);
            keel_storage::RocksEngine::open(&self.0.disk, &dir, rocks_config(l)).await.expect("open")
        }
    }

    #[async_trait]
    impl Harness for RealHarness {
        type Engine = SegmentEngine;

        async fn fresh(&mut self, l: Limits) -> SegmentEngine {
            self.cases += 1;
            let dir = format!("case-{}", self.cases);
            SegmentEngine::open(Arc::new(self.disk.clone()), &dir, segment_config(l, 4096)).await.expect("open")
        }
    }
}

/// An object engine config for `limits`: the segment limits, a local budget and a tiny
/// fetch cache (so that read-through really fetches).
pub fn object_config(limits: Limits, local_bytes_max: u64) -> ObjectConfig {
    ObjectConfig {
        segment: segment_config(limits, 2048),
        local_bytes_max,
        fetch_cache_bytes_max: 4096,
        ..ObjectConfig::default()
    }
}

/// Opens an object engine in [`DIR`] of `disk` over `store` under the prefix `t/0`.
pub async fn open_object(
    disk: &SimDisk,
    store: Arc<dyn ObjectStore>,
    config: ObjectConfig,
) -> Result<ObjectEngine, LogError> {
    ObjectEngine::open(Arc::new(disk.clone()), DIR, store, "t/0", config).await
}

/// Object engines on a simulated disk over an in-memory store. With `aggressive`, every
/// engine is an [`Aggressive`] one: everything sealed is tiered and evicted at once.
pub struct ObjectHarness {
    pub seed: u64,
    pub aggressive: bool,
}

#[async_trait]
impl Harness for ObjectHarness {
    type Engine = Aggressive;

    async fn fresh(&mut self, l: Limits) -> Aggressive {
        self.seed += 1;
        let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let local_bytes_max = if self.aggressive { 1 } else { 1 << 30 };
        let engine =
            open_object(&SimDisk::new(self.seed), store, object_config(l, local_bytes_max)).await.expect("open");
        Aggressive { engine, enabled: self.aggressive }
    }
}

/// An object engine that, when enabled, commits everything and runs a tiering round after
/// every append, seal and truncation, so that the suite's reads, truncations, retention and
/// time lookups cross into the remote part.
pub struct Aggressive {
    pub engine: ObjectEngine,
    pub enabled: bool,
}

impl Aggressive {
    async fn tier(&self) {
        if self.enabled {
            self.engine.set_committed_end(self.engine.end_offset());
            self.engine.tier(u64::MAX).await.expect("tier");
        }
    }
}

#[async_trait]
impl LogEngine for Aggressive {
    async fn append(&self, records: Vec<Record>) -> Result<(u64, u64), LogError> {
        let r = self.engine.append(records).await?;
        self.tier().await;
        Ok(r)
    }
    async fn sync(&self) -> Result<u64, LogError> {
        self.engine.sync().await
    }
    async fn read(&self, from: u64, bytes_max: usize) -> Result<Vec<StoredRecord>, LogError> {
        self.engine.read(from, bytes_max).await
    }
    async fn truncate(&self, end: u64) -> Result<(), LogError> {
        self.engine.truncate(end).await?;
        self.tier().await;
        Ok(())
    }
    fn set_committed_end(&self, offset: u64) {
        self.engine.set_committed_end(offset);
    }
    async fn reset(&self, start: u64) -> Result<(), LogError> {
        self.engine.reset(start).await?;
        self.tier().await;
        Ok(())
    }
    async fn seal(&self) -> Result<(), LogError> {
        self.engine.seal().await?;
        self.tier().await;
        Ok(())
    }
    async fn apply_retention(&self, now_ms: u64) -> Result<u64, LogError> {
        self.engine.apply_retention(now_ms).await
    }
    fn start_offset(&self) -> u64 {
        self.engine.start_offset()
    }
    fn end_offset(&self) -> u64 {
        self.engine.end_offset()
    }
    fn durable_end(&self) -> u64 {
        self.engine.durable_end()
    }
    async fn offset_for_time(&self, ts_ms: u64) -> Result<u64, LogError> {
        self.engine.offset_for_time(ts_ms).await
    }
}

/// Object engines over a real S3-compatible store (feature `s3`): the store named by
/// `KEEL_TEST_S3_URL` (e.g. `s3://keel-test`, an existing bucket) with `AWS_*` settings from
/// the environment (`ci/test.sh` starts moto's server on loopback for this). Every engine tiers
/// everything at once ([`Aggressive`]) under a prefix of its own.
#[cfg(all(feature = "s3", not(madsim)))]
pub struct S3Harness {
    pub seed: u64,
}

#[cfg(all(feature = "s3", not(madsim)))]
#[async_trait]
impl Harness for S3Harness {
    type Engine = Aggressive;

    async fn fresh(&mut self, l: Limits) -> Aggressive {
        self.seed += 1;
        let url = std::env::var("KEEL_TEST_S3_URL")
            .expect("KEEL_TEST_S3_URL names the bucket to test against (ci/test.sh starts one with moto_server)");
        let (store, base) =
            keel_storage::object::store_from_url(&url, &Default::default()).expect("an S3 store from the URL");
        // Every engine its own prefix: tests run in parallel, each harness from the same seed.
        static ENGINES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = ENGINES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let prefix = format!("{base}/run-{}-{n}", std::process::id());
        let disk = SimDisk::new(self.seed);
        let engine =
            ObjectEngine::open(Arc::new(disk), DIR, store, prefix.trim_start_matches('/'), object_config(l, 1))
                .await
                .expect("open over S3");
        Aggressive { engine, enabled: true }
    }
}
