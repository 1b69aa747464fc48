//! CONNACK (section 3.2): the server's answer to CONNECT.
//!
//! The reason is always a v5 code; 3.1.1 and 3.1 carry a return code 0..5 instead, mapped with
//! [`connack_return_code`] and [`from_connack_return_code`]. 3.1 has no Session Present flag
//! (its first byte is unused): it is read as false and written as 0.

use bytes::Bytes;

use super::primitives::{self, Sink};
use super::properties::{self, id, once, Applied, Property, PropertySet};
use super::reason::{self, connack_return_code, from_connack_return_code};
use super::{Error, QoS, ReasonCode, Version};

/// A CONNACK packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnAck {
    pub session_present: bool,
    pub reason: ReasonCode,
    pub properties: ConnAckProperties,
}

/// CONNACK's properties (3.2.2.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnAckProperties {
    pub session_expiry_interval_s: Option<u32>,
    pub receive_maximum: Option<u16>,
    /// 0 or 1; absent means 2. `Some(ExactlyOnce)` is written as absent.
    pub maximum_qos: Option<QoS>,
    pub retain_available: Option<bool>,
    pub maximum_packet_size: Option<u32>,
    pub assigned_client_identifier: Option<String>,
    pub topic_alias_maximum: Option<u16>,
    pub reason_string: Option<String>,
    pub user_properties: Vec<(String, String)>,
    pub wildcard_subscription_available: Option<bool>,
    pub subscription_identifiers_available: Option<bool>,
    pub shared_subscription_available: Option<bool>,
    pub server_keep_alive_s: Option<u16>,
    pub response_information: Option<String>,
    pub server_reference: Option<String>,
    pub authentication_method: Option<String>,
    pub authentication_data: Option<Bytes>,
}

const SESSION_PRESENT: u8 = 0b0000_0001;

impl ConnAck {
    pub(crate) fn read(body: &mut Bytes, version: Version) -> Result<ConnAck, Error> {
        let flags = primitives::u8(body, "connect acknowledge flags")?;
        if version != Version::V31 && flags & !SESSION_PRESENT != 0 {
            return Err(Error::Malformed("CONNACK reserved flags set"));
        }
        let session_present = version != Version::V31 && flags & SESSION_PRESENT != 0;
        if version != Version::V5 {
            let code = primitives::u8(body, "return code")?;
            let reason = from_connack_return_code(code).ok_or(Error::InvalidReasonCode { code, packet: "CONNACK" })?;
            return Ok(ConnAck { session_present, reason, properties: ConnAckProperties::default() });
        }
        let reason = reason::read(body, reason::CONNACK, "CONNACK")?;
        let properties = properties::read(body, "CONNACK")?;
        Ok(ConnAck { session_present, reason, properties })
    }

    pub(crate) fn write(&self, version: Version, sink: &mut impl Sink) -> Result<(), Error> {
        let session_present = self.session_present && version != Version::V31;
        sink.u8(if session_present { SESSION_PRESENT } else { 0 });
        if version != Version::V5 {
            sink.u8(connack_return_code(self.reason));
            return Ok(());
        }
        sink.u8(self.reason.code());
        properties::write(&self.properties, sink)
    }
}

impl PropertySet for ConnAckProperties {
    fn apply(&mut self, property: Property) -> Applied {
        use Property::*;
        match property {
            SessionExpiryInterval(value) => once(&mut self.session_expiry_interval_s, value),
            ReceiveMaximum(value) => once(&mut self.receive_maximum, value),
            MaximumQoS(value) => once(&mut self.maximum_qos, value),
            RetainAvailable(value) => once(&mut self.retain_available, value),
            MaximumPacketSize(value) => once(&mut self.maximum_packet_size, value),
            AssignedClientIdentifier(value) => once(&mut self.assigned_client_identifier, value),
            TopicAliasMaximum(value) => once(&mut self.topic_alias_maximum, value),
            ReasonString(value) => once(&mut self.reason_string, value),
            UserProperty(name, value) => {
                self.user_properties.push((name, value));
                Applied::Set
            }
            WildcardSubscriptionAvailable(value) => once(&mut self.wildcard_subscription_available, value),
            SubscriptionIdentifierAvailable(value) => once(&mut self.subscription_identifiers_available, value),
            SharedSubscriptionAvailable(value) => once(&mut self.shared_subscription_available, value),
            ServerKeepAlive(value) => once(&mut self.server_keep_alive_s, value),
            ResponseInformation(value) => once(&mut self.response_information, value),
            ServerReference(value) => once(&mut self.server_reference, value),
            AuthenticationMethod(value) => once(&mut self.authentication_method, value),
            AuthenticationData(value) => once(&mut self.authentication_data, value),
            _ => Applied::NotAllowed,
        }
    }

