//! The manifest: which segments of the log live in object storage.
//!
//! It is the only authority on the remote part of the log: a segment object that the manifest
//! does not list is an orphan (an interrupted upload or deletion) and is never read. The
//! manifest is rewritten whole with one put (atomic) after the objects it lists exist, and
//! before the objects it stops listing are deleted. Its bytes (all integers big-endian, layout
//! also in `docs/object-tier.md`):
//!
//! ```text
//! offset  size  field
//! 0       4     magic        "KOBM"
//! 4       1     version      1
//! 5       4     crc          CRC-32C of bytes [9, len)
//! 9       8     generation   bumped by every rewrite
//! 17      4     count        number of entries
//! 21      32*n  entries      base u64, end u64, bytes u64, max_timestamp_ms u64
//! ```
//!
//! Entries are in offset order, non-empty and contiguous (`end` of one is `base` of the next).
//! Decoding checks all of that and never panics on bad bytes.

/// One uploaded segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteSegment {
    /// Offset of the first record.
    pub base: u64,
    /// One past the last offset.
    pub end: u64,
    /// Size of the object (the segment's batches), in bytes.
    pub bytes: u64,
    /// Largest record timestamp, for time lookups and retention.
    pub max_ts: u64,
}

/// The remote part of the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    pub generation: u64,
    /// Contiguous segments in offset order.
    pub segments: Vec<RemoteSegment>,
}

const MAGIC: &[u8; 4] = b"KOBM";
const VERSION: u8 = 1;
const CRC_AT: usize = 5;
const CRC_FROM: usize = 9;
const HEADER_BYTES: usize = 21;
const ENTRY_BYTES: usize = 32;

impl Manifest {
    /// First offset held remotely, if any.
    pub fn start(&self) -> Option<u64> {
        self.segments.first().map(|s| s.base)
    }

    /// One past the last offset held remotely, if any.
    pub fn end(&self) -> Option<u64> {
        self.segments.last().map(|s| s.end)
    }

    /// Index of the segment holding `offset`.
    pub fn find(&self, offset: u64) -> Option<usize> {
        let i = self.segments.partition_point(|s| s.end <= offset);
        self.segments.get(i).filter(|s| s.base <= offset).map(|_| i)
    }

    /// The manifest's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_BYTES + ENTRY_BYTES * self.segments.len());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.generation.to_be_bytes());
        out.extend_from_slice(&(self.segments.len() as u32).to_be_bytes());
        for s in &self.segments {
            for v in [s.base, s.end, s.bytes, s.max_ts] {
                out.extend_from_slice(&v.to_be_bytes());
            }
        }
        let crc = crc32c::crc32c(&out[CRC_FROM..]);
        out[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        out
    }

    /// Parses and checks manifest bytes.
    pub fn decode(buf: &[u8]) -> Result<Manifest, String> {
        if buf.len() < HEADER_BYTES || &buf[..4] != MAGIC || buf[4] != VERSION {
            return Err(format!("not a version {VERSION} manifest ({} bytes)", buf.len()));
        }
        let stored = u32::from_be_bytes(buf[CRC_AT..CRC_AT + 4].try_into().expect("4 bytes"));
        let crc = crc32c::crc32c(&buf[CRC_FROM..]);
        if stored != crc {
            return Err(format!("manifest crc mismatch: stored {stored:#010x}, computed {crc:#010x}"));
        }
        let count = u32::from_be_bytes(buf[17..21].try_into().expect("4 bytes")) as usize;
        let body = buf.len() - HEADER_BYTES;
        if body / ENTRY_BYTES != count || !body.is_multiple_of(ENTRY_BYTES) {
            return Err(format!("manifest of {} bytes cannot hold {count} entries", buf.len()));
        }
        let u64_at = |at: usize| u64::from_be_bytes(buf[at..at + 8].try_into().expect("8 bytes"));
        let segments: Vec<RemoteSegment> = (0..count)
            .map(|i| HEADER_BYTES + i * ENTRY_BYTES)
            .map(|at| RemoteSegment {
                base: u64_at(at),
                end: u64_at(at + 8),
                bytes: u64_at(at + 16),
                max_ts: u64_at(at + 24),
            })
            .collect();
        let m = Manifest { generation: u64_at(9), segments };
        m.check()?;
        Ok(m)
    }

    /// Checks that the entries are non-empty and contiguous.
    pub fn check(&self) -> Result<(), String> {
        for (i, s) in self.segments.iter().enumerate() {
            if s.base >= s.end || s.bytes == 0 {
                return Err(format!("manifest entry {i}: empty segment [{}, {})", s.base, s.end));
            }
            if i > 0 && self.segments[i - 1].end != s.base {
                return Err(format!(
                    "manifest entry {i}: starts at {} after an end at {}",
                    s.base,
                    self.segments[i - 1].end
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        let seg = |base, end| RemoteSegment { base, end, bytes: 100 + base, max_ts: 7 * end };
        Manifest { generation: 9, segments: vec![seg(10, 20), seg(20, 21), seg(21, 40)] }
    }

    #[test]
    fn roundtrips_and_finds_offsets() {
        let m = sample();
        assert_eq!(Manifest::decode(&m.encode()).unwrap(), m);
        assert_eq!(Manifest::decode(&Manifest::default().encode()).unwrap(), Manifest::default());
        assert_eq!((m.start(), m.end()), (Some(10), Some(40)));
        assert_eq!(
            [9, 10, 19, 20, 21, 39, 40].map(|o| m.find(o)),
            [None, Some(0), Some(0), Some(1), Some(2), Some(2), None]
        );
    }

    #[test]
    fn any_damage_is_an_error_not_a_panic() {
        let buf = sample().encode();
        for at in 0..buf.len() {
            for bit in 0..8 {
                let mut bad = buf.clone();
                bad[at] ^= 1 << bit;
                assert!(Manifest::decode(&bad).is_err(), "flip at {at}.{bit}");
            }
        }
        for len in 0..buf.len() {
            assert!(Manifest::decode(&buf[..len]).is_err(), "cut at {len}");
        }
    }

    #[test]
    fn gaps_and_empty_entries_are_refused() {
        let mut m = sample();
        m.segments[1].base = 19;
        assert!(Manifest::decode(&m.encode()).is_err());
        let mut m = sample();
        m.segments[0].bytes = 0;
        assert!(Manifest::decode(&m.encode()).is_err());
    }
}
