//! What a client's frames can get wrong, and the close code the server answers each with
//! (RFC 6455 section 7.4.1). Every error ends the connection: the server sends a close frame
//! with [`FrameError::close_code`] and drops the TCP connection.

use std::fmt;

use super::close;

/// A client frame, or sequence of frames, that breaks RFC 6455 or that this server refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// RSV1, RSV2 or RSV3 is set (the bits, shifted down to 0b111), but no extension was
    /// negotiated that gives them a meaning.
    ReservedBits(u8),
    /// An opcode RFC 6455 reserves (3-7, 11-15).
    UnknownOpcode(u8),
    /// The MASK bit is 0: a client must mask every frame (section 5.1).
    Unmasked,
    /// The 64-bit payload length has its most significant bit set.
    LengthTopBit,
    /// A close, ping or pong frame announcing more than 125 payload bytes.
    ControlTooLong(u64),
    /// A close, ping or pong frame with FIN clear: control frames are never fragmented.
    ControlFragmented,
    /// A frame announcing a payload longer than the reader's `frame_bytes_max`.
    TooBig { len: u64, frame_bytes_max: usize },
    /// A close frame with a 1-byte payload: too short for its status code.
    CloseTruncated,
    /// A close frame with a code that is reserved or unassigned.
    CloseCode(u16),
    /// A close frame whose reason is not UTF-8.
    CloseReasonNotUtf8,
    /// A text message: MQTT over WebSocket carries binary frames only.
    Text,
    /// A continuation frame with no fragmented message to continue.
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is still unfinished.
    UnfinishedMessage,
}

impl FrameError {
    /// The close code the server sends before it drops the connection.
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::TooBig { .. } => close::TOO_BIG,
            FrameError::Text => close::UNSUPPORTED_DATA,
            FrameError::CloseReasonNotUtf8 => close::INVALID_PAYLOAD,
            _ => close::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::ReservedBits(bits) => write!(f, "reserved bits {bits:#05b} set without an extension"),
            FrameError::UnknownOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            FrameError::Unmasked => f.write_str("unmasked frame from a client"),
            FrameError::LengthTopBit => f.write_str("64-bit payload length with its top bit set"),
            FrameError::ControlTooLong(len) => write!(f, "control frame of {len} bytes, over 125"),
            FrameError::ControlFragmented => f.write_str("fragmented control frame"),
            FrameError::TooBig { len, frame_bytes_max } => {
                write!(f, "frame of {len} bytes, over the limit of {frame_bytes_max}")
            }
            FrameError::CloseTruncated => f.write_str("close frame with a 1-byte payload"),
            FrameError::CloseCode(code) => write!(f, "close frame with invalid code {code}"),
            FrameError::CloseReasonNotUtf8 => f.write_str("close reason is not UTF-8"),
            FrameError::Text => f.write_str("text message: MQTT takes binary frames only"),
            FrameError::UnexpectedContinuation => f.write_str("continuation frame without a message to continue"),
            FrameError::UnfinishedMessage => f.write_str("new message before the fragmented one finished"),
        }
    }
}

impl std::error::Error for FrameError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes() {
        let protocol = [
            FrameError::ReservedBits(0b100),
            FrameError::UnknownOpcode(3),
            FrameError::Unmasked,
            FrameError::LengthTopBit,
            FrameError::ControlTooLong(126),
            FrameError::ControlFragmented,
            FrameError::CloseTruncated,
            FrameError::CloseCode(1005),
            FrameError::UnexpectedContinuation,
            FrameError::UnfinishedMessage,
        ];
        for err in protocol {
            assert_eq!(err.close_code(), 1002, "{err}");
        }
        assert_eq!(FrameError::Text.close_code(), 1003);
        assert_eq!(FrameError::CloseReasonNotUtf8.close_code(), 1007);
        assert_eq!(FrameError::TooBig { len: 10, frame_bytes_max: 5 }.close_code(), 1009);
    }
}
