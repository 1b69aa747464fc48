//! What the object tier (`crate::object`) needs of a local segment log, beyond [`LogEngine`]:
//! a listing of the segments, the raw bytes of a sealed one (to upload it), and a restart of
//! the whole local log at a given offset (to bring back part of a segment that exists only in
//! object storage, or to start empty where the object tier ends).
//!
//! Durability of [`SegmentEngine::restart_at`]: the old segment files are removed newest first
//! and the directory synced; the new segment is written to `<base>.log.tmp`, synced, renamed to
//! `<base>.log` and the directory synced again. A crash midway leaves either a prefix of the
//! old local log, an empty directory (which `open` turns into an empty log at 0), or the new
//! segment whole: never a torn new segment. The caller must be able to rebuild the log from
//! elsewhere in every one of those states (the object tier can: see `docs/object-tier.md`).
//!
//! [`LogEngine`]: crate::LogEngine

use std::io;

use bytes::Bytes;
use keel_rt::disk::OpenMode;

use super::engine::{open_file, SegmentEngine};
use super::names;
use super::recovery::rebuild;
use crate::engine::LogError;

/// One segment of a local log, as listed by [`SegmentEngine::segment_infos`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Offset of the first record.
    pub base: u64,
    /// One past the last offset.
    pub end: u64,
    /// Bytes of valid batches.
    pub bytes: u64,
    /// Largest record timestamp (`None` while empty).
    pub max_ts: Option<u64>,
    /// Whether the segment is sealed (every segment but the last): entirely durable, immutable.
    pub sealed: bool,
}

impl SegmentEngine {
    /// The segments of the log, oldest first; the last one is the active (unsealed) one.
    pub fn segment_infos(&self) -> Vec<SegmentInfo> {
        let st = self.state();
        let last = st.segments.len() - 1;
        let info = |(i, s): (usize, &super::log_segment::Segment)| SegmentInfo {
            base: s.base,
            end: s.end,
            bytes: s.bytes,
            max_ts: s.max_ts,
            sealed: i < last,
        };
        st.segments.iter().enumerate().map(info).collect()
    }

    /// The whole `.log` file of the sealed segment starting at `base`: its batches, exactly as
    /// stored (not checked here: the caller decodes them).
    pub async fn read_sealed(&self, base: u64) -> Result<Bytes, LogError> {
        let (file, bytes) = {
            let st = self.state();
            let i = st.segments.partition_point(|s| s.base < base);
            match st.segments.get(i) {
                Some(s) if s.base == base && i + 1 < st.segments.len() => (s.file.clone(), s.bytes),
                _ => return Err(st.out_of_range(base)),
            }
        };
        let len = usize::try_from(bytes).map_err(|_| io::Error::other("segment too large to read whole"))?;
        let data = file.read_at(0, len).await?;
        if data.len() != len {
            return Err(LogError::Io(io::Error::new(io::ErrorKind::UnexpectedEof, "segment shorter than its length")));
        }
        Ok(Bytes::from(data))
    }

    /// Replaces the whole local log with one active segment starting at `base` that holds
    /// `data` (whole batches from offset `base` on, possibly none). Durable when it returns;
    /// see the module docs for the states a crash can leave. On an I/O failure the engine
    /// refuses writes until reopened.
    pub async fn restart_at(&self, base: u64, data: &[u8]) -> Result<(), LogError> {
        let _w = self.writer.lock().await;
        let _s = self.syncer.lock().await;
        self.check_open()?;
        let old: Vec<u64> = self.state().segments.iter().map(|s| s.base).collect();
        self.replace_files(&old, base, data).await.map_err(|e| self.fail(e))?;
        let file = open_file(self.disk.as_ref(), &self.dir, &names::log(base), OpenMode::Existing).await?;
        let seg = match rebuild(file, base, data.len() as u64, &self.config).await {
            Ok(seg) => seg,
            Err(e) => {
                self.state().failed = true;
                return Err(e);
            }
        };
        let mut st = self.state();
        st.durable_end = seg.end;
        st.segments = vec![seg];
        st.cache.clear();
        st.dir_synced = st.dir_version;
        Ok(())
    }

    async fn replace_files(&self, old: &[u64], base: u64, data: &[u8]) -> io::Result<()> {
        for &b in old.iter().rev() {
            self.remove_if_present(&names::index(b)).await?;
            self.remove_if_present(&names::time_index(b)).await?;
            self.remove_if_present(&names::log(b)).await?;
        }
        self.disk.sync_dir(&self.dir).await?;
        let tmp_name = names::temp(base);
        let tmp = open_file(self.disk.as_ref(), &self.dir, &tmp_name, OpenMode::Create).await?;
        tmp.set_len(0).await?;
        tmp.write_at(0, data).await?;
        tmp.sync().await?;
        self.disk.rename(&self.path(&tmp_name), &self.path(&names::log(base))).await?;
        self.disk.sync_dir(&self.dir).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use keel_rt::disk::SimDisk;

    use crate::{LogEngine, LogError, Record, SegmentConfig, SegmentEngine};

    #[tokio::test]
    async fn only_a_sealed_segment_is_read_whole_and_only_by_its_base() {
        let log = SegmentEngine::open(Arc::new(SimDisk::new(1)), "log", SegmentConfig::default()).await.unwrap();
        let record = || Record::new(1, None, Bytes::from_static(b"value"));
        // Segments [0, 2) and [2, 3), sealed; [3, 4) active.
        for n in [2, 1, 1] {
            if log.end_offset() > 0 {
                log.seal().await.unwrap();
            }
            log.append(vec![record(); n]).await.unwrap();
        }
        let infos = log.segment_infos();
        for (i, base) in [0, 2].into_iter().enumerate() {
            assert_eq!(log.read_sealed(base).await.unwrap().len() as u64, infos[i].bytes);
        }
        for base in [1, 3, 4] {
            let refused = log.read_sealed(base).await;
            assert!(matches!(refused, Err(LogError::OffsetOutOfRange { .. })), "base {base}: {refused:?}");
        }
    }
}
