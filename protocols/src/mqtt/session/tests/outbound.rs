//! Deliveries to the client.

use super::*;
use crate::mqtt::PubRec;

fn deliver(session: &mut Session, message: &Message) -> Vec<Command> {
    session.handle(Event::Deliver(message.clone()))
}

fn delivered(offset: u64) -> Command {
    Command::Delivered { token: token(offset) }
}

/// A v5 client connected with these CONNECT properties.
fn connected_v5(properties: ConnectProperties) -> Session {
    connected_with(limits(), connect_v5(properties))
}

#[test]
fn a_qos0_delivery_is_sent_and_done_at_once() {
    for version in [V5, V311] {
        let mut session = connected(version);
        let m = message("t", QoS::AtMostOnce, 1);
        assert_eq!(deliver(&mut session, &m), vec![send(delivery(&m, None, false)), delivered(1)]);
        assert!(session.outbound_in_flight().is_empty());
    }
}

#[test]
fn a_qos1_delivery_is_done_when_acknowledged() {
    for version in [V5, V311] {
        let mut session = connected(version);
        let m = message("t", QoS::AtLeastOnce, 1);
        assert_eq!(deliver(&mut session, &m), vec![send(delivery(&m, Some(1), false))]);
        assert_eq!(session.outbound_in_flight(), vec![Inflight { packet_id: 1, message: m, released: false }]);
        assert_eq!(session.handle(packet(puback(1))), vec![delivered(1)]);
        assert_eq!(session.handle(packet(puback(1))), vec![], "once");
        assert!(session.outbound_in_flight().is_empty());
    }
}

#[test]
fn a_qos1_delivery_refused_by_the_client_is_done_too() {
    let mut session = connected(V5);
    deliver(&mut session, &message("t", QoS::AtLeastOnce, 1));
    let puback = PubAck { reason: ReasonCode::NotAuthorized, ..PubAck::new(1) };
    assert_eq!(session.handle(packet(Packet::PubAck(puback))), vec![delivered(1)], "[MQTT-4.4.0-2]");
}

#[test]
fn a_qos2_delivery_persists_its_state_before_each_step() {
    for version in [V5, V311] {
        let mut session = connected(version);
        let m = message("t", QoS::ExactlyOnce, 1);
        let out = deliver(&mut session, &m);
        let persist = Command::Qos2Outbound { token: token(1), packet_id: 1, released: false };
        assert_eq!(out, vec![persist, send(delivery(&m, Some(1), false))]);
        let out = session.handle(packet(pubrec(1)));
        let persist = Command::Qos2Outbound { token: token(1), packet_id: 1, released: true };
        assert_eq!(out, vec![persist, send(pubrel(1))]);
        assert!(session.outbound_in_flight()[0].released);
        assert_eq!(session.handle(packet(pubrec(1))), vec![send(pubrel(1))], "PUBREC again: PUBREL again");
        assert_eq!(session.handle(packet(pubcomp(1))), vec![delivered(1)]);
        assert!(session.outbound_in_flight().is_empty());
    }
}

#[test]
fn a_pubrec_with_an_error_ends_a_qos2_delivery() {
    let mut session = connected(V5);
    deliver(&mut session, &message("t", QoS::ExactlyOnce, 1));
    let refused = PubRec { reason: ReasonCode::QuotaExceeded, ..PubRec::new(1) };
    assert_eq!(session.handle(packet(Packet::PubRec(refused))), vec![delivered(1)]);
    assert!(session.outbound_in_flight().is_empty());
}

#[test]
fn the_window_is_the_smaller_of_the_clients_receive_maximum_and_ours() {
    // v5 with Receive Maximum 2 (ours is 4).
    let mut session = connected_v5(ConnectProperties { receive_maximum: Some(2), ..Default::default() });
    assert!(session.can_deliver(QoS::AtLeastOnce));
    deliver(&mut session, &message("t", QoS::AtLeastOnce, 1));
    deliver(&mut session, &message("t", QoS::ExactlyOnce, 2));
    assert!(!session.can_deliver(QoS::AtLeastOnce));
    assert!(!session.can_deliver(QoS::ExactlyOnce));
    assert!(session.can_deliver(QoS::AtMostOnce), "QoS 0 always can");
    session.handle(packet(pubrec(2)));
    assert!(!session.can_deliver(QoS::AtLeastOnce), "released, still in flight until PUBCOMP");
    session.handle(packet(puback(1)));
    assert!(session.can_deliver(QoS::AtLeastOnce));

    // 3.x: ours alone.
    let mut session = connected(V311);
    for offset in 0..4 {
        assert!(session.can_deliver(QoS::AtLeastOnce));
        deliver(&mut session, &message("t", QoS::AtLeastOnce, offset));
    }
    assert!(!session.can_deliver(QoS::AtLeastOnce));
}

