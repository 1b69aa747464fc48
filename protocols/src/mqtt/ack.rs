//! PUBACK, PUBREC, PUBREL and PUBCOMP (sections 3.4 to 3.7): the four acknowledgements of the
//! QoS 1 and QoS 2 flows, alike but for their type, PUBREL's fixed header flags and the reason
//! codes each may carry.
//!
//! 3.x has only the packet identifier. 5.0 adds a reason code and properties, both of which may
//! be left out: a remaining length of 2 means Success without properties, 3 a reason without
//! properties. Reading takes all three forms; writing uses the shortest that says the same.

use bytes::Bytes;

use super::primitives::{self, Sink};
use super::properties::{self, AckProperties};
use super::reason::{self, ReasonCode};
use super::{Error, Version};

macro_rules! ack_packet {
    ($(#[$doc:meta])* $name:ident, $packet:literal, $reasons:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            pub packet_id: u16,
            pub reason: ReasonCode,
            pub properties: AckProperties,
        }

        impl $name {
            /// Success, without properties.
            pub fn new(packet_id: u16) -> $name {
                $name { packet_id, reason: ReasonCode::Success, properties: AckProperties::default() }
            }

            pub(crate) fn read(body: &mut Bytes, version: Version) -> Result<$name, Error> {
                let (packet_id, reason, properties) = read(body, version, $reasons, $packet)?;
                Ok($name { packet_id, reason, properties })
            }

            pub(crate) fn write(&self, version: Version, sink: &mut impl Sink) -> Result<(), Error> {
                write(self.packet_id, self.reason, &self.properties, version, sink)
            }
        }
    };
}

ack_packet!(
    /// A PUBACK packet: QoS 1 delivered.
    PubAck,
    "PUBACK",
    reason::PUBACK
);
ack_packet!(
    /// A PUBREC packet: QoS 2 received (part 1).
    PubRec,
    "PUBREC",
    reason::PUBACK
);
ack_packet!(
    /// A PUBREL packet: QoS 2 release (part 2).
    PubRel,
    "PUBREL",
    reason::PUBREL
);
ack_packet!(
    /// A PUBCOMP packet: QoS 2 complete (part 3).
    PubComp,
    "PUBCOMP",
    reason::PUBREL
);

/// Reads the packet identifier, then in 5.0 the reason and properties if present.
fn read(
    body: &mut Bytes,
    version: Version,
    allowed: &[ReasonCode],
    packet: &'static str,
) -> Result<(u16, ReasonCode, AckProperties), Error> {
    let packet_id = primitives::packet_id(body, packet)?;
    if version != Version::V5 || body.is_empty() {
        return Ok((packet_id, ReasonCode::Success, AckProperties::default()));
    }
    let reason = reason::read(body, allowed, packet)?;
    let properties = match body.is_empty() {
        true => AckProperties::default(),
        false => properties::read(body, packet)?,
    };
    Ok((packet_id, reason, properties))
}

