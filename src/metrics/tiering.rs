//! Object tier metrics: what the tiering rounds of `object` shards here uploaded, evicted and
//! cleaned, and how many rounds failed (a failed round is retried by the next).

use std::sync::atomic::AtomicU64;

use keel_storage::engine::LogError;
use keel_storage::object::TierReport;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

type Count = Counter<u64, AtomicU64>;

#[derive(Default)]
pub struct TieringMetrics {
    pub rounds: Count,
    pub rounds_failed: Count,
    pub uploaded_segments: Count,
    pub uploaded_bytes: Count,
    pub evicted_segments: Count,
    pub evicted_bytes: Count,
    pub orphans_deleted: Count,
}

impl TieringMetrics {
    pub fn register(r: &mut Registry) -> Self {
        let m = TieringMetrics::default();
        let counters = [
            ("tier_rounds", "Tiering rounds of object shards here", &m.rounds),
            ("tier_rounds_failed", "Tiering rounds that failed (retried by the next)", &m.rounds_failed),
            ("tier_uploaded_segments", "Segments uploaded to the object store", &m.uploaded_segments),
            ("tier_uploaded_bytes", "Bytes uploaded to the object store", &m.uploaded_bytes),
            ("tier_evicted_segments", "Local segment copies evicted once uploaded", &m.evicted_segments),
            ("tier_evicted_bytes", "Bytes of local segment copies evicted", &m.evicted_bytes),
            ("tier_orphans_deleted", "Unlisted segment objects deleted from the store", &m.orphans_deleted),
        ];
        for (name, help, c) in counters {
            r.register(name, help, c.clone());
        }
        m
    }

    /// Counts one round.
    pub fn count(&self, round: &Result<TierReport, LogError>) {
        self.rounds.inc();
        let Ok(r) = round else {
            self.rounds_failed.inc();
            return;
        };
        self.uploaded_segments.inc_by(r.uploaded as u64);
        self.uploaded_bytes.inc_by(r.uploaded_bytes);
        self.evicted_segments.inc_by(r.evicted as u64);
        self.evicted_bytes.inc_by(r.evicted_bytes);
        self.orphans_deleted.inc_by(r.orphans_deleted as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_count_what_they_did_and_failures() {
        let m = TieringMetrics::register(&mut Registry::default());
        let done =
            TierReport { uploaded: 2, uploaded_bytes: 300, evicted: 1, evicted_bytes: 100, ..Default::default() };
        m.count(&Ok(done));
        m.count(&Err(LogError::Io(std::io::Error::other("store down"))));
        assert_eq!((m.rounds.get(), m.rounds_failed.get()), (2, 1));
        assert_eq!((m.uploaded_segments.get(), m.uploaded_bytes.get(), m.evicted_bytes.get()), (2, 300, 100));
    }
}
