//! Properties (MQTT 5.0 section 2.2.2): a length, then identifier-value pairs, each value typed
//! by its identifier. They exist only in 5.0; on a 3.x connection nothing is read and nothing
//! written.
//!
//! Reading decodes each property into a typed [`Property`], checking the ranges the spec sets
//! for every packet (a flag is 0 or 1, a maximum is not 0, ...), then hands it to the packet's
//! [`PropertySet`], which keeps those the packet allows and says when one is not allowed there
//! (Malformed Packet) or comes a second time (Protocol Error). Each packet's set is a struct of
//! `Option`s next to the packet; the one shared by the acknowledgements is here.

use bytes::Bytes;

use super::primitives::{self, count, Sink};
use super::{Error, QoS};

/// Property identifiers (2.2.2.2).
pub(crate) mod id {
    pub const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    pub const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    pub const CONTENT_TYPE: u8 = 0x03;
    pub const RESPONSE_TOPIC: u8 = 0x08;
    pub const CORRELATION_DATA: u8 = 0x09;
    pub const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
    pub const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    pub const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub const AUTHENTICATION_METHOD: u8 = 0x15;
    pub const AUTHENTICATION_DATA: u8 = 0x16;
    pub const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
    pub const WILL_DELAY_INTERVAL: u8 = 0x18;
    pub const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    pub const RESPONSE_INFORMATION: u8 = 0x1A;
    pub const SERVER_REFERENCE: u8 = 0x1C;
    pub const REASON_STRING: u8 = 0x1F;
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub const TOPIC_ALIAS: u8 = 0x23;
    pub const MAXIMUM_QOS: u8 = 0x24;
    pub const RETAIN_AVAILABLE: u8 = 0x25;
    pub const USER_PROPERTY: u8 = 0x26;
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    pub const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
    pub const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
    pub const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;
}

/// The Payload Format Indicator's values (3.3.2.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadFormat {
    /// 0: unspecified bytes.
    Unspecified = 0,
    /// 1: UTF-8 encoded character data.
    Utf8 = 1,
}

/// One property as read, its value within the spec's range. The variants are named as in the
/// spec, "User Property" included.
#[allow(clippy::enum_variant_names)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Property {
    PayloadFormatIndicator(PayloadFormat),
    MessageExpiryInterval(u32),
    ContentType(String),
    ResponseTopic(String),
    CorrelationData(Bytes),
    SubscriptionIdentifier(u32),
    SessionExpiryInterval(u32),
    AssignedClientIdentifier(String),
    ServerKeepAlive(u16),
    AuthenticationMethod(String),
    AuthenticationData(Bytes),
    RequestProblemInformation(bool),
    WillDelayInterval(u32),
    RequestResponseInformation(bool),
    ResponseInformation(String),
    ServerReference(String),
    ReasonString(String),
    ReceiveMaximum(u16),
    TopicAliasMaximum(u16),
    TopicAlias(u16),
    MaximumQoS(QoS),
    RetainAvailable(bool),
    UserProperty(String, String),
    MaximumPacketSize(u32),
    WildcardSubscriptionAvailable(bool),
    SubscriptionIdentifierAvailable(bool),
    SharedSubscriptionAvailable(bool),
}

/// What a [`PropertySet`] made of a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    Set,
    Duplicate,
    NotAllowed,
}

/// Fills an `Option` that must be given at most once.
pub(crate) fn once<T>(slot: &mut Option<T>, value: T) -> Applied {
    if slot.is_some() {
        return Applied::Duplicate;
    }
    *slot = Some(value);
    Applied::Set
}

/// The properties one packet type allows.
pub(crate) trait PropertySet: Default {
    /// Keeps `property` if this packet allows it.
    fn apply(&mut self, property: Property) -> Applied;
    /// Writes every property that is set (without the length prefix).
    fn write(&self, sink: &mut impl Sink) -> Result<(), Error>;
}

/// Reads a property length and the properties within it, for `packet`.
pub(crate) fn read<P: PropertySet>(body: &mut Bytes, packet: &'static str) -> Result<P, Error> {
    let bytes = primitives::varint(body, "property length")? as usize;
    if body.len() < bytes {
        return Err(Error::Truncated { field: "properties" });
    }
    let mut block = body.split_to(bytes);
    let mut set = P::default();
    while !block.is_empty() {
        let (property_id, property) = property(&mut block, packet)?;
        match set.apply(property) {
            Applied::Set => {}
            Applied::Duplicate => return Err(Error::DuplicateProperty { property: property_id, packet }),
            Applied::NotAllowed => return Err(Error::PropertyNotAllowed { property: property_id.into(), packet }),
        }
    }
    Ok(set)
}

