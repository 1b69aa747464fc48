//! Sequential reading of a segment file, batch by batch, in large chunks.
//!
//! [`BatchCursor`] reads ahead in chunks (one disk read serves many small batches). Each
//! batch is looked at in two steps: its header ([`BatchCursor::header`]), after which the
//! caller either reads the body ([`BatchCursor::body`], CRC-checked, handed out as a
//! [`Bytes`] slice of its chunk, no copy) or steps over it ([`BatchCursor::skip`], no read at
//! all), so batches a read does not want cost nothing. Damaged or cut bytes are reported, never
//! a panic: the caller decides whether that is a torn tail (recovery of the last segment) or
//! corruption (anything else).

use std::io;

use bytes::Bytes;
use keel_rt::disk::DiskFile;

use super::format::{self, BatchHeader, HEADER_BYTES};

/// What the next position of the file holds.
pub enum Head {
    /// A plausible batch header at `pos`, the batch within the valid bytes.
    Batch { pos: u64, header: BatchHeader },
    /// The end of the valid bytes.
    End,
    /// Bytes at `pos` that do not start a batch.
    Bad { pos: u64, detail: String },
}

/// What the next position holds, read whole and checked.
pub enum Step {
    /// A valid (CRC-checked) batch at `pos`.
    Batch { pos: u64, header: BatchHeader },
    /// The end of the valid bytes.
    End,
    /// Bytes at `pos` that are not a valid batch.
    Bad { pos: u64, detail: String },
}

/// Reads the batches of `file` from a batch boundary up to `limit` bytes.
pub struct BatchCursor<'a> {
    file: &'a dyn DiskFile,
    pos: u64,
    limit: u64,
    chunk: Bytes,
    chunk_pos: u64,
    chunk_bytes: usize,
}

impl<'a> BatchCursor<'a> {
    /// A cursor at `pos` that reads about `chunk_bytes` at a time and stops at `limit`.
    pub fn new(file: &'a dyn DiskFile, pos: u64, limit: u64, chunk_bytes: usize) -> Self {
        BatchCursor {
            file,
            pos,
            limit,
            chunk: Bytes::new(),
            chunk_pos: pos,
            chunk_bytes: chunk_bytes.max(HEADER_BYTES),
        }
    }

    /// The position of the next batch.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// Parses the next batch's header (the cursor stays before the batch).
    pub async fn header(&mut self) -> io::Result<Head> {
        let pos = self.pos;
        let left = self.limit.saturating_sub(pos);
        if left == 0 {
            return Ok(Head::End);
        }
        let head = self.bytes(pos, HEADER_BYTES.min(left as usize)).await?;
        let header = match format::parse_header(&head) {
            Ok(h) => h,
            Err(detail) => return Ok(Head::Bad { pos, detail }),
        };
        if header.size() as u64 > left {
            let detail = format!("batch of {} bytes runs past the end ({left} bytes left)", header.batch_bytes);
            return Ok(Head::Bad { pos, detail });
        }
        Ok(Head::Batch { pos, header })
    }

    /// Reads and CRC-checks the batch whose header was just parsed, and moves past it.
    /// `Ok(Err(detail))` if the CRC does not match.
    pub async fn body(&mut self, header: &BatchHeader) -> io::Result<Result<Bytes, String>> {
        let data = self.bytes(self.pos, header.size()).await?;
        if let Err(detail) = format::verify(&data, header) {
            return Ok(Err(detail));
        }
        self.pos += header.size() as u64;
        Ok(Ok(data))
    }

    /// Moves past the batch whose header was just parsed, without reading it.
    pub fn skip(&mut self, header: &BatchHeader) {
        self.pos += header.size() as u64;
    }

    /// Reads the next batch whole, checking its header and CRC.
    pub async fn next(&mut self) -> io::Result<Step> {
        let (pos, header) = match self.header().await? {
            Head::Batch { pos, header } => (pos, header),
            Head::End => return Ok(Step::End),
            Head::Bad { pos, detail } => return Ok(Step::Bad { pos, detail }),
        };
        Ok(match self.body(&header).await? {
            Ok(_) => Step::Batch { pos, header },
            Err(detail) => Step::Bad { pos, detail },
        })
    }

