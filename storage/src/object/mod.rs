//! The object engine: the segment engine plus tiering to object storage.
//!
//! [`ObjectEngine`] keeps a log as a local [`crate::SegmentEngine`] plus, under a key prefix
//! of an [`object_store::ObjectStore`], the sealed segments it has uploaded, listed in a
//! manifest. Sealed, committed segments are uploaded by explicit tiering rounds
//! ([`ObjectEngine::tier`], called by the owner), evicted locally under a byte budget, and
//! read back on demand. Every step is ordered so that a crash at any point loses nothing that
//! was synced or uploaded: objects are written under deterministic keys before the manifest
//! lists them, and local copies go only after a durable manifest lists them. The key layout,
//! the manifest bytes and the crash analysis are in `docs/object-tier.md`.
//!
//! The store is local files by default in production ([`local_store`]), `InMemory` wrapped in
//! a [`FaultyStore`] in simulation; S3/MinIO needs `object_store`'s `aws` feature (future work).
//!
//! Files, one concept each: [`config`], [`keys`] (object key layout), [`manifest`] (its
//! bytes), `remote` (store I/O, checking fetched segments, fetch cache), `engine` (state,
//! open, delegation), `tier` (upload, orphan cleanup, eviction), `read` (read-through),
//! `truncate`, `retention`, [`faulty`] (the fault-injecting store).

pub mod config;
mod engine;
pub mod faulty;
pub mod keys;
pub mod manifest;
mod read;
mod remote;
mod retention;
mod tier;
mod truncate;

pub use config::ObjectConfig;
pub use engine::ObjectEngine;
pub use faulty::{FaultyStore, StoreFaults, StoreStats};
pub use manifest::{Manifest, RemoteSegment};
pub use tier::TierReport;

/// The production default store: objects as files under `root`, which must exist.
/// Not in simulation: it touches the real disk.
#[cfg(not(madsim))]
pub fn local_store(root: &std::path::Path) -> Result<std::sync::Arc<dyn object_store::ObjectStore>, crate::LogError> {
    let fs = object_store::local::LocalFileSystem::new_with_prefix(root)
        .map_err(|e| crate::LogError::Io(std::io::Error::other(e)))?;
    Ok(std::sync::Arc::new(fs))
}
