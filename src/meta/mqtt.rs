//! MQTT state kept by meta, replicated through Raft: sessions (which broker serves each client
//! id, its subscriptions, its cursors in the namespace log, its QoS 2 states and its will),
//! retained messages, and which brokers have members of each shared subscription.
//!
//! Brokers stay stateless: everything a session needs to resume on another broker is here (or
//! in the log its cursors point into). Brokers send their changes in batches
//! ([`MetaCommand::Mqtt`](super::command::MetaCommand::Mqtt)): a storm of connections costs one
//! Raft round per batch, not one per client.
//!
//! Every session change but a claim names the session's `generation`: a claim (a CONNECT,
//! here or on another broker) bumps it, so a broker that lost its client cannot change the
//! session afterwards ([`MqttResult::Fenced`]).
//!
//! Message bodies (retained messages, wills) are the broker's encoded log records, opaque here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::records::{NodeId, NodeRecord};

/// Sessions the cluster keeps at most; a claim of a new client id beyond is refused.
pub const SESSIONS_MAX: usize = 10_000_000;
/// How long a cleared retained message's tombstone orders later updates of its topic.
pub const TOMBSTONE_MS: u64 = 60_000;
/// How long a broker that took a will to publish has before another may take it again (a will
/// leaves meta only once its publisher says it is in the log: at least once).
pub const WILL_LEASE_MS: u64 = 30_000;

/// Bytes (a log record) that serialise as base64 text, not a JSON array of numbers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

impl Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine;
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use base64::Engine;
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(s).map(Blob).map_err(serde::de::Error::custom)
    }
}

/// A subscription's options, as SUBSCRIBE gave them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubRecord {
    pub qos: u8,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: u8,
    pub subscription_id: Option<u32>,
}

/// A will message: published when its session ends uncleanly, after its delay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WillRecord {
    pub topic: String,
    /// The message as a log record (broker's encoding).
    pub record: Blob,
    pub delay_s: u32,
}

/// A QoS 2 delivery to a client: where its message is in the log, its packet id, whether its
/// PUBREL was sent, and whether it completed. Kept until the session's cursor passes its
/// offset, so a session resumed from an older cursor never delivers it again as a new message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qos2Out {
    pub shard: u32,
    pub offset: u64,
    pub packet_id: u16,
    pub released: bool,
    /// PUBCOMP received: nothing to resend, only not to deliver again.
    pub done: bool,
}

/// A change of an inbound QoS 2 packet id (the client's message): received and waiting for
/// its PUBREL, or released; with the sequence number of the change (a change carrying a lower
/// one than the last applied came late and is ignored: batches whose outcome was unknown can
/// apply after later ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Qos2In {
    pub packet_id: u16,
    pub waiting: bool,
    pub seq: u64,
    /// Recorded before the message is appended (so, for all the session knows, it may not
    /// be): where a resend is looked up before it is stored. `None`: released.
    pub origin: Option<Origin>,
}

/// Where a QoS 2 message whose storage is unconfirmed would be: the record carrying `token`
/// (the publisher's and this origin's, `docs/mqtt-log.md`) in `shard` at or after `scan_from`;
/// `at_ms`: when it was recorded (the recording broker's wall clock), from which the lookup
/// counts how long a first copy may still be on its way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub token: u64,
    pub shard: u32,
    pub scan_from: u64,
    pub at_ms: u64,
}

/// One client id's session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The broker serving the client now (`None`: disconnected).
    pub owner: Option<NodeId>,
    /// Bumped by every claim.
    pub generation: u64,
    /// The Session Expiry Interval (`u32::MAX`: never).
    pub expiry_s: u32,
    /// When the client went away (wall ms), while `owner` is `None`.
    pub disconnected_at_ms: Option<u64>,
    /// Filter (a `$share/...` one included) → options.
    pub subscriptions: BTreeMap<String, SubRecord>,
    /// Namespace shard → the offset up to which everything for this session is done.
    pub cursors: BTreeMap<u32, u64>,
    /// QoS 2 delivery states (client-bound), one per (shard, offset), until the cursor passes
    /// them.
    pub qos2_out: Vec<Qos2Out>,
    /// QoS 2 packet ids from the client, by id: the last change applied to each.
    pub qos2_in: BTreeMap<u16, Qos2In>,
    /// The will, while the client is connected, its delay runs, or it is being published.
    pub will: Option<WillRecord>,
    /// When a broker took the will to publish it (wall ms of that broker's sweep or timer).
    #[serde(default)]
    pub will_lease_ms: Option<u64>,
}

impl SessionRecord {
    /// Applies delivery progress (see [`MqttOp::Progress`]).
    fn progress(&mut self, cursors: &BTreeMap<u32, u64>, qos2_out: &[Qos2Out], qos2_in: &[Qos2In]) {
        for (shard, offset) in cursors {
            let c = self.cursors.entry(*shard).or_insert(*offset);
            *c = (*c).max(*offset);
        }
        for st in qos2_out {
            match self.qos2_out.iter_mut().find(|q| (q.shard, q.offset) == (st.shard, st.offset)) {
                Some(q) => {
                    q.packet_id = st.packet_id;
                    q.released |= st.released;
                    q.done |= st.done;
                }
                None => self.qos2_out.push(*st),
            }
        }
        let below = |q: &Qos2Out, cursors: &BTreeMap<u32, u64>| cursors.get(&q.shard).is_some_and(|c| q.offset < *c);
        let cursors = &self.cursors;
        self.qos2_out.retain(|q| !below(q, cursors));
        for change in qos2_in {
            let e = self.qos2_in.entry(change.packet_id).or_insert(*change);
            if change.seq >= e.seq {
                *e = *change;
            }
        }
    }

