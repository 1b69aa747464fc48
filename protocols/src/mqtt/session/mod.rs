//! The per-connection MQTT session machine, sans-IO: events in ([`Event`]), commands out
//! ([`Command`]), like the shard replication machine.
//!
//! One [`Session`] follows one network connection from its first byte to its close, for MQTT 3.1,
//! 3.1.1 and 5.0. The broker decodes the client's bytes with [`Session::version`] and feeds each
//! packet in (or the codec's error), together with the time; it answers the machine's requests
//! (authenticate and open the session, append a message, subscribe) with events of their own, and
//! hands it the messages the client's subscriptions match. The machine enforces the protocol:
//! what a client may send and when, the limits the broker advertised, the flows of QoS 1 and 2
//! both ways, topic aliases both ways, keep-alive, and how the connection ends. It never reads a
//! clock, a socket or a file, and never panics on anything a client sends.
//!
//! The broker executes the commands in order: [`Command::Qos2Outbound`] must be durable before
//! the packets that follow it are written, and [`Command::Close`] comes after everything that
//! is to be written. After `Close` the machine answers every event with nothing.
//!
//! Where a rule of the specifications is enforced, the code names its normative statement: the
//! 5.0 numbering, or "3.1.1 [MQTT-...]" where only 3.1.1 says it or says it differently.
//!
//! - `connect`: CONNECT, the broker's answer, CONNACK, and packets pipelined meanwhile.
//! - `inbound`: the client's PUBLISHes, their acknowledgements, QoS 2 receive state, topic
//!   aliases from the client.
//! - `outbound`: deliveries, packet identifiers, the in-flight window, the client's
//!   acknowledgements, topic aliases to the client, its Maximum Packet Size.
//! - `subscribe`: SUBSCRIBE and UNSUBSCRIBE.
//! - `keepalive`: the keep-alive deadline.

mod connect;
mod inbound;
mod keepalive;
mod outbound;
mod subscribe;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

use super::reason::DISCONNECT as DISCONNECT_REASONS;
use super::{
    len, ConnAckProperties, Disconnect, DisconnectProperties, Error, Packet, Publish, PublishProperties, QoS,
    ReasonCode, SubscriptionOptions, Version, Will,
};

/// Packets a client may pipeline after CONNECT before the broker answers it; more close the
/// connection.
pub const PENDING_PACKETS_MAX: usize = 16;
/// Bytes of such packets allowed (or one packet of [`Limits::packet_bytes_max`], if larger).
pub const PENDING_BYTES_MIN: usize = 64 * 1024;

/// What the broker allows; fixed for a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Inbound QoS 1/2 publishes the client may have unacknowledged (CONNACK Receive Maximum).
    /// 0 is taken as 1 (the property cannot be 0).
    pub receive_maximum: u16,
    /// Client→server topic aliases accepted (CONNACK Topic Alias Maximum); 0: none.
    pub topic_alias_maximum: u16,
    /// The largest packet the client may send (CONNACK Maximum Packet Size); 0: not advertised.
    pub packet_bytes_max: u32,
    /// 0: the client's keep-alive stands; else capped (v5 tells the client with Server Keep
    /// Alive; a 3.x client asking 0 or more than the cap still gets enforced at the cap).
    pub keep_alive_max_s: u16,
    /// The longest session expiry interval granted, for every version; 0: no cap.
    pub session_expiry_max_s: u32,
    pub maximum_qos: QoS,
    pub retain_available: bool,
    pub wildcard_subscription_available: bool,
    pub subscription_identifiers_available: bool,
    pub shared_subscription_available: bool,
    /// Our own cap on QoS 1/2 deliveries in flight (min'd with the client's Receive Maximum;
    /// 3.x clients have none). 0 is taken as 1.
    pub outbound_inflight_max: u16,
}

