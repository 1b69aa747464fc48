//! SUBSCRIBE and UNSUBSCRIBE: each filter checked, the valid ones passed to the broker, one
//! SUBACK or UNSUBACK with every filter's reason code in the original order.

use super::{Command, Phase, Session};
use crate::mqtt::topic::{self, SharedFilter};
use crate::mqtt::{AckProperties, Packet, ReasonCode, SubAck, Subscribe, UnsubAck, Unsubscribe, Version};

impl Session {
    /// A SUBSCRIBE from the client.
    pub(super) fn subscribe(&mut self, subscribe: Subscribe, out: &mut Vec<Command>) {
        let packet_id = subscribe.packet_id;
        if self.subscribing.contains_key(&packet_id) {
            // [MQTT-2.2.1-3]: the client reuses a packet id still in use.
            let detail = format!("SUBSCRIBE {packet_id} while the previous one is unanswered");
            return self.violation(ReasonCode::ProtocolError, detail, out);
        }
        let subscription_id = subscribe.properties.subscription_identifier;
        if subscription_id.is_some() && !self.limits.subscription_identifiers_available {
            // 3.2.2.3.12: a Protocol Error answered with 0xA1.
            let detail = "subscription identifiers are not available".into();
            return self.violation(ReasonCode::SubscriptionIdentifiersNotSupported, detail, out);
        }
        let mut reasons = Vec::with_capacity(subscribe.filters.len());
        let mut filters = Vec::new();
        for (filter, mut options) in subscribe.filters {
            match self.check_filter(&filter) {
                Err(reason) => reasons.push(Some(reason)),
                Ok(()) => {
                    // [MQTT-3.2.2-10]: any requested QoS is accepted, and granted up to the maximum.
                    options.qos = options.qos.min(self.limits.maximum_qos);
                    reasons.push(None);
                    filters.push((filter, options));
                }
            }
        }
        if filters.is_empty() {
            // [MQTT-3.8.4-1]
            return self.send_suback(packet_id, reasons.into_iter().flatten().collect(), out);
        }
        self.subscribing.insert(packet_id, reasons);
        out.push(Command::Subscribe { packet_id, filters, subscription_id });
    }

    /// Whether a filter may be subscribed to; else its SUBACK code.
    fn check_filter(&self, filter: &str) -> Result<(), ReasonCode> {
        let matched = match SharedFilter::parse(filter) {
            // [MQTT-4.8.2-1], [MQTT-4.8.2-2]
            Some(Err(_)) => return Err(ReasonCode::TopicFilterInvalid),
            Some(Ok(_)) if !self.limits.shared_subscription_available => {
                return Err(ReasonCode::SharedSubscriptionsNotSupported)
            }
            Some(Ok(shared)) => shared.filter,
            // [MQTT-4.7.1-1], [MQTT-4.7.1-2], [MQTT-4.7.3-1]
            None if !topic::valid_filter(filter) => return Err(ReasonCode::TopicFilterInvalid),
            None => filter,
        };
        if !self.limits.wildcard_subscription_available && matched.contains(['+', '#']) {
            // 3.1.1 [MQTT-3.8.3-2]: refused when wildcards are not supported.
            return Err(ReasonCode::WildcardSubscriptionsNotSupported);
        }
        Ok(())
    }

    /// The broker's answer to [`Command::Subscribe`]: the SUBACK, with the machine's own codes
    /// in their places [MQTT-3.8.4-6], [MQTT-3.9.3-1].
    pub(super) fn subscribed(&mut self, packet_id: u16, reasons: Vec<ReasonCode>, out: &mut Vec<Command>) {
        if self.phase != Phase::Connected {
            return;
        }
        if let Some(own) = self.subscribing.remove(&packet_id) {
            self.send_suback(packet_id, merge(own, reasons), out);
        }
    }

    fn send_suback(&self, packet_id: u16, reasons: Vec<ReasonCode>, out: &mut Vec<Command>) {
        // [MQTT-3.8.4-2]; a 3.x SUBACK carries return codes (the codec maps every failure to 0x80).
        self.send(Packet::SubAck(SubAck { packet_id, reasons, properties: AckProperties::default() }), out);
    }

    /// An UNSUBSCRIBE from the client.
    pub(super) fn unsubscribe(&mut self, unsubscribe: Unsubscribe, out: &mut Vec<Command>) {
        let packet_id = unsubscribe.packet_id;
        if self.unsubscribing.contains_key(&packet_id) {
            // [MQTT-2.2.1-3]
            let detail = format!("UNSUBSCRIBE {packet_id} while the previous one is unanswered");
            return self.violation(ReasonCode::ProtocolError, detail, out);
        }
        let mut reasons = Vec::with_capacity(unsubscribe.filters.len());
        let mut filters = Vec::new();
        for filter in unsubscribe.filters {
            let valid = match SharedFilter::parse(&filter) {
                Some(shared) => shared.is_ok(),
                None => topic::valid_filter(&filter),
            };
            match valid {
                true => {
                    reasons.push(None);
                    filters.push(filter);
                }
                false => reasons.push(Some(ReasonCode::TopicFilterInvalid)),
            }
        }
        if filters.is_empty() {
            // [MQTT-3.10.4-4], [MQTT-3.10.4-5]
            return self.send_unsuback(packet_id, reasons.into_iter().flatten().collect(), out);
        }
        self.unsubscribing.insert(packet_id, reasons);
        out.push(Command::Unsubscribe { packet_id, filters });
    }

    /// The broker's answer to [`Command::Unsubscribe`]: the UNSUBACK [MQTT-3.11.3-1].
    pub(super) fn unsubscribed(&mut self, packet_id: u16, reasons: Vec<ReasonCode>, out: &mut Vec<Command>) {
        if self.phase != Phase::Connected {
            return;
        }
        if let Some(own) = self.unsubscribing.remove(&packet_id) {
            self.send_unsuback(packet_id, merge(own, reasons), out);
        }
    }

    fn send_unsuback(&self, packet_id: u16, reasons: Vec<ReasonCode>, out: &mut Vec<Command>) {
        // A 3.x UNSUBACK has no reason codes.
        let reasons = if self.version == Some(Version::V5) { reasons } else { Vec::new() };
        self.send(Packet::UnsubAck(UnsubAck { packet_id, reasons, properties: AckProperties::default() }), out);
    }
}

/// The machine's codes with the broker's in the gaps, in order (a missing answer is
/// Unspecified error).
fn merge(own: Vec<Option<ReasonCode>>, broker: Vec<ReasonCode>) -> Vec<ReasonCode> {
    let mut broker = broker.into_iter();
    own.into_iter().map(|own| own.or_else(|| broker.next()).unwrap_or(ReasonCode::UnspecifiedError)).collect()
}
