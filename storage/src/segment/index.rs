//! The sparse indexes of a segment: offset → file position, and timestamp → offset.
//!
//! An index point is taken at a batch boundary once `index_interval_bytes` of log have passed
//! since the previous one (the segment start is an implicit point). In memory both indexes
//! are one list of points; on disk they are two files, written when a segment is sealed and
//! never synced: they are a cache of what a scan of the log would find, so they are checked
//! when loaded and rebuilt from the log if missing or invalid. A stale or torn index can only
//! be a prefix of the right one (a segment only grows until a truncation, which deletes its
//! index files first), and readers check each batch they land on, so a wrong point costs a
//! scan, never a wrong answer.

// `.index` file: one 8-byte entry per index point, big-endian:
//   offset  size  field
//   0       4     rel_offset  base offset of the batch at the point, minus the segment base
//   4       4     position    file position of that batch in the segment's `.log`
//
// `.timeindex` file: one 12-byte entry per index point, then one final entry, big-endian:
//   offset  size  field
//   0       8     timestamp_ms  largest timestamp of the segment's records below rel_offset
//   8       4     rel_offset    as in `.index` (the final entry: the segment's record count)
const INDEX_ENTRY_BYTES: usize = 8;
const TIME_ENTRY_BYTES: usize = 12;

/// One index point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexPoint {
    /// Base offset of the batch at this point, relative to the segment base.
    pub rel: u32,
    /// File position of that batch.
    pub pos: u32,
    /// Largest timestamp of the records before `rel` in this segment.
    pub max_ts_before: u64,
}

/// The index points of one segment, in log order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SegmentIndex {
    points: Vec<IndexPoint>,
}

impl SegmentIndex {
    /// Adds a point past every existing one.
    pub fn push(&mut self, p: IndexPoint) {
        if let Some(last) = self.points.last() {
            assert!(p.rel > last.rel && p.pos > last.pos && p.max_ts_before >= last.max_ts_before, "index order");
        }
        self.points.push(p);
    }

    /// The last point at or before relative offset `rel`.
    pub fn floor_by_offset(&self, rel: u64) -> Option<IndexPoint> {
        let n = self.points.partition_point(|p| u64::from(p.rel) <= rel);
        n.checked_sub(1).map(|i| self.points[i])
    }

    /// The last point before which every record is older than `ts_ms`.
    pub fn floor_by_time(&self, ts_ms: u64) -> Option<IndexPoint> {
        let n = self.points.partition_point(|p| p.max_ts_before < ts_ms);
        n.checked_sub(1).map(|i| self.points[i])
    }

    /// The position of the last point (0 if none).
    pub fn last_pos(&self) -> u64 {
        self.points.last().map_or(0, |p| u64::from(p.pos))
    }

    /// Drops the points at or past file position `pos`.
    pub fn truncate_at_pos(&mut self, pos: u64) {
        self.points.retain(|p| u64::from(p.pos) < pos);
    }

    /// The `.index` file.
    pub fn encode_offsets(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.points.len() * INDEX_ENTRY_BYTES);
        for p in &self.points {
            out.extend_from_slice(&p.rel.to_be_bytes());
            out.extend_from_slice(&p.pos.to_be_bytes());
        }
        out
    }

    /// The `.timeindex` file of a sealed segment holding `count` records up to `max_ts`.
    pub fn encode_times(&self, count: u32, max_ts: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity((self.points.len() + 1) * TIME_ENTRY_BYTES);
        let last = IndexPoint { rel: count, pos: 0, max_ts_before: max_ts };
        for p in self.points.iter().chain([&last]) {
            out.extend_from_slice(&p.max_ts_before.to_be_bytes());
            out.extend_from_slice(&p.rel.to_be_bytes());
        }
        out
    }

    /// Loads the index files of a sealed segment of `count` records in `log_bytes`, checking
    /// that they describe such a segment. Returns the index and the segment's max timestamp.
    pub fn decode(offsets: &[u8], times: &[u8], count: u32, log_bytes: u64) -> Result<(Self, u64), String> {
        if !offsets.len().is_multiple_of(INDEX_ENTRY_BYTES) || !times.len().is_multiple_of(TIME_ENTRY_BYTES) {
            return Err("index file length is not a whole number of entries".to_string());
        }
        let n = offsets.len() / INDEX_ENTRY_BYTES;
        if times.len() / TIME_ENTRY_BYTES != n + 1 {
            return Err("offset and time indexes disagree on their number of points".to_string());
        }
        let mut index = SegmentIndex::default();
        let mut prev = IndexPoint { rel: 0, pos: 0, max_ts_before: 0 };
        for i in 0..n {
            let o = &offsets[i * INDEX_ENTRY_BYTES..];
            let t = &times[i * TIME_ENTRY_BYTES..];
            let p = IndexPoint { rel: be_u32(o, 0), pos: be_u32(o, 4), max_ts_before: be_u64(t, 0) };
            let ok = be_u32(t, 8) == p.rel
                && p.rel > prev.rel
                && p.rel < count
                && p.pos > prev.pos
                && u64::from(p.pos) < log_bytes
                && p.max_ts_before >= prev.max_ts_before;
            if !ok {
                return Err(format!("index point {i} out of order or out of the segment"));
            }
            index.points.push(p);
            prev = p;
        }
        let last = &times[n * TIME_ENTRY_BYTES..];
        let (max_ts, rel) = (be_u64(last, 0), be_u32(last, 8));
        if rel != count || max_ts < prev.max_ts_before {
            return Err("time index does not end with the segment's record count".to_string());
        }
        Ok((index, max_ts))
    }
}

