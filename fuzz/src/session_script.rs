//! A conversation with the MQTT session machine, scripted by fuzz bytes.
//!
//! The first bytes choose the broker's [`Limits`]; then each op byte says who acts next: the
//! client sends bytes (decoded by the codec as a connection decodes them: whole packets, the
//! codec's error as [`Event::Malformed`]), time passes, or the broker acts as its contract with
//! the machine says it may (answers the CONNECT, delivers while the window allows, answers
//! appends, subscribes and unsubscribes the machine asked for, takes the session over, shuts
//! down, loses the connection). The client is hostile, the broker well-behaved.
//!
//! Every command batch is checked as the broker would rely on it: nothing after `Close`, which
//! comes last; at most one `Connect`; appends, subscribes and unsubscribes never reuse an id
//! still awaiting its answer; each delivered message is `Delivered` at most once, and only one
//! that was delivered; QoS 2 state comes right before the packet it is for; every packet sent
//! encodes for the connection's version within the client's Maximum Packet Size and decodes
//! again; packet ids in flight are unique.

use std::collections::{BTreeMap, BTreeSet};

use bytes::{Bytes, BytesMut};
use keel_protocols::mqtt::session::{
    Command, ConnectRequest, Event, Inflight, Limits, Message, Resumed, Session, Token,
};
use keel_protocols::mqtt::{read, write, Packet, PublishProperties, QoS, ReasonCode, Version};

/// Ops run from one input.
const OPS_MAX: usize = 512;
/// What the broker reads packets up to.
const PACKET_BYTES_MAX: usize = 1 << 20;

const REFUSALS: [ReasonCode; 4] = [
    ReasonCode::BadUserNameOrPassword,
    ReasonCode::NotAuthorized,
    ReasonCode::ServerUnavailable,
    ReasonCode::ClientIdentifierNotValid,
];
const APPEND_ERRORS: [ReasonCode; 4] =
    [ReasonCode::UnspecifiedError, ReasonCode::NotAuthorized, ReasonCode::QuotaExceeded, ReasonCode::TopicNameInvalid];
const SUBSCRIBE_ERRORS: [ReasonCode; 3] =
    [ReasonCode::NotAuthorized, ReasonCode::QuotaExceeded, ReasonCode::ImplementationSpecificError];
const UNSUBSCRIBE_REASONS: [ReasonCode; 3] =
    [ReasonCode::Success, ReasonCode::NoSubscriptionExisted, ReasonCode::NotAuthorized];
const TOPICS: [&str; 4] = ["a/b", "t", "sensors/kitchen/temperature", "$SYS/broker/uptime"];

/// The script's bytes, read front to back; zeros once they run out.
pub struct Script<'a> {
    data: &'a [u8],
}

impl<'a> Script<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Script { data }
    }

    fn is_done(&self) -> bool {
        self.data.is_empty()
    }

    fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.data.split_first() else { return 0 };
        self.data = rest;
        b
    }

    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        taken
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[usize::from(self.u8()) % from.len()]
    }
}

/// The ops: an op byte (modulo 12) says what happens next, and the bytes after it how.
pub mod op {
    /// `[len u8][len bytes]`: the client sends bytes (also 1-3).
    pub const CLIENT: u8 = 0;
    /// `[ms u16]`: time passes.
    pub const TICK: u8 = 4;
    /// `[how u8][resumed session]`: the broker answers the CONNECT (refuses if `how % 4 == 0`).
    pub const ANSWER_CONNECT: u8 = 5;
    /// `[qos][topic][size][flags][redelivery]`: a message for the client (also 7).
    pub const DELIVER: u8 = 6;
    /// `[pick][how]`: an append's outcome.
    pub const PUBLISHED: u8 = 8;
    /// `[pick][how per filter]`: a SUBSCRIBE's outcome.
    pub const SUBSCRIBED: u8 = 9;
    /// `[pick][reason per filter]`: an UNSUBSCRIBE's outcome.
    pub const UNSUBSCRIBED: u8 = 10;
    /// `[which u8]`: a takeover, a shutdown or a lost connection.
    pub const END: u8 = 11;
}

