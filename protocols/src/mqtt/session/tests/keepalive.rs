//! Keep-alive.

use super::*;

/// Connected at `now_ms` 1000 with a keep-alive of 10 s.
fn with_keep_alive(version: Version) -> Session {
    let mut session = Session::new(limits());
    session.handle(at(1_000, Packet::Connect(Connect { keep_alive_s: 10, ..connect(version, "c") })));
    let accepted = Event::Accepted {
        session_present: false,
        assigned_client_id: None,
        resumed: Resumed::default(),
        now_ms: 1_000,
    };
    session.handle(accepted);
    session
}

#[test]
fn the_deadline_is_one_and_a_half_keep_alives_after_the_last_packet() {
    let mut session = with_keep_alive(V5);
    assert_eq!(session.next_deadline_ms(), Some(16_000));
    assert_eq!(session.handle(Event::Tick { now_ms: 15_999 }), vec![]);
    assert_eq!(session.handle(at(12_000, Packet::PingReq)), vec![send(Packet::PingResp)]);
    assert_eq!(session.next_deadline_ms(), Some(27_000), "any packet moves it");
    assert_eq!(session.handle(Event::Tick { now_ms: 20_000 }), vec![]);
}

#[test]
fn the_deadline_runs_from_the_acceptance_when_the_broker_was_slow() {
    let mut session = Session::new(limits());
    session.handle(at(1_000, Packet::Connect(Connect { keep_alive_s: 10, ..connect(V5, "c") })));
    assert_eq!(session.next_deadline_ms(), None, "not before the CONNACK");
    assert_eq!(session.handle(Event::Tick { now_ms: 50_000 }), vec![]);
    let accepted = Event::Accepted {
        session_present: false,
        assigned_client_id: None,
        resumed: Resumed::default(),
        now_ms: 50_000,
    };
    session.handle(accepted);
    assert_eq!(session.next_deadline_ms(), Some(65_000));
}

#[test]
fn past_the_deadline_v5_gets_disconnect_0x8d_and_the_will_is_published() {
    let mut session = with_keep_alive(V5);
    let out = session.handle(Event::Tick { now_ms: 16_000 });
    let reason = ReasonCode::KeepAliveTimeout;
    assert_eq!(out, vec![disconnect(reason, None), close(true, reason)]);
    assert_silent(&mut session);
}

#[test]
fn past_the_deadline_v311_is_closed_without_a_disconnect() {
    let mut session = with_keep_alive(V311);
    let out = session.handle(Event::Tick { now_ms: 16_000 });
    assert_eq!(out, vec![close(true, ReasonCode::KeepAliveTimeout)]);
}

#[test]
fn a_keep_alive_of_0_has_no_deadline() {
    let mut session = connected(V5);
    assert_eq!(session.next_deadline_ms(), None);
    assert_eq!(session.handle(Event::Tick { now_ms: u64::MAX }), vec![]);
}

#[test]
fn pingreq_gets_pingresp() {
    for version in [V5, V311] {
        let mut session = connected(version);
        assert_eq!(session.handle(packet(Packet::PingReq)), vec![send(Packet::PingResp)]);
    }
}
