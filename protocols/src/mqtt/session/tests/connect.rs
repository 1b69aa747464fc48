//! CONNECT, the broker's answer, CONNACK, and what is pipelined meanwhile.

use super::*;
use crate::mqtt::{Will, WillProperties};

fn will(qos: QoS, retain: bool) -> Will {
    Will { topic: "w".into(), payload: Bytes::from_static(b"gone"), qos, retain, properties: WillProperties::default() }
}

#[test]
fn the_first_packet_must_be_connect() {
    for version_unknown in [Packet::PingReq, Packet::Publish(publish("t", QoS::AtMostOnce, None))] {
        let mut session = Session::new(limits());
        let out = session.handle(packet(version_unknown));
        assert_eq!(out, vec![close(false, ReasonCode::ProtocolError)], "no CONNACK, no will");
        assert_silent(&mut session);
    }
}

#[test]
fn a_v5_connect_is_passed_to_the_broker_with_what_it_asked() {
    let mut session = Session::new(limits());
    let properties = ConnectProperties {
        session_expiry_interval_s: Some(300),
        receive_maximum: Some(20),
        maximum_packet_size: Some(1_000),
        topic_alias_maximum: Some(3),
        request_response_information: Some(true),
        request_problem_information: Some(false),
        user_properties: vec![("k".into(), "v".into())],
        ..ConnectProperties::default()
    };
    let connect = Connect {
        clean_start: false,
        keep_alive_s: 30,
        username: Some("u".into()),
        password: Some(Bytes::from_static(b"pw")),
        will: Some(will(QoS::AtLeastOnce, true)),
        ..connect_v5(properties)
    };
    let out = session.handle(packet(Packet::Connect(connect)));
    let expected = ConnectRequest {
        clean_start: false,
        session_expiry_s: 300,
        keep_alive_s: 30,
        username: Some("u".into()),
        password: Some(Bytes::from_static(b"pw")),
        will: Some(will(QoS::AtLeastOnce, true)),
        receive_maximum: 20,
        maximum_packet_size: Some(1_000),
        topic_alias_maximum: 3,
        request_problem_information: false,
        request_response_information: true,
        user_properties: vec![("k".into(), "v".into())],
        ..request(V5, Some("c"))
    };
    assert_eq!(out, vec![Command::Connect(expected)]);
    assert_eq!(session.version(), Some(V5));
    assert_eq!(session.client_id(), Some("c"));
    assert_eq!(session.next_deadline_ms(), None, "no keep-alive before the CONNACK");
}

#[test]
fn a_v311_connect_maps_clean_session_to_the_session_expiry() {
    for (clean_session, session_expiry_s) in [(true, 0), (false, u32::MAX)] {
        let mut session = Session::new(limits());
        let connect = Connect { clean_start: clean_session, ..connect(V311, "c") };
        let out = session.handle(packet(Packet::Connect(connect)));
        let expected = ConnectRequest { clean_start: clean_session, session_expiry_s, ..request(V311, Some("c")) };
        assert_eq!(out, vec![Command::Connect(expected)]);
    }
}

#[test]
fn the_v5_connack_advertises_the_limits() {
    let limits = Limits {
        maximum_qos: QoS::AtLeastOnce,
        retain_available: false,
        wildcard_subscription_available: false,
        subscription_identifiers_available: false,
        shared_subscription_available: false,
        ..limits()
    };
    let mut session = Session::new(limits);
    session.handle(packet(Packet::Connect(connect(V5, "c"))));
    let properties = ConnAckProperties {
        maximum_qos: Some(QoS::AtLeastOnce),
        retain_available: Some(false),
        wildcard_subscription_available: Some(false),
        subscription_identifiers_available: Some(false),
        shared_subscription_available: Some(false),
        ..connack_properties()
    };
    assert_eq!(session.handle(accept()), vec![connack(false, ReasonCode::Success, properties)]);
}

#[test]
fn the_v311_connack_has_no_properties() {
    let mut session = Session::new(limits());
    session.handle(packet(Packet::Connect(connect(V311, "c"))));
    assert_eq!(session.handle(accept()), vec![connack(false, ReasonCode::Success, ConnAckProperties::default())]);
}

