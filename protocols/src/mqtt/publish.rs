//! PUBLISH (section 3.3): an application message, either way.
//!
//! The payload is everything after the variable header, split off the input without a copy.
//! The topic name may be empty only in 5.0 with a Topic Alias (the receiver substitutes the
//! aliased name; checking the alias against the negotiated maximum is also the receiver's, as
//! is refusing Subscription Identifiers on a PUBLISH from a client).

use bytes::Bytes;

use super::primitives::{self, Sink};
use super::properties::{self, id, once, Applied, PayloadFormat, Property, PropertySet};
use super::{topic, Error, QoS, Version};

/// A PUBLISH packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    /// Empty in 5.0 when `properties.topic_alias` names the topic.
    pub topic: String,
    /// `Some` exactly when `qos` is above 0.
    pub packet_id: Option<u16>,
    pub properties: PublishProperties,
    pub payload: Bytes,
}

/// PUBLISH's properties (3.3.2.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishProperties {
    pub payload_format_indicator: Option<PayloadFormat>,
    pub message_expiry_interval_s: Option<u32>,
    pub topic_alias: Option<u16>,
    pub response_topic: Option<String>,
    pub correlation_data: Option<Bytes>,
    pub user_properties: Vec<(String, String)>,
    /// One per matching subscription that had an identifier (server to client only).
    pub subscription_identifiers: Vec<u32>,
    pub content_type: Option<String>,
}

/// The fixed header flag bits (3.3.1).
mod flag {
    pub const DUP: u8 = 0b1000;
    pub const QOS_SHIFT: u8 = 1;
    pub const RETAIN: u8 = 0b0001;
}

impl Publish {
    pub(crate) fn read(body: &mut Bytes, flags: u8, version: Version) -> Result<Publish, Error> {
        let dup = flags & flag::DUP != 0;
        let retain = flags & flag::RETAIN != 0;
        let qos = QoS::from_u8((flags >> flag::QOS_SHIFT) & 0b11).ok_or(Error::Malformed("PUBLISH with QoS 3"))?;
        if dup && qos == QoS::AtMostOnce {
            return Err(match version {
                Version::V5 => Error::Protocol("DUP set on a QoS 0 PUBLISH"),
                _ => Error::Malformed("DUP set on a QoS 0 PUBLISH"),
            });
        }
        let topic = primitives::string(body, "topic name")?;
        let packet_id = match qos {
            QoS::AtMostOnce => None,
            _ => Some(primitives::packet_id(body, "PUBLISH")?),
        };
        let properties: PublishProperties = match version {
            Version::V5 => properties::read(body, "PUBLISH")?,
            _ => PublishProperties::default(),
        };
        check_topic(&topic, &properties, version)?;
        let payload = body.split_to(body.len());
        Ok(Publish { dup, qos, retain, topic, packet_id, properties, payload })
    }

    /// The fixed header flags: DUP, QoS, RETAIN.
    pub(crate) fn flags(&self) -> u8 {
        let dup = if self.dup { flag::DUP } else { 0 };
        let retain = if self.retain { flag::RETAIN } else { 0 };
        dup | (self.qos as u8) << flag::QOS_SHIFT | retain
    }

    pub(crate) fn write(&self, version: Version, sink: &mut impl Sink) -> Result<(), Error> {
        if (self.qos == QoS::AtMostOnce) != self.packet_id.is_none() {
            return Err(Error::CannotEncode("PUBLISH packet identifier must be present exactly when QoS > 0"));
        }
        sink.string(&self.topic)?;
        if let Some(packet_id) = self.packet_id {
            sink.u16(packet_id);
        }
        if version == Version::V5 {
            properties::write(&self.properties, sink)?;
        }
        sink.bytes(&self.payload);
        Ok(())
    }
}

