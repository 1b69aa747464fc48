//! The client's PUBLISHes: checks, topic aliases, appending them, and their acknowledgements
//! (PUBACK, or PUBREC / PUBREL / PUBCOMP with the QoS 2 receive state).

use std::collections::{HashMap, HashSet};

use super::{Command, Phase, Session};
use crate::mqtt::{reason, topic, Packet, PubAck, PubComp, PubRec, PubRel, Publish, QoS, ReasonCode, Version};

/// The receiving side's state.
#[derive(Clone, Debug, Default)]
pub(super) struct Inbound {
    /// The next [`Command::Publish`] id.
    next_id: u64,
    /// QoS 1/2 publishes appended and not yet answered ([`Event::Published`]), by id: their
    /// packet id and QoS.
    ///
    /// [`Event::Published`]: super::Event::Published
    appending: HashMap<u64, (u16, QoS)>,
    /// The packet ids of those: a PUBLISH with one of them is a retransmission.
    appending_ids: HashSet<u16>,
    /// QoS 2 packet ids PUBREC'd whose PUBREL has not come: true when received on this
    /// connection (and so counted against the Receive Maximum), false when resumed.
    unreleased: HashMap<u16, bool>,
    /// Resumed ids of `unreleased` whose message the broker may not have stored: a PUBLISH
    /// with one is passed on (see [`Resumed::inbound_qos2_unconfirmed`]).
    ///
    /// [`Resumed::inbound_qos2_unconfirmed`]: super::Resumed::inbound_qos2_unconfirmed
    unconfirmed: HashSet<u16>,
    /// How many of `unreleased` count.
    unreleased_counted: usize,
    /// Topic aliases the client set on this connection [MQTT-3.3.2-7]: alias → topic.
    aliases: HashMap<u16, String>,
}

impl Inbound {
    /// The QoS 2 ids a resumed session still waits a PUBREL for.
    pub(super) fn resume(&mut self, ids: Vec<u16>, unconfirmed: Vec<u16>) {
        for id in ids {
            self.unreleased.entry(id).or_insert(false);
        }
        for id in unconfirmed {
            if let std::collections::hash_map::Entry::Vacant(e) = self.unreleased.entry(id) {
                e.insert(false);
                self.unconfirmed.insert(id);
            }
        }
    }

    /// Forgets a resumed id whose storage was unconfirmed, so that its PUBLISH is passed on:
    /// whether it was one.
    fn take_unconfirmed(&mut self, packet_id: u16) -> bool {
        if !self.unconfirmed.remove(&packet_id) {
            return false;
        }
        if self.unreleased.remove(&packet_id) == Some(true) {
            self.unreleased_counted -= 1;
        }
        true
    }

    /// QoS 1/2 PUBLISHes the client has sent on this connection without a PUBACK, PUBCOMP or
    /// error PUBREC back: what its Receive Maximum bounds.
    fn unacknowledged(&self) -> usize {
        self.appending.len() + self.unreleased_counted
    }
}

impl Session {
    /// A PUBLISH from the client.
    pub(super) fn client_publish(&mut self, mut publish: Publish, out: &mut Vec<Command>) {
        if !publish.properties.subscription_identifiers.is_empty() {
            // [MQTT-3.3.4-6]
            let detail = "a subscription identifier on a PUBLISH from the client".into();
            return self.violation(ReasonCode::ProtocolError, detail, out);
        }
        if publish.qos > self.limits.maximum_qos {
            // [MQTT-3.2.2-11]: a Protocol Error answered with 0x9B.
            let detail = format!("QoS {} over the maximum QoS {}", publish.qos as u8, self.limits.maximum_qos as u8);
            return self.violation(ReasonCode::QoSNotSupported, detail, out);
        }
        if publish.retain && !self.limits.retain_available {
            // [MQTT-3.2.2-14]: a Protocol Error answered with 0x9A.
            return self.violation(ReasonCode::RetainNotSupported, "retain is not available".into(), out);
        }
        if publish.properties.response_topic.as_deref().is_some_and(|t| !topic::valid_name(t)) {
            // [MQTT-3.3.2-14]
            let detail = "a response topic empty or with a wildcard".into();
            return self.violation(ReasonCode::ProtocolError, detail, out);
        }
        if let Err((reason, detail)) = self.resolve_alias(&mut publish) {
            return self.violation(reason, detail, out);
        }
        // A topic starting with `$` is left to the broker's ACL.
        publish.dup = false;
        let (qos, packet_id) = match (publish.qos, publish.packet_id) {
            (QoS::AtMostOnce, _) | (_, None) => return self.append(publish, out),
            (qos, Some(packet_id)) => (qos, packet_id),
        };
        if self.inbound.appending_ids.contains(&packet_id) {
            // A retransmission of a PUBLISH still being appended: its answer goes out once.
            return;
        }
        if qos == QoS::ExactlyOnce {
            // A resend the broker must check; from here on a new PUBLISH as far as we are concerned.
            self.inbound.take_unconfirmed(packet_id);
        }
        if qos == QoS::ExactlyOnce && self.inbound.unreleased.contains_key(&packet_id) {
            // [MQTT-4.3.3-10]: PUBREC again, no duplicate onward.
            return self.send(Packet::PubRec(PubRec::new(packet_id)), out);
        }
        if self.v5() && self.inbound.unacknowledged() >= usize::from(self.limits.receive_maximum.max(1)) {
            // [MQTT-3.3.4-7]: a client over the Receive Maximum; 3.x clients are not told one.
            let detail = format!("over the receive maximum of {}", self.limits.receive_maximum.max(1));
            return self.violation(ReasonCode::ReceiveMaximumExceeded, detail, out);
        }
        self.inbound.appending.insert(self.inbound.next_id, (packet_id, qos));
        self.inbound.appending_ids.insert(packet_id);
        self.append(publish, out);
    }

