//! Random conversations between a well-behaved client, the machine and a broker that answers
//! everything: no panic, the window is never exceeded, packet ids in flight are unique, aliases
//! and sizes stay within what the client allows, every delivery ends in exactly one
//! `Delivered` once the client has acknowledged everything, and nothing follows `Close`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use proptest::prelude::*;

use super::*;
use crate::mqtt::{len, PubRec};

/// Something the client or the broker does next; what it applies to is picked among what is
/// outstanding at that point (`pick` modulo their number).
#[derive(Clone, Debug)]
enum Action {
    Deliver {
        qos: QoS,
        topic: u8,
        large: bool,
    },
    /// The client acknowledges a QoS 1/2 PUBLISH it received (PUBACK, or PUBREC: with an error
    /// reason if `refuse`, in v5).
    ClientAck {
        pick: usize,
        refuse: bool,
    },
    ClientPubcomp {
        pick: usize,
    },
    /// `alias`: 0 none, 1..=2 set that alias with the topic, 3..=4 use alias 1..=2 if set.
    ClientPublish {
        qos: QoS,
        topic: u8,
        alias: u8,
    },
    ClientRetransmit {
        pick: usize,
    },
    ClientPubrel {
        pick: usize,
    },
    BrokerPublished {
        pick: usize,
        refuse: bool,
    },
    ClientSubscribe {
        filters: u8,
    },
    BrokerSubscribed {
        pick: usize,
    },
    ClientUnsubscribe,
    BrokerUnsubscribed {
        pick: usize,
    },
    Ping,
    Tick {
        advance_ms: u16,
    },
    /// 0: connection lost, 1: DISCONNECT, 2: takeover, 3: shutdown.
    End {
        how: u8,
    },
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce), Just(QoS::ExactlyOnce)]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        6 => (qos(), 0..4u8, proptest::bool::weighted(0.1)).prop_map(|(qos, topic, large)| Action::Deliver { qos, topic, large }),
        5 => (any::<usize>(), proptest::bool::weighted(0.1)).prop_map(|(pick, refuse)| Action::ClientAck { pick, refuse }),
        3 => any::<usize>().prop_map(|pick| Action::ClientPubcomp { pick }),
        4 => (qos(), 0..4u8, 0..5u8).prop_map(|(qos, topic, alias)| Action::ClientPublish { qos, topic, alias }),
        1 => any::<usize>().prop_map(|pick| Action::ClientRetransmit { pick }),
        3 => any::<usize>().prop_map(|pick| Action::ClientPubrel { pick }),
        4 => (any::<usize>(), proptest::bool::weighted(0.1)).prop_map(|(pick, refuse)| Action::BrokerPublished { pick, refuse }),
        1 => (1..4u8).prop_map(|filters| Action::ClientSubscribe { filters }),
        1 => any::<usize>().prop_map(|pick| Action::BrokerSubscribed { pick }),
        1 => Just(Action::ClientUnsubscribe),
        1 => any::<usize>().prop_map(|pick| Action::BrokerUnsubscribed { pick }),
        1 => Just(Action::Ping),
        2 => any::<u16>().prop_map(|advance_ms| Action::Tick { advance_ms: advance_ms % 4_000 }),
        1 => (0..40u8).prop_map(|how| Action::End { how }),
    ]
}

/// How the connection is set up.
#[derive(Clone, Debug)]
struct Setup {
    version: Version,
    client_receive_maximum: u16,
    outbound_inflight_max: u16,
    client_alias_maximum: u16,
    client_packet_max: Option<u32>,
    keep_alive_s: u16,
    /// Deliveries in flight when the session was left: QoS, released, too large for the client.
    resumed_outbound: Vec<(QoS, bool, bool)>,
    resumed_inbound_qos2: Vec<u16>,
}

