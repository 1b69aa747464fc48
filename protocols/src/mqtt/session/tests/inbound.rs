//! The client's PUBLISHes and their acknowledgements.

use super::*;

fn with_alias(mut publish: Publish, alias: u16) -> Publish {
    publish.properties.topic_alias = Some(alias);
    publish
}

#[test]
fn a_qos0_publish_is_appended_without_an_answer() {
    for version in [V5, V311] {
        let mut session = connected(version);
        let sent = publish("t", QoS::AtMostOnce, None);
        let out = session.handle(packet(Packet::Publish(sent.clone())));
        assert_eq!(out, vec![Command::Publish { id: 0, publish: sent.clone() }]);
        let out = session.handle(packet(Packet::Publish(sent.clone())));
        assert_eq!(out, vec![Command::Publish { id: 1, publish: sent }], "ids number the connection's publishes");
    }
}

#[test]
fn a_qos1_publish_is_acknowledged_once_appended() {
    for version in [V5, V311] {
        let mut session = connected(version);
        let sent = Publish { dup: true, ..publish("t", QoS::AtLeastOnce, Some(7)) };
        let out = session.handle(packet(Packet::Publish(sent.clone())));
        assert_eq!(out, vec![Command::Publish { id: 0, publish: Publish { dup: false, ..sent } }], "DUP cleared");
        assert_eq!(session.handle(Event::Published { id: 0, result: Ok(()) }), vec![send(puback(7))]);
        assert_eq!(session.handle(Event::Published { id: 0, result: Ok(()) }), vec![], "answered once");
    }
}

#[test]
fn a_refused_qos1_publish_gets_the_reason_in_v5() {
    let mut session = connected(V5);
    session.handle(packet(Packet::Publish(publish("t", QoS::AtLeastOnce, Some(7)))));
    let out = session.handle(Event::Published { id: 0, result: Err(ReasonCode::NotAuthorized) });
    let puback = PubAck { reason: ReasonCode::NotAuthorized, ..PubAck::new(7) };
    assert_eq!(out, vec![send(Packet::PubAck(puback))]);
}

#[test]
fn a_refusal_code_puback_cannot_carry_is_sent_as_unspecified() {
    let mut session = connected(V5);
    session.handle(packet(Packet::Publish(publish("t", QoS::AtLeastOnce, Some(7)))));
    let out = session.handle(Event::Published { id: 0, result: Err(ReasonCode::ServerBusy) });
    let puback = PubAck { reason: ReasonCode::UnspecifiedError, ..PubAck::new(7) };
    assert_eq!(out, vec![send(Packet::PubAck(puback))]);
}

#[test]
fn a_refused_v311_publish_closes_the_connection() {
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let mut session = connected(V311);
        session.handle(packet(Packet::Publish(publish("t", qos, Some(7)))));
        let out = session.handle(Event::Published { id: 0, result: Err(ReasonCode::QuotaExceeded) });
        assert_eq!(out, vec![close(true, ReasonCode::QuotaExceeded)]);
        assert_silent(&mut session);
    }
}

#[test]
fn a_qos2_publish_is_received_once_and_released_by_pubrel() {
    for version in [V5, V311] {
        let mut session = connected(version);
        let sent = publish("t", QoS::ExactlyOnce, Some(9));
        let out = session.handle(packet(Packet::Publish(sent.clone())));
        assert_eq!(out, vec![Command::Publish { id: 0, publish: sent.clone() }]);
        assert_eq!(session.handle(Event::Published { id: 0, result: Ok(()) }), vec![send(pubrec(9))]);
        // The client did not get the PUBREC and sends again: PUBREC again, nothing appended.
        let again = Publish { dup: true, ..sent.clone() };
        assert_eq!(session.handle(packet(Packet::Publish(again))), vec![send(pubrec(9))]);
        let out = session.handle(packet(pubrel(9)));
        assert_eq!(out, vec![Command::Qos2Released { packet_id: 9 }, send(pubcomp(9))]);
        // After PUBCOMP the id is a new publication [MQTT-4.3.3-12].
        let out = session.handle(packet(Packet::Publish(sent.clone())));
        assert_eq!(out, vec![Command::Publish { id: 1, publish: sent }]);
    }
}

