//! The message layer's tests ([`super::WsStream`]), and the client-side frame encoder the
//! module's tests share.

use bytes::BytesMut;
use proptest::prelude::*;

use super::frame::{self, Opcode};
use super::{close, mask, wrap, FrameError, Status, WsStream};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
const FRAME_BYTES_MAX: usize = 1 << 16;

/// A client frame: first byte `b0` (FIN, RSV, opcode), MASK set, the shortest length
/// encoding, `payload` masked with `key`. Written independently of [`frame::write`].
pub(crate) fn client_frame(b0: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut bytes = vec![b0];
    match payload.len() {
        len @ 0..=125 => bytes.push(0x80 | len as u8),
        len @ 126..=0xFFFF => {
            bytes.push(0x80 | 126);
            bytes.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            bytes.push(0x80 | 127);
            bytes.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    bytes.extend_from_slice(&key);
    let mut masked = payload.to_vec();
    mask::apply(key, &mut masked);
    bytes.extend_from_slice(&masked);
    bytes
}

/// What one `feed` of `frames` gives: the result, the app bytes, the wire bytes, and the
/// input left over.
struct Fed {
    result: Result<Status, FrameError>,
    app: Vec<u8>,
    wire: Vec<u8>,
    left: Vec<u8>,
}

fn feed(stream: &mut WsStream, frames: &[Vec<u8>]) -> Fed {
    let mut input = BytesMut::from(&frames.concat()[..]);
    let (mut app, mut wire) = (BytesMut::new(), BytesMut::new());
    let result = stream.feed(&mut input, &mut app, &mut wire);
    Fed { result, app: app.to_vec(), wire: wire.to_vec(), left: input.to_vec() }
}

fn feed_new(frames: &[Vec<u8>]) -> Fed {
    feed(&mut WsStream::new(FRAME_BYTES_MAX), frames)
}

fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut out = BytesMut::new();
    frame::write_close(code, reason, &mut out);
    out.to_vec()
}

#[test]
fn binary_frames_become_app_bytes() {
    let fed = feed_new(&[client_frame(0x82, b"\x10\x0c\x00", KEY), client_frame(0x82, b"\x04MQTT", KEY)]);
    assert_eq!(fed.result, Ok(Status::Open));
    assert_eq!(fed.app, b"\x10\x0c\x00\x04MQTT");
    assert!(fed.wire.is_empty() && fed.left.is_empty());
}

#[test]
fn fragments_with_a_ping_between_them() {
    let frames = [client_frame(0x02, b"Hel", KEY), client_frame(0x89, b"hi", KEY), client_frame(0x80, b"lo", KEY)];
    let fed = feed_new(&frames);
    assert_eq!(fed.result, Ok(Status::Open));
    assert_eq!(fed.app, b"Hello");
    assert_eq!(fed.wire, b"\x8a\x02hi");
}

#[test]
fn an_incomplete_frame_waits_in_the_input() {
    let whole = client_frame(0x82, b"abc", KEY);
    let mut partial = whole.clone();
    partial.pop();
    let mut stream = WsStream::new(FRAME_BYTES_MAX);
    let fed = feed(&mut stream, &[client_frame(0x82, b"xy", KEY), partial.clone()]);
    assert_eq!((fed.result, fed.app, fed.left), (Ok(Status::Open), b"xy".to_vec(), partial));
    assert_eq!(feed(&mut stream, &[whole]).app, b"abc");
}

#[test]
fn pings_are_answered_and_pongs_ignored() {
    let fed = feed_new(&[client_frame(0x89, b"", KEY), client_frame(0x8a, b"x", KEY), client_frame(0x89, b"p", KEY)]);
    assert_eq!(fed.result, Ok(Status::Open));
    assert_eq!(fed.wire, b"\x8a\x00\x8a\x01p");
    assert!(fed.app.is_empty());
}

#[test]
fn a_close_is_echoed_and_ends_the_stream() {
    let mut stream = WsStream::new(FRAME_BYTES_MAX);
    let later = client_frame(0x82, b"late", KEY);
    let fed = feed(&mut stream, &[client_frame(0x88, b"\x03\xe8bye", KEY), later.clone()]);
    assert_eq!(fed.result, Ok(Status::Closed(1000)));
    assert_eq!(fed.wire, close_frame(1000, ""));
    assert_eq!(fed.left, later, "nothing after the close is read");
    let again = feed(&mut stream, &[later]);
    assert_eq!(again.result, Ok(Status::Closed(1000)));
    assert!(again.wire.is_empty() && again.app.is_empty());
}

#[test]
fn an_empty_close_is_answered_with_an_empty_close() {
    let fed = feed_new(&[client_frame(0x88, b"", KEY)]);
    assert_eq!(fed.result, Ok(Status::Closed(close::NO_STATUS)));
    assert_eq!(fed.wire, [0x88, 0x00]);
}

#[test]
fn after_the_server_closes_it_neither_pongs_nor_closes_again() {
    let mut stream = WsStream::new(FRAME_BYTES_MAX);
    let mut wire = BytesMut::new();
    stream.close(close::GOING_AWAY, "shutdown", &mut wire);
    stream.close(close::NORMAL, "twice", &mut wire);
    assert_eq!(wire.to_vec(), close_frame(1001, "shutdown"));
    let fed = feed(&mut stream, &[client_frame(0x89, b"p", KEY), client_frame(0x88, b"\x03\xe9", KEY)]);
    assert_eq!(fed.result, Ok(Status::Closed(1001)));
    assert!(fed.wire.is_empty());
}

#[test]
fn text_is_unsupported_data() {
    let fed = feed_new(&[client_frame(0x82, b"ok", KEY), client_frame(0x81, b"{}", KEY)]);
    assert_eq!(fed.result, Err(FrameError::Text));
    assert_eq!(fed.result.unwrap_err().close_code(), 1003);
    assert_eq!(fed.app, b"ok", "bytes before the bad frame are delivered");
}

#[test]
fn continuation_without_a_message_is_a_protocol_error() {
    for b0 in [0x80, 0x00] {
        let fed = feed_new(&[client_frame(b0, b"lo", KEY)]);
        assert_eq!(fed.result, Err(FrameError::UnexpectedContinuation));
    }
    let fed = feed_new(&[client_frame(0x82, b"a", KEY), client_frame(0x80, b"b", KEY)]);
    assert_eq!(fed.result, Err(FrameError::UnexpectedContinuation));
}

#[test]
fn a_new_message_inside_a_fragmented_one_is_a_protocol_error() {
    for b0 in [0x82, 0x02, 0x81] {
        let fed = feed_new(&[client_frame(0x02, b"Hel", KEY), client_frame(b0, b"lo", KEY)]);
        assert_eq!(fed.result, Err(FrameError::UnfinishedMessage));
        assert_eq!(fed.result.unwrap_err().close_code(), 1002);
    }
}

#[test]
fn bad_close_payloads() {
    assert_eq!(feed_new(&[client_frame(0x88, b"\x03", KEY)]).result, Err(FrameError::CloseTruncated));
    assert_eq!(feed_new(&[client_frame(0x88, b"\x03\xed", KEY)]).result, Err(FrameError::CloseCode(1005)));
    let fed = feed_new(&[client_frame(0x88, b"\x03\xe8\xc3", KEY)]);
    assert_eq!(fed.result, Err(FrameError::CloseReasonNotUtf8));
    assert_eq!(fed.result.unwrap_err().close_code(), 1007);
}

#[test]
fn a_frame_over_the_limit_is_too_big() {
    let fed = feed(&mut WsStream::new(4), &[client_frame(0x82, b"12345", KEY)]);
    assert_eq!(fed.result, Err(FrameError::TooBig { len: 5, frame_bytes_max: 4 }));
    assert_eq!(fed.result.unwrap_err().close_code(), 1009);
}

#[test]
fn frame_errors_surface_through_feed() {
    assert_eq!(feed_new(&[vec![0x82, 0x02, 0, 0]]).result, Err(FrameError::Unmasked));
    assert_eq!(feed_new(&[vec![0xC2, 0x80]]).result, Err(FrameError::ReservedBits(0b100)));
}

#[test]
fn wrap_writes_one_binary_frame() {
    let mut out = BytesMut::new();
    wrap(b"\x20\x02\x00\x00", &mut out);
    assert_eq!(&out[..], b"\x82\x04\x20\x02\x00\x00");
}

/// `payload` cut at `cuts` (positions, any order, may repeat) into client frames: a binary
/// first fragment, then continuations, FIN on the last; each masked with its own key.
fn fragments(payload: &[u8], cuts: &[usize], keys: &[[u8; 4]]) -> Vec<Vec<u8>> {
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (payload.len() + 1)).collect();
    bounds.extend([0, payload.len()]);
    bounds.sort_unstable();
    let pieces: Vec<&[u8]> = bounds.windows(2).map(|w| &payload[w[0]..w[1]]).collect();
    let last = pieces.len() - 1;
    let frame_of = |(i, piece): (usize, &&[u8])| {
        let opcode = if i == 0 { Opcode::Binary as u8 } else { Opcode::Continuation as u8 };
        let fin = if i == last { 0x80 } else { 0 };
        client_frame(fin | opcode, piece, keys[i % keys.len()])
    };
    pieces.iter().enumerate().map(frame_of).collect()
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), max in 0usize..300) {
        let mut stream = WsStream::new(max);
        let (mut app, mut wire) = (BytesMut::new(), BytesMut::new());
        let _ = stream.feed(&mut BytesMut::from(&bytes[..]), &mut app, &mut wire);
        let _ = frame::read(&mut BytesMut::from(&bytes[..]), usize::MAX);
    }

    #[test]
    fn fragmented_payloads_come_out_whole(
        payload in proptest::collection::vec(any::<u8>(), 0..3000),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
        keys in proptest::collection::vec(any::<[u8; 4]>(), 1..4),
        chunk_bytes in 1usize..400,
    ) {
        let wire = fragments(&payload, &cuts, &keys).concat();
        let mut stream = WsStream::new(FRAME_BYTES_MAX);
        let (mut input, mut app, mut out) = (BytesMut::new(), BytesMut::new(), BytesMut::new());
        for chunk in wire.chunks(chunk_bytes) {
            input.extend_from_slice(chunk);
            prop_assert_eq!(stream.feed(&mut input, &mut app, &mut out), Ok(Status::Open));
        }
        prop_assert!(input.is_empty() && out.is_empty());
        prop_assert_eq!(&app[..], &payload[..]);
    }
}
