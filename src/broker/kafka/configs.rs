//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs for topics: retention
//! (`retention.ms`, `retention.bytes`; -1 for none), `min.insync.replicas`,
//! `unclean.leader.election.enable`, and, read-only, `cleanup.policy` (delete) and
//! `keel.engine`. A change is one compare-and-set of the topic record in meta (retried when
//! another change won the race). Broker resources describe as empty and do not change.

use keel_protocols::kafka::kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use keel_protocols::kafka::kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use keel_protocols::kafka::kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse as IncrementalResult;
use keel_protocols::kafka::kafka_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use keel_protocols::kafka::kafka_protocol::protocol::StrBytes;
use keel_protocols::kafka::kafka_protocol::ResponseError;

use super::authorize::{Caller, Need};
use super::{errors, Core};
use crate::meta::bindings;
use crate::meta::command::MetaCommand;
use crate::meta::records::{Engine, TopicRecord};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
/// Config sources: set on the topic, or the default.
const SOURCE_TOPIC: i8 = 1;
const SOURCE_DEFAULT: i8 = 5;
/// Config types: boolean, string, int, long.
const TYPE_BOOLEAN: i8 = 1;
const TYPE_STRING: i8 = 2;
const TYPE_INT: i8 = 3;
const TYPE_LONG: i8 = 5;
/// Compare-and-set attempts before a change gives up.
const CAS_ATTEMPTS: u32 = 5;

type Refusal = (ResponseError, String);

/// The settings a topic's configs change.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Settings {
    retention_ms: Option<u64>,
    retention_bytes: Option<u64>,
    min_insync_replicas: u32,
    unclean_leader_election: bool,
}

impl Settings {
    fn of(t: &TopicRecord) -> Settings {
        Settings {
            retention_ms: t.retention_ms,
            retention_bytes: t.retention_bytes,
            min_insync_replicas: t.min_insync_replicas,
            unclean_leader_election: t.unclean_leader_election,
        }
    }

    fn defaults() -> Settings {
        Settings { retention_ms: None, retention_bytes: None, min_insync_replicas: 1, unclean_leader_election: false }
    }

    /// Sets one config (`None`: back to its default).
    fn set(&mut self, name: &str, value: Option<&str>) -> Result<(), Refusal> {
        let bad = |why: &str| (ResponseError::InvalidConfig, format!("{name}: {why}"));
        let d = Settings::defaults();
        let limit = |v: &str| v.parse::<i64>().map(|n| (n >= 0).then_some(n as u64)).map_err(|_| bad("not a number"));
        match (name, value) {
            ("retention.ms", None) => self.retention_ms = d.retention_ms,
            ("retention.ms", Some(v)) => self.retention_ms = limit(v)?,
            ("retention.bytes", None) => self.retention_bytes = d.retention_bytes,
            ("retention.bytes", Some(v)) => self.retention_bytes = limit(v)?,
            ("min.insync.replicas", None) => self.min_insync_replicas = d.min_insync_replicas,
            ("min.insync.replicas", Some(v)) => {
                self.min_insync_replicas = v.parse().map_err(|_| bad("not a number"))?
            }
            ("unclean.leader.election.enable", None) => self.unclean_leader_election = false,
            ("unclean.leader.election.enable", Some(v)) => {
                self.unclean_leader_election = v.parse().map_err(|_| bad("true or false"))?
            }
            ("cleanup.policy", Some("delete")) | ("cleanup.policy", None) => {}
            ("cleanup.policy" | "keel.engine", _) => return Err(bad("read-only")),
            _ => return Err(bad("not supported")),
        }
        Ok(())
    }
}

fn engine_name(e: Engine) -> &'static str {
    match e {
        Engine::Memory => "memory",
        Engine::Segment => "segment",
        Engine::Object => "object",
        Engine::Rocksdb => "rocksdb",
    }
}

