//! The admin API's routes.

use crate::client::ClientConfig;
use crate::rpc::shard::OffsetSpec;
use serde::Deserialize;
use serde_json::{json, Value};

use super::http::{Request, Response};
use super::AdminState;
use crate::meta::command::{MetaCommand, MetaError, MetaOk, MetaQuery, QueryResult, TopicSpec};
use crate::meta::records::Engine;
use crate::meta::{MemberChange, MetaApiError, WriteOk};

/// The body of `POST /api/topics`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTopic {
    name: String,
    #[serde(default = "one")]
    partitions: u32,
    #[serde(default = "one")]
    replication_factor: u32,
    #[serde(default = "segment")]
    engine: String,
    #[serde(default)]
    retention_ms: Option<u64>,
    #[serde(default)]
    retention_bytes: Option<u64>,
    #[serde(default)]
    unclean_leader_election: bool,
    #[serde(default = "one")]
    min_insync_replicas: u32,
}

/// The body of `PUT /api/topics/{name}/config`: a compare-and-set of the topic's settings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateConfig {
    expected_version: u64,
    #[serde(default)]
    retention_ms: Option<u64>,
    #[serde(default)]
    retention_bytes: Option<u64>,
    #[serde(default)]
    min_insync_replicas: Option<u32>,
}

/// The body of `POST /api/bindings`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBinding {
    kafka_topic: String,
    filter: String,
}

fn update_topic(name: &str, u: UpdateConfig) -> MetaCommand {
    MetaCommand::UpdateTopic {
        name: name.to_string(),
        expected_version: u.expected_version,
        retention_ms: u.retention_ms,
        retention_bytes: u.retention_bytes,
        min_insync_replicas: u.min_insync_replicas,
        unclean_leader_election: None,
    }
}

fn one() -> u32 {
    1
}

fn segment() -> String {
    "segment".into()
}

/// The body of `POST /api/cluster/members`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddMember {
    id: u64,
    addr: String,
}

/// The most sessions `GET /api/mqtt/sessions` lists (the answer has the total too).
const MQTT_SESSIONS_MAX: u32 = 1000;

/// Answers one request.
pub async fn route(state: &AdminState, req: &Request) -> Response {
    let (path, query_string) = req.path.split_once('?').unwrap_or((&req.path, ""));
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["health"]) => health(state),
        ("GET", ["metrics"]) => Response {
            status: 200,
            content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
            body: state.metrics.render(state.meta.as_ref()).into_bytes(),
        },
        ("GET", ["ui"]) => super::ui::asset("index.html"),
        ("GET", ["ui", file]) => super::ui::asset(file),
        ("GET", ["api", "mqtt", "sessions"]) => {
            query(state, MetaQuery::MqttSessions { limit: MQTT_SESSIONS_MAX }).await
        }
        ("GET", ["api", "cluster"]) => cluster_status(state).await,
        ("POST", ["api", "cluster", "members"]) => add_member(state, &req.body).await,
        ("DELETE", ["api", "cluster", "members", id]) => remove_member(state, id).await,
        ("GET", ["api", "topics"]) => query(state, MetaQuery::Topics).await,
        ("POST", ["api", "topics"]) => create_topic(state, &req.body).await,
        ("GET", ["api", "topics", name]) => {
            match state.meta_client.query(&MetaQuery::Topic { name: name.to_string() }).await {
                Ok(QueryResult::Topic(None)) => describe_binding(state, name).await,
                Ok(r) => Response::json(200, &with_high_watermarks(state, name, to_json(&r)).await),
                Err(e) => api_error(&e),
            }
        }
        ("POST", ["api", "topics", name, "partitions", p, "records"]) => match p.parse() {
            Ok(p) => super::data::produce(state, name, p, &req.body).await,
            Err(_) => Response::error(400, format!("{p:?} is not a partition")),
        },
        ("GET", ["api", "topics", name, "partitions", p, "records"]) => match p.parse() {
            Ok(p) => super::data::read(state, name, p, query_string).await,
            Err(_) => Response::error(400, format!("{p:?} is not a partition")),
        },
        ("PUT", ["api", "topics", name, "config"]) => match serde_json::from_slice::<UpdateConfig>(&req.body) {
            Ok(u) => write(state, update_topic(name, u)).await,
            Err(e) => Response::error(400, format!("bad config: {e}")),
        },
        ("DELETE", ["api", "topics", name]) => write(state, MetaCommand::DeleteTopic { name: name.to_string() }).await,
        ("POST", ["api", "bindings"]) => match serde_json::from_slice::<CreateBinding>(&req.body) {
            Ok(b) => write(state, bind(b.kafka_topic, Some(b.filter))).await,
            Err(e) => Response::error(400, format!("bad binding: {e}")),
        },
        ("DELETE", ["api", "bindings", name]) => write(state, bind(name.to_string(), None)).await,
        (_, ["health" | "metrics"]) | (_, ["api", ..]) => Response::error(405, "method not allowed here"),
        _ => Response::error(404, format!("no route {path}")),
    }
}

