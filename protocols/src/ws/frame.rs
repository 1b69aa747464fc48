//! Frames (RFC 6455 section 5.2): reading the client's, writing the server's.
//!
//! ```text
//!  byte 0: FIN | RSV1 | RSV2 | RSV3 | opcode (4 bits)
//!  byte 1: MASK | payload length (7 bits: 0-125, or 126 / 127 for an extended length)
//!  then:   16-bit length if 126, 64-bit length (top bit 0) if 127, big-endian
//!  then:   4-byte masking key if MASK
//!  then:   payload
//! ```
//!
//! A client masks every frame, a server none (section 5.1). No extension is ever negotiated,
//! so the RSV bits must be 0. [`read`] checks every rule one frame can break; the rules across
//! frames (fragment order, answering pings and closes) belong to [`super::stream`]. It refuses
//! a frame announcing more than `frame_bytes_max` payload bytes as soon as the length is read,
//! so a client cannot make the server buffer more than that. The payload is unmasked in place
//! in the input buffer and split off without a copy.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::{close, mask, FrameError};

/// The longest payload a control frame (close, ping, pong) may carry (section 5.5).
pub const CONTROL_PAYLOAD_BYTES_MAX: usize = 125;

const FIN_BIT: u8 = 0x80;
const RSV_BITS: u8 = 0x70;
const OPCODE_BITS: u8 = 0x0F;
const MASK_BIT: u8 = 0x80;
const LENGTH_BITS: u8 = 0x7F;
const LENGTH_16: u8 = 126;
const LENGTH_64: u8 = 127;
const KEY_BYTES: usize = 4;

/// A frame's type (section 5.2). 0-2 carry data, 8-10 are control frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    Continuation = 0,
    Text = 1,
    Binary = 2,
    Close = 8,
    Ping = 9,
    Pong = 10,
}

impl Opcode {
    /// The opcode with these 4 bits, or `None` for a reserved one.
    pub fn from_bits(bits: u8) -> Option<Opcode> {
        Some(match bits {
            0 => Opcode::Continuation,
            1 => Opcode::Text,
            2 => Opcode::Binary,
            8 => Opcode::Close,
            9 => Opcode::Ping,
            10 => Opcode::Pong,
            _ => return None,
        })
    }

    /// Close, ping and pong: at most 125 bytes, never fragmented, allowed between fragments.
    pub fn is_control(self) -> bool {
        self as u8 >= 8
    }
}

/// A client's frame, its payload unmasked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The last frame of its message.
    pub fin: bool,
    pub opcode: Opcode,
    pub payload: Bytes,
}

/// What the bytes before a frame's payload say.
struct Header {
    fin: bool,
    opcode: Opcode,
    key: [u8; KEY_BYTES],
    header_bytes: usize,
    payload_bytes: usize,
}

/// Reads one client frame from the front of `buf`, consuming it: `Ok(None)`, consuming
/// nothing, until the whole frame is there. `frame_bytes_max` is the longest payload accepted.
pub fn read(buf: &mut BytesMut, frame_bytes_max: usize) -> Result<Option<Frame>, FrameError> {
    let Some(header) = read_header(buf, frame_bytes_max)? else { return Ok(None) };
    // header_bytes <= 14 and payload_bytes <= frame_bytes_max: only a limit near usize::MAX
    // could overflow, and no buffer can hold such a frame anyway.
    let frame_bytes = header.header_bytes.saturating_add(header.payload_bytes);
    if buf.len() < frame_bytes {
        return Ok(None);
    }
    let mut payload = buf.split_to(frame_bytes);
    payload.advance(header.header_bytes);
    mask::apply(header.key, &mut payload);
    Ok(Some(Frame { fin: header.fin, opcode: header.opcode, payload: payload.freeze() }))
}

