//! SUBSCRIBE and UNSUBSCRIBE.

use super::*;

fn options(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions { qos, ..SubscriptionOptions::default() }
}

fn subscribed(packet_id: u16, reasons: &[ReasonCode]) -> Event {
    Event::Subscribed { packet_id, reasons: reasons.to_vec() }
}

#[test]
fn valid_filters_go_to_the_broker_and_its_answer_to_the_client() {
    for version in [V5, V311] {
        let mut session = connected(version);
        let out = session.handle(packet(subscribe(3, &[("a/+", QoS::AtLeastOnce), ("b/#", QoS::ExactlyOnce)])));
        let filters = vec![("a/+".into(), options(QoS::AtLeastOnce)), ("b/#".into(), options(QoS::ExactlyOnce))];
        assert_eq!(out, vec![Command::Subscribe { packet_id: 3, filters, subscription_id: None }]);
        let reasons = [ReasonCode::GrantedQoS1, ReasonCode::NotAuthorized];
        // For 3.x the codec writes 0x80 for the failure.
        assert_eq!(session.handle(subscribed(3, &reasons)), vec![suback(3, &reasons)]);
        assert_eq!(session.handle(subscribed(3, &reasons)), vec![], "once");
    }
}

#[test]
fn invalid_filters_get_0x8f_in_their_place() {
    let mut session = connected(V5);
    let out = session.handle(packet(subscribe(
        1,
        &[("a/#", QoS::AtLeastOnce), ("a/#/b", QoS::AtLeastOnce), ("c", QoS::AtMostOnce)],
    )));
    let filters = vec![("a/#".into(), options(QoS::AtLeastOnce)), ("c".into(), options(QoS::AtMostOnce))];
    assert_eq!(out, vec![Command::Subscribe { packet_id: 1, filters, subscription_id: None }]);
    let out = session.handle(subscribed(1, &[ReasonCode::GrantedQoS1, ReasonCode::GrantedQoS0]));
    let reasons = [ReasonCode::GrantedQoS1, ReasonCode::TopicFilterInvalid, ReasonCode::GrantedQoS0];
    assert_eq!(out, vec![suback(1, &reasons)]);
}

#[test]
fn a_subscribe_without_a_valid_filter_is_answered_at_once() {
    let mut session = connected(V311);
    let out = session.handle(packet(subscribe(2, &[("a+", QoS::AtMostOnce), ("", QoS::AtMostOnce)])));
    assert_eq!(out, vec![suback(2, &[ReasonCode::TopicFilterInvalid, ReasonCode::TopicFilterInvalid])]);
}

#[test]
fn shared_subscriptions_are_checked() {
    let mut session = connected(V5);
    let out = session.handle(packet(subscribe(
        1,
        &[("$share/g/a/+", QoS::AtMostOnce), ("$share/g+/a", QoS::AtMostOnce), ("$share/g", QoS::AtMostOnce)],
    )));
    let filters = vec![("$share/g/a/+".into(), options(QoS::AtMostOnce))];
    assert_eq!(out, vec![Command::Subscribe { packet_id: 1, filters, subscription_id: None }]);
    let out = session.handle(subscribed(1, &[ReasonCode::GrantedQoS0]));
    let reasons = [ReasonCode::GrantedQoS0, ReasonCode::TopicFilterInvalid, ReasonCode::TopicFilterInvalid];
    assert_eq!(out, vec![suback(1, &reasons)]);

    let limits = Limits { shared_subscription_available: false, ..limits() };
    let mut session = connected_with(limits, connect(V5, "c"));
    let out = session.handle(packet(subscribe(1, &[("$share/g/a", QoS::AtMostOnce)])));
    assert_eq!(out, vec![suback(1, &[ReasonCode::SharedSubscriptionsNotSupported])]);
}

#[test]
fn wildcards_when_unavailable_are_0xa2() {
    let limits = Limits { wildcard_subscription_available: false, ..limits() };
    let mut session = connected_with(limits, connect(V5, "c"));
    let out = session.handle(packet(subscribe(
        1,
        &[("a/+", QoS::AtMostOnce), ("$share/g/#", QoS::AtMostOnce), ("a/b", QoS::AtMostOnce)],
    )));
    let filters = vec![("a/b".into(), options(QoS::AtMostOnce))];
    assert_eq!(out, vec![Command::Subscribe { packet_id: 1, filters, subscription_id: None }]);
    let out = session.handle(subscribed(1, &[ReasonCode::GrantedQoS0]));
    let not_supported = ReasonCode::WildcardSubscriptionsNotSupported;
    assert_eq!(out, vec![suback(1, &[not_supported, not_supported, ReasonCode::GrantedQoS0])]);
}

