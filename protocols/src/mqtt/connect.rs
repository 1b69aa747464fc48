//! CONNECT (section 3.1 of 5.0 and of 3.1.1): the first packet of a connection, the only one
//! that says which protocol version the rest is in.
//!
//! Decoded whatever version the connection is thought to speak: the protocol name and level
//! choose it ("MQIsdp" 3, "MQTT" 4 or 5). Any other pair is [`Error::UnsupportedProtocolVersion`],
//! which keeps the level so the server can refuse in a version the client reads. The client
//! identifier may be empty: whether to assign one is the server's decision.

use bytes::Bytes;

use super::primitives::{self, Sink};
use super::properties::{self, id, once, Applied, PayloadFormat, Property, PropertySet};
use super::{topic, Error, QoS, Version};

/// A CONNECT packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    pub version: Version,
    pub client_id: String,
    /// Clean Start in 5.0, Clean Session in 3.x.
    pub clean_start: bool,
    pub keep_alive_s: u16,
    pub username: Option<String>,
    pub password: Option<Bytes>,
    pub will: Option<Will>,
    pub properties: ConnectProperties,
}

/// The will message of a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    pub topic: String,
    pub payload: Bytes,
    pub qos: QoS,
    pub retain: bool,
    pub properties: WillProperties,
}

/// CONNECT's properties (3.1.2.11).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectProperties {
    pub session_expiry_interval_s: Option<u32>,
    pub receive_maximum: Option<u16>,
    pub maximum_packet_size: Option<u32>,
    pub topic_alias_maximum: Option<u16>,
    pub request_response_information: Option<bool>,
    pub request_problem_information: Option<bool>,
    pub user_properties: Vec<(String, String)>,
    pub authentication_method: Option<String>,
    pub authentication_data: Option<Bytes>,
}

/// The will's properties (3.1.3.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WillProperties {
    pub will_delay_interval_s: Option<u32>,
    pub payload_format_indicator: Option<PayloadFormat>,
    pub message_expiry_interval_s: Option<u32>,
    pub content_type: Option<String>,
    pub response_topic: Option<String>,
    pub correlation_data: Option<Bytes>,
    pub user_properties: Vec<(String, String)>,
}

/// The Connect Flags bits (3.1.2.3).
mod flag {
    pub const RESERVED: u8 = 0b0000_0001;
    pub const CLEAN_START: u8 = 0b0000_0010;
    pub const WILL: u8 = 0b0000_0100;
    pub const WILL_QOS_SHIFT: u8 = 3;
    pub const WILL_RETAIN: u8 = 0b0010_0000;
    pub const PASSWORD: u8 = 0b0100_0000;
    pub const USERNAME: u8 = 0b1000_0000;
}

impl Connect {
    pub(crate) fn read(body: &mut Bytes) -> Result<Connect, Error> {
        let version = read_version(body)?;
        let flags = primitives::u8(body, "connect flags")?;
        let will_qos = check_flags(flags, version)?;
        let keep_alive_s = primitives::u16(body, "keep alive")?;
        let properties = match version {
            Version::V5 => read_properties(body)?,
            _ => ConnectProperties::default(),
        };
        let client_id = primitives::string(body, "client identifier")?;
        let will = match will_qos {
            Some(qos) => Some(Will::read(body, version, qos, flags & flag::WILL_RETAIN != 0)?),
            None => None,
        };
        let username = (flags & flag::USERNAME != 0).then(|| primitives::string(body, "user name")).transpose()?;
        let password = (flags & flag::PASSWORD != 0).then(|| primitives::binary(body, "password")).transpose()?;
        let clean_start = flags & flag::CLEAN_START != 0;
        Ok(Connect { version, client_id, clean_start, keep_alive_s, username, password, will, properties })
    }

    /// Writes the body for `self.version`.
    pub(crate) fn write(&self, sink: &mut impl Sink) -> Result<(), Error> {
        let version = self.version;
        if version != Version::V5 && self.password.is_some() && self.username.is_none() {
            return Err(Error::CannotEncode("a password without a user name before 5.0"));
        }
        sink.string(version.protocol_name())?;
        sink.u8(version.level());
        sink.u8(self.flags());
        sink.u16(self.keep_alive_s);
        if version == Version::V5 {
            properties::write(&self.properties, sink)?;
        }
        sink.string(&self.client_id)?;
        if let Some(will) = &self.will {
            if version == Version::V5 {
                properties::write(&will.properties, sink)?;
            }
            sink.string(&will.topic)?;
            sink.binary(&will.payload)?;
        }
        if let Some(username) = &self.username {
            sink.string(username)?;
        }
        if let Some(password) = &self.password {
            sink.binary(password)?;
        }
        Ok(())
    }

    fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.clean_start {
            flags |= flag::CLEAN_START;
        }
        if let Some(will) = &self.will {
            flags |= flag::WILL | (will.qos as u8) << flag::WILL_QOS_SHIFT;
            if will.retain {
                flags |= flag::WILL_RETAIN;
            }
        }
        if self.username.is_some() {
            flags |= flag::USERNAME;
        }
        if self.password.is_some() {
            flags |= flag::PASSWORD;
        }
        flags
    }
}

/// Reads the protocol name and level.
fn read_version(body: &mut Bytes) -> Result<Version, Error> {
    let name = primitives::string(body, "protocol name")?;
    let level = primitives::u8(body, "protocol level")?;
    match (name.as_str(), level) {
        ("MQIsdp", 3) => Ok(Version::V31),
        ("MQTT", 4) => Ok(Version::V311),
        ("MQTT", 5) => Ok(Version::V5),
        _ => Err(Error::UnsupportedProtocolVersion { name, level }),
    }
}

/// Checks the Connect Flags (3.1.2.3 to 3.1.2.9); returns the will's QoS if there is a will.
fn check_flags(flags: u8, version: Version) -> Result<Option<QoS>, Error> {
    if flags & flag::RESERVED != 0 {
        return Err(Error::Malformed("CONNECT reserved flag set"));
    }
    let qos_bits = (flags >> flag::WILL_QOS_SHIFT) & 0b11;
    if flags & flag::WILL == 0 && (qos_bits != 0 || flags & flag::WILL_RETAIN != 0) {
        return Err(Error::Malformed("will QoS or will retain set without a will"));
    }
    if version != Version::V5 && flags & flag::PASSWORD != 0 && flags & flag::USERNAME == 0 {
        return Err(Error::Malformed("password flag set without the user name flag"));
    }
    if flags & flag::WILL == 0 {
        return Ok(None);
    }
    QoS::from_u8(qos_bits).map(Some).ok_or(Error::Malformed("will QoS 3"))
}

/// Reads CONNECT's properties, where Authentication Data needs an Authentication Method.
fn read_properties(body: &mut Bytes) -> Result<ConnectProperties, Error> {
    let properties: ConnectProperties = properties::read(body, "CONNECT")?;
    if properties.authentication_data.is_some() && properties.authentication_method.is_none() {
        return Err(Error::Protocol("authentication data without an authentication method"));
    }
    Ok(properties)
}

impl Will {
    fn read(body: &mut Bytes, version: Version, qos: QoS, retain: bool) -> Result<Will, Error> {
        let properties = match version {
            Version::V5 => properties::read(body, "will properties")?,
            _ => WillProperties::default(),
        };
        let topic = primitives::string(body, "will topic")?;
        if !topic::valid_name(&topic) {
            return Err(Error::TopicNameInvalid("will topic empty or with a wildcard"));
        }
        let payload = primitives::binary(body, "will payload")?;
        Ok(Will { topic, payload, qos, retain, properties })
    }
}

impl PropertySet for ConnectProperties {
    fn apply(&mut self, property: Property) -> Applied {
        match property {
            Property::SessionExpiryInterval(value) => once(&mut self.session_expiry_interval_s, value),
            Property::ReceiveMaximum(value) => once(&mut self.receive_maximum, value),
            Property::MaximumPacketSize(value) => once(&mut self.maximum_packet_size, value),
            Property::TopicAliasMaximum(value) => once(&mut self.topic_alias_maximum, value),
            Property::RequestResponseInformation(value) => once(&mut self.request_response_information, value),
            Property::RequestProblemInformation(value) => once(&mut self.request_problem_information, value),
            Property::UserProperty(name, value) => {
                self.user_properties.push((name, value));
                Applied::Set
            }
            Property::AuthenticationMethod(value) => once(&mut self.authentication_method, value),
            Property::AuthenticationData(value) => once(&mut self.authentication_data, value),
            _ => Applied::NotAllowed,
        }
    }

