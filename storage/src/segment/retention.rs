//! Retention: dropping whole sealed segments, oldest first, past the configured limits.
//!
//! A segment goes when the log holds more than `retention_bytes` in total, or when its newest
//! record is more than `retention_ms` older than the caller's `now_ms`; only a prefix of the
//! log goes (the start offset moves forward over whole segments), and the active segment
//! never does. The segments leave memory first, so readers see the new start at once; their
//! files are then removed and the directory synced. A crash before that sync may bring some
//! of them back on reopen, which is harmless: retention runs again.

use super::engine::{SegmentEngine, State};
use super::names;
use crate::engine::LogError;

impl SegmentEngine {
    pub(super) async fn retention_impl(&self, now_ms: u64) -> Result<u64, LogError> {
        let _w = self.writer.lock().await;
        let _s = self.syncer.lock().await;
        self.check_open()?;
        let n = self.expired_prefix(&self.state(), now_ms);
        self.drop_first(n).await
    }

    /// Drops the sealed segments that end at or before `below`, oldest first (never the active
    /// one), exactly as retention does; returns the new start offset. The object tier uses it
    /// to evict local copies of uploaded segments and to apply its own, log-wide retention.
    pub async fn drop_sealed_prefix(&self, below: u64) -> Result<u64, LogError> {
        let _w = self.writer.lock().await;
        let _s = self.syncer.lock().await;
        self.check_open()?;
        let n = {
            let st = self.state();
            st.segments[..st.segments.len() - 1].iter().take_while(|s| s.end <= below).count()
        };
        self.drop_first(n).await
    }

    /// Drops the first `n` (sealed) segments; called with both locks held.
    async fn drop_first(&self, n: usize) -> Result<u64, LogError> {
        let dropped: Vec<u64> = {
            let mut st = self.state();
            if n == 0 {
                return Ok(st.start());
            }
            assert!(n < st.segments.len(), "the active segment is never dropped");
            let bases = st.segments.drain(..n).map(|s| s.base).collect();
            let start = st.start();
            st.cache.drop_below(start);
            bases
        };
        for base in dropped {
            self.disk.remove_file(&self.path(&names::log(base))).await?;
            self.remove_if_present(&names::index(base)).await?;
            self.remove_if_present(&names::time_index(base)).await?;
        }
        self.disk.sync_dir(&self.dir).await?;
        Ok(self.state().start())
    }

    /// How many segments at the start of the log are past retention.
    fn expired_prefix(&self, st: &State, now_ms: u64) -> usize {
        let mut total: u64 = st.segments.iter().map(|s| s.bytes).sum();
        let sealed = &st.segments[..st.segments.len() - 1];
        let committed = self.committed_end.load(std::sync::atomic::Ordering::Acquire);
        let mut n = 0;
        for s in sealed.iter().take_while(|s| s.end <= committed) {
            let by_bytes = self.config.retention_bytes.is_some_and(|max| total > max);
            let by_age =
                self.config.retention_ms.is_some_and(|max| s.max_ts.is_some_and(|t| now_ms.saturating_sub(t) > max));
            if !by_bytes && !by_age {
                break;
            }
            total -= s.bytes;
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use keel_rt::disk::SimDisk;

    use crate::{LogEngine, Record, SegmentConfig, SegmentEngine};

    /// A log of three sealed one-record segments (timestamps 1000, 2000, 3000) and an active
    /// one holding a fourth record; and the bytes of one segment.
    async fn log(config: SegmentConfig) -> (SegmentEngine, u64) {
        let log = SegmentEngine::open(Arc::new(SimDisk::new(1)), "log", config).await.unwrap();
        for ts in [1_000, 2_000, 3_000, 4_000] {
            log.append(vec![Record::new(ts, None, Bytes::from_static(b"value"))]).await.unwrap();
            if ts < 4_000 {
                log.seal().await.unwrap();
            }
        }
        let bytes = log.stored_bytes().unwrap() / 4;
        (log, bytes)
    }

    #[tokio::test]
    async fn retention_by_bytes_drops_only_what_exceeds_the_limit() {
        let (probe, bytes) = log(SegmentConfig::default()).await;
        drop(probe);
        let at_limit = SegmentConfig { retention_bytes: Some(4 * bytes), ..SegmentConfig::default() };
        assert_eq!(log(at_limit).await.0.apply_retention(0).await.unwrap(), 0, "exactly at the limit");
        let one_over = SegmentConfig { retention_bytes: Some(4 * bytes - 1), ..SegmentConfig::default() };
        assert_eq!(log(one_over).await.0.apply_retention(0).await.unwrap(), 1, "one segment is enough");
        let two_over = SegmentConfig { retention_bytes: Some(2 * bytes), ..SegmentConfig::default() };
        assert_eq!(log(two_over).await.0.apply_retention(0).await.unwrap(), 2);
    }

    #[tokio::test]
    async fn retention_by_age_drops_segments_strictly_older_than_the_limit() {
        let config = SegmentConfig { retention_ms: Some(500), ..SegmentConfig::default() };
        let (log, _) = log(config).await;
        assert_eq!(log.apply_retention(2_500).await.unwrap(), 1, "2000 is exactly 500 old: kept");
        assert_eq!(log.apply_retention(2_501).await.unwrap(), 2);
        assert_eq!(log.apply_retention(u64::MAX).await.unwrap(), 3, "never the active segment");
    }
}
