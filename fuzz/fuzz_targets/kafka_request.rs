//! Kafka request frames from arbitrary bytes: the framer, then the header and body decoding of
//! every served API and version; a clean error or a request, never a panic or a huge allocation.
#![no_main]
use bytes::{Bytes, BytesMut};
use keel_protocols::kafka::frame::decode_frame;
use keel_protocols::kafka::request::decode_request;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_request(Bytes::copy_from_slice(data));
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = decode_frame(&mut buf, 1 << 20) {
        let _ = decode_request(frame.freeze());
    }
});