impl Default for Limits {
    /// Everything the protocol allows: no caps, every feature available, no topic aliases.
    fn default() -> Limits {
        Limits {
            receive_maximum: u16::MAX,
            topic_alias_maximum: 0,
            packet_bytes_max: 0,
            keep_alive_max_s: 0,
            session_expiry_max_s: 0,
            maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            wildcard_subscription_available: true,
            subscription_identifiers_available: true,
            shared_subscription_available: true,
            outbound_inflight_max: u16::MAX,
        }
    }
}

/// Something that happened to the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A packet the client sent, decoded with [`Session::version`] (the first one with any
    /// version).
    Packet { packet: Packet, now_ms: u64 },
    /// The client's bytes could not be decoded (the codec's error). Before CONNECT: CONNACK 0x84
    /// for an unsupported protocol level (in [`Version::for_reply`]), else just close. After
    /// CONNECT: v5 DISCONNECT with [`Error::reason`] (once the CONNACK is out), and close.
    Malformed { error: Error, now_ms: u64 },
    /// Time passed (for keep-alive).
    Tick { now_ms: u64 },
    /// The broker accepted the CONNECT (after [`Command::Connect`]).
    Accepted { session_present: bool, assigned_client_id: Option<String>, resumed: Resumed, now_ms: u64 },
    /// The broker refused it (bad credentials 0x86, not authorized 0x87, server unavailable
    /// 0x88, ...): a v5 CONNACK code, mapped to a 3.x return code for 3.x clients.
    Refused { reason: ReasonCode },
    /// A message for this client from its subscriptions: already matched, ACL-checked and
    /// expiry-checked by the broker. A QoS 1/2 one only while [`Session::can_deliver`] is true.
    Deliver(Message),
    /// The outcome of [`Command::Publish`] for QoS 1 and 2: `Ok(())` when durably appended;
    /// `Err(reason)` when not (v5: PUBACK/PUBREC with the reason; 3.x cannot be told: the
    /// connection is closed, and the client sends the message again on its next connection).
    Published { id: u64, result: Result<(), ReasonCode> },
    /// The outcome of [`Command::Subscribe`]: one reason code per filter the command carried,
    /// in order.
    Subscribed { packet_id: u16, reasons: Vec<ReasonCode> },
    /// The outcome of [`Command::Unsubscribe`]: one reason code per filter, in order.
    Unsubscribed { packet_id: u16, reasons: Vec<ReasonCode> },
    /// The same client id connected elsewhere: v5 DISCONNECT 0x8E, then close; no will (the
    /// session lives on).
    TakenOver,
    /// The broker is stopping: v5 DISCONNECT 0x8B, close, will published.
    ShuttingDown,
    /// The socket closed or failed without a DISCONNECT: close, will published.
    ConnectionLost,
}

/// Where a delivered message came from, for the broker's cursors (opaque to the machine).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token {
    pub shard: u32,
    pub offset: u64,
}

/// A message to deliver to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: Bytes,
    /// Already min(published QoS, subscription QoS).
    pub qos: QoS,
    /// Already decided by the broker (retain-as-published, retained on subscribe).
    pub retain: bool,
    /// Message expiry is the remaining interval. `topic_alias` and `subscription_identifiers`
    /// are ignored here: the machine sets them.
    pub properties: PublishProperties,
    pub subscription_identifiers: Vec<u32>,
    pub token: Token,
    /// A redelivery after a resume: sent with this packet id and DUP set.
    pub resume_packet_id: Option<u16>,
}

/// A QoS 1/2 delivery in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inflight {
    pub packet_id: u16,
    pub message: Message,
    /// QoS 2: PUBREC received, PUBREL sent.
    pub released: bool,
}

