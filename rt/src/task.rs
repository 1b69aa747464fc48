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

/// Runs CPU-heavy work (a password hash, say) off the async workers in production, inline in
/// simulation (where nothing runs outside the simulated nodes' executors).
pub async fn run_blocking<F, R>(f: F) -> Result<R, JoinError>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    #[cfg(not(madsim))]
    {
        spawn_blocking(f).await
    }
    #[cfg(madsim)]
    {
        Ok(f())
    }
}