fn setup() -> impl Strategy<Value = Setup> {
    let resumed =
        (prop_oneof![Just(QoS::AtLeastOnce), Just(QoS::ExactlyOnce)], any::<bool>(), proptest::bool::weighted(0.2));
    (
        prop_oneof![Just(V5), Just(V311)],
        (1..5u16, 1..5u16, 0..3u16, proptest::option::of(40..200u32), prop_oneof![Just(0u16), 1..6u16]),
        (proptest::collection::vec(resumed, 0..7), proptest::collection::btree_set(1..=10u16, 0..3)),
    )
        .prop_map(|(version, (receive, inflight, alias, packet_max, keep_alive_s), (outbound, inbound))| Setup {
            version,
            client_receive_maximum: receive,
            outbound_inflight_max: inflight,
            client_alias_maximum: alias,
            client_packet_max: packet_max,
            keep_alive_s,
            resumed_outbound: outbound,
            resumed_inbound_qos2: inbound.into_iter().collect(),
        })
}

/// The client, the broker, and what each has outstanding.
struct World {
    session: Session,
    version: Version,
    window: usize,
    /// The window, or more if the resumed session had more deliveries released (their PUBRELs
    /// are all sent again at once).
    window_resumed: usize,
    /// How many deliveries were resumed.
    resumed: usize,
    client_alias_maximum: u16,
    client_packet_max: Option<u32>,
    now_ms: u64,
    closed: bool,
    next_offset: u64,
    /// Every delivery's token → how many Delivered it got.
    tokens: BTreeMap<Token, usize>,
    // The client.
    /// QoS 1/2 PUBLISHes received and not yet acknowledged: packet id → QoS.
    received: BTreeMap<u16, QoS>,
    /// PUBRELs received, PUBCOMP not yet sent.
    released: BTreeSet<u16>,
    /// Aliases the server set: alias → topic.
    aliases_in: HashMap<u16, String>,
    /// The client's own QoS 1/2 publishes: packet id → (the PUBLISH, PUBREC received).
    own: BTreeMap<u16, (Publish, bool)>,
    /// Aliases the client set.
    aliases_out: BTreeSet<u16>,
    subscribe_ids: BTreeSet<u16>,
    // The broker.
    appends: BTreeMap<u64, QoS>,
    subscribes: BTreeMap<u16, usize>,
    unsubscribes: BTreeMap<u16, usize>,
}

impl World {
    fn new(setup: &Setup) -> World {
        let limits = Limits {
            receive_maximum: 10,
            topic_alias_maximum: 2,
            packet_bytes_max: 1 << 20,
            outbound_inflight_max: setup.outbound_inflight_max,
            ..Limits::default()
        };
        let v5 = setup.version == V5;
        let mut connect =
            Connect { clean_start: false, keep_alive_s: setup.keep_alive_s, ..connect(setup.version, "c") };
        if v5 {
            connect.properties = ConnectProperties {
                receive_maximum: Some(setup.client_receive_maximum),
                topic_alias_maximum: Some(setup.client_alias_maximum),
                maximum_packet_size: setup.client_packet_max,
                session_expiry_interval_s: Some(60),
                ..ConnectProperties::default()
            };
        }
        let window = match v5 {
            true => setup.client_receive_maximum.min(setup.outbound_inflight_max),
            false => setup.outbound_inflight_max,
        };
        let mut world = World {
            session: Session::new(limits),
            version: setup.version,
            window: usize::from(window),
            window_resumed: usize::from(window),
            resumed: setup.resumed_outbound.len(),
            client_alias_maximum: if v5 { setup.client_alias_maximum } else { 0 },
            client_packet_max: if v5 { setup.client_packet_max } else { None },
            now_ms: 0,
            closed: false,
            next_offset: 0,
            tokens: BTreeMap::new(),
            received: BTreeMap::new(),
            released: BTreeSet::new(),
            aliases_in: HashMap::new(),
            own: BTreeMap::new(),
            aliases_out: BTreeSet::new(),
            subscribe_ids: BTreeSet::new(),
            appends: BTreeMap::new(),
            subscribes: BTreeMap::new(),
            unsubscribes: BTreeMap::new(),
        };
        let out = world.session.handle(packet(Packet::Connect(connect)));
        assert!(matches!(out[..], [Command::Connect(_)]), "{out:?}");
        // A resumed session: deliveries in flight (maybe more than the window now allows, maybe
        // too large for the client now), QoS 2 ids awaiting PUBREL.
        let mut outbound = Vec::new();
        for (i, &(qos, released, large)) in setup.resumed_outbound.iter().enumerate() {
            let token = world.token();
            let payload = Bytes::from(vec![7; if large { 300 } else { 5 }]);
            let message = Message { token, payload, ..message("r", qos, 0) };
            let released = qos == QoS::ExactlyOnce && released;
            outbound.push(Inflight { packet_id: 100 + i as u16, message, released });
        }
        let released = outbound.iter().filter(|i| i.released).count();
        world.window_resumed = world.window.max(released);
        for &id in &setup.resumed_inbound_qos2 {
            // The client got PUBREC for these and owes a PUBREL.
            world.own.insert(id, (publish("q", QoS::ExactlyOnce, Some(id)), true));
        }
        let resumed = Resumed {
            outbound,
            inbound_qos2: setup.resumed_inbound_qos2.clone(),
            reserved_ids: Vec::new(),
            ..Resumed::default()
        };
        let accepted = Event::Accepted { session_present: true, assigned_client_id: None, resumed, now_ms: 0 };
        world.handle(accepted);
        world
    }

