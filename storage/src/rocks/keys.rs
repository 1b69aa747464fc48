//! The key layout of a RocksDB log (`docs/rocksdb-engine.md`): a one-byte kind, then a
//! big-endian offset, so that keys sort by kind, then by offset.
//!
//! - `0x00 "format"` → `u32` BE layout version ([`FORMAT`]).
//! - `0x01 base_offset:u64` → one segment-format batch (header, CRC, records).
//! - `0x02 segment_base:u64` → segment totals ([`SegmentStats`], 24 bytes).

/// The layout version written under [`FORMAT_KEY`].
pub const FORMAT: u32 = 1;
/// The key of the layout version.
pub const FORMAT_KEY: &[u8] = b"\x00format";

const BATCH: u8 = 0x01;
const SEGMENT: u8 = 0x02;

fn key(kind: u8, offset: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = kind;
    k[1..].copy_from_slice(&offset.to_be_bytes());
    k
}

/// The key of the batch starting at `base`.
pub fn batch(base: u64) -> [u8; 9] {
    key(BATCH, base)
}

/// Past every batch key (an exclusive bound for range deletes).
pub fn batch_upper() -> [u8; 1] {
    [BATCH + 1]
}

/// The key of the segment starting at `base`.
pub fn segment(base: u64) -> [u8; 9] {
    key(SEGMENT, base)
}

/// Past every segment key.
pub fn segment_upper() -> [u8; 1] {
    [SEGMENT + 1]
}

fn parse(kind: u8, k: &[u8]) -> Option<u64> {
    match k {
        [first, rest @ ..] if *first == kind && rest.len() == 8 => {
            Some(u64::from_be_bytes(rest.try_into().expect("8 bytes")))
        }
        _ => None,
    }
}

/// The base offset of a batch key, `None` for any other key.
pub fn parse_batch(k: &[u8]) -> Option<u64> {
    parse(BATCH, k)
}

/// The base offset of a segment key, `None` for any other key.
pub fn parse_segment(k: &[u8]) -> Option<u64> {
    parse(SEGMENT, k)
}

/// A segment's totals, stored under its key and rewritten with every append to it:
/// `bytes:u64 | max_ts:u64 | first_max_ts:u64`, big-endian. `bytes == 0` means empty (every
/// batch has a 56-byte header), and then the timestamps are 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentStats {
    /// Encoded bytes of its batches (as [`crate::segment::format::encoded_len`] counts them).
    pub bytes: u64,
    /// The newest record timestamp in it.
    pub max_ts: u64,
    /// The newest record timestamp of its first batch (rolling by age starts from it).
    pub first_max_ts: u64,
}

impl SegmentStats {
    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Adds a batch of `bytes` whose newest record is at `max_ts`.
    pub fn add(&mut self, bytes: u64, max_ts: u64) {
        if self.is_empty() {
            self.first_max_ts = max_ts;
            self.max_ts = max_ts;
        }
        self.bytes += bytes;
        self.max_ts = self.max_ts.max(max_ts);
    }

    pub fn encode(&self) -> [u8; 24] {
        let mut v = [0u8; 24];
        v[..8].copy_from_slice(&self.bytes.to_be_bytes());
        v[8..16].copy_from_slice(&self.max_ts.to_be_bytes());
        v[16..].copy_from_slice(&self.first_max_ts.to_be_bytes());
        v
    }

    pub fn decode(v: &[u8]) -> Option<SegmentStats> {
        let v: &[u8; 24] = v.try_into().ok()?;
        let at = |i: usize| u64::from_be_bytes(v[i..i + 8].try_into().expect("8 bytes"));
        Some(SegmentStats { bytes: at(0), max_ts: at(8), first_max_ts: at(16) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_kind_then_offset() {
        assert!(batch(1).as_slice() < batch(256).as_slice());
        assert!(batch(u64::MAX).as_slice() < batch_upper().as_slice());
        assert!(batch_upper().as_slice() <= segment(0).as_slice());
        assert!(segment(u64::MAX).as_slice() < segment_upper().as_slice());
        assert_eq!(parse_batch(&batch(42)), Some(42));
        assert_eq!(parse_batch(&segment(42)), None);
        assert_eq!(parse_segment(&segment(7)), Some(7));
        assert_eq!(parse_segment(FORMAT_KEY), None);
    }

    #[test]
    fn stats_round_trip() {
        let mut s = SegmentStats::default();
        s.add(100, 50);
        s.add(60, 40);
        assert_eq!(s, SegmentStats { bytes: 160, max_ts: 50, first_max_ts: 50 });
        assert_eq!(SegmentStats::decode(&s.encode()), Some(s));
        assert_eq!(SegmentStats::decode(&[0; 23]), None);
    }
}