#[test]
fn an_authentication_method_is_refused_with_0x8c() {
    let mut session = Session::new(limits());
    let properties = ConnectProperties { authentication_method: Some("SCRAM-SHA-1".into()), ..Default::default() };
    let out = session.handle(packet(Packet::Connect(connect_v5(properties))));
    let reason = ReasonCode::BadAuthenticationMethod;
    assert_eq!(out, vec![connack(false, reason, ConnAckProperties::default()), close(false, reason)]);
    assert_silent(&mut session);
}

#[test]
fn an_empty_v5_client_id_is_assigned_and_told_in_the_connack() {
    let mut session = Session::new(limits());
    let out = session.handle(packet(Packet::Connect(connect(V5, ""))));
    assert_eq!(out, vec![Command::Connect(request(V5, None))]);
    assert_eq!(session.client_id(), None);
    let accepted = Event::Accepted {
        session_present: false,
        assigned_client_id: Some("auto-1".into()),
        resumed: Resumed::default(),
        now_ms: 0,
    };
    let properties = ConnAckProperties { assigned_client_identifier: Some("auto-1".into()), ..connack_properties() };
    assert_eq!(session.handle(accepted), vec![connack(false, ReasonCode::Success, properties)]);
    assert_eq!(session.client_id(), Some("auto-1"));
}

#[test]
fn an_empty_v311_client_id_is_assigned_with_clean_session_only() {
    let mut session = Session::new(limits());
    let out = session.handle(packet(Packet::Connect(connect(V311, ""))));
    assert_eq!(out, vec![Command::Connect(request(V311, None))]);
    let accepted = Event::Accepted {
        session_present: false,
        assigned_client_id: Some("auto-1".into()),
        resumed: Resumed::default(),
        now_ms: 0,
    };
    assert_eq!(session.handle(accepted), vec![connack(false, ReasonCode::Success, ConnAckProperties::default())]);
    assert_eq!(session.client_id(), Some("auto-1"));

    // Without clean session, and always for 3.1: return code 2, Identifier rejected.
    let persistent = Connect { clean_start: false, ..connect(V311, "") };
    for connect in [persistent, connect(Version::V31, "")] {
        let mut session = Session::new(limits());
        let out = session.handle(packet(Packet::Connect(connect)));
        let reason = ReasonCode::ClientIdentifierNotValid;
        assert_eq!(out, vec![connack(false, reason, ConnAckProperties::default()), close(false, reason)]);
    }
}

#[test]
fn a_will_over_the_maximum_qos_or_retained_without_retain_is_refused() {
    let limits = Limits { maximum_qos: QoS::AtLeastOnce, retain_available: false, ..limits() };
    for (version, will, reason) in [
        (V5, will(QoS::ExactlyOnce, false), ReasonCode::QoSNotSupported),
        (V5, will(QoS::AtMostOnce, true), ReasonCode::RetainNotSupported),
        (V311, will(QoS::ExactlyOnce, false), ReasonCode::QoSNotSupported),
    ] {
        let mut session = Session::new(limits);
        let connect = Connect { will: Some(will), ..connect(version, "c") };
        let out = session.handle(packet(Packet::Connect(connect)));
        // 3.x has no such return code: the codec writes 3 (Server unavailable).
        assert_eq!(out, vec![connack(false, reason, ConnAckProperties::default()), close(false, reason)]);
    }
}

#[test]
fn a_will_response_topic_with_a_wildcard_is_refused() {
    let mut session = Session::new(limits());
    let mut will = will(QoS::AtMostOnce, false);
    will.properties.response_topic = Some("replies/#".into());
    let out = session.handle(packet(Packet::Connect(Connect { will: Some(will), ..connect(V5, "c") })));
    let reason = ReasonCode::ProtocolError;
    assert_eq!(out, vec![connack(false, reason, ConnAckProperties::default()), close(false, reason)]);
}

#[test]
fn a_refused_connect_gets_a_connack_with_the_reason_and_no_will() {
    for version in [V5, V311] {
        let mut session = Session::new(limits());
        let connect = Connect { will: Some(will(QoS::AtMostOnce, false)), ..connect(version, "c") };
        session.handle(packet(Packet::Connect(connect)));
        assert_eq!(session.handle(packet(Packet::PingReq)), vec![], "queued");
        let reason = ReasonCode::BadUserNameOrPassword;
        let out = session.handle(Event::Refused { reason });
        // For 3.1.1 the codec writes return code 4.
        assert_eq!(out, vec![connack(false, reason, ConnAckProperties::default()), close(false, reason)]);
        assert_silent(&mut session);
    }
}

