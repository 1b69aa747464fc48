//! Seeds for the MQTT session target: scripts (see [`crate::session_script`]) of whole
//! conversations, 3.1.1 and 5.0, with packets the codec encodes: connect and accept, publishes
//! of each QoS with topic aliases, subscribe and unsubscribe, deliveries acknowledged, a resumed
//! session, a refusal, keep-alive, a disconnect.

use bytes::{Bytes, BytesMut};
use keel_protocols::mqtt::{
    write, Connect, ConnectProperties, Disconnect, DisconnectProperties, Packet, PubAck, PubComp, PubRec, PubRel,
    Publish, PublishProperties, QoS, ReasonCode, Subscribe, SubscribeProperties, SubscriptionOptions, Unsubscribe,
    UnsubscribeProperties, Version,
};

use crate::session_script::op;

/// A script being written.
struct Script {
    bytes: Vec<u8>,
    version: Version,
}

impl Script {
    /// Limits with every feature on, a window of 4, topic aliases, a 64 KiB packet limit.
    fn new(version: Version) -> Script {
        Script { bytes: vec![0, 10, 4, 3, 0, 0, 2, 4], version }
    }

    fn op(mut self, code: u8, args: &[u8]) -> Script {
        self.bytes.push(code);
        self.bytes.extend_from_slice(args);
        self
    }

    fn send(mut self, packet: Packet) -> Script {
        let mut out = BytesMut::new();
        write(&packet, self.version, &mut out).expect("a seed packet encodes");
        for chunk in out.chunks(255) {
            self.bytes.extend_from_slice(&[op::CLIENT, chunk.len() as u8]);
            self.bytes.extend_from_slice(chunk);
        }
        self
    }

    /// The broker accepts with an empty session.
    fn accept(self) -> Script {
        self.op(op::ANSWER_CONNECT, &[1, 0, 0, 0])
    }
}

fn connect(version: Version, properties: ConnectProperties) -> Packet {
    Packet::Connect(Connect {
        version,
        client_id: "seed-client".into(),
        clean_start: false,
        keep_alive_s: 5,
        username: Some("user".into()),
        password: Some(Bytes::from_static(b"secret")),
        will: None,
        properties,
    })
}

fn publish(qos: QoS, packet_id: Option<u16>, topic_alias: Option<u16>) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain: false,
        topic: "a/b".into(),
        packet_id,
        properties: PublishProperties { topic_alias, ..PublishProperties::default() },
        payload: Bytes::from_static(b"hello"),
    })
}

fn subscribe(packet_id: u16) -> Packet {
    let options = |qos| SubscriptionOptions { qos, ..SubscriptionOptions::default() };
    Packet::Subscribe(Subscribe {
        packet_id,
        filters: vec![
            ("a/+".into(), options(QoS::AtLeastOnce)),
            ("bad/#/x".into(), options(QoS::AtMostOnce)),
            ("$share/g/b".into(), options(QoS::ExactlyOnce)),
        ],
        properties: SubscribeProperties::default(),
    })
}

fn unsubscribe(packet_id: u16) -> Packet {
    Packet::Unsubscribe(Unsubscribe {
        packet_id,
        filters: vec!["a/+".into(), "#/x".into()],
        properties: UnsubscribeProperties::default(),
    })
}

/// A whole session: publishes, subscriptions, deliveries acknowledged, a clean disconnect.
fn conversation(version: Version) -> Vec<u8> {
    let properties = ConnectProperties {
        receive_maximum: Some(3),
        topic_alias_maximum: Some(2),
        maximum_packet_size: Some(200),
        session_expiry_interval_s: Some(60),
        ..ConnectProperties::default()
    };
    let alias = (version == Version::V5).then_some(1);
    let disconnect = DisconnectProperties { session_expiry_interval_s: Some(30), ..DisconnectProperties::default() };
    Script::new(version)
        .send(connect(version, properties))
        .accept()
        .send(publish(QoS::AtLeastOnce, Some(1), alias))
        .op(op::PUBLISHED, &[0, 1])
        .send(publish(QoS::ExactlyOnce, Some(2), None))
        .op(op::PUBLISHED, &[0, 1])
        .send(Packet::PubRel(PubRel::new(2)))
        .send(publish(QoS::AtMostOnce, None, None))
        .send(subscribe(3))
        .op(op::SUBSCRIBED, &[0, 2, 2])
        .op(op::DELIVER, &[1, 0, 4, 0])
        .op(op::DELIVER, &[2, 1, 4, 2])
        .op(op::DELIVER, &[0, 2, 40, 5])
        .send(Packet::PubAck(PubAck::new(1)))
        .send(Packet::PubRec(PubRec::new(2)))
        .send(Packet::PubComp(PubComp::new(2)))
        .send(unsubscribe(4))
        .op(op::UNSUBSCRIBED, &[0, 0])
        .send(Packet::PingReq)
        .op(op::TICK, &[0x0f, 0xa0])
        .send(Packet::Disconnect(Disconnect { reason: ReasonCode::Success, properties: disconnect }))
        .bytes
}

/// A session resumed with deliveries in flight, QoS 2 ids received and one reserved.
fn resumed() -> Vec<u8> {
    Script::new(Version::V5)
        .send(connect(Version::V5, ConnectProperties::default()))
        // Accept, present: two in flight (ids 7 QoS 1; 8 QoS 2 released), QoS 2 id 9 received,
        // id 10 reserved.
        .op(op::ANSWER_CONNECT, &[5, 2, 0, 7, 0, 0, 5, 0, 0, 8, 1, 0, 1, 5, 1, 1, 0, 9, 1, 0, 10])
        .send(Packet::PubComp(PubComp::new(8)))
        .send(Packet::PubAck(PubAck::new(7)))
        .send(Packet::PubRel(PubRel::new(9)))
        .op(op::DELIVER, &[2, 0, 3, 0, 0])
        .send(Packet::PubRec(PubRec::new(10)))
        .send(Packet::PubComp(PubComp::new(10)))
        .op(op::END, &[0])
        .bytes
}

/// A CONNECT refused; a keep-alive that runs out; a malformed packet after the CONNACK.
fn endings() -> Vec<Vec<u8>> {
    let refused = Script::new(Version::V311).send(connect(Version::V311, ConnectProperties::default()));
    let refused = refused.op(op::ANSWER_CONNECT, &[4]).bytes;
    let idle = Script::new(Version::V5).send(connect(Version::V5, ConnectProperties::default())).accept();
    let idle = idle.op(op::TICK, &[0x40, 0]).bytes;
    let mut malformed = Script::new(Version::V5).send(connect(Version::V5, ConnectProperties::default())).accept();
    malformed.bytes.extend_from_slice(&[op::CLIENT, 4, 0x30, 0x02, 0x00, 0x05]);
    vec![refused, idle, malformed.bytes]
}

/// The seed inputs.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut out = vec![conversation(Version::V5), conversation(Version::V311), resumed()];
    out.extend(endings());
    out
}
