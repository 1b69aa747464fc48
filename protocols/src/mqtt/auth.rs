//! AUTH (section 3.15, 5.0 only): a step of extended authentication, either way. Packet type 15
//! is reserved before 5.0, so it is refused on read and cannot be written for 3.x.

use bytes::Bytes;

use super::primitives::Sink;
use super::properties::{self, id, once, Applied, Property, PropertySet};
use super::reason::{self, ReasonCode};
use super::{Error, Version};

/// An AUTH packet. The default is Success without properties (remaining length 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Auth {
    pub reason: ReasonCode,
    pub properties: AuthProperties,
}

/// AUTH's properties (3.15.2.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthProperties {
    pub authentication_method: Option<String>,
    pub authentication_data: Option<Bytes>,
    pub reason_string: Option<String>,
    pub user_properties: Vec<(String, String)>,
}

impl Auth {
    pub(crate) fn read(body: &mut Bytes) -> Result<Auth, Error> {
        if body.is_empty() {
            return Ok(Auth::default());
        }
        let reason = reason::read(body, reason::AUTH, "AUTH")?;
        let properties = match body.is_empty() {
            true => AuthProperties::default(),
            false => properties::read(body, "AUTH")?,
        };
        Ok(Auth { reason, properties })
    }

    pub(crate) fn write(&self, version: Version, sink: &mut impl Sink) -> Result<(), Error> {
        if version != Version::V5 {
            return Err(Error::CannotEncode("AUTH before 5.0"));
        }
        if self.reason == ReasonCode::Success && self.properties == AuthProperties::default() {
            return Ok(());
        }
        sink.u8(self.reason.code());
        properties::write(&self.properties, sink)
    }
}

impl PropertySet for AuthProperties {
    fn apply(&mut self, property: Property) -> Applied {
        match property {
            Property::AuthenticationMethod(value) => once(&mut self.authentication_method, value),
            Property::AuthenticationData(value) => once(&mut self.authentication_data, value),
            Property::ReasonString(value) => once(&mut self.reason_string, value),
            Property::UserProperty(name, value) => {
                self.user_properties.push((name, value));
                Applied::Set
            }
            _ => Applied::NotAllowed,
        }
    }

    fn write(&self, sink: &mut impl Sink) -> Result<(), Error> {
        properties::put_string(sink, id::AUTHENTICATION_METHOD, self.authentication_method.as_deref())?;
        properties::put_binary(sink, id::AUTHENTICATION_DATA, self.authentication_data.as_deref())?;
        properties::put_string(sink, id::REASON_STRING, self.reason_string.as_deref())?;
        properties::put_user_properties(sink, &self.user_properties)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mqtt::testing::{self, both_ways, bytes, decode, string, user_properties};
    use crate::mqtt::Packet;
    use proptest::option::of;
    use proptest::prelude::*;
    use proptest::sample::select;

    pub(crate) fn auth() -> impl Strategy<Value = Auth> {
        let properties = (of(string()), of(bytes()), of(string()), user_properties()).prop_map(
            |(authentication_method, authentication_data, reason_string, user_properties)| AuthProperties {
                authentication_method,
                authentication_data,
                reason_string,
                user_properties,
            },
        );
        (select(reason::AUTH), properties).prop_map(|(reason, properties)| Auth { reason, properties })
    }

    #[test]
    fn success_without_properties_is_two_bytes() {
        both_ways(&[0xf0, 0x00], Packet::Auth(Auth::default()), Version::V5);
    }

    #[test]
    fn continue_authentication() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0xf0, 0x0b, // AUTH, remaining length 11
            0x18, // continue authentication
            0x09, // property length 9
            0x15, 0x00, 0x03, b'S', b'C', b'R', // authentication method "SCR"
            0x16, 0x00, 0x00, // authentication data, empty
        ];
        let auth = Auth {
            reason: ReasonCode::ContinueAuthentication,
            properties: AuthProperties {
                authentication_method: Some("SCR".into()),
                authentication_data: Some(Bytes::new()),
                ..AuthProperties::default()
            },
        };
        both_ways(bytes, Packet::Auth(auth), Version::V5);
    }

    #[test]
    fn refusals() {
        // Packet type 15 before 5.0.
        assert_eq!(decode(&[0xf0, 0x00], Version::V311), Err(Error::InvalidPacketType { packet_type: 15 }));
        // 0x04 is a DISCONNECT code.
        assert_eq!(decode(&[0xf0, 0x02, 0x04, 0x00], Version::V5).unwrap_err().reason().code(), 0x82);
        // Authentication method twice.
        let bytes = [0xf0, 0x0a, 0x18, 0x08, 0x15, 0x00, 0x01, b'a', 0x15, 0x00, 0x01, b'b'];
        assert_eq!(decode(&bytes, Version::V5).unwrap_err().reason().code(), 0x82);
    }

    proptest! {
        #[test]
        fn auth_round_trips(auth in auth()) {
            testing::round_trip(&Packet::Auth(auth), Version::V5)?;
        }
    }
}
