//! The clients the checks use: configurations, topics made and removed through the admin API,
//! producing a batch and waiting for every delivery report, and reading a partition back with a
//! bounded wait.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

/// How long a produce, an admin call or a read may take.
pub const WAIT: Duration = Duration::from_secs(30);

/// A checked outcome: why not, as text.
pub type Outcome<T = ()> = Result<T, String>;

/// One record read back: partition, offset, value.
pub type Read = (i32, i64, String);

/// A client configuration for `bootstrap` with `extra` settings (and librdkafka's debug
/// contexts from `RDKAFKA_DEBUG`, e.g. `cgrp,protocol`, when set).
pub fn config(bootstrap: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap).set("log_level", "3");
    if let Ok(debug) = std::env::var("RDKAFKA_DEBUG") {
        c.set("debug", debug).set("log_level", "7");
    }
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c
}

/// A topic name no other run uses.
pub fn unique_topic(check: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("rdk-{check}-{}-{}", std::process::id(), nanos % 1_000_000_000)
}

pub fn admin(bootstrap: &str) -> Outcome<AdminClient<DefaultClientContext>> {
    config(bootstrap, &[]).create().map_err(|e| format!("admin client: {e}"))
}

pub fn options() -> AdminOptions {
    AdminOptions::new().operation_timeout(Some(WAIT)).request_timeout(Some(WAIT))
}

/// Creates `topic` with `partitions` (one replica: the check runs against one node).
pub async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) -> Outcome {
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let res = admin(bootstrap)?.create_topics([&new], &options()).await.map_err(|e| format!("create {topic}: {e}"))?;
    match res.first() {
        Some(Ok(_)) => Ok(()),
        Some(Err((_, code))) => Err(format!("create {topic}: {code:?}")),
        None => Err(format!("create {topic}: no result")),
    }
}

/// Deletes `topic`.
pub async fn delete_topic(bootstrap: &str, topic: &str) -> Outcome {
    let res =
        admin(bootstrap)?.delete_topics(&[topic], &options()).await.map_err(|e| format!("delete {topic}: {e}"))?;
    match res.first() {
        Some(Ok(_)) => Ok(()),
        Some(Err((_, code))) => Err(format!("delete {topic}: {code:?}")),
        None => Err(format!("delete {topic}: no result")),
    }
}

pub fn producer(bootstrap: &str, extra: &[(&str, &str)]) -> Outcome<FutureProducer> {
    let mut all = vec![("message.timeout.ms", "30000"), ("linger.ms", "5")];
    all.extend_from_slice(extra);
    config(bootstrap, &all).create().map_err(|e| format!("producer: {e}"))
}

/// Sends `values` to `partition` of `topic` (with `timestamps`, one per value, if given) in one
/// go, and waits for every delivery report: the (partition, offset) of each, in order.
pub async fn produce(
    p: &FutureProducer,
    topic: &str,
    partition: i32,
    values: &[String],
    timestamps: Option<&[i64]>,
) -> Outcome<Vec<(i32, i64)>> {
    let mut pending = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let mut r = FutureRecord::<(), _>::to(topic).payload(v.as_bytes()).partition(partition);
        if let Some(ts) = timestamps.and_then(|t| t.get(i)) {
            r = r.timestamp(*ts);
        }
        pending.push(p.send_result(r).map_err(|(e, _)| format!("enqueueing: {e}"))?);
    }
    let mut out = Vec::with_capacity(pending.len());
    for d in pending {
        match d.await {
            Ok(Ok(d)) => out.push((d.partition, d.offset)),
            Ok(Err((e, _))) => return Err(format!("delivery failed: {e}")),
            Err(_) => return Err("delivery report lost".into()),
        }
    }
    Ok(out)
}

/// A consumer without a group, for reading partitions it is assigned.
pub fn reader(bootstrap: &str) -> Outcome<BaseConsumer> {
    config(bootstrap, &[("enable.auto.commit", "false"), ("group.id", "rdkafka-check-reader")])
        .create()
        .map_err(|e| format!("consumer: {e}"))
}

/// Reads `partition` of `topic` from `from` until `want` records came or [`WAIT`] passed.
pub fn read(bootstrap: &str, topic: &str, partition: i32, from: Offset, want: usize) -> Outcome<Vec<Read>> {
    let c = reader(bootstrap)?;
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, from).map_err(|e| e.to_string())?;
    c.assign(&tpl).map_err(|e| format!("assign: {e}"))?;
    poll_until(&c, want, WAIT)
}

/// Polls `c` until `want` records came or `wait` passed; an error other than a partition's end
/// fails.
pub fn poll_until<C: ConsumerContext>(c: &BaseConsumer<C>, want: usize, wait: Duration) -> Outcome<Vec<Read>> {
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        match c.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(m)) => {
                let v = String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned();
                got.push((m.partition(), m.offset(), v));
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) => return Err(format!("consuming: {e}")),
        }
    }
    Ok(got)
}

/// `n` values named after `prefix`.
pub fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// The values of `read`, in order.
pub fn payloads(read: &[Read]) -> Vec<String> {
    read.iter().map(|(_, _, v)| v.clone()).collect()
}

/// A context that prints librdkafka's log lines (errors, or everything `RDKAFKA_DEBUG` asks
/// for) to stderr.
pub struct Printing;

impl ClientContext for Printing {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, line: &str) {
        eprintln!("% librdkafka {level:?} {fac}: {line}");
    }
}

impl ConsumerContext for Printing {}