#[test]
fn nothing_can_be_delivered_before_the_connack() {
    let mut session = Session::new(limits());
    assert!(!session.can_deliver(QoS::AtLeastOnce));
    session.handle(packet(Packet::Connect(connect(V5, "c"))));
    assert!(!session.can_deliver(QoS::AtLeastOnce));
}

#[test]
fn packet_ids_are_unique_in_flight_and_reused_after() {
    let mut session = connected(V5);
    for offset in 1..=3 {
        deliver(&mut session, &message("t", QoS::AtLeastOnce, offset));
    }
    session.handle(packet(puback(2)));
    let m = message("t", QoS::AtLeastOnce, 4);
    assert_eq!(deliver(&mut session, &m), vec![send(delivery(&m, Some(4), false))], "the next free one");
    let ids: Vec<u16> = session.outbound_in_flight().iter().map(|i| i.packet_id).collect();
    assert_eq!(ids, vec![1, 3, 4]);
}

#[test]
fn acknowledgements_for_unknown_ids_are_ignored() {
    let mut session = connected(V5);
    deliver(&mut session, &message("t", QoS::AtLeastOnce, 1));
    deliver(&mut session, &message("t", QoS::ExactlyOnce, 2));
    assert_eq!(session.handle(packet(puback(9))), vec![]);
    assert_eq!(session.handle(packet(pubrec(9))), vec![]);
    assert_eq!(session.handle(packet(pubcomp(9))), vec![]);
    assert_eq!(session.handle(packet(puback(2))), vec![], "PUBACK for a QoS 2 delivery");
    assert_eq!(session.handle(packet(pubrec(1))), vec![], "PUBREC for a QoS 1 delivery");
    assert_eq!(session.handle(packet(pubcomp(2))), vec![], "PUBCOMP before PUBREC");
    assert_eq!(session.outbound_in_flight().len(), 2);
}

#[test]
fn a_delivery_too_large_for_the_client_is_dropped_as_done() {
    let mut session = connected_v5(ConnectProperties { maximum_packet_size: Some(50), ..Default::default() });
    for (qos, offset) in [(QoS::AtMostOnce, 1), (QoS::AtLeastOnce, 2), (QoS::ExactlyOnce, 3)] {
        let m = Message { payload: Bytes::from(vec![0; 50]), ..message("t", qos, offset) };
        assert_eq!(deliver(&mut session, &m), vec![delivered(offset)], "[MQTT-3.1.2-25]");
    }
    assert!(session.outbound_in_flight().is_empty());
    let m = Message { payload: Bytes::from(vec![0; 40]), ..message("t", QoS::AtLeastOnce, 4) };
    assert_eq!(deliver(&mut session, &m), vec![send(delivery(&m, Some(1), false))], "48 bytes fit");
}

#[test]
fn topics_get_aliases_while_the_client_takes_more() {
    let mut session = connected_v5(ConnectProperties { topic_alias_maximum: Some(2), ..Default::default() });
    let aliased = |m: &Message, topic: &str, alias: u16| {
        let mut publish = delivery(m, None, false);
        if let Packet::Publish(publish) = &mut publish {
            publish.topic = topic.into();
            publish.properties.topic_alias = Some(alias);
        }
        send(publish)
    };
    let a = message("a/long/topic", QoS::AtMostOnce, 1);
    assert_eq!(deliver(&mut session, &a), vec![aliased(&a, "a/long/topic", 1), delivered(1)], "topic and alias");
    assert_eq!(deliver(&mut session, &a), vec![aliased(&a, "", 1), delivered(1)], "the alias alone");
    let b = message("b", QoS::AtMostOnce, 2);
    assert_eq!(deliver(&mut session, &b), vec![aliased(&b, "b", 2), delivered(2)]);
    let c = message("c", QoS::AtMostOnce, 3);
    assert_eq!(deliver(&mut session, &c), vec![send(delivery(&c, None, false)), delivered(3)], "none left");
    assert_eq!(deliver(&mut session, &b), vec![aliased(&b, "", 2), delivered(2)]);
}

#[test]
fn no_aliases_for_a_client_that_takes_none() {
    for mut session in [connected(V5), connected(V311)] {
        let a = message("a", QoS::AtMostOnce, 1);
        for _ in 0..2 {
            assert_eq!(deliver(&mut session, &a), vec![send(delivery(&a, None, false)), delivered(1)]);
        }
    }
}

