//! Client listeners of the broker role, protocol-agnostic: accept connections on a bound
//! socket, hold at most `connections_max` at once across all listeners (one more is accepted
//! and closed at once, so the client sees a clean refusal instead of a hanging connect), and
//! hand each to its protocol's handler on a task of its own.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use keel_rt::net::{self, TcpListener, TcpStream};
use keel_rt::{task, time};
use tokio::sync::Semaphore;

/// Pause after a failed accept (out of file descriptors, say) before the next.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// Accepts on `listener` forever, running `handle(stream, peer)` for each connection while a
/// permit of `limit` is free.
pub async fn accept_loop<F, Fut>(name: &'static str, listener: TcpListener, limit: Arc<Semaphore>, handle: F)
where
    F: Fn(TcpStream, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handle = Arc::new(handle);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(listener = name, error = %e, "accept failed");
                time::sleep(ACCEPT_RETRY).await;
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::warn!(listener = name, %peer, "connection refused: connections_max reached");
            drop(stream);
            continue;
        };
        net::set_nodelay(&stream);
        let handle = handle.clone();
        task::spawn(async move {
            handle(stream, peer.to_string()).await;
            drop(permit);
        });
    }
}
