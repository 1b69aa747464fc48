//! The tail cache: the log's most recent batches, encoded, in memory.
//!
//! Appends push their batch here as well as to the file, so a reader at the tail decodes
//! from memory without a disk read or a CRC check (the bytes never left this process). The
//! cached batches are always contiguous and end at the log's end; the oldest are evicted past
//! `cache_bytes_max`. Truncation clears the cache; retention drops what it drops.

use std::collections::VecDeque;

use bytes::Bytes;

use super::format::BatchHeader;

/// One cached batch.
#[derive(Clone, Debug)]
pub struct CachedBatch {
    pub header: BatchHeader,
    pub data: Bytes,
}

/// Recent batches, oldest first.
#[derive(Debug)]
pub struct TailCache {
    batches: VecDeque<CachedBatch>,
    bytes: usize,
    bytes_max: usize,
}

impl TailCache {
    /// An empty cache holding at most `bytes_max` bytes of batches.
    pub fn new(bytes_max: usize) -> Self {
        TailCache { batches: VecDeque::new(), bytes: 0, bytes_max }
    }

    /// Adds the batch just appended at the end of the log.
    pub fn push(&mut self, batch: CachedBatch) {
        if self.batches.back().is_some_and(|b| b.header.end_offset() != batch.header.base_offset) {
            self.clear();
        }
        self.bytes += batch.data.len();
        self.batches.push_back(batch);
        while self.bytes > self.bytes_max {
            let Some(old) = self.batches.pop_front() else { break };
            self.bytes -= old.data.len();
        }
    }

    /// Whether `offset` is in a cached batch.
    pub fn covers(&self, offset: u64) -> bool {
        let first = self.batches.front().map(|b| b.header.base_offset);
        let end = self.batches.back().map(|b| b.header.end_offset());
        matches!((first, end), (Some(f), Some(e)) if f <= offset && offset < e)
    }

    /// The batches to serve a read at `from` (which [`Self::covers`]): the one holding it,
    /// then whole batches while the total stays within `bytes_max`.
    pub fn collect(&self, from: u64, bytes_max: usize) -> Vec<CachedBatch> {
        let first = self.batches.partition_point(|b| b.header.end_offset() <= from);
        let mut used = 0usize;
        let mut out = Vec::new();
        for b in self.batches.range(first..) {
            if !out.is_empty() && used + b.data.len() > bytes_max {
                break;
            }
            used += b.data.len();
            out.push(b.clone());
        }
        out
    }

    /// Drops the batches that end at or before `start` (retention moved the log start).
    pub fn drop_below(&mut self, start: u64) {
        while self.batches.front().is_some_and(|b| b.header.end_offset() <= start) {
            if let Some(old) = self.batches.pop_front() {
                self.bytes -= old.data.len();
            }
        }
    }

    /// Empties the cache.
    pub fn clear(&mut self) {
        self.batches.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(base: u64, count: u32, bytes: usize) -> CachedBatch {
        let header = BatchHeader {
            crc: 0,
            base_offset: base,
            record_count: count,
            offset_count: count,
            batch_bytes: bytes as u32,
            base_timestamp_ms: 0,
            max_timestamp_ms: 0,
            producer: None,
        };
        CachedBatch { header, data: Bytes::from(vec![0; bytes]) }
    }

    #[test]
    fn keeps_the_newest_batches_within_its_bound() {
        let mut c = TailCache::new(250);
        for i in 0..5 {
            c.push(batch(i * 10, 10, 100));
        }
        assert!(!c.covers(29) && c.covers(30) && c.covers(49) && !c.covers(50));
        let got: Vec<u64> = c.collect(35, 150).iter().map(|b| b.header.base_offset).collect();
        assert_eq!(got, [30], "the second batch would pass 150 bytes");
        let got: Vec<u64> = c.collect(35, 0).iter().map(|b| b.header.base_offset).collect();
        assert_eq!(got, [30], "always the batch holding `from`");
        c.drop_below(40);
        assert!(!c.covers(35) && c.covers(40));
        c.push(batch(70, 1, 10));
        assert!(!c.covers(40) && c.covers(70), "a gap clears the cache");
    }

    #[test]
    fn exactly_the_bound_is_kept_and_served() {
        let mut c = TailCache::new(200);
        c.push(batch(0, 10, 100));
        c.push(batch(10, 10, 100));
        assert!(c.covers(0), "200 bytes fit a 200-byte cache");
        let got: Vec<u64> = c.collect(0, 200).iter().map(|b| b.header.base_offset).collect();
        assert_eq!(got, [0, 10], "two batches of 100 fit a 200-byte read");
    }

    #[test]
    fn dropped_batches_free_their_bytes() {
        let mut c = TailCache::new(250);
        c.push(batch(0, 10, 100));
        c.push(batch(10, 10, 100));
        c.drop_below(10);
        c.push(batch(20, 10, 100));
        assert!(c.covers(10), "200 bytes after the drop: nothing evicted");
        c.push(batch(30, 10, 100));
        assert!(!c.covers(10) && c.covers(20), "300 bytes: the oldest goes");
    }
}
