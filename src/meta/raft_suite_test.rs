//! openraft's own storage conformance suite ([`openraft::testing::Suite`]) over the meta log
//! store and state machine, opened the way a meta node opens them (`sm` and `raft` under one
//! directory, the log's purges bounded by the state machine's snapshot mark), on real files in a
//! temporary directory and on the simulated disk.
//!
//! The suite starts its own tokio runtime per case, so it runs in normal builds only (it is
//! compiled out of simulation builds).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use keel_rt::disk::{Disk, RealDisk, SimDisk};
use openraft::testing::{StoreBuilder, Suite};

use super::log_store::{LogStore, StoreOptions};
use super::state_machine::StateMachineStore;
use super::types::{StorageError, TypeConfig};

/// Which disk each case's store lives on.
#[derive(Clone, Copy)]
enum Backing {
    /// Real files under a fresh temporary directory, removed when the case ends.
    Real,
    /// The simulation's disk model (in memory).
    Sim,
}

struct Builder(Backing);

/// Removes a case's temporary directory when the case drops its stores.
struct TempDir(Option<PathBuf>);

impl Drop for TempDir {
    // Test clean-up of a temporary directory, outside the seam on purpose.
    #[allow(clippy::disallowed_methods)]
    fn drop(&mut self) {
        if let Some(dir) = &self.0 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

static NEXT_DIR: AtomicU64 = AtomicU64::new(0);

fn storage_err(e: std::io::Error) -> StorageError {
    StorageError::from(openraft::StorageIOError::write(openraft::AnyError::new(&e)))
}

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError> {
        let n = NEXT_DIR.fetch_add(1, Ordering::Relaxed);
        let (guard, disk): (TempDir, Arc<dyn Disk>) = match self.0 {
            Backing::Real => {
                let root = std::env::temp_dir().join(format!("keel-raft-suite-{}-{n}", std::process::id()));
                let guard = TempDir(Some(root.clone()));
                (guard, Arc::new(RealDisk::new(&root).map_err(storage_err)?))
            }
            Backing::Sim => (TempDir(None), Arc::new(SimDisk::new(n))),
        };
        let sm = StateMachineStore::open(disk.clone(), "meta/sm", None).await.map_err(storage_err)?;
        let log = LogStore::open(disk, "meta/raft", sm.snapshot_mark(), StoreOptions::default())
            .await
            .map_err(storage_err)?;
        Ok((guard, log, sm))
    }
}

#[test]
fn the_meta_store_passes_openraft_suite_on_real_files() {
    Suite::test_all(Builder(Backing::Real)).expect("openraft storage suite");
}

#[test]
fn the_meta_store_passes_openraft_suite_on_the_simulated_disk() {
    Suite::test_all(Builder(Backing::Sim)).expect("openraft storage suite");
}