/// Checks the topic name (3.3.2.1) and the Topic Alias (3.3.2.3.4).
fn check_topic(topic: &str, properties: &PublishProperties, version: Version) -> Result<(), Error> {
    if properties.topic_alias == Some(0) {
        return Err(Error::TopicAliasInvalid);
    }
    if topic.is_empty() {
        return match version {
            Version::V5 if properties.topic_alias.is_some() => Ok(()),
            Version::V5 => Err(Error::Protocol("empty topic name without a topic alias")),
            _ => Err(Error::TopicNameInvalid("empty topic name")),
        };
    }
    if !topic::valid_name(topic) {
        return Err(Error::TopicNameInvalid("wildcard in a topic name"));
    }
    Ok(())
}

impl PropertySet for PublishProperties {
    fn apply(&mut self, property: Property) -> Applied {
        match property {
            Property::PayloadFormatIndicator(value) => once(&mut self.payload_format_indicator, value),
            Property::MessageExpiryInterval(value) => once(&mut self.message_expiry_interval_s, value),
            Property::TopicAlias(value) => once(&mut self.topic_alias, value),
            Property::ResponseTopic(value) => once(&mut self.response_topic, value),
            Property::CorrelationData(value) => once(&mut self.correlation_data, value),
            Property::UserProperty(name, value) => {
                self.user_properties.push((name, value));
                Applied::Set
            }
            Property::SubscriptionIdentifier(value) => {
                self.subscription_identifiers.push(value);
                Applied::Set
            }
            Property::ContentType(value) => once(&mut self.content_type, value),
            _ => Applied::NotAllowed,
        }
    }

    fn write(&self, sink: &mut impl Sink) -> Result<(), Error> {
        properties::put_payload_format(sink, self.payload_format_indicator);
        properties::put_u32(sink, id::MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval_s);
        properties::put_u16(sink, id::TOPIC_ALIAS, self.topic_alias);
        properties::put_string(sink, id::RESPONSE_TOPIC, self.response_topic.as_deref())?;
        properties::put_binary(sink, id::CORRELATION_DATA, self.correlation_data.as_deref())?;
        properties::put_user_properties(sink, &self.user_properties)?;
        for &identifier in &self.subscription_identifiers {
            properties::put_varint(sink, id::SUBSCRIPTION_IDENTIFIER, Some(identifier))?;
        }
        properties::put_string(sink, id::CONTENT_TYPE, self.content_type.as_deref())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mqtt::primitives::VARINT_MAX;
    use crate::mqtt::testing::{self, both_ways, bytes, decode, qos, string, topic_name, user_properties, v5_only};
    use crate::mqtt::{len, Packet, ReasonCode};
    use proptest::option::of;
    use proptest::prelude::*;

    fn publish_properties() -> impl Strategy<Value = PublishProperties> {
        let format = prop_oneof![Just(PayloadFormat::Unspecified), Just(PayloadFormat::Utf8)];
        (
            (of(format), of(any::<u32>()), of(1..=u16::MAX), of(topic_name()), of(bytes())),
            (user_properties(), proptest::collection::vec(1..=VARINT_MAX, 0..3), of(string())),
        )
            .prop_map(|((format, expiry, alias, response, correlation), (user, identifiers, content))| {
                PublishProperties {
                    payload_format_indicator: format,
                    message_expiry_interval_s: expiry,
                    topic_alias: alias,
                    response_topic: response,
                    correlation_data: correlation,
                    user_properties: user,
                    subscription_identifiers: identifiers,
                    content_type: content,
                }
            })
    }

    pub(crate) fn publish(version: Version) -> impl Strategy<Value = Publish> {
        (
            (any::<bool>(), qos(), any::<bool>(), topic_name(), testing::packet_id()),
            v5_only(version, publish_properties(), PublishProperties::default()),
            bytes(),
        )
            .prop_map(|((dup, qos, retain, topic, id), properties, payload)| {
                let packet_id = (qos != QoS::AtMostOnce).then_some(id);
                let dup = dup && qos != QoS::AtMostOnce;
                // With an alias the topic may be left out.
                let topic = if properties.topic_alias.is_some() && retain { String::new() } else { topic };
                Publish { dup, qos, retain, topic, packet_id, properties, payload }
            })
    }

    fn qos0(topic: &str, payload: &'static [u8]) -> Publish {
        Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: topic.into(),
            packet_id: None,
            properties: PublishProperties::default(),
            payload: Bytes::from_static(payload),
        }
    }

