//! Appending batches, and rolling (sealing) the active segment.
//!
//! An append encodes the batch, rolls first if the active segment is full or old, writes the
//! batch at the end of the active file (one write), then publishes it: segment bookkeeping,
//! index point, tail cache. Nothing is synced here except on a roll, which makes the sealed
//! segment entirely durable (file and name) before the next segment's file exists. That is
//! what lets recovery treat any damage in a sealed segment as corruption.

use bytes::Bytes;
use keel_rt::disk::{DiskFile, OpenMode};

use super::cache::CachedBatch;
use super::engine::{open_file, SegmentEngine};
use super::format::{self, BatchHeader};
use super::log_segment::Segment;
use super::names;
use crate::engine::{LogError, Record};

impl SegmentEngine {
    pub(super) async fn append_impl(&self, records: Vec<Record>) -> Result<(u64, u64), LogError> {
        assert!(!records.is_empty(), "append takes a non-empty batch");
        let bytes = format::encoded_len(&records);
        if bytes > self.config.batch_bytes_max {
            return Err(LogError::TooLarge { bytes, max: self.config.batch_bytes_max });
        }
        let _w = self.writer.lock().await;
        self.check_open()?;
        let base = self.state().end();
        let offsets = crate::engine::span_of(&records);
        if base.checked_add(offsets).is_none() {
            // Only a log restarted or recovered near u64::MAX gets here: no offsets are left.
            let st = self.state();
            return Err(LogError::OffsetOutOfRange { requested: u64::MAX, start: st.start(), end: st.end() });
        }
        let mut buf = Vec::with_capacity(bytes);
        // One batch per producer run; all of them go out in one write.
        let headers = format::encode_runs(base, &records, &mut buf);
        let max_ts = headers.iter().map(|h| h.max_timestamp_ms).max().unwrap_or(0);
        let roll = self.state().active().should_roll(buf.len() as u64, offsets, max_ts, &self.config);
        if roll {
            self.roll().await?;
        }
        let (file, pos) = {
            let st = self.state();
            (st.active().file.clone(), st.active().bytes)
        };
        let data = Bytes::from(buf);
        if let Err(e) = file.write_bytes(pos, data.clone()).await {
            self.undo_write(file.as_ref(), pos).await;
            return Err(LogError::Io(e));
        }
        self.publish(&headers, data);
        let last = headers.last().expect("at least one batch");
        Ok((base, last.end_offset() - 1))
    }

    /// Makes written batches (back to back in `data`) visible: bookkeeping, index points,
    /// cache.
    fn publish(&self, headers: &[BatchHeader], data: Bytes) {
        let mut st = self.state();
        let mut at = 0;
        for header in headers {
            st.active_mut().note_batch(header, self.config.index_interval_bytes);
            st.cache.push(CachedBatch { header: *header, data: data.slice(at..at + header.size()) });
            at += header.size();
        }
    }

    /// Cuts the bytes of a failed write; if even that fails, the file is in an unknown state.
    async fn undo_write(&self, file: &dyn DiskFile, pos: u64) {
        if let Err(e) = file.set_len(pos).await {
            let _ = self.fail(e);
        }
    }

    pub(super) async fn seal_impl(&self) -> Result<(), LogError> {
        let _w = self.writer.lock().await;
        self.check_open()?;
        if self.state().active().is_empty() {
            return Ok(());
        }
        self.roll().await
    }

    /// Seals the active segment and starts a new, empty one at the log's end. Called with the
    /// writer lock held and a non-empty active segment.
    async fn roll(&self) -> Result<(), LogError> {
        let (old, base, end, offsets, times, dir_version) = {
            let st = self.state();
            let a = st.active();
            assert!(!a.is_empty(), "only a non-empty segment is sealed");
            let times = a.index.encode_times(a.record_count(), a.max_ts.unwrap_or(0));
            (a.file.clone(), a.base, a.end, a.index.encode_offsets(), times, st.dir_version)
        };
        self.write_cache_file(&names::index(base), &offsets).await;
        self.write_cache_file(&names::time_index(base), &times).await;
        old.sync().await.map_err(|e| self.fail(e))?;
        self.disk.sync_dir(&self.dir).await.map_err(|e| self.fail(e))?;
        let file = open_file(self.disk.as_ref(), &self.dir, &names::log(end), OpenMode::CreateNew).await?;
        let mut st = self.state();
        st.durable_end = st.durable_end.max(end);
        st.dir_synced = st.dir_synced.max(dir_version);
        st.dir_version += 1;
        st.segments.push(Segment::new(end, file));
        Ok(())
    }