#[test]
fn a_refusal_with_a_success_code_still_refuses() {
    let mut session = Session::new(limits());
    session.handle(packet(Packet::Connect(connect(V5, "c"))));
    let out = session.handle(Event::Refused { reason: ReasonCode::Success });
    let reason = ReasonCode::UnspecifiedError;
    assert_eq!(out, vec![connack(false, reason, ConnAckProperties::default()), close(false, reason)]);
}

#[test]
fn a_second_connect_is_a_protocol_error() {
    let mut session = connected(V5);
    let out = session.handle(packet(Packet::Connect(connect(V5, "c"))));
    assert_eq!(out, violation(ReasonCode::ProtocolError, "a second CONNECT"));
    assert_silent(&mut session);

    let mut session = connected(V311);
    let out = session.handle(packet(Packet::Connect(connect(V311, "c"))));
    assert_eq!(out, vec![close(true, ReasonCode::ProtocolError)], "no DISCONNECT for 3.x");
}

#[test]
fn packets_pipelined_after_connect_wait_for_the_broker() {
    let mut session = Session::new(limits());
    session.handle(packet(Packet::Connect(connect(V5, "c"))));
    let sent = publish("t", QoS::AtLeastOnce, Some(1));
    assert_eq!(session.handle(packet(Packet::Publish(sent.clone()))), vec![]);
    assert_eq!(session.handle(packet(subscribe(2, &[("a/+", QoS::AtLeastOnce)]))), vec![]);
    assert_eq!(session.handle(packet(Packet::PingReq)), vec![]);
    let out = session.handle(accept());
    let options = SubscriptionOptions { qos: QoS::AtLeastOnce, ..Default::default() };
    assert_eq!(
        out,
        vec![
            connack(false, ReasonCode::Success, connack_properties()),
            Command::Publish { id: 0, publish: sent },
            Command::Subscribe { packet_id: 2, filters: vec![("a/+".into(), options)], subscription_id: None },
            send(Packet::PingResp),
        ]
    );
}

#[test]
fn pipelining_past_the_bound_closes() {
    let mut session = Session::new(limits());
    session.handle(packet(Packet::Connect(connect(V5, "c"))));
    for _ in 0..PENDING_PACKETS_MAX {
        assert_eq!(session.handle(packet(Packet::PingReq)), vec![]);
    }
    let out = session.handle(packet(Packet::PingReq));
    assert_eq!(out, vec![close(false, ReasonCode::QuotaExceeded)], "no CONNACK: the broker has not answered");
    assert_silent(&mut session);

    // Bytes: one packet as large as the limit fits, a second does not.
    let mut session = Session::new(Limits { packet_bytes_max: 100_000, ..limits() });
    session.handle(packet(Packet::Connect(connect(V5, "c"))));
    let large = Publish { payload: Bytes::from(vec![0; 99_000]), ..publish("t", QoS::AtMostOnce, None) };
    assert_eq!(session.handle(packet(Packet::Publish(large.clone()))), vec![]);
    let out = session.handle(packet(Packet::Publish(large)));
    assert_eq!(out, vec![close(false, ReasonCode::QuotaExceeded)]);
}

#[test]
fn session_present_only_without_clean_start() {
    for (clean_start, session_present) in [(true, false), (false, true)] {
        let mut session = Session::new(limits());
        session.handle(packet(Packet::Connect(Connect { clean_start, ..connect(V311, "c") })));
        let out = session.handle(resume(Resumed::default()));
        assert_eq!(out, vec![connack(session_present, ReasonCode::Success, ConnAckProperties::default())]);
    }
}

#[test]
fn an_unsupported_protocol_level_gets_connack_0x84_in_the_version_asked() {
    for (level, version) in [(5, V5), (4, V311), (6, V311), (3, Version::V31)] {
        let mut session = Session::new(limits());
        let error = Error::UnsupportedProtocolVersion { name: "MQTT".into(), level };
        let out = session.handle(Event::Malformed { error, now_ms: 0 });
        let reason = ReasonCode::UnsupportedProtocolVersion;
        assert_eq!(out, vec![connack(false, reason, ConnAckProperties::default()), close(false, reason)]);
        assert_eq!(session.version(), Some(version), "level {level}");
    }
}

