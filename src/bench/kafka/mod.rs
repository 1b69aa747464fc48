//! `keel bench kafka`: producers and consumers over the Kafka wire protocol, against Keel or any
//! Kafka-compatible broker. Producers send record batches of `--batch` records (`--payload`
//! bytes each, uncompressed) round-robin over the partitions, `--inflight` requests pipelined
//! per connection, flat out or at a fixed `--rate`; consumers fetch every partition from its end
//! at the start. Each record is stamped with its due time, so the consumers measure end-to-end
//! latency (from when the record was due, not when it went out: no coordinated omission).
//! Progress every second on stderr; a summary (or `--json`) on stdout. With `--committers N` it
//! measures offset commits per second instead (`commit.rs`).

mod commit;
mod conn;
mod consumer;
mod producer;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel_protocols::kafka::kafka_protocol::messages::create_topics_request::CreatableTopic;
use keel_protocols::kafka::kafka_protocol::messages::{ApiKey, CreateTopicsRequest, CreateTopicsResponse, TopicName};
use keel_protocols::kafka::kafka_protocol::protocol::StrBytes;
use keel_rt::task;
use keel_rt::time::{self, Instant};

use super::mqtt::histogram::Histogram;
use conn::Conn;

/// The longest run.
const RUN_TIME_MAX: Duration = Duration::from_secs(3600);

/// What to run.
#[derive(clap::Args, Clone, Debug)]
pub struct Options {
    /// The broker (host:port).
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub bootstrap: String,
    #[arg(long, default_value = "keel-bench")]
    pub topic: String,
    /// Partitions of the topic when the bench creates it.
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    #[arg(long, default_value_t = 1)]
    pub producers: u32,
    #[arg(long, default_value_t = 1)]
    pub consumers: u32,
    /// -1 (all), 1 or 0.
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub acks: i16,
    /// Records per batch (per produce request and partition).
    #[arg(long, default_value_t = 1000)]
    pub batch: u32,
    /// Bytes per record value, at least 16 (the stamp).
    #[arg(long, default_value_t = 100)]
    pub payload: usize,
    /// Produce requests in flight per producer connection.
    #[arg(long, default_value_t = 4)]
    pub inflight: u32,
    /// Records per second over all producers; 0 = flat out.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Seconds of producing.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Seconds produced but not measured, first.
    #[arg(long, default_value_t = 1)]
    pub warmup: u64,
    /// The summary as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Instead of producing and consuming: this many consumer groups committing offsets of
    /// every partition, one commit request at a time each.
    #[arg(long, default_value_t = 0)]
    pub committers: u32,
}

/// What producers and consumers share.
pub struct Shared {
    pub opts: Options,
    pub start: Instant,
    /// Records produced before this are not measured.
    pub measure_from: Instant,
    pub stop: AtomicBool,
    pub acked: AtomicU64,
    pub acked_measured: AtomicU64,
    pub consumed: AtomicU64,
    pub consumed_measured: AtomicU64,
    pub errors: AtomicU64,
    pub e2e: Mutex<Histogram>,
    pub ack: Mutex<Histogram>,
    pub last_measured_ack: Mutex<Option<Instant>>,
    pub last_measured_receipt: Mutex<Option<Instant>>,
}

impl Shared {
    /// Nanoseconds since the run started.
    pub fn now_ns(&self) -> u64 {
        time::now().duration_since(self.start).as_nanos() as u64
    }

    pub fn measured(&self, at_ns: u64) -> bool {
        at_ns >= self.measure_from.duration_since(self.start).as_nanos() as u64
    }
}

async fn ensure_topic(opts: &Options) -> Result<(), String> {
    let mut conn =
        Conn::connect(&opts.bootstrap).await.map_err(|e| format!("connecting to {}: {e}", opts.bootstrap))?;
    let req = CreateTopicsRequest::default().with_timeout_ms(30_000).with_topics(vec![CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(opts.topic.clone())))
        .with_num_partitions(opts.partitions)
        .with_replication_factor(-1)]);
    let resp: CreateTopicsResponse =
        conn.call(ApiKey::CreateTopics, 5, &req).await.map_err(|e| format!("CreateTopics: {e}"))?;
    match resp.topics.first().map(|t| t.error_code) {
        Some(0) | Some(36) => Ok(()), // created, or it exists already
        other => Err(format!("CreateTopics answered {other:?}")),
    }
}

pub async fn run(opts: Options) -> Result<(), String> {
    if opts.payload < 16 || opts.batch == 0 || opts.partitions < 1 || opts.inflight == 0 {
        return Err("need --payload >= 16, --batch >= 1, --partitions >= 1, --inflight >= 1".into());
    }
    let duration = Duration::from_secs(opts.duration).min(RUN_TIME_MAX);
    ensure_topic(&opts).await?;
    let start = time::now();
    let shared = Arc::new(Shared {
        measure_from: start + Duration::from_secs(opts.warmup),
        start,
        opts: opts.clone(),
        stop: AtomicBool::new(false),
        acked: AtomicU64::new(0),
        acked_measured: AtomicU64::new(0),
        consumed: AtomicU64::new(0),
        consumed_measured: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        e2e: Mutex::new(Histogram::default()),
        ack: Mutex::new(Histogram::default()),
        last_measured_ack: Mutex::new(None),
        last_measured_receipt: Mutex::new(None),
    });
    if opts.committers > 0 {
        return commits(shared, duration).await;
    }
    let mut consumers = Vec::new();
    for i in 0..opts.consumers {
        consumers.push(task::spawn(consumer::run(shared.clone(), i)));
    }
    // Consumers find the partitions' ends before anything is produced.
    time::sleep(Duration::from_millis(500)).await;
    let mut producers = Vec::new();
    for i in 0..opts.producers {
        producers.push(task::spawn(producer::run(shared.clone(), i, duration + Duration::from_secs(opts.warmup))));
    }
    let progress = task::spawn(progress(shared.clone()));
    let mut produced = 0;
    for p in producers {
        produced += p.await.map_err(|e| e.to_string())??;
    }
    // Consumers get until everything produced arrived, or 10 s without news.
    let mut last = (shared.consumed.load(Ordering::Relaxed), time::now());
    while opts.consumers > 0 && shared.consumed.load(Ordering::Relaxed) < produced * u64::from(opts.consumers) {
        time::sleep(Duration::from_millis(100)).await;
        let now = shared.consumed.load(Ordering::Relaxed);
        if now != last.0 {
            last = (now, time::now());
        } else if last.1.elapsed() > Duration::from_secs(10) {
            break;
        }
    }
    shared.stop.store(true, Ordering::Relaxed);
    for c in consumers {
        let _ = c.await;
    }
    progress.abort();
    report(&shared, produced);
    match shared.errors.load(Ordering::Relaxed) {
        0 => Ok(()),
        n => Err(format!("{n} requests failed")),
    }
}