/// Reads and checks a frame's header: `Ok(None)` until it is all there, an error as soon as
/// the bytes so far break a rule.
fn read_header(buf: &[u8], frame_bytes_max: usize) -> Result<Option<Header>, FrameError> {
    let [b0, b1, ref rest @ ..] = *buf else { return Ok(None) };
    if b0 & RSV_BITS != 0 {
        return Err(FrameError::ReservedBits((b0 & RSV_BITS) >> 4));
    }
    let opcode = Opcode::from_bits(b0 & OPCODE_BITS).ok_or(FrameError::UnknownOpcode(b0 & OPCODE_BITS))?;
    let fin = b0 & FIN_BIT != 0;
    if opcode.is_control() && !fin {
        return Err(FrameError::ControlFragmented);
    }
    if b1 & MASK_BIT == 0 {
        return Err(FrameError::Unmasked);
    }
    let Some((len, length_bytes)) = read_length(b1 & LENGTH_BITS, rest)? else { return Ok(None) };
    let payload_bytes = check_length(opcode, len, frame_bytes_max)?;
    let Some(key) = rest[length_bytes..].first_chunk::<KEY_BYTES>() else { return Ok(None) };
    let header_bytes = 2 + length_bytes + KEY_BYTES;
    Ok(Some(Header { fin, opcode, key: *key, header_bytes, payload_bytes }))
}

/// The payload length and how many bytes after the first two encode it, from the 7-bit length
/// and the bytes that follow. Minimal encoding is not required.
fn read_length(len7: u8, rest: &[u8]) -> Result<Option<(u64, usize)>, FrameError> {
    match len7 {
        LENGTH_16 => Ok(rest.first_chunk::<2>().map(|b| (u64::from(u16::from_be_bytes(*b)), 2))),
        LENGTH_64 => match rest.first_chunk::<8>().map(|b| u64::from_be_bytes(*b)) {
            Some(len) if len >> 63 != 0 => Err(FrameError::LengthTopBit),
            Some(len) => Ok(Some((len, 8))),
            None => Ok(None),
        },
        len => Ok(Some((u64::from(len), 0))),
    }
}

/// Checks a payload length against the control frame limit and `frame_bytes_max`.
fn check_length(opcode: Opcode, len: u64, frame_bytes_max: usize) -> Result<usize, FrameError> {
    if opcode.is_control() && len > CONTROL_PAYLOAD_BYTES_MAX as u64 {
        return Err(FrameError::ControlTooLong(len));
    }
    match usize::try_from(len) {
        Ok(bytes) if bytes <= frame_bytes_max => Ok(bytes),
        _ => Err(FrameError::TooBig { len, frame_bytes_max }),
    }
}

/// Writes one unmasked, unfragmented (FIN) server frame, its length in the shortest encoding.
/// A control frame's payload must be at most [`CONTROL_PAYLOAD_BYTES_MAX`] bytes.
pub fn write(opcode: Opcode, payload: &[u8], out: &mut BytesMut) {
    debug_assert!(!opcode.is_control() || payload.len() <= CONTROL_PAYLOAD_BYTES_MAX);
    out.reserve(10 + payload.len());
    out.put_u8(FIN_BIT | opcode as u8);
    match payload.len() {
        len @ 0..=125 => out.put_u8(len as u8),
        len @ 126..=0xFFFF => {
            out.put_u8(LENGTH_16);
            out.put_u16(len as u16);
        }
        len => {
            out.put_u8(LENGTH_64);
            out.put_u64(len as u64);
        }
    }
    out.extend_from_slice(payload);
}

/// Writes a close frame with `code` and `reason`, the reason cut at a character boundary to
/// fit the 125-byte control payload. [`close::NO_STATUS`] writes an empty close frame.
pub fn write_close(code: u16, reason: &str, out: &mut BytesMut) {
    if code == close::NO_STATUS {
        return write(Opcode::Close, &[], out);
    }
    let reason = truncate_utf8(reason, CONTROL_PAYLOAD_BYTES_MAX - 2);
    let mut payload = [0; CONTROL_PAYLOAD_BYTES_MAX];
    payload[..2].copy_from_slice(&code.to_be_bytes());
    payload[2..2 + reason.len()].copy_from_slice(reason.as_bytes());
    write(Opcode::Close, &payload[..2 + reason.len()], out);
}

