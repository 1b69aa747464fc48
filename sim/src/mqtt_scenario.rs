//! The MQTT scenario: meta/storage nodes and stateless broker nodes (started as `keel server
//! --roles broker` would be), MQTT clients on hosts of their own speaking to random brokers:
//! publishers (QoS 1 and 2, retained messages too), persistent-session subscribers that
//! reconnect to any broker whenever they lose theirs, will clients ending cleanly or not, and a
//! will watcher; under the nemesis (brokers killed too), then a liveness phase. Checked: QoS
//! 1/2 at least once and QoS 2 exactly once for persistent sessions, per-publisher order,
//! retained last value, wills on unclean ends only, sessions present after broker losses.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ::rand::Rng;
use bytes::Bytes;
use keel::meta::log_store::StoreOptions;
use keel::meta::records::Role;
use keel_protocols::mqtt::{QoS, ReasonCode, Will, WillProperties};
use keel_rt::{rand, time, trace};
use madsim::runtime::Handle;

use crate::cluster::{data_ip, MetaCluster, MQTT_PORT};
use crate::history::Recorder;
use crate::invariants::mqtt_history::{payload, Got, PubOutcome, Published, SubscriberLog, WillEnd, WillRun};
use crate::invariants::{
    mqtt_at_least_once, mqtt_exactly_once, mqtt_order, mqtt_retained, mqtt_session_resumed, mqtt_will, Violation,
};
use crate::meta_scenario::Outcome;
use crate::mqtt_client::{ConnectOptions, MqttConn};
use crate::nemesis::safety_then_heal;
use crate::settings::Settings;

mod resender;

/// Persistent-session subscribers of the data topics.
const SUBSCRIBERS: usize = 2;
/// Data topics `t/0`.. and retained topics `r/0`...
const TOPICS: u64 = 3;
const RETAINED_TOPICS: u64 = 2;
/// How long one client call may take before its outcome counts as unknown.
const CALL: Duration = Duration::from_secs(10);
/// How long after the heal retained messages may take to show their last value everywhere.
const RETAINED_CONVERGE: Duration = Duration::from_secs(30);

/// Test-only switches of the MQTT scenario.
#[derive(Clone, Debug, Default)]
pub struct MqttOptions {
    /// Brokers acknowledge QoS 1/2 publishes before the log has them (the planted bug).
    pub unsafe_ack_before_append: bool,
}

/// The settings of an MQTT run: 2 or 3 broker nodes beside the meta/storage nodes.
pub fn settings(seed: u64) -> Settings {
    let mut s = Settings::from_seed(seed);
    s.data_nodes = 2 + (seed % 2) as usize;
    s.data_roles = vec![Role::Broker];
    // Storage's own faults are the storage scenario's: a flipped bit on a shard's last in-sync
    // replica makes the shard unavailable (by design), which would fail liveness here.
    s.faults.no_bit_flips = true;
    s
}

/// What the clients recorded.
#[derive(Default)]
struct Log {
    published: Vec<Published>,
    subscribers: BTreeMap<String, SubscriberLog>,
    wills: Vec<WillRun>,
    wills_got: BTreeSet<String>,
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Log>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Log> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn now_ms() -> u64 {
    time::since_start().as_millis() as u64
}

fn client_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 5, i as u8 + 1))
}

/// The brokers' MQTT addresses and node ids.
#[derive(Clone)]
struct Brokers(Vec<(String, u64)>);

impl Brokers {
    fn pick(&self) -> (String, u64) {
        self.0[rand::rng().gen_range(0..self.0.len())].clone()
    }
}

