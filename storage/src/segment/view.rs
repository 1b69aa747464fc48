//! A snapshot of one segment for reading, and the checked walk over its batches.
//!
//! A [`View`] is taken under the state lock (file handle, valid extent, a seek point from the
//! index) and read without it. [`View::walk`] checks that batches chain densely from the seek
//! point to the segment's end and reports any gap, damage or shortfall as
//! [`LogError::Corrupt`]. A seek point taken from a loaded index that does not land on the
//! batch it names is treated as a stale cache entry: the walk restarts from the segment start.
//! Batches the caller does not want (before the read's start, past its budget) are stepped
//! over by their headers, unread.

use std::sync::Arc;

use bytes::Bytes;
use keel_rt::disk::DiskFile;

use super::format::BatchHeader;
use super::log_segment::{Seek, Segment};
use super::names;
use super::scan::{BatchCursor, Head};
use crate::engine::LogError;

/// A segment as seen by one read.
pub struct View {
    pub file: Arc<dyn DiskFile>,
    pub base: u64,
    /// Valid bytes at the time of the snapshot.
    pub bytes: u64,
    /// One past the last offset at the time of the snapshot.
    pub end: u64,
    pub seek: Seek,
}

/// What a walk does with a batch, judged by its header.
pub enum Want {
    /// Read it (CRC-checked) and visit it.
    Read,
    /// Step over it unread.
    Skip,
    /// End the walk before it.
    Stop,
}

/// Whether a walk goes on after a visit.
pub enum Flow {
    Continue,
    Stop,
}

enum WalkError {
    /// The seek point did not hold the batch the index promised.
    BadSeek,
    Log(LogError),
}

impl From<LogError> for WalkError {
    fn from(e: LogError) -> Self {
        WalkError::Log(e)
    }
}

impl View {
    /// A view of `seg` positioned at `seek`.
    pub fn new(seg: &Segment, seek: Seek) -> Self {
        View { file: seg.file.clone(), base: seg.base, bytes: seg.bytes, end: seg.end, seek }
    }

    /// Walks the batches from the seek point until `want` or `visit` stops it or the segment
    /// ends, reading about `chunk_bytes` at a time: `want(header)` decides on each batch,
    /// `visit(position, header, batch)` gets those read. A stale seek point shows in the first
    /// header (not a batch, or not the one due), before any call; the walk then restarts at
    /// position 0, so a caller that starts from the seek point's state must reset there. A
    /// batch whose header is right but whose CRC fails is corruption, wherever it is.
    pub async fn walk<W, V>(&self, chunk_bytes: usize, mut want: W, mut visit: V) -> Result<(), LogError>
    where
        W: FnMut(u64, &BatchHeader) -> Want,
        V: FnMut(u64, &BatchHeader, &Bytes) -> Result<Flow, LogError>,
    {
        match self.walk_from(self.seek, chunk_bytes, &mut want, &mut visit).await {
            Ok(()) => Ok(()),
            Err(WalkError::Log(e)) => Err(e),
            Err(WalkError::BadSeek) => {
                tracing::warn!(segment = self.base, pos = self.seek.pos, "stale index point; scanning the segment");
                let start = Seek { pos: 0, base_offset: self.base, max_ts_before: None };
                self.walk_from(start, chunk_bytes, &mut want, &mut visit).await.map_err(|e| match e {
                    WalkError::Log(e) => e,
                    WalkError::BadSeek => unreachable!("a walk from the segment start has no seek point to doubt"),
                })
            }
        }
    }

