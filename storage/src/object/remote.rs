//! Segment objects: talking to the store, checking fetched segments, and the fetch cache.
//!
//! A segment object holds exactly the bytes of the local `.log` file it was uploaded from:
//! batches in the segment format (`docs/segment-format.md`). A fetched object is checked whole
//! before any record of it is served: every header, every CRC, dense offsets from the
//! manifest's `base` to its `end`, and the manifest's byte count. Damage is
//! [`LogError::Corrupt`]; a store failure is [`LogError::Io`].

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;

use bytes::Bytes;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::manifest::RemoteSegment;
use crate::engine::LogError;
use crate::segment::format::{self, BatchHeader};

/// A store error as a log error (`NotFound` keeps its kind).
pub fn store_err(e: object_store::Error) -> LogError {
    let kind = match e {
        object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
        _ => io::ErrorKind::Other,
    };
    LogError::Io(io::Error::new(kind, e))
}

/// Whether a log error is a store's `NotFound`.
pub fn is_not_found(e: &LogError) -> bool {
    matches!(e, LogError::Io(io) if io.kind() == io::ErrorKind::NotFound)
}

/// Writes `data` at `key` (atomically: all or nothing).
pub async fn put(store: &dyn ObjectStore, key: &object_store::path::Path, data: Bytes) -> Result<(), LogError> {
    store.put(key, PutPayload::from_bytes(data)).await.map_err(store_err)?;
    Ok(())
}

/// The whole object at `key`.
pub async fn get(store: &dyn ObjectStore, key: &object_store::path::Path) -> Result<Bytes, LogError> {
    let got = store.get(key).await.map_err(store_err)?;
    got.bytes().await.map_err(store_err)
}

/// A fetched and checked segment.
#[derive(Debug)]
pub struct Fetched {
    pub base: u64,
    pub end: u64,
    /// The batches, in order, each with its header.
    pub batches: Vec<(BatchHeader, Bytes)>,
    pub bytes: u64,
}

/// Checks that `data` is the segment `seg` describes and splits it into batches.
pub fn parse_segment(data: Bytes, seg: &RemoteSegment) -> Result<Fetched, LogError> {
    let corrupt = |offset_hint: u64, detail: String| LogError::Corrupt {
        offset_hint,
        detail: format!("segment object [{}, {}): {detail}", seg.base, seg.end),
    };
    if data.len() as u64 != seg.bytes {
        return Err(corrupt(seg.base, format!("{} bytes, the manifest says {}", data.len(), seg.bytes)));
    }
    let (mut pos, mut expected, mut batches) = (0usize, seg.base, Vec::new());
    while pos < data.len() {
        let h = format::parse_header(&data[pos..]).map_err(|d| corrupt(expected, format!("position {pos}: {d}")))?;
        if h.base_offset != expected || h.size() > data.len() - pos {
            return Err(corrupt(
                expected,
                format!("position {pos}: batch at offset {} cut or out of place", h.base_offset),
            ));
        }
        let batch = data.slice(pos..pos + h.size());
        format::verify(&batch, &h).map_err(|d| corrupt(expected, format!("position {pos}: {d}")))?;
        batches.push((h, batch));
        expected = h.end_offset();
        pos += h.size();
    }
    if expected != seg.end {
        return Err(corrupt(expected, format!("batches end at offset {expected}")));
    }
    Ok(Fetched { base: seg.base, end: seg.end, batches, bytes: seg.bytes })
}

/// Recently fetched segments, newest last, within a byte bound.
#[derive(Debug)]
pub struct FetchCache {
    segments: VecDeque<Arc<Fetched>>,
    bytes: u64,
    bytes_max: u64,
}

impl FetchCache {
    pub fn new(bytes_max: u64) -> Self {
        FetchCache { segments: VecDeque::new(), bytes: 0, bytes_max }
    }

    /// The cached segment `[base, end)`, made the newest.
    pub fn get(&mut self, base: u64, end: u64) -> Option<Arc<Fetched>> {
        let i = self.segments.iter().position(|f| f.base == base && f.end == end)?;
        let f = self.segments.remove(i)?;
        self.segments.push_back(f.clone());
        Some(f)
    }

    /// Adds a fetched segment, evicting the least recently used past the bound.
    pub fn insert(&mut self, f: Arc<Fetched>) {
        if f.bytes > self.bytes_max {
            return;
        }
        self.bytes += f.bytes;
        self.segments.push_back(f);
        while self.bytes > self.bytes_max {
            let Some(old) = self.segments.pop_front() else { break };
            self.bytes -= old.bytes;
        }
    }

    /// Forgets everything (a truncation may reuse keys with new contents).
    pub fn clear(&mut self) {
        self.segments.clear();
        self.bytes = 0;
    }
}