#[test]
fn a_subscription_identifier_goes_to_the_broker_or_is_0xa1_when_unavailable() {
    let mut with_id = match subscribe(4, &[("a", QoS::AtMostOnce)]) {
        Packet::Subscribe(subscribe) => subscribe,
        _ => unreachable!(),
    };
    with_id.properties.subscription_identifier = Some(12);
    let mut session = connected(V5);
    let out = session.handle(packet(Packet::Subscribe(with_id.clone())));
    let filters = vec![("a".into(), options(QoS::AtMostOnce))];
    assert_eq!(out, vec![Command::Subscribe { packet_id: 4, filters, subscription_id: Some(12) }]);

    let limits = Limits { subscription_identifiers_available: false, ..limits() };
    let mut session = connected_with(limits, connect(V5, "c"));
    let out = session.handle(packet(Packet::Subscribe(with_id)));
    let reason = ReasonCode::SubscriptionIdentifiersNotSupported;
    assert_eq!(out, violation(reason, "subscription identifiers are not available"));
}

#[test]
fn a_qos_above_the_maximum_is_granted_the_maximum() {
    let mut session = connected_with(Limits { maximum_qos: QoS::AtLeastOnce, ..limits() }, connect(V5, "c"));
    let out = session.handle(packet(subscribe(1, &[("a", QoS::ExactlyOnce)])));
    let filters = vec![("a".into(), options(QoS::AtLeastOnce))];
    assert_eq!(out, vec![Command::Subscribe { packet_id: 1, filters, subscription_id: None }]);
}

#[test]
fn a_packet_id_still_in_use_is_a_protocol_error() {
    let mut session = connected(V5);
    session.handle(packet(subscribe(1, &[("a", QoS::AtMostOnce)])));
    let out = session.handle(packet(subscribe(1, &[("b", QoS::AtMostOnce)])));
    assert_eq!(out, violation(ReasonCode::ProtocolError, "SUBSCRIBE 1 while the previous one is unanswered"));

    let mut session = connected(V311);
    session.handle(packet(unsubscribe(1, &["a"])));
    let out = session.handle(packet(unsubscribe(1, &["b"])));
    assert_eq!(out, vec![close(true, ReasonCode::ProtocolError)]);
}

#[test]
fn unsubscribe_goes_to_the_broker_and_its_reasons_to_a_v5_client() {
    let mut session = connected(V5);
    let out = session.handle(packet(unsubscribe(5, &["a/+", "a/#/b", "c"])));
    assert_eq!(out, vec![Command::Unsubscribe { packet_id: 5, filters: vec!["a/+".into(), "c".into()] }]);
    let out = session.handle(Event::Unsubscribed {
        packet_id: 5,
        reasons: vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted],
    });
    let reasons = [ReasonCode::Success, ReasonCode::TopicFilterInvalid, ReasonCode::NoSubscriptionExisted];
    assert_eq!(out, vec![unsuback(5, &reasons)]);

    let mut session = connected(V5);
    assert_eq!(session.handle(packet(unsubscribe(6, &["#/a"]))), vec![unsuback(6, &[ReasonCode::TopicFilterInvalid])]);
}

#[test]
fn a_v311_unsuback_has_no_reasons() {
    let mut session = connected(V311);
    let out = session.handle(packet(unsubscribe(5, &["a"])));
    assert_eq!(out, vec![Command::Unsubscribe { packet_id: 5, filters: vec!["a".into()] }]);
    let out = session.handle(Event::Unsubscribed { packet_id: 5, reasons: vec![ReasonCode::Success] });
    assert_eq!(out, vec![unsuback(5, &[])]);
}

#[test]
fn answers_for_unknown_packet_ids_are_ignored() {
    let mut session = connected(V5);
    assert_eq!(session.handle(subscribed(9, &[ReasonCode::GrantedQoS0])), vec![]);
    assert_eq!(session.handle(Event::Unsubscribed { packet_id: 9, reasons: vec![] }), vec![]);
}

#[test]
fn a_short_answer_from_the_broker_fills_in_unspecified_error() {
    let mut session = connected(V5);
    session.handle(packet(subscribe(1, &[("a", QoS::AtMostOnce), ("b", QoS::AtMostOnce)])));
    let out = session.handle(subscribed(1, &[ReasonCode::GrantedQoS0]));
    assert_eq!(out, vec![suback(1, &[ReasonCode::GrantedQoS0, ReasonCode::UnspecifiedError])]);
}