    async fn walk_from<W, V>(
        &self,
        seek: Seek,
        chunk_bytes: usize,
        want: &mut W,
        visit: &mut V,
    ) -> Result<(), WalkError>
    where
        W: FnMut(u64, &BatchHeader) -> Want,
        V: FnMut(u64, &BatchHeader, &Bytes) -> Result<Flow, LogError>,
    {
        let mut cursor = BatchCursor::new(self.file.as_ref(), seek.pos, self.bytes, chunk_bytes);
        let mut expected = seek.base_offset;
        loop {
            let at_seek = seek.pos > 0 && cursor.pos() == seek.pos;
            let bad = |pos: u64, detail: String| match at_seek {
                true => WalkError::BadSeek,
                false => self.corrupt(expected, format!("position {pos}: {detail}")).into(),
            };
            let (pos, header) = match cursor.header().await.map_err(LogError::Io)? {
                Head::End if expected == self.end => return Ok(()),
                Head::End => {
                    return Err(self.corrupt(expected, format!("segment ends before offset {}", self.end)).into())
                }
                Head::Bad { pos, detail } => return Err(bad(pos, detail)),
                Head::Batch { pos, header } => (pos, header),
            };
            if header.base_offset != expected {
                return Err(bad(pos, format!("batch at offset {} where {expected} was due", header.base_offset)));
            }
            match want(pos, &header) {
                Want::Stop => return Ok(()),
                Want::Skip => cursor.skip(&header),
                Want::Read => {
                    let data = cursor.body(&header).await.map_err(LogError::Io)?;
                    let data = data.map_err(|d| self.corrupt(expected, format!("position {pos}: {d}")))?;
                    if let Flow::Stop = visit(pos, &header, &data)? {
                        return Ok(());
                    }
                }
            }
            expected = header.end_offset();
        }
    }

    /// A corruption report naming this segment's file.
    pub fn corrupt(&self, offset_hint: u64, detail: String) -> LogError {
        LogError::Corrupt { offset_hint, detail: format!("{}: {detail}", names::log(self.base)) }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use keel_rt::disk::{Disk, OpenMode, SimDisk};

    use super::super::format;
    use super::super::index::SegmentIndex;
    use super::names;
    use crate::{LogEngine, LogError, Record, SegmentConfig, SegmentEngine};

    fn record() -> Record {
        Record::new(1, None, Bytes::from_static(b"value"))
    }

    async fn put(disk: &SimDisk, name: &str, data: &[u8]) {
        let file = disk.open(&format!("log/{name}"), OpenMode::Create).await.unwrap();
        file.set_len(0).await.unwrap();
        file.write_at(0, data).await.unwrap();
        file.sync().await.unwrap();
    }

    async fn open(disk: &SimDisk) -> SegmentEngine {
        SegmentEngine::open(Arc::new(disk.clone()), "log", SegmentConfig::default()).await.unwrap()
    }

    /// A sealed segment opened from its index files is not scanned: damage to its first
    /// batch shows when a read walks it from the start, as corruption (there is no index
    /// point to doubt there).
    #[tokio::test]
    async fn damage_at_the_start_of_a_sealed_segment_is_corruption() {
        let disk = SimDisk::new(1);
        let log = open(&disk).await;
        log.append(vec![record(), record()]).await.unwrap();
        log.seal().await.unwrap();
        log.append(vec![record()]).await.unwrap();
        log.sync().await.unwrap();
        drop(log);
        let file = disk.open(&format!("log/{}", names::log(0)), OpenMode::Existing).await.unwrap();
        file.write_at(0, &[0]).await.unwrap();
        file.sync().await.unwrap();
        let log = open(&disk).await;
        let read = log.read(0, 1 << 20).await;
        assert!(matches!(read, Err(LogError::Corrupt { offset_hint: 0, .. })), "{read:?}");
    }

    /// Index files that pass their checks yet give a sealed segment more offsets than its
    /// batches hold: the walk reaches the file's end early, which is corruption, not a reason
    /// to skip to the next segment.
    #[tokio::test]
    async fn a_sealed_segment_ending_before_its_next_is_corruption_not_a_gap() {
        let disk = SimDisk::new(1);
        disk.create_dir_all("log").await.unwrap();
        let (mut first, mut next) = (Vec::new(), Vec::new());
        format::encode(0, &[record(), record()], &mut first);
        format::encode(3, &[record()], &mut next);
        put(&disk, &names::log(0), &first).await;
        put(&disk, &names::index(0), &[]).await;
        put(&disk, &names::time_index(0), &SegmentIndex::default().encode_times(3, 1)).await;
        put(&disk, &names::log(3), &next).await;
        disk.sync_dir("log").await.unwrap();
        let log = open(&disk).await;
        assert_eq!((log.start_offset(), log.end_offset()), (0, 4));
        let read = log.read(0, 1 << 20).await;
        assert!(matches!(read, Err(LogError::Corrupt { offset_hint: 2, .. })), "{read:?}");
    }
}
