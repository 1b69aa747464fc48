//! Reason codes (MQTT 5.0 section 2.4): one byte saying how an operation went, below 0x80 for
//! success, from 0x80 up for failure. Each packet type allows its own subset; a code outside
//! it, or unknown, is a protocol error on read. 3.x has no reason codes except CONNACK's return
//! codes 0..5 and SUBACK's 0, 1, 2 and 0x80: [`connack_return_code`] and [`suback_return_code`]
//! map to them, [`from_connack_return_code`] and [`from_suback_return_code`] back.

use bytes::Bytes;

use super::{primitives, Error};

/// A v5 reason code. Codes that share a value (0x00 is Success, Normal disconnection and
/// Granted QoS 0) are associated constants naming the same variant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ReasonCode {
    #[default]
    Success = 0x00,
    GrantedQoS1 = 0x01,
    GrantedQoS2 = 0x02,
    DisconnectWithWill = 0x04,
    NoMatchingSubscribers = 0x10,
    NoSubscriptionExisted = 0x11,
    ContinueAuthentication = 0x18,
    ReAuthenticate = 0x19,
    UnspecifiedError = 0x80,
    MalformedPacket = 0x81,
    ProtocolError = 0x82,
    ImplementationSpecificError = 0x83,
    UnsupportedProtocolVersion = 0x84,
    ClientIdentifierNotValid = 0x85,
    BadUserNameOrPassword = 0x86,
    NotAuthorized = 0x87,
    ServerUnavailable = 0x88,
    ServerBusy = 0x89,
    Banned = 0x8A,
    ServerShuttingDown = 0x8B,
    BadAuthenticationMethod = 0x8C,
    KeepAliveTimeout = 0x8D,
    SessionTakenOver = 0x8E,
    TopicFilterInvalid = 0x8F,
    TopicNameInvalid = 0x90,
    PacketIdentifierInUse = 0x91,
    PacketIdentifierNotFound = 0x92,
    ReceiveMaximumExceeded = 0x93,
    TopicAliasInvalid = 0x94,
    PacketTooLarge = 0x95,
    MessageRateTooHigh = 0x96,
    QuotaExceeded = 0x97,
    AdministrativeAction = 0x98,
    PayloadFormatInvalid = 0x99,
    RetainNotSupported = 0x9A,
    QoSNotSupported = 0x9B,
    UseAnotherServer = 0x9C,
    ServerMoved = 0x9D,
    SharedSubscriptionsNotSupported = 0x9E,
    ConnectionRateExceeded = 0x9F,
    MaximumConnectTime = 0xA0,
    SubscriptionIdentifiersNotSupported = 0xA1,
    WildcardSubscriptionsNotSupported = 0xA2,
}

#[allow(non_upper_case_globals)]
impl ReasonCode {
    /// 0x00 in DISCONNECT.
    pub const NormalDisconnection: ReasonCode = ReasonCode::Success;
    /// 0x00 in SUBACK.
    pub const GrantedQoS0: ReasonCode = ReasonCode::Success;

    /// The byte on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Whether this code reports a failure (0x80 and above).
    pub fn is_error(self) -> bool {
        self.code() >= 0x80
    }

    /// The code for a byte, if it is one MQTT 5.0 defines.
    pub fn from_code(code: u8) -> Option<ReasonCode> {
        ALL.iter().copied().find(|reason| reason.code() == code)
    }
}

impl TryFrom<u8> for ReasonCode {
    type Error = u8;

    fn try_from(code: u8) -> Result<Self, u8> {
        ReasonCode::from_code(code).ok_or(code)
    }
}

use ReasonCode::*;