/// The broker's side of the conversation, and what it has checked so far.
pub struct Conversation {
    session: Session,
    inbuf: BytesMut,
    now_ms: u64,
    closed: bool,
    connect: Option<ConnectRequest>,
    answered: bool,
    accepted: bool,
    appends: BTreeSet<u64>,
    subscribes: BTreeMap<u16, Vec<QoS>>,
    unsubscribes: BTreeMap<u16, usize>,
    /// Tokens handed to the machine → whether `Delivered` came for them.
    tokens: BTreeMap<Token, bool>,
    /// Resumed QoS 2 packet ids still to be delivered again.
    reserved: Vec<u16>,
}

fn limits(s: &mut Script) -> Limits {
    let flags = s.u8();
    Limits {
        receive_maximum: u16::from(s.u8() % 12),
        topic_alias_maximum: u16::from(s.u8() % 5),
        packet_bytes_max: s.pick(&[0, 64, 300, 65_536]),
        keep_alive_max_s: u16::from(s.u8() % 4) * 10,
        session_expiry_max_s: u32::from(s.u8() % 3) * 100,
        maximum_qos: s.pick(&[QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce, QoS::ExactlyOnce]),
        retain_available: flags & 1 == 0,
        wildcard_subscription_available: flags & 2 == 0,
        subscription_identifiers_available: flags & 4 == 0,
        shared_subscription_available: flags & 8 == 0,
        outbound_inflight_max: u16::from(s.u8() % 6),
    }
}

impl Conversation {
    /// Plays the whole script, checking every batch of commands.
    pub fn play(data: &[u8]) {
        let mut s = Script::new(data);
        let mut c = Conversation {
            session: Session::new(limits(&mut s)),
            inbuf: BytesMut::new(),
            now_ms: 0,
            closed: false,
            connect: None,
            answered: false,
            accepted: false,
            appends: BTreeSet::new(),
            subscribes: BTreeMap::new(),
            unsubscribes: BTreeMap::new(),
            tokens: BTreeMap::new(),
            reserved: Vec::new(),
        };
        for _ in 0..OPS_MAX {
            if s.is_done() {
                break;
            }
            c.step(&mut s);
        }
        c.handle(Event::ConnectionLost);
        assert!(c.closed, "a lost connection closes");
    }

    fn step(&mut self, s: &mut Script) {
        match s.u8() % 12 {
            op::CLIENT..=3 => {
                let n = usize::from(s.u8());
                self.client_sends(s.take(n));
            }
            op::TICK => {
                self.now_ms += u64::from(s.u16());
                self.handle(Event::Tick { now_ms: self.now_ms });
            }
            op::ANSWER_CONNECT => self.answer_connect(s),
            op::DELIVER | 7 => self.deliver(s),
            op::PUBLISHED => {
                let Some(id) = nth(&self.appends, s.u8()) else { return };
                self.appends.remove(&id);
                let how = s.u8();
                let result = if how.is_multiple_of(4) { Err(APPEND_ERRORS[usize::from(how / 4) % 4]) } else { Ok(()) };
                self.handle(Event::Published { id, result });
            }
            op::SUBSCRIBED => {
                let Some(packet_id) = nth(self.subscribes.keys(), s.u8()) else { return };
                let asked = self.subscribes.remove(&packet_id).expect("picked");
                let reasons = asked.into_iter().map(|qos| granted(qos, s.u8())).collect();
                self.handle(Event::Subscribed { packet_id, reasons });
            }
            op::UNSUBSCRIBED => {
                let Some(packet_id) = nth(self.unsubscribes.keys(), s.u8()) else { return };
                let n = self.unsubscribes.remove(&packet_id).expect("picked");
                let reasons = (0..n).map(|_| s.pick(&UNSUBSCRIBE_REASONS)).collect();
                self.handle(Event::Unsubscribed { packet_id, reasons });
            }
            _ => match s.u8() % 3 {
                0 => self.handle(Event::TakenOver),
                1 => self.handle(Event::ShuttingDown),
                _ => self.handle(Event::ConnectionLost),
            },
        }
    }

