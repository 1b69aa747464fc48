//! The metadata workload: a register per key through the admin API, the keys being topics
//! whose state is absent or present at a config version. Clients create, delete,
//! compare-and-set (`PUT /api/topics/{name}/config`) and read them (linearizable reads on the
//! meta leader); the history is checked for linearizability, key by key, with the model the
//! simulation uses (keel-sim `linearizable::TopicModel`).

use std::sync::Mutex;
use std::time::Duration;

use keel_sim::invariants::linearizable::{self, CheckOutcome, Operation, TopicOp, TopicRet};
use rand::Rng;
use serde_json::{json, Value};

use super::{Env, Workload};
use crate::history::Kind;
use crate::http::{self, Outcome};
use crate::verdict::Verdict;

const KEYS: u32 = 4;
const OP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct MetadataWorkload {
    ops: Mutex<Vec<(String, Operation<TopicOp, TopicRet>)>>,
}

/// The request for `op` on topic `key`.
fn request(key: &str, op: &TopicOp, rng: &mut impl Rng) -> (&'static str, String, Option<Value>) {
    match op {
        TopicOp::Read => ("GET", format!("/api/topics/{key}"), None),
        TopicOp::Create => {
            ("POST", "/api/topics".into(), Some(json!({ "name": key, "partitions": 1, "replication_factor": 1 })))
        }
        TopicOp::Delete => ("DELETE", format!("/api/topics/{key}"), None),
        TopicOp::Cas { expected } => (
            "PUT",
            format!("/api/topics/{key}/config"),
            Some(json!({ "expected_version": expected, "retention_ms": rng.gen_range(60_000..600_000) })),
        ),
    }
}

/// What an answer means for `op`; `None` when it does not say (the outcome is unknown).
pub(crate) fn interpret(op: &TopicOp, status: u16, v: &Value) -> Option<TopicRet> {
    let version = || v["version"].as_u64();
    let error = v["error"].as_str().unwrap_or("");
    Some(match (op, status) {
        (TopicOp::Read, 200) => TopicRet::Value(Some(version()?)),
        (TopicOp::Read, 404) => TopicRet::Value(None),
        (TopicOp::Create, 201) => TopicRet::Created,
        (TopicOp::Create, 409) if error.contains("exists") => TopicRet::AlreadyExists,
        (TopicOp::Create, 400) if error.contains("storage node") => TopicRet::Refused,
        (TopicOp::Delete, 200) => TopicRet::Deleted,
        (TopicOp::Delete | TopicOp::Cas { .. }, 404) => TopicRet::NotFound,
        (TopicOp::Cas { .. }, 200) => TopicRet::Swapped { new_version: version()? },
        (TopicOp::Cas { .. }, 409) => {
            let current = error.split("at version ").nth(1)?.split(|c: char| !c.is_ascii_digit()).next()?;
            TopicRet::VersionMismatch { current: current.parse().ok()? }
        }
        _ => return None,
    })
}

impl Workload for MetadataWorkload {
    fn setup(&self, _env: &Env) -> Result<(), String> {
        Ok(())
    }

    fn client(&self, i: usize, env: &Env) {
        let mut rng = env.rng(i);
        let name = format!("m{i}");
        let mut known: Vec<u64> = vec![1; KEYS as usize];
        while !env.stopped() {
            let k = rng.gen_range(0..KEYS);
            let key = format!("jm-{k}");
            let op = match rng.gen_range(0..10) {
                0 => TopicOp::Create,
                1 => TopicOp::Delete,
                2..=4 => TopicOp::Cas { expected: known[k as usize] },
                _ => TopicOp::Read,
            };
            let (method, path, body) = request(&key, &op, &mut rng);
            let node = env.any_node(&mut rng).admin;
            let id = env.history.invoke(&name, &format!("{op:?}"), json!({ "key": key }));
            let call_ms = env.history.now_ms();
            let outcome = http::request(node, method, &path, body.as_ref(), OP_TIMEOUT);
            let return_ms = env.history.now_ms();
            let ret = match &outcome {
                Outcome::NotSent(e) => {
                    env.history.complete(id, Kind::Fail, json!(e));
                    continue; // never sent: not part of the history
                }
                Outcome::Answer(status, v) => interpret(&op, *status, v),
                Outcome::Unknown(_) => None,
            };
            match &ret {
                Some(r) => env.history.complete(id, Kind::Ok, json!(format!("{r:?}"))),
                None => env.history.complete(id, Kind::Info, json!(format!("{outcome:?}"))),
            }
            match ret {
                Some(
                    TopicRet::Value(Some(v))
                    | TopicRet::Swapped { new_version: v }
                    | TopicRet::VersionMismatch { current: v },
                ) => known[k as usize] = v,
                Some(TopicRet::Created) => known[k as usize] = 1,
                _ => {}
            }
            // An unknown outcome may take effect at any time after the call (a command the meta
            // leader commits after the client gave up), so it has no return for the checker.
            let return_ms = ret.as_ref().map(|_| return_ms);
            let operation = Operation { client: i as u64, call_ms, return_ms, op, ret };
            self.ops.lock().unwrap_or_else(|e| e.into_inner()).push((key, operation));
            std::thread::sleep(Duration::from_millis(rng.gen_range(5..30)));
        }
    }

    fn finish(&self, _env: &Env, verdict: &mut Verdict) {
        let ops = self.ops.lock().unwrap_or_else(|e| e.into_inner());
        verdict.stat("operations", ops.len() as u64);
        verdict.stat("operations-unknown", ops.iter().filter(|(_, o)| o.ret.is_none()).count() as u64);
        let outcome = linearizable::check_topics_outcome(&ops);
        if let CheckOutcome::Unknown(why) = &outcome {
            verdict.stat("linearizability-search-exhausted", 1);
            verdict.anomalies.entry("unchecked".into()).or_default().push(why.clone());
        }
        verdict.check(linearizable::INVARIANT, outcome.into_result());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_map_to_the_models_results() {
        let topic = json!({ "kind": "topic", "name": "jm-0", "version": 3 });
        assert_eq!(interpret(&TopicOp::Read, 200, &topic), Some(TopicRet::Value(Some(3))));
        assert_eq!(interpret(&TopicOp::Read, 404, &json!({})), Some(TopicRet::Value(None)));
        assert_eq!(interpret(&TopicOp::Cas { expected: 2 }, 200, &topic), Some(TopicRet::Swapped { new_version: 3 }));
        let mismatch = json!({ "error": "topic \"jm-0\" is at version 7, not the expected one" });
        assert_eq!(
            interpret(&TopicOp::Cas { expected: 2 }, 409, &mismatch),
            Some(TopicRet::VersionMismatch { current: 7 })
        );
        assert_eq!(
            interpret(&TopicOp::Create, 409, &json!({ "error": "topic \"jm-0\" already exists" })),
            Some(TopicRet::AlreadyExists)
        );
        assert_eq!(interpret(&TopicOp::Create, 504, &json!({ "error": "outcome unknown" })), None);
        assert_eq!(interpret(&TopicOp::Delete, 503, &json!({})), None);
    }
}