/// The longest prefix of `s` that is at most `bytes_max` bytes and ends on a char boundary.
fn truncate_utf8(s: &str, bytes_max: usize) -> &str {
    let mut end = s.len().min(bytes_max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::tests::client_frame;

    const RFC_KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn read_all(bytes: &[u8]) -> Result<Option<Frame>, FrameError> {
        read(&mut BytesMut::from(bytes), 1 << 20)
    }

    fn frame(fin: bool, opcode: Opcode, payload: &[u8]) -> Frame {
        Frame { fin, opcode, payload: Bytes::copy_from_slice(payload) }
    }

    fn written(opcode: Opcode, payload: &[u8]) -> Vec<u8> {
        let mut out = BytesMut::new();
        write(opcode, payload, &mut out);
        out.to_vec()
    }

    // RFC 6455 section 5.7's examples.

    #[test]
    fn rfc_unmasked_hello_is_written_and_refused_from_a_client() {
        let bytes = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
        assert_eq!(written(Opcode::Text, b"Hello"), bytes);
        assert_eq!(read_all(&bytes), Err(FrameError::Unmasked));
    }

    #[test]
    fn rfc_masked_hello() {
        let bytes = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        assert_eq!(read_all(&bytes), Ok(Some(frame(true, Opcode::Text, b"Hello"))));
        assert_eq!(client_frame(0x81, b"Hello", RFC_KEY), bytes);
    }

    #[test]
    fn rfc_fragmented_hello() {
        // The RFC's fragments are unmasked (server to client); a client sends them masked.
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&client_frame(0x01, b"Hel", RFC_KEY));
        buf.extend_from_slice(&client_frame(0x80, b"lo", RFC_KEY));
        assert_eq!(client_frame(0x01, b"Hel", RFC_KEY)[..2], [0x01, 0x83]);
        assert_eq!(client_frame(0x80, b"lo", RFC_KEY)[..2], [0x80, 0x82]);
        assert_eq!(read(&mut buf, 100), Ok(Some(frame(false, Opcode::Text, b"Hel"))));
        assert_eq!(read(&mut buf, 100), Ok(Some(frame(true, Opcode::Continuation, b"lo"))));
        assert!(buf.is_empty());
    }

    #[test]
    fn rfc_ping_and_masked_pong() {
        assert_eq!(written(Opcode::Ping, b"Hello"), [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        let pong = [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
        assert_eq!(read_all(&pong), Ok(Some(frame(true, Opcode::Pong, b"Hello"))));
        let ping = client_frame(0x89, b"Hello", RFC_KEY);
        assert_eq!(read_all(&ping), Ok(Some(frame(true, Opcode::Ping, b"Hello"))));
    }

    #[test]
    fn rfc_256_bytes_use_the_16_bit_length() {
        let payload: Vec<u8> = (0..=255).collect();
        let bytes = written(Opcode::Binary, &payload);
        assert_eq!(bytes[..4], [0x82, 0x7E, 0x01, 0x00]);
        assert_eq!(bytes[4..], payload);
        let masked = client_frame(0x82, &payload, RFC_KEY);
        assert_eq!(masked[..4], [0x82, 0xFE, 0x01, 0x00]);
        assert_eq!(read_all(&masked), Ok(Some(frame(true, Opcode::Binary, &payload))));
    }

    #[test]
    fn rfc_64_kib_uses_the_64_bit_length() {
        let payload: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
        let bytes = written(Opcode::Binary, &payload);
        assert_eq!(bytes[..10], [0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
        assert_eq!(bytes[10..], payload);
        let masked = client_frame(0x82, &payload, RFC_KEY);
        assert_eq!(masked[..10], [0x82, 0xFF, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00]);
        assert_eq!(read_all(&masked), Ok(Some(frame(true, Opcode::Binary, &payload))));
    }

    #[test]
    fn write_uses_the_shortest_length_encoding() {
        for (len, header_bytes) in [(0, 2), (125, 2), (126, 4), (0xFFFF, 4), (0x10000, 10)] {
            let bytes = written(Opcode::Binary, &vec![7; len]);
            assert_eq!(bytes.len(), header_bytes + len, "len {len}");
        }
    }

    #[test]
    fn non_minimal_lengths_are_accepted() {
        let mut bytes = vec![0x82, 0xFE, 0x00, 0x03];
        bytes.extend_from_slice(&RFC_KEY);
        bytes.extend_from_slice(&[1 ^ 0x37, 2 ^ 0xfa, 3 ^ 0x21]);
        assert_eq!(read_all(&bytes), Ok(Some(frame(true, Opcode::Binary, &[1, 2, 3]))));
        let mut bytes = vec![0x89, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&RFC_KEY);
        assert_eq!(read_all(&bytes), Ok(Some(frame(true, Opcode::Ping, b""))));
    }

    #[test]
    fn one_byte_at_a_time_consumes_nothing_until_complete() {
        let mut bytes = client_frame(0x82, &[9; 300], RFC_KEY);
        bytes.extend_from_slice(b"next");
        let frame_bytes = bytes.len() - 4;
        let mut buf = BytesMut::new();
        for (i, &byte) in bytes[..frame_bytes].iter().enumerate() {
            assert_eq!(read(&mut buf, 1000), Ok(None), "after {i} bytes");
            assert_eq!(buf.len(), i);
            buf.put_u8(byte);
        }
        buf.extend_from_slice(b"next");
        assert_eq!(read(&mut buf, 1000), Ok(Some(frame(true, Opcode::Binary, &[9; 300]))));
        assert_eq!(&buf[..], b"next");
    }

    // Errors.

    #[test]
    fn reserved_bits_are_refused() {
        for (bit, bits) in [(0x40, 0b100), (0x20, 0b010), (0x10, 0b001)] {
            assert_eq!(read_all(&[0x82 | bit, 0x80]), Err(FrameError::ReservedBits(bits)));
        }
    }

    #[test]
    fn reserved_opcodes_are_refused() {
        for op in (3..=7).chain(11..=15) {
            assert_eq!(read_all(&[0x80 | op, 0x80]), Err(FrameError::UnknownOpcode(op)));
        }
    }

    #[test]
    fn unmasked_frames_are_refused_from_the_first_two_bytes() {
        assert_eq!(read_all(&[0x82, 0x05]), Err(FrameError::Unmasked));
    }

    #[test]
    fn top_bit_of_the_64_bit_length_is_refused() {
        let bytes = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(read(&mut BytesMut::from(&bytes[..]), usize::MAX), Err(FrameError::LengthTopBit));
    }

    #[test]
    fn control_frames_over_125_bytes_are_refused() {
        assert_eq!(read_all(&[0x89, 0xFE, 0x00, 0x7E]), Err(FrameError::ControlTooLong(126)));
        assert_eq!(read_all(&[0x88, 0xFE, 0x00, 0x7E]), Err(FrameError::ControlTooLong(126)));
        assert!(read_all(&client_frame(0x8A, &[0; 125], RFC_KEY)).is_ok());
    }

    #[test]
    fn fragmented_control_frames_are_refused() {
        for op in [0x08, 0x09, 0x0A] {
            assert_eq!(read_all(&[op, 0x80]), Err(FrameError::ControlFragmented));
        }
    }

    #[test]
    fn too_big_is_refused_from_the_header_alone() {
        let mut buf = BytesMut::from(&[0x82, 0xFE, 0x01, 0x00][..]);
        assert_eq!(read(&mut buf, 255), Err(FrameError::TooBig { len: 256, frame_bytes_max: 255 }));
        let mut buf = BytesMut::from(&[0x82, 0x86][..]);
        assert_eq!(read(&mut buf, 5), Err(FrameError::TooBig { len: 6, frame_bytes_max: 5 }));
        let exact = client_frame(0x82, &[0; 5], RFC_KEY);
        assert!(read(&mut BytesMut::from(&exact[..]), 5).is_ok());
    }

    #[test]
    fn write_close_with_code_and_reason() {
        let mut out = BytesMut::new();
        write_close(1000, "bye", &mut out);
        assert_eq!(&out[..], b"\x88\x05\x03\xe8bye");
    }

    #[test]
    fn write_close_without_status_is_empty() {
        let mut out = BytesMut::new();
        write_close(close::NO_STATUS, "ignored", &mut out);
        assert_eq!(&out[..], [0x88, 0x00]);
    }

    #[test]
    fn write_close_cuts_a_long_reason_at_a_char_boundary() {
        let reason = "é".repeat(100); // 200 bytes, 2 per char
        let mut out = BytesMut::new();
        write_close(1011, &reason, &mut out);
        assert_eq!(out[1], 124, "2 code bytes + 61 two-byte chars");
        assert_eq!(&out[4..], "é".repeat(61).as_bytes());
    }
}
