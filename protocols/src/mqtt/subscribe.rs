//! SUBSCRIBE (section 3.8): topic filters, each with its subscription options.
//!
//! Filters are kept as sent, valid or not: an invalid filter is refused per filter in SUBACK
//! (0x8F), not by failing the packet, so the caller checks each with
//! [`topic::valid_filter`](super::topic::valid_filter). What fails the packet: no filter at all,
//! bad option bits, and in 5.0 No Local on a shared subscription.

use bytes::Bytes;

use super::primitives::{self, Sink};
use super::properties::{self, id, once, Applied, Property, PropertySet};
use super::{Error, QoS, Version};

/// A SUBSCRIBE packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    pub packet_id: u16,
    pub filters: Vec<(String, SubscriptionOptions)>,
    pub properties: SubscribeProperties,
}

/// A filter's options (3.8.3.1); before 5.0 only the QoS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SubscriptionOptions {
    pub qos: QoS,
    pub no_local: bool,
    pub retain_as_published: bool,
    pub retain_handling: RetainHandling,
}

/// Whether retained messages are sent when the subscription is made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// 1: send them only if the subscription does not exist yet.
    SendAtSubscribeIfNew = 1,
    /// 2: do not send them.
    DoNotSend = 2,
}

/// SUBSCRIBE's properties (3.8.2.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscribeProperties {
    pub subscription_identifier: Option<u32>,
    pub user_properties: Vec<(String, String)>,
}

/// The options byte's fields.
mod option {
    pub const QOS: u8 = 0b0000_0011;
    pub const NO_LOCAL: u8 = 0b0000_0100;
    pub const RETAIN_AS_PUBLISHED: u8 = 0b0000_1000;
    pub const RETAIN_HANDLING_SHIFT: u8 = 4;
    pub const RESERVED: u8 = 0b1100_0000;
}

impl Subscribe {
    pub(crate) fn read(body: &mut Bytes, version: Version) -> Result<Subscribe, Error> {
        let packet_id = primitives::packet_id(body, "SUBSCRIBE")?;
        let properties = match version {
            Version::V5 => properties::read(body, "SUBSCRIBE")?,
            _ => SubscribeProperties::default(),
        };
        let mut filters = Vec::new();
        while !body.is_empty() {
            let filter = primitives::string(body, "topic filter")?;
            let options = SubscriptionOptions::read(primitives::u8(body, "subscription options")?, version)?;
            if options.no_local && filter.starts_with("$share/") {
                return Err(Error::Protocol("No Local on a shared subscription"));
            }
            filters.push((filter, options));
        }
        if filters.is_empty() {
            return Err(Error::Protocol("SUBSCRIBE without a topic filter"));
        }
        Ok(Subscribe { packet_id, filters, properties })
    }

    pub(crate) fn write(&self, version: Version, sink: &mut impl Sink) -> Result<(), Error> {
        sink.u16(self.packet_id);
        if version == Version::V5 {
            properties::write(&self.properties, sink)?;
        }
        for (filter, options) in &self.filters {
            sink.string(filter)?;
            sink.u8(options.byte(version));
        }
        Ok(())
    }
}

impl SubscriptionOptions {
    /// Decodes an options byte: before 5.0 only 0, 1 or 2 (malformed otherwise); in 5.0 the
    /// reserved bits must be 0 (malformed), and QoS 3 or Retain Handling 3 are protocol errors.
    fn read(byte: u8, version: Version) -> Result<SubscriptionOptions, Error> {
        if version != Version::V5 {
            let qos = QoS::from_u8(byte).ok_or(Error::Malformed("subscription options other than a QoS"))?;
            return Ok(SubscriptionOptions { qos, ..SubscriptionOptions::default() });
        }
        if byte & option::RESERVED != 0 {
            return Err(Error::Malformed("subscription options reserved bits set"));
        }
        let qos = QoS::from_u8(byte & option::QOS).ok_or(Error::Protocol("subscription QoS 3"))?;
        let retain_handling = match byte >> option::RETAIN_HANDLING_SHIFT {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendAtSubscribeIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(Error::Protocol("retain handling 3")),
        };
        Ok(SubscriptionOptions {
            qos,
            no_local: byte & option::NO_LOCAL != 0,
            retain_as_published: byte & option::RETAIN_AS_PUBLISHED != 0,
            retain_handling,
        })
    }

