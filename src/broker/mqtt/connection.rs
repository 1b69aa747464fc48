//! One client connection: the only MQTT code that touches a socket. Bytes are decoded into
//! packets and fed to the connection's session machine (`keel_protocols::mqtt::session`); the
//! machine's commands are executed here in order: packets written, CONNECT answered
//! (`connect`), publishes appended (`publish`), subscriptions made (`subscribe`), deliveries
//! acknowledged, the session closed (`close`).
//!
//! The loop takes, one at a time: bytes from the client, the outcome of an append, a takeover
//! or shutdown order, a message for the client (only while the machine's in-flight window has
//! room), and the keep-alive deadline. A client that does not read its socket stalls only its
//! own connection: its queue fills, and its session falls back to reading the log at its pace.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::broker::queue::Queue;
use crate::metrics::mqtt::PacketLabels;
use bytes::BytesMut;
use keel_protocols::mqtt::session::{Command, Event, Limits, Message, Session, Token as MachineToken};
use keel_protocols::mqtt::{self, QoS, ReasonCode, Version};
use keel_rt::time;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::publish::AckOrder;
use super::session::{Delivery, LocalSession, Token};
use super::takeover::Control;
use super::Core;
use crate::meta::mqtt::WillRecord;

/// The longest a write to the client may block before the connection is given up.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes read from the socket at a time: from the smaller figure (an idle connection holds
/// little), doubled while reads fill it, up to the larger.
const READ_BYTES_MIN: usize = 512;
const READ_BYTES_MAX: usize = 64 * 1024;
/// Messages taken off the session's queue before the socket is written.
const DELIVERIES_PER_WRITE: usize = 256;

/// What the broker holds of an accepted connection's session.
pub(super) struct Endpoint {
    pub session: Arc<LocalSession>,
    pub client_id: String,
    pub generation: u64,
    pub expiry_s: u32,
    pub username: Option<String>,
    pub will: Option<WillRecord>,
    /// Shared subscriptions it holds here: (group, filter).
    pub shared: Vec<(String, String)>,
}

/// What finishes asynchronously and comes back to the connection.
pub(super) enum Internal {
    Published { id: u64, result: Result<(), ReasonCode> },
}

/// One connection's state.
pub(super) struct Conn {
    pub core: Arc<Core>,
    pub machine: Session,
    pub out: BytesMut,
    pub ep: Option<Endpoint>,
    pub internal: Arc<Queue<Internal>>,
    pub acks: AckOrder,
    /// Messages for the client that arrived while its window was full (retained messages on
    /// subscribe, or one taken off the channel): delivered first.
    pub backlog: VecDeque<Delivery>,
    /// QoS 2 deliveries in flight: token → packet id (their state in meta is cleared when done).
    pub qos2_out: BTreeMap<Token, u16>,
    /// QoS 2 deliveries in flight before a resume that the shard's reader delivers again, in
    /// order: token → the packet id to resend them with (DUP).
    pub resend: BTreeMap<Token, u16>,
    /// Receivers the loop takes over after CONNECT is accepted.
    pub new_receivers: Option<(Arc<LocalSession>, Arc<Queue<Control>>)>,
    /// Set once a takeover was ordered: where the final state goes.
    pub takeover_reply: Option<tokio::sync::oneshot::Sender<super::takeover::Released>>,
    /// New subscriptions whose retained messages are to follow the SUBACK.
    pub retained_pending: Vec<(String, super::session::SubEntry)>,
    /// Numbers retained deliveries' tokens (they are in no shard).
    pub retained_seq: u64,
    /// Inbound QoS 2 changes sent to meta (their sequence numbers).
    pub qos2_in_changes: u64,
    /// Resumed inbound QoS 2 packet ids whose message may not be stored: where to look for it
    /// when the client resends it (`qos2_in.rs`).
    pub unconfirmed: std::collections::HashMap<u16, crate::meta::mqtt::Origin>,
    /// The ordered queue of this connection's gated QoS 2 appends (started with the first).
    pub feeder: Option<super::qos2_in::Feeder>,
    pub peer: String,
    pub closed: bool,
}