fn entry(name: &str, value: String, is_default: bool, read_only: bool, kind: i8) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_value(Some(StrBytes::from_string(value)))
        .with_read_only(read_only)
        .with_config_source(if is_default { SOURCE_DEFAULT } else { SOURCE_TOPIC })
        .with_config_type(kind)
}

fn describe_topic(t: &TopicRecord) -> Vec<DescribeConfigsResourceResult> {
    let limit = |v: Option<u64>| v.map_or("-1".to_string(), |n| n.to_string());
    vec![
        entry("cleanup.policy", "delete".into(), true, true, TYPE_STRING),
        entry("keel.engine", engine_name(t.engine).into(), false, true, TYPE_STRING),
        entry("min.insync.replicas", t.min_insync_replicas.to_string(), t.min_insync_replicas == 1, false, TYPE_INT),
        entry("retention.bytes", limit(t.retention_bytes), t.retention_bytes.is_none(), false, TYPE_LONG),
        entry("retention.ms", limit(t.retention_ms), t.retention_ms.is_none(), false, TYPE_LONG),
        entry(
            "unclean.leader.election.enable",
            t.unclean_leader_election.to_string(),
            !t.unclean_leader_election,
            false,
            TYPE_BOOLEAN,
        ),
    ]
}

pub async fn describe(core: &Core, caller: Caller<'_>, req: DescribeConfigsRequest) -> DescribeConfigsResponse {
    let view = core.view.current();
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            let base = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            match r.resource_type {
                TOPIC if !caller.may(Need::Read, r.resource_name.as_str()) => {
                    base.with_error_code(ResponseError::TopicAuthorizationFailed.code()).with_error_message(Some(
                        StrBytes::from_string(format!("not authorized for topic {}", r.resource_name)),
                    ))
                }
                TOPIC => match bindings::resolve(&view.topics, r.resource_name.as_str()).map(|b| b.topic) {
                    Some(t) => {
                        let mut configs = describe_topic(t);
                        if let Some(keys) = &r.configuration_keys {
                            configs.retain(|c| keys.iter().any(|k| k.as_str() == c.name.as_str()));
                        }
                        base.with_configs(configs)
                    }
                    None => base.with_error_code(ResponseError::UnknownTopicOrPartition.code()),
                },
                BROKER => base,
                _ => base.with_error_code(ResponseError::InvalidRequest.code()),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// Changes a topic's settings with `change` (from its current ones), as one compare-and-set.
async fn alter_topic(
    core: &Core,
    name: &str,
    validate_only: bool,
    change: impl Fn(&Settings) -> Result<Settings, Refusal>,
) -> Result<(), Refusal> {
    for _ in 0..CAS_ATTEMPTS {
        let view = core.view.current();
        let t = view
            .topics
            .get(name)
            .ok_or_else(|| (ResponseError::UnknownTopicOrPartition, format!("no topic {name}")))?;
        let new = change(&Settings::of(t))?;
        if new.min_insync_replicas == 0 || new.min_insync_replicas > t.replication_factor {
            let why = format!("min.insync.replicas must be 1 to {}", t.replication_factor);
            return Err((ResponseError::InvalidConfig, why));
        }
        if validate_only || new == Settings::of(t) {
            return Ok(());
        }
        let cmd = MetaCommand::UpdateTopic {
            name: name.to_string(),
            expected_version: t.version,
            retention_ms: new.retention_ms,
            retention_bytes: new.retention_bytes,
            min_insync_replicas: Some(new.min_insync_replicas),
            unclean_leader_election: Some(new.unclean_leader_election),
        };
        let w = core.meta.write(&cmd).await.map_err(|e| (errors::of_meta(&e), e.to_string()))?;
        core.view.clone().at_least(w.log_id.index, std::time::Duration::from_secs(5)).await;
        match w.result {
            Ok(_) => return Ok(()),
            Err(crate::meta::command::MetaError::VersionMismatch { .. }) => continue,
            Err(e) => return Err((errors::of_meta_result(&e), e.to_string())),
        }
    }
    Err((ResponseError::RequestTimedOut, "the topic kept changing underneath".into()))
}

fn refused(name: &str, kind: i8) -> Result<(), Refusal> {
    match kind {
        TOPIC => Ok(()),
        BROKER => Err((ResponseError::InvalidRequest, format!("broker {name}: configs are set in the node's file"))),
        _ => Err((ResponseError::InvalidRequest, format!("resource type {kind} is not served"))),
    }
}

pub async fn alter(core: &Core, caller: Caller<'_>, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let mut out = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let configs: Vec<(String, Option<String>)> =
            r.configs.iter().map(|c| (c.name.to_string(), c.value.as_deref().map(str::to_string))).collect();
        let result = match refused(&r.resource_name, r.resource_type)
            .and_then(|()| caller.check(Need::Alter, &r.resource_name))
        {
            Ok(()) => {
                alter_topic(core, &r.resource_name, req.validate_only, |_| {
                    // AlterConfigs replaces the whole set: what is not named goes back to its default.
                    let mut s = Settings::defaults();
                    for (n, v) in &configs {
                        s.set(n, v.as_deref())?;
                    }
                    Ok(s)
                })
                .await
            }
            Err(e) => Err(e),
        };
        let resp = AlterConfigsResourceResponse::default()
            .with_resource_type(r.resource_type)
            .with_resource_name(r.resource_name);
        out.push(match result {
            Ok(()) => resp,
            Err((e, m)) => resp.with_error_code(e.code()).with_error_message(Some(StrBytes::from_string(m))),
        });
    }
    AlterConfigsResponse::default().with_responses(out)
}

pub async fn incremental(
    core: &Core,
    caller: Caller<'_>,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut out = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let ops: Vec<(String, i8, Option<String>)> = r
            .configs
            .iter()
            .map(|c| (c.name.to_string(), c.config_operation, c.value.as_deref().map(str::to_string)))
            .collect();
        let result = match refused(&r.resource_name, r.resource_type)
            .and_then(|()| caller.check(Need::Alter, &r.resource_name))
        {
            Ok(()) => {
                alter_topic(core, &r.resource_name, req.validate_only, |current| {
                    let mut s = current.clone();
                    for (n, op, v) in &ops {
                        match op {
                            0 => s.set(n, v.as_deref())?, // SET
                            1 => s.set(n, None)?,         // DELETE: back to the default
                            _ => return Err((ResponseError::InvalidConfig, format!("{n}: not a list"))),
                        }
                    }
                    Ok(s)
                })
                .await
            }
            Err(e) => Err(e),
        };
        let resp = IncrementalResult::default().with_resource_type(r.resource_type).with_resource_name(r.resource_name);
        out.push(match result {
            Ok(()) => resp,
            Err((e, m)) => resp.with_error_code(e.code()).with_error_message(Some(StrBytes::from_string(m))),
        });
    }
    IncrementalAlterConfigsResponse::default().with_responses(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_reset_and_refuse_what_cannot_change() {
        let mut s = Settings::defaults();
        s.set("retention.ms", Some("60000")).unwrap();
        s.set("retention.bytes", Some("-1")).unwrap();
        s.set("min.insync.replicas", Some("2")).unwrap();
        s.set("unclean.leader.election.enable", Some("true")).unwrap();
        assert_eq!(
            s,
            Settings {
                retention_ms: Some(60_000),
                retention_bytes: None,
                min_insync_replicas: 2,
                unclean_leader_election: true
            }
        );
        s.set("retention.ms", None).unwrap();
        assert_eq!(s.retention_ms, None);
        for (n, v) in
            [("keel.engine", "memory"), ("cleanup.policy", "compact"), ("segment.bytes", "1"), ("retention.ms", "x")]
        {
            assert_eq!(s.set(n, Some(v)).unwrap_err().0, ResponseError::InvalidConfig, "{n}={v}");
        }
    }
}
