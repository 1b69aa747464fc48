//! The log workload: appends of unique values through the admin API (acks=all, the node's
//! idempotent producer) to a replicated topic, a reader polling every partition in order, and
//! after the heal a final read of everything. Checked for lost writes, duplicates,
//! inconsistent offsets, nonmonotonic and skipping polls and nonmonotonic sends.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use keel_sim::invariants::kafka_history::{FinalRead, PollLog, ProduceOutcome, Produced};
use keel_sim::invariants::{
    kafka_duplicate, kafka_inconsistent_offsets, kafka_lost_write, kafka_nonmonotonic_poll, kafka_nonmonotonic_send,
    kafka_poll_skip,
};
use rand::Rng;
use serde_json::{json, Value};

use super::{Env, Workload};
use crate::history::Kind;
use crate::http::{self, Outcome};
use crate::verdict::Verdict;

const TOPIC: &str = "jepsen-log";
const PARTITIONS: u32 = 2;
/// How long one measured operation may take before its outcome counts as unknown.
const OP_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
pub struct LogWorkload {
    produced: Mutex<Vec<Produced>>,
    polls: Mutex<Vec<PollLog>>,
}

fn records_path(partition: u32, offset: i64) -> String {
    format!("/api/topics/{TOPIC}/partitions/{partition}/records?offset={offset}")
}

/// (offset, value) of each record in a read's answer.
pub(crate) fn parse_records(v: &Value) -> Vec<(i64, String)> {
    v["records"]
        .as_array()
        .map(|a| a.iter().filter_map(|r| Some((r["offset"].as_i64()?, r["value"].as_str()?.to_string()))).collect())
        .unwrap_or_default()
}

impl LogWorkload {
    fn writer(&self, i: usize, env: &Env) {
        let mut rng = env.rng(i);
        let name = format!("w{i}");
        for seq in 0u64.. {
            if env.stopped() {
                break;
            }
            let partition = rng.gen_range(0..PARTITIONS);
            let value = format!("{name}-{seq}");
            let node = env.any_node(&mut rng).admin;
            let op = env.history.invoke(&name, "append", json!({ "partition": partition, "value": value }));
            let path = format!("/api/topics/{TOPIC}/partitions/{partition}/records");
            let outcome = match http::request(node, "POST", &path, Some(&json!({ "records": [value] })), OP_TIMEOUT) {
                Outcome::Answer(200, v) => match v["base_offset"].as_i64() {
                    Some(offset) => {
                        env.history.complete(op, Kind::Ok, json!({ "offset": offset }));
                        ProduceOutcome::Acked(offset)
                    }
                    None => {
                        env.history.complete(op, Kind::Info, v);
                        ProduceOutcome::Unknown
                    }
                },
                Outcome::NotSent(e) => {
                    env.history.complete(op, Kind::Fail, json!(e));
                    continue; // never sent: not part of the run
                }
                // Not acknowledged, or no answer: it may still be committed later.
                Outcome::Answer(status, v) => {
                    env.history.complete(op, Kind::Info, json!({ "status": status, "body": v }));
                    ProduceOutcome::Unknown
                }
                Outcome::Unknown(e) => {
                    env.history.complete(op, Kind::Info, json!(e));
                    ProduceOutcome::Unknown
                }
            };
            let produced = Produced { producer: name.clone(), partition: partition as i32, value, outcome };
            self.produced.lock().unwrap_or_else(|e| e.into_inner()).push(produced);
            std::thread::sleep(Duration::from_millis(rng.gen_range(1..10)));
        }
    }

    /// Polls every partition in order from offset 0, from random nodes, as a consumer would.
    fn reader(&self, i: usize, env: &Env) {
        let mut rng = env.rng(i);
        let name = format!("r{i}");
        let mut logs: Vec<PollLog> = (0..PARTITIONS)
            .map(|p| PollLog { consumer: name.clone(), partition: p as i32, from: 0, records: Vec::new() })
            .collect();
        while !env.stopped() {
            for log in logs.iter_mut() {
                let next = log.records.last().map_or(log.from, |(o, _)| o + 1);
                let node = env.any_node(&mut rng).admin;
                let op = env.history.invoke(&name, "poll", json!({ "partition": log.partition, "offset": next }));
                match http::request(node, "GET", &records_path(log.partition as u32, next), None, OP_TIMEOUT) {
                    Outcome::Answer(200, v) => {
                        let got = parse_records(&v);
                        env.history.complete(op, Kind::Ok, json!({ "records": got.len() }));
                        log.records.extend(got);
                    }
                    Outcome::NotSent(e) => env.history.complete(op, Kind::Fail, json!(e)),
                    other => env.history.complete(op, Kind::Fail, json!(format!("{other:?}"))),
                }
            }
            std::thread::sleep(Duration::from_millis(rng.gen_range(10..50)));
        }
        self.polls.lock().unwrap_or_else(|e| e.into_inner()).extend(logs);
    }
}