/// The `--committers` run: commits for the duration (after the warm-up), then the rate.
async fn commits(shared: Arc<Shared>, duration: Duration) -> Result<(), String> {
    let opts = shared.opts.clone();
    let tasks: Vec<_> = (0..opts.committers).map(|i| task::spawn(commit::run(shared.clone(), i))).collect();
    time::sleep(duration + Duration::from_secs(opts.warmup)).await;
    shared.stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let n = shared.acked_measured.load(Ordering::Relaxed);
    let per_s = rate(n, shared.measure_from, *shared.last_measured_ack.lock().expect("lock"));
    let h = shared.ack.lock().expect("lock").clone();
    let (p50, p99) = (h.percentile(50.0) / 1000, h.percentile(99.0) / 1000);
    let errors = shared.errors.load(Ordering::Relaxed);
    match opts.json {
        true => report_line!(
            "{{\"commits_per_s\":{per_s:.0},\"partitions_per_commit\":{},\"committers\":{},\"commit\":{{\"p50_us\":{p50},\"p99_us\":{p99}}},\"errors\":{errors}}}",
            opts.partitions, opts.committers
        ),
        false => {
            report_line!("offset commits: {per_s:.0}/s ({} committers, {} partitions per commit)", opts.committers, opts.partitions);
            report_line!("commit latency µs: p50 {p50} p99 {p99}");
        }
    }
    match errors {
        0 => Ok(()),
        n => Err(format!("{n} commits failed")),
    }
}

async fn progress(shared: Arc<Shared>) {
    let mut last = (0, 0);
    loop {
        time::sleep(Duration::from_secs(1)).await;
        let (a, c) = (shared.acked.load(Ordering::Relaxed), shared.consumed.load(Ordering::Relaxed));
        let p99 = shared.e2e.lock().map(|h| h.percentile(99.0) / 1000).unwrap_or(0);
        eprintln!("bench kafka: acked {}/s, consumed {}/s, e2e p99 so far {} µs", a - last.0, c - last.1, p99);
        last = (a, c);
    }
}

fn rate(count: u64, from: Instant, to: Option<Instant>) -> f64 {
    match to {
        Some(t) if t > from => count as f64 / t.duration_since(from).as_secs_f64(),
        _ => 0.0,
    }
}

fn report(shared: &Shared, produced: u64) {
    let opts = &shared.opts;
    let acked = shared.acked_measured.load(Ordering::Relaxed);
    let consumed = shared.consumed_measured.load(Ordering::Relaxed);
    let produce_rate = rate(acked, shared.measure_from, *shared.last_measured_ack.lock().expect("lock"));
    let consume_rate = rate(consumed, shared.measure_from, *shared.last_measured_receipt.lock().expect("lock"));
    let mb = |r: f64| r * opts.payload as f64 / 1e6;
    let e2e = shared.e2e.lock().expect("lock").clone();
    let ack = shared.ack.lock().expect("lock").clone();
    let us = |h: &Histogram, p: f64| h.percentile(p) / 1000;
    if opts.json {
        report_line!(
            "{{\"produced\":{produced},\"acked_per_s\":{produce_rate:.0},\"produce_mb_per_s\":{:.1},\"consumed_per_s\":{consume_rate:.0},\"consume_mb_per_s\":{:.1},\"e2e\":{{\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"max_us\":{}}},\"ack\":{{\"p50_us\":{},\"p99_us\":{}}},\"errors\":{}}}",
            mb(produce_rate),
            mb(consume_rate),
            us(&e2e, 50.0),
            us(&e2e, 99.0),
            us(&e2e, 99.9),
            e2e.max() / 1000,
            us(&ack, 50.0),
            us(&ack, 99.0),
            shared.errors.load(Ordering::Relaxed)
        );
        return;
    }
    report_line!("records produced (acknowledged): {produced}");
    report_line!("produce: {produce_rate:.0} records/s, {:.1} MB/s (measured window)", mb(produce_rate));
    report_line!("consume: {consume_rate:.0} records/s, {:.1} MB/s", mb(consume_rate));
    report_line!(
        "end-to-end latency µs: p50 {} p99 {} p99.9 {} max {}",
        us(&e2e, 50.0),
        us(&e2e, 99.0),
        us(&e2e, 99.9),
        e2e.max() / 1000
    );
    report_line!("produce request latency µs: p50 {} p99 {}", us(&ack, 50.0), us(&ack, 99.0));
}
