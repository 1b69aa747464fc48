//! The admin API's routes.

use crate::client::ClientConfig;
use serde::Deserialize;
use serde_json::{json, Value};

use super::http::{Request, Response};
use super::view::{BindingView, ClusterView, Deleted, MqttSessionList, ShardOffsets, TopicList, TopicView};
use super::AdminState;
use crate::meta::bindings::Target;
use crate::meta::command::{MetaCommand, MetaError, MetaOk, MetaQuery, QueryResult, TopicSpec};
use crate::meta::records::{Engine, TopicRecord};
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
    let decoded: Vec<String> = path.trim_matches('/').split('/').map(super::http::percent_decode).collect();
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["health"]) => health(state),
        ("GET", ["metrics"]) => Response {
            status: 200,
            content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8",
            body: state.metrics.render(state.meta.as_ref()).into_bytes(),
            challenge: None,
        },
        ("GET", ["ui"]) => super::ui::asset("index.html"),
        ("GET", ["ui", file]) => super::ui::asset(file),
        ("GET", ["api", "mqtt", "sessions"]) => mqtt_sessions(state).await,
        ("GET", ["api", "groups"]) => super::groups::list(state).await,
        ("GET", ["api", "groups", group]) => super::groups::describe(state, group).await,
        ("GET", ["api", "cluster"]) => cluster_status(state).await,
        ("POST", ["api", "cluster", "members"]) => add_member(state, &req.body).await,
        ("DELETE", ["api", "cluster", "members", id]) => remove_member(state, id).await,
        ("GET", ["api", "topics"]) => list_topics(state).await,
        ("POST", ["api", "topics"]) => create_topic(state, &req.body).await,
        ("GET", ["api", "topics", name]) => describe_topic(state, name).await,
        ("POST", ["api", "topics", name, "partitions", p, "records"]) => match p.parse() {
            Ok(p) => super::data::produce(state, name, p, &req.body).await,
            Err(_) => Response::error(400, format!("{p:?} is not a partition")),
        },
        ("GET", ["api", "topics", name, "partitions", p, "records"]) => match p.parse() {
            Ok(p) => super::data::read(state, name, p, query_string).await,
            Err(_) => Response::error(400, format!("{p:?} is not a partition")),
        },
        ("GET", ["api", "topics", name, "partitions", p, "offsets"]) => match p.parse() {
            Ok(p) => super::data::offset_for_time(state, name, p, query_string).await,
            Err(_) => Response::error(400, format!("{p:?} is not a partition")),
        },
        ("PUT", ["api", "topics", name, "config"]) => match serde_json::from_slice::<UpdateConfig>(&req.body) {
            Ok(u) => write(state, update_topic(name, u)).await,
            Err(e) => Response::error(400, format!("bad config: {e}")),
        },
        ("DELETE", ["api", "topics", name]) => write(state, MetaCommand::DeleteTopic { name: name.to_string() }).await,
        ("POST", ["api", "bindings"]) => match serde_json::from_slice::<CreateBinding>(&req.body) {
            Ok(b) => create_binding(state, b).await,
            Err(e) => Response::error(400, format!("bad binding: {e}")),
        },
        ("DELETE", ["api", "bindings", name]) => match write_command(state, bind(name.to_string(), None)).await {
            Ok(_) => Response::json(200, &to_json(&Deleted { deleted: name.to_string() })),
            Err(resp) => resp,
        },
        (_, ["health" | "metrics"]) | (_, ["api", ..]) => Response::error(405, "method not allowed here"),
        _ => Response::error(404, format!("no route {path}")),
    }
}

/// `GET /api/topics`: every topic, without shard offsets (they would cost a call per shard).
async fn list_topics(state: &AdminState) -> Response {
    match state.meta_client.query(&MetaQuery::Topics).await {
        Ok(QueryResult::Topics(topics)) => {
            Response::json(200, &to_json(&TopicList { topics: topics.iter().map(TopicView::of).collect() }))
        }
        Ok(_) => Response::error(500, "meta answered another query"),
        Err(e) => api_error(&e),
    }
}

/// `GET /api/mqtt/sessions`: the first sessions by client id, and how many there are.
async fn mqtt_sessions(state: &AdminState) -> Response {
    match state.meta_client.query(&MetaQuery::MqttSessions { limit: MQTT_SESSIONS_MAX }).await {
        Ok(QueryResult::MqttSessions { sessions, total }) => {
            Response::json(200, &to_json(&MqttSessionList { sessions, total }))
        }
        Ok(_) => Response::error(500, "meta answered another query"),
        Err(e) => api_error(&e),
    }
}