fn be_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(buf[at..at + 4].try_into().expect("4-byte slice"))
}

fn be_u64(buf: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(buf[at..at + 8].try_into().expect("8-byte slice"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SegmentIndex {
        let mut ix = SegmentIndex::default();
        ix.push(IndexPoint { rel: 10, pos: 4_100, max_ts_before: 50 });
        ix.push(IndexPoint { rel: 25, pos: 8_300, max_ts_before: 50 });
        ix.push(IndexPoint { rel: 40, pos: 12_400, max_ts_before: 90 });
        ix
    }

    #[test]
    fn lookups_find_the_point_at_or_before() {
        let ix = sample();
        assert_eq!(ix.floor_by_offset(9), None);
        assert_eq!(ix.floor_by_offset(10).unwrap().pos, 4_100);
        assert_eq!(ix.floor_by_offset(39).unwrap().pos, 8_300);
        assert_eq!(ix.floor_by_offset(1_000).unwrap().pos, 12_400);
        assert_eq!(ix.floor_by_time(50), None, "records before rel 10 may be as new as 50");
        assert_eq!(ix.floor_by_time(51).unwrap().rel, 25);
        assert_eq!(ix.floor_by_time(91).unwrap().rel, 40);
    }

    #[test]
    fn files_roundtrip_and_bad_files_are_rejected() {
        let ix = sample();
        let (offsets, times) = (ix.encode_offsets(), ix.encode_times(55, 95));
        assert_eq!(SegmentIndex::decode(&offsets, &times, 55, 20_000), Ok((ix.clone(), 95)));
        assert!(SegmentIndex::decode(&offsets, &times, 56, 20_000).is_err(), "wrong record count");
        assert!(SegmentIndex::decode(&offsets, &times, 55, 12_400).is_err(), "points past the log");
        assert!(SegmentIndex::decode(&offsets[..8], &times, 55, 20_000).is_err(), "torn offset index");
        assert!(SegmentIndex::decode(&offsets, &times[..30], 55, 20_000).is_err(), "torn time index");
        let zeros = vec![0u8; offsets.len()];
        assert!(SegmentIndex::decode(&zeros, &times, 55, 20_000).is_err(), "zeroed index");
        let empty = SegmentIndex::default();
        assert_eq!(SegmentIndex::decode(&[], &empty.encode_times(3, 7), 3, 100), Ok((empty, 7)));
    }

    /// An index point as (rel, pos, max_ts_before).
    type Point = (u32, u32, u64);

    /// The two files for `points`, as given: no order checked.
    fn raw(points: &[Point], count: u32, max_ts: u64) -> (Vec<u8>, Vec<u8>) {
        let (mut offsets, mut times) = (Vec::new(), Vec::new());
        for &(rel, pos, ts) in points {
            offsets.extend_from_slice(&rel.to_be_bytes());
            offsets.extend_from_slice(&pos.to_be_bytes());
            times.extend_from_slice(&ts.to_be_bytes());
            times.extend_from_slice(&rel.to_be_bytes());
        }
        times.extend_from_slice(&max_ts.to_be_bytes());
        times.extend_from_slice(&count.to_be_bytes());
        (offsets, times)
    }

    #[test]
    fn points_that_repeat_or_reach_the_segment_end_are_rejected() {
        let good = [(10, 4_100, 50), (25, 8_300, 50)];
        let (offsets, times) = raw(&good, 30, 60);
        assert!(SegmentIndex::decode(&offsets, &times, 30, 9_000).is_ok());
        let cases: [(&str, Vec<Point>); 5] = [
            ("a point at the segment start", vec![(0, 4_100, 50)]),
            ("a repeated offset", vec![(10, 4_100, 50), (10, 8_300, 50)]),
            ("a point at the record count", vec![(10, 4_100, 50), (30, 8_300, 50)]),
            ("a repeated position", vec![(10, 4_100, 50), (25, 4_100, 50)]),
            ("a point at position 0", vec![(10, 0, 50)]),
        ];
        for (what, points) in cases {
            let (offsets, times) = raw(&points, 30, 60);
            assert!(SegmentIndex::decode(&offsets, &times, 30, 9_000).is_err(), "{what}");
        }
        let mut long_times = times.clone();
        long_times.extend_from_slice(&[0; 5]);
        assert!(SegmentIndex::decode(&offsets, &long_times, 30, 9_000).is_err(), "stray bytes after the time index");
        let mut long_offsets = offsets.clone();
        long_offsets.extend_from_slice(&[0; 3]);
        assert!(SegmentIndex::decode(&long_offsets, &times, 30, 9_000).is_err(), "stray bytes after the index");
    }

    #[test]
    fn truncation_drops_points_at_or_past_the_cut() {
        let mut ix = sample();
        ix.truncate_at_pos(8_300);
        assert_eq!(ix.last_pos(), 4_100);
    }
}