    fn token(&mut self) -> Token {
        self.next_offset += 1;
        let token = Token { shard: 0, offset: self.next_offset };
        self.tokens.insert(token, 0);
        token
    }

    fn packet(&mut self, packet: Packet) {
        self.handle(Event::Packet { packet, now_ms: self.now_ms });
    }

    /// Runs an event and plays its commands out on the client and the broker, checking them.
    fn handle(&mut self, event: Event) {
        let out = self.session.handle(event.clone());
        if self.closed {
            assert_eq!(out, vec![], "after Close: {event:?}");
            return;
        }
        for (i, command) in out.iter().enumerate() {
            assert!(!self.closed, "{command:?} after Close");
            match command {
                Command::Send(packet) => self.client_receives(packet),
                Command::Connect(_) => panic!("a second Connect"),
                Command::Publish { id, publish } => {
                    assert!(publish.properties.topic_alias.is_none() && !publish.topic.is_empty() && !publish.dup);
                    if publish.qos != QoS::AtMostOnce {
                        assert!(self.appends.insert(*id, publish.qos).is_none(), "publish id {id} twice");
                    }
                }
                Command::Subscribe { packet_id, filters, .. } => {
                    assert!(self.subscribes.insert(*packet_id, filters.len()).is_none());
                }
                Command::Unsubscribe { packet_id, filters } => {
                    assert!(self.unsubscribes.insert(*packet_id, filters.len()).is_none());
                }
                Command::Delivered { token } => {
                    let count = self.tokens.get_mut(token).expect("Delivered for a token never delivered");
                    *count += 1;
                    assert_eq!(*count, 1, "{token:?} Delivered twice");
                }
                Command::Qos2Outbound { packet_id, released, .. } => {
                    // Made durable before the packet it is for.
                    let next = out.get(i + 1);
                    let ok = match (released, next) {
                        (false, Some(Command::Send(Packet::Publish(p)))) => p.packet_id == Some(*packet_id),
                        (true, Some(Command::Send(Packet::PubRel(r)))) => r.packet_id == *packet_id,
                        _ => false,
                    };
                    assert!(ok, "{command:?} then {next:?}");
                }
                Command::Qos2Released { packet_id } => {
                    assert!(
                        matches!(out.get(i + 1), Some(Command::Send(Packet::PubComp(c))) if c.packet_id == *packet_id)
                    );
                }
                Command::Close { .. } => {
                    assert_eq!(i + 1, out.len(), "Close comes last");
                    self.closed = true;
                }
            }
        }
        self.check();
    }

