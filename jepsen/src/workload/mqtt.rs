//! The MQTT workload, with rumqttc as the client: publishers at QoS 1 and QoS 2 (`--mqtt-qos`)
//! with persistent sessions (unacknowledged publishes are resent after a reconnect, and the
//! broker's session deduplicates QoS 2), and persistent-session subscribers to `jepsen/#` that
//! reconnect through every fault and resume their sessions. After the heal the subscribers
//! drain. Checked for loss (an acknowledged QoS 1/2 publish never delivered: at least once, the
//! simulation's checker) and for QoS 2 publishes stored twice ([`qos2_stored_once`]).
//!
//! The subscribers subscribe at QoS 1: rumqttc 0.24 cannot resume a QoS 2 subscription (it
//! drops the connection on the PUBREL a broker must resend after a reconnect,
//! bytebeamio/rumqtt#664), so a stored duplicate shows as a second delivery that is not a
//! retransmission (DUP clear).

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

/// One subscriber's deliveries: its name, and each payload with its DUP flag.
pub type Deliveries = (String, Vec<(String, bool)>);

pub struct MqttWorkload {
    pub(super) published: Mutex<Vec<Published>>,
    pub(super) subscribers: Mutex<Vec<SubscriberLog>>,
    /// Per subscriber, every delivery's payload and DUP flag.
    pub(super) dups: Mutex<Vec<Deliveries>>,
    /// The publishers' QoS levels.
    pub qos: Vec<u8>,
}

/// QoS 2 exactly once on the publishing side: a QoS 2 publish is stored once, so a subscriber
/// receives it a second time only as a retransmission (DUP set), never as a new delivery.
pub fn qos2_stored_once(
    published: &[Published],
    deliveries: &[(String, Vec<(String, bool)>)],
) -> Result<(), Violation> {
    let qos2: std::collections::BTreeSet<&str> =
        published.iter().filter(|p| p.qos == 2).map(|p| p.payload.as_str()).collect();
    for (sub, got) in deliveries {
        let mut seen = std::collections::BTreeSet::new();
        for (payload, dup) in got {
            if !seen.insert(payload.as_str()) && !dup && qos2.contains(payload.as_str()) {
                return Err(Violation::new(
                    mqtt_exactly_once::INVARIANT,
                    format!(
                        "{sub} received QoS 2 publish {payload:?} again as a new message (DUP clear): stored twice"
                    ),
                ));
            }
        }
    }
    Ok(())
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
        let mut deliveries: Vec<(String, bool)> = Vec::new();
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
                    env.history.complete(op, Kind::Ok, json!({ "qos": p.qos as u8 }));
                    deliveries.push((payload.clone(), p.dup));
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
        self.dups.lock().unwrap_or_else(|e| e.into_inner()).push((name, deliveries));
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

    fn finish(&self, _env: &Env, verdict: &mut Verdict) {
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
        let dups = self.dups.lock().unwrap_or_else(|e| e.into_inner());
        verdict.check(mqtt_exactly_once::INVARIANT, qos2_stored_once(&published, &dups));
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

    #[test]
    fn a_qos2_publish_delivered_twice_as_new_was_stored_twice() {
        let published = [publ("a", 2), publ("b", 1)];
        let retransmitted = [("s".to_string(), vec![("a".to_string(), false), ("a".to_string(), true)])];
        assert!(qos2_stored_once(&published, &retransmitted).is_ok(), "a retransmission is no duplicate");
        let qos1_again = [("s".to_string(), vec![("b".to_string(), false), ("b".to_string(), false)])];
        assert!(qos2_stored_once(&published, &qos1_again).is_ok(), "QoS 1 is at least once");
        let stored_twice = [("s".to_string(), vec![("a".to_string(), false), ("a".to_string(), false)])];
        let v = qos2_stored_once(&published, &stored_twice).unwrap_err();
        assert!(v.detail.contains("stored twice"), "{v}");
    }
}