/// Reads `partitions` of `topic`-style record routes from offset 0 to the high watermark, until
/// two reads in a row agree (or `limit` passes): the final read every check compares with.
pub(crate) fn final_read(env: &Env, path: impl Fn(u32, i64) -> String, partitions: u32) -> Result<FinalRead, String> {
    let mut out = BTreeMap::new();
    for p in 0..partitions {
        let mut previous: Option<Vec<(i64, String)>> = None;
        for _ in 0..30 {
            let mut records: Vec<(i64, String)> = Vec::new();
            loop {
                let next = records.last().map_or(0, |(o, _)| o + 1);
                let v = env.admin_until("GET", &path(p, next), None, &[200], Duration::from_secs(60))?;
                let got = parse_records(&v);
                let hw = v["high_watermark"].as_i64().unwrap_or(0);
                let empty = got.is_empty();
                records.extend(got);
                if empty || records.last().map_or(0, |(o, _)| o + 1) >= hw {
                    break;
                }
            }
            if previous.as_ref() == Some(&records) {
                break;
            }
            previous = Some(records);
            std::thread::sleep(Duration::from_millis(500));
        }
        out.insert(p as i32, previous.unwrap_or_default());
    }
    Ok(out)
}

impl Workload for LogWorkload {
    fn setup(&self, env: &Env) -> Result<(), String> {
        env.create_topic(TOPIC, PARTITIONS)
    }

    fn client(&self, i: usize, env: &Env) {
        if i == 0 {
            self.reader(i, env);
        } else {
            self.writer(i, env);
        }
    }

    fn finish(&self, env: &Env, verdict: &mut Verdict) {
        let read = match final_read(env, records_path, PARTITIONS) {
            Ok(r) => r,
            Err(e) => return verdict.unchecked(format!("final read: {e}")),
        };
        let produced = self.produced.lock().unwrap_or_else(|e| e.into_inner());
        let polls = self.polls.lock().unwrap_or_else(|e| e.into_inner());
        check_log(&produced, &polls, &read, verdict);
    }
}

/// The checks of a log or Kafka history: sends, polls and the final read.
pub(crate) fn check_log(produced: &[Produced], polls: &[PollLog], read: &FinalRead, verdict: &mut Verdict) {
    let acked = produced.iter().filter(|p| matches!(p.outcome, ProduceOutcome::Acked(_))).count();
    verdict.stat("sends", produced.len() as u64);
    verdict.stat("sends-acknowledged", acked as u64);
    verdict.stat("sends-unknown", (produced.len() - acked) as u64);
    verdict.stat("polled", polls.iter().map(|l| l.records.len() as u64).sum());
    verdict.stat("final-read", read.values().map(|r| r.len() as u64).sum());
    verdict.check(kafka_lost_write::INVARIANT, kafka_lost_write::check(produced, read));
    verdict.check(kafka_duplicate::INVARIANT, kafka_duplicate::check(read));
    verdict.check(kafka_inconsistent_offsets::INVARIANT, kafka_inconsistent_offsets::check(polls, read));
    verdict.check(kafka_nonmonotonic_poll::INVARIANT, kafka_nonmonotonic_poll::check(polls));
    verdict.check(kafka_poll_skip::INVARIANT, kafka_poll_skip::check(polls));
    verdict.check(kafka_nonmonotonic_send::INVARIANT, kafka_nonmonotonic_send::check(produced));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_acknowledged_append_is_reported_as_lost_write() {
        let produced = vec![
            Produced { producer: "w1".into(), partition: 0, value: "w1-0".into(), outcome: ProduceOutcome::Acked(0) },
            Produced { producer: "w1".into(), partition: 0, value: "w1-1".into(), outcome: ProduceOutcome::Acked(1) },
        ];
        let read: FinalRead = BTreeMap::from([(0, vec![(0, "w1-0".to_string())])]);
        let mut v = Verdict::new();
        check_log(&produced, &[], &read, &mut v);
        assert!(!v.valid);
        assert!(v.anomalies.contains_key("lost-write"), "{v:?}");
        let full: FinalRead = BTreeMap::from([(0, vec![(0, "w1-0".to_string()), (1, "w1-1".to_string())])]);
        let mut v = Verdict::new();
        check_log(&produced, &[], &full, &mut v);
        assert!(v.valid, "{v:?}");
    }

    #[test]
    fn records_parse_from_the_admin_answer() {
        let v =
            json!({ "records": [{ "offset": 4, "value": "a" }, { "offset": 5, "value": "b" }], "high_watermark": 6 });
        assert_eq!(parse_records(&v), [(4, "a".to_string()), (5, "b".to_string())]);
    }
}