#[test]
fn a_refused_qos2_publish_gets_the_reason_and_frees_the_id() {
    let mut session = connected(V5);
    let sent = publish("t", QoS::ExactlyOnce, Some(9));
    session.handle(packet(Packet::Publish(sent.clone())));
    let out = session.handle(Event::Published { id: 0, result: Err(ReasonCode::QuotaExceeded) });
    let refused = PubRec { reason: ReasonCode::QuotaExceeded, ..PubRec::new(9) };
    assert_eq!(out, vec![send(Packet::PubRec(refused))]);
    let out = session.handle(packet(Packet::Publish(sent.clone())));
    assert_eq!(out, vec![Command::Publish { id: 1, publish: sent }], "[MQTT-4.3.3-9]");
}

#[test]
fn pubrel_for_an_unknown_id_gets_pubcomp_0x92_in_v5() {
    let mut session = connected(V5);
    let not_found = PubComp { reason: ReasonCode::PacketIdentifierNotFound, ..PubComp::new(4) };
    assert_eq!(session.handle(packet(pubrel(4))), vec![send(Packet::PubComp(not_found))]);
    let mut session = connected(V311);
    assert_eq!(session.handle(packet(pubrel(4))), vec![send(pubcomp(4))]);
}

#[test]
fn a_retransmission_while_appending_is_not_appended_twice() {
    for qos in [QoS::AtLeastOnce, QoS::ExactlyOnce] {
        let mut session = connected(V5);
        let sent = publish("t", qos, Some(3));
        session.handle(packet(Packet::Publish(sent.clone())));
        assert_eq!(session.handle(packet(Packet::Publish(Publish { dup: true, ..sent }))), vec![]);
        let out = session.handle(Event::Published { id: 0, result: Ok(()) });
        let ack = if qos == QoS::AtLeastOnce { puback(3) } else { pubrec(3) };
        assert_eq!(out, vec![send(ack)], "one answer");
    }
}

#[test]
fn resumed_qos2_ids_are_duplicates_until_released() {
    let mut session = Session::new(limits());
    session.handle(packet(Packet::Connect(Connect { clean_start: false, ..connect(V5, "c") })));
    let out = session.handle(resume(Resumed { inbound_qos2: vec![5], ..Resumed::default() }));
    assert_eq!(out, vec![connack(true, ReasonCode::Success, connack_properties())]);
    let out = session.handle(packet(Packet::Publish(publish("t", QoS::ExactlyOnce, Some(5)))));
    assert_eq!(out, vec![send(pubrec(5))], "no Publish");
    let out = session.handle(packet(pubrel(5)));
    assert_eq!(out, vec![Command::Qos2Released { packet_id: 5 }, send(pubcomp(5))]);
}

#[test]
fn a_topic_alias_is_set_with_a_topic_and_used_without() {
    let mut session = connected(V5);
    let out = session.handle(packet(Packet::Publish(with_alias(publish("a/b", QoS::AtMostOnce, None), 2))));
    assert_eq!(out, vec![Command::Publish { id: 0, publish: publish("a/b", QoS::AtMostOnce, None) }], "alias removed");
    let out = session.handle(packet(Packet::Publish(with_alias(publish("", QoS::AtLeastOnce, Some(1)), 2))));
    assert_eq!(out, vec![Command::Publish { id: 1, publish: publish("a/b", QoS::AtLeastOnce, Some(1)) }]);
    // Set again to another topic.
    session.handle(packet(Packet::Publish(with_alias(publish("c", QoS::AtMostOnce, None), 2))));
    let out = session.handle(packet(Packet::Publish(with_alias(publish("", QoS::AtMostOnce, None), 2))));
    assert_eq!(out, vec![Command::Publish { id: 3, publish: publish("c", QoS::AtMostOnce, None) }]);
}

