//! Deliveries to the client: packet identifiers, the in-flight window, the client's
//! acknowledgements, topic aliases towards the client, and its Maximum Packet Size.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{Command, Inflight, Message, Phase, Session};
use crate::mqtt::primitives::{count, encode_varint};
use crate::mqtt::{Packet, PubAck, PubComp, PubRec, PubRel, Publish, PublishProperties, QoS, Version};

/// The sending side's state.
#[derive(Clone, Debug, Default)]
pub(super) struct Outbound {
    /// QoS 1/2 deliveries in flight, in the order they were first sent (resumed ones first).
    entries: BTreeMap<u64, Entry>,
    /// Their packet ids: id → key in `entries`.
    ids: HashMap<u16, u64>,
    next_key: u64,
    /// The last packet id allocated.
    last_id: u16,
    /// Resumed entries whose PUBLISH waits for room in the window (their packet ids are taken).
    waiting: usize,
    /// Packet ids kept for deliveries the broker will resend later ([`super::Resumed::reserved_ids`]).
    reserved: BTreeSet<u16>,
    /// Topic aliases given on this connection: topic → alias (1, 2, ... in order).
    aliases: HashMap<String, u16>,
}

/// A QoS 1/2 delivery in flight.
#[derive(Clone, Debug)]
struct Entry {
    packet_id: u16,
    message: Message,
    /// QoS 2: PUBREC received, PUBREL sent.
    released: bool,
    /// Sent on this connection (false only for resumed ones waiting for the window).
    sent: bool,
}

impl Outbound {
    /// The packet id the next delivery gets: one not in flight [MQTT-2.2.1-4], if any is left.
    fn next_id(&self) -> Option<u16> {
        if self.ids.len() + self.reserved.len() >= usize::from(u16::MAX) {
            return None;
        }
        let mut id = self.last_id;
        loop {
            id = id.checked_add(1).unwrap_or(1);
            if !self.ids.contains_key(&id) && !self.reserved.contains(&id) {
                return Some(id);
            }
        }
    }

    fn insert(&mut self, packet_id: u16, message: Message, released: bool, sent: bool) {
        let key = self.next_key;
        self.next_key += 1;
        self.ids.insert(packet_id, key);
        self.entries.insert(key, Entry { packet_id, message, released, sent });
    }

    fn get_mut(&mut self, packet_id: u16) -> Option<&mut Entry> {
        let key = self.ids.get(&packet_id)?;
        self.entries.get_mut(key)
    }

    fn remove(&mut self, packet_id: u16) -> Option<Entry> {
        let entry = self.entries.remove(&self.ids.remove(&packet_id)?)?;
        if !entry.sent {
            self.waiting -= 1;
        }
        Some(entry)
    }
}

impl Session {
    /// Whether a QoS 1/2 delivery can go out now (the in-flight window is not full: the
    /// client's Receive Maximum [MQTT-3.3.4-9], [MQTT-4.9.0-2], and
    /// [`Limits::outbound_inflight_max`](super::Limits::outbound_inflight_max)). QoS 0 always can.
    pub fn can_deliver(&self, qos: QoS) -> bool {
        qos == QoS::AtMostOnce || (self.phase == Phase::Connected && self.outbound.entries.len() < self.window())
    }

    /// QoS 1/2 deliveries in flight, in the order they were first sent: what a local resume's
    /// [`Resumed::outbound`](super::Resumed::outbound) should carry.
    pub fn outbound_in_flight(&self) -> Vec<Inflight> {
        let entries = self.outbound.entries.values();
        entries.map(|e| Inflight { packet_id: e.packet_id, message: e.message.clone(), released: e.released }).collect()
    }

    /// The most QoS 1/2 deliveries in flight at once.
    pub(super) fn window(&self) -> usize {
        usize::from(self.peer.receive_maximum.min(self.limits.outbound_inflight_max).max(1))
    }

    /// A message for the client.
    pub(super) fn deliver(&mut self, message: Message, out: &mut Vec<Command>) {
        if self.phase != Phase::Connected {
            debug_assert!(false, "Deliver before the CONNECT was accepted");
            return;
        }
        let token = message.token;
        if message.qos == QoS::AtMostOnce {
            if let Some(publish) = self.outbound_publish(&message, None, false) {
                out.push(Command::Send(publish));
            }
            return out.push(Command::Delivered { token });
        }
        // The broker waits for `can_deliver`; if it does not, this is its bug: the message goes
        // out anyway (over the window) rather than being lost.
        debug_assert!(self.outbound.entries.len() < self.window(), "Deliver while can_deliver is false");
        if let Some(id) = message.resume_packet_id {
            self.outbound.reserved.remove(&id);
        }
        let packet_id = match message.resume_packet_id {
            Some(id) if id != 0 && !self.outbound.ids.contains_key(&id) => Some(id),
            _ => self.outbound.next_id(),
        };
        let Some(packet_id) = packet_id else {
            debug_assert!(false, "Deliver with every packet id in flight");
            return;
        };
        let redelivery = message.resume_packet_id.is_some();
        let Some(publish) = self.outbound_publish(&message, Some(packet_id), redelivery) else {
            // [MQTT-3.1.2-25]: too large to send is as good as sent.
            return out.push(Command::Delivered { token });
        };
        if message.qos == QoS::ExactlyOnce && !redelivery {
            out.push(Command::Qos2Outbound { token, packet_id, released: false });
        }
        if message.resume_packet_id != Some(packet_id) {
            self.outbound.last_id = packet_id;
        }
        self.outbound.insert(packet_id, message, false, true);
        out.push(Command::Send(publish));
    }