    fn write(&self, sink: &mut impl Sink) -> Result<(), Error> {
        use properties::{put_binary, put_flag, put_string, put_u16, put_u32};
        put_u32(sink, id::SESSION_EXPIRY_INTERVAL, self.session_expiry_interval_s);
        put_u16(sink, id::RECEIVE_MAXIMUM, self.receive_maximum);
        let maximum_qos = self.maximum_qos.filter(|&qos| qos != QoS::ExactlyOnce);
        put_flag(sink, id::MAXIMUM_QOS, maximum_qos.map(|qos| qos == QoS::AtLeastOnce));
        put_flag(sink, id::RETAIN_AVAILABLE, self.retain_available);
        put_u32(sink, id::MAXIMUM_PACKET_SIZE, self.maximum_packet_size);
        put_string(sink, id::ASSIGNED_CLIENT_IDENTIFIER, self.assigned_client_identifier.as_deref())?;
        put_u16(sink, id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        put_string(sink, id::REASON_STRING, self.reason_string.as_deref())?;
        properties::put_user_properties(sink, &self.user_properties)?;
        put_flag(sink, id::WILDCARD_SUBSCRIPTION_AVAILABLE, self.wildcard_subscription_available);
        put_flag(sink, id::SUBSCRIPTION_IDENTIFIER_AVAILABLE, self.subscription_identifiers_available);
        put_flag(sink, id::SHARED_SUBSCRIPTION_AVAILABLE, self.shared_subscription_available);
        put_u16(sink, id::SERVER_KEEP_ALIVE, self.server_keep_alive_s);
        put_string(sink, id::RESPONSE_INFORMATION, self.response_information.as_deref())?;
        put_string(sink, id::SERVER_REFERENCE, self.server_reference.as_deref())?;
        put_string(sink, id::AUTHENTICATION_METHOD, self.authentication_method.as_deref())?;
        put_binary(sink, id::AUTHENTICATION_DATA, self.authentication_data.as_deref())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mqtt::testing::{self, both_ways, bytes, decode, encode, string, user_properties, v5_only};
    use crate::mqtt::Packet;
    use proptest::option::of;
    use proptest::prelude::*;
    use proptest::sample::select;

    fn connack_properties() -> impl Strategy<Value = ConnAckProperties> {
        let max_qos = prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce)];
        (
            (of(any::<u32>()), of(1..=u16::MAX), of(max_qos), of(any::<bool>()), of(1..=u32::MAX), of(string())),
            (of(any::<u16>()), of(string()), user_properties(), of(any::<bool>()), of(any::<bool>())),
            (of(any::<bool>()), of(any::<u16>()), of(string()), of(string()), of(string()), of(bytes())),
        )
            .prop_map(|(a, b, c)| ConnAckProperties {
                session_expiry_interval_s: a.0,
                receive_maximum: a.1,
                maximum_qos: a.2,
                retain_available: a.3,
                maximum_packet_size: a.4,
                assigned_client_identifier: a.5,
                topic_alias_maximum: b.0,
                reason_string: b.1,
                user_properties: b.2,
                wildcard_subscription_available: b.3,
                subscription_identifiers_available: b.4,
                shared_subscription_available: c.0,
                server_keep_alive_s: c.1,
                response_information: c.2,
                server_reference: c.3,
                authentication_method: c.4,
                authentication_data: c.5,
            })
    }

    pub(crate) fn connack(version: Version) -> impl Strategy<Value = ConnAck> {
        let reason = match version {
            Version::V5 => select(reason::CONNACK).boxed(),
            _ => (0..=5u8).prop_map(|code| from_connack_return_code(code).unwrap()).boxed(),
        };
        // 3.1 has no Session Present flag.
        let session_present = if version == Version::V31 { Just(false).boxed() } else { any::<bool>().boxed() };
        (session_present, reason, v5_only(version, connack_properties(), ConnAckProperties::default()))
            .prop_map(|(session_present, reason, properties)| ConnAck { session_present, reason, properties })
    }

    fn accepted(session_present: bool) -> ConnAck {
        ConnAck { session_present, reason: ReasonCode::Success, properties: ConnAckProperties::default() }
    }