    /// `len` bytes at `pos` (within `limit`), from the current chunk or a new read.
    async fn bytes(&mut self, pos: u64, len: usize) -> io::Result<Bytes> {
        let chunk_end = self.chunk_pos + self.chunk.len() as u64;
        if pos < self.chunk_pos || pos + len as u64 > chunk_end {
            let want = len.max(self.chunk_bytes).min((self.limit - pos) as usize);
            let data = self.file.read_at(pos, want).await?;
            if data.len() < len {
                let msg = format!("segment file shorter than its valid length: {} bytes at {pos}", data.len());
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg));
            }
            self.chunk = Bytes::from(data);
            self.chunk_pos = pos;
        }
        let at = (pos - self.chunk_pos) as usize;
        Ok(self.chunk.slice(at..at + len))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use keel_rt::disk::{Disk, OpenMode, SimDisk};

    use super::*;
    use crate::engine::Record;

    /// A file that records the reads made of it: (position, bytes returned).
    struct Counted {
        inner: Box<dyn DiskFile>,
        reads: Mutex<Vec<(u64, usize)>>,
    }

    #[async_trait::async_trait]
    impl DiskFile for Counted {
        async fn read_at(&self, offset: u64, len: usize) -> io::Result<Vec<u8>> {
            let data = self.inner.read_at(offset, len).await?;
            self.reads.lock().unwrap().push((offset, data.len()));
            Ok(data)
        }
        async fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
            self.inner.write_at(offset, data).await
        }
        async fn len(&self) -> io::Result<u64> {
            self.inner.len().await
        }
        async fn set_len(&self, len: u64) -> io::Result<()> {
            self.inner.set_len(len).await
        }
        async fn sync(&self) -> io::Result<()> {
            self.inner.sync().await
        }
    }

    /// A file of `n` one-record batches at offsets 0.., all of the same size; and that size.
    async fn batches(n: u64) -> (Counted, u64) {
        let mut data = Vec::new();
        for offset in 0..n {
            format::encode(offset, &[Record::new(offset, None, Bytes::from_static(b"value"))], &mut data);
        }
        let size = data.len() as u64 / n;
        let inner = SimDisk::new(1).open("s.log", OpenMode::Create).await.unwrap();
        inner.write_at(0, &data).await.unwrap();
        (Counted { inner, reads: Mutex::new(Vec::new()) }, size)
    }

    /// Scans to the end; the (position, base offset) of each batch.
    async fn scan(cursor: &mut BatchCursor<'_>) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        loop {
            match cursor.next().await.unwrap() {
                Step::Batch { pos, header } => out.push((pos, header.base_offset)),
                Step::End => return out,
                Step::Bad { pos, detail } => panic!("bad batch at {pos}: {detail}"),
            }
        }
    }

    #[tokio::test]
    async fn one_read_serves_every_batch_of_a_chunk() {
        let (file, size) = batches(5).await;
        let mut cursor = BatchCursor::new(&file, 0, 5 * size, 5 * size as usize);
        let want: Vec<(u64, u64)> = (0..5).map(|i| (i * size, i)).collect();
        assert_eq!(scan(&mut cursor).await, want);
        assert_eq!(*file.reads.lock().unwrap(), [(0, 5 * size as usize)]);
    }

    /// Chunks of two batches, a limit one batch short of the file: each read starts where the
    /// last chunk ended and none reaches past the limit.
    #[tokio::test]
    async fn chunks_follow_each_other_up_to_the_limit() {
        let (file, size) = batches(6).await;
        let mut cursor = BatchCursor::new(&file, 0, 5 * size, 2 * size as usize);
        assert_eq!(scan(&mut cursor).await.len(), 5);
        let s = size as usize;
        assert_eq!(*file.reads.lock().unwrap(), [(0, 2 * s), (2 * size, 2 * s), (4 * size, s)]);
    }

    #[tokio::test]
    async fn skipped_batches_are_not_read() {
        let (file, size) = batches(4).await;
        let mut cursor = BatchCursor::new(&file, 0, 4 * size, HEADER_BYTES);
        let mut bodies = Vec::new();
        while let Head::Batch { header, .. } = cursor.header().await.unwrap() {
            if header.base_offset % 2 == 0 {
                cursor.skip(&header);
            } else {
                bodies.push((cursor.pos(), cursor.body(&header).await.unwrap().unwrap().len()));
            }
        }
        assert_eq!(bodies, [(size, size as usize), (3 * size, size as usize)]);
        assert_eq!(cursor.pos(), 4 * size);
        let (h, s) = (HEADER_BYTES, size as usize);
        let want = [(0, h), (size, h), (size, s), (2 * size, h), (3 * size, h), (3 * size, s)];
        assert_eq!(*file.reads.lock().unwrap(), want, "of a skipped batch, only its header is read");
    }
}