/// The session machine's limits from the broker's configuration.
pub fn limits(core: &Core) -> Limits {
    Limits {
        receive_maximum: core.broker.inflight_max,
        topic_alias_maximum: core.mqtt.topic_alias_max,
        packet_bytes_max: u32::try_from(core.broker.packet_bytes_max).unwrap_or(u32::MAX),
        keep_alive_max_s: core.broker.keep_alive_max_s,
        session_expiry_max_s: core.mqtt.session_expiry_max_s,
        maximum_qos: QoS::ExactlyOnce,
        retain_available: true,
        wildcard_subscription_available: true,
        subscription_identifiers_available: true,
        shared_subscription_available: true,
        outbound_inflight_max: core.broker.inflight_max,
    }
}

/// Milliseconds on the monotonic clock the machine's deadlines are in.
pub(super) fn now_ms() -> u64 {
    time::since_start().as_millis() as u64
}

async fn pop_opt<T>(q: Option<&Queue<T>>) -> Option<T> {
    match q {
        Some(q) => q.pop().await,
        None => std::future::pending().await,
    }
}

/// Serves one client connection until it closes.
pub async fn serve<S>(core: Arc<Core>, stream: S, peer: String)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    core.stats.connections.fetch_add(1, Ordering::Relaxed);
    core.stats.connections_total.fetch_add(1, Ordering::Relaxed);
    let (mut reader, mut writer) = tokio::io::split(stream);
    let internal = Arc::new(Queue::unbounded());
    let mut conn = Conn {
        machine: Session::new(limits(&core)),
        core: core.clone(),
        out: BytesMut::new(),
        ep: None,
        internal: internal.clone(),
        acks: AckOrder::default(),
        backlog: VecDeque::new(),
        qos2_out: BTreeMap::new(),
        resend: BTreeMap::new(),
        new_receivers: None,
        takeover_reply: None,
        retained_pending: Vec::new(),
        retained_seq: 0,
        qos2_in_changes: 0,
        unconfirmed: Default::default(),
        feeder: None,
        peer,
        closed: false,
    };
    let mut inbuf = BytesMut::new();
    let mut read_bytes = READ_BYTES_MIN;
    let mut deliveries: Option<Arc<LocalSession>> = None;
    let mut control: Option<Arc<Queue<Control>>> = None;
    let connect_deadline = time::now() + Duration::from_millis(core.broker.connect_timeout_ms);
    while !conn.closed {
        let deadline = match conn.machine.next_deadline_ms() {
            Some(at) => time::now() + Duration::from_millis(at.saturating_sub(now_ms())),
            None if conn.machine.version().is_none() => connect_deadline,
            None => time::now() + Duration::from_secs(3600),
        };
        let can_take = conn.backlog.is_empty();
        inbuf.reserve(read_bytes);
        let room = inbuf.capacity() - inbuf.len();
        tokio::select! {
            biased;
            r = reader.read_buf(&mut inbuf) => match r {
                Ok(0) | Err(_) => Box::pin(conn.event(Event::ConnectionLost)).await,
                Ok(n) => {
                    if n >= room {
                        read_bytes = (read_bytes * 2).min(READ_BYTES_MAX);
                    }
                    core.stats.bytes_received.fetch_add(n as u64, Ordering::Relaxed);
                    Box::pin(conn.decode(&mut inbuf)).await;
                }
            },
            Some(i) = internal.pop() => Box::pin(conn.internal(i)).await,
            Some(c) = pop_opt(control.as_deref()) => Box::pin(conn.control(c)).await,
            Some(d) = pop_opt(deliveries.as_deref().map(|s| &s.queue)), if can_take => {
                // Everything already queued comes along (up to a batch): one write for many.
                let mut next = Some(d);
                while let Some(d) = next.take() {
                    if let Some(ep) = &conn.ep {
                        ep.session.received(&d);
                    }
                    conn.backlog.push_back(d);
                    if conn.backlog.len() < DELIVERIES_PER_WRITE {
                        next = deliveries.as_ref().and_then(|s| s.queue.try_pop());
                    }
                }
            }
            _ = time::sleep_until(deadline) => {
                if conn.machine.version().is_none() {
                    break; // no CONNECT in time: close without a word [MQTT-3.1.4-?]
                }
                Box::pin(conn.event(Event::Tick { now_ms: now_ms() })).await;
            }
        }
        if !conn.backlog.is_empty() {
            Box::pin(conn.drain_backlog()).await;
        }
        if let Some((d, c)) = conn.new_receivers.take() {
            deliveries = Some(d);
            control = Some(c);
        }
        if !conn.out.is_empty() {
            let wrote = time::timeout(WRITE_TIMEOUT, writer.write_all(&conn.out)).await;
            core.stats.bytes_sent.fetch_add(conn.out.len() as u64, Ordering::Relaxed);
            conn.out.clear();
            let flushed = match wrote {
                Ok(Ok(())) => time::timeout(WRITE_TIMEOUT, writer.flush()).await.is_ok_and(|r| r.is_ok()),
                _ => false,
            };
            if !flushed && !conn.closed {
                Box::pin(conn.event(Event::ConnectionLost)).await;
            }
        }
    }
    let _ = writer.shutdown().await;
    if !conn.closed {
        // Ended without the machine closing (connect timeout): nothing was accepted.
        Box::pin(conn.finish(false, None)).await;
    }
    core.stats.connections.fetch_sub(1, Ordering::Relaxed);
}