/// What the broker restores of a session (empty for a new one).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resumed {
    /// QoS 1/2 deliveries that were in flight, in the order they were first sent: released ones
    /// get their PUBREL again (all at once, first), the others their PUBLISH again with DUP and
    /// the same packet id [MQTT-4.4.0-1], in order, as far as the in-flight window allows (the
    /// rest as acknowledgements free it). All of them count in the window.
    pub outbound: Vec<Inflight>,
    /// QoS 2 packet ids received (PUBREC sent) whose PUBREL has not come: a PUBLISH with one of
    /// these ids again is a duplicate, answered PUBREC without a new [`Command::Publish`]
    /// [MQTT-4.3.3-10].
    pub inbound_qos2: Vec<u16>,
    /// QoS 2 packet ids received whose storage the broker cannot confirm (it recorded the id
    /// before appending the message and the connection ended before the answer was known):
    /// a PUBLISH with one of these ids again is passed on as a [`Command::Publish`] (the broker
    /// looks for the first copy in the log and stores the message only if it is not there), and
    /// PUBREC'd on its answer; a PUBREL releases the id as for [`Resumed::inbound_qos2`].
    pub inbound_qos2_unconfirmed: Vec<u16>,
    /// Packet ids of QoS 2 deliveries that were in flight which the broker delivers again
    /// later, in log order beside other messages, each as a [`Message`] with that
    /// `resume_packet_id`: until then no other delivery gets one of these ids (the client may
    /// still hold it, waiting for a PUBREL, and would take another message under it for a
    /// duplicate).
    pub reserved_ids: Vec<u16>,
}

/// Something the broker must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Write this packet, encoded with [`Session::version`] (already checked against the
    /// client's Maximum Packet Size).
    Send(Packet),
    /// A valid CONNECT: authenticate and open the session; answer with [`Event::Accepted`] or
    /// [`Event::Refused`].
    Connect(ConnectRequest),
    /// Append the client's message. `id` numbers this connection's publishes. QoS 0: no answer
    /// expected. QoS 1/2: answer with [`Event::Published`]. The topic is resolved (alias
    /// applied, the alias property removed), DUP cleared, the packet id kept.
    Publish { id: u64, publish: Publish },
    /// Filters that passed validation, with the subscription identifier if any (invalid ones
    /// get their reason code from the machine, merged into one SUBACK in the original order
    /// with the broker's answer). Each filter's QoS is already capped at the maximum QoS.
    Subscribe { packet_id: u16, filters: Vec<(String, SubscriptionOptions)>, subscription_id: Option<u32> },
    /// Filters that are syntactically valid (the others get 0x8F from the machine, merged the
    /// same way into the UNSUBACK).
    Unsubscribe { packet_id: u16, filters: Vec<String> },
    /// The session is done with a delivered message: QoS 0 sent, QoS 1 PUBACKed, QoS 2
    /// PUBCOMPed (or refused with an error PUBACK/PUBREC), or dropped (too large for the
    /// client's Maximum Packet Size [MQTT-3.1.2-25]): the broker may move its cursor past it.
    Delivered { token: Token },
    /// QoS 2 delivery state to make durable BEFORE the packets that follow are written:
    /// emitted before the first Send of a QoS 2 PUBLISH (`released: false`) and before the
    /// Send of its PUBREL (`released: true`).
    Qos2Outbound { token: Token, packet_id: u16, released: bool },
    /// Inbound QoS 2: PUBREL received for this id; the broker may forget it (emitted before
    /// the Send of PUBCOMP).
    Qos2Released { packet_id: u16 },
    /// Close the connection after writing what came before. `publish_will`: the will should
    /// be published (lost connection, keep-alive timeout, protocol error, DISCONNECT 0x04 or
    /// any other error reason, a refused 3.x publish, server shutting down; not on a normal
    /// DISCONNECT, a takeover, nor before the CONNECT was accepted). `session_expiry_s`: the
    /// session's final expiry from the client's DISCONNECT (capped like CONNECT's); None:
    /// unchanged.
    Close { publish_will: bool, session_expiry_s: Option<u32>, reason: ReasonCode },
}

