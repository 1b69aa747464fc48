//! The runtime seam: every effect Keel has on the outside world goes through here.
//!
//! Spawning, time, TCP, files, randomness and fault points are reached only through this crate,
//! so that one build runs on real tokio and real files (production) and another on madsim with
//! [`disk::SimDisk`] (simulation, `--cfg madsim`), where every effect is ordered and replayed by
//! seed. `clippy.toml` at the workspace root bans the direct APIs everywhere else.
//!
//! What madsim lacks, this crate adds: a disk model with crash semantics ([`disk::SimDisk`]),
//! per-node wall clocks with offset and drift ([`time::wall_ms`]), two-tier fault points
//! ([`fault::point`]) and a digest of the run's event trace ([`trace`]).

pub mod disk;
pub mod fault;
pub mod net;
pub mod rand;
pub mod task;
pub mod time;
pub mod trace;

/// True in a simulation build (`--cfg madsim`).
pub const SIMULATION: bool = cfg!(madsim);
