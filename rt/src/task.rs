//! Spawning tasks: tokio in production, madsim's per-node executor in simulation.

use std::future::Future;

pub use tokio::task::{yield_now, JoinError, JoinHandle};

/// Spawns a task on the current runtime (in simulation: on the current simulated node).
#[allow(clippy::disallowed_methods)]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::task::spawn(future)
}

/// Runs a blocking closure off the async workers. Not in simulation, where nothing may block.
#[cfg(not(madsim))]
#[allow(clippy::disallowed_methods)]
pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    tokio::task::spawn_blocking(f)
}
