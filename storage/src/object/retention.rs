//! Retention across the tiers: whole segments, oldest first, by the log's total bytes and by
//! age, never the active segment; remote and local segments count as one sequence (a
//! segment held in both places counts once, by its local copy).
//!
//! The manifest is rewritten first, then the dropped objects are deleted (a failure leaves
//! orphans for the next tiering round), then the local segments are dropped. A crash after
//! the manifest put leaves local segments below the new remote start, which are still a
//! valid start of the log; the next retention drops them.

use super::engine::ObjectEngine;
use crate::engine::{LogEngine, LogError};

/// One segment as retention sees it: `(end, bytes, max_ts, sealed)`.
type Unit = (u64, u64, Option<u64>, bool);

impl ObjectEngine {
    pub(super) async fn retention_impl(&self, now_ms: u64) -> Result<u64, LogError> {
        let _m = self.manifest_lock.lock().await;
        let local = self.local.segment_infos();
        let local_start = local[0].base;
        let segments = self.remote().manifest.segments.clone();
        let remote_only =
            segments.iter().filter(|s| s.end <= local_start).map(|s| (s.end, s.bytes, Some(s.max_ts), true));
        let units: Vec<Unit> = remote_only.chain(local.iter().map(|s| (s.end, s.bytes, s.max_ts, s.sealed))).collect();
        let Some(new_start) = self.expired_end(&units, now_ms) else { return Ok(self.start_offset()) };
        let keep_from = segments.partition_point(|s| s.end <= new_start);
        if keep_from > 0 {
            self.write_manifest(segments[keep_from..].to_vec()).await?;
            self.delete_objects(&segments[..keep_from]).await;
        }
        self.local.drop_sealed_prefix(new_start).await?;
        Ok(self.start_offset())
    }

    /// The end of the last segment past retention, if any is.
    fn expired_end(&self, units: &[Unit], now_ms: u64) -> Option<u64> {
        let config = &self.config.segment;
        let mut total: u64 = units.iter().map(|u| u.1).sum();
        let mut expired = None;
        let committed = self.committed_end();
        for &(end, bytes, max_ts, sealed) in units.iter().take_while(|u| u.0 <= committed) {
            let by_bytes = config.retention_bytes.is_some_and(|max| total > max);
            let by_age = config.retention_ms.is_some_and(|max| max_ts.is_some_and(|t| now_ms.saturating_sub(t) > max));
            if !sealed || (!by_bytes && !by_age) {
                break;
            }
            total -= bytes;
            expired = Some(end);
        }
        expired
    }
}