#[test]
fn a_topic_alias_over_the_maximum_is_0x94() {
    let mut session = connected(V5);
    let out = session.handle(packet(Packet::Publish(with_alias(publish("a", QoS::AtMostOnce, None), 5))));
    assert_eq!(out, violation(ReasonCode::TopicAliasInvalid, "topic alias 5 over the maximum of 4"));
    assert_silent(&mut session);

    let mut session = connected_with(Limits { topic_alias_maximum: 0, ..limits() }, connect(V5, "c"));
    let out = session.handle(packet(Packet::Publish(with_alias(publish("a", QoS::AtMostOnce, None), 1))));
    assert_eq!(out, violation(ReasonCode::TopicAliasInvalid, "topic alias 1 over the maximum of 0"));
}

#[test]
fn an_unknown_topic_alias_without_a_topic_is_a_protocol_error() {
    let mut session = connected(V5);
    let out = session.handle(packet(Packet::Publish(with_alias(publish("", QoS::AtMostOnce, None), 1))));
    assert_eq!(out, violation(ReasonCode::ProtocolError, "topic alias 1 not set"));
}

#[test]
fn a_qos_over_the_maximum_is_0x9b() {
    let limits = Limits { maximum_qos: QoS::AtLeastOnce, ..limits() };
    let mut session = connected_with(limits, connect(V5, "c"));
    let out = session.handle(packet(Packet::Publish(publish("t", QoS::ExactlyOnce, Some(1)))));
    assert_eq!(out, violation(ReasonCode::QoSNotSupported, "QoS 2 over the maximum QoS 1"));

    let mut session = connected_with(limits, connect(V311, "c"));
    let out = session.handle(packet(Packet::Publish(publish("t", QoS::ExactlyOnce, Some(1)))));
    assert_eq!(out, vec![close(true, ReasonCode::QoSNotSupported)]);
}

#[test]
fn retain_when_unavailable_is_0x9a() {
    let mut session = connected_with(Limits { retain_available: false, ..limits() }, connect(V5, "c"));
    let out = session.handle(packet(Packet::Publish(Publish { retain: true, ..publish("t", QoS::AtMostOnce, None) })));
    assert_eq!(out, violation(ReasonCode::RetainNotSupported, "retain is not available"));
}

#[test]
fn a_subscription_identifier_from_the_client_is_a_protocol_error() {
    let mut session = connected(V5);
    let mut sent = publish("t", QoS::AtMostOnce, None);
    sent.properties.subscription_identifiers = vec![3];
    let out = session.handle(packet(Packet::Publish(sent)));
    assert_eq!(out, violation(ReasonCode::ProtocolError, "a subscription identifier on a PUBLISH from the client"));
}

#[test]
fn a_response_topic_with_a_wildcard_is_a_protocol_error() {
    let mut session = connected(V5);
    let mut sent = publish("t", QoS::AtMostOnce, None);
    sent.properties.response_topic = Some("replies/+".into());
    let out = session.handle(packet(Packet::Publish(sent)));
    assert_eq!(out, violation(ReasonCode::ProtocolError, "a response topic empty or with a wildcard"));
}

#[test]
fn more_unacknowledged_than_the_receive_maximum_is_0x93() {
    let mut session = connected_with(Limits { receive_maximum: 2, ..limits() }, connect(V5, "c"));
    // A QoS 2 message counts until PUBCOMP: PUBREC'd, it still waits for its PUBREL.
    session.handle(packet(Packet::Publish(publish("t", QoS::ExactlyOnce, Some(1)))));
    session.handle(Event::Published { id: 0, result: Ok(()) });
    session.handle(packet(Packet::Publish(publish("t", QoS::AtLeastOnce, Some(2)))));
    assert_eq!(session.handle(packet(Packet::Publish(publish("t", QoS::AtMostOnce, None)))).len(), 1, "QoS 0 is free");
    let out = session.handle(packet(Packet::Publish(publish("t", QoS::AtLeastOnce, Some(3)))));
    assert_eq!(out, violation(ReasonCode::ReceiveMaximumExceeded, "over the receive maximum of 2"));

    // Acknowledged ones make room.
    let mut session = connected_with(Limits { receive_maximum: 1, ..limits() }, connect(V5, "c"));
    session.handle(packet(Packet::Publish(publish("t", QoS::ExactlyOnce, Some(1)))));
    session.handle(Event::Published { id: 0, result: Ok(()) });
    session.handle(packet(pubrel(1)));
    let out = session.handle(packet(Packet::Publish(publish("t", QoS::AtLeastOnce, Some(1)))));
    assert_eq!(out, vec![Command::Publish { id: 1, publish: publish("t", QoS::AtLeastOnce, Some(1)) }]);
}