#[test]
fn an_alias_is_not_set_by_a_packet_dropped_for_its_size() {
    let properties =
        ConnectProperties { topic_alias_maximum: Some(2), maximum_packet_size: Some(50), ..Default::default() };
    let mut session = connected_v5(properties);
    let large = Message { payload: Bytes::from(vec![0; 60]), ..message("a", QoS::AtMostOnce, 1) };
    assert_eq!(deliver(&mut session, &large), vec![delivered(1)]);
    let small = message("a", QoS::AtMostOnce, 2);
    let mut expected = delivery(&small, None, false);
    if let Packet::Publish(publish) = &mut expected {
        publish.properties.topic_alias = Some(1);
    }
    assert_eq!(deliver(&mut session, &small), vec![send(expected), delivered(2)], "topic sent with alias 1");
}

#[test]
fn the_machine_sets_subscription_identifiers_and_aliases_not_the_message() {
    let mut session = connected(V5);
    let mut m = message("t", QoS::AtMostOnce, 1);
    m.subscription_identifiers = vec![4, 9];
    m.properties.topic_alias = Some(3);
    m.properties.subscription_identifiers = vec![1];
    m.properties.message_expiry_interval_s = Some(30);
    m.properties.user_properties = vec![("k".into(), "v".into())];
    let expected = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: "t".into(),
        packet_id: None,
        properties: PublishProperties {
            subscription_identifiers: vec![4, 9],
            message_expiry_interval_s: Some(30),
            user_properties: vec![("k".into(), "v".into())],
            ..PublishProperties::default()
        },
        payload: m.payload.clone(),
    };
    assert_eq!(deliver(&mut session, &m), vec![send(Packet::Publish(expected)), delivered(1)]);
}

#[test]
fn a_v311_delivery_carries_no_properties() {
    let mut session = connected(V311);
    let mut m = message("t", QoS::AtMostOnce, 1);
    m.subscription_identifiers = vec![4];
    m.properties.user_properties = vec![("k".into(), "v".into())];
    let expected = delivery(&message("t", QoS::AtMostOnce, 1), None, false);
    assert_eq!(deliver(&mut session, &m), vec![send(expected), delivered(1)]);
}

#[test]
fn a_redelivery_keeps_its_packet_id_and_sets_dup() {
    let mut session = connected(V5);
    let m = Message { resume_packet_id: Some(70), ..message("t", QoS::AtLeastOnce, 1) };
    assert_eq!(deliver(&mut session, &m), vec![send(delivery(&m, Some(70), true))]);
    // A QoS 2 redelivery's state is already durable: no Qos2Outbound before it.
    let m = Message { resume_packet_id: Some(71), ..message("t", QoS::ExactlyOnce, 2) };
    assert_eq!(deliver(&mut session, &m), vec![send(delivery(&m, Some(71), true))]);
    // One whose id is taken gets another, still marked a duplicate.
    let m = Message { resume_packet_id: Some(70), ..message("t", QoS::AtLeastOnce, 3) };
    assert_eq!(deliver(&mut session, &m), vec![send(delivery(&m, Some(1), true))]);
}

#[test]
fn a_resumed_session_sends_its_pubrels_then_its_publishes_again_in_order() {
    let mut session = Session::new(limits());
    session.handle(packet(Packet::Connect(Connect { clean_start: false, ..connect(V5, "c") })));
    let (m1, m2, m3) =
        (message("a", QoS::AtLeastOnce, 1), message("b", QoS::ExactlyOnce, 2), message("c", QoS::ExactlyOnce, 3));
    let outbound = vec![
        Inflight { packet_id: 10, message: m1.clone(), released: false },
        Inflight { packet_id: 11, message: m2.clone(), released: true },
        Inflight { packet_id: 12, message: m3.clone(), released: false },
    ];
    let out = session.handle(resume(Resumed {
        outbound: outbound.clone(),
        inbound_qos2: Vec::new(),
        reserved_ids: Vec::new(),
        ..Resumed::default()
    }));
    assert_eq!(
        out,
        vec![
            connack(true, ReasonCode::Success, connack_properties()),
            send(pubrel(11)),
            send(delivery(&m1, Some(10), true)),
            send(delivery(&m3, Some(12), true)),
        ],
        "[MQTT-4.4.0-1]: same ids, DUP, PUBREL for the released one"
    );
    assert_eq!(session.outbound_in_flight(), outbound);
    assert!(session.can_deliver(QoS::AtLeastOnce), "3 of 4");
    assert_eq!(session.handle(packet(pubcomp(11))), vec![delivered(2)]);
    let persist = Command::Qos2Outbound { token: token(3), packet_id: 12, released: true };
    assert_eq!(session.handle(packet(pubrec(12))), vec![persist, send(pubrel(12))]);
    let m = message("d", QoS::AtLeastOnce, 4);
    assert_eq!(deliver(&mut session, &m), vec![send(delivery(&m, Some(1), false))]);
}

