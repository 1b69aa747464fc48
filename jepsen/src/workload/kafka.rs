//! The Kafka workload, with librdkafka (the rdkafka crate) as the client: producers with and
//! without idempotence (acks=all, one record at a time, the non-idempotent one without client
//! retries so that any duplicate is the broker's), a consumer that assigns itself every
//! partition from the start, one in a consumer group (subscribe, auto-commit), and after the
//! heal a final read with a fresh consumer up to each partition's high watermark. Checked for
//! lost writes, duplicates, inconsistent offsets, nonmonotonic and skipping polls, nonmonotonic
//! sends, and records the group never saw (unseen).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use keel_sim::invariants::kafka_history::{FinalRead, PollLog, ProduceOutcome, Produced};
use keel_sim::invariants::kafka_unseen;
use rand::Rng;
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;

use super::log::check_log;
use super::{Env, Workload};
use crate::history::Kind;
use crate::verdict::Verdict;

const TOPIC: &str = "jepsen-kafka";
const PARTITIONS: i32 = 2;
/// How long a consumer keeps polling after the run while nothing new comes.
const DRAIN_IDLE: Duration = Duration::from_secs(8);
const DRAIN_MAX: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct KafkaWorkload {
    produced: Mutex<Vec<Produced>>,
    polls: Mutex<Vec<PollLog>>,
    /// What the group's member polled: (partition, offset, value).
    group_polled: Mutex<Vec<(i32, i64, String)>>,
}

/// Delivery reports, by the id each record was sent with.
#[derive(Default)]
struct Reports(Mutex<BTreeMap<usize, Result<i64, String>>>);

impl ClientContext for Reports {}

impl ProducerContext for Reports {
    type DeliveryOpaque = Box<usize>;

    fn delivery(&self, result: &DeliveryResult<'_>, id: Box<usize>) {
        let r = match result {
            Ok(m) => Ok(m.offset()),
            Err((e, _)) => Err(e.to_string()),
        };
        self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(*id, r);
    }
}

fn config(env: &Env, extra: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", env.kafka_bootstrap()).set("log_level", "3");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c
}

fn value_of(m: &impl Message) -> String {
    String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned()
}

impl KafkaWorkload {
    fn producer(&self, i: usize, env: &Env, idempotent: bool) {
        let name = format!("{}{i}", if idempotent { "idem" } else { "plain" });
        let mut settings =
            vec![("acks", "all"), ("linger.ms", "0"), ("message.timeout.ms", "10000"), ("request.timeout.ms", "5000")];
        settings.push(("enable.idempotence", if idempotent { "true" } else { "false" }));
        if !idempotent {
            settings.push(("message.send.max.retries", "0"));
        }
        let producer: BaseProducer<Reports> = match config(env, &settings).create_with_context(Reports::default()) {
            Ok(p) => p,
            Err(e) => {
                env.history.nemesis("client-error", json!({ "client": name, "error": e.to_string() }));
                return;
            }
        };
        let mut rng = env.rng(i);
        for seq in 0usize.. {
            if env.stopped() {
                break;
            }
            let partition = rng.gen_range(0..PARTITIONS);
            let value = format!("{name}-{seq}");
            let op = env.history.invoke(&name, "send", json!({ "partition": partition, "value": value }));
            let record =
                BaseRecord::with_opaque_to(TOPIC, Box::new(seq)).payload(value.as_bytes()).partition(partition);
            if let Err((e, _)) = producer.send::<(), _>(record) {
                env.history.complete(op, Kind::Fail, json!(e.to_string()));
                std::thread::sleep(Duration::from_millis(100));
                continue; // not enqueued: never sent
            }
            let deadline = Instant::now() + Duration::from_secs(15);
            let report = loop {
                producer.poll(Duration::from_millis(50));
                if let Some(r) = producer.context().0.lock().unwrap_or_else(|e| e.into_inner()).remove(&seq) {
                    break Some(r);
                }
                if Instant::now() > deadline {
                    break None;
                }
            };
            let outcome = match report {
                Some(Ok(offset)) => {
                    env.history.complete(op, Kind::Ok, json!({ "offset": offset }));
                    ProduceOutcome::Acked(offset)
                }
                other => {
                    env.history.complete(op, Kind::Info, json!(format!("{other:?}")));
                    ProduceOutcome::Unknown
                }
            };
            let produced = Produced { producer: name.clone(), partition, value, outcome };
            self.produced.lock().unwrap_or_else(|e| e.into_inner()).push(produced);
        }
        let _ = producer.flush(Duration::from_secs(5));
    }