    /// The inbound QoS 2 packet ids waiting for PUBREL whose message is stored.
    pub fn qos2_waiting(&self) -> Vec<u16> {
        self.qos2_in.values().filter(|q| q.waiting && q.origin.is_none()).map(|q| q.packet_id).collect()
    }

    /// The inbound QoS 2 packet ids waiting for PUBREL whose message may not be stored, with
    /// where to look for it.
    pub fn qos2_unconfirmed(&self) -> Vec<(u16, Origin)> {
        self.qos2_in.values().filter(|q| q.waiting).filter_map(|q| Some((q.packet_id, q.origin?))).collect()
    }

    /// Whether the session outlived its expiry at `now_ms`.
    fn expired(&self, now_ms: u64) -> bool {
        match (self.owner, self.disconnected_at_ms) {
            (None, Some(at)) => {
                self.expiry_s != u32::MAX && now_ms >= at.saturating_add(u64::from(self.expiry_s) * 1000)
            }
            _ => false,
        }
    }

    /// Whether the will is due at `now_ms` (its delay, or the session's end, passed).
    fn will_due(&self, now_ms: u64) -> bool {
        match (&self.will, self.owner, self.disconnected_at_ms) {
            (Some(w), None, Some(at)) => {
                let delay_s = u64::from(w.delay_s.min(self.expiry_s));
                now_ms >= at.saturating_add(delay_s * 1000)
            }
            _ => false,
        }
    }
}

/// A retained message (`record: None`: a tombstone of a cleared one, kept a while to order
/// late updates).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetainedRecord {
    pub record: Option<Blob>,
    /// Where the publish that set (or cleared) it is in the namespace log: updates of a topic
    /// apply in this order.
    pub shard: u32,
    pub offset: u64,
    /// When it was published (wall ms), for message expiry and tombstone clean-up.
    pub at_ms: u64,
    /// Its Message Expiry Interval, if any.
    pub expiry_s: Option<u32>,
}

/// What an operator sees of a session (`GET /api/mqtt/sessions`): who serves it and what it
/// subscribed to, without its delivery state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub client_id: String,
    /// The broker serving the client now (`None`: disconnected).
    pub owner: Option<NodeId>,
    pub generation: u64,
    /// The Session Expiry Interval (`u32::MAX`: never).
    pub expiry_s: u32,
    pub disconnected_at_ms: Option<u64>,
    /// Filter → maximum QoS.
    pub subscriptions: BTreeMap<String, u8>,
    pub has_will: bool,
}

/// MQTT's part of the metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MqttState {
    pub sessions: BTreeMap<String, SessionRecord>,
    pub retained: BTreeMap<String, RetainedRecord>,
    /// Live retained payload bytes.
    pub retained_bytes: u64,
    /// Shared subscription `group/filter` → broker → members there.
    pub shared: BTreeMap<String, BTreeMap<NodeId, u32>>,
}

/// One change a broker asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MqttOp {
    /// A CONNECT on `broker`: takes the session over (or starts a new one with `clean_start`,
    /// or when there is none or it expired).
    Claim {
        client_id: String,
        broker: NodeId,
        clean_start: bool,
        expiry_s: u32,
        will: Option<WillRecord>,
        now_ms: u64,
    },
    /// Subscriptions added or replaced; shards without a cursor start at `start`'s offset.
    Subscribe {
        client_id: String,
        generation: u64,
        subs: Vec<(String, SubRecord)>,
        start: BTreeMap<u32, u64>,
    },
    Unsubscribe {
        client_id: String,
        generation: u64,
        filters: Vec<String>,
    },
    /// Delivery progress: cursors moved forward (never back: a batch may apply late; QoS 2
    /// states below them are dropped), QoS 2 states set (never downgraded), inbound QoS 2 ids
    /// received (recorded before their message is appended, with its origin) or released,
    /// each with an increasing sequence number.
    Progress {
        client_id: String,
        generation: u64,
        cursors: BTreeMap<u32, u64>,
        qos2_out: Vec<Qos2Out>,
        qos2_in: Vec<Qos2In>,
    },
    /// The client went away. `expiry_s`: a new expiry (MQTT 5 DISCONNECT); `keep_will`: its
    /// will is still to be published after its delay (else it was published or must not be).
    /// A session with expiry 0 and no will pending ends here.
    Disconnect {
        client_id: String,
        generation: u64,
        now_ms: u64,
        expiry_s: Option<u32>,
        keep_will: bool,
    },
    /// The will of a disconnected session, leased for publishing if it is due and not leased
    /// (or its lease ran out), unless the session was claimed again meanwhile.
    LeaseWill {
        client_id: String,
        generation: u64,
        now_ms: u64,
    },
    /// The leased will is in the log: it leaves meta (and a session with nothing left ends).
    WillDone {
        client_id: String,
        generation: u64,
    },
    /// Housekeeping at `now_ms`: sessions of dead brokers become disconnected; due wills are
    /// taken (returned for publishing); expired sessions end; old tombstones go; dead brokers
    /// leave shared subscriptions.
    Sweep {
        now_ms: u64,
    },
    /// Sets (`record: Some`) or clears a retained message, if newer than what the topic has.
    Retain {
        topic: String,
        retained: RetainedRecord,
    },
    /// `broker` now has `members` members of shared subscription `key` (`group/filter`).
    SharedMembers {
        key: String,
        broker: NodeId,
        members: u32,
    },
    /// `broker` (re)started: the sessions its previous incarnation served are disconnected
    /// (their wills become due) and it has no shared subscription members.
    BrokerStarted {
        broker: NodeId,
        now_ms: u64,
    },
}

