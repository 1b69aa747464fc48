//! The session machine's commands, rule by rule, for 3.1.1 and 5.0 where they differ; and a
//! property test of random conversations.

mod connect;
mod disconnect;
mod inbound;
mod keepalive;
mod limits;
mod outbound;
mod proptests;
mod subscribe;

use bytes::Bytes;

use super::*;
use crate::mqtt::{ConnAck, ConnectProperties, PubAck, PubComp, PubRec, PubRel, SubAck, Subscribe, UnsubAck};
use crate::mqtt::{Connect, SubscribeProperties, Unsubscribe, UnsubscribeProperties};

pub(super) const V5: Version = Version::V5;
pub(super) const V311: Version = Version::V311;

/// The limits most tests run with.
pub(super) fn limits() -> Limits {
    Limits {
        receive_maximum: 10,
        topic_alias_maximum: 4,
        packet_bytes_max: 65_536,
        keep_alive_max_s: 0,
        session_expiry_max_s: 0,
        maximum_qos: QoS::ExactlyOnce,
        retain_available: true,
        wildcard_subscription_available: true,
        subscription_identifiers_available: true,
        shared_subscription_available: true,
        outbound_inflight_max: 4,
    }
}

/// A CONNECT with clean start, no keep-alive, no will, no properties.
pub(super) fn connect(version: Version, client_id: &str) -> Connect {
    Connect {
        version,
        client_id: client_id.into(),
        clean_start: true,
        keep_alive_s: 0,
        username: None,
        password: None,
        will: None,
        properties: ConnectProperties::default(),
    }
}

/// A v5 CONNECT with these properties.
pub(super) fn connect_v5(properties: ConnectProperties) -> Connect {
    Connect { properties, ..connect(V5, "c") }
}

/// What [`connect`] is passed to the broker as.
pub(super) fn request(version: Version, client_id: Option<&str>) -> ConnectRequest {
    ConnectRequest {
        version,
        client_id: client_id.map(String::from),
        clean_start: true,
        session_expiry_s: 0,
        keep_alive_s: 0,
        username: None,
        password: None,
        will: None,
        receive_maximum: u16::MAX,
        maximum_packet_size: None,
        topic_alias_maximum: 0,
        request_problem_information: true,
        request_response_information: false,
        user_properties: Vec::new(),
    }
}

pub(super) fn packet(packet: Packet) -> Event {
    Event::Packet { packet, now_ms: 0 }
}

pub(super) fn at(now_ms: u64, packet: Packet) -> Event {
    Event::Packet { packet, now_ms }
}

pub(super) fn send(packet: Packet) -> Command {
    Command::Send(packet)
}

/// The broker accepts, with no session.
pub(super) fn accept() -> Event {
    Event::Accepted { session_present: false, assigned_client_id: None, resumed: Resumed::default(), now_ms: 0 }
}

/// The broker accepts, resuming a session.
pub(super) fn resume(resumed: Resumed) -> Event {
    Event::Accepted { session_present: true, assigned_client_id: None, resumed, now_ms: 0 }
}

/// The v5 CONNACK properties [`limits`] give.
pub(super) fn connack_properties() -> ConnAckProperties {
    ConnAckProperties {
        receive_maximum: Some(10),
        maximum_packet_size: Some(65_536),
        topic_alias_maximum: Some(4),
        ..ConnAckProperties::default()
    }
}

pub(super) fn connack(session_present: bool, reason: ReasonCode, properties: ConnAckProperties) -> Command {
    send(Packet::ConnAck(ConnAck { session_present, reason, properties }))
}

/// A session connected with `connect` and accepted without a session, the CONNECT and CONNACK
/// checked loosely.
pub(super) fn connected_with(limits: Limits, connect: Connect) -> Session {
    let mut session = Session::new(limits);
    let out = session.handle(packet(Packet::Connect(connect)));
    assert!(matches!(out[..], [Command::Connect(_)]), "{out:?}");
    let out = session.handle(accept());
    assert!(
        matches!(out[..], [Command::Send(Packet::ConnAck(ConnAck { reason: ReasonCode::Success, .. }))]),
        "{out:?}"
    );
    session
}

