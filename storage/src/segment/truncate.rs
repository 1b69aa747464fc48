//! Truncation: removing a divergent suffix, durably, without ever losing what stays.
//!
//! Order of work, so that a crash at any point leaves a prefix of the old log that still
//! holds every offset below `end`:
//! 1. remove the later segments' files and this segment's index files, then sync the
//!    directory (a crash now leaves this segment whole);
//! 2. find the batch holding `end`; if `end` is its base, cut the file there (`set_len`) and
//!    sync it: one operation, which a crash applies or not;
//! 3. otherwise the batch must be split: the segment up to it plus the batch's kept records
//!    are written to `<base>.log.tmp`, synced and renamed over the segment, then the directory
//!    is synced. An in-place rewrite could tear the kept records; the copy cannot.
//!
//! A record that straddles `end` (it spans several offsets) goes whole: the log then ends at
//! its first offset.
//!
//! Any I/O failure midway leaves the files in an unknown state: the engine then refuses
//! writes until reopened (recovery sorts it out from the disk).

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use keel_rt::disk::{DiskFile, OpenMode};

use super::engine::{open_file, SegmentEngine};
use super::format::{self, BatchHeader, HEADER_BYTES};
use super::names;
use super::view::{Flow, View, Want};
use crate::engine::{LogError, Record, StoredRecord};

/// Bytes copied at once when a segment is rewritten.
const COPY_CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// The kept part of a split batch: its header, the rewritten file and the part's length.
type Split = (BatchHeader, Arc<dyn DiskFile>, u64);

/// The batch holding the truncation point.
struct Cut {
    /// File position of the batch.
    pos: u64,
    header: BatchHeader,
    data: Bytes,
    /// Largest timestamp of the segment's records before the batch.
    max_ts_before: Option<u64>,
}

impl SegmentEngine {
    pub(super) async fn truncate_impl(&self, end: u64) -> Result<(), LogError> {
        let _w = self.writer.lock().await;
        let _s = self.syncer.lock().await;
        self.check_open()?;
        let (k, later) = {
            let st = self.state();
            if end < st.start() {
                return Err(st.out_of_range(end));
            }
            if end >= st.end() {
                return Ok(());
            }
            let k = st.find(end);
            (k, st.segments[k..].iter().map(|s| s.base).collect::<Vec<_>>())
        };
        self.remove_after(&later).await.map_err(|e| self.fail(e))?;
        let view = {
            let mut st = self.state();
            st.segments.truncate(k + 1);
            st.cache.clear();
            let seg = &st.segments[k];
            View::new(seg, seg.seek(end))
        };
        let cut = self.locate(&view, end).await?;
        let (kept, end) = self.cut(&view, &cut, end).await.map_err(|e| self.fail(e))?;
        self.finish(k, &cut, kept, end).await
    }

    /// Removes the segments after the first of `bases`, and that one's index files; durably.
    async fn remove_after(&self, bases: &[u64]) -> io::Result<()> {
        for (i, &base) in bases.iter().enumerate() {
            if i > 0 {
                self.disk.remove_file(&self.path(&names::log(base))).await?;
            }
            self.remove_if_present(&names::index(base)).await?;
            self.remove_if_present(&names::time_index(base)).await?;
        }
        self.disk.sync_dir(&self.dir).await
    }

    /// Finds the batch holding `end` and the largest timestamp before it.
    async fn locate(&self, view: &View, end: u64) -> Result<Cut, LogError> {
        let mut max_before = view.seek.max_ts_before;
        let mut found: Option<(u64, BatchHeader, Bytes)> = None;
        let mut cut_at = None;
        let want = |pos: u64, h: &BatchHeader| {
            if pos == 0 {
                max_before = None;
            }
            if h.end_offset() > end {
                cut_at = Some(max_before);
                return Want::Read;
            }
            max_before = Some(max_before.map_or(h.max_timestamp_ms, |m| m.max(h.max_timestamp_ms)));
            Want::Skip
        };
        view.walk(64 * 1024, want, |pos, h, data| {
            found = Some((pos, *h, data.clone()));
            Ok(Flow::Stop)
        })
        .await?;
        let found =
            found.zip(cut_at).map(|((pos, header, data), max_ts_before)| Cut { pos, header, data, max_ts_before });
        found.ok_or_else(|| view.corrupt(end, "truncation point not found".to_string()))
    }

    /// Cuts the segment file at `end` (or at the start of a record straddling it); returns
    /// the kept part of the cut batch (its header, the new file and its length) if the batch
    /// was split, and where the log now ends.
    async fn cut(&self, view: &View, cut: &Cut, end: u64) -> io::Result<(Option<Split>, u64)> {
        let mut records = Vec::new();
        if cut.header.base_offset < end {
            format::decode(&cut.data, &cut.header, 0, &mut records).map_err(io::Error::other)?;
        }
        let kept: Vec<Record> = records.iter().filter(|r| r.end_offset() <= end).map(StoredRecord::to_record).collect();
        if kept.is_empty() {
            view.file.set_len(cut.pos).await?;
            view.file.sync().await?;
            return Ok((None, cut.header.base_offset));
        }
        let mut partial = Vec::new();
        let header = format::encode(cut.header.base_offset, &kept, &mut partial);
        let file = self.rewrite(view, cut.pos, &partial).await?;
        Ok((Some((header, file, partial.len() as u64)), header.end_offset()))
    }