/// Writes a property length and the properties.
pub(crate) fn write(set: &impl PropertySet, sink: &mut impl Sink) -> Result<(), Error> {
    sink.varint(count(|counter| set.write(counter))?)?;
    set.write(sink)
}

/// Reads one property: its identifier and its value.
fn property(block: &mut Bytes, packet: &'static str) -> Result<(u8, Property), Error> {
    use primitives::{binary, string, u16, u32, varint};
    use Property::*;
    let wide_id = varint(block, "property identifier")?;
    let Ok(property_id) = u8::try_from(wide_id) else {
        return Err(Error::PropertyNotAllowed { property: wide_id, packet });
    };
    let property = match property_id {
        id::PAYLOAD_FORMAT_INDICATOR => PayloadFormatIndicator(match flag(block, property_id)? {
            false => PayloadFormat::Unspecified,
            true => PayloadFormat::Utf8,
        }),
        id::MESSAGE_EXPIRY_INTERVAL => MessageExpiryInterval(u32(block, "message expiry interval")?),
        id::CONTENT_TYPE => ContentType(string(block, "content type")?),
        id::RESPONSE_TOPIC => ResponseTopic(string(block, "response topic")?),
        id::CORRELATION_DATA => CorrelationData(binary(block, "correlation data")?),
        id::SUBSCRIPTION_IDENTIFIER => {
            SubscriptionIdentifier(non_zero(varint(block, "subscription identifier")?, property_id)?)
        }
        id::SESSION_EXPIRY_INTERVAL => SessionExpiryInterval(u32(block, "session expiry interval")?),
        id::ASSIGNED_CLIENT_IDENTIFIER => AssignedClientIdentifier(string(block, "assigned client identifier")?),
        id::SERVER_KEEP_ALIVE => ServerKeepAlive(u16(block, "server keep alive")?),
        id::AUTHENTICATION_METHOD => AuthenticationMethod(string(block, "authentication method")?),
        id::AUTHENTICATION_DATA => AuthenticationData(binary(block, "authentication data")?),
        id::REQUEST_PROBLEM_INFORMATION => RequestProblemInformation(flag(block, property_id)?),
        id::WILL_DELAY_INTERVAL => WillDelayInterval(u32(block, "will delay interval")?),
        id::REQUEST_RESPONSE_INFORMATION => RequestResponseInformation(flag(block, property_id)?),
        id::RESPONSE_INFORMATION => ResponseInformation(string(block, "response information")?),
        id::SERVER_REFERENCE => ServerReference(string(block, "server reference")?),
        id::REASON_STRING => ReasonString(string(block, "reason string")?),
        id::RECEIVE_MAXIMUM => ReceiveMaximum(non_zero(u16(block, "receive maximum")?.into(), property_id)? as u16),
        id::TOPIC_ALIAS_MAXIMUM => TopicAliasMaximum(u16(block, "topic alias maximum")?),
        id::TOPIC_ALIAS => TopicAlias(u16(block, "topic alias")?),
        id::MAXIMUM_QOS => MaximumQoS(match flag(block, property_id)? {
            false => QoS::AtMostOnce,
            true => QoS::AtLeastOnce,
        }),
        id::RETAIN_AVAILABLE => RetainAvailable(flag(block, property_id)?),
        id::USER_PROPERTY => UserProperty(string(block, "user property name")?, string(block, "user property value")?),
        id::MAXIMUM_PACKET_SIZE => MaximumPacketSize(non_zero(u32(block, "maximum packet size")?, property_id)?),
        id::WILDCARD_SUBSCRIPTION_AVAILABLE => WildcardSubscriptionAvailable(flag(block, property_id)?),
        id::SUBSCRIPTION_IDENTIFIER_AVAILABLE => SubscriptionIdentifierAvailable(flag(block, property_id)?),
        id::SHARED_SUBSCRIPTION_AVAILABLE => SharedSubscriptionAvailable(flag(block, property_id)?),
        _ => return Err(Error::PropertyNotAllowed { property: wide_id, packet }),
    };
    Ok((property_id, property))
}