/// A valid CONNECT, for the broker to authenticate and open the session with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectRequest {
    pub version: Version,
    /// None when the client sent an empty one that the broker must assign (v5; 3.1.1 with
    /// clean session).
    pub client_id: Option<String>,
    pub clean_start: bool,
    /// v5: the property (absent: 0); 3.x: 0 if clean session, else `u32::MAX` ("never"); both
    /// capped by [`Limits::session_expiry_max_s`].
    pub session_expiry_s: u32,
    /// As enforced.
    pub keep_alive_s: u16,
    pub username: Option<String>,
    pub password: Option<Bytes>,
    /// Validated: topic valid, QoS ≤ maximum QoS (else CONNACK 0x9B), retain only if available
    /// (0x9A).
    pub will: Option<Will>,
    /// The client's (65535 if absent).
    pub receive_maximum: u16,
    /// The client's.
    pub maximum_packet_size: Option<u32>,
    /// The client's (server→client aliases; 0 if absent).
    pub topic_alias_maximum: u16,
    pub request_problem_information: bool,
    pub request_response_information: bool,
    pub user_properties: Vec<(String, String)>,
}

/// Where the connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Nothing received yet: the first packet must be CONNECT.
    AwaitConnect,
    /// CONNECT passed on to the broker ([`Command::Connect`]); packets are queued until it
    /// answers.
    Connecting,
    /// CONNACK 0x00 sent.
    Connected,
    /// [`Command::Close`] emitted: nothing more happens.
    Closed,
}

/// What the client's CONNECT asked for, as the machine enforces it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Peer {
    clean_start: bool,
    /// The enforced keep-alive; 0: none.
    keep_alive_s: u16,
    /// CONNECT's Session Expiry Interval was 0 (or absent): a DISCONNECT may not raise it.
    session_expiry_zero: bool,
    /// Server→client QoS 1/2 PUBLISHes the client takes unacknowledged.
    receive_maximum: u16,
    maximum_packet_size: Option<u32>,
    /// Server→client topic aliases the client takes; 0 for 3.x.
    topic_alias_maximum: u16,
    /// Reason strings and user properties allowed on packets other than PUBLISH, CONNACK
    /// and DISCONNECT.
    problem_information: bool,
}

impl Default for Peer {
    fn default() -> Peer {
        Peer {
            clean_start: true,
            keep_alive_s: 0,
            session_expiry_zero: true,
            receive_maximum: u16::MAX,
            maximum_packet_size: None,
            topic_alias_maximum: 0,
            problem_information: true,
        }
    }
}

/// One connection's MQTT session machine.
#[derive(Clone, Debug)]
pub struct Session {
    limits: Limits,
    phase: Phase,
    version: Option<Version>,
    client_id: Option<String>,
    peer: Peer,
    /// The v5 CONNACK properties decided at CONNECT, sent once the broker accepts.
    connack: ConnAckProperties,
    /// When the last packet from the client arrived (or the CONNECT was accepted).
    last_packet_ms: u64,
    /// Packets received while the broker decides on the CONNECT, and their encoded bytes.
    pending: VecDeque<Event>,
    pending_bytes: usize,
    /// A malformed packet was queued: nothing after it is read.
    pending_ended: bool,
    inbound: inbound::Inbound,
    outbound: outbound::Outbound,
    /// SUBSCRIBEs passed to the broker, by packet id: the machine's own reason code for each
    /// filter, or None where the broker's answer goes.
    subscribing: HashMap<u16, Vec<Option<ReasonCode>>>,
    /// The same for UNSUBSCRIBEs.
    unsubscribing: HashMap<u16, Vec<Option<ReasonCode>>>,
}

