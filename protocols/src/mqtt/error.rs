//! What can go wrong decoding or encoding a packet, and which reason code a server answers with.
//!
//! The variants say what was wrong (the field, the property, the packet) so a log line explains
//! a refused connection; [`Error::reason`] folds them into the few codes MQTT 5.0 defines for a
//! DISCONNECT or CONNACK (section 4.13): Malformed Packet for bytes that do not parse, Protocol
//! Error for bytes that parse into something the spec forbids. For 3.x there is no code to send:
//! the connection is closed (a CONNECT with an unsupported level first gets return code 1).

use std::fmt;

use super::reason::ReasonCode;

/// A decoding or encoding failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// The fixed header announces `packet_bytes` (header included), more than `packet_bytes_max`.
    PacketTooLarge { packet_bytes: usize, packet_bytes_max: usize },
    /// A CONNECT whose protocol name and level are not "MQIsdp" 3, "MQTT" 4 or "MQTT" 5.
    /// `level` says which version the client asked for, to answer in it (see [`Version::for_reply`]).
    ///
    /// [`Version::for_reply`]: super::Version::for_reply
    UnsupportedProtocolVersion { name: String, level: u8 },
    /// Packet type 0, or 15 (AUTH) on a 3.x connection.
    InvalidPacketType { packet_type: u8 },
    /// Fixed header flags other than the spec requires for this packet type.
    InvalidFlags { packet_type: u8, flags: u8 },
    /// A Variable Byte Integer (remaining length, property length, ...) longer than 4 bytes.
    VarintMalformed { field: &'static str },
    /// A field runs past the end of the packet (or of its property block).
    Truncated { field: &'static str },
    /// Bytes left in the packet after its last field.
    TrailingBytes { packet: &'static str, bytes: usize },
    /// A string that is not well-formed UTF-8.
    InvalidUtf8 { field: &'static str },
    /// A string containing U+0000.
    NullCharacter { field: &'static str },
    /// A property identifier that is unknown or not allowed on this packet.
    PropertyNotAllowed { property: u32, packet: &'static str },
    /// Any other malformed packet; the detail says what.
    Malformed(&'static str),
    /// A property given twice where the spec allows it once.
    DuplicateProperty { property: u8, packet: &'static str },
    /// A property value outside its range (a flag other than 0 or 1, a maximum of 0, ...).
    InvalidPropertyValue { property: u8, value: u32 },
    /// A reason code unknown, or not one this packet may carry.
    InvalidReasonCode { code: u8, packet: &'static str },
    /// A packet identifier of 0.
    PacketIdZero { packet: &'static str },
    /// Any other protocol error; the detail says what.
    Protocol(&'static str),
    /// A PUBLISH (or will) topic name with a wildcard, or empty in 3.x.
    TopicNameInvalid(&'static str),
    /// An invalid topic filter (from [`SharedFilter::parse`](super::topic::SharedFilter::parse)).
    TopicFilterInvalid(&'static str),
    /// A Topic Alias property of 0.
    TopicAliasInvalid,
    /// Encoding: a string longer than 65,535 bytes.
    StringTooLong { bytes: usize },
    /// Encoding: binary data longer than 65,535 bytes.
    BinaryTooLong { bytes: usize },
    /// Encoding: a Variable Byte Integer value over 268,435,455.
    VarintTooLarge { value: usize },
    /// Encoding: a packet whose remaining length is over 268,435,455 bytes.
    RemainingLengthTooLarge { bytes: usize },
    /// Encoding: a value this version cannot carry; the detail says what.
    CannotEncode(&'static str),
}

impl Error {
    /// The reason code a server sends (DISCONNECT, or CONNACK while connecting) for this error.
    pub fn reason(&self) -> ReasonCode {
        use Error::*;
        match self {
            PacketTooLarge { .. } | RemainingLengthTooLarge { .. } => ReasonCode::PacketTooLarge,
            UnsupportedProtocolVersion { .. } => ReasonCode::UnsupportedProtocolVersion,
            InvalidPacketType { .. }
            | InvalidFlags { .. }
            | VarintMalformed { .. }
            | Truncated { .. }
            | TrailingBytes { .. }
            | InvalidUtf8 { .. }
            | NullCharacter { .. }
            | PropertyNotAllowed { .. }
            | Malformed(_) => ReasonCode::MalformedPacket,
            DuplicateProperty { .. }
            | InvalidPropertyValue { .. }
            | InvalidReasonCode { .. }
            | PacketIdZero { .. }
            | Protocol(_) => ReasonCode::ProtocolError,
            TopicNameInvalid(_) => ReasonCode::TopicNameInvalid,
            TopicFilterInvalid(_) => ReasonCode::TopicFilterInvalid,
            TopicAliasInvalid => ReasonCode::TopicAliasInvalid,
            StringTooLong { .. } | BinaryTooLong { .. } | VarintTooLarge { .. } | CannotEncode(_) => {
                ReasonCode::ImplementationSpecificError
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Error::*;
        match self {
            PacketTooLarge { packet_bytes, packet_bytes_max } => {
                write!(f, "packet of {packet_bytes} bytes over the maximum of {packet_bytes_max}")
            }
            UnsupportedProtocolVersion { name, level } => {
                write!(f, "unsupported protocol {name:?} level {level}")
            }
            InvalidPacketType { packet_type } => write!(f, "invalid packet type {packet_type}"),
            InvalidFlags { packet_type, flags } => {
                write!(f, "invalid fixed header flags {flags:#06b} for packet type {packet_type}")
            }
            VarintMalformed { field } => write!(f, "{field}: variable byte integer over 4 bytes"),
            Truncated { field } => write!(f, "{field} runs past the end of the packet"),
            TrailingBytes { packet, bytes } => write!(f, "{bytes} bytes left over at the end of {packet}"),
            InvalidUtf8 { field } => write!(f, "{field} is not valid UTF-8"),
            NullCharacter { field } => write!(f, "{field} contains U+0000"),
            PropertyNotAllowed { property, packet } => write!(f, "property {property:#04x} not allowed on {packet}"),
            Malformed(detail) => write!(f, "malformed packet: {detail}"),
            DuplicateProperty { property, packet } => write!(f, "property {property:#04x} given twice on {packet}"),
            InvalidPropertyValue { property, value } => write!(f, "property {property:#04x} has invalid value {value}"),
            InvalidReasonCode { code, packet } => write!(f, "reason code {code:#04x} not valid on {packet}"),
            PacketIdZero { packet } => write!(f, "packet identifier 0 on {packet}"),
            Protocol(detail) => write!(f, "protocol error: {detail}"),
            TopicNameInvalid(detail) => write!(f, "invalid topic name: {detail}"),
            TopicFilterInvalid(detail) => write!(f, "invalid topic filter: {detail}"),
            TopicAliasInvalid => write!(f, "topic alias 0"),
            StringTooLong { bytes } => write!(f, "string of {bytes} bytes over 65535"),
            BinaryTooLong { bytes } => write!(f, "binary data of {bytes} bytes over 65535"),
            VarintTooLarge { value } => write!(f, "value {value} over 268435455"),
            RemainingLengthTooLarge { bytes } => write!(f, "remaining length of {bytes} bytes over 268435455"),
            CannotEncode(detail) => write!(f, "cannot encode: {detail}"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_follow_the_spec_classes() {
        assert_eq!(Error::PacketTooLarge { packet_bytes: 2, packet_bytes_max: 1 }.reason().code(), 0x95);
        let unsupported = Error::UnsupportedProtocolVersion { name: "MQTT".into(), level: 9 };
        assert_eq!(unsupported.reason().code(), 0x84);
        assert_eq!(Error::Truncated { field: "topic name" }.reason().code(), 0x81);
        assert_eq!(Error::InvalidUtf8 { field: "client identifier" }.reason().code(), 0x81);
        assert_eq!(Error::VarintMalformed { field: "remaining length" }.reason().code(), 0x81);
        assert_eq!(Error::DuplicateProperty { property: 0x11, packet: "CONNECT" }.reason().code(), 0x82);
        assert_eq!(Error::PacketIdZero { packet: "PUBACK" }.reason().code(), 0x82);
        assert_eq!(Error::TopicNameInvalid("wildcard").reason().code(), 0x90);
        assert_eq!(Error::TopicFilterInvalid("empty").reason().code(), 0x8F);
        assert_eq!(Error::TopicAliasInvalid.reason().code(), 0x94);
    }

    #[test]
    fn display_names_the_field() {
        assert_eq!(Error::Truncated { field: "topic name" }.to_string(), "topic name runs past the end of the packet");
    }
}