/// A will leased for publishing, and the session it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DueWill {
    pub client_id: String,
    pub generation: u64,
    pub will: WillRecord,
}

/// What an op came to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MqttResult {
    Done,
    /// The claim: the session's new generation, the broker that served it before (to be told
    /// of the takeover), and the session if one was resumed (`None`: a new session).
    Claimed {
        generation: u64,
        previous_owner: Option<NodeId>,
        resumed: Option<Box<SessionRecord>>,
    },
    /// The session moved on (claimed again, or gone: `generation` 0).
    Fenced {
        generation: u64,
    },
    /// Wills to publish now (leased: report each with [`MqttOp::WillDone`] once in the log).
    Wills(Vec<DueWill>),
    Refused(String),
}

impl MqttState {
    /// The first `limit` sessions by client id, summarised, and how many there are in all.
    pub fn summaries(&self, limit: usize) -> (Vec<SessionSummary>, u64) {
        let list = self
            .sessions
            .iter()
            .take(limit)
            .map(|(id, s)| SessionSummary {
                client_id: id.clone(),
                owner: s.owner,
                generation: s.generation,
                expiry_s: s.expiry_s,
                disconnected_at_ms: s.disconnected_at_ms,
                subscriptions: s.subscriptions.iter().map(|(f, o)| (f.clone(), o.qos)).collect(),
                has_will: s.will.is_some(),
            })
            .collect();
        (list, self.sessions.len() as u64)
    }

    /// Applies one op; `nodes` tells which brokers are alive.
    pub fn apply(&mut self, op: &MqttOp, nodes: &BTreeMap<NodeId, NodeRecord>) -> MqttResult {
        match op {
            MqttOp::Claim { client_id, broker, clean_start, expiry_s, will, now_ms } => {
                self.claim(client_id, *broker, *clean_start, *expiry_s, will.clone(), *now_ms)
            }
            MqttOp::Subscribe { client_id, generation, subs, start } => {
                self.with_session(client_id, *generation, |s| {
                    s.subscriptions.extend(subs.iter().cloned());
                    for (shard, offset) in start {
                        s.cursors.entry(*shard).or_insert(*offset);
                    }
                    MqttResult::Done
                })
            }
            MqttOp::Unsubscribe { client_id, generation, filters } => self.with_session(client_id, *generation, |s| {
                for f in filters {
                    s.subscriptions.remove(f);
                }
                MqttResult::Done
            }),
            MqttOp::Progress { client_id, generation, cursors, qos2_out, qos2_in } => {
                self.with_session(client_id, *generation, |s| {
                    s.progress(cursors, qos2_out, qos2_in);
                    MqttResult::Done
                })
            }
            MqttOp::Disconnect { client_id, generation, now_ms, expiry_s, keep_will } => {
                self.disconnect(client_id, *generation, *now_ms, *expiry_s, *keep_will)
            }
            MqttOp::LeaseWill { client_id, generation, now_ms } => {
                let id = client_id.clone();
                self.with_session(client_id, *generation, |s| {
                    let due =
                        s.will.is_some() && s.will_lease_ms.is_none_or(|l| *now_ms >= l.saturating_add(WILL_LEASE_MS));
                    if !due {
                        return MqttResult::Wills(vec![]);
                    }
                    s.will_lease_ms = Some(*now_ms);
                    let will = s.will.clone().into_iter();
                    let generation = s.generation;
                    MqttResult::Wills(will.map(|will| DueWill { client_id: id.clone(), generation, will }).collect())
                })
            }
            MqttOp::WillDone { client_id, generation } => {
                let r = self.with_session(client_id, *generation, |s| {
                    s.will = None;
                    s.will_lease_ms = None;
                    MqttResult::Done
                });
                self.end_if_done(client_id);
                r
            }
            MqttOp::Sweep { now_ms } => self.sweep(*now_ms, nodes),
            MqttOp::Retain { topic, retained } => self.retain(topic, retained),
            MqttOp::BrokerStarted { broker, now_ms } => {
                for s in self.sessions.values_mut().filter(|s| s.owner == Some(*broker)) {
                    s.owner = None;
                    s.disconnected_at_ms = Some(*now_ms);
                }
                for brokers in self.shared.values_mut() {
                    brokers.remove(broker);
                }
                self.shared.retain(|_, b| !b.is_empty());
                MqttResult::Done
            }
            MqttOp::SharedMembers { key, broker, members } => {
                let brokers = self.shared.entry(key.clone()).or_default();
                match members {
                    0 => brokers.remove(broker),
                    n => brokers.insert(*broker, *n),
                };
                if brokers.is_empty() {
                    self.shared.remove(key);
                }
                MqttResult::Done
            }
        }
    }