    fn write(&self, sink: &mut impl Sink) -> Result<(), Error> {
        properties::put_u32(sink, id::SESSION_EXPIRY_INTERVAL, self.session_expiry_interval_s);
        properties::put_u16(sink, id::RECEIVE_MAXIMUM, self.receive_maximum);
        properties::put_u32(sink, id::MAXIMUM_PACKET_SIZE, self.maximum_packet_size);
        properties::put_u16(sink, id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        properties::put_flag(sink, id::REQUEST_RESPONSE_INFORMATION, self.request_response_information);
        properties::put_flag(sink, id::REQUEST_PROBLEM_INFORMATION, self.request_problem_information);
        properties::put_user_properties(sink, &self.user_properties)?;
        properties::put_string(sink, id::AUTHENTICATION_METHOD, self.authentication_method.as_deref())?;
        properties::put_binary(sink, id::AUTHENTICATION_DATA, self.authentication_data.as_deref())
    }
}

impl PropertySet for WillProperties {
    fn apply(&mut self, property: Property) -> Applied {
        match property {
            Property::WillDelayInterval(value) => once(&mut self.will_delay_interval_s, value),
            Property::PayloadFormatIndicator(value) => once(&mut self.payload_format_indicator, value),
            Property::MessageExpiryInterval(value) => once(&mut self.message_expiry_interval_s, value),
            Property::ContentType(value) => once(&mut self.content_type, value),
            Property::ResponseTopic(value) => once(&mut self.response_topic, value),
            Property::CorrelationData(value) => once(&mut self.correlation_data, value),
            Property::UserProperty(name, value) => {
                self.user_properties.push((name, value));
                Applied::Set
            }
            _ => Applied::NotAllowed,
        }
    }

    fn write(&self, sink: &mut impl Sink) -> Result<(), Error> {
        properties::put_u32(sink, id::WILL_DELAY_INTERVAL, self.will_delay_interval_s);
        properties::put_payload_format(sink, self.payload_format_indicator);
        properties::put_u32(sink, id::MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval_s);
        properties::put_string(sink, id::CONTENT_TYPE, self.content_type.as_deref())?;
        properties::put_string(sink, id::RESPONSE_TOPIC, self.response_topic.as_deref())?;
        properties::put_binary(sink, id::CORRELATION_DATA, self.correlation_data.as_deref())?;
        properties::put_user_properties(sink, &self.user_properties)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mqtt::testing::{self, both_ways, bytes, decode, qos, string, topic_name, user_properties, v5_only};
    use crate::mqtt::{Packet, ReasonCode};
    use proptest::option::of;
    use proptest::prelude::*;

    fn payload_format() -> impl Strategy<Value = PayloadFormat> {
        prop_oneof![Just(PayloadFormat::Unspecified), Just(PayloadFormat::Utf8)]
    }

    pub(crate) fn connect_properties() -> impl Strategy<Value = ConnectProperties> {
        (
            (of(any::<u32>()), of(1..=u16::MAX), of(1..=u32::MAX), of(any::<u16>())),
            (of(any::<bool>()), of(any::<bool>()), user_properties()),
            (of(string()), of(bytes())),
        )
            .prop_map(|((session, receive, packet, alias), (response, problem, user), (method, data))| {
                // Authentication data needs a method.
                let data = if method.is_some() { data } else { None };
                ConnectProperties {
                    session_expiry_interval_s: session,
                    receive_maximum: receive,
                    maximum_packet_size: packet,
                    topic_alias_maximum: alias,
                    request_response_information: response,
                    request_problem_information: problem,
                    user_properties: user,
                    authentication_method: method,
                    authentication_data: data,
                }
            })
    }

    pub(crate) fn will_properties() -> impl Strategy<Value = WillProperties> {
        (of(any::<u32>()), of(payload_format()), of(any::<u32>()), of(string()), of(topic_name()), of(bytes()))
            .prop_flat_map(|(delay, format, expiry, content, response, correlation)| {
                user_properties().prop_map(move |user| WillProperties {
                    will_delay_interval_s: delay,
                    payload_format_indicator: format,
                    message_expiry_interval_s: expiry,
                    content_type: content.clone(),
                    response_topic: response.clone(),
                    correlation_data: correlation.clone(),
                    user_properties: user,
                })
            })
    }

    fn will(version: Version) -> impl Strategy<Value = Will> {
        (topic_name(), bytes(), qos(), any::<bool>(), v5_only(version, will_properties(), WillProperties::default()))
            .prop_map(|(topic, payload, qos, retain, properties)| Will { topic, payload, qos, retain, properties })
    }

    pub(crate) fn connect(version: Version) -> impl Strategy<Value = Connect> {
        (
            (string(), any::<bool>(), any::<u16>(), of(string()), of(bytes())),
            of(will(version)),
            v5_only(version, connect_properties(), ConnectProperties::default()),
        )
            .prop_map(move |((client_id, clean_start, keep_alive_s, username, password), will, properties)| {
                // Before 5.0 a password needs a user name.
                let password = if version == Version::V5 || username.is_some() { password } else { None };
                Connect { version, client_id, clean_start, keep_alive_s, username, password, will, properties }
            })
    }

    fn minimal(version: Version) -> Connect {
        Connect {
            version,
            client_id: String::new(),
            clean_start: true,
            keep_alive_s: 60,
            username: None,
            password: None,
            will: None,
            properties: ConnectProperties::default(),
        }
    }

    #[test]
    fn v311_connect_with_will_username_and_password() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0x10, 0x26, // CONNECT, remaining length 38
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
            0x04, // protocol level 4
            0b1110_1110, // user name, password, will retain, will QoS 1, will, clean session
            0x00, 0x0a, // keep alive 10 s
            0x00, 0x03, b'c', b'i', b'd', // client identifier "cid"
            0x00, 0x05, b'w', b'/', b't', b'o', b'p', // will topic "w/top"
            0x00, 0x02, b'h', b'i', // will payload "hi"
            0x00, 0x04, b'u', b's', b'e', b'r', // user name "user"
            0x00, 0x04, b'p', b'a', b's', b's', // password "pass"
        ];
        let connect = Connect {
            version: Version::V311,
            client_id: "cid".into(),
            clean_start: true,
            keep_alive_s: 10,
            username: Some("user".into()),
            password: Some(Bytes::from_static(b"pass")),
            will: Some(Will {
                topic: "w/top".into(),
                payload: Bytes::from_static(b"hi"),
                qos: QoS::AtLeastOnce,
                retain: true,
                properties: WillProperties::default(),
            }),
            properties: ConnectProperties::default(),
        };
        // Decoded as CONNECT whatever version the connection was assumed to speak.
        both_ways(bytes, Packet::Connect(connect.clone()), Version::V5);
        both_ways(bytes, Packet::Connect(connect), Version::V311);
    }

