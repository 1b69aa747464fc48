//! SUBACK (section 3.9): one reason code per filter of the SUBSCRIBE, in order.
//!
//! 3.x carries return codes 0, 1, 2 (granted QoS) and 0x80 (failure): every v5 failure code is
//! written as 0x80, and 0x80 is read as Unspecified error.

use bytes::Bytes;

use super::primitives::{self, Sink};
use super::properties::{self, AckProperties};
use super::reason::{self, from_suback_return_code, suback_return_code, ReasonCode};
use super::{Error, Version};

/// A SUBACK packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubAck {
    pub packet_id: u16,
    pub reasons: Vec<ReasonCode>,
    pub properties: AckProperties,
}

impl SubAck {
    pub(crate) fn read(body: &mut Bytes, version: Version) -> Result<SubAck, Error> {
        let packet_id = primitives::packet_id(body, "SUBACK")?;
        let properties = match version {
            Version::V5 => properties::read(body, "SUBACK")?,
            _ => AckProperties::default(),
        };
        let mut reasons = Vec::with_capacity(body.len());
        while !body.is_empty() {
            reasons.push(match version {
                Version::V5 => reason::read(body, reason::SUBACK, "SUBACK")?,
                _ => {
                    let code = primitives::u8(body, "return code")?;
                    from_suback_return_code(code).ok_or(Error::InvalidReasonCode { code, packet: "SUBACK" })?
                }
            });
        }
        Ok(SubAck { packet_id, reasons, properties })
    }

    pub(crate) fn write(&self, version: Version, sink: &mut impl Sink) -> Result<(), Error> {
        sink.u16(self.packet_id);
        if version == Version::V5 {
            properties::write(&self.properties, sink)?;
        }
        for &reason in &self.reasons {
            sink.u8(match version {
                Version::V5 => reason.code(),
                _ => suback_return_code(reason),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mqtt::properties::tests::ack_properties;
    use crate::mqtt::testing::{self, both_ways, decode, encode, packet_id, v5_only};
    use crate::mqtt::Packet;
    use proptest::prelude::*;
    use proptest::sample::select;

    pub(crate) fn suback(version: Version) -> impl Strategy<Value = SubAck> {
        let reasons = match version {
            Version::V5 => select(reason::SUBACK).boxed(),
            _ => select(&[0u8, 1, 2, 0x80][..]).prop_map(|code| from_suback_return_code(code).unwrap()).boxed(),
        };
        (
            packet_id(),
            proptest::collection::vec(reasons, 1..5),
            v5_only(version, ack_properties(), AckProperties::default()),
        )
            .prop_map(|(packet_id, reasons, properties)| SubAck { packet_id, reasons, properties })
    }

    fn suback_of(reasons: Vec<ReasonCode>) -> SubAck {
        SubAck { packet_id: 10, reasons, properties: AckProperties::default() }
    }

    #[test]
    fn v311_suback() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0x90, 0x05, // SUBACK, remaining length 5
            0x00, 0x0a, // packet identifier 10
            0x01, 0x02, 0x80, // granted QoS 1, granted QoS 2, failure
        ];
        let reasons = vec![ReasonCode::GrantedQoS1, ReasonCode::GrantedQoS2, ReasonCode::UnspecifiedError];
        both_ways(bytes, Packet::SubAck(suback_of(reasons)), Version::V311);
    }

    #[test]
    fn v5_suback() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0x90, 0x06, // SUBACK, remaining length 6
            0x00, 0x0a, // packet identifier 10
            0x00, // property length 0
            0x00, 0x8f, 0xa2, // granted QoS 0, topic filter invalid, wildcards not supported
        ];
        let reasons = vec![
            ReasonCode::GrantedQoS0,
            ReasonCode::TopicFilterInvalid,
            ReasonCode::WildcardSubscriptionsNotSupported,
        ];
        both_ways(bytes, Packet::SubAck(suback_of(reasons)), Version::V5);
    }

    #[test]
    fn v5_failures_are_0x80_for_3x() {
        let suback = suback_of(vec![ReasonCode::TopicFilterInvalid, ReasonCode::GrantedQoS1]);
        assert_eq!(encode(&Packet::SubAck(suback), Version::V311), [0x90, 0x04, 0x00, 0x0a, 0x80, 0x01]);
    }

    #[test]
    fn codes_outside_the_packets_set_are_refused() {
        assert_eq!(decode(&[0x90, 0x03, 0x00, 0x01, 0x03], Version::V311).unwrap_err().reason().code(), 0x82);
        assert_eq!(decode(&[0x90, 0x03, 0x00, 0x01, 0x8f], Version::V311).unwrap_err().reason().code(), 0x82);
        assert_eq!(decode(&[0x90, 0x04, 0x00, 0x01, 0x00, 0x11], Version::V5).unwrap_err().reason().code(), 0x82);
    }

    proptest! {
        #[test]
        fn suback_round_trips(version in prop_oneof![Just(Version::V311), Just(Version::V5)]
            .prop_flat_map(|version| suback(version).prop_map(move |s| (version, s))))
        {
            let (version, suback) = version;
            testing::round_trip(&Packet::SubAck(suback), version)?;
        }
    }
}
