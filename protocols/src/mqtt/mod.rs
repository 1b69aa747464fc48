//! MQTT 3.1, 3.1.1 and 5.0: the packet codec, and topic names and filters.
//!
//! [`read`] decodes one packet from the front of a buffer, or says it needs more bytes;
//! [`write()`] encodes one; [`len`] says how long the encoding is without making it. The packet
//! structs are the 5.0 ones (reason codes, properties); on a 3.x connection the fields 3.x does
//! not have are left at their defaults on read and dropped on write, so a server can handle all
//! three versions with one set of types. Which version a connection speaks comes from its
//! CONNECT, which is the one packet decoded whatever version the caller passes.
//!
//! Nothing here validates what only a session can: topic aliases against their maximum, packet
//! identifiers in flight, topic filters in SUBSCRIBE (each gets its own SUBACK code: see
//! [`topic::valid_filter`]), sizes against a peer's Maximum Packet Size (see [`len`]).

mod ack;
mod auth;
mod connack;
mod connect;
mod disconnect;
mod error;
mod fixed_header;
mod ping;
mod primitives;
mod properties;
mod publish;
mod reason;
pub mod session;
mod suback;
mod subscribe;
#[cfg(test)]
mod testing;
pub mod topic;
mod unsuback;
mod unsubscribe;

use bytes::{Buf, Bytes, BytesMut};

pub use ack::{PubAck, PubComp, PubRec, PubRel};
pub use auth::{Auth, AuthProperties};
pub use connack::{ConnAck, ConnAckProperties};
pub use connect::{Connect, ConnectProperties, Will, WillProperties};
pub use disconnect::{Disconnect, DisconnectProperties};
pub use error::Error;
pub use primitives::{FIELD_BYTES_MAX, VARINT_MAX};
pub use properties::{AckProperties, PayloadFormat};
pub use publish::{Publish, PublishProperties};
pub use reason::ReasonCode;
pub use reason::{connack_return_code, from_connack_return_code, from_suback_return_code, suback_return_code};
pub use suback::SubAck;
pub use subscribe::{RetainHandling, Subscribe, SubscribeProperties, SubscriptionOptions};
pub use unsuback::UnsubAck;
pub use unsubscribe::{Unsubscribe, UnsubscribeProperties};

use fixed_header::PacketType;
use primitives::{count, Sink};

/// The protocol version a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// MQTT 3.1: protocol name "MQIsdp", level 3.
    V31,
    /// MQTT 3.1.1: protocol name "MQTT", level 4.
    V311,
    /// MQTT 5.0: protocol name "MQTT", level 5.
    V5,
}

impl Version {
    /// The protocol level byte of CONNECT.
    pub fn level(self) -> u8 {
        match self {
            Version::V31 => 3,
            Version::V311 => 4,
            Version::V5 => 5,
        }
    }

    /// The protocol name of CONNECT.
    pub fn protocol_name(self) -> &'static str {
        match self {
            Version::V31 => "MQIsdp",
            Version::V311 | Version::V5 => "MQTT",
        }
    }

    /// The version to answer a CONNECT refused for its protocol level in (see
    /// [`Error::UnsupportedProtocolVersion`]): 5.0 for a client asking for level 5, 3.1 for 3,
    /// 3.1.1 for anything else (its CONNACK return code 1 is what 3.x clients understand).
    pub fn for_reply(level: u8) -> Version {
        match level {
            5 => Version::V5,
            3 => Version::V31,
            _ => Version::V311,
        }
    }
}