    /// What the client does with a packet from the server.
    fn client_receives(&mut self, packet: &Packet) {
        let bytes = len(packet, self.version).expect("encodable");
        if let Some(max) = self.client_packet_max {
            assert!(bytes <= max as usize, "{bytes} bytes over the client's {max}: {packet:?}");
        }
        match packet {
            Packet::Publish(publish) => {
                if self.version != V5 {
                    assert_eq!(publish.properties, PublishProperties::default());
                }
                match publish.properties.topic_alias {
                    Some(alias) => {
                        assert!(alias >= 1 && alias <= self.client_alias_maximum, "alias {alias}");
                        if publish.topic.is_empty() {
                            assert!(self.aliases_in.contains_key(&alias), "alias {alias} used before set");
                        } else {
                            self.aliases_in.insert(alias, publish.topic.clone());
                        }
                    }
                    None => assert!(!publish.topic.is_empty()),
                }
                if let Some(id) = publish.packet_id {
                    match self.received.get(&id) {
                        // A resent one (after the resume): the same message again.
                        Some(_) => assert!(publish.dup, "packet id {id} reused while in flight"),
                        None => {
                            assert!(!self.released.contains(&id), "packet id {id} reused while released");
                            self.received.insert(id, publish.qos);
                        }
                    }
                }
            }
            Packet::PubRel(pubrel) => {
                self.received.remove(&pubrel.packet_id);
                self.released.insert(pubrel.packet_id);
            }
            Packet::PubAck(ack) => {
                assert!(self.own.remove(&ack.packet_id).is_some_and(|(p, _)| p.qos == QoS::AtLeastOnce));
            }
            Packet::PubRec(ack) => {
                let own = self.own.get_mut(&ack.packet_id).expect("PUBREC for a PUBLISH not sent");
                assert_eq!(own.0.qos, QoS::ExactlyOnce);
                match ack.reason.is_error() {
                    true => drop(self.own.remove(&ack.packet_id)),
                    false => own.1 = true,
                }
            }
            Packet::PubComp(ack) => {
                // For the client's PUBREL: the id is free (0x92 only for one the server did not know).
                self.own.remove(&ack.packet_id);
            }
            Packet::SubAck(ack) => assert!(self.subscribe_ids.remove(&ack.packet_id)),
            Packet::UnsubAck(ack) => assert!(self.subscribe_ids.remove(&ack.packet_id)),
            Packet::PingResp | Packet::ConnAck(_) => {}
            Packet::Disconnect(_) => assert_eq!(self.version, V5, "no DISCONNECT to 3.x"),
            other => panic!("the server sent {other:?}"),
        }
    }

