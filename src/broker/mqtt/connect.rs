//! Answering a CONNECT: authenticate, claim the session in meta (which tells whether one is
//! resumed and which broker served it before), take it over from its previous connection, and
//! open the local session: its subscriptions in the router, each shard live from the tailer or
//! catching up from the session's cursor, its QoS 2 deliveries in flight resumed with their
//! packet ids.

use std::sync::Arc;

use bytes::Bytes;
use keel_protocols::mqtt::session::{ConnectRequest, Event, Inflight, Message, Resumed};
use keel_protocols::mqtt::topic::{self, SharedFilter};
use keel_protocols::mqtt::{QoS, ReasonCode, Will};
use keel_rt::{rand, task, time};

use super::connection::{machine_token, now_ms, Conn, Endpoint};
use super::namespace::TOPIC;
use super::record::MqttRecord;
use super::session::{LocalSession, Mode, ShardCursor, SubEntry, Token};
use super::{takeover, Core};
use crate::broker::auth::{Access, Login};
use crate::meta::mqtt::{Blob, MqttOp, MqttResult, SessionRecord, SubRecord, WillRecord};

/// Messages the channel into one connection holds.
const CHANNEL_MAX: usize = 1_024;

impl Conn {
    /// The broker's answer to a valid CONNECT.
    pub(super) async fn connect(&mut self, req: ConnectRequest) -> Event {
        let refused = |reason| Event::Refused { reason };
        let username = match self.login(&req).await {
            Ok(u) => u,
            Err(reason) => {
                self.core.stats.connections_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return refused(reason);
            }
        };
        let assigned = req.client_id.is_none();
        let client_id =
            req.client_id.clone().unwrap_or_else(|| format!("keel-{}-{:016x}", self.core.node, rand::u64()));
        let will = match &req.will {
            Some(w) if !self.core.auth.allows(&client_id, username.as_deref(), Access::Publish, &w.topic) => {
                return refused(ReasonCode::NotAuthorized);
            }
            Some(w) => match will_record(&client_id, w) {
                Some(r) => Some(r),
                None => return refused(ReasonCode::PacketTooLarge),
            },
            None => None,
        };
        let claim = MqttOp::Claim {
            client_id: client_id.clone(),
            broker: self.core.node,
            clean_start: req.clean_start,
            expiry_s: req.session_expiry_s,
            will: will.clone(),
            now_ms: time::wall_ms(),
        };
        let (generation, previous, resumed) = match self.core.batcher.apply(claim).await {
            Ok(MqttResult::Claimed { generation, previous_owner, resumed }) => (generation, previous_owner, resumed),
            Ok(MqttResult::Refused(why)) => {
                tracing::warn!(client = %client_id, why, "session refused");
                return refused(ReasonCode::QuotaExceeded);
            }
            other => {
                tracing::debug!(client = %client_id, ?other, "claiming the session failed");
                return refused(ReasonCode::ServerUnavailable);
            }
        };
        let released = match previous {
            Some(node) if node == self.core.node => takeover::local(&self.core, &client_id).await,
            Some(node) => takeover::remote(&self.core, node, &client_id).await,
            None => None,
        };
        let session_present = resumed.is_some();
        let persistent = req.session_expiry_s > 0;
        let key = self.core.new_key();
        let session = LocalSession::new(
            key,
            client_id.clone(),
            generation,
            persistent,
            &self.core.tails(),
            self.core.broker.session_queued_bytes_max,
            CHANNEL_MAX,
        );
        let control = self.core.controls.register(&client_id, key);
        self.ep = Some(Endpoint {
            session: session.clone(),
            client_id: client_id.clone(),
            generation,
            expiry_s: req.session_expiry_s,
            username,
            will,
            shared: Vec::new(),
        });
        let mut machine_resumed = Resumed::default();
        if let Some(record) = resumed {
            match self.resume(&session, *record, released).await {
                Ok(r) => machine_resumed = r,
                Err(e) => {
                    // A QoS 2 message in flight could not be read back: refuse rather than
                    // drop it; the client retries and the session is still there.
                    tracing::warn!(client = %client_id, error = %e, "resuming the session failed");
                    self.core.controls.unregister(&client_id, key);
                    self.ep = None;
                    let op = MqttOp::Disconnect {
                        client_id,
                        generation,
                        now_ms: time::wall_ms(),
                        expiry_s: None,
                        keep_will: false,
                    };
                    self.core.batcher.submit(op).await;
                    return refused(ReasonCode::ServerUnavailable);
                }
            }
        }
        self.core.router_mut().add_session(session.clone());
        start_readers(&self.core, &session);
        self.new_receivers = Some((session.clone(), control));
        tracing::debug!(client = %client_id, generation, session_present, peer = %self.peer, "MQTT client connected");
        Event::Accepted {
            session_present,
            assigned_client_id: assigned.then_some(client_id),
            resumed: machine_resumed,
            now_ms: now_ms(),
        }
    }