impl Conn {
    pub fn version(&self) -> Version {
        self.machine.version().unwrap_or(Version::V311)
    }

    /// Decodes every whole packet in `inbuf` and feeds it to the machine.
    async fn decode(&mut self, inbuf: &mut BytesMut) {
        let max = self.core.broker.packet_bytes_max;
        while !self.closed {
            match mqtt::read(inbuf, self.version(), max) {
                Ok(Some(packet)) => {
                    let labels = PacketLabels { packet: packet.type_name() };
                    self.core.metrics.mqtt.packets_received.get_or_create(&labels).inc();
                    if let mqtt::Packet::Publish(_) = packet {
                        self.core.stats.messages_received.fetch_add(1, Ordering::Relaxed);
                    }
                    self.event(Event::Packet { packet, now_ms: now_ms() }).await;
                }
                Ok(None) => return,
                Err(error) => {
                    self.core.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(peer = %self.peer, %error, "malformed MQTT packet");
                    self.event(Event::Malformed { error, now_ms: now_ms() }).await;
                    inbuf.clear();
                    return;
                }
            }
        }
    }

    /// Feeds one event to the machine and runs its commands, in order.
    pub async fn event(&mut self, event: Event) {
        let mut queue: VecDeque<Command> = self.machine.handle(event).into();
        while let Some(cmd) = queue.pop_front() {
            if self.closed {
                return; // ended by a command (a state that could not be made durable)
            }
            let more = self.execute(cmd).await;
            queue.extend(more);
        }
    }

