//! Integration tests of the log engines: the shared suite on every engine, crash recovery and
//! corruption reporting on the simulated disk, group commit, and a model-based property test.

mod corruption;
mod crash;
mod group_commit;
mod harness;
mod model;
mod object;
mod suite_runs;