    /// The deliveries a resumed session had in flight: again, with their packet ids
    /// [MQTT-4.4.0-1]: PUBRELs at once, then PUBLISHes (DUP) in order as far as the window
    /// allows, the rest as acknowledgements make room.
    pub(super) fn resume_outbound(&mut self, inflight: Vec<Inflight>, out: &mut Vec<Command>) {
        for Inflight { packet_id, message, released } in inflight {
            if packet_id == 0 || self.outbound.ids.contains_key(&packet_id) || message.qos == QoS::AtMostOnce {
                debug_assert!(false, "resumed delivery {packet_id} invalid or given twice");
                continue;
            }
            let released = released && message.qos == QoS::ExactlyOnce;
            self.outbound.insert(packet_id, message, released, false);
            self.outbound.waiting += 1;
        }
        self.send_unsent(out);
    }

    /// Keeps `ids` for deliveries the broker resends later (each leaves the set when it comes).
    pub(super) fn reserve_ids(&mut self, ids: Vec<u16>) {
        self.outbound.reserved.extend(ids.into_iter().filter(|id| *id != 0 && !self.outbound.ids.contains_key(id)));
    }

    /// Sends what resumed entries are still unsent: every PUBREL first (they count in the
    /// window, but packets other than PUBLISH are not held back [MQTT-3.3.4-10]), then
    /// PUBLISHes in order while the window has room.
    fn send_unsent(&mut self, out: &mut Vec<Command>) {
        let unsent = |entries: &BTreeMap<u64, Entry>, released: bool| -> Vec<u64> {
            entries.iter().filter(|(_, e)| !e.sent && e.released == released).map(|(&key, _)| key).collect()
        };
        for key in unsent(&self.outbound.entries, true) {
            let Some(entry) = self.outbound.entries.get_mut(&key) else { continue };
            entry.sent = true;
            let packet_id = entry.packet_id;
            self.outbound.waiting -= 1;
            self.send(Packet::PubRel(PubRel::new(packet_id)), out);
        }
        for key in unsent(&self.outbound.entries, false) {
            if self.outbound.entries.len() - self.outbound.waiting >= self.window() {
                return;
            }
            let Some(entry) = self.outbound.entries.get(&key) else { continue };
            let packet_id = entry.packet_id;
            match self.outbound_publish(&entry.message.clone(), Some(packet_id), true) {
                Some(publish) => {
                    if let Some(entry) = self.outbound.entries.get_mut(&key) {
                        entry.sent = true;
                        self.outbound.waiting -= 1;
                    }
                    out.push(Command::Send(publish));
                }
                // [MQTT-3.1.2-25]: too large for this connection's client (the window keeps its room).
                None => {
                    if let Some(entry) = self.outbound.remove(packet_id) {
                        out.push(Command::Delivered { token: entry.message.token });
                    }
                }
            }
        }
    }

    /// PUBACK: a QoS 1 delivery is done (whatever the reason [MQTT-4.4.0-2]).
    pub(super) fn puback(&mut self, puback: PubAck, out: &mut Vec<Command>) {
        if self.outbound.get_mut(puback.packet_id).is_some_and(|e| e.message.qos == QoS::AtLeastOnce) {
            self.complete(puback.packet_id, out);
        }
    }

    /// PUBREC: a QoS 2 delivery received; PUBREL, or done on an error reason [MQTT-4.4.0-2].
    pub(super) fn pubrec(&mut self, pubrec: PubRec, out: &mut Vec<Command>) {
        let packet_id = pubrec.packet_id;
        let Some(entry) = self.outbound.get_mut(packet_id) else {
            return;
        };
        if entry.message.qos != QoS::ExactlyOnce {
            return;
        }
        let (released, sent, token) = (entry.released, entry.sent, entry.message.token);
        if pubrec.reason.is_error() {
            if !released {
                self.complete(packet_id, out);
            }
            return;
        }
        if !released {
            entry.released = true;
            entry.sent = true;
            if !sent {
                self.outbound.waiting -= 1;
            }
            out.push(Command::Qos2Outbound { token, packet_id, released: true });
        }
        // [MQTT-4.3.3-4]
        self.send(Packet::PubRel(PubRel::new(packet_id)), out);
    }