/// Reads a one-byte property that must be 0 or 1.
fn flag(block: &mut Bytes, property: u8) -> Result<bool, Error> {
    match primitives::u8(block, "property value")? {
        0 => Ok(false),
        1 => Ok(true),
        value => Err(Error::InvalidPropertyValue { property, value: value.into() }),
    }
}

/// Refuses a value of 0 for a property where 0 is a protocol error.
fn non_zero(value: u32, property: u8) -> Result<u32, Error> {
    match value {
        0 => Err(Error::InvalidPropertyValue { property, value }),
        value => Ok(value),
    }
}

/// Writes a one-byte property that is 0 or 1.
pub(crate) fn put_flag(sink: &mut impl Sink, property: u8, value: Option<bool>) {
    if let Some(value) = value {
        sink.u8(property);
        sink.u8(value.into());
    }
}

/// Writes a two-byte integer property.
pub(crate) fn put_u16(sink: &mut impl Sink, property: u8, value: Option<u16>) {
    if let Some(value) = value {
        sink.u8(property);
        sink.u16(value);
    }
}

/// Writes a four-byte integer property.
pub(crate) fn put_u32(sink: &mut impl Sink, property: u8, value: Option<u32>) {
    if let Some(value) = value {
        sink.u8(property);
        sink.u32(value);
    }
}

/// Writes a Variable Byte Integer property.
pub(crate) fn put_varint(sink: &mut impl Sink, property: u8, value: Option<u32>) -> Result<(), Error> {
    if let Some(value) = value {
        sink.u8(property);
        sink.varint(value as usize)?;
    }
    Ok(())
}

/// Writes a string property.
pub(crate) fn put_string(sink: &mut impl Sink, property: u8, value: Option<&str>) -> Result<(), Error> {
    if let Some(value) = value {
        sink.u8(property);
        sink.string(value)?;
    }
    Ok(())
}

/// Writes a binary property.
pub(crate) fn put_binary(sink: &mut impl Sink, property: u8, value: Option<&[u8]>) -> Result<(), Error> {
    if let Some(value) = value {
        sink.u8(property);
        sink.binary(value)?;
    }
    Ok(())
}

/// Writes the Payload Format Indicator.
pub(crate) fn put_payload_format(sink: &mut impl Sink, value: Option<PayloadFormat>) {
    put_flag(sink, id::PAYLOAD_FORMAT_INDICATOR, value.map(|format| format == PayloadFormat::Utf8));
}

/// Writes every user property, in order.
pub(crate) fn put_user_properties(sink: &mut impl Sink, pairs: &[(String, String)]) -> Result<(), Error> {
    for (name, value) in pairs {
        sink.u8(id::USER_PROPERTY);
        sink.string(name)?;
        sink.string(value)?;
    }
    Ok(())
}

/// The properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AckProperties {
    pub reason_string: Option<String>,
    pub user_properties: Vec<(String, String)>,
}

impl AckProperties {
    /// Whether no property is set (so PUBACK & co. can take their short form).
    pub fn is_empty(&self) -> bool {
        self.reason_string.is_none() && self.user_properties.is_empty()
    }
}

impl PropertySet for AckProperties {
    fn apply(&mut self, property: Property) -> Applied {
        match property {
            Property::ReasonString(value) => once(&mut self.reason_string, value),
            Property::UserProperty(name, value) => {
                self.user_properties.push((name, value));
                Applied::Set
            }
            _ => Applied::NotAllowed,
        }
    }