const ALL: &[ReasonCode] = &[
    Success,
    GrantedQoS1,
    GrantedQoS2,
    DisconnectWithWill,
    NoMatchingSubscribers,
    NoSubscriptionExisted,
    ContinueAuthentication,
    ReAuthenticate,
    UnspecifiedError,
    MalformedPacket,
    ProtocolError,
    ImplementationSpecificError,
    UnsupportedProtocolVersion,
    ClientIdentifierNotValid,
    BadUserNameOrPassword,
    NotAuthorized,
    ServerUnavailable,
    ServerBusy,
    Banned,
    ServerShuttingDown,
    BadAuthenticationMethod,
    KeepAliveTimeout,
    SessionTakenOver,
    TopicFilterInvalid,
    TopicNameInvalid,
    PacketIdentifierInUse,
    PacketIdentifierNotFound,
    ReceiveMaximumExceeded,
    TopicAliasInvalid,
    PacketTooLarge,
    MessageRateTooHigh,
    QuotaExceeded,
    AdministrativeAction,
    PayloadFormatInvalid,
    RetainNotSupported,
    QoSNotSupported,
    UseAnotherServer,
    ServerMoved,
    SharedSubscriptionsNotSupported,
    ConnectionRateExceeded,
    MaximumConnectTime,
    SubscriptionIdentifiersNotSupported,
    WildcardSubscriptionsNotSupported,
];

/// The codes CONNACK may carry (3.2.2.2).
pub(crate) const CONNACK: &[ReasonCode] = &[
    Success,
    UnspecifiedError,
    MalformedPacket,
    ProtocolError,
    ImplementationSpecificError,
    UnsupportedProtocolVersion,
    ClientIdentifierNotValid,
    BadUserNameOrPassword,
    NotAuthorized,
    ServerUnavailable,
    ServerBusy,
    Banned,
    BadAuthenticationMethod,
    TopicNameInvalid,
    PacketTooLarge,
    QuotaExceeded,
    PayloadFormatInvalid,
    RetainNotSupported,
    QoSNotSupported,
    UseAnotherServer,
    ServerMoved,
    ConnectionRateExceeded,
];

/// The codes PUBACK and PUBREC may carry (3.4.2.1, 3.5.2.1).
pub(crate) const PUBACK: &[ReasonCode] = &[
    Success,
    NoMatchingSubscribers,
    UnspecifiedError,
    ImplementationSpecificError,
    NotAuthorized,
    TopicNameInvalid,
    PacketIdentifierInUse,
    QuotaExceeded,
    PayloadFormatInvalid,
];

/// The codes PUBREL and PUBCOMP may carry (3.6.2.1, 3.7.2.1).
pub(crate) const PUBREL: &[ReasonCode] = &[Success, PacketIdentifierNotFound];

/// The codes SUBACK may carry, one per filter (3.9.3).
pub(crate) const SUBACK: &[ReasonCode] = &[
    Success,
    GrantedQoS1,
    GrantedQoS2,
    UnspecifiedError,
    ImplementationSpecificError,
    NotAuthorized,
    TopicFilterInvalid,
    PacketIdentifierInUse,
    QuotaExceeded,
    SharedSubscriptionsNotSupported,
    SubscriptionIdentifiersNotSupported,
    WildcardSubscriptionsNotSupported,
];

/// The codes UNSUBACK may carry, one per filter (3.11.3).
pub(crate) const UNSUBACK: &[ReasonCode] = &[
    Success,
    NoSubscriptionExisted,
    UnspecifiedError,
    ImplementationSpecificError,
    NotAuthorized,
    TopicFilterInvalid,
    PacketIdentifierInUse,
];

/// The codes DISCONNECT may carry (3.14.2.1).
pub(crate) const DISCONNECT: &[ReasonCode] = &[
    Success,
    DisconnectWithWill,
    UnspecifiedError,
    MalformedPacket,
    ProtocolError,
    ImplementationSpecificError,
    NotAuthorized,
    ServerBusy,
    ServerShuttingDown,
    KeepAliveTimeout,
    SessionTakenOver,
    TopicFilterInvalid,
    TopicNameInvalid,
    ReceiveMaximumExceeded,
    TopicAliasInvalid,
    PacketTooLarge,
    MessageRateTooHigh,
    QuotaExceeded,
    AdministrativeAction,
    PayloadFormatInvalid,
    RetainNotSupported,
    QoSNotSupported,
    UseAnotherServer,
    ServerMoved,
    SharedSubscriptionsNotSupported,
    ConnectionRateExceeded,
    MaximumConnectTime,
    SubscriptionIdentifiersNotSupported,
    WildcardSubscriptionsNotSupported,
];

/// The codes AUTH may carry (3.15.2.1).
pub(crate) const AUTH: &[ReasonCode] = &[Success, ContinueAuthentication, ReAuthenticate];

