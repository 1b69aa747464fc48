//! Keel's log engines.
//!
//! Every partition of the broker is a log: records with dense offsets, appended in batches,
//! read by offset, truncated when a replica diverges, trimmed by retention. [`LogEngine`] is
//! that contract; [`MemoryEngine`] keeps a log in memory (tests, caches) and
//! [`SegmentEngine`] on disk in Keel's own segment format (`docs/segment-format.md`),
//! through the disk seam so that the simulation can crash it; [`ObjectEngine`] is a segment
//! log whose sealed segments are tiered to object storage; `RocksEngine` (cargo feature
//! `rocksdb`, production builds only) keeps a log in RocksDB. [`GroupCommit`] lets concurrent
//! writers share syncs, and [`suite`] is the one test suite every engine passes.

pub mod engine;
pub mod group_commit;
pub mod memory;
pub mod object;
pub mod replication;
#[cfg(all(feature = "rocksdb", not(madsim)))]
pub mod rocks;
pub mod segment;
pub mod suite;

pub use engine::{span_of, LogEngine, LogError, ProducerSeq, Record, StoredRecord};
pub use group_commit::GroupCommit;
pub use memory::{MemoryConfig, MemoryEngine};
pub use object::{ObjectConfig, ObjectEngine};
/// The object store crate the object engine speaks, for callers that build stores.
pub use object_store;
#[cfg(all(feature = "rocksdb", not(madsim)))]
pub use rocks::{RocksConfig, RocksEngine};
pub use segment::{RecoveryReport, SegmentConfig, SegmentEngine};
