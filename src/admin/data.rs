//! Producing and reading records through the admin API: routed to the shard's leader over the
//! internal RPC. A convenience for operators and tests until the Kafka and MQTT front-ends land.

use bytes::Bytes;
use serde_json::{json, Value};

use super::http::Response;
use super::AdminState;
use crate::client::{ClientError, Producer};

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
        Ok((base, last)) => Response::json(200, &json!({ "base_offset": base, "last_offset": last })),
        Err(e) => error_response(e),
    }
}

/// `GET /api/topics/{name}/partitions/{p}/records?offset=N`: committed records from `N`.
pub async fn read(state: &AdminState, topic: &str, partition: u32, query: &str) -> Response {
    let offset = query.split('&').find_map(|kv| kv.strip_prefix("offset=")).and_then(|v| v.parse().ok()).unwrap_or(0);
    match state.data.fetch(topic, partition, offset, 1024 * 1024, 0).await {
        Ok(r) => {
            let records: Vec<Value> = r
                .records
                .iter()
                .map(|x| json!({ "offset": x.offset, "value": String::from_utf8_lossy(&x.value) }))
                .collect();
            Response::json(
                200,
                &json!({ "records": records, "high_watermark": r.high_watermark, "start_offset": r.start_offset }),
            )
        }
        Err(e) => error_response(e),
    }
}
