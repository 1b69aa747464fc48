//! A persistent-session QoS 2 publisher that resends as MQTT 5 says [MQTT-4.4.0-1]: after
//! losing its connection it resumes its session on any broker and sends the unacknowledged
//! PUBLISH again (DUP, same packet id), or its PUBREL if the PUBREC came. A broker dying
//! between storing a message and recording its packet id would otherwise have the resend stored
//! as a second message: `mqtt_exactly_once` sees that as a subscriber's duplicate delivery.

use std::time::Duration;

use ::rand::Rng;
use bytes::Bytes;
use keel_protocols::mqtt::{Packet, PubRel, Publish, QoS};
use keel_rt::{rand, time};

use super::{now_ms, Brokers, Shared, CALL, TOPICS};
use crate::invariants::mqtt_history::{payload, PubOutcome, Published};
use crate::mqtt_client::{ConnectOptions, MqttConn};

/// The resender's client id (and its messages' source).
const CLIENT_ID: &str = "q2-resender";
/// How long past the end of the safety period the message in flight may still complete.
const FINISH: Duration = Duration::from_secs(20);
/// Packet ids cycle through 1..=this, so ids are reused after their PUBCOMP.
const PACKET_IDS: u16 = 20;

/// Publishes QoS 2 messages one at a time until `until`, each through every fault to its
/// PUBCOMP (or its outcome unknown at the deadline, which ends the run).
pub(super) async fn run(brokers: Brokers, log: Shared, until: time::Instant) {
    let opts = ConnectOptions {
        client_id: CLIENT_ID.into(),
        clean_start: true,
        session_expiry_s: 3_600,
        will: None,
        keep_alive_s: 10,
    };
    let mut conn = None;
    let mut opts_now = opts.clone();
    let mut seq = 0u64;
    while time::now() < until {
        seq += 1;
        let topic = format!("t/{}", seq % TOPICS);
        let text = payload(CLIENT_ID, &topic, seq);
        let index = {
            let mut l = log.lock();
            l.published.push(Published {
                source: CLIENT_ID.into(),
                topic: topic.clone(),
                seq,
                qos: QoS::ExactlyOnce as u8,
                retain: false,
                payload: text.clone(),
                sent_ms: now_ms(),
                outcome: PubOutcome::Unknown,
            });
            l.published.len() - 1
        };
        let publish = Publish {
            dup: false,
            qos: QoS::ExactlyOnce,
            retain: false,
            topic,
            packet_id: Some((seq % u64::from(PACKET_IDS)) as u16 + 1),
            properties: Default::default(),
            payload: Bytes::from(text),
        };
        let outcome = deliver(&mut conn, &brokers, &mut opts_now, publish, until + FINISH).await;
        log.lock().published[index].outcome = outcome;
        if outcome == PubOutcome::Unknown {
            return;
        }
        time::sleep(Duration::from_millis(rand::rng().gen_range(10..100))).await;
    }
}

/// One message's QoS 2 flow, resumed on a new connection as often as it takes until `deadline`.
async fn deliver(
    conn: &mut Option<MqttConn>,
    brokers: &Brokers,
    opts: &mut ConnectOptions,
    mut publish: Publish,
    deadline: time::Instant,
) -> PubOutcome {
    let id = publish.packet_id.expect("QoS 2 has a packet id");
    let mut released = false;
    while time::now() < deadline {
        let c = match conn {
            Some(c) => c,
            None => {
                let (addr, _) = brokers.pick();
                let Ok(c) = MqttConn::connect(&addr, opts, CALL).await else {
                    time::sleep(Duration::from_millis(200)).await;
                    continue;
                };
                // The first connection starts the session; every later one resumes it.
                let resumed = c.session_present || opts.clean_start;
                opts.clean_start = false;
                if !resumed {
                    return PubOutcome::Unknown; // the session (and its QoS 2 state) is gone
                }
                conn.insert(c)
            }
        };
        let step = async {
            match released {
                true => c.send(&Packet::PubRel(PubRel::new(id))).await?,
                false => c.send(&Packet::Publish(publish.clone())).await?,
            }
            loop {
                match c.recv().await? {
                    Packet::PubRec(r) if r.packet_id == id && r.reason.is_error() => return Ok(PubOutcome::Refused),
                    Packet::PubRec(r) if r.packet_id == id => {
                        released = true;
                        c.send(&Packet::PubRel(PubRel::new(id))).await?;
                    }
                    Packet::PubComp(p) if p.packet_id == id => return Ok(PubOutcome::Acked),
                    Packet::Disconnect(d) => return Err(format!("disconnected: {:?}", d.reason)),
                    _ => {}
                }
            }
        };
        match time::timeout(CALL, step).await {
            Ok(Ok(outcome)) => return outcome,
            Ok(Err(_)) | Err(_) => {
                *conn = None;
                publish.dup = true;
            }
        }
    }
    PubOutcome::Unknown
}