impl Session {
    pub fn new(limits: Limits) -> Session {
        Session {
            limits,
            phase: Phase::AwaitConnect,
            version: None,
            client_id: None,
            peer: Peer::default(),
            connack: ConnAckProperties::default(),
            last_packet_ms: 0,
            pending: VecDeque::new(),
            pending_bytes: 0,
            pending_ended: false,
            inbound: inbound::Inbound::default(),
            outbound: outbound::Outbound::default(),
            subscribing: HashMap::new(),
            unsubscribing: HashMap::new(),
        }
    }

    /// Handles one event; returns the commands to run, in order.
    pub fn handle(&mut self, event: Event) -> Vec<Command> {
        let mut out = Vec::new();
        if self.phase == Phase::Closed {
            return out;
        }
        match event {
            Event::Packet { packet, now_ms } => self.on_packet(packet, now_ms, &mut out),
            Event::Malformed { error, now_ms } => self.on_malformed(error, now_ms, &mut out),
            Event::Tick { now_ms } => self.tick(now_ms, &mut out),
            Event::Accepted { session_present, assigned_client_id, resumed, now_ms } => {
                self.accepted(session_present, assigned_client_id, resumed, now_ms, &mut out)
            }
            Event::Refused { reason } => self.refused(reason, &mut out),
            Event::Deliver(message) => self.deliver(message, &mut out),
            Event::Published { id, result } => self.published(id, result, &mut out),
            Event::Subscribed { packet_id, reasons } => self.subscribed(packet_id, reasons, &mut out),
            Event::Unsubscribed { packet_id, reasons } => self.unsubscribed(packet_id, reasons, &mut out),
            Event::TakenOver => self.taken_over(&mut out),
            Event::ShuttingDown => self.shutting_down(&mut out),
            Event::ConnectionLost => {
                // The will belongs to an accepted session only.
                let publish_will = self.phase == Phase::Connected;
                self.close(publish_will, None, ReasonCode::UnspecifiedError, &mut out)
            }
        }
        out
    }