    /// Runs one command; the commands of any event it fed back to the machine.
    async fn execute(&mut self, cmd: Command) -> Vec<Command> {
        match cmd {
            Command::Send(packet) => {
                let labels = PacketLabels { packet: packet.type_name() };
                self.core.metrics.mqtt.packets_sent.get_or_create(&labels).inc();
                if let mqtt::Packet::Publish(_) = packet {
                    self.core.stats.messages_sent.fetch_add(1, Ordering::Relaxed);
                }
                if let Err(e) = mqtt::write(&packet, self.version(), &mut self.out) {
                    tracing::warn!(peer = %self.peer, error = %e, "cannot encode a packet for the client");
                }
                vec![]
            }
            // The rare, deep steps are boxed: inline, their futures would make every
            // connection's task as large as the largest of them.
            Command::Connect(req) => {
                let came = time::now();
                let event = Box::pin(self.connect(req)).await;
                self.core.metrics.mqtt.observe("CONNECT", came);
                self.machine.handle(event)
            }
            Command::Publish { id, publish } => {
                self.publish(id, publish).await;
                vec![]
            }
            Command::Subscribe { packet_id, filters, subscription_id } => {
                let came = time::now();
                let reasons = Box::pin(self.subscribe(filters, subscription_id)).await;
                self.core.metrics.mqtt.observe("SUBSCRIBE", came);
                let cmds = self.machine.handle(Event::Subscribed { packet_id, reasons });
                // Retained messages follow the SUBACK.
                self.queue_retained();
                cmds
            }
            Command::Unsubscribe { packet_id, filters } => {
                let came = time::now();
                let reasons = Box::pin(self.unsubscribe(&filters)).await;
                self.core.metrics.mqtt.observe("UNSUBSCRIBE", came);
                self.machine.handle(Event::Unsubscribed { packet_id, reasons })
            }
            Command::Delivered { token } => {
                self.delivered(token);
                vec![]
            }
            Command::Qos2Outbound { token, packet_id, released } => {
                Box::pin(self.qos2_outbound(token, packet_id, released)).await;
                vec![]
            }
            Command::Qos2Released { packet_id } => {
                self.qos2_released(packet_id).await;
                vec![]
            }
            Command::Close { publish_will, session_expiry_s, reason } => {
                tracing::debug!(peer = %self.peer, ?reason, publish_will, "MQTT connection closing");
                Box::pin(self.finish(publish_will, session_expiry_s)).await;
                vec![]
            }
        }
    }

    async fn internal(&mut self, i: Internal) {
        match i {
            Internal::Published { id, result } => {
                for (id, result, came) in self.acks.complete(id, result) {
                    self.event(Event::Published { id, result }).await;
                    self.core.metrics.mqtt.observe("PUBLISH", came);
                }
            }
        }
    }

    /// Hands queued messages to the machine while its window has room.
    async fn drain_backlog(&mut self) {
        while !self.closed {
            let Some(front) = self.backlog.front() else { return };
            if !self.machine.can_deliver(front.qos) {
                return;
            }
            let Some(d) = self.backlog.pop_front() else { return };
            match self.message(&d) {
                Some(m) => self.event(Event::Deliver(m)).await,
                None => self.delivered(machine_token(d.token)), // expired: done with it
            }
        }
    }

    /// The machine's message for a delivery; `None` if it expired.
    fn message(&mut self, d: &Delivery) -> Option<Message> {
        let resume_packet_id = self.resend.remove(&d.token);
        let mut properties = d.record.properties.clone();
        if let Some(expiry_s) = properties.message_expiry_interval_s {
            let age_s = time::wall_ms().saturating_sub(d.timestamp_ms) / 1000;
            if age_s >= u64::from(expiry_s) {
                return None;
            }
            properties.message_expiry_interval_s = Some(expiry_s - age_s as u32);
        }
        Some(Message {
            topic: d.record.topic.clone(),
            payload: d.record.payload.clone(),
            // A resent QoS 2 delivery keeps its QoS whatever the subscription says now.
            qos: if resume_packet_id.is_some() { QoS::ExactlyOnce } else { d.qos },
            retain: d.retain,
            properties,
            subscription_identifiers: d.subscription_ids.clone(),
            token: machine_token(d.token),
            resume_packet_id,
        })
    }

    /// The machine is done with the message at `token`.
    fn delivered(&mut self, token: MachineToken) {
        let token = Token { shard: token.shard, offset: token.offset };
        if let Some(ep) = &self.ep {
            ep.session.done(token);
            if let Some(packet_id) = self.qos2_out.remove(&token) {
                if ep.session.persistent && token.shard != super::subscribe::RETAINED_SHARD {
                    // Kept (done) until the cursor passes it: never delivered again.
                    let state = crate::meta::mqtt::Qos2Out {
                        shard: token.shard,
                        offset: token.offset,
                        packet_id,
                        released: true,
                        done: true,
                    };
                    let op = super::publish::progress(ep, vec![state], vec![]);
                    let batcher = self.core.batcher.clone();
                    keel_rt::task::spawn(async move { batcher.submit(op).await });
                }
            }
        }
    }
}

pub(super) fn machine_token(t: Token) -> MachineToken {
    MachineToken { shard: t.shard, offset: t.offset }
}
