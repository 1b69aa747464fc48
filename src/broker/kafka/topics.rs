//! CreateTopics and DeleteTopics, and the topics created on demand: each a meta write, answered
//! once this broker's view has the change (so the client's next Metadata sees it).

use std::time::Duration;

use keel_protocols::kafka::kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use keel_protocols::kafka::kafka_protocol::messages::create_topics_request::CreatableTopic;
use keel_protocols::kafka::kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use keel_protocols::kafka::kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use keel_protocols::kafka::kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest,
    DeleteTopicsResponse, TopicName,
};
use keel_protocols::kafka::kafka_protocol::protocol::StrBytes;
use keel_protocols::kafka::kafka_protocol::ResponseError;

use super::authorize::{Caller, Need};
use super::{errors, Core};
use crate::meta::command::{MetaCommand, MetaOk, TopicSpec};
use crate::meta::records::{Engine, Role};
use crate::meta::state::valid_name;

/// How long an answer waits for this broker's view to show the change.
const VIEW_WAIT: Duration = Duration::from_secs(5);

/// Why a topic could not be created or deleted, with a message for the client.
type Refusal = (ResponseError, String);

/// The storage nodes alive now (a replication factor is capped by them).
fn storage_nodes(core: &Core) -> u32 {
    let view = core.view.current();
    view.nodes.values().filter(|n| n.alive && n.roles.contains(&Role::Storage)).count() as u32
}

/// A topic's settings from a CreateTopics entry (-1 counts take the defaults).
fn spec_of(core: &Core, t: &CreatableTopic) -> Result<TopicSpec, Refusal> {
    let name = t.name.0.to_string();
    if !valid_name(&name) {
        return Err((ResponseError::InvalidTopicException, format!("invalid topic name {name:?}")));
    }
    if !t.assignments.is_empty() {
        return Err((ResponseError::InvalidRequest, "manual replica assignments are not supported".into()));
    }
    let partitions = match t.num_partitions {
        -1 => core.config.kafka.default_partitions,
        n if n >= 1 => n as u32,
        n => return Err((ResponseError::InvalidPartitions, format!("{n} partitions"))),
    };
    let replication_factor = match t.replication_factor {
        -1 => core.config.kafka.default_replication_factor.min(storage_nodes(core).max(1)),
        n if n >= 1 => n as u32,
        n => return Err((ResponseError::InvalidReplicationFactor, format!("replication factor {n}"))),
    };
    let mut spec = TopicSpec {
        name,
        partitions,
        replication_factor,
        engine: Engine::Segment,
        retention_ms: None,
        retention_bytes: None,
        unclean_leader_election: false,
        min_insync_replicas: 1,
    };
    for c in &t.configs {
        apply_config(&mut spec, &c.name, c.value.as_deref())?;
    }
    Ok(spec)
}

/// Applies one topic config of a CreateTopics entry.
fn apply_config(spec: &mut TopicSpec, name: &str, value: Option<&str>) -> Result<(), Refusal> {
    let bad = |why: &str| (ResponseError::InvalidConfig, format!("{name}: {why}"));
    let value = value.ok_or_else(|| bad("no value"))?;
    let number = || value.parse::<i64>().map_err(|_| bad("not a number"));
    let limit = |n: i64| if n < 0 { None } else { Some(n as u64) };
    match name {
        "retention.ms" => spec.retention_ms = limit(number()?),
        "retention.bytes" => spec.retention_bytes = limit(number()?),
        "min.insync.replicas" => {
            spec.min_insync_replicas = u32::try_from(number()?).map_err(|_| bad("out of range"))?
        }
        "unclean.leader.election.enable" => spec.unclean_leader_election = value == "true",
        "keel.engine" => spec.engine = value.parse().map_err(|e: String| bad(&e))?,
        "cleanup.policy" if value == "delete" => {}
        _ => return Err(bad("not supported")),
    }
    Ok(())
}

/// Creates a topic; waits until this broker's view has it.
async fn create_spec(core: &Core, spec: TopicSpec) -> Result<(), Refusal> {
    match core.meta.write(&MetaCommand::CreateTopic(spec)).await {
        Ok(w) => match w.result {
            Ok(MetaOk::Topic(_)) | Ok(_) => {
                core.view.clone().at_least(w.log_id.index, VIEW_WAIT).await;
                Ok(())
            }
            Err(e) => Err((errors::of_meta_result(&e), e.to_string())),
        },
        Err(e) => Err((errors::of_meta(&e), e.to_string())),
    }
}

/// Creates `name` with the default settings (a topic asked for before it exists).
pub async fn create_default(core: &Core, name: &str) -> Result<(), Refusal> {
    let t = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.to_string())))
        .with_num_partitions(-1)
        .with_replication_factor(-1);
    let spec = spec_of(core, &t)?;
    match create_spec(core, spec).await {
        Err((ResponseError::TopicAlreadyExists, _)) => Ok(()),
        other => other,
    }
}

pub async fn create(core: &Core, caller: Caller<'_>, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let mut results = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let r = CreatableTopicResult::default().with_name(t.name.clone());
        let outcome = match caller.check(Need::Alter, t.name.0.as_str()).and_then(|()| spec_of(core, t)) {
            Ok(spec) if req.validate_only => Ok(spec),
            Ok(spec) => create_spec(core, spec.clone()).await.map(|()| spec),
            Err(e) => Err(e),
        };
        results.push(match outcome {
            Ok(spec) => {
                r.with_num_partitions(spec.partitions as i32).with_replication_factor(spec.replication_factor as i16)
            }
            Err((e, message)) => r
                .with_error_code(e.code())
                .with_error_message(Some(StrBytes::from_string(message)))
                .with_num_partitions(-1)
                .with_replication_factor(-1),
        });
    }
    CreateTopicsResponse::default().with_topics(results)
}