    /// The connection reads `bytes`: every whole packet goes in; an error goes in and ends
    /// the reading.
    fn client_sends(&mut self, bytes: &[u8]) {
        self.inbuf.extend_from_slice(bytes);
        while !self.closed {
            let version = self.session.version().unwrap_or(Version::V311);
            match read(&mut self.inbuf, version, PACKET_BYTES_MAX) {
                Ok(Some(packet)) => self.handle(Event::Packet { packet, now_ms: self.now_ms }),
                Ok(None) => return,
                Err(error) => {
                    self.handle(Event::Malformed { error, now_ms: self.now_ms });
                    self.inbuf.clear();
                    return;
                }
            }
        }
    }

    fn answer_connect(&mut self, s: &mut Script) {
        let Some(request) = self.connect.as_ref().filter(|_| !self.answered && !self.closed) else { return };
        self.answered = true;
        let how = s.u8();
        if how.is_multiple_of(4) {
            return self.handle(Event::Refused { reason: REFUSALS[usize::from(how / 4) % REFUSALS.len()] });
        }
        // A broker assigns a client id where the CONNECT had none.
        let assigned_client_id = request.client_id.is_none().then(|| "assigned".to_string());
        let resumed = self.resumed(s);
        self.accepted = true;
        let event = Event::Accepted { session_present: how & 4 != 0, assigned_client_id, resumed, now_ms: self.now_ms };
        self.handle(event);
    }

    /// What a resumed session brings back: deliveries in flight, QoS 2 ids received, QoS 2 ids
    /// reserved for redelivery; every packet id nonzero and used once.
    fn resumed(&mut self, s: &mut Script) -> Resumed {
        let mut used = BTreeSet::new();
        let mut fresh_id = |s: &mut Script| Some(s.u16()).filter(|&id| id != 0 && used.insert(id));
        let mut outbound = Vec::new();
        for _ in 0..s.u8() % 4 {
            let Some(packet_id) = fresh_id(s) else { continue };
            let qos = if s.u8().is_multiple_of(2) { QoS::AtLeastOnce } else { QoS::ExactlyOnce };
            let released = qos == QoS::ExactlyOnce && s.u8().is_multiple_of(2);
            let message = self.message(s, qos);
            outbound.push(Inflight { packet_id, message, released });
        }
        let inbound_qos2 = (0..s.u8() % 3).filter_map(|_| fresh_id(s)).collect();
        let reserved_ids: Vec<u16> = (0..s.u8() % 3).filter_map(|_| fresh_id(s)).collect();
        self.reserved = reserved_ids.clone();
        let inbound_qos2_unconfirmed = (0..s.u8() % 2).filter_map(|_| fresh_id(s)).collect();
        Resumed { outbound, inbound_qos2, inbound_qos2_unconfirmed, reserved_ids }
    }

    /// A message for the client with a fresh token.
    fn message(&mut self, s: &mut Script, qos: QoS) -> Message {
        let topic = s.pick(&TOPICS).to_string();
        let size = usize::from(s.u8()) * 3;
        let flags = s.u8();
        let token = Token { shard: u32::from(flags >> 6), offset: self.tokens.len() as u64 };
        self.tokens.insert(token, false);
        let properties = PublishProperties {
            message_expiry_interval_s: (flags & 2 != 0).then_some(30),
            content_type: (flags & 4 != 0).then(|| "text/plain".to_string()),
            ..PublishProperties::default()
        };
        Message {
            topic,
            payload: Bytes::from(vec![b'p'; size]),
            qos,
            retain: flags & 1 != 0,
            properties,
            subscription_identifiers: if flags & 8 != 0 { vec![u32::from(flags) + 1] } else { Vec::new() },
            token,
            resume_packet_id: None,
        }
    }

    /// The broker hands the machine a message, as far as the window allows; now and then a
    /// reserved QoS 2 redelivery.
    fn deliver(&mut self, s: &mut Script) {
        if !self.accepted || self.closed {
            return;
        }
        let qos = s.pick(&[QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce]);
        if !self.session.can_deliver(qos) {
            return;
        }
        let mut message = self.message(s, qos);
        if qos == QoS::ExactlyOnce && !self.reserved.is_empty() && s.u8().is_multiple_of(2) {
            message.resume_packet_id = Some(self.reserved.remove(0));
        }
        self.handle(Event::Deliver(message));
    }