    fn claim(
        &mut self,
        client_id: &str,
        broker: NodeId,
        clean_start: bool,
        expiry_s: u32,
        will: Option<WillRecord>,
        now_ms: u64,
    ) -> MqttResult {
        if !self.sessions.contains_key(client_id) && self.sessions.len() >= SESSIONS_MAX {
            return MqttResult::Refused(format!("the cluster holds {SESSIONS_MAX} sessions already"));
        }
        let old = self.sessions.remove(client_id);
        let previous_owner = old.as_ref().and_then(|s| s.owner);
        let generation = old.as_ref().map_or(0, |s| s.generation) + 1;
        let keep = old.filter(|s| !clean_start && !s.expired(now_ms));
        let resumed = keep.clone().map(Box::new);
        let mut s = keep.unwrap_or_default();
        s.owner = Some(broker);
        s.generation = generation;
        s.expiry_s = expiry_s;
        s.disconnected_at_ms = None;
        s.will = will;
        s.will_lease_ms = None;
        self.sessions.insert(client_id.to_string(), s);
        MqttResult::Claimed { generation, previous_owner, resumed }
    }

    fn disconnect(
        &mut self,
        client_id: &str,
        generation: u64,
        now_ms: u64,
        expiry_s: Option<u32>,
        keep_will: bool,
    ) -> MqttResult {
        let r = self.with_session(client_id, generation, |s| {
            s.owner = None;
            s.disconnected_at_ms = Some(now_ms);
            if let Some(e) = expiry_s {
                s.expiry_s = e;
            }
            if !keep_will {
                s.will = None;
            }
            MqttResult::Done
        });
        self.end_if_done(client_id);
        r
    }

    /// Ends a disconnected session with expiry 0 whose will is not pending.
    fn end_if_done(&mut self, client_id: &str) {
        let done =
            self.sessions.get(client_id).is_some_and(|s| s.owner.is_none() && s.expiry_s == 0 && s.will.is_none());
        if done {
            self.sessions.remove(client_id);
        }
    }

    fn sweep(&mut self, now_ms: u64, nodes: &BTreeMap<NodeId, NodeRecord>) -> MqttResult {
        let alive = |id: &NodeId| nodes.get(id).is_some_and(|n| n.alive);
        let mut wills = Vec::new();
        let mut ended = Vec::new();
        for (id, s) in self.sessions.iter_mut() {
            if s.owner.is_some_and(|o| !alive(&o)) {
                s.owner = None;
                s.disconnected_at_ms = Some(now_ms);
            }
            // Times come from brokers' clocks: one recorded ahead of the sweeping broker's
            // counts from now, so a fast clock cannot hold a will or a session back.
            if let Some(at) = s.disconnected_at_ms.filter(|at| *at > now_ms) {
                s.disconnected_at_ms = Some(at.min(now_ms));
            }
            // Likewise a will's lease taken by a broker whose clock runs ahead (whose answer
            // may have been lost): it runs from now, not for the skew on top.
            if let Some(l) = s.will_lease_ms.filter(|l| *l > now_ms) {
                s.will_lease_ms = Some(l.min(now_ms));
            }
            let leasable = s.will_lease_ms.is_none_or(|l| now_ms >= l.saturating_add(WILL_LEASE_MS));
            if (s.will_due(now_ms) || (s.expired(now_ms) && s.will.is_some())) && leasable {
                s.will_lease_ms = Some(now_ms);
                let will = s.will.clone().into_iter();
                wills.extend(will.map(|will| DueWill { client_id: id.clone(), generation: s.generation, will }));
            }
            // A session ends when it expired (or had expiry 0) and its will is in the log.
            let gone = s.expired(now_ms) || (s.owner.is_none() && s.expiry_s == 0);
            if gone && s.will.is_none() {
                ended.push(id.clone());
            }
        }
        for id in ended {
            self.sessions.remove(&id);
        }
        self.retained.retain(|_, r| r.record.is_some() || now_ms < r.at_ms.saturating_add(TOMBSTONE_MS));
        for brokers in self.shared.values_mut() {
            brokers.retain(|b, _| alive(b));
        }
        self.shared.retain(|_, b| !b.is_empty());
        MqttResult::Wills(wills)
    }

    fn retain(&mut self, topic: &str, new: &RetainedRecord) -> MqttResult {
        if let Some(old) = self.retained.get(topic) {
            if (old.shard, old.offset) >= (new.shard, new.offset) && old.shard == new.shard {
                return MqttResult::Done; // a late update: the topic has a newer one
            }
        }
        let bytes = |r: Option<&RetainedRecord>| r.and_then(|r| r.record.as_ref()).map_or(0, |b| b.0.len() as u64);
        let old_bytes = bytes(self.retained.get(topic));
        self.retained_bytes = self.retained_bytes - old_bytes + bytes(Some(new));
        self.retained.insert(topic.to_string(), new.clone());
        MqttResult::Done
    }

    /// Runs `f` on the session if `generation` is its current one.
    fn with_session(
        &mut self,
        client_id: &str,
        generation: u64,
        f: impl FnOnce(&mut SessionRecord) -> MqttResult,
    ) -> MqttResult {
        match self.sessions.get_mut(client_id) {
            Some(s) if s.generation == generation => f(s),
            Some(s) => MqttResult::Fenced { generation: s.generation },
            None => MqttResult::Fenced { generation: 0 },
        }
    }