    #[test]
    fn v311_qos0_and_qos1() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0x30, 0x07, // PUBLISH QoS 0, remaining length 7
            0x00, 0x03, b'a', b'/', b'b', // topic name "a/b"
            b'h', b'i', // payload "hi"
        ];
        both_ways(bytes, Packet::Publish(qos0("a/b", b"hi")), Version::V311);
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0x3b, 0x06, // PUBLISH DUP, QoS 1, RETAIN; remaining length 6
            0x00, 0x01, b't', // topic name "t"
            0x00, 0x0a, // packet identifier 10
            b'x', // payload "x"
        ];
        let publish =
            Publish { dup: true, qos: QoS::AtLeastOnce, retain: true, packet_id: Some(10), ..qos0("t", b"x") };
        both_ways(bytes, Packet::Publish(publish), Version::V311);
    }

    #[test]
    fn v5_qos2_with_properties() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0x34, 0x16, // PUBLISH QoS 2, remaining length 22
            0x00, 0x01, b't', // topic name "t"
            0x00, 0x02, // packet identifier 2
            0x0e, // property length 14
            0x01, 0x01, // payload format indicator: UTF-8
            0x23, 0x00, 0x05, // topic alias 5
            0x0b, 0x01, // subscription identifier 1
            0x0b, 0x80, 0x01, // subscription identifier 128
            0x03, 0x00, 0x01, b'j', // content type "j"
            b'{', b'}', // payload
        ];
        let publish = Publish {
            qos: QoS::ExactlyOnce,
            packet_id: Some(2),
            properties: PublishProperties {
                payload_format_indicator: Some(PayloadFormat::Utf8),
                topic_alias: Some(5),
                subscription_identifiers: vec![1, 128],
                content_type: Some("j".into()),
                ..PublishProperties::default()
            },
            ..qos0("t", b"{}")
        };
        both_ways(bytes, Packet::Publish(publish), Version::V5);
    }

    #[test]
    fn v5_empty_topic_with_an_alias() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0x30, 0x06, // PUBLISH QoS 0, remaining length 6
            0x00, 0x00, // topic name ""
            0x03, 0x23, 0x00, 0x07, // property length 3, topic alias 7
        ];
        let mut publish = qos0("", b"");
        publish.properties.topic_alias = Some(7);
        both_ways(bytes, Packet::Publish(publish), Version::V5);
    }

    #[test]
    fn the_payload_is_not_copied() {
        let mut buf = bytes::BytesMut::from(&[0x30, 0x05, 0x00, 0x01, b't', b'p', b'q'][..]);
        let payload_at = buf[5..].as_ptr();
        let Ok(Some(Packet::Publish(publish))) = crate::mqtt::read(&mut buf, Version::V311, 64) else { panic!() };
        assert_eq!(publish.payload.as_ptr(), payload_at);
    }

    #[test]
    fn qos_3_is_malformed() {
        let err = decode(&[0x36, 0x05, 0x00, 0x01, b't', 0x00, 0x01], Version::V5).unwrap_err();
        assert_eq!(err, Error::Malformed("PUBLISH with QoS 3"));
    }

    #[test]
    fn dup_on_qos_0_is_a_protocol_error_in_5_and_malformed_in_3x() {
        let bytes = [0x38, 0x03, 0x00, 0x01, b't'];
        assert_eq!(decode(&bytes, Version::V311).unwrap_err().reason(), ReasonCode::MalformedPacket);
        let v5 = [0x38, 0x04, 0x00, 0x01, b't', 0x00];
        assert_eq!(decode(&v5, Version::V5).unwrap_err().reason(), ReasonCode::ProtocolError);
    }

    #[test]
    fn wildcards_in_the_topic_name_are_invalid() {
        for topic in [b'+', b'#'] {
            let err = decode(&[0x30, 0x03, 0x00, 0x01, topic], Version::V311).unwrap_err();
            assert_eq!(err.reason(), ReasonCode::TopicNameInvalid);
        }
        let err = decode(&[0x30, 0x06, 0x00, 0x03, b'a', b'/', b'#', 0x00], Version::V5).unwrap_err();
        assert_eq!(err.reason(), ReasonCode::TopicNameInvalid);
    }

    #[test]
    fn an_empty_topic_needs_an_alias_in_5_and_is_invalid_in_3x() {
        assert_eq!(
            decode(&[0x30, 0x02, 0x00, 0x00], Version::V311).unwrap_err().reason(),
            ReasonCode::TopicNameInvalid
        );
        assert_eq!(
            decode(&[0x30, 0x03, 0x00, 0x00, 0x00], Version::V5).unwrap_err().reason(),
            ReasonCode::ProtocolError
        );
    }

    #[test]
    fn a_topic_name_that_is_not_utf8_or_has_nul_is_malformed() {
        let err = decode(&[0x30, 0x04, 0x00, 0x02, b'a', 0xff], Version::V311).unwrap_err();
        assert_eq!(err, Error::InvalidUtf8 { field: "topic name" });
        assert_eq!(err.reason(), ReasonCode::MalformedPacket);
        let err = decode(&[0x30, 0x04, 0x00, 0x02, b'a', 0x00], Version::V311).unwrap_err();
        assert_eq!(err, Error::NullCharacter { field: "topic name" });
        assert_eq!(err.reason(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn topic_alias_0_is_invalid() {
        let err = decode(&[0x30, 0x07, 0x00, 0x01, b't', 0x03, 0x23, 0x00, 0x00], Version::V5).unwrap_err();
        assert_eq!(err, Error::TopicAliasInvalid);
        assert_eq!(err.reason(), ReasonCode::TopicAliasInvalid);
    }

    #[test]
    fn packet_id_0_is_a_protocol_error() {
        let err = decode(&[0x32, 0x05, 0x00, 0x01, b't', 0x00, 0x00], Version::V311).unwrap_err();
        assert_eq!(err, Error::PacketIdZero { packet: "PUBLISH" });
        assert_eq!(err.reason(), ReasonCode::ProtocolError);
    }

    #[test]
    fn a_missing_packet_id_is_malformed() {
        assert_eq!(decode(&[0x32, 0x04, 0x00, 0x01, b't', 0x00], Version::V311).unwrap_err().reason().code(), 0x81);
    }

    #[test]
    fn repeated_properties() {
        // Subscription identifiers repeat; a second topic alias is a protocol error.
        let bytes = [0x30, 0x0a, 0x00, 0x01, b't', 0x06, 0x23, 0x00, 0x01, 0x23, 0x00, 0x01];
        assert_eq!(decode(&bytes, Version::V5).unwrap_err().reason(), ReasonCode::ProtocolError);
        // Session Expiry Interval is not a PUBLISH property.
        let bytes = [0x30, 0x09, 0x00, 0x01, b't', 0x05, 0x11, 0x00, 0x00, 0x00, 0x01];
        assert_eq!(decode(&bytes, Version::V5).unwrap_err().reason(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn a_packet_id_must_match_the_qos_to_encode() {
        let publish = Publish { packet_id: Some(1), ..qos0("t", b"") };
        assert!(matches!(len(&Packet::Publish(publish), Version::V311), Err(Error::CannotEncode(_))));
        let publish = Publish { qos: QoS::AtLeastOnce, ..qos0("t", b"") };
        assert!(matches!(len(&Packet::Publish(publish), Version::V311), Err(Error::CannotEncode(_))));
    }

    #[test]
    fn v5_properties_are_dropped_for_3x() {
        let mut publish = qos0("t", b"p");
        publish.properties.content_type = Some("text".into());
        assert_eq!(testing::encode(&Packet::Publish(publish), Version::V311), [0x30, 0x04, 0x00, 0x01, b't', b'p']);
    }

    proptest! {
        #[test]
        fn publish_round_trips(version in prop_oneof![Just(Version::V311), Just(Version::V5)]
            .prop_flat_map(|version| publish(version).prop_map(move |p| (version, p))))
        {
            let (version, publish) = version;
            testing::round_trip(&Packet::Publish(publish), version)?;
        }
    }
}
