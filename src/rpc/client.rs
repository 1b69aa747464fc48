//! [`RpcClient`]: calls to one peer over one reused, multiplexed connection.
//!
//! A call takes a permit (bounded in flight), gets the live connection or dials a new one,
//! registers its id, queues its frame to the connection's writer task and waits for the reader
//! task to hand it the response, all within its deadline. When the connection breaks, every
//! waiting call fails with `Unavailable` and the next call dials again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use keel_rt::{net, task, time, trace};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::frame::{decode_frame, encode_frame, Envelope, Kind, FRAME_BYTES_MAX};
use super::{RemoteError, RpcError};

/// Limits of one client.
#[derive(Clone, Debug)]
pub struct RpcClientConfig {
    pub connect_timeout_ms: u64,
    pub in_flight_max: usize,
    pub frame_bytes_max: usize,
}

impl Default for RpcClientConfig {
    fn default() -> Self {
        RpcClientConfig { connect_timeout_ms: 1_000, in_flight_max: 1_024, frame_bytes_max: FRAME_BYTES_MAX }
    }
}

type Waiter = oneshot::Sender<Result<Envelope, RpcError>>;

struct Conn {
    tx: mpsc::Sender<Envelope>,
    pending: Mutex<BTreeMap<u64, Waiter>>,
    next_id: AtomicU64,
    closed: AtomicBool,
}

impl Conn {
    fn fail_all(&self, why: &str) {
        self.closed.store(true, Ordering::SeqCst);
        let waiters = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        for (_, w) in waiters {
            let _ = w.send(Err(RpcError::Unavailable(why.to_string())));
        }
    }
}

/// A client of one peer address.
pub struct RpcClient {
    addr: String,
    /// Where the connection goes: `addr`, or a proxy in front of it.
    dial: String,
    config: RpcClientConfig,
    conn: tokio::sync::Mutex<Option<Arc<Conn>>>,
    permits: Semaphore,
}

impl RpcClient {
    pub fn new(addr: impl Into<String>, config: RpcClientConfig) -> Self {
        let permits = Semaphore::new(config.in_flight_max);
        let addr = addr.into();
        RpcClient { dial: addr.clone(), addr, config, conn: tokio::sync::Mutex::new(None), permits }
    }

    /// Connects to `dial` instead of the peer's own address (a proxy in front of it).
    pub fn dialling(mut self, dial: &str) -> Self {
        self.dial = dial.to_string();
        self
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Calls `method` with `body`, waiting at most `timeout` for the whole exchange.
    pub async fn call(&self, method: &str, body: Bytes, timeout: Duration) -> Result<Bytes, RpcError> {
        let _permit = self.permits.try_acquire().map_err(|_| RpcError::Overloaded)?;
        match time::timeout(timeout, self.call_inner(method, body, timeout)).await {
            Ok(r) => r,
            Err(_) => Err(RpcError::Timeout),
        }
    }

    async fn call_inner(&self, method: &str, body: Bytes, timeout: Duration) -> Result<Bytes, RpcError> {
        let conn = self.connection().await?;
        if keel_rt::fault::point("rpc.client_reset") {
            // As if the connection broke just now: every call on it fails, the next one redials.
            conn.fail_all("connection reset (fault point)");
            return Err(RpcError::Unavailable("connection reset (fault point)".into()));
        }
        let id = conn.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        conn.pending.lock().unwrap_or_else(|e| e.into_inner()).insert(id, tx);
        let _unregister = Unregister { conn: &conn, id };
        let env = Envelope {
            id,
            kind: Kind::Request as i32,
            method: method.to_string(),
            timeout_ms: u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX),
            body,
            error_code: 0,
            error: String::new(),
        };
        trace::record("rpc.call", trace::hash(method.as_bytes()));
        conn.tx.send(env).await.map_err(|_| RpcError::NotSent("connection closed".into()))?;
        let resp = rx.await.map_err(|_| RpcError::Unavailable("connection closed".into()))??;
        if resp.error_code != 0 {
            return Err(RpcError::Remote(RemoteError::new(resp.error_code, resp.error)));
        }
        Ok(resp.body)
    }

    async fn connection(&self) -> Result<Arc<Conn>, RpcError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.closed.load(Ordering::SeqCst)) {
            return Ok(c.clone());
        }
        let dial = net::TcpStream::connect(self.dial.as_str());
        let stream = time::timeout(Duration::from_millis(self.config.connect_timeout_ms), dial)
            .await
            .map_err(|_| RpcError::NotSent(format!("connect to {} timed out", self.addr)))?
            .map_err(|e| RpcError::NotSent(format!("connect to {}: {e}", self.addr)))?;
        net::set_nodelay(&stream);
        let conn = start_connection(stream, self.config.frame_bytes_max);
        *slot = Some(conn.clone());
        Ok(conn)
    }
}

struct Unregister<'a> {
    conn: &'a Conn,
    id: u64,
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        self.conn.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

fn start_connection(stream: net::TcpStream, frame_bytes_max: usize) -> Arc<Conn> {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (tx, mut rx) = mpsc::channel::<Envelope>(256);
    let conn = Arc::new(Conn {
        tx,
        pending: Mutex::new(BTreeMap::new()),
        next_id: AtomicU64::new(1),
        closed: AtomicBool::new(false),
    });
    let writer_conn = Arc::downgrade(&conn);
    task::spawn(async move {
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
        if let Some(c) = writer_conn.upgrade() {
            c.fail_all("write failed");
        }
    });
    let reader_conn = Arc::downgrade(&conn);
    task::spawn(async move {
        let mut buf = BytesMut::with_capacity(8 * 1024);
        let why = loop {
            match decode_frame(&mut buf, frame_bytes_max) {
                Ok(Some(env)) => {
                    let Some(c) = reader_conn.upgrade() else { return };
                    let waiter = c.pending.lock().unwrap_or_else(|e| e.into_inner()).remove(&env.id);
                    if let Some(w) = waiter {
                        let _ = w.send(Ok(env));
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => break e.to_string(),
            }
            match rd.read_buf(&mut buf).await {
                Ok(0) => break "connection closed by peer".to_string(),
                Ok(_) => {}
                Err(e) => break e.to_string(),
            }
        };
        if let Some(c) = reader_conn.upgrade() {
            c.fail_all(&why);
        }
    });
    conn
}