/// Reads one reason code byte, which must be in `allowed` for `packet`.
pub(crate) fn read(body: &mut Bytes, allowed: &[ReasonCode], packet: &'static str) -> Result<ReasonCode, Error> {
    let code = primitives::u8(body, "reason code")?;
    match ReasonCode::from_code(code) {
        Some(reason) if allowed.contains(&reason) => Ok(reason),
        _ => Err(Error::InvalidReasonCode { code, packet }),
    }
}

/// The 3.x CONNACK return code for a v5 reason: the mapping of 5.0's CONNACK codes onto
/// 3.1.1's 0..5, with every failure that has no 3.x counterpart as 3 (Server unavailable).
pub fn connack_return_code(reason: ReasonCode) -> u8 {
    match reason {
        Success => 0,
        UnsupportedProtocolVersion => 1,
        ClientIdentifierNotValid => 2,
        BadUserNameOrPassword | BadAuthenticationMethod => 4,
        NotAuthorized | Banned => 5,
        _ => 3,
    }
}

/// The v5 reason for a 3.x CONNACK return code, if it is one of 0..5.
pub fn from_connack_return_code(code: u8) -> Option<ReasonCode> {
    Some(match code {
        0 => Success,
        1 => UnsupportedProtocolVersion,
        2 => ClientIdentifierNotValid,
        3 => ServerUnavailable,
        4 => BadUserNameOrPassword,
        5 => NotAuthorized,
        _ => return None,
    })
}

/// The 3.x SUBACK return code for a v5 reason: 0, 1, 2 for the granted QoS, 0x80 for any failure.
pub fn suback_return_code(reason: ReasonCode) -> u8 {
    match reason {
        Success => 0,
        GrantedQoS1 => 1,
        GrantedQoS2 => 2,
        _ => 0x80,
    }
}

/// The v5 reason for a 3.x SUBACK return code, if it is one of 0, 1, 2, 0x80.
pub fn from_suback_return_code(code: u8) -> Option<ReasonCode> {
    Some(match code {
        0 => Success,
        1 => GrantedQoS1,
        2 => GrantedQoS2,
        0x80 => UnspecifiedError,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_byte() {
        for &reason in ALL {
            assert_eq!(ReasonCode::from_code(reason.code()), Some(reason));
        }
        assert_eq!(ALL.len(), 43);
        assert_eq!(ReasonCode::try_from(0x03), Err(0x03));
        assert_eq!(ReasonCode::from_code(0xA3), None);
        assert_eq!(ReasonCode::NormalDisconnection.code(), 0);
        assert!(ReasonCode::UnspecifiedError.is_error() && !ReasonCode::NoMatchingSubscribers.is_error());
    }

    #[test]
    fn read_refuses_codes_the_packet_does_not_allow() {
        let mut body = Bytes::from_static(&[0x92]);
        assert_eq!(read(&mut body, PUBREL, "PUBREL"), Ok(PacketIdentifierNotFound));
        let mut body = Bytes::from_static(&[0x10]);
        assert_eq!(read(&mut body, PUBREL, "PUBREL"), Err(Error::InvalidReasonCode { code: 0x10, packet: "PUBREL" }));
        let mut body = Bytes::from_static(&[0x03]);
        assert_eq!(read(&mut body, DISCONNECT, "DISCONNECT").map_err(|e| e.reason()), Err(ProtocolError));
    }

    #[test]
    fn connack_return_codes_map_both_ways() {
        for code in 0..=5 {
            let reason = from_connack_return_code(code).unwrap();
            assert_eq!(connack_return_code(reason), code);
        }
        assert_eq!(from_connack_return_code(6), None);
        assert_eq!(connack_return_code(ServerBusy), 3);
        assert_eq!(connack_return_code(Banned), 5);
    }

    #[test]
    fn suback_return_codes_map_both_ways() {
        for code in [0, 1, 2, 0x80] {
            assert_eq!(suback_return_code(from_suback_return_code(code).unwrap()), code);
        }
        assert_eq!(from_suback_return_code(3), None);
        assert_eq!(suback_return_code(QuotaExceeded), 0x80);
    }
}