    #[test]
    fn v311_connack() {
        both_ways(&[0x20, 0x02, 0x01, 0x00], Packet::ConnAck(accepted(true)), Version::V311); // session present, accepted
        let refused = ConnAck { reason: ReasonCode::NotAuthorized, ..accepted(false) };
        both_ways(&[0x20, 0x02, 0x00, 0x05], Packet::ConnAck(refused), Version::V311);
        // not authorized
    }

    #[test]
    fn v31_connack_has_no_session_present() {
        assert_eq!(encode(&Packet::ConnAck(accepted(true)), Version::V31), [0x20, 0x02, 0x00, 0x00]);
        assert_eq!(decode(&[0x20, 0x02, 0x01, 0x00], Version::V31), Ok(Packet::ConnAck(accepted(false))));
    }

    #[test]
    fn v5_codes_map_onto_3x_return_codes() {
        let busy = ConnAck { reason: ReasonCode::ServerBusy, ..accepted(false) };
        assert_eq!(encode(&Packet::ConnAck(busy), Version::V311), [0x20, 0x02, 0x00, 0x03]);
        let unsupported = ConnAck { reason: ReasonCode::UnsupportedProtocolVersion, ..accepted(false) };
        assert_eq!(encode(&Packet::ConnAck(unsupported), Version::V311), [0x20, 0x02, 0x00, 0x01]);
    }

    #[test]
    fn v5_connack_with_properties() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0x20, 0x13, // CONNACK, remaining length 19
            0x00, // no session present
            0x00, // success
            0x10, // property length 16
            0x24, 0x01, // maximum QoS 1
            0x12, 0x00, 0x03, b'c', b'i', b'd', // assigned client identifier "cid"
            0x22, 0x00, 0x0a, // topic alias maximum 10
            0x2a, 0x00, // shared subscriptions not available
            0x13, 0x00, 0x1e, // server keep alive 30 s
        ];
        let connack = ConnAck {
            properties: ConnAckProperties {
                maximum_qos: Some(QoS::AtLeastOnce),
                assigned_client_identifier: Some("cid".into()),
                topic_alias_maximum: Some(10),
                shared_subscription_available: Some(false),
                server_keep_alive_s: Some(30),
                ..ConnAckProperties::default()
            },
            ..accepted(false)
        };
        both_ways(bytes, Packet::ConnAck(connack), Version::V5);
    }

    #[test]
    fn v5_refusal() {
        // CONNACK, remaining length 3, no session present, 0x84 unsupported version, no properties.
        let refused = ConnAck { reason: ReasonCode::UnsupportedProtocolVersion, ..accepted(false) };
        both_ways(&[0x20, 0x03, 0x00, 0x84, 0x00], Packet::ConnAck(refused), Version::V5);
    }

    #[test]
    fn maximum_qos_2_is_written_as_absent() {
        let connack = ConnAck {
            properties: ConnAckProperties { maximum_qos: Some(QoS::ExactlyOnce), ..ConnAckProperties::default() },
            ..accepted(false)
        };
        assert_eq!(encode(&Packet::ConnAck(connack), Version::V5), [0x20, 0x03, 0x00, 0x00, 0x00]);
    }

    #[test]
    fn bad_flags_codes_and_properties_are_refused() {
        // Reserved flag bits.
        assert_eq!(decode(&[0x20, 0x02, 0x02, 0x00], Version::V311).unwrap_err().reason(), ReasonCode::MalformedPacket);
        // Return code 6 is reserved in 3.1.1.
        assert_eq!(decode(&[0x20, 0x02, 0x00, 0x06], Version::V311).unwrap_err().reason(), ReasonCode::ProtocolError);
        // 0x10 is not a CONNACK reason code.
        assert_eq!(
            decode(&[0x20, 0x03, 0x00, 0x10, 0x00], Version::V5).unwrap_err().reason(),
            ReasonCode::ProtocolError
        );
        // Topic Alias is not a CONNACK property.
        let bytes = [0x20, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01];
        assert_eq!(decode(&bytes, Version::V5).unwrap_err().reason(), ReasonCode::MalformedPacket);
        // Retain Available twice.
        let bytes = [0x20, 0x07, 0x00, 0x00, 0x04, 0x25, 0x01, 0x25, 0x01];
        assert_eq!(decode(&bytes, Version::V5).unwrap_err().reason(), ReasonCode::ProtocolError);
    }

    proptest! {
        #[test]
        fn connack_round_trips(version in prop_oneof![Just(Version::V31), Just(Version::V311), Just(Version::V5)]
            .prop_flat_map(|version| connack(version).prop_map(move |c| (version, c))))
        {
            let (version, connack) = version;
            testing::round_trip(&Packet::ConnAck(connack), version)?;
        }
    }
}