/// Runs the scenario to its end and checks it.
pub async fn run(settings: Settings, options: MqttOptions) -> Outcome {
    let recorder = Recorder::default();
    let store = StoreOptions { unsafe_mqtt_ack_before_append: options.unsafe_ack_before_append, ..Default::default() };
    let mut cluster = MetaCluster::start(&settings, store, &recorder);
    cluster.operator.spawn(cluster.supervise_processes());
    let brokers = Brokers(cluster.data.iter().map(|n| (format!("{}:{MQTT_PORT}", data_ip(n.id)), n.id)).collect());
    let log = Shared::default();
    let handle = Handle::current();
    let mut hosts = (0..).map(|i| handle.create_node().name(format!("mqtt-client-{i}")).ip(client_ip(i)).build());
    let mut failures = Vec::new();

    let probe = hosts.next().expect("a host");
    let b = brokers.clone();
    if !probe.spawn(async move { wait_ready(&b).await }).await.unwrap_or(false) {
        failures.push("liveness: no broker accepted a QoS 1 publish within 90 s".to_string());
    }
    for i in 0..SUBSCRIBERS {
        let (b, l) = (brokers.clone(), log.clone());
        hosts.next().expect("a host").spawn(async move { subscriber(format!("sub-{i}"), "t/#", b, l).await });
    }
    let (b, l) = (brokers.clone(), log.clone());
    hosts.next().expect("a host").spawn(async move { subscriber("will-watcher".into(), "will/#", b, l).await });
    wait_subscribed(&log, SUBSCRIBERS + 1, Duration::from_secs(30)).await;

    let safety_end = time::now() + Duration::from_millis(settings.safety_ms);
    let mut workers = Vec::new();
    for i in 0..settings.clients {
        let (b, l) = (brokers.clone(), log.clone());
        workers.push(hosts.next().expect("a host").spawn(async move { publisher(i, b, l, safety_end).await }));
    }
    let (b, l) = (brokers.clone(), log.clone());
    workers.push(hosts.next().expect("a host").spawn(async move { will_client(b, l, safety_end).await }));
    let (b, l) = (brokers.clone(), log.clone());
    workers.push(hosts.next().expect("a host").spawn(async move { resender::run(b, l, safety_end).await }));
    let (nemesis, live_end, failure) = safety_then_heal(&mut cluster, &settings, safety_end, workers).await;
    failures.extend(failure);
    let (b, l) = (brokers.clone(), log.clone());
    let final_ok = hosts.next().expect("a host").spawn(async move { final_publish(&b, &l, live_end).await }).await;
    if !final_ok.unwrap_or(false) {
        failures.push("liveness: no QoS 1 publish acknowledged after healing".into());
    }

    wait_settled(&log, live_end).await;
    let b = brokers.clone();
    let expected: Vec<Published> = log.lock().published.iter().filter(|p| p.retain).cloned().collect();
    let read = async move { read_retained_converged(&b, &expected).await };
    let retained = hosts.next().expect("a host").spawn(read).await;
    let Ok(Some(retained)) = retained else {
        failures.push("liveness: retained messages could not be read after healing".into());
        return finish(&settings, &log, BTreeMap::new(), &cluster, failures, &nemesis.injected);
    };
    finish(&settings, &log, retained, &cluster, failures, &nemesis.injected)
}