/// Adds each shard's high watermark, asked of its leader (`null` if it does not answer soon):
/// the HW lives on the storage nodes, not in meta.
async fn with_high_watermarks(state: &AdminState, topic: &str, mut v: Value) -> Value {
    let quick = ClientConfig { call_timeout_ms: 1_000, delivery_timeout_ms: 2_000, ..ClientConfig::default() };
    let client = state.data.clone().with_config(quick);
    let Some(shards) = v.pointer_mut("/Topic/shards").and_then(Value::as_array_mut) else { return v };
    for shard in shards.iter_mut() {
        let Some(p) = shard["partition"].as_u64().and_then(|p| u32::try_from(p).ok()) else { continue };
        let hw = client.list_offsets(topic, p, OffsetSpec::Latest, 0).await.ok();
        shard["high_watermark"] = json!(hw);
    }
    v
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("api values serialise")
}

fn health(state: &AdminState) -> Response {
    let meta = state.meta.as_ref().map(|m| to_json(&m.status()));
    Response::json(200, &json!({ "status": "ok", "node_id": state.node_id, "meta": meta }))
}

async fn cluster_status(state: &AdminState) -> Response {
    let local = state.meta.as_ref().map(|m| to_json(&m.status()));
    let nodes = match state.meta_client.query(&MetaQuery::Nodes).await {
        Ok(QueryResult::Nodes(n)) => to_json(&n),
        Ok(_) => Value::Null,
        Err(e) => json!({ "error": e.to_string() }),
    };
    Response::json(200, &json!({ "node_id": state.node_id, "meta": local, "nodes": nodes }))
}

async fn query(state: &AdminState, q: MetaQuery) -> Response {
    match state.meta_client.query(&q).await {
        Ok(r) => Response::json(200, &to_json(&r)),
        Err(e) => api_error(&e),
    }
}

async fn create_topic(state: &AdminState, body: &[u8]) -> Response {
    let req: CreateTopic = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return Response::error(400, format!("bad topic: {e}")),
    };
    let engine: Engine = match req.engine.parse() {
        Ok(e) => e,
        Err(e) => return Response::error(400, e),
    };
    let spec = TopicSpec {
        name: req.name,
        partitions: req.partitions,
        replication_factor: req.replication_factor,
        engine,
        retention_ms: req.retention_ms,
        retention_bytes: req.retention_bytes,
        unclean_leader_election: req.unclean_leader_election,
        min_insync_replicas: req.min_insync_replicas,
    };
    write(state, MetaCommand::CreateTopic(spec)).await
}

/// The command that sets (or removes) binding `name` of the MQTT namespace log.
fn bind(name: String, filter: Option<String>) -> MetaCommand {
    MetaCommand::Bind { topic: crate::broker::mqtt::namespace::TOPIC.to_string(), name, filter }
}

/// `GET /api/topics/{name}` for a name that is a binding: the binding and the topic it views.
async fn describe_binding(state: &AdminState, name: &str) -> Response {
    match state.meta_client.query(&MetaQuery::Topics).await {
        Ok(QueryResult::Topics(topics)) => {
            let all = topics.into_iter().map(|t| (t.name.clone(), t)).collect();
            match crate::meta::bindings::resolve(&all, name) {
                Some(target) => Response::json(
                    200,
                    &json!({ "Binding": { "name": name, "filter": target.filter, "topic": target.topic.name } }),
                ),
                None => Response::error(404, format!("topic {name:?} does not exist")),
            }
        }
        Ok(_) => Response::error(404, format!("topic {name:?} does not exist")),
        Err(e) => api_error(&e),
    }
}

async fn write(state: &AdminState, cmd: MetaCommand) -> Response {
    match state.meta_client.write(&cmd).await {
        Ok(WriteOk { result: Ok(ok), .. }) => {
            let status =
                if matches!(ok, MetaOk::Topic(_)) && matches!(cmd, MetaCommand::CreateTopic(_)) { 201 } else { 200 };
            Response::json(status, &to_json(&ok))
        }
        Ok(WriteOk { result: Err(e), .. }) => {
            let status = match e {
                MetaError::TopicExists { .. }
                | MetaError::VersionMismatch { .. }
                | MetaError::StaleEpoch { .. }
                | MetaError::StaleIsr { .. } => 409,
                MetaError::TopicNotFound { .. } => 404,
                MetaError::Invalid { .. } | MetaError::NotEnoughNodes { .. } => 400,
            };
            Response::error(status, e)
        }
        Err(e) => api_error(&e),
    }
}

async fn add_member(state: &AdminState, body: &[u8]) -> Response {
    let Some(meta) = &state.meta else { return Response::error(400, "this node has no meta role") };
    let req: AddMember = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => return Response::error(400, format!("bad member: {e}")),
    };
    match meta.change_members(MemberChange::Add { id: req.id, addr: req.addr }).await {
        Ok(status) => Response::json(200, &to_json(&status)),
        Err(e) => api_error(&e),
    }
}

async fn remove_member(state: &AdminState, id: &str) -> Response {
    let Some(meta) = &state.meta else { return Response::error(400, "this node has no meta role") };
    let Ok(id) = id.parse() else { return Response::error(400, format!("{id:?} is not a node id")) };
    match meta.change_members(MemberChange::Remove { id }).await {
        Ok(status) => Response::json(200, &to_json(&status)),
        Err(e) => api_error(&e),
    }
}

fn api_error(e: &MetaApiError) -> Response {
    let status = match e {
        MetaApiError::Indeterminate(_) => 504,
        MetaApiError::Refused(_) => 409,
        _ => 503,
    };
    Response::error(status, e)
}
