//! The MQTT workload, with rumqttc as the client: publishers at QoS 1 and QoS 2 (`--mqtt-qos`)
//! with persistent sessions (unacknowledged publishes are resent after a reconnect, and the
//! broker's session deduplicates QoS 2), and persistent-session subscribers to `jepsen/#` that
//! reconnect through every fault and resume their sessions. After the heal the subscribers
//! drain. Checked for loss (an acknowledged QoS 1/2 publish never delivered: at least once, the
//! simulation's checker) and for QoS 2 publishes stored twice: counted in the MQTT namespace
//! log itself, read to its end through the admin API ([`qos2_stored_once`]).
//!
//! The subscribers subscribe at QoS 1: rumqttc 0.24 cannot resume a QoS 2 subscription (it
//! drops the connection on the PUBREL a broker must resend after a reconnect,
//! bytebeamio/rumqtt#664). So a second delivery to one subscriber proves nothing (a session
//! resumed from its cursor redelivers at QoS 1, with DUP clear); the log does.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use keel_sim::invariants::mqtt_history::{Got, PubOutcome, Published, SubscriberLog};
use keel_sim::invariants::{mqtt_at_least_once, mqtt_exactly_once, Violation};
use std::sync::mpsc::{self, Receiver};

use rumqttc::{Client, ConnectionError, Event, MqttOptions, Outgoing, Packet, QoS};
use serde_json::json;

use super::{Env, Workload};
use crate::history::Kind;
use crate::verdict::Verdict;

const PREFIX: &str = "jepsen/";
const DRAIN_IDLE: Duration = Duration::from_secs(8);
const DRAIN_MAX: Duration = Duration::from_secs(60);
/// How long a publisher waits for a publish's acknowledgement before counting it unknown.
const ACK_WAIT: Duration = Duration::from_secs(10);

pub struct MqttWorkload {
    pub(super) published: Mutex<Vec<Published>>,
    pub(super) subscribers: Mutex<Vec<SubscriberLog>>,
    /// The publishers' QoS levels.
    pub qos: Vec<u8>,
}

/// The MQTT namespace log (`docs/mqtt-log.md`).
const NAMESPACE_TOPIC: &str = "__mqtt";

/// QoS 2 exactly once on the publishing side: every QoS 2 publish is in the namespace log at
/// most once. `log`: each record's value (the payload is its last bytes: `docs/mqtt-log.md`),
/// with where it is.
pub fn qos2_stored_once(published: &[Published], log: &[(i32, i64, String)]) -> Result<(), Violation> {
    let qos2: std::collections::BTreeSet<&str> =
        published.iter().filter(|p| p.qos == 2).map(|p| p.payload.as_str()).collect();
    let mut first: BTreeMap<&str, (i32, i64)> = BTreeMap::new();
    for (shard, offset, value) in log {
        // Payloads are `name|topic|seq`: the part after the record's last byte below 0x20 (the
        // user property count ends just before the payload) is the payload.
        let payload = value.rsplit(|c: char| (c as u32) < 0x20).next().unwrap_or("");
        if !qos2.contains(payload) {
            continue;
        }
        if let Some((s, o)) = first.insert(payload, (*shard, *offset)) {
            return Err(Violation::new(
                mqtt_exactly_once::INVARIANT,
                format!("QoS 2 publish {payload:?} stored twice: at {s}/{o} and at {shard}/{offset}"),
            ));
        }
    }
    Ok(())
}

/// Every record of the namespace log: (shard, offset, value).
fn read_namespace_log(env: &Env) -> Result<Vec<(i32, i64, String)>, String> {
    let v = env.admin_until("GET", &format!("/api/topics/{NAMESPACE_TOPIC}"), None, &[200], Duration::from_secs(60))?;
    let shards = v["partitions"].as_u64().ok_or_else(|| format!("no partition count in {v}"))? as u32;
    let path = |p: u32, offset: i64| format!("/api/topics/{NAMESPACE_TOPIC}/partitions/{p}/records?offset={offset}");
    let read = super::log::final_read(env, path, shards)?;
    Ok(read.into_iter().flat_map(|(p, records)| records.into_iter().map(move |(o, v)| (p, o, v))).collect())
}

/// A persistent-session client of node `i`'s broker, and its events. rumqttc's event loop runs
/// on a thread of its own, never cancelled: a poll cut short by a timeout mid-connect leaves a
/// CONNECT behind and opens a second connection, which takes the session over.
fn connect(env: &Env, i: usize, client_id: &str) -> (Client, Receiver<Result<Event, ConnectionError>>) {
    let node = &env.nodes[i % env.nodes.len()];
    let mut o = MqttOptions::new(client_id, node.mqtt.ip().to_string(), node.mqtt.port());
    o.set_clean_session(false).set_keep_alive(Duration::from_secs(5)).set_inflight(20);
    let (client, mut conn) = Client::new(o, 64);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for event in conn.iter() {
            let failed = event.is_err();
            if tx.send(event).is_err() {
                return;
            }
            if failed {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    });
    (client, rx)
}