    /// The live retained messages whose topics `keys` names, for watches.
    pub fn retained_of(&self, topic: &str) -> Option<RetainedRecord> {
        self.retained.get(topic).filter(|r| r.record.is_some()).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::records::Role;

    fn stored(packet_id: u16, seq: u64) -> Qos2In {
        Qos2In { packet_id, waiting: true, seq, origin: None }
    }

    fn released(packet_id: u16, seq: u64) -> Qos2In {
        Qos2In { packet_id, waiting: false, seq, origin: None }
    }

    fn pending(packet_id: u16, seq: u64) -> Qos2In {
        Qos2In { origin: Some(Origin { token: seq, shard: 1, scan_from: 40, at_ms: 5 }), ..stored(packet_id, seq) }
    }

    fn nodes(alive: &[(NodeId, bool)]) -> BTreeMap<NodeId, NodeRecord> {
        alive
            .iter()
            .map(|(id, a)| {
                (
                    *id,
                    NodeRecord {
                        id: *id,
                        addr: String::new(),
                        roles: vec![Role::Broker],
                        alive: *a,
                        kafka_addr: None,
                        kafka_tls_addr: None,
                    },
                )
            })
            .collect()
    }

    fn claim(m: &mut MqttState, id: &str, broker: NodeId, clean: bool, expiry_s: u32, now_ms: u64) -> MqttResult {
        let op = MqttOp::Claim { client_id: id.into(), broker, clean_start: clean, expiry_s, will: None, now_ms };
        m.apply(&op, &nodes(&[(1, true), (2, true)]))
    }

    /// A clean-start claim on broker 1 with a will of `delay_s` (the broker is alive).
    fn claim_with_will(m: &mut MqttState, id: &str, expiry_s: u32, delay_s: u32) -> MqttResult {
        let will = Some(will(delay_s));
        let op = MqttOp::Claim { client_id: id.into(), broker: 1, clean_start: true, expiry_s, will, now_ms: 0 };
        m.apply(&op, &nodes(&[(1, true), (2, true)]))
    }

    fn due(client_id: &str, generation: u64, delay_s: u32) -> DueWill {
        DueWill { client_id: client_id.into(), generation, will: will(delay_s) }
    }

    fn will(delay_s: u32) -> WillRecord {
        WillRecord { topic: "w".into(), record: Blob(vec![1, 2, 3]), delay_s }
    }

    #[test]
    fn a_claim_resumes_or_starts_a_session_and_fences_the_old_generation() {
        let mut m = MqttState::default();
        let live = nodes(&[(1, true), (2, true)]);
        assert_eq!(
            claim(&mut m, "c", 1, false, 60, 0),
            MqttResult::Claimed { generation: 1, previous_owner: None, resumed: None }
        );
        let sub = MqttOp::Subscribe {
            client_id: "c".into(),
            generation: 1,
            subs: vec![("a/#".into(), SubRecord { qos: 1, ..Default::default() })],
            start: [(0, 10), (1, 20)].into(),
        };
        assert_eq!(m.apply(&sub, &live), MqttResult::Done);
        // Another broker takes the session over: it resumes with subscriptions and cursors.
        let MqttResult::Claimed { generation: 2, previous_owner: Some(1), resumed: Some(s) } =
            claim(&mut m, "c", 2, false, 60, 5)
        else {
            panic!("not resumed")
        };
        assert_eq!(s.cursors, [(0, 10), (1, 20)].into());
        assert!(s.subscriptions.contains_key("a/#"));
        // The old broker's late progress is refused.
        let late = MqttOp::Progress {
            client_id: "c".into(),
            generation: 1,
            cursors: [(0, 99)].into(),
            qos2_out: vec![],
            qos2_in: vec![],
        };
        assert_eq!(m.apply(&late, &live), MqttResult::Fenced { generation: 2 });
        assert_eq!(m.sessions["c"].cursors[&0], 10);
        // Clean start discards it.
        let MqttResult::Claimed { resumed: None, .. } = claim(&mut m, "c", 1, true, 60, 6) else { panic!() };
        assert!(m.sessions["c"].subscriptions.is_empty());
    }

    #[test]
    fn summaries_list_owner_subscriptions_and_the_total() {
        let mut m = MqttState::default();
        let live = nodes(&[(1, true), (2, true)]);
        claim(&mut m, "b", 2, true, 60, 0);
        claim_with_will(&mut m, "a", 60, 0);
        let sub = MqttOp::Subscribe {
            client_id: "a".into(),
            generation: 1,
            subs: vec![("x/#".into(), SubRecord { qos: 2, ..Default::default() })],
            start: BTreeMap::new(),
        };
        assert_eq!(m.apply(&sub, &live), MqttResult::Done);
        let (all, total) = m.summaries(10);
        assert_eq!(total, 2);
        assert_eq!(all.iter().map(|s| s.client_id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!((all[0].owner, all[0].has_will), (Some(1), true));
        assert_eq!(all[0].subscriptions, [("x/#".to_string(), 2)].into());
        assert_eq!((all[1].owner, all[1].has_will, all[1].subscriptions.len()), (Some(2), false, 0));
        let (first, total) = m.summaries(1);
        assert_eq!((first.len(), total), (1, 2));
    }

    #[test]
    fn subscribe_keeps_existing_cursors() {
        let mut m = MqttState::default();
        let live = nodes(&[(1, true)]);
        claim(&mut m, "c", 1, false, 60, 0);
        let sub =
            |start: BTreeMap<u32, u64>| MqttOp::Subscribe { client_id: "c".into(), generation: 1, subs: vec![], start };
        m.apply(&sub([(0, 5)].into()), &live);
        m.apply(&sub([(0, 50), (1, 7)].into()), &live);
        assert_eq!(m.sessions["c"].cursors, [(0, 5), (1, 7)].into());
    }

    #[test]
    fn sessions_expire_after_their_interval_and_zero_expiry_ends_at_disconnect() {
        let mut m = MqttState::default();
        let live = nodes(&[(1, true)]);
        claim(&mut m, "keep", 1, false, 10, 0);
        claim(&mut m, "gone", 1, false, 0, 0);
        for id in ["keep", "gone"] {
            let op = MqttOp::Disconnect {
                client_id: id.into(),
                generation: 1,
                now_ms: 1_000,
                expiry_s: None,
                keep_will: false,
            };
            assert_eq!(m.apply(&op, &live), MqttResult::Done);
        }
        assert!(!m.sessions.contains_key("gone"));
        m.apply(&MqttOp::Sweep { now_ms: 10_999 }, &live);
        assert!(m.sessions.contains_key("keep"));
        m.apply(&MqttOp::Sweep { now_ms: 11_000 }, &live);
        assert!(!m.sessions.contains_key("keep"));
        // An expired session is not resumed by a claim either.
        claim(&mut m, "x", 1, false, 1, 0);
        m.apply(
            &MqttOp::Disconnect { client_id: "x".into(), generation: 1, now_ms: 0, expiry_s: None, keep_will: false },
            &live,
        );
        let MqttResult::Claimed { resumed: None, .. } = claim(&mut m, "x", 1, false, 1, 5_000) else { panic!() };
    }

    #[test]
    fn a_delayed_will_is_taken_once_unless_the_client_came_back() {
        let mut m = MqttState::default();
        let live = nodes(&[(1, true)]);
        claim_with_will(&mut m, "c", 0, 5);
        let gone = MqttOp::Disconnect {
            client_id: "c".into(),
            generation: 1,
            now_ms: 1_000,
            expiry_s: Some(30),
            keep_will: true,
        };
        m.apply(&gone, &live);
        assert_eq!(m.apply(&MqttOp::Sweep { now_ms: 5_999 }, &live), MqttResult::Wills(vec![]));
        assert_eq!(m.apply(&MqttOp::Sweep { now_ms: 6_000 }, &live), MqttResult::Wills(vec![due("c", 1, 5)]));
        // Leased: not handed out again while its publisher has time...
        assert_eq!(m.apply(&MqttOp::Sweep { now_ms: 7_000 }, &live), MqttResult::Wills(vec![]));
        let lease = MqttOp::LeaseWill { client_id: "c".into(), generation: 1, now_ms: 7_000 };
        assert_eq!(m.apply(&lease, &live), MqttResult::Wills(vec![]));
        // ...but again if its publisher never said it was done (a lost answer, a crash).
        let later = 6_000 + WILL_LEASE_MS;
        assert_eq!(m.apply(&MqttOp::Sweep { now_ms: later }, &live), MqttResult::Wills(vec![due("c", 1, 5)]));
        // Done: it leaves meta, and with expiry over, so does the session.
        m.apply(&MqttOp::WillDone { client_id: "c".into(), generation: 1 }, &live);
        assert_eq!(m.apply(&MqttOp::Sweep { now_ms: later + WILL_LEASE_MS }, &live), MqttResult::Wills(vec![]));
        assert!(!m.sessions.contains_key("c"));
        // A client that reconnects within the delay fences the old generation's will.
        claim_with_will(&mut m, "d", 60, 5);
        m.apply(
            &MqttOp::Disconnect { client_id: "d".into(), generation: 1, now_ms: 0, expiry_s: None, keep_will: true },
            &live,
        );
        claim(&mut m, "d", 1, false, 60, 1_000);
        assert_eq!(
            m.apply(&MqttOp::LeaseWill { client_id: "d".into(), generation: 1, now_ms: 5_000 }, &live),
            MqttResult::Fenced { generation: 2 }
        );
    }

    #[test]
    fn a_will_lease_from_a_fast_clock_runs_from_the_sweep() {
        let mut m = MqttState::default();
        let live = nodes(&[(1, true)]);
        claim_with_will(&mut m, "c", 0, 2);
        let gone =
            MqttOp::Disconnect { client_id: "c".into(), generation: 1, now_ms: 0, expiry_s: None, keep_will: true };
        m.apply(&gone, &live);
        // Sim seed 30 of the MQTT suite: the sweep of a broker 42 s ahead leased the will and
        // its answer was lost; the next sweeper's clock is behind.
        let leased = m.apply(&MqttOp::Sweep { now_ms: 42_000 }, &live);
        assert_eq!(leased, MqttResult::Wills(vec![due("c", 1, 2)]));
        assert_eq!(m.apply(&MqttOp::Sweep { now_ms: 1_000 }, &live), MqttResult::Wills(vec![]));
        let again = 1_000 + WILL_LEASE_MS;
        assert_eq!(m.apply(&MqttOp::Sweep { now_ms: again }, &live), MqttResult::Wills(vec![due("c", 1, 2)]));
    }

    #[test]
    fn a_disconnect_time_from_a_fast_clock_counts_from_the_sweep() {
        let mut m = MqttState::default();
        let live = nodes(&[(1, true)]);
        claim_with_will(&mut m, "c", 0, 2);
        // Recorded 60 s ahead of the sweeping broker's clock.
        m.apply(
            &MqttOp::Disconnect {
                client_id: "c".into(),
                generation: 1,
                now_ms: 70_000,
                expiry_s: Some(60),
                keep_will: true,
            },
            &live,
        );
        assert_eq!(m.apply(&MqttOp::Sweep { now_ms: 10_000 }, &live), MqttResult::Wills(vec![]));
        assert_eq!(m.apply(&MqttOp::Sweep { now_ms: 12_000 }, &live), MqttResult::Wills(vec![due("c", 1, 2)]));
    }

    #[test]
    fn the_will_goes_at_session_end_when_that_comes_before_its_delay() {
        let mut m = MqttState::default();
        let live = nodes(&[(1, true)]);
        claim_with_will(&mut m, "c", 2, 60);
        m.apply(
            &MqttOp::Disconnect { client_id: "c".into(), generation: 1, now_ms: 0, expiry_s: None, keep_will: true },
            &live,
        );
        assert_eq!(m.apply(&MqttOp::Sweep { now_ms: 2_000 }, &live), MqttResult::Wills(vec![due("c", 1, 60)]));
        // The session ends once its will is in the log.
        assert_eq!(m.sessions.len(), 1);
        m.apply(&MqttOp::WillDone { client_id: "c".into(), generation: 1 }, &live);
        m.apply(&MqttOp::Sweep { now_ms: 2_001 }, &live);
        assert!(m.sessions.is_empty());
    }

    #[test]
    fn sessions_of_a_dead_broker_become_disconnected_and_their_wills_go() {
        let mut m = MqttState::default();
        let op = MqttOp::Claim {
            client_id: "c".into(),
            broker: 2,
            clean_start: false,
            expiry_s: 60,
            will: Some(will(0)),
            now_ms: 0,
        };
        m.apply(&op, &nodes(&[(2, true)]));
        m.apply(&MqttOp::SharedMembers { key: "g/t".into(), broker: 2, members: 3 }, &nodes(&[(2, true)]));
        let dead = nodes(&[(1, true), (2, false)]);
        assert_eq!(m.apply(&MqttOp::Sweep { now_ms: 100 }, &dead), MqttResult::Wills(vec![due("c", 1, 0)]));
        let s = &m.sessions["c"];
        assert_eq!((s.owner, s.disconnected_at_ms), (None, Some(100)));
        assert!(m.shared.is_empty());
    }

    #[test]
    fn a_restarted_broker_orphans_its_previous_sessions() {
        let mut m = MqttState::default();
        let live = nodes(&[(1, true), (2, true)]);
        claim_with_will(&mut m, "a", 0, 0);
        claim(&mut m, "b", 2, false, 60, 0);
        m.apply(&MqttOp::SharedMembers { key: "g/t".into(), broker: 1, members: 1 }, &live);
        m.apply(&MqttOp::BrokerStarted { broker: 1, now_ms: 50 }, &live);
        assert_eq!((m.sessions["a"].owner, m.sessions["a"].disconnected_at_ms), (None, Some(50)));
        assert_eq!(m.sessions["b"].owner, Some(2));
        assert!(m.shared.is_empty());
        // The sweep then publishes the orphan's will and ends its session.
        assert_eq!(m.apply(&MqttOp::Sweep { now_ms: 60 }, &live), MqttResult::Wills(vec![due("a", 1, 0)]));
        m.apply(&MqttOp::WillDone { client_id: "a".into(), generation: 1 }, &live);
        assert!(!m.sessions.contains_key("a"));
    }

    #[test]
    fn retained_updates_apply_in_log_order_with_tombstones() {
        let mut m = MqttState::default();
        let live = nodes(&[]);
        let r = |offset, record: Option<u8>| RetainedRecord {
            record: record.map(|b| Blob(vec![b; 10])),
            shard: 3,
            offset,
            at_ms: 0,
            expiry_s: None,
        };
        m.apply(&MqttOp::Retain { topic: "t".into(), retained: r(6, None) }, &live);
        // A set that was appended before the clear arrives late: ignored.
        m.apply(&MqttOp::Retain { topic: "t".into(), retained: r(5, Some(1)) }, &live);
        assert_eq!(m.retained_of("t"), None);
        m.apply(&MqttOp::Retain { topic: "t".into(), retained: r(7, Some(2)) }, &live);
        assert_eq!(m.retained_of("t").unwrap().offset, 7);
        assert_eq!(m.retained_bytes, 10);
        m.apply(&MqttOp::Retain { topic: "t".into(), retained: r(8, None) }, &live);
        assert_eq!(m.retained_bytes, 0);
        m.apply(&MqttOp::Sweep { now_ms: TOMBSTONE_MS }, &live);
        assert!(m.retained.is_empty());
    }

    #[test]
    fn qos2_states_and_cursors_move_with_progress() {
        let mut m = MqttState::default();
        let live = nodes(&[(1, true)]);
        claim(&mut m, "c", 1, false, 60, 0);
        let st = Qos2Out { shard: 1, offset: 9, packet_id: 7, released: false, done: false };
        let progress = |cursor: u64, qos2_out: Vec<Qos2Out>, qos2_in: Vec<Qos2In>| MqttOp::Progress {
            client_id: "c".into(),
            generation: 1,
            cursors: [(1, cursor)].into(),
            qos2_out,
            qos2_in,
        };
        m.apply(&progress(9, vec![st], vec![stored(3, 1)]), &live);
        let s = &m.sessions["c"];
        assert_eq!((s.qos2_out.clone(), s.qos2_waiting(), s.cursors[&1]), (vec![st], vec![3], 9));
        // Completed, the state stays while the cursor has not passed it...
        let done = Qos2Out { released: true, done: true, ..st };
        m.apply(&progress(9, vec![done], vec![released(3, 2)]), &live);
        assert_eq!(m.sessions["c"].qos2_out, vec![done]);
        assert!(m.sessions["c"].qos2_waiting().is_empty());
        // ...and goes once it has.
        m.apply(&progress(10, vec![], vec![]), &live);
        assert!(m.sessions["c"].qos2_out.is_empty());
    }

    #[test]
    fn inbound_qos2_ids_go_from_pending_to_stored_to_released_and_never_back() {
        let mut m = MqttState::default();
        let live = nodes(&[(1, true)]);
        claim(&mut m, "c", 1, false, 60, 0);
        let progress = |qos2_in: Vec<Qos2In>| MqttOp::Progress {
            client_id: "c".into(),
            generation: 1,
            cursors: BTreeMap::new(),
            qos2_out: vec![],
            qos2_in,
        };
        let origin = Origin { token: 10, shard: 1, scan_from: 40, at_ms: 5 };
        m.apply(&progress(vec![pending(6, 10)]), &live);
        let s = &m.sessions["c"];
        assert_eq!((s.qos2_waiting(), s.qos2_unconfirmed()), (vec![], vec![(6, origin)]), "before the append");
        m.apply(&progress(vec![stored(6, 11)]), &live);
        let s = &m.sessions["c"];
        assert_eq!((s.qos2_waiting(), s.qos2_unconfirmed()), (vec![6], vec![]), "confirmed");
        m.apply(&progress(vec![released(6, 12)]), &live);
        // The confirmation or the intent applying late (a batch whose outcome was unknown).
        m.apply(&progress(vec![stored(6, 11)]), &live);
        m.apply(&progress(vec![pending(6, 10)]), &live);
        let s = &m.sessions["c"];
        assert_eq!((s.qos2_waiting(), s.qos2_unconfirmed()), (vec![], vec![]), "released stays released");
    }

    #[test]
    fn progress_that_applies_late_changes_nothing_back() {
        let mut m = MqttState::default();
        let live = nodes(&[(1, true)]);
        claim(&mut m, "c", 1, false, 60, 0);
        let st = Qos2Out { shard: 0, offset: 70, packet_id: 7, released: true, done: false };
        let progress = |cursor: u64, qos2_out: Vec<Qos2Out>, qos2_in: Vec<Qos2In>| MqttOp::Progress {
            client_id: "c".into(),
            generation: 1,
            cursors: [(0, cursor)].into(),
            qos2_out,
            qos2_in,
        };
        m.apply(&progress(67, vec![st], vec![released(5, 9)]), &live);
        // A batch sent earlier lands now: an older cursor, a state before its PUBREL, an id
        // received before its release.
        m.apply(&progress(65, vec![Qos2Out { released: false, ..st }], vec![stored(5, 8)]), &live);
        let s = &m.sessions["c"];
        assert_eq!(s.cursors[&0], 67);
        assert_eq!(s.qos2_out, vec![st]);
        assert!(s.qos2_waiting().is_empty());
    }

    #[test]
    fn the_state_serialises_to_json_and_back() {
        let mut m = MqttState::default();
        let live = nodes(&[(1, true)]);
        claim(&mut m, "c", 1, false, 60, 0);
        let st = Qos2Out { shard: 1, offset: 9, packet_id: 7, released: true, done: false };
        let p = MqttOp::Progress {
            client_id: "c".into(),
            generation: 1,
            cursors: [(1, 3)].into(),
            qos2_out: vec![st],
            qos2_in: vec![pending(4, 1)],
        };
        m.apply(&p, &live);
        m.apply(&MqttOp::SharedMembers { key: "g/t".into(), broker: 1, members: 2 }, &live);
        let json = serde_json::to_vec(&m).unwrap();
        assert_eq!(serde_json::from_slice::<MqttState>(&json).unwrap(), m);
    }

    #[test]
    fn blobs_serialise_as_base64() {
        let json = serde_json::to_string(&Blob(vec![0, 255, 7])).unwrap();
        assert_eq!(json, "\"AP8H\"");
        assert_eq!(serde_json::from_str::<Blob>(&json).unwrap(), Blob(vec![0, 255, 7]));
        assert!(serde_json::from_str::<Blob>("\"!!\"").is_err());
    }
}