/// Quality of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum QoS {
    #[default]
    AtMostOnce = 0,
    AtLeastOnce = 1,
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS for a value 0, 1 or 2.
    pub fn from_u8(value: u8) -> Option<QoS> {
        match value {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// One MQTT control packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Connect(Connect),
    ConnAck(ConnAck),
    Publish(Publish),
    PubAck(PubAck),
    PubRec(PubRec),
    PubRel(PubRel),
    PubComp(PubComp),
    Subscribe(Subscribe),
    SubAck(SubAck),
    Unsubscribe(Unsubscribe),
    UnsubAck(UnsubAck),
    PingReq,
    PingResp,
    Disconnect(Disconnect),
    Auth(Auth),
}

/// Decodes one packet from the front of `buf`. `Ok(None)`: not a whole packet yet (nothing
/// consumed; room for the rest is reserved once the fixed header is known). CONNECT is decoded
/// whatever `version` says (it carries its own protocol level); every other packet with
/// `version` (the connection's, from its CONNECT). A packet whose fixed header announces more
/// than `packet_bytes_max` bytes in total is refused with [`Error::PacketTooLarge`] as soon as
/// the header is read, before its body is buffered. After any other error the packet has been
/// consumed, but the connection should be closed ([`Error::reason`] says with which code).
pub fn read(buf: &mut BytesMut, version: Version, packet_bytes_max: usize) -> Result<Option<Packet>, Error> {
    let Some(header) = fixed_header::peek(buf, version)? else {
        return Ok(None);
    };
    let packet_bytes = header.packet_bytes();
    if packet_bytes > packet_bytes_max {
        return Err(Error::PacketTooLarge { packet_bytes, packet_bytes_max });
    }
    if buf.len() < packet_bytes {
        buf.reserve(packet_bytes - buf.len());
        return Ok(None);
    }
    let mut body = buf.split_to(packet_bytes).freeze();
    body.advance(header.header_bytes);
    let packet = decode(header.packet_type, header.flags, &mut body, version)?;
    if !body.is_empty() {
        return Err(Error::TrailingBytes { packet: header.packet_type.name(), bytes: body.len() });
    }
    Ok(Some(packet))
}

/// Decodes a packet's body.
fn decode(packet_type: PacketType, flags: u8, body: &mut Bytes, version: Version) -> Result<Packet, Error> {
    Ok(match packet_type {
        PacketType::Connect => Packet::Connect(Connect::read(body)?),
        PacketType::ConnAck => Packet::ConnAck(ConnAck::read(body, version)?),
        PacketType::Publish => Packet::Publish(Publish::read(body, flags, version)?),
        PacketType::PubAck => Packet::PubAck(PubAck::read(body, version)?),
        PacketType::PubRec => Packet::PubRec(PubRec::read(body, version)?),
        PacketType::PubRel => Packet::PubRel(PubRel::read(body, version)?),
        PacketType::PubComp => Packet::PubComp(PubComp::read(body, version)?),
        PacketType::Subscribe => Packet::Subscribe(Subscribe::read(body, version)?),
        PacketType::SubAck => Packet::SubAck(SubAck::read(body, version)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(Unsubscribe::read(body, version)?),
        PacketType::UnsubAck => Packet::UnsubAck(UnsubAck::read(body, version)?),
        PacketType::PingReq => Packet::PingReq,
        PacketType::PingResp => Packet::PingResp,
        PacketType::Disconnect => Packet::Disconnect(Disconnect::read(body, version)?),
        PacketType::Auth => Packet::Auth(Auth::read(body)?),
    })
}

/// Encodes `packet` for `version` (v5-only fields are dropped for 3.x: properties, reason codes
/// other than those 3.1.1 has; CONNECT is encoded for its own `version` field). Errors only on
/// values that cannot be encoded (a string over 65535 bytes, a remaining length over
/// 268,435,455, AUTH for 3.x, a packet identifier missing or given against the QoS, ...); then
/// nothing is left in `out`. Returns the number of bytes written.
pub fn write(packet: &Packet, version: Version, out: &mut BytesMut) -> Result<usize, Error> {
    let start = out.len();
    match encode(packet, version, out) {
        Ok(()) => Ok(out.len() - start),
        Err(err) => {
            out.truncate(start);
            Err(err)
        }
    }
}

/// The encoded size in bytes (fixed header included): to check a peer's Maximum Packet Size
/// before writing. Fails exactly when [`write()`] would.
pub fn len(packet: &Packet, version: Version) -> Result<usize, Error> {
    count(|counter| encode(packet, version, counter))
}

/// Writes the fixed header and the body.
fn encode(packet: &Packet, version: Version, sink: &mut impl Sink) -> Result<(), Error> {
    let (packet_type, flags) = packet.type_and_flags();
    let body_bytes = count(|counter| packet.write_body(version, counter))?;
    fixed_header::write(sink, packet_type, flags, body_bytes)?;
    sink.reserve(body_bytes);
    packet.write_body(version, sink)
}

impl Packet {
    /// The fixed header's type and flags.
    /// The packet's type as the specification names it (`PUBLISH`).
    pub fn type_name(&self) -> &'static str {
        self.type_and_flags().0.name()
    }

    fn type_and_flags(&self) -> (PacketType, u8) {
        let packet_type = match self {
            Packet::Publish(publish) => return (PacketType::Publish, publish.flags()),
            Packet::Connect(_) => PacketType::Connect,
            Packet::ConnAck(_) => PacketType::ConnAck,
            Packet::PubAck(_) => PacketType::PubAck,
            Packet::PubRec(_) => PacketType::PubRec,
            Packet::PubRel(_) => PacketType::PubRel,
            Packet::PubComp(_) => PacketType::PubComp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::SubAck(_) => PacketType::SubAck,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::UnsubAck(_) => PacketType::UnsubAck,
            Packet::PingReq => PacketType::PingReq,
            Packet::PingResp => PacketType::PingResp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        };
        (packet_type, packet_type.required_flags().unwrap_or_default())
    }

    /// Writes everything after the fixed header.
    fn write_body(&self, version: Version, sink: &mut impl Sink) -> Result<(), Error> {
        match self {
            Packet::Connect(connect) => connect.write(sink),
            Packet::ConnAck(connack) => connack.write(version, sink),
            Packet::Publish(publish) => publish.write(version, sink),
            Packet::PubAck(ack) => ack.write(version, sink),
            Packet::PubRec(ack) => ack.write(version, sink),
            Packet::PubRel(ack) => ack.write(version, sink),
            Packet::PubComp(ack) => ack.write(version, sink),
            Packet::Subscribe(subscribe) => subscribe.write(version, sink),
            Packet::SubAck(suback) => suback.write(version, sink),
            Packet::Unsubscribe(unsubscribe) => unsubscribe.write(version, sink),
            Packet::UnsubAck(unsuback) => unsuback.write(version, sink),
            Packet::PingReq | Packet::PingResp => Ok(()),
            Packet::Disconnect(disconnect) => disconnect.write(version, sink),
            Packet::Auth(auth) => auth.write(version, sink),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::any_packet;
    use super::*;
    use proptest::prelude::*;

    const VERSIONS: [Version; 3] = [Version::V31, Version::V311, Version::V5];

    #[test]
    fn an_oversize_header_fails_with_five_bytes_buffered() {
        // PUBLISH QoS 0, remaining length 1 MiB = 0x80 0x80 0x40, then one body byte.
        let mut buf = BytesMut::from(&[0x30, 0x80, 0x80, 0x40, 0x00][..]);
        let err = read(&mut buf, Version::V5, 1024).unwrap_err();
        assert_eq!(err, Error::PacketTooLarge { packet_bytes: 1_048_580, packet_bytes_max: 1024 });
        assert_eq!(err.reason(), ReasonCode::PacketTooLarge);
        assert_eq!(buf.len(), 5);
    }

    #[test]
    fn the_limit_counts_the_fixed_header() {
        // PINGREQ is 2 bytes.
        let mut buf = BytesMut::from(&[0xc0, 0x00][..]);
        assert!(read(&mut buf.clone(), Version::V311, 1).is_err());
        assert_eq!(read(&mut buf, Version::V311, 2), Ok(Some(Packet::PingReq)));
    }

    #[test]
    fn reads_one_packet_at_a_time_and_leaves_the_rest() {
        // PINGREQ, PINGRESP, then the first byte of a PUBACK.
        let mut buf = BytesMut::from(&[0xc0, 0x00, 0xd0, 0x00, 0x40][..]);
        assert_eq!(read(&mut buf, Version::V311, 64), Ok(Some(Packet::PingReq)));
        assert_eq!(read(&mut buf, Version::V311, 64), Ok(Some(Packet::PingResp)));
        assert_eq!(read(&mut buf, Version::V311, 64), Ok(None));
        assert_eq!(&buf[..], &[0x40]);
    }

    #[test]
    fn leftover_bytes_inside_a_packet_are_malformed() {
        // PUBACK with remaining length 3 in 3.1.1: id 1, one byte too many.
        let mut buf = BytesMut::from(&[0x40, 0x03, 0x00, 0x01, 0x00][..]);
        let err = read(&mut buf, Version::V311, 64).unwrap_err();
        assert_eq!(err, Error::TrailingBytes { packet: "PUBACK", bytes: 1 });
        assert_eq!(err.reason(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn a_field_overrunning_the_packet_is_malformed() {
        // UNSUBSCRIBE, remaining length 5: id 1, a filter claiming 4 bytes with only 1 inside,
        // though the buffer goes on (the next packet's bytes are not the filter's).
        let mut buf = BytesMut::from(&[0xa2, 0x05, 0x00, 0x01, 0x00, 0x04, b'a', b'b', b'c', b'd'][..]);
        let err = read(&mut buf, Version::V311, 64).unwrap_err();
        assert_eq!(err, Error::Truncated { field: "topic filter" });
        assert_eq!(&buf[..], b"bcd");
    }

    #[test]
    fn write_leaves_nothing_behind_on_error() {
        let mut out = BytesMut::from(&b"kept"[..]);
        let auth = Packet::Auth(Auth::default());
        assert!(matches!(write(&auth, Version::V311, &mut out), Err(Error::CannotEncode(_))));
        assert_eq!(&out[..], b"kept");
        assert!(len(&auth, Version::V311).is_err());
    }

    #[test]
    fn version_levels_and_replies() {
        for version in VERSIONS {
            assert_eq!(Version::for_reply(version.level()), version);
        }
        assert_eq!(Version::for_reply(6), Version::V311);
        assert_eq!(Version::V31.protocol_name(), "MQIsdp");
        assert_eq!(QoS::from_u8(3), None);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            for version in VERSIONS {
                let mut buf = BytesMut::from(&bytes[..]);
                while let Ok(Some(_)) = read(&mut buf, version, 1 << 20) {}
            }
        }

        #[test]
        fn arbitrary_bodies_behind_a_valid_header_never_panic(
            first in any::<u8>(),
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            for version in VERSIONS {
                let mut buf = BytesMut::new();
                buf.extend_from_slice(&[first, body.len() as u8]);
                buf.extend_from_slice(&body);
                let _ = read(&mut buf, version, 1 << 20);
            }
        }

        #[test]
        fn valid_packets_with_a_byte_changed_or_cut_never_panic(
            (version, packet) in prop_oneof![Just(Version::V311), Just(Version::V5)]
                .prop_flat_map(|version| (Just(version), any_packet(version))),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let mut encoded = BytesMut::new();
            write(&packet, version, &mut encoded).unwrap();
            let i = at.index(encoded.len());
            encoded[i] = byte;
            let _ = read(&mut encoded.clone(), version, usize::MAX);
            // Cut short, with the remaining length patched to match when it is one byte.
            let cut = cut.index(encoded.len()).max(2);
            let mut short = BytesMut::from(&encoded[..cut]);
            if encoded[1] < 0x80 {
                short[1] = (cut - 2) as u8;
            }
            let _ = read(&mut short, version, usize::MAX);
        }

        #[test]
        fn packets_round_trip_and_len_is_what_write_wrote(
            (version, packet) in prop_oneof![Just(Version::V31), Just(Version::V311), Just(Version::V5)]
                .prop_flat_map(|version| (Just(version), any_packet(version)))
        ) {
            testing::round_trip(&packet, version)?;
        }

        #[test]
        fn a_packet_fed_one_byte_at_a_time_is_read_only_when_whole(
            (version, packet) in prop_oneof![Just(Version::V311), Just(Version::V5)]
                .prop_flat_map(|version| (Just(version), any_packet(version)))
        ) {
            let mut encoded = BytesMut::new();
            write(&packet, version, &mut encoded).unwrap();
            let mut buf = BytesMut::new();
            for (i, &byte) in encoded.iter().enumerate() {
                buf.extend_from_slice(&[byte]);
                let result = read(&mut buf, version, usize::MAX);
                if i + 1 < encoded.len() {
                    prop_assert_eq!(result, Ok(None));
                    prop_assert_eq!(buf.len(), i + 1);
                } else {
                    prop_assert_eq!(result, Ok(Some(packet.clone())));
                    prop_assert!(buf.is_empty());
                }
            }
        }
    }
}