    /// Writes an index file without syncing it: it is a cache, checked when loaded.
    pub(super) async fn write_cache_file(&self, name: &str, data: &[u8]) {
        let written = async {
            let f = self.disk.open(&self.path(name), OpenMode::Create).await?;
            f.set_len(0).await?;
            f.write_at(0, data).await
        };
        if let Err(e) = written.await {
            tracing::warn!(dir = %self.dir, file = name, error = %e, "index file not written; it will be rebuilt");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use keel_rt::disk::SimDisk;

    use crate::{LogEngine, LogError, Record, SegmentConfig, SegmentEngine};

    /// Found by fuzzing (`fuzz/fuzz_targets/segment_recovery.rs`): a directory holding a segment
    /// named near u64::MAX opened fine, and the next append overflowed the offsets (a panic in
    /// debug builds, wrapped offsets in release).
    #[tokio::test]
    async fn an_append_past_the_last_offset_is_refused() {
        let disk = Arc::new(SimDisk::new(1));
        let log = SegmentEngine::open(disk, "log", SegmentConfig::default()).await.unwrap();
        log.reset(u64::MAX - 2).await.unwrap();
        let record = || Record::new(1, None, bytes::Bytes::from_static(b"v"));
        assert_eq!(log.append(vec![record(), record()]).await.unwrap(), (u64::MAX - 2, u64::MAX - 1));
        let refused = log.append(vec![record()]).await;
        assert!(matches!(refused, Err(LogError::OffsetOutOfRange { requested: u64::MAX, .. })), "{refused:?}");
        assert_eq!(log.end_offset(), u64::MAX);
    }

    /// A segment's offsets are `u32`s relative to its base in the index files: records that
    /// span many offsets start a new segment long before the size limit, rather than make a
    /// segment that cannot be sealed or reopened.
    #[tokio::test]
    async fn records_spanning_many_offsets_roll_the_segment() {
        let disk = Arc::new(SimDisk::new(1));
        let log = SegmentEngine::open(disk.clone(), "log", SegmentConfig::default()).await.unwrap();
        let span = 2_000_000_000u32;
        for i in 0..3u64 {
            let record = Record { span, ..Record::new(i, None, bytes::Bytes::from_static(b"v")) };
            let at = i * u64::from(span);
            assert_eq!(log.append(vec![record]).await.unwrap(), (at, at + u64::from(span) - 1));
        }
        log.seal().await.unwrap();
        log.sync().await.unwrap();
        drop(log);
        let log = SegmentEngine::open(disk, "log", SegmentConfig::default()).await.unwrap();
        assert_eq!(log.recovery().segments, 3, "the third record starts a segment, the seal a third");
        let mut got = Vec::new();
        for from in [0, 2_500_000_000, 5_999_999_999] {
            let r = log.read(from, 1).await.unwrap();
            got.push((r[0].offset, r[0].span, r.len()));
        }
        assert_eq!(got, [(0, span, 1), (2_000_000_000, span, 1), (4_000_000_000, span, 1)]);
    }

    #[tokio::test]
    async fn a_batch_of_exactly_the_byte_limit_is_accepted() {
        let record = || Record::new(1, None, bytes::Bytes::from_static(b"value"));
        let bytes = crate::segment::format::encoded_len(&[record(), record()]);
        let config = SegmentConfig { batch_bytes_max: bytes, ..SegmentConfig::default() };
        let log = SegmentEngine::open(Arc::new(SimDisk::new(1)), "log", config).await.unwrap();
        assert_eq!(log.append(vec![record(), record()]).await.unwrap(), (0, 1));
        let refused = log.append(vec![record(), record(), record()]).await;
        assert!(matches!(refused, Err(LogError::TooLarge { max, .. }) if max == bytes), "{refused:?}");
    }
}