    /// Encodes the options byte (only the QoS before 5.0).
    fn byte(&self, version: Version) -> u8 {
        let qos = self.qos as u8;
        if version != Version::V5 {
            return qos;
        }
        let no_local = if self.no_local { option::NO_LOCAL } else { 0 };
        let retain_as_published = if self.retain_as_published { option::RETAIN_AS_PUBLISHED } else { 0 };
        qos | no_local | retain_as_published | (self.retain_handling as u8) << option::RETAIN_HANDLING_SHIFT
    }
}

impl PropertySet for SubscribeProperties {
    fn apply(&mut self, property: Property) -> Applied {
        match property {
            Property::SubscriptionIdentifier(value) => once(&mut self.subscription_identifier, value),
            Property::UserProperty(name, value) => {
                self.user_properties.push((name, value));
                Applied::Set
            }
            _ => Applied::NotAllowed,
        }
    }

    fn write(&self, sink: &mut impl Sink) -> Result<(), Error> {
        properties::put_varint(sink, id::SUBSCRIPTION_IDENTIFIER, self.subscription_identifier)?;
        properties::put_user_properties(sink, &self.user_properties)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mqtt::primitives::VARINT_MAX;
    use crate::mqtt::testing::{self, both_ways, decode, packet_id, qos, topic_filter, user_properties, v5_only};
    use crate::mqtt::{Packet, ReasonCode};
    use proptest::prelude::*;

    fn options(version: Version) -> impl Strategy<Value = SubscriptionOptions> {
        let handling = prop_oneof![
            Just(RetainHandling::SendAtSubscribe),
            Just(RetainHandling::SendAtSubscribeIfNew),
            Just(RetainHandling::DoNotSend)
        ];
        (
            qos(),
            v5_only(version, any::<bool>(), false),
            v5_only(version, any::<bool>(), false),
            v5_only(version, handling, RetainHandling::SendAtSubscribe),
        )
            .prop_map(|(qos, no_local, retain_as_published, retain_handling)| SubscriptionOptions {
                qos,
                no_local,
                retain_as_published,
                retain_handling,
            })
    }

    pub(crate) fn subscribe(version: Version) -> impl Strategy<Value = Subscribe> {
        let properties = (proptest::option::of(1..=VARINT_MAX), user_properties()).prop_map(
            |(subscription_identifier, user_properties)| SubscribeProperties {
                subscription_identifier,
                user_properties,
            },
        );
        (
            packet_id(),
            proptest::collection::vec((topic_filter(), options(version)), 1..4),
            v5_only(version, properties, SubscribeProperties::default()),
        )
            .prop_map(|(packet_id, mut filters, properties)| {
                for (filter, options) in &mut filters {
                    options.no_local &= !filter.starts_with("$share/");
                }
                Subscribe { packet_id, filters, properties }
            })
    }

    fn at(qos: QoS) -> SubscriptionOptions {
        SubscriptionOptions { qos, ..SubscriptionOptions::default() }
    }

    #[test]
    fn v311_subscribe() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0x82, 0x0e, // SUBSCRIBE (flags 0010), remaining length 14
            0x00, 0x0a, // packet identifier 10
            0x00, 0x03, b'a', b'/', b'b', 0x01, // "a/b" QoS 1
            0x00, 0x03, b'c', b'/', b'#', 0x02, // "c/#" QoS 2
        ];
        let subscribe = Subscribe {
            packet_id: 10,
            filters: vec![("a/b".into(), at(QoS::AtLeastOnce)), ("c/#".into(), at(QoS::ExactlyOnce))],
            properties: SubscribeProperties::default(),
        };
        both_ways(bytes, Packet::Subscribe(subscribe), Version::V311);
    }

    #[test]
    fn v5_subscribe_with_options_and_identifier() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0x82, 0x09, // SUBSCRIBE, remaining length 9
            0x00, 0x01, // packet identifier 1
            0x02, 0x0b, 0x05, // property length 2, subscription identifier 5
            0x00, 0x01, b't', // "t"
            0b0010_1101, // retain handling 2, retain as published, no local, QoS 1
        ];
        let options = SubscriptionOptions {
            qos: QoS::AtLeastOnce,
            no_local: true,
            retain_as_published: true,
            retain_handling: RetainHandling::DoNotSend,
        };
        let subscribe = Subscribe {
            packet_id: 1,
            filters: vec![("t".into(), options)],
            properties: SubscribeProperties { subscription_identifier: Some(5), ..SubscribeProperties::default() },
        };
        both_ways(bytes, Packet::Subscribe(subscribe), Version::V5);
    }

    #[test]
    fn an_invalid_filter_does_not_fail_the_packet() {
        // "a#" is not a valid filter, but that is for SUBACK to say.
        let packet = decode(&[0x82, 0x07, 0x00, 0x01, 0x00, 0x02, b'a', b'#', 0x00], Version::V311).unwrap();
        let Packet::Subscribe(subscribe) = packet else { panic!() };
        assert_eq!(subscribe.filters, vec![("a#".to_owned(), at(QoS::AtMostOnce))]);
    }

    #[test]
    fn no_filter_is_a_protocol_error() {
        assert_eq!(decode(&[0x82, 0x02, 0x00, 0x01], Version::V311).unwrap_err().reason(), ReasonCode::ProtocolError);
        assert_eq!(
            decode(&[0x82, 0x03, 0x00, 0x01, 0x00], Version::V5).unwrap_err().reason(),
            ReasonCode::ProtocolError
        );
    }

    #[test]
    fn option_bits() {
        let with = |byte: u8, version| decode(&[0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b't', byte], version);
        let with5 = |byte: u8| decode(&[0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b't', byte], Version::V5);
        // 3.1.1: only 0, 1, 2.
        assert_eq!(with(0x03, Version::V311).unwrap_err().reason(), ReasonCode::MalformedPacket);
        assert_eq!(with(0x04, Version::V311).unwrap_err().reason(), ReasonCode::MalformedPacket);
        // 5.0: reserved bits are malformed, QoS 3 and retain handling 3 protocol errors.
        assert_eq!(with5(0x40).unwrap_err().reason(), ReasonCode::MalformedPacket);
        assert_eq!(with5(0x80).unwrap_err().reason(), ReasonCode::MalformedPacket);
        assert_eq!(with5(0x03).unwrap_err(), Error::Protocol("subscription QoS 3"));
        assert_eq!(with5(0x30).unwrap_err(), Error::Protocol("retain handling 3"));
        assert!(with5(0x2e).is_ok());
    }

    #[test]
    fn a_subscription_identifier_is_given_once_and_not_0() {
        // Two subscription identifiers: repeatable on PUBLISH only.
        let bytes = [0x82, 0x0b, 0x00, 0x01, 0x04, 0x0b, 0x01, 0x0b, 0x02, 0x00, 0x01, b't', 0x00];
        assert_eq!(
            decode(&bytes, Version::V5).unwrap_err(),
            Error::DuplicateProperty { property: 0x0b, packet: "SUBSCRIBE" }
        );
        let bytes = [0x82, 0x09, 0x00, 0x01, 0x02, 0x0b, 0x00, 0x00, 0x01, b't', 0x00];
        assert_eq!(decode(&bytes, Version::V5).unwrap_err().reason(), ReasonCode::ProtocolError);
    }

    #[test]
    fn no_local_on_a_shared_subscription_is_a_protocol_error() {
        let mut bytes = vec![0x82, 0x0f, 0x00, 0x01, 0x00, 0x00, 0x09];
        bytes.extend_from_slice(b"$share/g/");
        bytes.push(0x04); // no local
        assert_eq!(decode(&bytes, Version::V5).unwrap_err().reason(), ReasonCode::ProtocolError);
    }

    #[test]
    fn packet_id_0_and_a_truncated_filter() {
        assert_eq!(
            decode(&[0x82, 0x06, 0x00, 0x00, 0x00, 0x01, b't', 0x00], Version::V311).unwrap_err().reason().code(),
            0x82
        );
        // The options byte is missing.
        assert_eq!(
            decode(&[0x82, 0x05, 0x00, 0x01, 0x00, 0x01, b't'], Version::V311).unwrap_err(),
            Error::Truncated { field: "subscription options" }
        );
    }

    #[test]
    fn v5_options_are_dropped_for_3x() {
        let options = SubscriptionOptions { no_local: true, ..at(QoS::AtLeastOnce) };
        let subscribe =
            Subscribe { packet_id: 1, filters: vec![("t".into(), options)], properties: Default::default() };
        assert_eq!(
            testing::encode(&Packet::Subscribe(subscribe), Version::V311),
            [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, b't', 0x01]
        );
    }

    proptest! {
        #[test]
        fn subscribe_round_trips(version in prop_oneof![Just(Version::V311), Just(Version::V5)]
            .prop_flat_map(|version| subscribe(version).prop_map(move |s| (version, s))))
        {
            let (version, subscribe) = version;
            testing::round_trip(&Packet::Subscribe(subscribe), version)?;
        }
    }
}