/// `GET /api/topics/{name}`: the topic with each shard's offsets, or the binding of that name.
async fn describe_topic(state: &AdminState, name: &str) -> Response {
    match state.meta_client.query(&MetaQuery::Topic { name: name.to_string() }).await {
        Ok(QueryResult::Topic(None)) => describe_binding(state, name).await,
        Ok(QueryResult::Topic(Some(t))) => {
            let offsets = shard_offsets(state, &t).await;
            let view = TopicView::new(&t, |p| offsets.iter().find(|(q, _)| *q == p).and_then(|(_, o)| *o));
            Response::json(200, &to_json(&view))
        }
        Ok(_) => Response::error(500, "meta answered another query"),
        Err(e) => api_error(&e),
    }
}

/// Each shard's high watermark, log start and end and stored bytes, asked of its leader (`None` if it does
/// not answer soon): they live on the storage nodes, not in meta. One empty read per shard.
async fn shard_offsets(state: &AdminState, t: &TopicRecord) -> Vec<(u32, Option<ShardOffsets>)> {
    let quick = ClientConfig { call_timeout_ms: 1_000, delivery_timeout_ms: 2_000, ..ClientConfig::default() };
    let client = state.data.clone().with_config(quick);
    let mut out = Vec::with_capacity(t.shards.len());
    for shard in &t.shards {
        // At u64::MAX the leader reads nothing and answers only its offsets.
        let read = client.fetch(&t.name, shard.partition, u64::MAX, 1, 0).await.ok();
        let offsets = read.map(|r| ShardOffsets {
            high_watermark: r.high_watermark,
            log_start_offset: r.start_offset,
            log_end_offset: r.log_end,
            stored_bytes: r.stored_bytes,
        });
        out.push((shard.partition, offsets));
    }
    out
}

fn to_json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("api values serialise")
}

fn health(state: &AdminState) -> Response {
    let meta = state.meta.as_ref().map(|m| to_json(&m.status()));
    Response::json(200, &json!({ "status": "ok", "node_id": state.node_id, "meta": meta }))
}

async fn cluster_status(state: &AdminState) -> Response {
    let meta = state.meta.as_ref().map(|m| m.status());
    let (nodes, nodes_error) = match state.meta_client.query(&MetaQuery::Nodes).await {
        Ok(QueryResult::Nodes(n)) => (Some(n), None),
        Ok(_) => (None, Some("meta answered another query".to_string())),
        Err(e) => (None, Some(e.to_string())),
    };
    Response::json(200, &to_json(&ClusterView { node_id: state.node_id, meta, nodes, nodes_error }))
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
                Some(Target { topic, filter: Some(filter) }) => {
                    Response::json(200, &to_json(&BindingView::new(name, filter, &topic.name)))
                }
                // Created since the first query: a topic after all.
                Some(Target { topic, filter: None }) => Response::json(200, &to_json(&TopicView::of(topic))),
                None => Response::error(404, format!("topic {name:?} does not exist")),
            }
        }
        Ok(_) => Response::error(404, format!("topic {name:?} does not exist")),
        Err(e) => api_error(&e),
    }
}

/// `POST /api/bindings`: the binding as it now is.
async fn create_binding(state: &AdminState, b: CreateBinding) -> Response {
    match write_command(state, bind(b.kafka_topic.clone(), Some(b.filter.clone()))).await {
        Ok(_) => {
            let view = BindingView::new(&b.kafka_topic, &b.filter, crate::broker::mqtt::namespace::TOPIC);
            Response::json(200, &to_json(&view))
        }
        Err(resp) => resp,
    }
}

/// A topic command, answered with the topic as it now is (201 when created) or what is gone.
async fn write(state: &AdminState, cmd: MetaCommand) -> Response {
    let created = matches!(cmd, MetaCommand::CreateTopic(_));
    let deleted = match &cmd {
        MetaCommand::DeleteTopic { name } => Some(name.clone()),
        _ => None,
    };
    match write_command(state, cmd).await {
        Ok(MetaOk::Topic(t)) => Response::json(if created { 201 } else { 200 }, &to_json(&TopicView::of(&t))),
        Ok(_) => match deleted {
            Some(name) => Response::json(200, &to_json(&Deleted { deleted: name })),
            None => Response::json(200, &json!({})),
        },
        Err(resp) => resp,
    }
}

/// Writes `cmd` through meta; a refusal or a failure is the error response to send.
async fn write_command(state: &AdminState, cmd: MetaCommand) -> Result<MetaOk, Response> {
    match state.meta_client.write(&cmd).await {
        Ok(WriteOk { result: Ok(ok), .. }) => Ok(ok),
        Ok(WriteOk { result: Err(e), .. }) => {
            let status = match e {
                MetaError::TopicExists { .. }
                | MetaError::VersionMismatch { .. }
                | MetaError::StaleEpoch { .. }
                | MetaError::StaleIsr { .. } => 409,
                MetaError::TopicNotFound { .. } => 404,
                MetaError::Invalid { .. } | MetaError::NotEnoughNodes { .. } => 400,
            };
            Err(Response::error(status, e))
        }
        Err(e) => Err(api_error(&e)),
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