    /// Checks the credentials (off the connection's path: a password hash costs milliseconds
    /// of CPU); the username the client is known by.
    async fn login(&self, req: &ConnectRequest) -> Result<Option<String>, ReasonCode> {
        let core = self.core.clone();
        let (user, password) = (req.username.clone(), req.password.clone());
        let login = task::run_blocking(move || core.auth.login(user.as_deref(), password.as_deref()))
            .await
            .map_err(|_| ReasonCode::ServerUnavailable)?;
        match login {
            Login::Allowed { username } => Ok(username),
            Login::BadCredentials => Err(ReasonCode::BadUserNameOrPassword),
            Login::NotAuthorized => Err(ReasonCode::NotAuthorized),
        }
    }

    /// Restores a resumed session: subscriptions, cursors (the previous connection's final
    /// ones when it handed them over), QoS 2 states.
    async fn resume(
        &mut self,
        session: &Arc<LocalSession>,
        record: SessionRecord,
        released: Option<takeover::Released>,
    ) -> Result<Resumed, String> {
        let mut cursors = record.cursors.clone();
        if let Some(r) = released {
            cursors.extend(r.cursors);
        }
        {
            let mut st = session.state();
            // Every shard starts catching up from its cursor: its reader goes live under the
            // tailer's dispatch lock, so nothing the tailer passes meanwhile is missed.
            for (shard, c) in st.shards.iter_mut().enumerate() {
                if let Some(at) = cursors.get(&(shard as u32)) {
                    *c = ShardCursor::live_at(*at);
                    c.mode = Mode::CatchingUp;
                }
            }
            st.committed = cursors;
        }
        for (filter, sub) in &record.subscriptions {
            self.restore_subscription(session, filter, sub);
        }
        let mut outbound = Vec::new();
        for q in &record.qos2_out {
            if q.done {
                // Completed: only never to be delivered again.
                if let Some(c) = session.state().shards.get_mut(q.shard as usize) {
                    c.exclude.insert(q.offset);
                }
                continue;
            }
            let token = Token { shard: q.shard, offset: q.offset };
            self.qos2_out.insert(token, q.packet_id);
            let message = match q.released {
                true => Some(placeholder(token)),
                false => read_message(&self.core, token).await?,
            };
            let Some(message) = message else {
                continue; // gone from the log (retention): nothing to resend
            };
            // A PUBLISH to resend whose topic the session's own subscriptions still match comes
            // again from the shard's reader, in log order with what was in flight beside it
            // [MQTT-4.6.0-1], with its packet id ([`Conn::resend`]). A PUBREL, or a message
            // only a shared subscription took, is resent first, out of the log's way.
            let in_order = !q.released && {
                let st = session.state();
                st.subscriptions.keys().any(|f| topic::matches(f, &message.topic))
            };
            if in_order {
                self.resend.insert(token, q.packet_id);
                continue;
            }
            if let Some(c) = session.state().shards.get_mut(q.shard as usize) {
                c.exclude.insert(q.offset);
                c.handed.insert(q.offset);
            }
            outbound.push(Inflight { packet_id: q.packet_id, message, released: q.released });
        }
        let reserved_ids = self.resend.values().copied().collect();
        let unconfirmed = record.qos2_unconfirmed();
        let inbound_qos2_unconfirmed = unconfirmed.iter().map(|(id, _)| *id).collect();
        self.unconfirmed = unconfirmed.into_iter().collect();
        Ok(Resumed { outbound, inbound_qos2: record.qos2_waiting(), inbound_qos2_unconfirmed, reserved_ids })
    }

