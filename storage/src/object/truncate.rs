//! Truncation across the tiers: removing a suffix that may reach into the remote part.
//!
//! Let `k` be the first remote segment that ends after `end`.
//! - If there is none, or it starts at or above the local start, the local log holds every
//!   kept offset from the local start on: the manifest is rewritten without the segments from
//!   `k` on (first, so that it never lists more than the log keeps), then the local log is
//!   truncated.
//! - Otherwise `end` falls inside segment `k`, which is only remote: its kept part (whole
//!   batches below `end`, the batch holding `end` re-encoded with its kept records) is
//!   fetched and written as the whole new local log starting at the segment's base
//!   ([`crate::SegmentEngine::restart_at`]), and only then is the manifest rewritten without
//!   the segments from `k` on. A crash before the manifest put leaves a manifest that reaches
//!   past the local end; `open` then restarts the local log at the remote end, which gives
//!   back the old log (a prefix of it holding every offset below `end`, as required).
//!
//! Objects no longer listed are deleted after the manifest put; a failed deletion leaves
//! orphans for the next tiering round.

use object_store::ObjectStoreExt;

use super::engine::ObjectEngine;
use super::manifest::RemoteSegment;
use super::remote::Fetched;
use crate::engine::{LogEngine, LogError, Record, StoredRecord};
use crate::segment::format;

impl ObjectEngine {
    pub(super) async fn truncate_impl(&self, end: u64) -> Result<(), LogError> {
        let _m = self.manifest_lock.lock().await;
        let (start, log_end) = (self.start_offset(), self.end_offset());
        if end < start {
            return Err(LogError::OffsetOutOfRange { requested: end, start, end: log_end });
        }
        if end >= log_end {
            return Ok(());
        }
        self.fetch_cache().clear();
        let (segments, uncertain) = {
            let r = self.remote();
            (r.manifest.segments.clone(), r.uncertain)
        };
        let local_start = self.local.start_offset();
        let k = segments.iter().position(|s| s.end > end).unwrap_or(segments.len());
        let result = match segments.get(k) {
            Some(seg) if seg.base < local_start => self.restore(&segments, k, seg, end).await,
            _ => {
                if k < segments.len() || uncertain {
                    self.write_manifest(segments[..k].to_vec()).await?;
                    self.delete_objects(&segments[k..]).await;
                }
                self.local.truncate(end).await
            }
        };
        self.fetch_cache().clear();
        result
    }

    /// Makes the kept part of remote segment `k` (which holds `end`) the whole local log,
    /// then drops segments `k..` from the manifest.
    async fn restore(
        &self,
        segments: &[RemoteSegment],
        k: usize,
        seg: &RemoteSegment,
        end: u64,
    ) -> Result<(), LogError> {
        let fetched = self.fetch(seg).await?;
        let kept = kept_bytes(&fetched, end)?;
        self.local.restart_at(seg.base, &kept).await?;
        self.write_manifest(segments[..k].to_vec()).await?;
        self.delete_objects(&segments[k..]).await;
        Ok(())
    }

    /// Deletes the objects of segments the durable manifest no longer lists; failures leave
    /// orphans for the next tiering round.
    pub(super) async fn delete_objects(&self, dropped: &[RemoteSegment]) {
        for s in dropped {
            if let Err(e) = self.store.delete(&self.keys.segment(s.base, s.end)).await {
                tracing::warn!(base = s.base, end = s.end, error = %e, "segment object not deleted; left as an orphan");
                self.remote().orphans_possible = true;
            }
        }
    }
}

/// The batches of `f` below `end`, the one holding `end` cut to its records below it.
fn kept_bytes(f: &Fetched, end: u64) -> Result<Vec<u8>, LogError> {
    let mut out = Vec::new();
    for (h, data) in &f.batches {
        if h.end_offset() <= end {
            out.extend_from_slice(data);
            continue;
        }
        if h.base_offset < end {
            let mut records = Vec::new();
            format::decode(data, h, 0, &mut records)
                .map_err(|detail| LogError::Corrupt { offset_hint: h.base_offset, detail })?;
            // A record straddling `end` goes whole.
            let kept: Vec<Record> =
                records.iter().filter(|r| r.end_offset() <= end).map(StoredRecord::to_record).collect();
            if !kept.is_empty() {
                format::encode(h.base_offset, &kept, &mut out);
            }
        }
        break;
    }
    Ok(out)
}