/// Checks the invariants and builds the outcome.
fn finish(
    settings: &Settings,
    log: &Shared,
    retained: BTreeMap<String, String>,
    cluster: &MetaCluster,
    failures: Vec<String>,
    injected: &BTreeMap<&'static str, u64>,
) -> Outcome {
    let l = log.lock();
    let subs: Vec<SubscriberLog> = l.subscribers.values().filter(|s| s.name != "will-watcher").cloned().collect();
    let watcher: Vec<SubscriberLog> = l.subscribers.values().filter(|s| s.name == "will-watcher").cloned().collect();
    let disturbed = cluster.disturbances.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let retained_pubs: Vec<Published> = l.published.iter().filter(|p| p.retain).cloned().collect();
    let all_subs: Vec<SubscriberLog> = subs.iter().chain(&watcher).cloned().collect();
    let mut violations: Vec<Violation> = [
        mqtt_at_least_once::check(&l.published, &subs, "t/"),
        mqtt_exactly_once::check(&subs),
        mqtt_order::check(&subs),
        mqtt_retained::check(&retained_pubs, &retained),
        mqtt_will::check(&l.wills, &l.wills_got, &disturbed),
        mqtt_session_resumed::check(&all_subs),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    violations.extend(failures.into_iter().map(|f| Violation::new("liveness", f)));
    let acked = l.published.iter().filter(|p| p.outcome == PubOutcome::Acked).count();
    let got: Vec<usize> = subs.iter().map(|s| s.got.len()).collect();
    let reconnects: Vec<usize> = all_subs.iter().map(|s| s.connects.len()).collect();
    let summary = format!(
        "{settings} brokers={}\n  published={} acked={acked} got={got:?} connects={reconnects:?} wills={} wills_got={} retained={} disturbances={} faults={injected:?} sim_secs={:.1}",
        cluster.data.len(),
        l.published.len(),
        l.wills.len(),
        l.wills_got.len(),
        retained.len(),
        disturbed.len(),
        time::since_start().as_secs_f64()
    );
    let digest = trace::fnv1a(trace::digest(), summary.as_bytes());
    Outcome { violations, digest, summary }
}

/// Waits until some broker acknowledges a QoS 1 publish (the cluster formed, the namespace log
/// exists).
async fn wait_ready(brokers: &Brokers) -> bool {
    let deadline = time::now() + Duration::from_secs(90);
    while time::now() < deadline {
        let (addr, _) = brokers.pick();
        let opts = ConnectOptions {
            client_id: "probe".into(),
            clean_start: true,
            session_expiry_s: 0,
            will: None,
            keep_alive_s: 30,
        };
        if let Ok(mut c) = MqttConn::connect(&addr, &opts, CALL).await {
            if let Ok(Ok(true)) =
                time::timeout(CALL, c.publish("probe", Bytes::from_static(b"x"), QoS::AtLeastOnce, false)).await
            {
                return true;
            }
        }
        time::sleep(Duration::from_millis(500)).await;
    }
    false
}

async fn wait_subscribed(log: &Shared, n: usize, limit: Duration) {
    let deadline = time::now() + limit;
    while time::now() < deadline {
        if log.lock().subscribers.values().filter(|s| s.subscribed_ms.is_some()).count() >= n {
            return;
        }
        time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until every subscriber has every acknowledged message and the watcher every due will,
/// or `until`.
async fn wait_settled(log: &Shared, until: time::Instant) {
    while time::now() < until {
        {
            let l = log.lock();
            let subs: Vec<SubscriberLog> =
                l.subscribers.values().filter(|s| s.name != "will-watcher").cloned().collect();
            let all_got = mqtt_at_least_once::check(&l.published, &subs, "t/").is_ok();
            let wills = mqtt_will::check(&l.wills, &l.wills_got, &[]).is_ok();
            if all_got && wills {
                return;
            }
        }
        time::sleep(Duration::from_millis(500)).await;
    }
}

/// A persistent-session subscriber: subscribes once (its session keeps the subscription), and
/// reconnects to a random broker whenever it loses its connection; runs until the run ends.
async fn subscriber(name: String, filter: &'static str, brokers: Brokers, log: Shared) {
    log.lock().subscribers.insert(name.clone(), SubscriberLog { name: name.clone(), ..Default::default() });
    let mut qos2_pending = BTreeSet::new();
    let mut first = true;
    loop {
        let (addr, _) = brokers.pick();
        let opts = ConnectOptions {
            client_id: name.clone(),
            clean_start: first,
            session_expiry_s: 86_400,
            will: None,
            keep_alive_s: 10,
        };
        let Ok(mut conn) = MqttConn::connect(&addr, &opts, CALL).await else {
            time::sleep(Duration::from_millis(rand::rng().gen_range(100..1_000))).await;
            continue;
        };
        record_connect(&log, &name, conn.session_present);
        if first {
            match time::timeout(CALL, conn.subscribe(filter, QoS::ExactlyOnce)).await {
                Ok(Ok(ReasonCode::GrantedQoS2)) => {
                    first = false;
                    if let Some(s) = log.lock().subscribers.get_mut(&name) {
                        s.subscribed_ms = Some(now_ms());
                    }
                }
                _ => continue,
            }
        }
        while let Ok(m) = conn.next_message(&mut qos2_pending).await {
            let text = String::from_utf8_lossy(&m.payload).into_owned();
            let mut l = log.lock();
            if filter == "will/#" {
                l.wills_got.insert(text.clone());
            }
            if let Some(s) = l.subscribers.get_mut(&name) {
                s.got.push(Got { payload: text, qos: m.qos as u8, at_ms: now_ms() });
            }
        }
        time::sleep(Duration::from_millis(rand::rng().gen_range(50..500))).await;
    }
}

fn record_connect(log: &Shared, name: &str, present: bool) {
    if let Some(s) = log.lock().subscribers.get_mut(name) {
        s.connects.push((now_ms(), present));
    }
}

/// A publisher: QoS 1 and 2 messages on the data topics (publisher 0: every fifth one a
/// retained message, or a clear, instead); a new connection to a random broker after any
/// failure.
async fn publisher(i: usize, brokers: Brokers, log: Shared, until: time::Instant) {
    let mut seq = 0u64;
    let mut conn_no = 0u64;
    while time::now() < until {
        conn_no += 1;
        let source = format!("p{i}/{conn_no}");
        let (addr, _) = brokers.pick();
        let opts = ConnectOptions::clean(source.clone());
        let Ok(mut conn) = MqttConn::connect(&addr, &opts, CALL).await else {
            time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        while time::now() < until {
            seq += 1;
            // One publisher sets retained messages: "the last one" is then well defined.
            let retain = i == 0 && seq.is_multiple_of(5);
            let topic = match retain {
                true => format!("r/{}", seq % RETAINED_TOPICS),
                false => format!("t/{}", seq % TOPICS),
            };
            let qos = if retain || rand::rng().gen_bool(0.5) { QoS::AtLeastOnce } else { QoS::ExactlyOnce };
            let text = match retain && seq.is_multiple_of(25) {
                true => String::new(), // clears the retained message
                false => payload(&source, &topic, seq),
            };
            let index = {
                let mut l = log.lock();
                l.published.push(Published {
                    source: source.clone(),
                    topic: topic.clone(),
                    seq,
                    qos: qos as u8,
                    retain,
                    payload: text.clone(),
                    sent_ms: now_ms(),
                    outcome: PubOutcome::Unknown,
                });
                l.published.len() - 1
            };
            let outcome = match time::timeout(CALL, conn.publish(&topic, Bytes::from(text), qos, retain)).await {
                Ok(Ok(true)) => PubOutcome::Acked,
                Ok(Ok(false)) => PubOutcome::Refused,
                _ => PubOutcome::Unknown,
            };
            log.lock().published[index].outcome = outcome;
            trace::record("mqtt.publish", seq ^ outcome as u64);
            if outcome == PubOutcome::Unknown {
                break;
            }
            time::sleep(Duration::from_millis(rand::rng().gen_range(20..200))).await;
        }
    }
}

/// Connects with a will, stays a while, then ends cleanly (DISCONNECT) or not (drops the
/// socket); records which.
async fn will_client(brokers: Brokers, log: Shared, until: time::Instant) {
    let mut n = 0u64;
    while time::now() < until {
        n += 1;
        let will_payload = format!("w/{n}");
        let will = Will {
            topic: format!("will/{n}"),
            payload: Bytes::from(will_payload.clone()),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: WillProperties::default(),
        };
        let (addr, broker) = brokers.pick();
        let opts = ConnectOptions {
            client_id: format!("w-{n}"),
            clean_start: true,
            session_expiry_s: 0,
            will: Some(will),
            keep_alive_s: 5,
        };
        let Ok(conn) = MqttConn::connect(&addr, &opts, CALL).await else {
            time::sleep(Duration::from_millis(300)).await;
            continue;
        };
        time::sleep(Duration::from_millis(rand::rng().gen_range(200..2_000))).await;
        let at_ms = now_ms();
        let end = match rand::rng().gen_bool(0.5) {
            true => conn.disconnect().await.then_some(WillEnd::Clean { broker, at_ms }),
            false => {
                drop(conn);
                Some(WillEnd::Dropped { at_ms })
            }
        };
        if let Some(end) = end {
            log.lock().wills.push(WillRun { will_payload, end });
        }
    }
}

/// After healing: a QoS 1 publish on a data topic must be acknowledged (and, being recorded,
/// reach every subscriber: the liveness wait and `mqtt_at_least_once` see to it).
async fn final_publish(brokers: &Brokers, log: &Shared, until: time::Instant) -> bool {
    let mut attempt = 0;
    while time::now() < until {
        attempt += 1;
        let source = format!("final/{attempt}");
        let (addr, _) = brokers.pick();
        let opts = ConnectOptions::clean(source.clone());
        let c = MqttConn::connect(&addr, &opts, CALL).await;
        if let Ok(mut conn) = c {
            let text = payload(&source, "t/final", 0);
            let sent_ms = now_ms();
            let r =
                time::timeout(CALL, conn.publish("t/final", Bytes::from(text.clone()), QoS::AtLeastOnce, false)).await;
            let outcome = match r {
                Ok(Ok(true)) => PubOutcome::Acked,
                Ok(Ok(false)) => PubOutcome::Refused,
                _ => PubOutcome::Unknown,
            };
            let published = Published {
                source,
                topic: "t/final".into(),
                seq: 0,
                qos: 1,
                retain: false,
                payload: text,
                sent_ms,
                outcome,
            };
            log.lock().published.push(published);
            if outcome == PubOutcome::Acked {
                return true;
            }
        }
        time::sleep(Duration::from_millis(500)).await;
    }
    false
}

/// A new client's view of the retained messages: topic → payload.
/// Reads the retained messages until they show what `expected` says they must (or
/// [`RETAINED_CONVERGE`] passes: the last read is checked). Brokers learn retained messages
/// through the metadata watch, and one that was cut off from meta catches up within a long
/// poll or two after the heal: retained messages converge, they are not linearizable across
/// brokers.
async fn read_retained_converged(brokers: &Brokers, expected: &[Published]) -> Option<BTreeMap<String, String>> {
    let deadline = time::now() + RETAINED_CONVERGE;
    loop {
        let found = read_retained(brokers).await?;
        if mqtt_retained::check(expected, &found).is_ok() || time::now() >= deadline {
            return Some(found);
        }
        time::sleep(Duration::from_secs(2)).await;
    }
}

async fn read_retained(brokers: &Brokers) -> Option<BTreeMap<String, String>> {
    for attempt in 0..20 {
        let (addr, _) = brokers.pick();
        let opts = ConnectOptions {
            client_id: format!("retained-reader-{attempt}"),
            clean_start: true,
            session_expiry_s: 0,
            will: None,
            keep_alive_s: 30,
        };
        let Ok(mut conn) = MqttConn::connect(&addr, &opts, CALL).await else {
            time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        if !matches!(time::timeout(CALL, conn.subscribe("r/#", QoS::AtLeastOnce)).await, Ok(Ok(_))) {
            continue;
        }
        let mut found = BTreeMap::new();
        let mut pending = BTreeSet::new();
        let collect = async {
            while let Ok(m) = conn.next_message(&mut pending).await {
                if m.retain {
                    found.insert(m.topic, String::from_utf8_lossy(&m.payload).into_owned());
                }
            }
        };
        let _ = time::timeout(Duration::from_secs(3), collect).await;
        return Some(found);
    }
    None
}
