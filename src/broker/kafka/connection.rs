//! One Kafka client connection: read whole request frames, answer them in order, one at a
//! time (as a Kafka broker does: the connection is muted while a request is served), and
//! batch the answers of requests that arrived together into one write.
//!
//! A frame over `[kafka] request_bytes_max` is refused from its length alone; a frame that does
//! not decode, an unknown API or an unsupported version (but of ApiVersions, which is answered
//! with UNSUPPORTED_VERSION and the versions served, as the protocol asks) closes this
//! connection only, with the reason logged. Other clients are unaffected.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use keel_protocols::kafka::frame::decode_frame;
use keel_protocols::kafka::kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use keel_protocols::kafka::request::{decode_request, Request, RequestError};
use keel_protocols::kafka::response::encode_response;
use keel_rt::time;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::authorize::Caller;
use super::group::handlers as group;
use super::sasl::{self, Session};
use super::{
    api_versions, configs, fetch, list_offsets, metadata, offset_for_leader_epoch, produce, producer_id, topics, Core,
    Listener,
};

/// A connection idle this long is closed (Kafka's `connections.max.idle.ms`).
const IDLE_TIMEOUT: Duration = Duration::from_secs(600);
/// A write to the client must finish within this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Answers buffered past this many bytes are written before the next request is served.
const OUT_BYTES_MAX: usize = 256 * 1024;
/// Bytes read at once.
const READ_BYTES: usize = 64 * 1024;

/// Whether the connection goes on after a request.
enum Next {
    Continue,
    Close,
}

/// Serves one client, come through `listener`, until it leaves, idles out or breaks the protocol.
pub async fn serve<S>(core: Arc<Core>, stream: S, peer: String, listener: Listener)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    core.stats.connections.fetch_add(1, Ordering::Relaxed);
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut inbuf = BytesMut::with_capacity(READ_BYTES);
    let mut out = BytesMut::new();
    let request_max = core.config.kafka.request_bytes_max;
    let mut session = Session::new(listener);
    'conn: loop {
        loop {
            let frame = match decode_frame(&mut inbuf, request_max) {
                Ok(Some(frame)) => frame.freeze(),
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "kafka: closing the connection");
                    core.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
                    break 'conn;
                }
            };
            let next = answer(&core, &mut session, frame, &peer, &mut out).await;
            if matches!(next, Next::Close) {
                let _ = write(&mut writer, &mut out).await; // the answers before it still go
                break 'conn;
            }
            if out.len() >= OUT_BYTES_MAX && !write(&mut writer, &mut out).await {
                break 'conn;
            }
        }
        if !write(&mut writer, &mut out).await {
            break;
        }
        inbuf.reserve(READ_BYTES);
        match time::timeout(IDLE_TIMEOUT, reader.read_buf(&mut inbuf)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => break,
        }
    }
    let _ = writer.shutdown().await;
    core.stats.connections.fetch_sub(1, Ordering::Relaxed);
}

/// Writes and clears `out`; false if the client is gone or too slow.
async fn write<W: AsyncWrite + Unpin>(writer: &mut W, out: &mut BytesMut) -> bool {
    if out.is_empty() {
        return true;
    }
    let ok = matches!(time::timeout(WRITE_TIMEOUT, writer.write_all(out)).await, Ok(Ok(())));
    out.clear();
    ok && matches!(time::timeout(WRITE_TIMEOUT, writer.flush()).await, Ok(Ok(())))
}

/// Serves one request frame, appending its answer (if it has one) to `out`.
async fn answer(core: &Core, session: &mut Session, frame: Bytes, peer: &str, out: &mut BytesMut) -> Next {
    core.stats.requests.fetch_add(1, Ordering::Relaxed);
    let request_bytes = frame.len();
    let req = match decode_request(frame) {
        Ok(req) => req,
        Err(RequestError::UnsupportedVersion { api_key: ApiKey::ApiVersions, api_version, correlation_id }) => {
            tracing::info!(%peer, api_version, "kafka: ApiVersions at a version not served; answering with v0");
            let body = ResponseKind::ApiVersions(api_versions::unsupported());
            return match encode_response(out, ApiKey::ApiVersions, 0, correlation_id, &body) {
                Ok(()) => Next::Continue,
                Err(_) => Next::Close,
            };
        }
        Err(e) => {
            tracing::warn!(%peer, error = %e, "kafka: closing the connection");
            core.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
            return Next::Close;
        }
    };
    let (api_key, version, correlation_id) = (req.api_key, req.version(), req.correlation_id());
    let before_auth = matches!(api_key, ApiKey::ApiVersions | ApiKey::SaslHandshake | ApiKey::SaslAuthenticate);
    if core.auth.required() && !session.authenticated && !before_auth {
        tracing::warn!(%peer, api = ?api_key, "kafka: a request before authentication; closing the connection");
        core.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
        return Next::Close;
    }
    let client_id = req.header.client_id.as_deref().unwrap_or_default().to_string();
    let started = time::now();
    let (api, before) = (format!("{api_key:?}"), out.len());
    let Some(body) = dispatch(core, session, &client_id, req).await else {
        core.metrics.kafka.observe(&api, request_bytes, 0, time::now().saturating_duration_since(started));
        return Next::Continue;
    };
    let encoded = encode_response(out, api_key, version, correlation_id, &body);
    core.metrics.kafka.observe(
        &api,
        request_bytes,
        out.len().saturating_sub(before),
        time::now().saturating_duration_since(started),
    );
    match encoded {
        Ok(()) if session.failed => Next::Close,
        Ok(()) => Next::Continue,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "kafka: a response does not encode; closing the connection");
            Next::Close
        }
    }
}