#[test]
fn a_v311_client_is_not_held_to_a_receive_maximum_it_was_not_told() {
    let mut session = connected_with(Limits { receive_maximum: 1, ..limits() }, connect(V311, "c"));
    for id in 1..=3 {
        let out = session.handle(packet(Packet::Publish(publish("t", QoS::AtLeastOnce, Some(id)))));
        assert_eq!(out.len(), 1, "{out:?}");
    }
}

#[test]
fn a_topic_starting_with_dollar_is_left_to_the_broker() {
    let mut session = connected(V5);
    let sent = publish("$SYS/x", QoS::AtMostOnce, None);
    assert_eq!(session.handle(packet(Packet::Publish(sent.clone()))), vec![Command::Publish { id: 0, publish: sent }]);
}

#[test]
fn a_v311_acknowledgement_carries_no_reason() {
    let mut session = connected(V311);
    session.handle(packet(Packet::Publish(publish("t", QoS::AtLeastOnce, Some(7)))));
    let out = session.handle(Event::Published { id: 0, result: Err(ReasonCode::NoMatchingSubscribers) });
    assert_eq!(out, vec![send(puback(7))], "a success code that is not 0x00 is still a success");
}

#[test]
fn a_resumed_unconfirmed_qos2_id_passes_its_resend_on_once() {
    let mut session = Session::new(limits());
    session.handle(packet(Packet::Connect(Connect { clean_start: false, ..connect(V5, "c") })));
    let resumed = Resumed { inbound_qos2_unconfirmed: vec![5], ..Resumed::default() };
    let out = session.handle(resume(resumed));
    assert_eq!(out, vec![connack(true, ReasonCode::Success, connack_properties())]);
    let resent = Publish { dup: true, ..publish("t", QoS::ExactlyOnce, Some(5)) };
    let out = session.handle(packet(Packet::Publish(resent.clone())));
    assert_eq!(out, vec![Command::Publish { id: 0, publish: publish("t", QoS::ExactlyOnce, Some(5)) }], "checked");
    assert_eq!(session.handle(Event::Published { id: 0, result: Ok(()) }), vec![send(pubrec(5))]);
    // From then on an ordinary unreleased id: a further resend is a duplicate.
    assert_eq!(session.handle(packet(Packet::Publish(resent))), vec![send(pubrec(5))], "no Publish");
    let out = session.handle(packet(pubrel(5)));
    assert_eq!(out, vec![Command::Qos2Released { packet_id: 5 }, send(pubcomp(5))]);
}

#[test]
fn a_resumed_unconfirmed_qos2_id_is_released_by_pubrel() {
    let mut session = Session::new(limits());
    session.handle(packet(Packet::Connect(Connect { clean_start: false, ..connect(V5, "c") })));
    session.handle(resume(Resumed { inbound_qos2_unconfirmed: vec![7], ..Resumed::default() }));
    let out = session.handle(packet(pubrel(7)));
    assert_eq!(out, vec![Command::Qos2Released { packet_id: 7 }, send(pubcomp(7))]);
    // The id is free: a new message under it is a new message.
    let out = session.handle(packet(Packet::Publish(publish("t", QoS::ExactlyOnce, Some(7)))));
    assert_eq!(out, vec![Command::Publish { id: 0, publish: publish("t", QoS::ExactlyOnce, Some(7)) }]);
}
