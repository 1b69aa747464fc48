//! Producing and reading records through the admin API: routed to the shard's leader over the
//! internal RPC. A convenience for operators and tests until the Kafka and MQTT front-ends land.

use bytes::Bytes;
use serde_json::Value;

use super::http::Response;
use super::view::{OffsetView, Produced, RecordPage, RecordView};
use super::AdminState;
use crate::client::{ClientError, Producer};
use crate::rpc::shard::{OffsetSpec, WireRecord};

fn error_response(e: ClientError) -> Response {
    match e {
        ClientError::NotFound(m) => Response::error(404, m),
        ClientError::Refused { message, .. } => Response::error(503, format!("not acknowledged: {message}")),
        ClientError::GaveUp(m) => Response::error(504, format!("outcome unknown: {m}")),
    }
}

/// The admin API's own idempotent producer, allocated on first use.
async fn producer(state: &AdminState) -> Result<&Producer, ClientError> {
    state.producer.get_or_try_init(|| state.data.producer()).await
}

/// `POST /api/topics/{name}/partitions/{p}/records` with `{"records": ["value", ...]}`.
pub async fn produce(state: &AdminState, topic: &str, partition: u32, body: &[u8]) -> Response {
    let values: Vec<String> = match serde_json::from_slice::<Value>(body) {
        Ok(v) => match v.get("records").and_then(Value::as_array) {
            Some(a) => a.iter().map(|r| r.as_str().map(str::to_string).unwrap_or_else(|| r.to_string())).collect(),
            None => return Response::error(400, "expected {\"records\": [...]}"),
        },
        Err(e) => return Response::error(400, format!("bad body: {e}")),
    };
    if values.is_empty() {
        return Response::error(400, "no records");
    }
    let producer = match producer(state).await {
        Ok(p) => p,
        Err(e) => return error_response(e),
    };
    let records = values.into_iter().map(|v| (None, Bytes::from(v))).collect();
    match producer.send(topic, partition, records).await {
        Ok((base_offset, last_offset)) => {
            Response::json(200, &serde_json::to_value(Produced { base_offset, last_offset }).unwrap_or_default())
        }
        Err(e) => error_response(e),
    }
}

/// The longest a read may wait for records (`wait_ms`), so that an answer comes well within
/// the CLI's request timeout.
const READ_WAIT_MS_MAX: u32 = 10_000;

/// The bytes of records one page of `GET .../records` carries at most.
const PAGE_BYTES_MAX: u32 = 1024 * 1024;

/// The value of `key` in a query string (`a=1&b=2`), if present.
fn param<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

/// The number `key` of a query string: absent is `Ok(None)`, not a number is a 400.
fn number<T: std::str::FromStr>(query: &str, key: &str) -> Result<Option<T>, Response> {
    match param(query, key) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| Response::error(400, format!("{key}={v:?} is not a number"))),
    }
}

/// `GET /api/topics/{name}/partitions/{p}/records?offset=N&wait_ms=W`: committed records from
/// `N` (one page, up to 1 MiB); with none there yet, waits up to `W` ms (at most 10 s) for some.
pub async fn read(state: &AdminState, topic: &str, partition: u32, query: &str) -> Response {
    let (offset, wait_ms) = match (number::<u64>(query, "offset"), number::<u32>(query, "wait_ms")) {
        (Ok(o), Ok(w)) => (o.unwrap_or(0), w.unwrap_or(0).min(READ_WAIT_MS_MAX)),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    match state.data.fetch(topic, partition, offset, PAGE_BYTES_MAX, wait_ms).await {
        Ok(r) => {
            let next_offset = match r.records.last() {
                Some(last) => last.offset.saturating_add(u64::from(last.span())),
                None => offset.max(r.start_offset),
            };
            let records = r.records.iter().map(record_view).collect();
            let page =
                RecordPage { records, high_watermark: r.high_watermark, start_offset: r.start_offset, next_offset };
            Response::json(200, &serde_json::to_value(page).unwrap_or_default())
        }
        Err(e) => error_response(e),
    }
}

fn record_view(r: &WireRecord) -> RecordView {
    RecordView {
        offset: r.offset,
        timestamp_ms: r.timestamp_ms,
        key: r.key.as_ref().map(|k| String::from_utf8_lossy(k).into_owned()),
        value: String::from_utf8_lossy(&r.value).into_owned(),
    }
}

/// `GET /api/topics/{name}/partitions/{p}/offsets?timestamp_ms=T`: the first committed offset
/// whose timestamp is at or after `T` (the high watermark if none).
pub async fn offset_for_time(state: &AdminState, topic: &str, partition: u32, query: &str) -> Response {
    let timestamp_ms = match number::<u64>(query, "timestamp_ms") {
        Ok(Some(t)) => t,
        Ok(None) => return Response::error(400, "expected ?timestamp_ms=MILLISECONDS_SINCE_THE_EPOCH"),
        Err(r) => return r,
    };
    match state.data.list_offsets(topic, partition, OffsetSpec::Timestamp, timestamp_ms).await {
        Ok(offset) => Response::json(200, &serde_json::to_value(OffsetView { offset }).unwrap_or_default()),
        Err(e) => error_response(e),
    }
}
