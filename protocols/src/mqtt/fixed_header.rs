//! The fixed header (section 2.1): the packet type in the high nibble of the first byte, flags
//! in its low nibble, then the remaining length as a Variable Byte Integer of at most 4 bytes.
//!
//! [`peek`] reads it without consuming anything, so [`read`](super::read) can refuse an
//! oversize packet, or ask for more bytes, before any of the body is buffered or taken. The
//! flags of every type but PUBLISH are fixed by the spec and checked here; PUBLISH's (DUP,
//! QoS, RETAIN) are checked where the packet is read.

use super::primitives::{varint_prefix, Sink};
use super::{Error, Version};

/// The control packet types (2.1.2). 0 is reserved; 15 is AUTH in 5.0, reserved before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PacketType {
    Connect = 1,
    ConnAck = 2,
    Publish = 3,
    PubAck = 4,
    PubRec = 5,
    PubRel = 6,
    PubComp = 7,
    Subscribe = 8,
    SubAck = 9,
    Unsubscribe = 10,
    UnsubAck = 11,
    PingReq = 12,
    PingResp = 13,
    Disconnect = 14,
    Auth = 15,
}

impl PacketType {
    /// The type in a first byte's high nibble, for a connection speaking `version`.
    fn from_nibble(nibble: u8, version: Version) -> Result<PacketType, Error> {
        use PacketType::*;
        Ok(match nibble {
            1 => Connect,
            2 => ConnAck,
            3 => Publish,
            4 => PubAck,
            5 => PubRec,
            6 => PubRel,
            7 => PubComp,
            8 => Subscribe,
            9 => SubAck,
            10 => Unsubscribe,
            11 => UnsubAck,
            12 => PingReq,
            13 => PingResp,
            14 => Disconnect,
            15 if version == Version::V5 => Auth,
            packet_type => return Err(Error::InvalidPacketType { packet_type }),
        })
    }

    /// The packet's name, for errors.
    pub(crate) fn name(self) -> &'static str {
        use PacketType::*;
        match self {
            Connect => "CONNECT",
            ConnAck => "CONNACK",
            Publish => "PUBLISH",
            PubAck => "PUBACK",
            PubRec => "PUBREC",
            PubRel => "PUBREL",
            PubComp => "PUBCOMP",
            Subscribe => "SUBSCRIBE",
            SubAck => "SUBACK",
            Unsubscribe => "UNSUBSCRIBE",
            UnsubAck => "UNSUBACK",
            PingReq => "PINGREQ",
            PingResp => "PINGRESP",
            Disconnect => "DISCONNECT",
            Auth => "AUTH",
        }
    }

    /// The flags the spec requires (2.1.3): 0b0010 for PUBREL, SUBSCRIBE and UNSUBSCRIBE, 0 for
    /// the others; `None` for PUBLISH, whose flags carry DUP, QoS and RETAIN.
    pub(crate) fn required_flags(self) -> Option<u8> {
        match self {
            PacketType::Publish => None,
            PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }
}

/// A decoded fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FixedHeader {
    pub packet_type: PacketType,
    /// The low nibble of the first byte.
    pub flags: u8,
    /// The first byte and the remaining length: 2 to 5 bytes.
    pub header_bytes: usize,
    pub remaining_bytes: usize,
}

impl FixedHeader {
    /// The whole packet's size: header and body.
    pub(crate) fn packet_bytes(&self) -> usize {
        self.header_bytes + self.remaining_bytes
    }
}

/// Decodes the fixed header at the front of `buf` without consuming it; `Ok(None)` while it is
/// incomplete. The type and flags are checked as soon as the first byte is there.
pub(crate) fn peek(buf: &[u8], version: Version) -> Result<Option<FixedHeader>, Error> {
    let Some((&first, rest)) = buf.split_first() else {
        return Ok(None);
    };
    let packet_type = PacketType::from_nibble(first >> 4, version)?;
    let flags = first & 0x0f;
    if packet_type.required_flags().is_some_and(|required| required != flags) {
        return Err(Error::InvalidFlags { packet_type: packet_type as u8, flags });
    }
    match varint_prefix(rest) {
        Ok(Some((remaining_bytes, varint_bytes))) => Ok(Some(FixedHeader {
            packet_type,
            flags,
            header_bytes: 1 + varint_bytes,
            remaining_bytes: remaining_bytes as usize,
        })),
        Ok(None) => Ok(None),
        Err(()) => Err(Error::VarintMalformed { field: "remaining length" }),
    }
}