    /// PUBCOMP: a released QoS 2 delivery is done.
    pub(super) fn pubcomp(&mut self, pubcomp: PubComp, out: &mut Vec<Command>) {
        if self.outbound.get_mut(pubcomp.packet_id).is_some_and(|e| e.released) {
            self.complete(pubcomp.packet_id, out);
        }
    }

    /// A delivery in flight is done: the broker may move past it, and the window has room.
    fn complete(&mut self, packet_id: u16, out: &mut Vec<Command>) {
        if let Some(entry) = self.outbound.remove(packet_id) {
            out.push(Command::Delivered { token: entry.message.token });
        }
        if self.outbound.waiting > 0 {
            self.send_unsent(out);
        }
    }

    /// The PUBLISH for a message: subscription identifiers set, a topic alias when the client
    /// takes them, checked against its Maximum Packet Size. None: too large to send.
    fn outbound_publish(&mut self, message: &Message, packet_id: Option<u16>, dup: bool) -> Option<Packet> {
        let version = self.wire_version();
        let v5 = version == Version::V5;
        let properties = match v5 {
            true => PublishProperties {
                topic_alias: None,
                // [MQTT-3.3.4-3], [MQTT-3.3.4-4]
                subscription_identifiers: message.subscription_identifiers.clone(),
                ..message.properties.clone()
            },
            false => PublishProperties::default(),
        };
        let mut publish = Publish {
            // [MQTT-3.3.1-1], [MQTT-3.3.1-2], [MQTT-3.3.1-3]
            dup: dup && message.qos != QoS::AtMostOnce,
            qos: message.qos,
            retain: message.retain,
            topic: message.topic.clone(),
            packet_id,
            properties,
            payload: message.payload.clone(),
        };
        let max = self.peer.maximum_packet_size.map_or(usize::MAX, |max| max as usize);
        let fits = |publish: &Publish| publish_len(publish, version).is_some_and(|bytes| bytes <= max);
        // [MQTT-3.1.2-26], [MQTT-3.1.2-27]: aliases up to the client's maximum, none for 3.x.
        if self.peer.topic_alias_maximum > 0 {
            if let Some(&alias) = self.outbound.aliases.get(&message.topic) {
                publish.properties.topic_alias = Some(alias);
                let topic = std::mem::take(&mut publish.topic);
                if fits(&publish) {
                    return Some(Packet::Publish(publish));
                }
                publish.topic = topic;
                publish.properties.topic_alias = None;
            } else if self.outbound.aliases.len() < usize::from(self.peer.topic_alias_maximum) {
                let alias = self.outbound.aliases.len() as u16 + 1;
                publish.properties.topic_alias = Some(alias);
                if fits(&publish) {
                    // Only an alias the client has seen with its topic is set.
                    self.outbound.aliases.insert(message.topic.clone(), alias);
                    return Some(Packet::Publish(publish));
                }
                publish.properties.topic_alias = None;
            }
        }
        // [MQTT-3.1.2-24]
        fits(&publish).then_some(Packet::Publish(publish))
    }
}

/// A PUBLISH's encoded size, fixed header included, without encoding it; None if it cannot
/// be encoded.
fn publish_len(publish: &Publish, version: Version) -> Option<usize> {
    let body = count(|counter| publish.write(version, counter)).ok()?;
    let (_, header) = encode_varint(body)?;
    Some(1 + header + body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::len;
    use bytes::Bytes;

    #[test]
    fn publish_len_is_the_codecs() {
        let mut publish = Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: "a/b".into(),
            packet_id: Some(7),
            properties: PublishProperties { subscription_identifiers: vec![1, 300], ..Default::default() },
            payload: Bytes::from(vec![0; 200]),
        };
        for version in [Version::V311, Version::V5] {
            let expected = len(&Packet::Publish(publish.clone()), version).ok();
            assert_eq!(publish_len(&publish, version), expected);
        }
        publish.topic = "t".repeat(65_536);
        assert_eq!(publish_len(&publish, Version::V5), None, "a topic over 65,535 bytes");
    }

    #[test]
    fn packet_ids_skip_those_in_flight_and_wrap_past_0() {
        let mut outbound = Outbound { last_id: u16::MAX - 1, ..Outbound::default() };
        let message = Message {
            topic: "t".into(),
            payload: Bytes::new(),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: PublishProperties::default(),
            subscription_identifiers: Vec::new(),
            token: super::super::Token { shard: 0, offset: 0 },
            resume_packet_id: None,
        };
        outbound.insert(1, message.clone(), false, true);
        assert_eq!(outbound.next_id(), Some(u16::MAX));
        outbound.last_id = u16::MAX;
        outbound.insert(u16::MAX, message, false, true);
        assert_eq!(outbound.next_id(), Some(2), "1 is in flight, 0 is never used");
    }
}