    /// The invariants between any two events.
    fn check(&self) {
        let in_flight = self.session.outbound_in_flight();
        let ids: BTreeSet<u16> = in_flight.iter().map(|i| i.packet_id).collect();
        assert_eq!(ids.len(), in_flight.len(), "packet ids unique in flight");
        // What the client holds unacknowledged is within the window [MQTT-3.3.4-9] (and all of
        // it in flight at the server, below).
        assert!(self.received.len() <= self.window, "{} PUBLISHes unacknowledged", self.received.len());
        assert!(self.received.len() + self.released.len() <= self.window_resumed);
        // Deliveries resumed beyond the window wait in flight for their turn; new ones only
        // within it.
        assert!(in_flight.len() <= self.window.max(self.resumed), "{} in flight", in_flight.len());
        if !self.closed {
            for id in self.received.keys().chain(&self.released) {
                assert!(ids.contains(id), "the client holds {id}, the server does not");
            }
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Deliver { qos, topic, large } => {
                if self.closed || !self.session.can_deliver(qos) {
                    return;
                }
                let token = self.token();
                let payload = Bytes::from(vec![7; if large { 300 } else { 5 }]);
                let message = Message { token, payload, ..message(&format!("topic/{topic}"), qos, 0) };
                self.handle(Event::Deliver(message));
            }
            Action::ClientAck { pick, refuse } => {
                let Some((&id, &qos)) = nth(&self.received, pick) else { return };
                let reason =
                    if refuse && self.version == V5 { ReasonCode::UnspecifiedError } else { ReasonCode::Success };
                self.received.remove(&id);
                match qos {
                    QoS::AtLeastOnce => self.packet(Packet::PubAck(PubAck { reason, ..PubAck::new(id) })),
                    _ => self.packet(Packet::PubRec(PubRec { reason, ..PubRec::new(id) })),
                }
            }
            Action::ClientPubcomp { pick } => {
                let Some(&id) = self.released.iter().nth(pick % self.released.len().max(1)) else { return };
                self.released.remove(&id);
                self.packet(pubcomp(id));
            }
            Action::ClientPublish { qos, topic, alias } => {
                let Some(id) = (1..=10u16).find(|id| !self.own.contains_key(id)) else { return };
                let mut sent = publish(&format!("in/{topic}"), qos, (qos != QoS::AtMostOnce).then_some(id));
                if self.version == V5 {
                    match alias {
                        1 | 2 => {
                            sent.properties.topic_alias = Some(u16::from(alias));
                            self.aliases_out.insert(u16::from(alias));
                        }
                        3 | 4 if self.aliases_out.contains(&u16::from(alias - 2)) => {
                            sent.properties.topic_alias = Some(u16::from(alias - 2));
                            sent.topic.clear();
                        }
                        _ => {}
                    }
                }
                if qos != QoS::AtMostOnce {
                    self.own.insert(id, (sent.clone(), false));
                }
                self.packet(Packet::Publish(sent));
            }
            Action::ClientRetransmit { pick } => {
                let waiting: Vec<Publish> = self.own.values().filter(|(_, rec)| !rec).map(|(p, _)| p.clone()).collect();
                let Some(sent) = waiting.get(pick % waiting.len().max(1)) else { return };
                let sent = Publish { dup: true, ..sent.clone() };
                self.packet(Packet::Publish(sent));
            }
            Action::ClientPubrel { pick } => {
                let recd: Vec<u16> = self.own.iter().filter(|(_, (_, rec))| *rec).map(|(&id, _)| id).collect();
                let Some(&id) = recd.get(pick % recd.len().max(1)) else { return };
                self.packet(pubrel(id));
            }
            Action::BrokerPublished { pick, refuse } => {
                let Some((&id, _)) = nth(&self.appends, pick) else { return };
                self.appends.remove(&id);
                let result = if refuse { Err(ReasonCode::QuotaExceeded) } else { Ok(()) };
                self.handle(Event::Published { id, result });
            }
            Action::ClientSubscribe { filters } => {
                let Some(id) = (1..=5u16).find(|id| !self.subscribe_ids.contains(id)) else { return };
                self.subscribe_ids.insert(id);
                let all = [("a/+", QoS::AtLeastOnce), ("bad/#/x", QoS::AtMostOnce), ("$share/g/b", QoS::ExactlyOnce)];
                self.packet(subscribe(id, &all[..usize::from(filters)]));
            }
            Action::BrokerSubscribed { pick } => {
                let Some((&id, &n)) = nth(&self.subscribes, pick) else { return };
                self.subscribes.remove(&id);
                self.handle(Event::Subscribed { packet_id: id, reasons: vec![ReasonCode::GrantedQoS1; n] });
            }
            Action::ClientUnsubscribe => {
                let Some(id) = (1..=5u16).find(|id| !self.subscribe_ids.contains(id)) else { return };
                self.subscribe_ids.insert(id);
                self.packet(unsubscribe(id, &["a/+", "#/x"]));
            }
            Action::BrokerUnsubscribed { pick } => {
                let Some((&id, &n)) = nth(&self.unsubscribes, pick) else { return };
                self.unsubscribes.remove(&id);
                self.handle(Event::Unsubscribed { packet_id: id, reasons: vec![ReasonCode::Success; n] });
            }
            Action::Ping => self.packet(Packet::PingReq),
            Action::Tick { advance_ms } => {
                self.now_ms += u64::from(advance_ms);
                self.handle(Event::Tick { now_ms: self.now_ms });
            }
            Action::End { how } => match how {
                0 => self.handle(Event::ConnectionLost),
                1 => self.packet(Packet::Disconnect(Disconnect::default())),
                2 => self.handle(Event::TakenOver),
                3 => self.handle(Event::ShuttingDown),
                _ => {}
            },
        }
    }

    /// Everyone answers everything, until nothing is left.
    fn drain(&mut self) {
        for _ in 0..100 {
            if self.closed {
                return;
            }
            let before = (self.received.len(), self.released.len(), self.own.len(), self.appends.len());
            let pending = (self.subscribes.len(), self.unsubscribes.len());
            if before == (0, 0, 0, 0) && pending == (0, 0) {
                return;
            }
            self.act(Action::BrokerPublished { pick: 0, refuse: false });
            self.act(Action::BrokerSubscribed { pick: 0 });
            self.act(Action::BrokerUnsubscribed { pick: 0 });
            self.act(Action::ClientAck { pick: 0, refuse: false });
            self.act(Action::ClientPubcomp { pick: 0 });
            self.act(Action::ClientPubrel { pick: 0 });
            // Keep-alive: the client pings, time does not pass.
            self.act(Action::Ping);
        }
        panic!("the conversation does not settle");
    }
}

