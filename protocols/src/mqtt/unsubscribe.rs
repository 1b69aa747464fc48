//! UNSUBSCRIBE (section 3.10): the topic filters to remove, as sent (a filter that matches no
//! subscription is answered per filter in UNSUBACK, not refused here).

use bytes::Bytes;

use super::primitives::{self, Sink};
use super::properties::{self, Applied, Property, PropertySet};
use super::{Error, Version};

/// An UNSUBSCRIBE packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub packet_id: u16,
    pub filters: Vec<String>,
    pub properties: UnsubscribeProperties,
}

/// UNSUBSCRIBE's properties (3.10.2.1): user properties only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnsubscribeProperties {
    pub user_properties: Vec<(String, String)>,
}

impl Unsubscribe {
    pub(crate) fn read(body: &mut Bytes, version: Version) -> Result<Unsubscribe, Error> {
        let packet_id = primitives::packet_id(body, "UNSUBSCRIBE")?;
        let properties = match version {
            Version::V5 => properties::read(body, "UNSUBSCRIBE")?,
            _ => UnsubscribeProperties::default(),
        };
        let mut filters = Vec::new();
        while !body.is_empty() {
            filters.push(primitives::string(body, "topic filter")?);
        }
        if filters.is_empty() {
            return Err(Error::Protocol("UNSUBSCRIBE without a topic filter"));
        }
        Ok(Unsubscribe { packet_id, filters, properties })
    }

    pub(crate) fn write(&self, version: Version, sink: &mut impl Sink) -> Result<(), Error> {
        sink.u16(self.packet_id);
        if version == Version::V5 {
            properties::write(&self.properties, sink)?;
        }
        for filter in &self.filters {
            sink.string(filter)?;
        }
        Ok(())
    }
}

impl PropertySet for UnsubscribeProperties {
    fn apply(&mut self, property: Property) -> Applied {
        match property {
            Property::UserProperty(name, value) => {
                self.user_properties.push((name, value));
                Applied::Set
            }
            _ => Applied::NotAllowed,
        }
    }

    fn write(&self, sink: &mut impl Sink) -> Result<(), Error> {
        properties::put_user_properties(sink, &self.user_properties)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mqtt::testing::{self, both_ways, decode, packet_id, topic_filter, user_properties, v5_only};
    use crate::mqtt::{Packet, ReasonCode};
    use proptest::prelude::*;

    pub(crate) fn unsubscribe(version: Version) -> impl Strategy<Value = Unsubscribe> {
        let properties = user_properties().prop_map(|user_properties| UnsubscribeProperties { user_properties });
        (
            packet_id(),
            proptest::collection::vec(topic_filter(), 1..4),
            v5_only(version, properties, UnsubscribeProperties::default()),
        )
            .prop_map(|(packet_id, filters, properties)| Unsubscribe { packet_id, filters, properties })
    }

    #[test]
    fn v311_unsubscribe() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0xa2, 0x0a, // UNSUBSCRIBE (flags 0010), remaining length 10
            0x00, 0x02, // packet identifier 2
            0x00, 0x01, b'a', // "a"
            0x00, 0x03, b'b', b'/', b'+', // "b/+"
        ];
        let unsubscribe =
            Unsubscribe { packet_id: 2, filters: vec!["a".into(), "b/+".into()], properties: Default::default() };
        both_ways(bytes, Packet::Unsubscribe(unsubscribe), Version::V311);
    }

    #[test]
    fn v5_unsubscribe_with_a_user_property() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0xa2, 0x0d, // UNSUBSCRIBE, remaining length 13
            0x00, 0x02, // packet identifier 2
            0x07, 0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // property length 7, user property ("k", "v")
            0x00, 0x01, b'a', // "a"
        ];
        let unsubscribe = Unsubscribe {
            packet_id: 2,
            filters: vec!["a".into()],
            properties: UnsubscribeProperties { user_properties: vec![("k".into(), "v".into())] },
        };
        both_ways(bytes, Packet::Unsubscribe(unsubscribe), Version::V5);
    }

    #[test]
    fn no_filter_is_a_protocol_error() {
        assert_eq!(decode(&[0xa2, 0x02, 0x00, 0x01], Version::V311).unwrap_err().reason(), ReasonCode::ProtocolError);
        assert_eq!(
            decode(&[0xa2, 0x03, 0x00, 0x01, 0x00], Version::V5).unwrap_err().reason(),
            ReasonCode::ProtocolError
        );
    }

    #[test]
    fn packet_id_0_and_a_non_user_property_are_refused() {
        assert_eq!(
            decode(&[0xa2, 0x05, 0x00, 0x00, 0x00, 0x01, b'a'], Version::V311).unwrap_err().reason().code(),
            0x82
        );
        // Reason String is not an UNSUBSCRIBE property.
        let bytes = [0xa2, 0x0a, 0x00, 0x01, 0x04, 0x1f, 0x00, 0x01, b'r', 0x00, 0x01, b'a'];
        assert_eq!(decode(&bytes, Version::V5).unwrap_err().reason().code(), 0x81);
    }

    proptest! {
        #[test]
        fn unsubscribe_round_trips(version in prop_oneof![Just(Version::V311), Just(Version::V5)]
            .prop_flat_map(|version| unsubscribe(version).prop_map(move |u| (version, u))))
        {
            let (version, unsubscribe) = version;
            testing::round_trip(&Packet::Unsubscribe(unsubscribe), version)?;
        }
    }
}
