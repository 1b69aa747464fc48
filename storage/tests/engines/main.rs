//! Integration tests of the log engines: the shared suite on every engine, crash recovery and
//! corruption reporting on the simulated disk, group commit, a model-based property test, and
//! (feature `rocksdb`) the RocksDB engine's reopening.

mod corruption;
mod crash;
mod failed_append;
mod group_commit;
mod harness;
mod model;
mod object;
mod rocks;
mod suite_runs;