#[test]
fn other_malformed_first_bytes_just_close() {
    let mut session = Session::new(limits());
    let out = session.handle(Event::Malformed { error: Error::Malformed("CONNECT reserved flag set"), now_ms: 0 });
    assert_eq!(out, vec![close(false, ReasonCode::MalformedPacket)]);
    assert_eq!(session.version(), None);
}

#[test]
fn a_malformed_pipelined_packet_is_answered_after_the_connack() {
    let mut session = Session::new(limits());
    session.handle(packet(Packet::Connect(connect(V5, "c"))));
    let error = Error::Truncated { field: "topic name" };
    assert_eq!(session.handle(Event::Malformed { error: error.clone(), now_ms: 0 }), vec![]);
    assert_eq!(session.handle(packet(Packet::PingReq)), vec![], "nothing is read after it");
    let mut expected = vec![connack(false, ReasonCode::Success, connack_properties())];
    expected.extend(violation(ReasonCode::MalformedPacket, &error.to_string()));
    assert_eq!(session.handle(accept()), expected);
}

#[test]
fn the_keep_alive_is_capped_and_v5_is_told() {
    let limits = Limits { keep_alive_max_s: 30, ..limits() };
    for (version, asked, enforced) in [(V5, 0, 30), (V5, 60, 30), (V5, 20, 20), (V311, 0, 30), (V311, 100, 30)] {
        let mut session = Session::new(limits);
        let out = session.handle(packet(Packet::Connect(Connect { keep_alive_s: asked, ..connect(version, "c") })));
        let expected = ConnectRequest { keep_alive_s: enforced, ..request(version, Some("c")) };
        assert_eq!(out, vec![Command::Connect(expected)]);
        let properties = match version {
            V5 => ConnAckProperties {
                server_keep_alive_s: (asked != enforced).then_some(enforced),
                ..connack_properties()
            },
            _ => ConnAckProperties::default(),
        };
        assert_eq!(session.handle(accept()), vec![connack(false, ReasonCode::Success, properties)]);
        assert_eq!(session.next_deadline_ms(), Some(u64::from(enforced) * 1_500));
    }
}

#[test]
fn the_session_expiry_is_capped_and_v5_is_told() {
    let limits = Limits { session_expiry_max_s: 100, ..limits() };
    let mut session = Session::new(limits);
    let properties = ConnectProperties { session_expiry_interval_s: Some(1_000), ..Default::default() };
    let out = session.handle(packet(Packet::Connect(connect_v5(properties))));
    assert_eq!(out, vec![Command::Connect(ConnectRequest { session_expiry_s: 100, ..request(V5, Some("c")) })]);
    let properties = ConnAckProperties { session_expiry_interval_s: Some(100), ..connack_properties() };
    assert_eq!(session.handle(accept()), vec![connack(false, ReasonCode::Success, properties)]);

    // A persistent 3.x session ("never") is capped the same.
    let mut session = Session::new(limits);
    let out = session.handle(packet(Packet::Connect(Connect { clean_start: false, ..connect(V311, "c") })));
    let expected = ConnectRequest { clean_start: false, session_expiry_s: 100, ..request(V311, Some("c")) };
    assert_eq!(out, vec![Command::Connect(expected)]);
}

#[test]
fn shutting_down_while_the_broker_decides_refuses_with_0x88() {
    let mut session = Session::new(limits());
    session.handle(packet(Packet::Connect(connect(V5, "c"))));
    let reason = ReasonCode::ServerUnavailable;
    let out = session.handle(Event::ShuttingDown);
    assert_eq!(out, vec![connack(false, reason, ConnAckProperties::default()), close(false, reason)]);
    assert_silent(&mut session);
}

#[test]
fn a_connection_lost_before_the_connack_has_no_will() {
    for setup in [vec![], vec![packet(Packet::Connect(connect(V5, "c")))]] {
        let mut session = Session::new(limits());
        for event in setup {
            session.handle(event);
        }
        assert_eq!(session.handle(Event::ConnectionLost), vec![close(false, ReasonCode::UnspecifiedError)]);
        assert_silent(&mut session);
    }
}

#[test]
fn the_broker_answers_only_a_pending_connect() {
    let mut session = Session::new(limits());
    assert_eq!(session.handle(accept()), vec![]);
    assert_eq!(session.handle(Event::Refused { reason: ReasonCode::NotAuthorized }), vec![]);
    let mut session = connected(V5);
    assert_eq!(session.handle(accept()), vec![], "a second answer is ignored");
}
