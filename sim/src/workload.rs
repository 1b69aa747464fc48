//! Client workloads: each client picks topics and operations at random, calls the meta cluster
//! through `MetaClient` (as a broker or tool would) and records each operation with its call
//! and return times and what it returned. A write whose outcome is unknown is recorded as
//! such; a request that certainly did not execute is left out.

use std::time::Duration;

use ::rand::Rng;
use keel::meta::client::MetaClient;
use keel::meta::command::{MetaCommand, MetaError, MetaOk, MetaQuery, QueryResult, TopicSpec};
use keel::meta::network::Peers;
use keel::meta::records::Engine;
use keel::meta::state_machine::payload_hash;
use keel::meta::MetaApiError;
use keel_rt::{rand, time};
use openraft::EntryPayload;

use crate::history::Recorder;
use crate::invariants::linearizable::{Operation, TopicOp, TopicRet};
use crate::settings::Settings;

/// One simulated client.
pub struct Client {
    pub id: u64,
    pub meta: MetaClient,
    pub recorder: Recorder,
    pub keys: Vec<String>,
}

fn now_ms() -> u64 {
    time::since_start().as_millis() as u64
}

impl Client {
    pub fn new(id: u64, addrs: Vec<String>, recorder: Recorder, settings: &Settings) -> Self {
        let mut meta = MetaClient::new(addrs, Peers::default());
        meta.timeout = Duration::from_secs(8);
        meta.attempt_timeout = Duration::from_secs(2);
        let keys = (0..settings.keys).map(|k| format!("topic-{k}")).collect();
        Client { id, meta, recorder, keys }
    }

    /// Runs up to `ops` random operations until `until`.
    pub async fn run(&self, ops: usize, until: time::Instant) {
        for _ in 0..ops {
            if time::now() >= until {
                return;
            }
            let (key, op) = self.random_op();
            // An operation that did not complete is recorded (or left out) by `execute`.
            let _ = self.execute(&key, op).await;
            let pause = rand::rng().gen_range(0..300);
            time::sleep(Duration::from_millis(pause)).await;
        }
    }

    fn random_op(&self) -> (String, TopicOp) {
        let mut r = rand::rng();
        let key = self.keys[r.gen_range(0..self.keys.len())].clone();
        let op = match r.gen_range(0..100) {
            0..=29 => TopicOp::Create,
            30..=44 => TopicOp::Delete,
            45..=74 => TopicOp::Cas { expected: r.gen_range(1..=4) },
            _ => TopicOp::Read,
        };
        (key, op)
    }

    /// Executes and records one operation; `Ok(())` when its outcome is known.
    pub async fn execute(&self, key: &str, op: TopicOp) -> Result<(), String> {
        let call_ms = now_ms();
        let outcome = match &op {
            TopicOp::Read => self.read(key).await,
            _ => self.write(key, &op).await,
        };
        let (return_ms, ret) = match outcome {
            Outcome::Known(ret) => (Some(now_ms()), Some(ret)),
            Outcome::Unknown(e) => {
                self.recorder
                    .op(key.to_string(), Operation { client: self.id, call_ms, return_ms: None, op, ret: None });
                return Err(format!("outcome unknown: {e}"));
            }
            Outcome::NotExecuted(e) => return Err(format!("not executed: {e}")),
        };
        self.recorder.op(key.to_string(), Operation { client: self.id, call_ms, return_ms, op, ret });
        Ok(())
    }

    async fn read(&self, key: &str) -> Outcome {
        match self.meta.query(&MetaQuery::Topic { name: key.to_string() }).await {
            Ok(QueryResult::Topic(t)) => Outcome::Known(TopicRet::Value(t.map(|t| t.version))),
            Ok(other) => Outcome::NotExecuted(format!("unexpected answer {other:?}")),
            Err(e) => Outcome::NotExecuted(e.to_string()),
        }
    }

    async fn write(&self, key: &str, op: &TopicOp) -> Outcome {
        let cmd = command(key, op, rand::rng().gen_range(1..1_000_000));
        match self.meta.write(&cmd).await {
            Ok(ok) => {
                let hash = payload_hash(&EntryPayload::Normal(cmd.clone()));
                self.recorder.acked(ok.log_id.index, ok.log_id.leader_id.term, hash);
                match ret_of(op, &ok.result) {
                    Ok(r) => Outcome::Known(r),
                    Err(e) => {
                        self.recorder.lock().failures.push(format!("client {}: {e}", self.id));
                        Outcome::NotExecuted(e)
                    }
                }
            }
            Err(MetaApiError::Indeterminate(e)) => Outcome::Unknown(e),
            Err(e) => Outcome::NotExecuted(e.to_string()),
        }
    }
}

enum Outcome {
    Known(TopicRet),
    Unknown(String),
    NotExecuted(String),
}

fn command(key: &str, op: &TopicOp, retention_ms: u64) -> MetaCommand {
    match op {
        TopicOp::Create => MetaCommand::CreateTopic(TopicSpec {
            name: key.to_string(),
            partitions: 2,
            replication_factor: 3,
            engine: Engine::Memory,
            retention_ms: Some(retention_ms),
            retention_bytes: None,
            unclean_leader_election: false,
            min_insync_replicas: 1,
        }),
        TopicOp::Delete => MetaCommand::DeleteTopic { name: key.to_string() },
        TopicOp::Cas { expected } => MetaCommand::UpdateTopic {
            name: key.to_string(),
            expected_version: *expected,
            retention_ms: Some(retention_ms),
            retention_bytes: None,
            min_insync_replicas: None,
            unclean_leader_election: None,
        },
        TopicOp::Read => unreachable!("reads are queries"),
    }
}

/// What the state machine's answer means in the checker's model.
fn ret_of(op: &TopicOp, result: &Result<MetaOk, MetaError>) -> Result<TopicRet, String> {
    Ok(match (op, result) {
        (TopicOp::Create, Ok(MetaOk::Topic(_))) => TopicRet::Created,
        (TopicOp::Create, Err(MetaError::TopicExists { .. })) => TopicRet::AlreadyExists,
        (TopicOp::Create, Err(MetaError::NotEnoughNodes { .. })) => TopicRet::Refused,
        (TopicOp::Delete, Ok(MetaOk::Deleted)) => TopicRet::Deleted,
        (TopicOp::Delete | TopicOp::Cas { .. }, Err(MetaError::TopicNotFound { .. })) => TopicRet::NotFound,
        (TopicOp::Cas { .. }, Ok(MetaOk::Topic(t))) => TopicRet::Swapped { new_version: t.version },
        (TopicOp::Cas { .. }, Err(MetaError::VersionMismatch { current, .. })) => {
            TopicRet::VersionMismatch { current: *current }
        }
        (op, r) => return Err(format!("unexpected result {r:?} for {op:?}")),
    })
}