    /// The protocol version the client's packets are decoded with and the machine's packets
    /// encoded with: the CONNECT's (or, after a CONNECT refused for its protocol level, the
    /// version the refusal is written in). None before CONNECT.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The client id: the CONNECT's, or the one the broker assigned once accepted.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// Whether the connection is closed ([`Command::Close`] was emitted).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    fn v5(&self) -> bool {
        self.version == Some(Version::V5)
    }

    /// The version to encode with (5.0 before any is known: the fullest sizes).
    fn wire_version(&self) -> Version {
        self.version.unwrap_or(Version::V5)
    }

    /// A packet from the client.
    fn on_packet(&mut self, packet: Packet, now_ms: u64, out: &mut Vec<Command>) {
        match self.phase {
            Phase::AwaitConnect => {
                self.last_packet_ms = now_ms;
                match packet {
                    Packet::Connect(connect) => self.connect(connect, out),
                    // [MQTT-3.1.0-1]: the first packet is CONNECT; anything else closes, and
                    // no CONNACK can be sent for what is not a CONNECT.
                    _ => self.close(false, None, ReasonCode::ProtocolError, out),
                }
            }
            Phase::Connecting => self.queue(Event::Packet { packet, now_ms }, out),
            Phase::Connected => {
                self.last_packet_ms = self.last_packet_ms.max(now_ms);
                self.dispatch(packet, out);
            }
            Phase::Closed => {}
        }
    }

    /// A packet from the client on an accepted connection.
    fn dispatch(&mut self, packet: Packet, out: &mut Vec<Command>) {
        match packet {
            Packet::Publish(publish) => self.client_publish(publish, out),
            Packet::PubAck(ack) => self.puback(ack, out),
            Packet::PubRec(ack) => self.pubrec(ack, out),
            Packet::PubRel(ack) => self.pubrel(ack, out),
            Packet::PubComp(ack) => self.pubcomp(ack, out),
            Packet::Subscribe(subscribe) => self.subscribe(subscribe, out),
            Packet::Unsubscribe(unsubscribe) => self.unsubscribe(unsubscribe, out),
            // [MQTT-3.12.4-1]
            Packet::PingReq => self.send(Packet::PingResp, out),
            Packet::Disconnect(disconnect) => self.client_disconnect(disconnect, out),
            // [MQTT-3.1.0-2]
            Packet::Connect(_) => self.violation(ReasonCode::ProtocolError, "a second CONNECT".into(), out),
            // [MQTT-4.12.0-7]: no CONNECT is accepted with an Authentication Method, so no
            // AUTH may follow.
            Packet::Auth(_) => {
                self.violation(ReasonCode::ProtocolError, "AUTH without enhanced authentication".into(), out)
            }
            Packet::ConnAck(_) | Packet::SubAck(_) | Packet::UnsubAck(_) | Packet::PingResp => {
                self.violation(ReasonCode::ProtocolError, "a packet only a server sends".into(), out)
            }
        }
    }

    /// The codec could not decode the client's bytes.
    fn on_malformed(&mut self, error: Error, now_ms: u64, out: &mut Vec<Command>) {
        match self.phase {
            Phase::AwaitConnect => self.malformed_connect(error, out),
            Phase::Connecting => self.queue(Event::Malformed { error, now_ms }, out),
            // [MQTT-4.13.1-1]: close; v5 says why first (DISCONNECT, after the CONNACK), with
            // a code DISCONNECT may carry: 0x84 (a CONNECT of an unsupported level) is not one,
            // and such a CONNECT is a second CONNECT, a Protocol Error [MQTT-3.1.0-2].
            Phase::Connected => {
                let reason = Some(error.reason()).filter(|r| DISCONNECT_REASONS.contains(r));
                self.violation(reason.unwrap_or(ReasonCode::ProtocolError), error.to_string(), out)
            }
            Phase::Closed => {}
        }
    }

    /// The client's DISCONNECT.
    fn client_disconnect(&mut self, disconnect: Disconnect, out: &mut Vec<Command>) {
        let expiry = disconnect.properties.session_expiry_interval_s;
        if expiry.is_some_and(|s| s != 0) && self.peer.session_expiry_zero {
            // 3.14.2.2.2: a non-zero Session Expiry Interval on DISCONNECT after a CONNECT with
            // 0 is a Protocol Error; the DISCONNECT is not treated as valid (so the will stays).
            let detail = "DISCONNECT sets a session expiry after CONNECT's 0".into();
            return self.violation(ReasonCode::ProtocolError, detail, out);
        }
        // [MQTT-3.14.4-3]: only a normal disconnection discards the will; 0x04 and every error
        // reason keep it.
        let publish_will = disconnect.reason != ReasonCode::NormalDisconnection;
        let expiry = expiry.map(|s| self.cap_session_expiry(s));
        self.close(publish_will, expiry, disconnect.reason, out);
    }

    /// The broker let another connection take this session over.
    fn taken_over(&mut self, out: &mut Vec<Command>) {
        // [MQTT-3.1.4-3]: DISCONNECT 0x8E to the existing connection, then close it.
        self.disconnect(ReasonCode::SessionTakenOver, None, false, out);
    }

    /// The broker is stopping.
    fn shutting_down(&mut self, out: &mut Vec<Command>) {
        match self.phase {
            // No DISCONNECT before a CONNACK [MQTT-3.14.0-1]: refuse the pending CONNECT.
            Phase::Connecting => self.refuse(ReasonCode::ServerUnavailable, out),
            _ => self.disconnect(ReasonCode::ServerShuttingDown, None, true, out),
        }
    }

    /// `s` capped at [`Limits::session_expiry_max_s`].
    fn cap_session_expiry(&self, s: u32) -> u32 {
        match self.limits.session_expiry_max_s {
            0 => s,
            max => s.min(max),
        }
    }

    /// Whether `packet` is within the client's Maximum Packet Size (and can be encoded at all).
    fn fits(&self, packet: &Packet) -> bool {
        let Ok(bytes) = len(packet, self.wire_version()) else {
            return false;
        };
        self.peer.maximum_packet_size.is_none_or(|max| bytes <= max as usize)
    }

    /// Sends a packet other than a delivery's PUBLISH (those are sized in `outbound`).
    ///
    /// Reason strings and user properties go only on PUBLISH, CONNACK and DISCONNECT when the
    /// client asked for no problem information [MQTT-3.1.2-29], and go first when the packet
    /// would exceed the client's Maximum Packet Size [MQTT-3.1.2-24] ([MQTT-3.2.2-19],
    /// [MQTT-3.2.2-20], [MQTT-3.4.2-2] and alike for each packet). A packet that still does not
    /// fit is not sent: only a client with an absurdly small maximum gets there.
    fn send(&self, mut packet: Packet, out: &mut Vec<Command>) {
        let diagnostics_allowed = matches!(packet, Packet::Publish(_) | Packet::ConnAck(_) | Packet::Disconnect(_));
        if !self.peer.problem_information && !diagnostics_allowed {
            strip_diagnostics(&mut packet);
        }
        if !self.fits(&packet) {
            strip_diagnostics(&mut packet);
            if !self.fits(&packet) {
                return;
            }
        }
        out.push(Command::Send(packet));
    }

    /// Ends the connection: nothing more happens after this.
    fn close(&mut self, publish_will: bool, session_expiry_s: Option<u32>, reason: ReasonCode, out: &mut Vec<Command>) {
        self.phase = Phase::Closed;
        self.pending.clear();
        out.push(Command::Close { publish_will, session_expiry_s, reason });
    }

    /// Ends the connection on the server's initiative: a v5 client on an accepted connection
    /// gets a DISCONNECT with the reason first (3.x has no server DISCONNECT; nothing may
    /// precede CONNACK [MQTT-3.14.0-1]).
    fn disconnect(&mut self, reason: ReasonCode, detail: Option<String>, publish_will: bool, out: &mut Vec<Command>) {
        if self.v5() && self.phase == Phase::Connected {
            let properties = DisconnectProperties { reason_string: detail, ..DisconnectProperties::default() };
            self.send(Packet::Disconnect(Disconnect { reason, properties }), out);
        }
        // An accepted session's will only.
        let publish_will = publish_will && self.phase == Phase::Connected;
        self.close(publish_will, None, reason, out);
    }

    /// The client broke a rule: DISCONNECT with the reason (v5) and why, close, will published.
    fn violation(&mut self, reason: ReasonCode, detail: String, out: &mut Vec<Command>) {
        self.disconnect(reason, Some(detail), true, out);
    }
}

/// Removes the reason string and user properties of a packet the machine sends (never of a
/// PUBLISH, whose user properties are the message's [MQTT-3.3.2-17]).
fn strip_diagnostics(packet: &mut Packet) {
    match packet {
        Packet::PubAck(ack) => ack.properties = Default::default(),
        Packet::PubRec(ack) => ack.properties = Default::default(),
        Packet::PubRel(ack) => ack.properties = Default::default(),
        Packet::PubComp(ack) => ack.properties = Default::default(),
        Packet::SubAck(ack) => ack.properties = Default::default(),
        Packet::UnsubAck(ack) => ack.properties = Default::default(),
        Packet::ConnAck(connack) => {
            connack.properties.reason_string = None;
            connack.properties.user_properties.clear();
        }
        Packet::Disconnect(disconnect) => {
            disconnect.properties.reason_string = None;
            disconnect.properties.user_properties.clear();
        }
        Packet::Auth(auth) => {
            auth.properties.reason_string = None;
            auth.properties.user_properties.clear();
        }
        Packet::Connect(_)
        | Packet::Publish(_)
        | Packet::Subscribe(_)
        | Packet::Unsubscribe(_)
        | Packet::PingReq
        | Packet::PingResp => {}
    }
}
