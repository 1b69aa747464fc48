//! How a connection ends: the client's DISCONNECT, the broker's reasons, protocol errors.

use super::*;
use crate::mqtt::{Auth, DisconnectProperties};

fn client_disconnect(reason: ReasonCode, session_expiry_interval_s: Option<u32>) -> Event {
    let properties = DisconnectProperties { session_expiry_interval_s, ..DisconnectProperties::default() };
    packet(Packet::Disconnect(Disconnect { reason, properties }))
}

/// A v5 session whose CONNECT asked for this session expiry.
fn connected_expiring(limits: Limits, session_expiry_interval_s: u32) -> Session {
    let properties =
        ConnectProperties { session_expiry_interval_s: Some(session_expiry_interval_s), ..Default::default() };
    connected_with(limits, connect_v5(properties))
}

#[test]
fn a_normal_disconnect_discards_the_will() {
    for version in [V5, V311] {
        let mut session = connected(version);
        let out = session.handle(client_disconnect(ReasonCode::NormalDisconnection, None));
        assert_eq!(out, vec![close(false, ReasonCode::NormalDisconnection)]);
        assert_silent(&mut session);
    }
}

#[test]
fn disconnect_with_will_or_an_error_reason_keeps_the_will() {
    for reason in [ReasonCode::DisconnectWithWill, ReasonCode::UnspecifiedError, ReasonCode::MessageRateTooHigh] {
        let mut session = connected(V5);
        assert_eq!(session.handle(client_disconnect(reason, None)), vec![close(true, reason)]);
    }
}

#[test]
fn the_disconnects_session_expiry_is_the_final_one_capped() {
    let mut session = connected_expiring(Limits { session_expiry_max_s: 600, ..limits() }, 60);
    let out = session.handle(client_disconnect(ReasonCode::NormalDisconnection, Some(3_600)));
    let expected = Command::Close { publish_will: false, session_expiry_s: Some(600), reason: ReasonCode::Success };
    assert_eq!(out, vec![expected]);

    let mut session = connected_expiring(limits(), 60);
    let out = session.handle(client_disconnect(ReasonCode::NormalDisconnection, Some(0)));
    let expected = Command::Close { publish_will: false, session_expiry_s: Some(0), reason: ReasonCode::Success };
    assert_eq!(out, vec![expected]);
}

#[test]
fn a_session_expiry_set_on_disconnect_after_connects_0_is_a_protocol_error() {
    let mut session = connected(V5);
    let out = session.handle(client_disconnect(ReasonCode::NormalDisconnection, Some(10)));
    assert_eq!(out, violation(ReasonCode::ProtocolError, "DISCONNECT sets a session expiry after CONNECT's 0"));
    // Setting 0 again is fine.
    let mut session = connected(V5);
    let out = session.handle(client_disconnect(ReasonCode::NormalDisconnection, Some(0)));
    let expected = Command::Close { publish_will: false, session_expiry_s: Some(0), reason: ReasonCode::Success };
    assert_eq!(out, vec![expected]);
}

#[test]
fn auth_is_a_protocol_error() {
    let mut session = connected(V5);
    let out = session.handle(packet(Packet::Auth(Auth::default())));
    assert_eq!(out, violation(ReasonCode::ProtocolError, "AUTH without enhanced authentication"));
}

#[test]
fn packets_only_a_server_sends_are_protocol_errors() {
    for sent in [
        Packet::PingResp,
        suback_packet(),
        Packet::ConnAck(ConnAck {
            session_present: false,
            reason: ReasonCode::Success,
            properties: Default::default(),
        }),
    ] {
        let mut session = connected(V5);
        assert_eq!(session.handle(packet(sent)), violation(ReasonCode::ProtocolError, "a packet only a server sends"));
        let mut session = connected(V311);
        assert_eq!(session.handle(packet(Packet::PingResp)), vec![close(true, ReasonCode::ProtocolError)]);
    }
}

