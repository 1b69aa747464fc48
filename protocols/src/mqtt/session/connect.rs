//! CONNECT, the broker's answer to it, CONNACK, and the packets a client pipelines meanwhile.

use super::{Command, ConnectRequest, Event, Peer, Phase, Resumed, Session, PENDING_BYTES_MIN, PENDING_PACKETS_MAX};
use crate::mqtt::{len, topic, ConnAck, ConnAckProperties, Connect, Error, Packet, QoS, ReasonCode, Version};

impl Session {
    /// The client's first packet, a CONNECT: checked, then passed to the broker.
    pub(super) fn connect(&mut self, connect: Connect, out: &mut Vec<Command>) {
        let version = connect.version;
        let v5 = version == Version::V5;
        self.version = Some(version);
        let properties = connect.properties;
        if v5 {
            // Even a refusal respects these [MQTT-3.2.2-19].
            self.peer.maximum_packet_size = properties.maximum_packet_size;
            self.peer.problem_information = properties.request_problem_information.unwrap_or(true);
        }
        if properties.authentication_method.is_some() {
            // [MQTT-4.12.0-1]: no enhanced authentication method is supported.
            return self.refuse(ReasonCode::BadAuthenticationMethod, out);
        }
        let client_id = match connect.client_id.is_empty() {
            false => Some(connect.client_id),
            // [MQTT-3.1.3-6], [MQTT-3.1.3-7]: the broker assigns one (and v5 says which in CONNACK).
            true if v5 => None,
            // 3.1.1 [MQTT-3.1.3-6], [MQTT-3.1.3-7]: allowed with Clean Session only.
            true if version == Version::V311 && connect.clean_start => None,
            // 3.1.1 [MQTT-3.1.3-8]: return code 2, Identifier rejected; 3.1 requires 1 to 23 characters.
            true => return self.refuse(ReasonCode::ClientIdentifierNotValid, out),
        };
        if let Some(will) = &connect.will {
            // The codec checks the topic; the response topic is the machine's [MQTT-3.3.2-14].
            if !topic::valid_name(&will.topic) {
                return self.refuse(ReasonCode::TopicNameInvalid, out);
            }
            if will.properties.response_topic.as_deref().is_some_and(|t| !topic::valid_name(t)) {
                return self.refuse(ReasonCode::ProtocolError, out);
            }
            // [MQTT-3.2.2-12]
            if will.qos > self.limits.maximum_qos {
                return self.refuse(ReasonCode::QoSNotSupported, out);
            }
            // [MQTT-3.2.2-13]
            if will.retain && !self.limits.retain_available {
                return self.refuse(ReasonCode::RetainNotSupported, out);
            }
        }

        let keep_alive_s = match self.limits.keep_alive_max_s {
            0 => connect.keep_alive_s,
            // 0 asks for no keep-alive at all: more than any cap.
            max if connect.keep_alive_s == 0 || connect.keep_alive_s > max => max,
            _ => connect.keep_alive_s,
        };
        let requested_expiry = match version {
            Version::V5 => properties.session_expiry_interval_s.unwrap_or(0),
            _ if connect.clean_start => 0,
            _ => u32::MAX,
        };
        let session_expiry_s = self.cap_session_expiry(requested_expiry);
        self.peer = Peer {
            clean_start: connect.clean_start,
            keep_alive_s,
            session_expiry_zero: requested_expiry == 0,
            receive_maximum: properties.receive_maximum.unwrap_or(u16::MAX).max(1),
            maximum_packet_size: self.peer.maximum_packet_size,
            topic_alias_maximum: if v5 { properties.topic_alias_maximum.unwrap_or(0) } else { 0 },
            problem_information: self.peer.problem_information,
        };
        if v5 {
            let limits = &self.limits;
            self.connack = ConnAckProperties {
                receive_maximum: Some(limits.receive_maximum.max(1)),
                // [MQTT-3.2.2-9]
                maximum_qos: (limits.maximum_qos < QoS::ExactlyOnce).then_some(limits.maximum_qos),
                retain_available: (!limits.retain_available).then_some(false),
                maximum_packet_size: (limits.packet_bytes_max > 0).then_some(limits.packet_bytes_max),
                topic_alias_maximum: Some(limits.topic_alias_maximum),
                wildcard_subscription_available: (!limits.wildcard_subscription_available).then_some(false),
                subscription_identifiers_available: (!limits.subscription_identifiers_available).then_some(false),
                shared_subscription_available: (!limits.shared_subscription_available).then_some(false),
                // [MQTT-3.2.2-21], [MQTT-3.2.2-22]: sent when the client's is not the one enforced.
                server_keep_alive_s: (keep_alive_s != connect.keep_alive_s).then_some(keep_alive_s),
                // 3.2.2.3.2: sent when the server uses another interval than the client's.
                session_expiry_interval_s: (session_expiry_s != requested_expiry).then_some(session_expiry_s),
                ..ConnAckProperties::default()
            };
        }
        self.client_id = client_id.clone();
        self.phase = Phase::Connecting;
        out.push(Command::Connect(ConnectRequest {
            version,
            client_id,
            clean_start: connect.clean_start,
            session_expiry_s,
            keep_alive_s,
            username: connect.username,
            password: connect.password,
            will: connect.will,
            receive_maximum: self.peer.receive_maximum,
            maximum_packet_size: self.peer.maximum_packet_size,
            topic_alias_maximum: self.peer.topic_alias_maximum,
            request_problem_information: self.peer.problem_information,
            request_response_information: properties.request_response_information.unwrap_or(false),
            user_properties: properties.user_properties,
        }));
    }

