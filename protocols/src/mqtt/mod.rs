//! MQTT 3.1, 3.1.1 and 5.0: the packet codec, and topic names and filters.
//!
//! `read` decodes one packet from the front of a buffer, or says it needs more bytes;
//! `write` encodes one; `len` says how long the encoding is without making it. The packet
//! structs are the 5.0 ones (reason codes, properties); on a 3.x connection the fields 3.x does
//! not have are left at their defaults on read and dropped on write, so a server can handle all
//! three versions with one set of types. Which version a connection speaks comes from its
//! CONNECT, which is the one packet decoded whatever version the caller passes.
//!
//! Nothing here validates what only a session can: topic aliases against their maximum, packet
//! identifiers in flight, topic filters in SUBSCRIBE (each gets its own SUBACK code: see
//! [`topic::valid_filter`]), sizes against a peer's Maximum Packet Size (see `len`).

// The codec's building blocks; the packets that use them come next.
#[allow(dead_code)]
mod error;
#[allow(dead_code)]
mod fixed_header;
#[allow(dead_code)]
mod primitives;
#[allow(dead_code)]
mod reason;
pub mod topic;

pub use error::Error;
pub use primitives::{FIELD_BYTES_MAX, VARINT_MAX};
pub use reason::ReasonCode;
pub use reason::{connack_return_code, from_connack_return_code, from_suback_return_code, suback_return_code};

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