fn suback_packet() -> Packet {
    Packet::SubAck(SubAck { packet_id: 1, reasons: vec![ReasonCode::Success], properties: Default::default() })
}

#[test]
fn a_takeover_disconnects_v5_with_0x8e_and_keeps_the_will() {
    let mut session = connected(V5);
    let reason = ReasonCode::SessionTakenOver;
    assert_eq!(session.handle(Event::TakenOver), vec![disconnect(reason, None), close(false, reason)]);
    assert_silent(&mut session);
    let mut session = connected(V311);
    assert_eq!(session.handle(Event::TakenOver), vec![close(false, reason)]);
}

#[test]
fn shutting_down_disconnects_v5_with_0x8b_and_publishes_the_will() {
    let mut session = connected(V5);
    let reason = ReasonCode::ServerShuttingDown;
    assert_eq!(session.handle(Event::ShuttingDown), vec![disconnect(reason, None), close(true, reason)]);
    let mut session = connected(V311);
    assert_eq!(session.handle(Event::ShuttingDown), vec![close(true, reason)]);
}

#[test]
fn a_lost_connection_publishes_the_will() {
    for version in [V5, V311] {
        let mut session = connected(version);
        assert_eq!(session.handle(Event::ConnectionLost), vec![close(true, ReasonCode::UnspecifiedError)]);
        assert_silent(&mut session);
    }
}

#[test]
fn a_malformed_packet_disconnects_v5_with_its_reason() {
    let error = Error::PacketTooLarge { packet_bytes: 70_000, packet_bytes_max: 65_536 };
    let mut session = connected(V5);
    let out = session.handle(Event::Malformed { error: error.clone(), now_ms: 0 });
    assert_eq!(out, violation(ReasonCode::PacketTooLarge, &error.to_string()));
    let mut session = connected(V311);
    let out = session.handle(Event::Malformed { error, now_ms: 0 });
    assert_eq!(out, vec![close(true, ReasonCode::PacketTooLarge)]);
}

/// Found by fuzzing (`fuzz/fuzz_targets/mqtt_session.rs`): a CONNECT of protocol level 0 after
/// the CONNACK got DISCONNECT 0x84, a code DISCONNECT may not carry (the client could not read it).
#[test]
fn a_second_connect_of_an_unsupported_level_is_a_protocol_error() {
    let mut bytes = bytes::BytesMut::from(&[0x10, 0x03, 0x00, 0x00, 0x00][..]);
    let error = crate::mqtt::read(&mut bytes, V5, 1024).expect_err("level 0 is refused");
    assert_eq!(error.reason(), ReasonCode::UnsupportedProtocolVersion);
    let mut session = connected(V5);
    let out = session.handle(Event::Malformed { error: error.clone(), now_ms: 0 });
    assert_eq!(out, violation(ReasonCode::ProtocolError, &error.to_string()));
}

#[test]
fn nothing_happens_after_close() {
    let mut session = connected(V5);
    session.handle(packet(Packet::Publish(publish("t", QoS::AtLeastOnce, Some(1)))));
    session.handle(packet(subscribe(2, &[("a", QoS::AtMostOnce)])));
    session.handle(Event::Deliver(message("t", QoS::AtLeastOnce, 1)));
    session.handle(Event::ConnectionLost);
    assert_eq!(session.handle(Event::Published { id: 0, result: Ok(()) }), vec![]);
    assert_eq!(session.handle(Event::Subscribed { packet_id: 2, reasons: vec![ReasonCode::Success] }), vec![]);
    assert_eq!(session.handle(packet(puback(1))), vec![]);
    assert_eq!(session.handle(Event::Malformed { error: Error::Malformed("x"), now_ms: 0 }), vec![]);
    assert_silent(&mut session);
    assert_eq!(session.outbound_in_flight().len(), 1, "what was in flight is still there to resume");
    assert_eq!(session.next_deadline_ms(), None);
}
