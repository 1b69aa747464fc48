//! MQTT packets from arbitrary bytes, both versions: every packet the buffer holds is read (or a
//! clean error, or "need more"), never a panic; a read consumes what it returns.
#![no_main]
use bytes::BytesMut;
use keel_protocols::mqtt::{read, Version};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for version in [Version::V311, Version::V5] {
        let mut buf = BytesMut::from(data);
        while let Ok(Some(_)) = read(&mut buf, version, 64 * 1024) {}
    }
});