/// A session with [`limits`] and [`connect`], accepted.
pub(super) fn connected(version: Version) -> Session {
    connected_with(limits(), connect(version, "c"))
}

pub(super) fn publish(topic: &str, qos: QoS, packet_id: Option<u16>) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.into(),
        packet_id,
        properties: PublishProperties::default(),
        payload: Bytes::from_static(b"p"),
    }
}

pub(super) fn token(offset: u64) -> Token {
    Token { shard: 1, offset }
}

/// A message to deliver, its token at `offset`.
pub(super) fn message(topic: &str, qos: QoS, offset: u64) -> Message {
    Message {
        topic: topic.into(),
        payload: Bytes::from_static(b"m"),
        qos,
        retain: false,
        properties: PublishProperties::default(),
        subscription_identifiers: Vec::new(),
        token: token(offset),
        resume_packet_id: None,
    }
}

/// The PUBLISH a message goes out as, without a topic alias.
pub(super) fn delivery(message: &Message, packet_id: Option<u16>, dup: bool) -> Packet {
    Packet::Publish(Publish {
        dup,
        qos: message.qos,
        retain: message.retain,
        topic: message.topic.clone(),
        packet_id,
        properties: message.properties.clone(),
        payload: message.payload.clone(),
    })
}

pub(super) fn subscribe(packet_id: u16, filters: &[(&str, QoS)]) -> Packet {
    let filters = filters
        .iter()
        .map(|&(filter, qos)| (filter.to_string(), SubscriptionOptions { qos, ..SubscriptionOptions::default() }))
        .collect();
    Packet::Subscribe(Subscribe { packet_id, filters, properties: SubscribeProperties::default() })
}

pub(super) fn unsubscribe(packet_id: u16, filters: &[&str]) -> Packet {
    let filters = filters.iter().map(|filter| filter.to_string()).collect();
    Packet::Unsubscribe(Unsubscribe { packet_id, filters, properties: UnsubscribeProperties::default() })
}

pub(super) fn suback(packet_id: u16, reasons: &[ReasonCode]) -> Command {
    send(Packet::SubAck(SubAck { packet_id, reasons: reasons.to_vec(), properties: Default::default() }))
}

pub(super) fn unsuback(packet_id: u16, reasons: &[ReasonCode]) -> Command {
    send(Packet::UnsubAck(UnsubAck { packet_id, reasons: reasons.to_vec(), properties: Default::default() }))
}

pub(super) fn puback(packet_id: u16) -> Packet {
    Packet::PubAck(PubAck::new(packet_id))
}

pub(super) fn pubrec(packet_id: u16) -> Packet {
    Packet::PubRec(PubRec::new(packet_id))
}

pub(super) fn pubrel(packet_id: u16) -> Packet {
    Packet::PubRel(PubRel::new(packet_id))
}

pub(super) fn pubcomp(packet_id: u16) -> Packet {
    Packet::PubComp(PubComp::new(packet_id))
}

pub(super) fn close(publish_will: bool, reason: ReasonCode) -> Command {
    Command::Close { publish_will, session_expiry_s: None, reason }
}

/// A v5 DISCONNECT from the server.
pub(super) fn disconnect(reason: ReasonCode, detail: Option<&str>) -> Command {
    let properties = DisconnectProperties { reason_string: detail.map(String::from), ..Default::default() };
    send(Packet::Disconnect(Disconnect { reason, properties }))
}

/// What a v5 client's protocol violation gets: DISCONNECT with the reason and why, close with the will.
pub(super) fn violation(reason: ReasonCode, detail: &str) -> Vec<Command> {
    vec![disconnect(reason, Some(detail)), close(true, reason)]
}

/// Every event after Close gets nothing.
pub(super) fn assert_silent(session: &mut Session) {
    assert!(session.is_closed());
    let events = [
        packet(Packet::PingReq),
        Event::Tick { now_ms: u64::MAX },
        accept(),
        Event::Deliver(message("t", QoS::AtMostOnce, 0)),
        Event::Published { id: 0, result: Ok(()) },
        Event::ConnectionLost,
        Event::ShuttingDown,
        Event::TakenOver,
    ];
    for event in events {
        assert_eq!(session.handle(event.clone()), vec![], "after Close: {event:?}");
    }
}