    #[test]
    fn v31_connect_is_mqisdp_level_3() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0x10, 0x0f, // CONNECT, remaining length 15
            0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', // protocol name
            0x03, // protocol level 3
            0b0000_0010, // clean session
            0x00, 0x3c, // keep alive 60 s
            0x00, 0x01, b'a', // client identifier "a"
        ];
        let connect = Connect { client_id: "a".into(), ..minimal(Version::V31) };
        both_ways(bytes, Packet::Connect(connect), Version::V311);
    }

    #[test]
    fn v5_connect_with_properties_and_will_properties() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0x10, 0x2c, // CONNECT, remaining length 44
            0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
            0x05, // protocol level 5
            0b0000_0110, // will QoS 0, will, clean start
            0x00, 0x3c, // keep alive 60 s
            0x10, // property length 16
            0x11, 0x00, 0x00, 0x00, 0x78, // session expiry interval 120 s
            0x21, 0x00, 0x0a, // receive maximum 10
            0x15, 0x00, 0x01, b'm', // authentication method "m"
            0x16, 0x00, 0x01, 0xaa, // authentication data 0xaa
            0x00, 0x00, // client identifier "" (the server assigns one)
            0x07, // will property length 7
            0x18, 0x00, 0x00, 0x00, 0x05, // will delay interval 5 s
            0x01, 0x01, // payload format indicator: UTF-8
            0x00, 0x01, b't', // will topic "t"
            0x00, 0x02, b'o', b'k', // will payload "ok"
        ];
        let connect = Connect {
            will: Some(Will {
                topic: "t".into(),
                payload: Bytes::from_static(b"ok"),
                qos: QoS::AtMostOnce,
                retain: false,
                properties: WillProperties {
                    will_delay_interval_s: Some(5),
                    payload_format_indicator: Some(PayloadFormat::Utf8),
                    ..WillProperties::default()
                },
            }),
            properties: ConnectProperties {
                session_expiry_interval_s: Some(120),
                receive_maximum: Some(10),
                authentication_method: Some("m".into()),
                authentication_data: Some(Bytes::from_static(&[0xaa])),
                ..ConnectProperties::default()
            },
            ..minimal(Version::V5)
        };
        both_ways(bytes, Packet::Connect(connect), Version::V5);
    }

    /// A 3.1.1 CONNECT with keep alive 60, client id "a", and `flags`, then `payload`.
    fn v311_with_flags(flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut body = vec![0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, flags, 0x00, 0x3c, 0x00, 0x01, b'a'];
        body.extend_from_slice(payload);
        let mut bytes = vec![0x10, body.len() as u8];
        bytes.extend(body);
        bytes
    }

    #[test]
    fn the_reserved_flag_must_be_zero() {
        let err = decode(&v311_with_flags(0b0000_0011, &[]), Version::V311).unwrap_err();
        assert_eq!(err, Error::Malformed("CONNECT reserved flag set"));
        assert_eq!(err.reason(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn will_qos_and_retain_need_the_will_flag() {
        for flags in [0b0000_1000, 0b0001_0000, 0b0010_0000] {
            let err = decode(&v311_with_flags(flags, &[]), Version::V311).unwrap_err();
            assert_eq!(err.reason(), ReasonCode::MalformedPacket, "{flags:#010b}");
        }
    }

    #[test]
    fn will_qos_3_is_malformed() {
        let will = [0x00, 0x01, b't', 0x00, 0x00];
        let err = decode(&v311_with_flags(0b0001_1100, &will), Version::V311).unwrap_err();
        assert_eq!(err, Error::Malformed("will QoS 3"));
    }

    #[test]
    fn a_will_topic_with_a_wildcard_is_invalid() {
        let will = [0x00, 0x01, b'#', 0x00, 0x00];
        let err = decode(&v311_with_flags(0b0000_0100, &will), Version::V311).unwrap_err();
        assert_eq!(err.reason(), ReasonCode::TopicNameInvalid);
    }

    #[test]
    fn a_password_without_a_user_name_is_malformed_in_3x_but_allowed_in_5() {
        let err = decode(&v311_with_flags(0b0100_0000, &[0x00, 0x01, b'p']), Version::V311).unwrap_err();
        assert_eq!(err.reason(), ReasonCode::MalformedPacket);
        let connect = Connect { password: Some(Bytes::from_static(b"p")), ..minimal(Version::V5) };
        testing::round_trip(&Packet::Connect(connect.clone()), Version::V5).unwrap();
        let v311 = Packet::Connect(Connect { version: Version::V311, ..connect });
        assert!(matches!(crate::mqtt::len(&v311, Version::V311), Err(Error::CannotEncode(_))));
    }

    #[test]
    fn unknown_protocol_names_and_levels_are_unsupported_keeping_the_level() {
        for (name, level) in [(&b"MQTT"[..], 3u8), (b"MQTT", 6), (b"MQIsdp", 4), (b"MQTX", 4)] {
            let mut bytes = vec![0x10, (name.len() + 3) as u8, 0x00, name.len() as u8];
            bytes.extend_from_slice(name);
            bytes.push(level);
            let err = decode(&bytes, Version::V311).unwrap_err();
            let expected = String::from_utf8(name.to_vec()).unwrap();
            assert_eq!(err, Error::UnsupportedProtocolVersion { name: expected, level });
            assert_eq!(err.reason(), ReasonCode::UnsupportedProtocolVersion);
        }
    }

    #[test]
    fn authentication_data_without_a_method_is_a_protocol_error() {
        #[rustfmt::skip]
        let bytes: &[u8] = &[
            0x10, 0x11, // CONNECT, remaining length 17
            0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x00, 0x00, 0x00, // "MQTT" 5, no flags, keep alive 0
            0x04, 0x16, 0x00, 0x01, 0xaa, // authentication data only
            0x00, 0x00, // client identifier ""
        ];
        assert_eq!(decode(bytes, Version::V5).unwrap_err().reason(), ReasonCode::ProtocolError);
    }

    #[test]
    fn a_truncated_payload_is_malformed() {
        // The user name flag is set but the user name is missing.
        let err = decode(&v311_with_flags(0b1000_0000, &[]), Version::V311).unwrap_err();
        assert_eq!(err, Error::Truncated { field: "user name" });
    }

    proptest! {
        #[test]
        fn connect_round_trips(version in prop_oneof![Just(Version::V31), Just(Version::V311), Just(Version::V5)]
            .prop_flat_map(|version| connect(version).prop_map(move |c| (version, c))))
        {
            let (version, connect) = version;
            testing::round_trip(&Packet::Connect(connect), version)?;
        }
    }
}