    /// Polls `consumer` until stopped, then until nothing new comes for [`DRAIN_IDLE`];
    /// hands each record to `got`.
    fn consume(env: &Env, name: &str, consumer: &BaseConsumer, mut got: impl FnMut(i32, i64, String)) {
        let mut last_new = Instant::now();
        let mut drain_start = None;
        loop {
            if env.stopped() && drain_start.is_none() {
                drain_start = Some(Instant::now());
                last_new = Instant::now();
            }
            if drain_start.is_some_and(|s| last_new.elapsed() > DRAIN_IDLE || s.elapsed() > DRAIN_MAX) {
                break;
            }
            match consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Ok(m)) => {
                    let op = env.history.invoke(name, "poll", json!({ "partition": m.partition() }));
                    env.history.complete(op, Kind::Ok, json!({ "offset": m.offset() }));
                    got(m.partition(), m.offset(), value_of(&m));
                    last_new = Instant::now();
                }
                Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => {}
                Some(Err(e)) => {
                    let op = env.history.invoke(name, "poll", json!(null));
                    env.history.complete(op, Kind::Fail, json!(e.to_string()));
                }
            }
        }
    }

    fn assigned_consumer(&self, i: usize, env: &Env) {
        let name = format!("assign{i}");
        let settings =
            [("group.id", "jepsen-assign"), ("enable.auto.commit", "false"), ("auto.offset.reset", "earliest")];
        let consumer: BaseConsumer = match config(env, &settings).create() {
            Ok(c) => c,
            Err(e) => return env.history.nemesis("client-error", json!({ "client": name, "error": e.to_string() })),
        };
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            let _ = tpl.add_partition_offset(TOPIC, p, Offset::Beginning);
        }
        if let Err(e) = consumer.assign(&tpl) {
            return env.history.nemesis("client-error", json!({ "client": name, "error": e.to_string() }));
        }
        let mut logs: Vec<PollLog> = (0..PARTITIONS)
            .map(|p| PollLog { consumer: name.clone(), partition: p, from: 0, records: Vec::new() })
            .collect();
        Self::consume(env, &name, &consumer, |p, o, v| logs[p as usize].records.push((o, v)));
        self.polls.lock().unwrap_or_else(|e| e.into_inner()).extend(logs);
    }

    fn group_consumer(&self, i: usize, env: &Env) {
        let name = format!("group{i}");
        let settings = [
            ("group.id", "jepsen-group"),
            ("enable.auto.commit", "true"),
            ("auto.commit.interval.ms", "500"),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "10000"),
        ];
        let consumer: BaseConsumer = match config(env, &settings).create() {
            Ok(c) => c,
            Err(e) => return env.history.nemesis("client-error", json!({ "client": name, "error": e.to_string() })),
        };
        if let Err(e) = consumer.subscribe(&[TOPIC]) {
            return env.history.nemesis("client-error", json!({ "client": name, "error": e.to_string() }));
        }
        let mut polled = Vec::new();
        Self::consume(env, &name, &consumer, |p, o, v| polled.push((p, o, v)));
        self.group_polled.lock().unwrap_or_else(|e| e.into_inner()).extend(polled);
    }

    /// Every partition from the beginning up to its high watermark, with a fresh consumer.
    fn final_read(env: &Env) -> Result<FinalRead, String> {
        let consumer: BaseConsumer = config(env, &[("group.id", "jepsen-final"), ("enable.auto.commit", "false")])
            .create()
            .map_err(|e| e.to_string())?;
        let mut out = FinalRead::new();
        for p in 0..PARTITIONS {
            let (_, high) = consumer
                .fetch_watermarks(TOPIC, p, Duration::from_secs(30))
                .map_err(|e| format!("watermarks of {p}: {e}"))?;
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(TOPIC, p, Offset::Beginning).map_err(|e| e.to_string())?;
            consumer.assign(&tpl).map_err(|e| e.to_string())?;
            let mut records: Vec<(i64, String)> = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(60);
            while records.last().map_or(0, |(o, _)| o + 1) < high {
                if Instant::now() > deadline {
                    return Err(format!(
                        "partition {p}: read {} records below the high watermark {high} in 60 s",
                        records.len()
                    ));
                }
                match consumer.poll(Duration::from_millis(200)) {
                    Some(Ok(m)) => records.push((m.offset(), value_of(&m))),
                    Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) | None => {}
                    Some(Err(e)) => return Err(format!("partition {p}: {e}")),
                }
            }
            out.insert(p, records);
        }
        Ok(out)
    }
}

impl Workload for KafkaWorkload {
    fn setup(&self, env: &Env) -> Result<(), String> {
        env.create_topic(TOPIC, PARTITIONS as u32)
    }

    fn client(&self, i: usize, env: &Env) {
        match i {
            0 => self.assigned_consumer(i, env),
            1 => self.group_consumer(i, env),
            _ => self.producer(i, env, i.is_multiple_of(2)),
        }
    }

    fn finish(&self, env: &Env, verdict: &mut Verdict) {
        let read = match Self::final_read(env) {
            Ok(r) => r,
            Err(e) => return verdict.unchecked(format!("final read: {e}")),
        };
        let produced = self.produced.lock().unwrap_or_else(|e| e.into_inner());
        let polls = self.polls.lock().unwrap_or_else(|e| e.into_inner());
        check_log(&produced, &polls, &read, verdict);
        let group = self.group_polled.lock().unwrap_or_else(|e| e.into_inner());
        verdict.stat("group-polled", group.len() as u64);
        verdict.check(kafka_unseen::INVARIANT, kafka_unseen::check(&produced, &read, &group));
    }
}