    /// Applies a topic alias: sets the mapping when the topic is given, else uses it.
    fn resolve_alias(&mut self, publish: &mut Publish) -> Result<(), (ReasonCode, String)> {
        let Some(alias) = publish.properties.topic_alias.take() else {
            return Ok(());
        };
        if alias == 0 || alias > self.limits.topic_alias_maximum {
            // [MQTT-3.3.2-8], [MQTT-3.3.2-9], [MQTT-3.2.2-17], [MQTT-3.2.2-18]: 0x94.
            let detail = format!("topic alias {alias} over the maximum of {}", self.limits.topic_alias_maximum);
            return Err((ReasonCode::TopicAliasInvalid, detail));
        }
        if publish.topic.is_empty() {
            match self.inbound.aliases.get(&alias) {
                Some(topic) => publish.topic = topic.clone(),
                // 3.3.2.3.4: an alias the client has not set is a Protocol Error.
                None => return Err((ReasonCode::ProtocolError, format!("topic alias {alias} not set"))),
            }
        } else {
            // [MQTT-3.3.2-12]
            self.inbound.aliases.insert(alias, publish.topic.clone());
        }
        Ok(())
    }

    /// Passes the message to the broker.
    fn append(&mut self, publish: Publish, out: &mut Vec<Command>) {
        let id = self.inbound.next_id;
        self.inbound.next_id += 1;
        out.push(Command::Publish { id, publish });
    }

    /// The broker appended (or refused) a QoS 1/2 publish: acknowledge it.
    pub(super) fn published(&mut self, id: u64, result: Result<(), ReasonCode>, out: &mut Vec<Command>) {
        if self.phase != Phase::Connected {
            return;
        }
        let Some((packet_id, qos)) = self.inbound.appending.remove(&id) else {
            return;
        };
        self.inbound.appending_ids.remove(&packet_id);
        let mut reason = match result {
            Ok(()) => ReasonCode::Success,
            // Only the codes PUBACK and PUBREC may carry [MQTT-3.4.2-1], [MQTT-3.5.2-1].
            Err(reason) if reason::PUBACK.contains(&reason) => reason,
            Err(_) => ReasonCode::UnspecifiedError,
        };
        if self.version != Some(Version::V5) {
            if reason.is_error() {
                // 3.1.1 [MQTT-3.3.5-2]: a refusal cannot be told; close instead.
                return self.close(true, None, reason, out);
            }
            // 3.x acknowledgements carry no reason.
            reason = ReasonCode::Success;
        }
        match qos {
            // [MQTT-4.3.2-4]
            QoS::AtLeastOnce => self.send(Packet::PubAck(PubAck { reason, ..PubAck::new(packet_id) }), out),
            QoS::ExactlyOnce => {
                // [MQTT-4.3.3-8]; after an error PUBREC the id is free again [MQTT-4.3.3-9].
                if !reason.is_error() && self.inbound.unreleased.insert(packet_id, true) != Some(true) {
                    self.inbound.unreleased_counted += 1;
                }
                self.send(Packet::PubRec(PubRec { reason, ..PubRec::new(packet_id) }), out);
            }
            QoS::AtMostOnce => {}
        }
    }

    /// PUBREL: the client releases a QoS 2 message; PUBCOMP [MQTT-4.3.3-11].
    pub(super) fn pubrel(&mut self, pubrel: PubRel, out: &mut Vec<Command>) {
        let packet_id = pubrel.packet_id;
        self.inbound.unconfirmed.remove(&packet_id);
        match self.inbound.unreleased.remove(&packet_id) {
            Some(counted) => {
                if counted {
                    self.inbound.unreleased_counted -= 1;
                }
                out.push(Command::Qos2Released { packet_id });
                self.send(Packet::PubComp(PubComp::new(packet_id)), out);
            }
            // 3.1.1 always answers PUBCOMP; 5.0 says the id is unknown.
            None if self.v5() => {
                let pubcomp = PubComp { reason: ReasonCode::PacketIdentifierNotFound, ..PubComp::new(packet_id) };
                self.send(Packet::PubComp(pubcomp), out);
            }
            None => self.send(Packet::PubComp(PubComp::new(packet_id)), out),
        }
    }
}