/// Writes the shortest form that carries the reason and properties (none of them for 3.x).
fn write(
    packet_id: u16,
    reason: ReasonCode,
    properties: &AckProperties,
    version: Version,
    sink: &mut impl Sink,
) -> Result<(), Error> {
    sink.u16(packet_id);
    if version != Version::V5 || (reason == ReasonCode::Success && properties.is_empty()) {
        return Ok(());
    }
    sink.u8(reason.code());
    if properties.is_empty() {
        return Ok(());
    }
    properties::write(properties, sink)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mqtt::properties::tests::ack_properties;
    use crate::mqtt::testing::{self, both_ways, decode, packet_id, v5_only};
    use crate::mqtt::Packet;
    use proptest::prelude::*;
    use proptest::sample::select;

    fn parts(
        version: Version,
        reasons: &'static [ReasonCode],
    ) -> impl Strategy<Value = (u16, ReasonCode, AckProperties)> {
        (
            packet_id(),
            v5_only(version, select(reasons), ReasonCode::Success),
            v5_only(version, ack_properties(), AckProperties::default()),
        )
    }

    pub(crate) fn puback(version: Version) -> impl Strategy<Value = PubAck> {
        parts(version, reason::PUBACK).prop_map(|(packet_id, reason, properties)| PubAck {
            packet_id,
            reason,
            properties,
        })
    }

    pub(crate) fn pubrec(version: Version) -> impl Strategy<Value = PubRec> {
        parts(version, reason::PUBACK).prop_map(|(packet_id, reason, properties)| PubRec {
            packet_id,
            reason,
            properties,
        })
    }

    pub(crate) fn pubrel(version: Version) -> impl Strategy<Value = PubRel> {
        parts(version, reason::PUBREL).prop_map(|(packet_id, reason, properties)| PubRel {
            packet_id,
            reason,
            properties,
        })
    }

    pub(crate) fn pubcomp(version: Version) -> impl Strategy<Value = PubComp> {
        parts(version, reason::PUBREL).prop_map(|(packet_id, reason, properties)| PubComp {
            packet_id,
            reason,
            properties,
        })
    }

    #[test]
    fn v311_acks_are_the_packet_id() {
        both_ways(&[0x40, 0x02, 0x00, 0x07], Packet::PubAck(PubAck::new(7)), Version::V311); // PUBACK 7
        both_ways(&[0x50, 0x02, 0x01, 0x00], Packet::PubRec(PubRec::new(256)), Version::V311); // PUBREC 256
        both_ways(&[0x62, 0x02, 0xff, 0xff], Packet::PubRel(PubRel::new(65535)), Version::V311); // PUBREL, flags 0010
        both_ways(&[0x70, 0x02, 0x00, 0x01], Packet::PubComp(PubComp::new(1)), Version::V311);
        // PUBCOMP 1
    }

    #[test]
    fn v5_success_without_properties_is_written_short() {
        both_ways(&[0x40, 0x02, 0x00, 0x07], Packet::PubAck(PubAck::new(7)), Version::V5);
    }

    #[test]
    fn v5_reads_every_form() {
        let expected = Packet::PubAck(PubAck::new(7));
        // Reason 0x00 given, no property length.
        assert_eq!(decode(&[0x40, 0x03, 0x00, 0x07, 0x00], Version::V5), Ok(expected.clone()));
        // Reason 0x00 and an empty property length.
        assert_eq!(decode(&[0x40, 0x04, 0x00, 0x07, 0x00, 0x00], Version::V5), Ok(expected));
    }

    #[test]
    fn v5_reason_without_properties() {
        let puback = PubAck { reason: ReasonCode::NoMatchingSubscribers, ..PubAck::new(7) };
        // PUBACK, remaining length 3, id 7, 0x10 no matching subscribers.
        both_ways(&[0x40, 0x03, 0x00, 0x07, 0x10], Packet::PubAck(puback), Version::V5);
    }

    #[test]
    fn v5_reason_with_properties() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0x70, 0x09, // PUBCOMP, remaining length 9
            0x00, 0x07, // packet identifier 7
            0x92, // packet identifier not found
            0x05, 0x1f, 0x00, 0x02, b'n', b'f', // property length 5, reason string "nf"
        ];
        let mut pubcomp = PubComp { reason: ReasonCode::PacketIdentifierNotFound, ..PubComp::new(7) };
        pubcomp.properties.reason_string = Some("nf".into());
        both_ways(bytes, Packet::PubComp(pubcomp), Version::V5);
    }

    #[test]
    fn v5_codes_are_dropped_for_3x() {
        let puback = PubAck { reason: ReasonCode::QuotaExceeded, ..PubAck::new(7) };
        assert_eq!(testing::encode(&Packet::PubAck(puback), Version::V311), [0x40, 0x02, 0x00, 0x07]);
    }

    #[test]
    fn refusals() {
        // Packet identifier 0.
        assert_eq!(decode(&[0x40, 0x02, 0x00, 0x00], Version::V311).unwrap_err().reason().code(), 0x82);
        // A reason byte is a trailing byte in 3.1.1.
        assert_eq!(decode(&[0x40, 0x03, 0x00, 0x01, 0x00], Version::V311).unwrap_err().reason().code(), 0x81);
        // 0x10 is a PUBACK code, not a PUBREL one.
        assert_eq!(decode(&[0x62, 0x03, 0x00, 0x01, 0x10], Version::V5).unwrap_err().reason().code(), 0x82);
        // An unknown code.
        assert_eq!(decode(&[0x40, 0x03, 0x00, 0x01, 0x05], Version::V5).unwrap_err().reason().code(), 0x82);
        // Truncated packet identifier.
        assert_eq!(decode(&[0x40, 0x01, 0x00], Version::V5).unwrap_err().reason().code(), 0x81);
    }

    proptest! {
        #[test]
        fn acks_round_trip(version in prop_oneof![Just(Version::V311), Just(Version::V5)]
            .prop_flat_map(|version| (Just(version), puback(version), pubrec(version), pubrel(version), pubcomp(version))))
        {
            let (version, puback, pubrec, pubrel, pubcomp) = version;
            testing::round_trip(&Packet::PubAck(puback), version)?;
            testing::round_trip(&Packet::PubRec(pubrec), version)?;
            testing::round_trip(&Packet::PubRel(pubrel), version)?;
            testing::round_trip(&Packet::PubComp(pubcomp), version)?;
        }
    }
}
