//! Record batches as a producer sends them (Produce's records field), from arbitrary bytes:
//! splitting into checked batches (lengths, magic, CRC) and each header's parse.
#![no_main]
use bytes::Bytes;
use keel_protocols::kafka::batch::{parse_header, split};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse_header(data);
    if let Ok(batches) = split(&Bytes::copy_from_slice(data)) {
        for (h, b) in batches {
            assert_eq!(h.size(), b.len(), "a split batch is as long as its header says");
        }
    }
});