fn nth<K, V>(map: &BTreeMap<K, V>, pick: usize) -> Option<(&K, &V)> {
    map.iter().nth(pick % map.len().max(1))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_conversations_keep_the_invariants(
        setup in setup(),
        actions in proptest::collection::vec(action(), 0..120),
    ) {
        let mut world = World::new(&setup);
        for action in actions {
            world.act(action);
        }
        world.drain();
        if !world.closed {
            // With everything acknowledged, every delivery ended exactly once.
            for (token, count) in &world.tokens {
                prop_assert_eq!(*count, 1, "{:?}", token);
            }
            prop_assert!(world.session.outbound_in_flight().is_empty());
            prop_assert!(world.session.can_deliver(QoS::ExactlyOnce));
        }
        // And nothing after Close.
        world.act(Action::End { how: 0 });
        prop_assert!(world.closed);
        world.act(Action::Deliver { qos: QoS::AtMostOnce, topic: 0, large: false });
        world.act(Action::Ping);
    }
}

/// Arbitrary packets a client may send (the codec's strategies, anything it decodes), before
/// and after the CONNACK, with the broker answering everything at once and messages delivered
/// whenever the window allows.
fn hostile(version: Version) -> impl Strategy<Value = Vec<Packet>> {
    proptest::collection::vec(crate::mqtt::testing::any_packet(version), 0..40)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_client_packets_never_panic_and_nothing_follows_close(
        (version, packets) in prop_oneof![Just(V5), Just(V311)].prop_flat_map(|v| (Just(v), hostile(v))),
        connect_first in any::<bool>(),
        accept_after in 0..4usize,
    ) {
        let mut session = Session::new(limits());
        let mut closed = false;
        let mut offset = 0;
        let mut events: Vec<Event> = Vec::new();
        if connect_first {
            events.push(packet(Packet::Connect(connect(version, "c"))));
        }
        for (i, sent) in packets.into_iter().enumerate() {
            if i == accept_after {
                events.push(accept_assigning());
            }
            events.push(Event::Packet { packet: sent, now_ms: i as u64 });
        }
        events.push(accept_assigning());
        // None: a delivery, if the window allows it then.
        let mut queue: std::collections::VecDeque<Option<Event>> = events.into_iter().map(Some).collect();
        while let Some(event) = queue.pop_front() {
            let event = match event {
                Some(event) => event,
                None if session.can_deliver(QoS::ExactlyOnce) => {
                    offset += 1;
                    Event::Deliver(message("t", QoS::ExactlyOnce, offset))
                }
                None => continue,
            };
            let out = session.handle(event);
            if closed {
                prop_assert_eq!(out, vec![]);
                continue;
            }
            for command in out {
                prop_assert!(!closed, "{:?} after Close", command);
                match command {
                    Command::Publish { id, publish } if publish.qos != QoS::AtMostOnce => {
                        queue.push_front(Some(Event::Published { id, result: Ok(()) }));
                    }
                    Command::Subscribe { packet_id, filters, .. } => {
                        let reasons = vec![ReasonCode::GrantedQoS0; filters.len()];
                        queue.push_front(Some(Event::Subscribed { packet_id, reasons }));
                    }
                    Command::Unsubscribe { packet_id, filters } => {
                        let reasons = vec![ReasonCode::Success; filters.len()];
                        queue.push_front(Some(Event::Unsubscribed { packet_id, reasons }));
                    }
                    Command::Send(Packet::Disconnect(_)) => prop_assert_eq!(version, V5),
                    Command::Close { .. } => closed = true,
                    _ => {}
                }
            }
            if !closed && offset < 20 && session.can_deliver(QoS::ExactlyOnce) {
                queue.push_back(None);
            }
        }
        prop_assert_eq!(closed, session.is_closed());
    }
}

/// The broker accepts, giving a client id in case the CONNECT had none (a broker must).
fn accept_assigning() -> Event {
    Event::Accepted {
        session_present: false,
        assigned_client_id: Some("assigned".into()),
        resumed: Resumed::default(),
        now_ms: 0,
    }
}