/// Writes a fixed header announcing `remaining_bytes` of body.
pub(crate) fn write(
    sink: &mut impl Sink,
    packet_type: PacketType,
    flags: u8,
    remaining_bytes: usize,
) -> Result<(), Error> {
    sink.u8((packet_type as u8) << 4 | flags);
    sink.varint(remaining_bytes).map_err(|_| Error::RemainingLengthTooLarge { bytes: remaining_bytes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;

    fn header(packet_type: PacketType, flags: u8, header_bytes: usize, remaining_bytes: usize) -> FixedHeader {
        FixedHeader { packet_type, flags, header_bytes, remaining_bytes }
    }

    #[test]
    fn reads_type_flags_and_remaining_length() {
        // PUBLISH, DUP + QoS 1 + RETAIN; remaining length 321 = 0xc1 0x02.
        let peeked = peek(&[0x3b, 0xc1, 0x02], Version::V311).unwrap();
        assert_eq!(peeked, Some(header(PacketType::Publish, 0b1011, 3, 321)));
        // PINGREQ, remaining length 0.
        assert_eq!(peek(&[0xc0, 0x00], Version::V5).unwrap(), Some(header(PacketType::PingReq, 0, 2, 0)));
    }

    #[test]
    fn incomplete_headers_need_more() {
        assert_eq!(peek(&[], Version::V5), Ok(None));
        assert_eq!(peek(&[0x30], Version::V5), Ok(None));
        assert_eq!(peek(&[0x30, 0xff, 0xff], Version::V5), Ok(None));
    }

    #[test]
    fn a_fifth_remaining_length_byte_is_malformed() {
        let err = peek(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x01], Version::V5).unwrap_err();
        assert_eq!(err, Error::VarintMalformed { field: "remaining length" });
        assert_eq!(err.reason().code(), 0x81);
        // Already known with the 4th continuation byte.
        assert!(peek(&[0x30, 0x80, 0x80, 0x80, 0x80], Version::V5).is_err());
    }

    #[test]
    fn reserved_packet_types_are_invalid() {
        assert_eq!(peek(&[0x00, 0x00], Version::V5), Err(Error::InvalidPacketType { packet_type: 0 }));
        assert_eq!(peek(&[0xf0, 0x00], Version::V311), Err(Error::InvalidPacketType { packet_type: 15 }));
        assert_eq!(peek(&[0xf0, 0x00], Version::V31), Err(Error::InvalidPacketType { packet_type: 15 }));
        assert_eq!(peek(&[0xf0, 0x00], Version::V5).unwrap().unwrap().packet_type, PacketType::Auth);
    }

    #[test]
    fn flags_must_be_what_the_spec_requires() {
        for (first, ok) in [
            (0x10, true),  // CONNECT 0000
            (0x11, false), // CONNECT 0001
            (0x20, true),  // CONNACK
            (0x28, false),
            (0x40, true), // PUBACK
            (0x42, false),
            (0x62, true),  // PUBREL 0010
            (0x60, false), // PUBREL 0000
            (0x6a, false), // PUBREL with DUP
            (0x82, true),  // SUBSCRIBE 0010
            (0x80, false),
            (0xa2, true), // UNSUBSCRIBE 0010
            (0xa3, false),
            (0x92, false), // SUBACK 0010
            (0xc1, false), // PINGREQ
            (0xd4, false), // PINGRESP
            (0xe1, false), // DISCONNECT
            (0xf8, false), // AUTH
            (0x3f, true),  // PUBLISH: checked where it is read
        ] {
            let result = peek(&[first, 0x00], Version::V5);
            assert_eq!(result.is_ok(), ok, "{first:#04x}");
            if !ok {
                assert_eq!(result.unwrap_err().reason().code(), 0x81, "{first:#04x}");
            }
        }
    }

    #[test]
    fn writes_the_header() {
        let mut out = BytesMut::new();
        write(&mut out, PacketType::Subscribe, 0b0010, 200).unwrap();
        assert_eq!(&out[..], &[0x82, 0xc8, 0x01]);
        let err = write(&mut out, PacketType::Publish, 0, 268_435_456).unwrap_err();
        assert_eq!(err, Error::RemainingLengthTooLarge { bytes: 268_435_456 });
    }
}
