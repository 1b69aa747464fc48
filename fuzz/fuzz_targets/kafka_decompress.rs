//! Decompression of record-batch payloads produced to a binding, every codec, from arbitrary
//! bytes: a clean error or output within the limit, never a panic or more than the limit.
#![no_main]
use keel_protocols::kafka::decompress::decompress;
use keel_protocols::kafka::kafka_protocol::records::Compression;
use libfuzzer_sys::fuzz_target;

const OUTPUT_BYTES_MAX: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
        if let Ok(out) = decompress(codec, data, OUTPUT_BYTES_MAX) {
            assert!(out.len() <= OUTPUT_BYTES_MAX);
        }
    }
});
