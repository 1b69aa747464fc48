//! Tiering: one explicit round of upload, manifest update, orphan cleanup and eviction.
//!
//! The engine's owner calls [`ObjectEngine::tier`] periodically; nothing runs in the
//! background. A round, under the manifest lock:
//! 1. uploads, in offset order, the sealed local segments that continue the remote part and
//!    lie entirely below the committed end (each read whole and checked before its put),
//!    then rewrites the manifest to list them (and rewrites it anyway if the last put of it
//!    failed, since the store may hold either version);
//! 2. once the manifest is known durable, deletes segment objects it does not list (debris
//!    of a crash or failure between a segment put and the manifest put, or of a deletion);
//! 3. evicts local copies of listed segments, oldest first, while the local segments hold
//!    more than `local_bytes_max` (only with a durable manifest).
//!
//! A failure midway leaves the engine usable: what was not done is done by a later round.

use std::collections::BTreeSet;

use futures::TryStreamExt;
use object_store::ObjectStoreExt;

use super::engine::ObjectEngine;
use super::manifest::RemoteSegment;
use super::remote::{self, store_err};
use crate::engine::LogError;
use crate::segment::SegmentInfo;

/// What one tiering round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TierReport {
    /// Segments uploaded and listed.
    pub uploaded: usize,
    pub uploaded_bytes: u64,
    /// Local segment copies evicted.
    pub evicted: usize,
    pub evicted_bytes: u64,
    /// Unlisted segment objects deleted.
    pub orphans_deleted: usize,
    /// One past the last offset held remotely after the round, if any is.
    pub remote_end: Option<u64>,
}

impl ObjectEngine {
    /// Runs one tiering round (see the module docs); `now_ms` is the wall clock, for
    /// `upload_delay_ms`.
    pub async fn tier(&self, now_ms: u64) -> Result<TierReport, LogError> {
        let _m = self.manifest_lock.lock().await;
        let mut report = TierReport::default();
        self.upload(now_ms, &mut report).await?;
        self.clean_orphans(&mut report).await?;
        self.evict(&mut report).await?;
        report.remote_end = self.remote().manifest.end();
        Ok(report)
    }

    /// The sealed local segments to upload this round, in order.
    fn upload_candidates(&self, now_ms: u64, remote_end: Option<u64>) -> Vec<SegmentInfo> {
        let committed = self.committed_end();
        let old_enough =
            |s: &SegmentInfo| s.max_ts.is_some_and(|t| now_ms.saturating_sub(t) >= self.config.upload_delay_ms);
        let mut expected = remote_end;
        let mut out = Vec::new();
        for s in self.local.segment_infos().into_iter().filter(|s| remote_end.is_none_or(|e| s.end > e)) {
            let continues = expected.is_none_or(|e| e == s.base);
            if !continues
                || !s.sealed
                || s.end > committed
                || !old_enough(&s)
                || out.len() == self.config.uploads_per_round_max
            {
                break;
            }
            expected = Some(s.end);
            out.push(s);
        }
        out
    }

    async fn upload(&self, now_ms: u64, report: &mut TierReport) -> Result<(), LogError> {
        let (mut segments, uncertain) = {
            let r = self.remote();
            (r.manifest.segments.clone(), r.uncertain)
        };
        let candidates = self.upload_candidates(now_ms, segments.last().map(|s| s.end));
        let mut failed = None;
        for s in candidates {
            match self.upload_one(&s).await {
                Ok(seg) => {
                    segments.push(seg);
                    report.uploaded += 1;
                    report.uploaded_bytes += seg.bytes;
                }
                Err(e) => {
                    self.remote().orphans_possible = true;
                    failed = Some(e);
                    break;
                }
            }
        }
        if report.uploaded > 0 || uncertain {
            if let Err(e) = self.write_manifest(segments).await {
                self.remote().orphans_possible = true;
                return Err(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Reads, checks and puts one sealed segment; returns its manifest entry.
    async fn upload_one(&self, s: &SegmentInfo) -> Result<RemoteSegment, LogError> {
        let data = self.local.read_sealed(s.base).await?;
        let seg = RemoteSegment { base: s.base, end: s.end, bytes: data.len() as u64, max_ts: s.max_ts.unwrap_or(0) };
        remote::parse_segment(data.clone(), &seg)?;
        remote::put(self.store.as_ref(), &self.keys.segment(s.base, s.end), data).await?;
        Ok(seg)
    }

    async fn clean_orphans(&self, report: &mut TierReport) -> Result<(), LogError> {
        let listed: BTreeSet<(u64, u64)> = {
            let r = self.remote();
            if !r.orphans_possible || r.uncertain {
                return Ok(());
            }
            r.manifest.segments.iter().map(|s| (s.base, s.end)).collect()
        };
        let objects: Vec<_> = self.store.list(Some(&self.keys.segments())).try_collect().await.map_err(store_err)?;
        for meta in objects {
            match self.keys.parse_segment(&meta.location) {
                Some(k) if !listed.contains(&k) => {
                    self.store.delete(&meta.location).await.map_err(store_err)?;
                    report.orphans_deleted += 1;
                }
                Some(_) => {}
                None => tracing::warn!(key = %meta.location, "foreign object among the segments; left alone"),
            }
        }
        self.remote().orphans_possible = false;
        Ok(())
    }

    async fn evict(&self, report: &mut TierReport) -> Result<(), LogError> {
        let (remote_start, remote_end) = {
            let r = self.remote();
            match (r.uncertain, r.manifest.start(), r.manifest.end()) {
                (false, Some(s), Some(e)) => (s, e),
                _ => return Ok(()),
            }
        };
        let infos = self.local.segment_infos();
        let mut total: u64 = infos.iter().map(|s| s.bytes).sum();
        let mut below = None;
        for s in infos {
            let listed = s.base >= remote_start && s.end <= remote_end;
            if total <= self.config.local_bytes_max || !s.sealed || !listed {
                break;
            }
            total -= s.bytes;
            below = Some(s.end);
            report.evicted += 1;
            report.evicted_bytes += s.bytes;
        }
        if let Some(below) = below {
            self.local.drop_sealed_prefix(below).await?;
        }
        Ok(())
    }
}
