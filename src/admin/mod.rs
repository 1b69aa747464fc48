//! The admin HTTP API: `/health`, `/metrics` (Prometheus), `/api/...` (topics, cluster) and the
//! web console at `/ui` (`docs/console.md`).
//! Routes and bodies are documented in `docs/admin-api.md`; `keel topic ...` and
//! `keel cluster ...` are its clients ([`client`]).

mod auth;
pub mod client;
mod data;
mod groups;
pub mod http;
pub use crate::metrics;
mod routes;
mod ui;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use keel_rt::{net, task, time};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use self::http::{parse_request, HttpError, Response};
use crate::meta::client::MetaClient;
use crate::meta::records::NodeId;
use crate::meta::MetaNode;

/// The longest an admin connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Admin connections served at once.
const CONNECTIONS_MAX: usize = 64;

/// What the admin routes need.
#[derive(Clone)]
pub struct AdminState {
    pub node_id: NodeId,
    pub meta: Option<MetaNode>,
    pub meta_client: MetaClient,
    pub metrics: Arc<metrics::Metrics>,
    /// The data-plane client behind `/api/topics/{t}/partitions/{p}/records`.
    pub data: crate::client::DataClient,
    /// Its idempotent producer, allocated on first use.
    pub producer: tokio::sync::OnceCell<crate::client::Producer>,
    /// The users of `[mqtt]`, when authentication is on (see [`auth`]).
    pub auth: Option<Arc<crate::broker::auth::Authenticator>>,
}

impl AdminState {
    pub fn new(node_id: NodeId, meta: Option<MetaNode>, meta_client: MetaClient) -> Self {
        let data = crate::client::DataClient::new(meta_client.clone(), meta_client.peers().clone());
        AdminState {
            node_id,
            meta,
            meta_client,
            metrics: Arc::new(metrics::Metrics::default()),
            data,
            producer: tokio::sync::OnceCell::new(),
            auth: None,
        }
    }
}

/// Serves admin connections until the task is dropped.
pub async fn serve(listener: net::TcpListener, state: AdminState) {
    let slots = Arc::new(Semaphore::new(CONNECTIONS_MAX));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            drop(stream);
            continue;
        };
        let state = state.clone();
        task::spawn(async move {
            let _permit = permit;
            serve_connection(stream, state).await;
        });
    }
}

async fn serve_connection(mut stream: net::TcpStream, state: AdminState) {
    let req = match time::timeout(REQUEST_TIMEOUT, read_request(&mut stream)).await {
        Ok(Ok(Some(r))) => r,
        Ok(Ok(None)) | Err(_) => return,
        Ok(Err(e)) => {
            let resp = match e {
                HttpError::Malformed(m) => Response::error(400, m),
                HttpError::TooLarge(what) => Response::error(413, format!("{what} too large")),
            };
            let _ = stream.write_all(&resp.encode()).await;
            let _ = stream.flush().await;
            return;
        }
    };
    let span = tracing::info_span!("admin", method = %req.method, path = %req.path);
    let resp = match auth::decide_off_thread(state.auth.clone(), &req).await {
        auth::Decision::Allowed => tracing::Instrument::instrument(routes::route(&state, &req), span.clone()).await,
        auth::Decision::Refused(resp) => resp,
    };
    span.in_scope(|| tracing::debug!(status = resp.status, "answered"));
    state
        .metrics
        .meta
        .admin_requests
        .get_or_create(&metrics::RouteLabels { method: req.method.clone(), status: resp.status })
        .inc();
    let _ = stream.write_all(&resp.encode()).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

async fn read_request(stream: &mut net::TcpStream) -> Result<Option<http::Request>, HttpError> {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        if let Some(req) = parse_request(&buf)? {
            return Ok(Some(req));
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
    }
}