/// The answer to a request; `None` when the protocol wants none (a Produce with acks=0).
async fn dispatch(core: &Core, session: &mut Session, client_id: &str, req: Request) -> Option<ResponseKind> {
    let version = req.version();
    let body = match req.body {
        RequestKind::SaslHandshake(r) => return Some(ResponseKind::SaslHandshake(sasl::handshake(session, r))),
        RequestKind::SaslAuthenticate(r) => {
            return Some(ResponseKind::SaslAuthenticate(sasl::authenticate(core, session, r).await))
        }
        other => other,
    };
    let session = &*session;
    let caller = Caller { core, session, client_id };
    Some(match body {
        RequestKind::ApiVersions(_) => ResponseKind::ApiVersions(api_versions::served()),
        RequestKind::Metadata(r) => {
            ResponseKind::Metadata(metadata::handle(core, caller, session.listener, r, version).await)
        }
        RequestKind::Produce(r) => ResponseKind::Produce(produce::handle(core, session, client_id, r).await?),
        RequestKind::Fetch(r) => ResponseKind::Fetch(fetch::handle(core, session, client_id, r, version).await),
        RequestKind::ListOffsets(r) => ResponseKind::ListOffsets(list_offsets::handle(core, caller, r, version).await),
        RequestKind::OffsetForLeaderEpoch(r) => {
            ResponseKind::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(core, caller, r).await)
        }
        RequestKind::CreateTopics(r) => ResponseKind::CreateTopics(topics::create(core, caller, r).await),
        RequestKind::DeleteTopics(r) => ResponseKind::DeleteTopics(topics::delete(core, caller, r, version).await),
        RequestKind::CreatePartitions(r) => {
            ResponseKind::CreatePartitions(topics::create_partitions(core, caller, r).await)
        }
        RequestKind::InitProducerId(r) => ResponseKind::InitProducerId(producer_id::handle(core, r).await),
        RequestKind::FindCoordinator(r) => {
            ResponseKind::FindCoordinator(group::find_coordinator(core, session.listener, r, version).await)
        }
        RequestKind::JoinGroup(r) => ResponseKind::JoinGroup(group::join(core, r, version, client_id).await),
        RequestKind::SyncGroup(r) => ResponseKind::SyncGroup(group::sync(core, r).await),
        RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(group::heartbeat(core, r).await),
        RequestKind::LeaveGroup(r) => ResponseKind::LeaveGroup(group::leave(core, r, version).await),
        RequestKind::OffsetCommit(r) => ResponseKind::OffsetCommit(group::offset_commit(core, caller, r).await),
        RequestKind::OffsetFetch(r) => ResponseKind::OffsetFetch(group::offset_fetch(core, caller, r).await),
        RequestKind::ListGroups(_) => ResponseKind::ListGroups(group::list_groups(core).await),
        RequestKind::DescribeGroups(r) => ResponseKind::DescribeGroups(group::describe_groups(core, r).await),
        RequestKind::DeleteGroups(r) => ResponseKind::DeleteGroups(group::delete_groups(core, r).await),
        RequestKind::DescribeConfigs(r) => ResponseKind::DescribeConfigs(configs::describe(core, caller, r).await),
        RequestKind::AlterConfigs(r) => ResponseKind::AlterConfigs(configs::alter(core, caller, r).await),
        RequestKind::IncrementalAlterConfigs(r) => {
            ResponseKind::IncrementalAlterConfigs(configs::incremental(core, caller, r).await)
        }
        other => {
            // `decode_request` passes only served APIs, each handled above.
            tracing::error!(api = ?std::mem::discriminant(&other), "kafka: a served API without a handler");
            return None;
        }
    })
}