    /// Runs one event and checks its commands.
    fn handle(&mut self, event: Event) {
        let out = self.session.handle(event);
        if self.closed {
            assert!(out.is_empty(), "commands after Close: {out:?}");
            return;
        }
        for (i, command) in out.iter().enumerate() {
            assert!(!self.closed, "{command:?} after Close");
            self.check(command, out.get(i + 1));
            if self.closed {
                assert_eq!(i + 1, out.len(), "Close comes last");
            }
        }
        assert_eq!(self.closed, self.session.is_closed());
        let in_flight = self.session.outbound_in_flight();
        let ids: BTreeSet<u16> = in_flight.iter().map(|i| i.packet_id).collect();
        assert_eq!(ids.len(), in_flight.len(), "packet ids in flight are unique");
    }

    fn check(&mut self, command: &Command, next: Option<&Command>) {
        match command {
            Command::Send(packet) => self.check_sent(packet),
            Command::Connect(request) => {
                assert!(self.connect.is_none(), "a second Connect");
                self.connect = Some(request.clone());
            }
            Command::Publish { id, publish } => {
                assert!(publish.properties.topic_alias.is_none() && !publish.topic.is_empty() && !publish.dup);
                if publish.qos != QoS::AtMostOnce {
                    assert!(self.appends.insert(*id), "append id {id} reused while awaiting its outcome");
                }
            }
            Command::Subscribe { packet_id, filters, .. } => {
                let asked = filters.iter().map(|(_, o)| o.qos).collect();
                assert!(self.subscribes.insert(*packet_id, asked).is_none(), "SUBSCRIBE {packet_id} twice");
            }
            Command::Unsubscribe { packet_id, filters } => {
                assert!(self.unsubscribes.insert(*packet_id, filters.len()).is_none(), "UNSUBSCRIBE {packet_id} twice");
            }
            Command::Delivered { token } => {
                let done = self.tokens.get_mut(token).expect("Delivered for a token never delivered");
                assert!(!*done, "{token:?} Delivered twice");
                *done = true;
            }
            Command::Qos2Outbound { packet_id, released, .. } => {
                // The packet the state is for comes next: its PUBLISH, or its PUBREL once released.
                let sent_id = match next {
                    Some(Command::Send(Packet::Publish(p))) if !released => p.packet_id,
                    Some(Command::Send(Packet::PubRel(r))) if *released => Some(r.packet_id),
                    _ => None,
                };
                assert_eq!(sent_id, Some(*packet_id), "{command:?} then {next:?}");
            }
            Command::Qos2Released { packet_id } => {
                assert!(matches!(next, Some(Command::Send(Packet::PubComp(c))) if c.packet_id == *packet_id));
            }
            Command::Close { .. } => self.closed = true,
        }
    }

    /// A packet the machine sends encodes for the connection, fits the client, decodes again.
    fn check_sent(&self, packet: &Packet) {
        let version = self.session.version().unwrap_or(Version::V311);
        let mut out = BytesMut::new();
        let bytes = write(packet, version, &mut out).unwrap_or_else(|e| panic!("{packet:?} unencodable: {e}"));
        let client_max = self.connect.as_ref().and_then(|c| c.maximum_packet_size).filter(|_| version == Version::V5);
        if let Some(max) = client_max {
            assert!(bytes <= max as usize, "{bytes} bytes over the client's {max}: {packet:?}");
        }
        let back = read(&mut out, version, usize::MAX);
        assert!(matches!(back, Ok(Some(_))) && out.is_empty(), "{packet:?} does not decode again: {back:?}");
    }
}

/// The broker's answer for one filter asked at `qos`: granted at most that, or an error.
fn granted(qos: QoS, how: u8) -> ReasonCode {
    match how % 4 {
        0 => SUBSCRIBE_ERRORS[usize::from(how / 4) % SUBSCRIBE_ERRORS.len()],
        1 => ReasonCode::Success,
        _ => match qos {
            QoS::AtMostOnce => ReasonCode::Success,
            QoS::AtLeastOnce => ReasonCode::GrantedQoS1,
            QoS::ExactlyOnce => ReasonCode::GrantedQoS2,
        },
    }
}

fn nth<'a, T: Copy + 'a>(items: impl IntoIterator<Item = &'a T>, pick: u8) -> Option<T> {
    let items: Vec<T> = items.into_iter().copied().collect();
    items.get(usize::from(pick) % items.len().max(1)).copied()
}