impl MqttWorkload {
    fn publisher(&self, i: usize, env: &Env, qos: QoS) {
        let name = format!("pub{i}");
        let topic = format!("{PREFIX}{name}");
        let (client, conn) = connect(env, i, &name);
        // Publishes by packet id, from their first transmission to their acknowledgement.
        let mut by_pkid: BTreeMap<u16, usize> = BTreeMap::new();
        // The history operation of each publish (by index in `mine`) until it is completed: an
        // acknowledgement, or the end of its wait (an unknown outcome; a later acknowledgement
        // then only changes what the checker sees).
        let mut ops: Vec<Option<u64>> = Vec::new();
        let mut mine: Vec<Published> = Vec::new();
        for seq in 0u64.. {
            if env.stopped() {
                break;
            }
            let payload = format!("{name}|{topic}|{seq}");
            let op = env.history.invoke(&name, "publish", json!({ "qos": qos as u8, "payload": payload }));
            let sent_ms = env.history.now_ms();
            if client.publish(&topic, qos, false, payload.clone()).is_err() {
                env.history.complete(op, Kind::Fail, json!("not queued"));
                continue;
            }
            let idx = mine.len();
            mine.push(Published {
                source: name.clone(),
                topic: topic.clone(),
                seq,
                qos: qos as u8,
                retain: false,
                payload,
                sent_ms,
                outcome: PubOutcome::Unknown,
            });
            ops.push(Some(op));
            let mut assigned = false;
            let deadline = Instant::now() + ACK_WAIT;
            while Instant::now() < deadline && mine[idx].outcome != PubOutcome::Acked {
                match conn.recv_timeout(Duration::from_millis(200)) {
                    Ok(Ok(Event::Outgoing(Outgoing::Publish(pkid)))) if !assigned && !by_pkid.contains_key(&pkid) => {
                        by_pkid.insert(pkid, idx);
                        assigned = true;
                    }
                    Ok(Ok(Event::Incoming(Packet::PubAck(a)))) => {
                        Self::acked(&mut by_pkid, &mut mine, &env.history, &mut ops, a.pkid)
                    }
                    Ok(Ok(Event::Incoming(Packet::PubComp(c)))) => {
                        Self::acked(&mut by_pkid, &mut mine, &env.history, &mut ops, c.pkid)
                    }
                    _ => {}
                }
            }
            if let Some(op) = ops[idx].take() {
                env.history.complete(op, Kind::Info, json!("no acknowledgement in time"));
            }
        }
        let _ = client.disconnect();
        self.published.lock().unwrap_or_else(|e| e.into_inner()).extend(mine);
    }

    fn acked(
        by_pkid: &mut BTreeMap<u16, usize>,
        mine: &mut [Published],
        history: &crate::history::History,
        ops: &mut [Option<u64>],
        pkid: u16,
    ) {
        let Some(idx) = by_pkid.remove(&pkid) else { return };
        mine[idx].outcome = PubOutcome::Acked;
        if let Some(op) = ops[idx].take() {
            history.complete(op, Kind::Ok, json!({ "pkid": pkid }));
        }
    }

    fn subscriber(&self, i: usize, env: &Env) {
        let name = format!("sub{i}");
        let (client, conn) = connect(env, i, &name);
        let mut log = SubscriberLog { name: name.clone(), ..SubscriberLog::default() };
        let mut drain: Option<(Instant, Instant)> = None; // (drain start, last message)
        loop {
            if env.stopped() && drain.is_none() {
                drain = Some((Instant::now(), Instant::now()));
            }
            if drain.is_some_and(|(s, last)| last.elapsed() > DRAIN_IDLE || s.elapsed() > DRAIN_MAX) {
                break;
            }
            match conn.recv_timeout(Duration::from_millis(200)) {
                Ok(Ok(Event::Incoming(Packet::ConnAck(c)))) => {
                    log.connects.push((env.history.now_ms(), c.session_present));
                    env.history
                        .nemesis("client-connected", json!({ "client": name, "session_present": c.session_present }));
                    if !c.session_present || log.subscribed_ms.is_none() {
                        let _ = client.try_subscribe(format!("{PREFIX}#"), QoS::AtLeastOnce);
                    }
                }
                Ok(Ok(Event::Incoming(Packet::SubAck(_)))) => {
                    log.subscribed_ms.get_or_insert(env.history.now_ms());
                }
                Ok(Ok(Event::Incoming(Packet::Publish(p)))) => {
                    let payload = String::from_utf8_lossy(&p.payload).into_owned();
                    let op = env.history.invoke(&name, "receive", json!({ "payload": payload }));
                    env.history.complete(op, Kind::Ok, json!({ "qos": p.qos as u8, "dup": p.dup }));
                    log.got.push(Got { payload, qos: p.qos as u8, at_ms: env.history.now_ms() });
                    if let Some((_, last)) = drain.as_mut() {
                        *last = Instant::now();
                    }
                }
                Ok(Err(e)) => {
                    env.history.nemesis("client-error", json!({ "client": name, "error": e.to_string() }));
                }
                _ => {}
            }
        }
        let _ = client.disconnect();
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner()).push(log);
    }
}