    /// The first bytes did not decode.
    pub(super) fn malformed_connect(&mut self, error: Error, out: &mut Vec<Command>) {
        match error {
            // [MQTT-3.1.2-2] (5.0: CONNACK 0x84; 3.1.1: return code 1), in the version the
            // client asked for.
            Error::UnsupportedProtocolVersion { level, .. } => {
                self.version = Some(Version::for_reply(level));
                self.refuse(ReasonCode::UnsupportedProtocolVersion, out);
            }
            // Which version the bytes were is unknown: close without a CONNACK (3.1.1
            // [MQTT-3.1.4-1]; 5.0 [MQTT-3.1.4-1] closes, the CONNACK being optional).
            error => self.close(false, None, error.reason(), out),
        }
    }

    /// The broker accepted the CONNECT: CONNACK, the resumed state, then what was pipelined.
    pub(super) fn accepted(
        &mut self,
        session_present: bool,
        assigned_client_id: Option<String>,
        resumed: Resumed,
        now_ms: u64,
        out: &mut Vec<Command>,
    ) {
        if self.phase != Phase::Connecting {
            return;
        }
        let mut properties = std::mem::take(&mut self.connack);
        if self.client_id.is_none() {
            debug_assert!(assigned_client_id.is_some(), "the broker must assign a client id to an empty one");
            self.client_id = assigned_client_id.clone();
            if self.v5() {
                // [MQTT-3.2.2-16]
                properties.assigned_client_identifier = assigned_client_id;
            }
        }
        // [MQTT-3.2.2-2] (3.1.1 [MQTT-3.2.2-1]): never a session present after a clean start.
        let session_present = session_present && !self.peer.clean_start;
        let connack = ConnAck { session_present, reason: ReasonCode::Success, properties };
        self.phase = Phase::Connected;
        // The keep-alive runs from here: the time the broker took is not the client's.
        self.last_packet_ms = self.last_packet_ms.max(now_ms);
        // [MQTT-3.2.0-1]: CONNACK goes first.
        self.send(Packet::ConnAck(connack), out);
        self.inbound.resume(resumed.inbound_qos2, resumed.inbound_qos2_unconfirmed);
        self.resume_outbound(resumed.outbound, out);
        self.reserve_ids(resumed.reserved_ids);
        self.pending_bytes = 0;
        while let Some(event) = self.pending.pop_front() {
            match event {
                Event::Packet { packet, now_ms } => self.on_packet(packet, now_ms, out),
                Event::Malformed { error, now_ms } => self.on_malformed(error, now_ms, out),
                _ => {}
            }
        }
    }

    /// The broker refused the CONNECT.
    pub(super) fn refused(&mut self, reason: ReasonCode, out: &mut Vec<Command>) {
        if self.phase != Phase::Connecting {
            return;
        }
        let reason = if reason.is_error() { reason } else { ReasonCode::UnspecifiedError };
        // [MQTT-3.1.4-6]: what was pipelined is dropped unread.
        self.refuse(reason, out);
    }

    /// CONNACK with a failure (a 3.x return code for 3.x) and close, without a will
    /// ([MQTT-3.2.2-6]: no session present; [MQTT-3.2.2-7]: close).
    pub(super) fn refuse(&mut self, reason: ReasonCode, out: &mut Vec<Command>) {
        let connack = ConnAck { session_present: false, reason, properties: ConnAckProperties::default() };
        self.send(Packet::ConnAck(connack), out);
        self.close(false, None, reason, out);
    }

    /// Keeps a packet (or decoding error) that arrived before the broker answered the CONNECT,
    /// within bounds: a few packets, and [`PENDING_BYTES_MIN`] bytes or one largest packet.
    pub(super) fn queue(&mut self, event: Event, out: &mut Vec<Command>) {
        if self.pending_ended {
            return;
        }
        let bytes = match &event {
            Event::Packet { packet, .. } => len(packet, self.wire_version()).unwrap_or(usize::MAX),
            // Nothing is read after a malformed packet; it always gets its answer.
            _ => {
                self.pending_ended = true;
                self.pending.push_back(event);
                return;
            }
        };
        let bytes_max = PENDING_BYTES_MIN.max(self.limits.packet_bytes_max as usize);
        if self.pending.len() >= PENDING_PACKETS_MAX || self.pending_bytes.saturating_add(bytes) > bytes_max {
            return self.close(false, None, ReasonCode::QuotaExceeded, out);
        }
        self.pending_bytes += bytes;
        self.pending.push_back(event);
    }
}
