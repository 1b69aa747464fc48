//! The RPC frame: a 4-byte big-endian length, then a prost-encoded [`Envelope`].
//!
//! Sans-IO: [`decode_frame`] takes bytes from a buffer and returns `Ok(None)` when it needs more.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use prost::Message;

/// The largest frame body accepted by default, in bytes.
pub const FRAME_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Whether an envelope is a request or a response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, prost::Enumeration)]
#[repr(i32)]
pub enum Kind {
    Request = 0,
    Response = 1,
}

/// Every RPC message.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Envelope {
    /// Chosen by the client, unique per connection; a response carries its request's id.
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(enumeration = "Kind", tag = "2")]
    pub kind: i32,
    /// The method a request calls, e.g. `raft.append`.
    #[prost(string, tag = "3")]
    pub method: String,
    /// How long the caller will wait; the server gives up on the request after this.
    #[prost(uint32, tag = "4")]
    pub timeout_ms: u32,
    /// The method's argument or result, encoded as the method defines.
    #[prost(bytes = "bytes", tag = "5")]
    pub body: Bytes,
    /// Zero on success; otherwise a [`super::RemoteError`] code.
    #[prost(uint32, tag = "6")]
    pub error_code: u32,
    #[prost(string, tag = "7")]
    pub error: String,
}

/// A frame that cannot be read; the connection carrying it is closed.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix exceeds the limit.
    Oversize { len: usize, max: usize },
    /// The body is not a valid envelope.
    Malformed(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Oversize { len, max } => write!(f, "frame of {len} bytes exceeds {max}"),
            FrameError::Malformed(e) => write!(f, "malformed frame: {e}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Appends one frame holding `env` to `out`.
pub fn encode_frame(env: &Envelope, out: &mut BytesMut) {
    let len = env.encoded_len();
    out.reserve(4 + len);
    out.put_u32(len as u32);
    env.encode(out).expect("reserved enough capacity");
}

/// Takes one frame from the front of `buf`: `Ok(None)` if it is not all there yet.
pub fn decode_frame(buf: &mut BytesMut, frame_bytes_max: usize) -> Result<Option<Envelope>, FrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len > frame_bytes_max {
        return Err(FrameError::Oversize { len, max: frame_bytes_max });
    }
    if buf.len() < 4 + len {
        buf.reserve(4 + len - buf.len());
        return Ok(None);
    }
    buf.advance(4);
    let body = buf.split_to(len).freeze();
    Envelope::decode(body).map(Some).map_err(|e| FrameError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        Envelope {
            id: 1,
            kind: Kind::Request as i32,
            method: "m".into(),
            timeout_ms: 0,
            body: Bytes::from_static(b"xy"),
            error_code: 0,
            error: String::new(),
        }
    }

    #[test]
    fn encodes_the_documented_bytes() {
        let mut out = BytesMut::new();
        encode_frame(&sample(), &mut out);
        // length 9; field 1 varint 1; field 3 "m"; field 5 bytes "xy" (kind 0 and zeros omitted).
        assert_eq!(&out[..], &[0, 0, 0, 9, 0x08, 1, 0x1a, 1, b'm', 0x2a, 2, b'x', b'y']);
    }

    #[test]
    fn needs_more_until_the_whole_frame_is_there() {
        let mut all = BytesMut::new();
        encode_frame(&sample(), &mut all);
        for cut in 0..all.len() {
            let mut part = BytesMut::from(&all[..cut]);
            assert_eq!(decode_frame(&mut part, FRAME_BYTES_MAX), Ok(None), "cut at {cut}");
        }
        assert_eq!(decode_frame(&mut all, FRAME_BYTES_MAX), Ok(Some(sample())));
        assert!(all.is_empty());
    }

    #[test]
    fn refuses_oversize_before_buffering_it() {
        let mut buf = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff][..]);
        assert!(matches!(decode_frame(&mut buf, 1024), Err(FrameError::Oversize { .. })));
    }

    #[test]
    fn refuses_garbage() {
        let mut buf = BytesMut::from(&[0, 0, 0, 2, 0xff, 0xff][..]);
        assert!(matches!(decode_frame(&mut buf, 1024), Err(FrameError::Malformed(_))));
    }
}
