//! The RPC server: accepts connections and runs each request through an [`RpcService`].
//!
//! Per connection, a reader decodes requests and spawns one task per request (at most
//! `concurrent_max` at once; past that the request is refused with `OVERLOADED`), each bounded
//! by the request's own timeout; a writer task sends responses in completion order. A
//! malformed or oversize frame closes that connection and no other.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use keel_rt::{fault, net, task, time, trace};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, Semaphore};

use super::frame::{decode_frame, encode_frame, Envelope, Kind, FRAME_BYTES_MAX};
use super::RemoteError;

/// What serves requests.
#[async_trait]
pub trait RpcService: Send + Sync + 'static {
    async fn call(&self, method: &str, body: Bytes) -> Result<Bytes, RemoteError>;
}

/// Limits of the server.
#[derive(Clone, Debug)]
pub struct RpcServerConfig {
    pub concurrent_max: usize,
    pub frame_bytes_max: usize,
}

impl Default for RpcServerConfig {
    fn default() -> Self {
        RpcServerConfig { concurrent_max: 256, frame_bytes_max: FRAME_BYTES_MAX }
    }
}

/// Accepts connections on `listener` until the task is dropped.
pub async fn serve(listener: net::TcpListener, service: Arc<dyn RpcService>, config: RpcServerConfig) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                net::set_nodelay(&stream);
                task::spawn(serve_connection(stream, service.clone(), config.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "rpc accept failed");
                time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Serves one connection until it closes or sends a bad frame.
pub async fn serve_connection(stream: net::TcpStream, service: Arc<dyn RpcService>, config: RpcServerConfig) {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Envelope>(256);
    let writer = task::spawn(async move {
        let mut out = BytesMut::new();
        while let Some(env) = rx.recv().await {
            out.clear();
            encode_frame(&env, &mut out);
            while let Ok(more) = rx.try_recv() {
                encode_frame(&more, &mut out);
            }
            if wr.write_all(&out).await.is_err() || wr.flush().await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let slots = Arc::new(Semaphore::new(config.concurrent_max));
    let mut buf = BytesMut::with_capacity(8 * 1024);
    loop {
        match decode_frame(&mut buf, config.frame_bytes_max) {
            Ok(Some(req)) => {
                dispatch(req, &service, &slots, &tx).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "closing rpc connection");
                break;
            }
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    drop(tx);
    let _ = writer.await;
}

async fn dispatch(req: Envelope, service: &Arc<dyn RpcService>, slots: &Arc<Semaphore>, tx: &mpsc::Sender<Envelope>) {
    if req.kind != Kind::Request as i32 {
        return;
    }
    let Ok(permit) = slots.clone().try_acquire_owned() else {
        let err = RemoteError::new(RemoteError::OVERLOADED, "server busy");
        let _ = tx.send(response(req.id, Err(err))).await;
        return;
    };
    let (service, tx) = (service.clone(), tx.clone());
    let span = tracing::debug_span!("rpc.serve", method = %req.method, id = req.id);
    let handler = async move {
        let _permit = permit;
        trace::record("rpc.serve", trace::hash(req.method.as_bytes()));
        let limit = Duration::from_millis(u64::from(req.timeout_ms.max(1)));
        let result = match time::timeout(limit, service.call(&req.method, req.body)).await {
            Ok(r) => r,
            Err(_) => Err(RemoteError::new(RemoteError::TIMEOUT, "deadline elapsed on server")),
        };
        if fault::point("rpc.drop_response") {
            return;
        }
        if fault::point("rpc.delay_response") {
            time::sleep(Duration::from_millis(200)).await;
        }
        let _ = tx.send(response(req.id, result)).await;
    };
    task::spawn(tracing::Instrument::instrument(handler, span));
}

fn response(id: u64, result: Result<Bytes, RemoteError>) -> Envelope {
    let (body, error_code, error) = match result {
        Ok(b) => (b, 0, String::new()),
        Err(e) => (Bytes::new(), e.code, e.message),
    };
    Envelope { id, kind: Kind::Response as i32, method: String::new(), timeout_ms: 0, body, error_code, error }
}