impl Workload for MqttWorkload {
    fn setup(&self, _env: &Env) -> Result<(), String> {
        Ok(())
    }

    /// Clients 0 and 1 subscribe; the others publish, alternately at QoS 1 and QoS 2. The
    /// publishers wait until both subscriptions are acknowledged (the checker counts only what
    /// is published after).
    fn client(&self, i: usize, env: &Env) {
        match i {
            0 | 1 => self.subscriber(i, env),
            _ => {
                std::thread::sleep(Duration::from_secs(3));
                let qos = match self.qos[i % self.qos.len()] {
                    2 => QoS::ExactlyOnce,
                    _ => QoS::AtLeastOnce,
                };
                self.publisher(i, env, qos)
            }
        }
    }

    fn finish(&self, env: &Env, verdict: &mut Verdict) {
        let published = self.published.lock().unwrap_or_else(|e| e.into_inner());
        let subscribers = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        let acked = published.iter().filter(|p| p.outcome == PubOutcome::Acked).count();
        verdict.stat("publishes", published.len() as u64);
        verdict.stat("publishes-acknowledged", acked as u64);
        verdict.stat("received", subscribers.iter().map(|s| s.got.len() as u64).sum());
        verdict.stat("reconnects", subscribers.iter().map(|s| s.connects.len().saturating_sub(1) as u64).sum());
        if subscribers.iter().any(|s| s.subscribed_ms.is_none()) {
            verdict.valid = false;
            verdict.error = Some("a subscriber never had its subscription acknowledged".into());
        }
        verdict.check(mqtt_at_least_once::INVARIANT, mqtt_at_least_once::check(&published, &subscribers, PREFIX));
        match read_namespace_log(env) {
            Ok(log) => {
                verdict.stat("log-records", log.len() as u64);
                verdict.check(mqtt_exactly_once::INVARIANT, qos2_stored_once(&published, &log));
            }
            Err(e) => verdict.unchecked(format!("reading the MQTT namespace log: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publ(payload: &str, qos: u8) -> Published {
        Published {
            source: "p".into(),
            topic: "jepsen/p".into(),
            seq: 0,
            qos,
            retain: false,
            payload: payload.into(),
            sent_ms: 1,
            outcome: PubOutcome::Acked,
        }
    }

    /// A record value as the admin API shows it (lossy UTF-8): header, publisher, no
    /// properties, then the payload (`docs/mqtt-log.md`).
    fn value(payload: &str) -> String {
        String::from_utf8_lossy(&[&[1u8, 2, 0, 2, b'p', b'1', 0, 0][..], payload.as_bytes()].concat()).into_owned()
    }

    #[test]
    fn a_qos2_publish_twice_in_the_log_was_stored_twice() {
        let published = [publ("p|jepsen/p|1", 2), publ("p|jepsen/p|2", 1), publ("p|jepsen/p|11", 2)];
        let once = [(0, 0, value("p|jepsen/p|1")), (0, 1, value("p|jepsen/p|11")), (1, 0, value("p|jepsen/p|2"))];
        assert!(qos2_stored_once(&published, &once).is_ok());
        let qos1_twice = [(0, 0, value("p|jepsen/p|2")), (1, 5, value("p|jepsen/p|2"))];
        assert!(qos2_stored_once(&published, &qos1_twice).is_ok(), "QoS 1 is at least once");
        let twice = [(0, 0, value("p|jepsen/p|1")), (0, 7, value("p|jepsen/p|11")), (0, 9, value("p|jepsen/p|1"))];
        let v = qos2_stored_once(&published, &twice).unwrap_err();
        assert!(v.detail.contains("stored twice: at 0/0 and at 0/9"), "{v}");
    }
}
