//! Object-tier manifests from arbitrary bytes: a clean error or a checked manifest (contiguous,
//! non-empty entries) whose encoding is exactly the bytes it came from, and whose lookup finds
//! each offset in the entry that holds it.
#![no_main]
use keel_fuzz::seeds;
use keel_storage::object::{Manifest, RemoteSegment};
use libfuzzer_sys::fuzz_target;

fn manifests() -> Vec<Vec<u8>> {
    let seg = |base, end| RemoteSegment { base, end, bytes: 4096 + base % 1000, max_ts: end };
    let many = Manifest { generation: 7, segments: vec![seg(0, 10), seg(10, 11), seg(11, 400)] };
    let far = Manifest { generation: u64::MAX, segments: vec![seg(u64::MAX - 9, u64::MAX)] };
    [Manifest::default(), many, far].iter().map(Manifest::encode).collect()
}

fuzz_target!(init: seeds::write(manifests), |data: &[u8]| {
    let Ok(m) = Manifest::decode(data) else { return };
    assert_eq!(m.encode(), data, "a manifest is its one encoding");
    for (i, s) in m.segments.iter().enumerate() {
        assert!(s.base < s.end && s.bytes > 0);
        for offset in [s.base, s.end - 1, s.base + (s.end - s.base) / 2] {
            assert_eq!(m.find(offset), Some(i), "offset {offset}");
        }
    }
    if let (Some(start), Some(end)) = (m.start(), m.end()) {
        assert_eq!((m.find(start.wrapping_sub(1)), m.find(end)), (None, None));
    }
});
