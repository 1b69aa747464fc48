//! Client listeners of the broker role, protocol-agnostic: accept connections on a bound
//! socket, hold at most `connections_max` at once across all listeners (one more is accepted
//! and closed at once, so the client sees a clean refusal instead of a hanging connect), and
//! hand each to its protocol's handler on a task of its own. A TLS listener ([`bind_tls`],
//! [`accept_tls_loop`]) does the handshake on that task first; MQTT's and Kafka's share it.

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

/// The acceptor of a TLS listener (rustls).
#[cfg(not(madsim))]
pub type TlsAcceptor = tokio_rustls::TlsAcceptor;
/// No TLS in simulation builds.
#[cfg(madsim)]
pub type TlsAcceptor = std::convert::Infallible;

/// Binds `addr`, unless it is empty.
pub async fn bind(addr: &str) -> std::io::Result<Option<TcpListener>> {
    if addr.is_empty() {
        return Ok(None);
    }
    TcpListener::bind(addr).await.map(Some).map_err(|e| std::io::Error::new(e.kind(), format!("binding {addr}: {e}")))
}

/// A TLS listener on `addr` when a certificate is configured and `addr` is not empty; a
/// certificate that does not load fails (as does any TLS listener in a simulation build).
pub async fn bind_tls(
    files: Option<&crate::broker::TlsFiles>,
    addr: &str,
) -> std::io::Result<Option<(TcpListener, TlsAcceptor)>> {
    let Some(files) = files.filter(|_| !addr.is_empty()) else { return Ok(None) };
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    #[cfg(not(madsim))]
    {
        let acceptor = crate::broker::tls::acceptor(files).map_err(invalid)?;
        Ok(bind(addr).await?.map(|l| (l, acceptor)))
    }
    #[cfg(madsim)]
    {
        let _ = files;
        Err(invalid("TLS listeners are not available in simulation builds".into()))
    }
}

/// [`accept_loop`] for a TLS listener: `handle` gets each connection once its handshake is done
/// (one that fails or times out is dropped).
#[cfg(not(madsim))]
pub async fn accept_tls_loop<F, Fut>(
    name: &'static str,
    listener: TcpListener,
    acceptor: TlsAcceptor,
    limit: Arc<Semaphore>,
    handle: F,
) where
    F: Fn(tokio_rustls::server::TlsStream<TcpStream>, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let handle = Arc::new(handle);
    accept_loop(name, listener, limit, move |stream, peer| {
        let (acceptor, handle) = (acceptor.clone(), handle.clone());
        async move {
            if let Some(tls) = crate::broker::tls::accept(&acceptor, stream, &peer).await {
                handle(tls, peer).await;
            }
        }
    })
    .await;
}
