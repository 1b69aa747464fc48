//! Engines for the tests: the suite's harnesses and shared helpers.

use std::sync::Arc;

use async_trait::async_trait;
use keel_rt::disk::SimDisk;
use keel_storage::suite::{Harness, Limits};
use keel_storage::{LogError, MemoryConfig, MemoryEngine, SegmentConfig, SegmentEngine};

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
