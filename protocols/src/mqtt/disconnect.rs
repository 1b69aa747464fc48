//! DISCONNECT (section 3.14): the last packet of a connection. In 3.x only a client sends it,
//! with no body; in 5.0 either side does, with a reason and properties that may both be left
//! out (remaining length 0 is a normal disconnection, 1 a reason without properties).

use bytes::Bytes;

use super::primitives::Sink;
use super::properties::{self, id, once, Applied, Property, PropertySet};
use super::reason::{self, ReasonCode};
use super::{Error, Version};

/// A DISCONNECT packet. The default is a normal disconnection without properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    pub reason: ReasonCode,
    pub properties: DisconnectProperties,
}

/// DISCONNECT's properties (3.14.2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisconnectProperties {
    /// Client to server only.
    pub session_expiry_interval_s: Option<u32>,
    pub reason_string: Option<String>,
    pub user_properties: Vec<(String, String)>,
    /// Server to client only.
    pub server_reference: Option<String>,
}

impl Default for Disconnect {
    fn default() -> Disconnect {
        Disconnect { reason: ReasonCode::NormalDisconnection, properties: DisconnectProperties::default() }
    }
}

impl Disconnect {
    pub(crate) fn read(body: &mut Bytes, version: Version) -> Result<Disconnect, Error> {
        if version != Version::V5 || body.is_empty() {
            return Ok(Disconnect::default());
        }
        let reason = reason::read(body, reason::DISCONNECT, "DISCONNECT")?;
        let properties = match body.is_empty() {
            true => DisconnectProperties::default(),
            false => properties::read(body, "DISCONNECT")?,
        };
        Ok(Disconnect { reason, properties })
    }

    pub(crate) fn write(&self, version: Version, sink: &mut impl Sink) -> Result<(), Error> {
        let no_properties = self.properties == DisconnectProperties::default();
        if version != Version::V5 || (self.reason == ReasonCode::NormalDisconnection && no_properties) {
            return Ok(());
        }
        sink.u8(self.reason.code());
        if no_properties {
            return Ok(());
        }
        properties::write(&self.properties, sink)
    }
}

impl PropertySet for DisconnectProperties {
    fn apply(&mut self, property: Property) -> Applied {
        match property {
            Property::SessionExpiryInterval(value) => once(&mut self.session_expiry_interval_s, value),
            Property::ReasonString(value) => once(&mut self.reason_string, value),
            Property::UserProperty(name, value) => {
                self.user_properties.push((name, value));
                Applied::Set
            }
            Property::ServerReference(value) => once(&mut self.server_reference, value),
            _ => Applied::NotAllowed,
        }
    }

    fn write(&self, sink: &mut impl Sink) -> Result<(), Error> {
        properties::put_u32(sink, id::SESSION_EXPIRY_INTERVAL, self.session_expiry_interval_s);
        properties::put_string(sink, id::REASON_STRING, self.reason_string.as_deref())?;
        properties::put_user_properties(sink, &self.user_properties)?;
        properties::put_string(sink, id::SERVER_REFERENCE, self.server_reference.as_deref())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mqtt::testing::{self, both_ways, decode, encode, string, user_properties, v5_only};
    use crate::mqtt::Packet;
    use proptest::option::of;
    use proptest::prelude::*;
    use proptest::sample::select;

    pub(crate) fn disconnect(version: Version) -> impl Strategy<Value = Disconnect> {
        let properties = (of(any::<u32>()), of(string()), user_properties(), of(string())).prop_map(
            |(session_expiry_interval_s, reason_string, user_properties, server_reference)| DisconnectProperties {
                session_expiry_interval_s,
                reason_string,
                user_properties,
                server_reference,
            },
        );
        (
            v5_only(version, select(reason::DISCONNECT), ReasonCode::NormalDisconnection),
            v5_only(version, properties, DisconnectProperties::default()),
        )
            .prop_map(|(reason, properties)| Disconnect { reason, properties })
    }

    #[test]
    fn normal_disconnection_is_two_bytes() {
        both_ways(&[0xe0, 0x00], Packet::Disconnect(Disconnect::default()), Version::V311);
        both_ways(&[0xe0, 0x00], Packet::Disconnect(Disconnect::default()), Version::V5);
        // Reason 0 and an empty property block say the same.
        assert_eq!(decode(&[0xe0, 0x02, 0x00, 0x00], Version::V5), Ok(Packet::Disconnect(Disconnect::default())));
    }

    #[test]
    fn v5_reason_without_properties() {
        let disconnect = Disconnect { reason: ReasonCode::DisconnectWithWill, ..Disconnect::default() };
        both_ways(&[0xe0, 0x01, 0x04], Packet::Disconnect(disconnect), Version::V5);
        // with will
    }

    #[test]
    fn v5_with_properties() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0xe0, 0x0b, // DISCONNECT, remaining length 11
            0x9c, // use another server
            0x09, // property length 9
            0x11, 0x00, 0x00, 0x00, 0x00, // session expiry interval 0
            0x1c, 0x00, 0x01, b's', // server reference "s"
        ];
        let disconnect = Disconnect {
            reason: ReasonCode::UseAnotherServer,
            properties: DisconnectProperties {
                session_expiry_interval_s: Some(0),
                server_reference: Some("s".into()),
                ..DisconnectProperties::default()
            },
        };
        both_ways(bytes, Packet::Disconnect(disconnect.clone()), Version::V5);
        assert_eq!(encode(&Packet::Disconnect(disconnect), Version::V311), [0xe0, 0x00]);
    }

    #[test]
    fn refusals() {
        // A body in 3.1.1.
        assert_eq!(decode(&[0xe0, 0x01, 0x00], Version::V311).unwrap_err().reason().code(), 0x81);
        // 0x18 is an AUTH code.
        assert_eq!(decode(&[0xe0, 0x01, 0x18], Version::V5).unwrap_err().reason().code(), 0x82);
        // Topic Alias is not a DISCONNECT property.
        assert_eq!(decode(&[0xe0, 0x05, 0x00, 0x03, 0x23, 0x00, 0x01], Version::V5).unwrap_err().reason().code(), 0x81);
    }

    proptest! {
        #[test]
        fn disconnect_round_trips(version in prop_oneof![Just(Version::V311), Just(Version::V5)]
            .prop_flat_map(|version| disconnect(version).prop_map(move |d| (version, d))))
        {
            let (version, disconnect) = version;
            testing::round_trip(&Packet::Disconnect(disconnect), version)?;
        }
    }
}
