//! Producing and reading records through the admin API: routed to the shard's leader over the
//! internal RPC. A convenience for operators and tests until the Kafka and MQTT front-ends land.

use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use serde_json::{json, Value};

use super::http::Response;
use super::AdminState;
use crate::meta::command::{MetaQuery, QueryResult};
use crate::store::wire::{ProduceRequest, ProduceResponse, ReadRequest, ReadResponse, WireRecord};
use crate::store::{PRODUCE, READ};

const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// The RPC address of the leader of `topic`/`partition`.
async fn leader_addr(state: &AdminState, topic: &str, partition: u32) -> Result<String, Response> {
    let q = MetaQuery::Topic { name: topic.to_string() };
    let t = match state.meta_client.query(&q).await {
        Ok(QueryResult::Topic(Some(t))) => t,
        Ok(_) => return Err(Response::error(404, format!("topic {topic:?} does not exist"))),
        Err(e) => return Err(Response::error(503, e)),
    };
    let shard =
        t.shards.get(partition as usize).ok_or_else(|| Response::error(404, format!("no partition {partition}")))?;
    let leader = shard.leader.ok_or_else(|| Response::error(503, "the shard has no leader now"))?;
    match state.meta_client.query(&MetaQuery::Nodes).await {
        Ok(QueryResult::Nodes(nodes)) => nodes
            .into_iter()
            .find(|n| n.id == leader)
            .map(|n| n.addr)
            .ok_or_else(|| Response::error(503, "the leader is not registered")),
        Ok(_) => Err(Response::error(503, "unexpected answer from meta")),
        Err(e) => Err(Response::error(503, e)),
    }
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
    let addr = match leader_addr(state, topic, partition).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let now = keel_rt::time::wall_ms();
    let records = values
        .into_iter()
        .map(|v| WireRecord { offset: 0, timestamp_ms: now, key: None, value: Bytes::from(v) })
        .collect();
    let req = ProduceRequest { topic: topic.to_string(), partition, records };
    let client = state.meta_client.peers().client(&addr);
    match client.call(PRODUCE, req.encode_to_vec().into(), CALL_TIMEOUT).await {
        Ok(b) => match ProduceResponse::decode(b) {
            Ok(r) if r.error.is_empty() => {
                Response::json(200, &json!({ "base_offset": r.base_offset, "last_offset": r.last_offset }))
            }
            Ok(r) => Response::error(503, format!("not acknowledged: {}", r.error)),
            Err(e) => Response::error(500, e),
        },
        Err(e) => Response::error(504, format!("outcome unknown: {e}")),
    }
}

/// `GET /api/topics/{name}/partitions/{p}/records?offset=N`: committed records from `N`.
pub async fn read(state: &AdminState, topic: &str, partition: u32, query: &str) -> Response {
    let offset = query.split('&').find_map(|kv| kv.strip_prefix("offset=")).and_then(|v| v.parse().ok()).unwrap_or(0);
    let addr = match leader_addr(state, topic, partition).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let req = ReadRequest { topic: topic.to_string(), partition, offset, bytes_max: 1024 * 1024 };
    let client = state.meta_client.peers().client(&addr);
    match client.call(READ, req.encode_to_vec().into(), CALL_TIMEOUT).await {
        Ok(b) => match ReadResponse::decode(b) {
            Ok(r) if r.error.is_empty() => {
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
            Ok(r) => Response::error(503, r.error),
            Err(e) => Response::error(500, e),
        },
        Err(e) => Response::error(503, e),
    }
}
