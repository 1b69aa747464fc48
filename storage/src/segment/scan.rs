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
