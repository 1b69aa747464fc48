//! The client's limits on what it receives: Maximum Packet Size and Request Problem Information.

use super::*;

#[test]
fn a_disconnect_too_large_for_the_client_drops_its_reason_string() {
    // DISCONNECT 0x94 with its reason string is 41 bytes; without, 4.
    let properties = ConnectProperties { maximum_packet_size: Some(20), ..Default::default() };
    let mut session = connected_with(limits(), connect_v5(properties));
    let mut sent = publish("t", QoS::AtMostOnce, None);
    sent.properties.topic_alias = Some(9);
    let reason = ReasonCode::TopicAliasInvalid;
    assert_eq!(session.handle(packet(Packet::Publish(sent))), vec![disconnect(reason, None), close(true, reason)]);
}

#[test]
fn without_problem_information_a_disconnect_still_says_why() {
    let properties = ConnectProperties { request_problem_information: Some(false), ..Default::default() };
    let mut session = connected_with(limits(), connect_v5(properties));
    let out = session.handle(packet(Packet::Auth(Default::default())));
    assert_eq!(out, violation(ReasonCode::ProtocolError, "AUTH without enhanced authentication"), "[MQTT-3.1.2-29]");
}

#[test]
fn a_packet_that_cannot_fit_the_client_is_not_sent() {
    // A SUBACK for 12 filters is 17 bytes: over the client's 16, nothing to drop.
    let properties = ConnectProperties { maximum_packet_size: Some(16), ..Default::default() };
    let mut session = connected_with(limits(), connect_v5(properties));
    let filters: Vec<(&str, QoS)> = (0..12).map(|_| ("a/#/b", QoS::AtMostOnce)).collect();
    assert_eq!(session.handle(packet(subscribe(1, &filters))), vec![], "[MQTT-3.1.2-24]");
    // A small one still goes.
    let out = session.handle(packet(subscribe(2, &[("a/#/b", QoS::AtMostOnce)])));
    assert_eq!(out, vec![suback(2, &[ReasonCode::TopicFilterInvalid])]);
}

#[test]
fn a_connack_respects_the_clients_maximum_packet_size_even_when_refusing() {
    // The CONNACK of these limits is 16 bytes: it fits 16 and not 15.
    for (maximum_packet_size, sent) in [(16, true), (15, false)] {
        let properties = ConnectProperties { maximum_packet_size: Some(maximum_packet_size), ..Default::default() };
        let mut session = Session::new(limits());
        session.handle(packet(Packet::Connect(connect_v5(properties))));
        let out = session.handle(accept());
        let expected = if sent { vec![connack(false, ReasonCode::Success, connack_properties())] } else { vec![] };
        assert_eq!(out, expected);
    }
}