    fn write(&self, sink: &mut impl Sink) -> Result<(), Error> {
        put_string(sink, id::REASON_STRING, self.reason_string.as_deref())?;
        put_user_properties(sink, &self.user_properties)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mqtt::testing::{string, user_properties};
    use bytes::BytesMut;
    use proptest::prelude::*;

    pub(crate) fn ack_properties() -> impl Strategy<Value = AckProperties> {
        (proptest::option::of(string()), user_properties())
            .prop_map(|(reason_string, user_properties)| AckProperties { reason_string, user_properties })
    }

    fn read_ack(bytes: &'static [u8]) -> Result<AckProperties, Error> {
        let mut body = Bytes::from_static(bytes);
        let set = read(&mut body, "PUBACK")?;
        assert!(body.is_empty());
        Ok(set)
    }

    #[test]
    fn reads_and_writes_a_property_block() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0x0c, // property length 12
            0x1f, 0x00, 0x02, b'n', b'o', // reason string "no"
            0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // user property ("k", "v")
        ];
        let set = AckProperties { reason_string: Some("no".into()), user_properties: vec![("k".into(), "v".into())] };
        assert_eq!(read_ack(bytes), Ok(set.clone()));
        let mut out = BytesMut::new();
        write(&set, &mut out).unwrap();
        assert_eq!(&out[..], bytes);
    }

    #[test]
    fn user_properties_repeat_and_keep_their_order() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0x0e, // property length 14
            0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'2', // ("k", "2")
            0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'1', // ("k", "1")
        ];
        let pairs = vec![("k".to_owned(), "2".to_owned()), ("k".to_owned(), "1".to_owned())];
        assert_eq!(read_ack(bytes).unwrap().user_properties, pairs);
    }

    #[test]
    fn a_second_reason_string_is_a_protocol_error() {
        let bytes: &[u8] = &[0x08, 0x1f, 0x00, 0x01, b'a', 0x1f, 0x00, 0x01, b'b'];
        let err = read_ack(bytes).unwrap_err();
        assert_eq!(err, Error::DuplicateProperty { property: 0x1f, packet: "PUBACK" });
        assert_eq!(err.reason().code(), 0x82);
    }

    #[test]
    fn a_property_not_allowed_or_unknown_is_malformed() {
        // Session Expiry Interval on PUBACK.
        let err = read_ack(&[0x05, 0x11, 0, 0, 0, 1]).unwrap_err();
        assert_eq!(err, Error::PropertyNotAllowed { property: 0x11, packet: "PUBACK" });
        assert_eq!(err.reason().code(), 0x81);
        // 0x04 is no property.
        assert_eq!(read_ack(&[0x02, 0x04, 0x00]).unwrap_err().reason().code(), 0x81);
    }

    #[test]
    fn a_block_longer_than_the_packet_or_a_value_past_the_block_is_malformed() {
        assert_eq!(read_ack(&[0x09, 0x1f, 0x00, 0x01, b'a']), Err(Error::Truncated { field: "properties" }));
        // The block is 3 bytes; the string inside claims 2 more than it has.
        let mut body = Bytes::from_static(&[0x03, 0x1f, 0x00, 0x02, b'a', b'b']);
        let err = read::<AckProperties>(&mut body, "PUBACK").unwrap_err();
        assert_eq!(err, Error::Truncated { field: "reason string" });
    }

    #[test]
    fn values_out_of_range_are_protocol_errors() {
        for (bytes, property, value) in [
            (&[0x17, 0x02][..], 0x17, 2),       // request problem information 2
            (&[0x19, 0x07][..], 0x19, 7),       // request response information 7
            (&[0x01, 0x02][..], 0x01, 2),       // payload format indicator 2
            (&[0x24, 0x02][..], 0x24, 2),       // maximum QoS 2
            (&[0x25, 0x02][..], 0x25, 2),       // retain available 2
            (&[0x28, 0x02][..], 0x28, 2),       // wildcard subscription available 2
            (&[0x29, 0x02][..], 0x29, 2),       // subscription identifiers available 2
            (&[0x2a, 0x02][..], 0x2a, 2),       // shared subscription available 2
            (&[0x21, 0x00, 0x00][..], 0x21, 0), // receive maximum 0
            (&[0x27, 0, 0, 0, 0][..], 0x27, 0), // maximum packet size 0
            (&[0x0b, 0x00][..], 0x0b, 0),       // subscription identifier 0
        ] {
            let mut block = Bytes::copy_from_slice(bytes);
            let err = super::property(&mut block, "CONNECT").unwrap_err();
            assert_eq!(err, Error::InvalidPropertyValue { property, value });
            assert_eq!(err.reason().code(), 0x82);
        }
    }

    proptest! {
        #[test]
        fn ack_properties_round_trip(set in ack_properties()) {
            let mut out = BytesMut::new();
            write(&set, &mut out).unwrap();
            prop_assert_eq!(count(|sink| write(&set, sink)).unwrap(), out.len());
            let mut body = out.freeze();
            prop_assert_eq!(read::<AckProperties>(&mut body, "PUBACK").unwrap(), set);
            prop_assert!(body.is_empty());
        }
    }
}
