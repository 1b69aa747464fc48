//! [`RocksEngine`]: a log in one RocksDB instance per log directory (cargo feature `rocksdb`,
//! production builds only).
//!
//! What: each stored batch (one run of the segment format, [`crate::segment::format`], so
//! CRC-checked and carrying its producer and sequence) is one RocksDB value, keyed by its
//! big-endian base offset; "segments" exist only as marker keys holding a segment's byte and
//! timestamp totals, so that rolling, `seal` and retention by whole segments mean exactly what
//! they mean for the memory and segment engines (`docs/rocksdb-engine.md` has the layout).
//! Appends are written with `sync = false` (one WAL write, no fsync) and `sync` is one WAL
//! fsync covering them all, so group commit works as for the other engines; truncation is a
//! synced write.
//!
//! Why behind a feature: RocksDB is a large C++ build (20-30 minutes on 2 cores) and starts real
//! threads that touch the real filesystem directly. That is the accepted exception to the
//! `keel_rt::disk` seam for this engine: the directory is created through the seam and located
//! with [`keel_rt::disk::Disk::local_path`], then RocksDB does its own I/O. It cannot run under
//! the simulator (no crash injection, no determinism), so the dependency is absent from
//! simulation builds (`cfg(madsim)`) and this module with it.

mod config;
mod engine;
mod keys;

pub use config::RocksConfig;
pub use engine::RocksEngine;