    /// Writes `[0, keep_bytes)` of the segment plus `tail` to a temporary file and renames it
    /// over the segment, durably. Returns the new file.
    async fn rewrite(&self, view: &View, keep_bytes: u64, tail: &[u8]) -> io::Result<Arc<dyn DiskFile>> {
        let tmp_name = names::temp(view.base);
        let tmp = open_file(self.disk.as_ref(), &self.dir, &tmp_name, OpenMode::Create).await?;
        tmp.set_len(0).await?;
        let mut at = 0;
        while at < keep_bytes {
            let n = (keep_bytes - at).min(COPY_CHUNK_BYTES as u64) as usize;
            let data = view.file.read_at(at, n).await?;
            if data.len() != n {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "segment shorter than its valid length"));
            }
            tmp.write_at(at, &data).await?;
            at += n as u64;
        }
        tmp.write_at(keep_bytes, tail).await?;
        tmp.sync().await?;
        self.disk.rename(&self.path(&tmp_name), &self.path(&names::log(view.base))).await?;
        self.disk.sync_dir(&self.dir).await?;
        Ok(tmp)
    }

    /// Updates segment `k`'s bookkeeping after the cut.
    async fn finish(&self, k: usize, cut: &Cut, split: Option<Split>, end: u64) -> Result<(), LogError> {
        let (file, needs_first_ts) = {
            let mut st = self.state();
            let seg = &mut st.segments[k];
            seg.end = end;
            seg.max_ts = cut.max_ts_before;
            match split {
                None => {
                    seg.bytes = cut.pos;
                    seg.index.truncate_at_pos(cut.pos);
                }
                Some((h, file, len)) => {
                    seg.file = file;
                    seg.bytes = cut.pos + len;
                    seg.index.truncate_at_pos(cut.pos + 1);
                    seg.max_ts = Some(seg.max_ts.map_or(h.max_timestamp_ms, |m| m.max(h.max_timestamp_ms)));
                }
            }
            if seg.is_empty() {
                seg.first_batch_ts = None;
            }
            let needs = !seg.is_empty() && (seg.first_batch_ts.is_none() || cut.pos == 0);
            st.durable_end = end;
            st.dir_synced = st.dir_version;
            (st.segments[k].file.clone(), needs)
        };
        if needs_first_ts {
            let ts = first_batch_ts(file.as_ref(), end).await?;
            self.state().segments[k].first_batch_ts = Some(ts);
        }
        Ok(())
    }
}

/// The largest timestamp of a segment's first batch (its age, for time-based rolling).
async fn first_batch_ts(file: &dyn DiskFile, end: u64) -> Result<u64, LogError> {
    let head = file.read_at(0, HEADER_BYTES).await?;
    let h = format::parse_header(&head).map_err(|detail| LogError::Corrupt { offset_hint: end, detail })?;
    Ok(h.max_timestamp_ms)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use keel_rt::disk::SimDisk;

    use crate::{LogEngine, Record, SegmentConfig, SegmentEngine};

    /// Splitting a batch rewrites the segment up to it in chunks of `COPY_CHUNK_BYTES`: a
    /// segment of more than one chunk is copied whole, and reopens as it was cut.
    #[tokio::test]
    async fn a_split_batch_after_more_than_one_copy_chunk_keeps_the_segment_whole() {
        let disk = Arc::new(SimDisk::new(1));
        let log = SegmentEngine::open(disk.clone(), "log", SegmentConfig::default()).await.unwrap();
        let big = |i: u8| Record::new(1, None, Bytes::from(vec![i; 1 << 20]));
        for i in 0..5 {
            log.append(vec![big(i)]).await.unwrap();
        }
        let small = |i: u8| Record::new(2, None, Bytes::from(vec![i; 10]));
        log.append(vec![small(5), small(6), small(7)]).await.unwrap();
        log.truncate(7).await.unwrap();
        assert_eq!(log.end_offset(), 7);
        drop(log);
        let log = SegmentEngine::open(disk, "log", SegmentConfig::default()).await.unwrap();
        assert_eq!(log.end_offset(), 7);
        let mut values = Vec::new();
        let mut from = 0;
        while from < 7 {
            let records = log.read(from, 1).await.unwrap();
            from = records.last().unwrap().end_offset();
            values.extend(records.iter().map(|r| (r.value.len(), r.value[0])));
        }
        let want: Vec<(usize, u8)> = (0..5).map(|i| (1 << 20, i)).chain([(10, 5), (10, 6)]).collect();
        assert_eq!(values, want);
    }

    /// A segment's age for time-based rolling is its first batch's newest timestamp: a split of
    /// that batch makes it the kept records' newest.
    #[tokio::test]
    async fn splitting_the_first_batch_resets_the_segments_age() {
        let config = SegmentConfig { segment_ms: 1_000, ..SegmentConfig::default() };
        let log = SegmentEngine::open(Arc::new(SimDisk::new(1)), "log", config).await.unwrap();
        let record = |ts| Record::new(ts, None, Bytes::from_static(b"value"));
        log.append(vec![record(100), record(5_000)]).await.unwrap();
        log.truncate(1).await.unwrap();
        log.append(vec![record(1_050)]).await.unwrap();
        assert_eq!(log.segment_infos().len(), 1, "records span 950 ms");
        log.append(vec![record(1_101)]).await.unwrap();
        assert_eq!(log.segment_infos().len(), 2, "records would span 1001 ms");
    }
}
