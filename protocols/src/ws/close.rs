//! Close frames (RFC 6455 sections 5.5.1 and 7.4): the status codes this server sends, and the
//! reading of a client's close payload, which is either empty or a 2-byte big-endian code
//! followed by a UTF-8 reason.

use super::FrameError;

/// 1000: the purpose of the connection is fulfilled.
pub const NORMAL: u16 = 1000;
/// 1001: the endpoint is going away (server shutting down).
pub const GOING_AWAY: u16 = 1001;
/// 1002: the peer broke the protocol.
pub const PROTOCOL_ERROR: u16 = 1002;
/// 1003: the peer sent a kind of data this endpoint does not accept (text, for MQTT).
pub const UNSUPPORTED_DATA: u16 = 1003;
/// 1005: the close frame had no code. Reserved: never sent on the wire, so
/// [`super::frame::write_close`] writes an empty close frame for it.
pub const NO_STATUS: u16 = 1005;
/// 1007: the payload is not what its type promises (a close reason that is not UTF-8).
pub const INVALID_PAYLOAD: u16 = 1007;
/// 1008: the message breaks the endpoint's policy.
pub const POLICY_VIOLATION: u16 = 1008;
/// 1009: a frame is too big to process.
pub const TOO_BIG: u16 = 1009;
/// 1011: the server hit an unexpected condition.
pub const INTERNAL_ERROR: u16 = 1011;

/// Whether a peer may send `code` in a close frame: the codes defined for use on the wire
/// (1000-1003, 1007-1011, and 1012-1014 from the IANA registry) and the registered and
/// private ranges 3000-4999. 1004-1006 and 1015 are reserved, the rest unassigned.
pub fn is_valid_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Reads a close frame's payload: `(code, reason)`, with [`NO_STATUS`] and `""` when it is
/// empty. A 1-byte payload or an invalid code is a protocol error; a reason that is not UTF-8
/// is invalid payload data.
pub fn parse(payload: &[u8]) -> Result<(u16, &str), FrameError> {
    let Some((code, reason)) = payload.split_first_chunk::<2>() else {
        return if payload.is_empty() { Ok((NO_STATUS, "")) } else { Err(FrameError::CloseTruncated) };
    };
    let code = u16::from_be_bytes(*code);
    if !is_valid_code(code) {
        return Err(FrameError::CloseCode(code));
    }
    let reason = std::str::from_utf8(reason).map_err(|_| FrameError::CloseReasonNotUtf8)?;
    Ok((code, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_payload_has_no_status() {
        assert_eq!(parse(b""), Ok((NO_STATUS, "")));
    }

    #[test]
    fn code_and_reason() {
        assert_eq!(parse(b"\x03\xe8bye"), Ok((NORMAL, "bye")));
        assert_eq!(parse(b"\x0f\xa0"), Ok((4000, "")));
    }

    #[test]
    fn one_byte_payload_is_a_protocol_error() {
        assert_eq!(parse(b"\x03"), Err(FrameError::CloseTruncated));
    }

    #[test]
    fn reserved_and_unassigned_codes_are_refused() {
        for code in [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, u16::MAX] {
            assert_eq!(parse(&code.to_be_bytes()), Err(FrameError::CloseCode(code)), "code {code}");
        }
        for code in [1000u16, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999] {
            assert!(parse(&code.to_be_bytes()).is_ok(), "code {code}");
        }
    }

    #[test]
    fn reason_must_be_utf8() {
        assert_eq!(parse(b"\x03\xe8\xff"), Err(FrameError::CloseReasonNotUtf8));
    }
}