#[test]
fn resumed_deliveries_beyond_the_window_wait_for_room() {
    let mut session = Session::new(limits());
    let properties = ConnectProperties { receive_maximum: Some(1), ..Default::default() };
    session.handle(packet(Packet::Connect(Connect { clean_start: false, ..connect_v5(properties) })));
    let (m1, m2) = (message("a", QoS::AtLeastOnce, 1), message("b", QoS::AtLeastOnce, 2));
    let outbound = vec![
        Inflight { packet_id: 5, message: m1.clone(), released: false },
        Inflight { packet_id: 6, message: m2.clone(), released: false },
    ];
    let out = session.handle(resume(Resumed {
        outbound,
        inbound_qos2: Vec::new(),
        reserved_ids: Vec::new(),
        ..Resumed::default()
    }));
    let connack_properties = connack_properties();
    assert_eq!(out, vec![connack(true, ReasonCode::Success, connack_properties), send(delivery(&m1, Some(5), true))]);
    assert!(!session.can_deliver(QoS::AtLeastOnce));
    assert_eq!(session.outbound_in_flight().len(), 2, "the waiting one keeps its id");
    assert_eq!(session.handle(packet(puback(5))), vec![delivered(1), send(delivery(&m2, Some(6), true))]);
    assert_eq!(session.handle(packet(puback(6))), vec![delivered(2)]);
    assert!(session.can_deliver(QoS::AtLeastOnce));
}

#[test]
fn a_resumed_delivery_too_large_for_the_new_connection_is_dropped_as_done() {
    let mut session = Session::new(limits());
    let properties = ConnectProperties { maximum_packet_size: Some(30), ..Default::default() };
    session.handle(packet(Packet::Connect(Connect { clean_start: false, ..connect_v5(properties) })));
    let large = Message { payload: Bytes::from(vec![0; 40]), ..message("a", QoS::AtLeastOnce, 1) };
    let outbound = vec![Inflight { packet_id: 5, message: large, released: false }];
    let out = session.handle(resume(Resumed {
        outbound,
        inbound_qos2: Vec::new(),
        reserved_ids: Vec::new(),
        ..Resumed::default()
    }));
    assert_eq!(out, vec![connack(true, ReasonCode::Success, connack_properties()), delivered(1)]);
    assert!(session.outbound_in_flight().is_empty());
}

#[test]
fn resumed_pubrels_all_go_at_once_even_beyond_the_window() {
    let mut session = Session::new(limits());
    let properties = ConnectProperties { receive_maximum: Some(1), ..Default::default() };
    session.handle(packet(Packet::Connect(Connect { clean_start: false, ..connect_v5(properties) })));
    let (m1, m2, m3) =
        (message("a", QoS::AtLeastOnce, 1), message("b", QoS::ExactlyOnce, 2), message("c", QoS::ExactlyOnce, 3));
    let outbound = vec![
        Inflight { packet_id: 5, message: m1.clone(), released: false },
        Inflight { packet_id: 6, message: m2, released: true },
        Inflight { packet_id: 7, message: m3, released: true },
    ];
    let out = session.handle(resume(Resumed {
        outbound,
        inbound_qos2: Vec::new(),
        reserved_ids: Vec::new(),
        ..Resumed::default()
    }));
    let expected = vec![connack(true, ReasonCode::Success, connack_properties()), send(pubrel(6)), send(pubrel(7))];
    assert_eq!(out, expected, "the PUBLISH waits: the released ones fill the window");
    assert_eq!(session.handle(packet(pubcomp(6))), vec![delivered(2)], "still one in flight");
    assert_eq!(session.handle(packet(pubcomp(7))), vec![delivered(3), send(delivery(&m1, Some(5), true))]);
}

#[test]
fn reserved_packet_ids_go_to_no_other_delivery_until_their_message_comes_again() {
    let mut session = Session::new(limits());
    session.handle(packet(Packet::Connect(Connect { clean_start: false, ..connect(V5, "c") })));
    let out = session.handle(resume(Resumed { reserved_ids: vec![1, 2], ..Resumed::default() }));
    assert_eq!(out, vec![connack(true, ReasonCode::Success, connack_properties())], "nothing resent yet");
    let fresh = message("a", QoS::AtLeastOnce, 1);
    assert_eq!(deliver(&mut session, &fresh), vec![send(delivery(&fresh, Some(3), false))], "1 and 2 are kept");
    // The broker's reader reaches the message that had id 2: it goes again with it, DUP set,
    // and without a new QoS 2 state (the broker has it).
    let again = Message { resume_packet_id: Some(2), ..message("b", QoS::ExactlyOnce, 2) };
    assert_eq!(deliver(&mut session, &again), vec![send(delivery(&again, Some(2), true))]);
    let next = message("c", QoS::AtLeastOnce, 3);
    assert_eq!(deliver(&mut session, &next), vec![send(delivery(&next, Some(4), false))], "1 is still kept");
}
