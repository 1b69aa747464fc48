//! Spawning tasks: tokio in production, madsim's per-node executor in simulation.

#[allow(clippy::disallowed_methods)]
pub use tokio::task::spawn;
pub use tokio::task::{yield_now, JoinError, JoinHandle};

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
