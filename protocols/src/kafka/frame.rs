//! Kafka framing: every request and response is a 4-byte big-endian length followed by that
//! many bytes. A length over the limit is refused from the first four bytes, before anything is
//! buffered, and a negative one is malformed: either way the connection ends.

use std::fmt;

use bytes::{Buf, BufMut, BytesMut};

/// Bytes of the length prefix.
pub const LENGTH_BYTES: usize = 4;

/// Why a frame cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix is negative.
    NegativeLength(i32),
    /// The frame is longer than the connection allows, in bytes.
    TooLarge { bytes: usize, max: usize },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::NegativeLength(n) => write!(f, "negative frame length {n}"),
            FrameError::TooLarge { bytes, max } => write!(f, "frame of {bytes} bytes exceeds the limit of {max} bytes"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Takes one whole frame (without its length prefix) off the front of `buf`; `Ok(None)` when
/// more bytes are needed.
pub fn decode_frame(buf: &mut BytesMut, frame_bytes_max: usize) -> Result<Option<BytesMut>, FrameError> {
    if buf.len() < LENGTH_BYTES {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let len = usize::try_from(len).map_err(|_| FrameError::NegativeLength(len))?;
    if len > frame_bytes_max {
        return Err(FrameError::TooLarge { bytes: len, max: frame_bytes_max });
    }
    if buf.len() < LENGTH_BYTES + len {
        buf.reserve(LENGTH_BYTES + len - buf.len());
        return Ok(None);
    }
    buf.advance(LENGTH_BYTES);
    Ok(Some(buf.split_to(len)))
}

/// Starts a frame in `out`: reserves its length prefix and returns where it is, for
/// [`finish_frame`] once the body is written.
pub fn start_frame(out: &mut BytesMut) -> usize {
    let at = out.len();
    out.put_i32(0);
    at
}

/// Writes the length of the frame started at `at` (everything written to `out` since).
pub fn finish_frame(out: &mut BytesMut, at: usize) {
    let len = out.len() - at - LENGTH_BYTES;
    let len = i32::try_from(len).expect("a response frame fits in an i32 length");
    out[at..at + LENGTH_BYTES].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_whole_and_partial_input_waits() {
        let mut buf = BytesMut::from(&[0, 0, 0, 3, b'a', b'b'][..]);
        assert_eq!(decode_frame(&mut buf, 100), Ok(None));
        buf.extend_from_slice(&[b'c', 0, 0, 0, 0, 0]);
        assert_eq!(decode_frame(&mut buf, 100).unwrap().unwrap(), &b"abc"[..]);
        assert_eq!(decode_frame(&mut buf, 100).unwrap().unwrap(), &b""[..], "an empty frame");
        assert_eq!(decode_frame(&mut buf, 100), Ok(None));
        assert_eq!(buf.len(), 1, "the next frame's first byte stays");
    }

    #[test]
    fn oversize_and_negative_lengths_are_refused_from_the_prefix() {
        let mut buf = BytesMut::from(&[0, 0, 1, 0][..]);
        assert_eq!(decode_frame(&mut buf, 255), Err(FrameError::TooLarge { bytes: 256, max: 255 }));
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xfe][..]);
        assert_eq!(decode_frame(&mut buf, 255), Err(FrameError::NegativeLength(-2)));
    }

    #[test]
    fn a_started_frame_gets_its_length() {
        let mut out = BytesMut::from(&b"x"[..]);
        let at = start_frame(&mut out);
        out.extend_from_slice(b"hello");
        finish_frame(&mut out, at);
        assert_eq!(&out[..], &[b'x', 0, 0, 0, 5, b'h', b'e', b'l', b'l', b'o'][..]);
    }
}