pub async fn delete(core: &Core, caller: Caller<'_>, req: DeleteTopicsRequest, version: i16) -> DeleteTopicsResponse {
    // v0-5 name topics in `topic_names`; v6 in `topics` (by name or id; ids are not served).
    let names: Vec<String> = if version < 6 {
        req.topic_names.iter().map(|n| n.0.to_string()).collect()
    } else {
        req.topics.iter().filter_map(|t| t.name.as_ref().map(|n| n.0.to_string())).collect()
    };
    let mut results = Vec::with_capacity(names.len());
    for name in names {
        let r = DeletableTopicResult::default().with_name(Some(TopicName(StrBytes::from_string(name.clone()))));
        let bound = core.view.current().topics.values().any(|t| t.bindings.contains_key(&name));
        let refused = bound.then(|| {
            let why = format!("{name} is a binding of the MQTT log: remove it with `keel binding delete {name}`");
            (ResponseError::PolicyViolation, why)
        });
        let outcome = match refused {
            Some(e) => Err(e),
            None => match caller.check(Need::Alter, &name) {
                Ok(()) => delete_one(core, name).await,
                Err(e) => Err(e),
            },
        };
        results.push(match outcome {
            Ok(()) => r,
            Err((e, message)) => r.with_error_code(e.code()).with_error_message(Some(StrBytes::from_string(message))),
        });
    }
    DeleteTopicsResponse::default().with_responses(results)
}

async fn delete_one(core: &Core, name: String) -> Result<(), Refusal> {
    match core.meta.write(&MetaCommand::DeleteTopic { name }).await {
        Ok(w) => match w.result {
            Ok(_) => {
                core.view.clone().at_least(w.log_id.index, VIEW_WAIT).await;
                Ok(())
            }
            Err(e) => Err((errors::of_meta_result(&e), e.to_string())),
        },
        Err(e) => Err((errors::of_meta(&e), e.to_string())),
    }
}

/// CreatePartitions: grows each topic to its new count (never shrinks; internal topics and
/// manual assignments refused).
pub async fn create_partitions(
    core: &Core,
    caller: Caller<'_>,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let name = t.name.0.to_string();
        let r = CreatePartitionsTopicResult::default().with_name(t.name.clone());
        let outcome = match caller.check(Need::Alter, &name) {
            Ok(()) => grow(core, &name, t.count, t.assignments.is_some(), req.validate_only).await,
            Err(e) => Err(e),
        };
        results.push(match outcome {
            Ok(()) => r,
            Err((e, message)) => r.with_error_code(e.code()).with_error_message(Some(StrBytes::from_string(message))),
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}

async fn grow(core: &Core, name: &str, count: i32, assigned: bool, validate_only: bool) -> Result<(), Refusal> {
    let view = core.view.current();
    if view.topics.values().any(|t| t.bindings.contains_key(name)) {
        return Err((
            ResponseError::InvalidPartitions,
            format!("{name} is a binding: it has the MQTT log's partitions"),
        ));
    }
    let current = view.topics.get(name).map(|t| t.partitions);
    let Some(current) = current else {
        return Err((ResponseError::UnknownTopicOrPartition, format!("no topic {name}")));
    };
    if assigned {
        return Err((ResponseError::InvalidReplicaAssignment, "manual replica assignments are not supported".into()));
    }
    if count <= current as i32 {
        return Err((ResponseError::InvalidPartitions, format!("{name} has {current} partitions; it only grows")));
    }
    if validate_only {
        return Ok(());
    }
    let cmd = MetaCommand::AddPartitions { name: name.to_string(), partitions: count as u32 };
    let w = core.meta.write(&cmd).await.map_err(|e| (errors::of_meta(&e), e.to_string()))?;
    match w.result {
        Ok(_) => {
            core.view.clone().at_least(w.log_id.index, VIEW_WAIT).await;
            Ok(())
        }
        Err(crate::meta::command::MetaError::Invalid { reason }) => Err((ResponseError::InvalidPartitions, reason)),
        Err(e) => Err((errors::of_meta_result(&e), e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::state::TOPIC_NAME_BYTES_MAX;

    #[test]
    fn names_follow_kafka_rules() {
        assert!(valid_name("orders.v2_eu-1"));
        for bad in ["", ".", "..", "a b", "ü", "a/b"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(!valid_name(&"x".repeat(TOPIC_NAME_BYTES_MAX + 1)));
    }

    #[test]
    fn topic_configs_map_onto_the_spec_and_unknown_ones_are_refused() {
        let mut spec = TopicSpec::for_test("t", 1, 3);
        apply_config(&mut spec, "retention.ms", Some("60000")).unwrap();
        apply_config(&mut spec, "retention.bytes", Some("-1")).unwrap();
        apply_config(&mut spec, "min.insync.replicas", Some("2")).unwrap();
        apply_config(&mut spec, "keel.engine", Some("memory")).unwrap();
        assert_eq!((spec.retention_ms, spec.retention_bytes, spec.min_insync_replicas), (Some(60_000), None, 2));
        assert_eq!(spec.engine, Engine::Memory);
        let e = apply_config(&mut spec, "compression.type", Some("zstd")).unwrap_err();
        assert_eq!(e.0, ResponseError::InvalidConfig);
        assert_eq!(apply_config(&mut spec, "retention.ms", Some("soon")).unwrap_err().0, ResponseError::InvalidConfig);
    }
}