    fn restore_subscription(&mut self, session: &Arc<LocalSession>, filter: &str, sub: &SubRecord) {
        let entry = SubEntry {
            qos: QoS::from_u8(sub.qos).unwrap_or(QoS::AtMostOnce),
            no_local: sub.no_local,
            retain_as_published: sub.retain_as_published,
            subscription_id: sub.subscription_id,
        };
        match SharedFilter::parse(filter) {
            Some(Ok(SharedFilter { group, filter: f })) => {
                self.core.router_mut().subscribe_shared(session.key, group, f, entry);
                if let Some(ep) = &mut self.ep {
                    ep.shared.push((group.to_string(), f.to_string()));
                }
                self.shared_members_changed(group, f);
            }
            Some(Err(_)) => {}
            None => {
                self.core.router_mut().subscribe(session.key, filter, entry.clone());
                session.state().subscriptions.insert(filter.to_string(), entry);
            }
        }
    }

    /// Tells meta how many members of a shared subscription this broker has now.
    pub(super) fn shared_members_changed(&self, group: &str, filter: &str) {
        let members = self.core.router().shared_members(group, filter);
        let op = MqttOp::SharedMembers { key: format!("{group}/{filter}"), broker: self.core.node, members };
        let batcher = self.core.batcher.clone();
        task::spawn(async move { batcher.submit(op).await });
    }
}

/// Starts a reader for every shard the session catches up on.
pub(super) fn start_readers(core: &Arc<Core>, session: &Arc<LocalSession>) {
    let catching: Vec<u32> = {
        let st = session.state();
        st.shards.iter().enumerate().filter(|(_, c)| c.mode == Mode::CatchingUp).map(|(i, _)| i as u32).collect()
    };
    for shard in catching {
        task::spawn(super::tail::catch_up(core.clone(), session.clone(), shard));
    }
}

/// A will as meta keeps it: its message as a log record.
fn will_record(client_id: &str, w: &Will) -> Option<WillRecord> {
    let p = &w.properties;
    let record = MqttRecord {
        topic: w.topic.clone(),
        qos: w.qos,
        retain: w.retain,
        publisher: client_id.to_string(),
        properties: keel_protocols::mqtt::PublishProperties {
            payload_format_indicator: p.payload_format_indicator,
            message_expiry_interval_s: p.message_expiry_interval_s,
            content_type: p.content_type.clone(),
            response_topic: p.response_topic.clone(),
            correlation_data: p.correlation_data.clone(),
            user_properties: p.user_properties.clone(),
            ..Default::default()
        },
        payload: w.payload.clone(),
    };
    let value = record.encode_value().ok()?;
    Some(WillRecord {
        topic: w.topic.clone(),
        record: Blob(value.to_vec()),
        delay_s: p.will_delay_interval_s.unwrap_or(0),
    })
}

/// The message at `token`, read back from the log for a resumed QoS 2 delivery; `None` if
/// retention dropped it.
async fn read_message(core: &Core, token: Token) -> Result<Option<Message>, String> {
    let fetched = core.data.fetch(TOPIC, token.shard, token.offset, 1024 * 1024, 0).await.map_err(|e| e.to_string())?;
    let Some(r) = fetched.records.into_iter().find(|r| r.offset == token.offset) else {
        if fetched.start_offset > token.offset {
            return Ok(None);
        }
        return Err(format!("the message at {token:?} is not in the log (yet)"));
    };
    let Ok(record) = MqttRecord::decode(&r.key.unwrap_or_default(), r.value) else { return Ok(None) };
    Ok(Some(Message {
        topic: record.topic,
        payload: record.payload,
        qos: QoS::ExactlyOnce,
        retain: false,
        properties: record.properties,
        subscription_identifiers: vec![],
        token: machine_token(token),
        resume_packet_id: None,
    }))
}

/// A stand-in message for a released QoS 2 delivery (only its PUBREL is resent).
fn placeholder(token: Token) -> Message {
    Message {
        topic: String::new(),
        payload: Bytes::new(),
        qos: QoS::ExactlyOnce,
        retain: false,
        properties: Default::default(),
        subscription_identifiers: vec![],
        token: machine_token(token),
        resume_packet_id: None,
    }
}
