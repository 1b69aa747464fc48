//! UNSUBACK (section 3.11): in 5.0 one reason code per filter of the UNSUBSCRIBE; in 3.x only
//! the packet identifier (the reasons are dropped on write and empty on read).

use bytes::Bytes;

use super::primitives::{self, Sink};
use super::properties::{self, AckProperties};
use super::reason::{self, ReasonCode};
use super::{Error, Version};

/// An UNSUBACK packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsubAck {
    pub packet_id: u16,
    /// Empty for 3.x.
    pub reasons: Vec<ReasonCode>,
    pub properties: AckProperties,
}

impl UnsubAck {
    pub(crate) fn read(body: &mut Bytes, version: Version) -> Result<UnsubAck, Error> {
        let packet_id = primitives::packet_id(body, "UNSUBACK")?;
        if version != Version::V5 {
            return Ok(UnsubAck { packet_id, reasons: Vec::new(), properties: AckProperties::default() });
        }
        let properties = properties::read(body, "UNSUBACK")?;
        let mut reasons = Vec::with_capacity(body.len());
        while !body.is_empty() {
            reasons.push(reason::read(body, reason::UNSUBACK, "UNSUBACK")?);
        }
        Ok(UnsubAck { packet_id, reasons, properties })
    }

    pub(crate) fn write(&self, version: Version, sink: &mut impl Sink) -> Result<(), Error> {
        sink.u16(self.packet_id);
        if version != Version::V5 {
            return Ok(());
        }
        properties::write(&self.properties, sink)?;
        for reason in &self.reasons {
            sink.u8(reason.code());
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

    pub(crate) fn unsuback(version: Version) -> impl Strategy<Value = UnsubAck> {
        (
            packet_id(),
            v5_only(version, proptest::collection::vec(select(reason::UNSUBACK), 1..4), Vec::new()),
            v5_only(version, ack_properties(), AckProperties::default()),
        )
            .prop_map(|(packet_id, reasons, properties)| UnsubAck { packet_id, reasons, properties })
    }

    #[test]
    fn v311_unsuback() {
        let unsuback = UnsubAck { packet_id: 3, reasons: Vec::new(), properties: AckProperties::default() };
        both_ways(&[0xb0, 0x02, 0x00, 0x03], Packet::UnsubAck(unsuback), Version::V311);
        // UNSUBACK 3
    }

    #[test]
    fn v5_unsuback() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0xb0, 0x05, // UNSUBACK, remaining length 5
            0x00, 0x03, // packet identifier 3
            0x00, // property length 0
            0x00, 0x11, // success, no subscription existed
        ];
        let reasons = vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted];
        let unsuback = UnsubAck { packet_id: 3, reasons, properties: AckProperties::default() };
        both_ways(bytes, Packet::UnsubAck(unsuback.clone()), Version::V5);
        assert_eq!(encode(&Packet::UnsubAck(unsuback), Version::V311), [0xb0, 0x02, 0x00, 0x03]);
    }

    #[test]
    fn refusals() {
        // Reasons in 3.1.1 are trailing bytes.
        assert_eq!(decode(&[0xb0, 0x03, 0x00, 0x03, 0x00], Version::V311).unwrap_err().reason().code(), 0x81);
        // 0x10 is not an UNSUBACK code.
        assert_eq!(decode(&[0xb0, 0x04, 0x00, 0x03, 0x00, 0x10], Version::V5).unwrap_err().reason().code(), 0x82);
        assert_eq!(decode(&[0xb0, 0x02, 0x00, 0x00], Version::V311).unwrap_err().reason().code(), 0x82);
    }

    proptest! {
        #[test]
        fn unsuback_round_trips(version in prop_oneof![Just(Version::V311), Just(Version::V5)]
            .prop_flat_map(|version| unsuback(version).prop_map(move |u| (version, u))))
        {
            let (version, unsuback) = version;
            testing::round_trip(&Packet::UnsubAck(unsuback), version)?;
        }
    }
}
