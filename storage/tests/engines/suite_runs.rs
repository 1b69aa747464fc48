//! The shared suite ([`keel_storage::suite`]) on every engine: memory, segments on the
//! simulated disk (with and without the tail cache), segments on real files, and the object
//! engine twice: with nothing committed (all local) and tiering everything after each write;
//! RocksDB with the `rocksdb` feature (real files, not in simulation builds).

use keel_storage::suite;

use crate::harness::{MemoryHarness, ObjectHarness, SimHarness};

macro_rules! suite_tests {
    ($module:ident, $harness:expr) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn dense_offsets_across_batches_and_rolls() {
                suite::dense_offsets_across_batches_and_rolls(&mut $harness).await;
            }

            #[tokio::test]
            async fn reads_from_any_offset_return_exactly_the_right_records() {
                suite::reads_from_any_offset_return_exactly_the_right_records(&mut $harness).await;
            }

            #[tokio::test]
            async fn bytes_max_is_honoured_but_reads_return_at_least_one_record() {
                suite::bytes_max_is_honoured_but_reads_return_at_least_one_record(&mut $harness).await;
            }

            #[tokio::test]
            async fn truncate_then_append_reuses_offsets() {
                suite::truncate_then_append_reuses_offsets(&mut $harness).await;
            }

            #[tokio::test]
            async fn retention_drops_only_whole_old_segments() {
                suite::retention_drops_only_whole_old_segments(&mut $harness).await;
            }

            #[tokio::test]
            async fn offset_for_time_finds_the_first_record_at_or_after() {
                suite::offset_for_time_finds_the_first_record_at_or_after(&mut $harness).await;
            }

            #[tokio::test]
            async fn empty_log_edge_cases() {
                suite::empty_log_edge_cases(&mut $harness).await;
            }

            #[tokio::test]
            async fn oversized_batches_are_refused() {
                suite::oversized_batches_are_refused(&mut $harness).await;
            }

            #[tokio::test]
            async fn reset_starts_the_log_over_at_any_offset() {
                suite::reset_starts_the_log_over_at_any_offset(&mut $harness).await;
            }

            #[tokio::test]
            async fn producer_sequences_survive_mixed_appends_and_truncation() {
                suite::producer_sequences_survive_mixed_appends_and_truncation(&mut $harness).await;
            }

            #[tokio::test]
            async fn records_spanning_offsets_keep_them() {
                suite::records_spanning_offsets_keep_them(&mut $harness).await;
            }
        }
    };
}

suite_tests!(memory, MemoryHarness);
suite_tests!(segment_sim_uncached, SimHarness { seed: 100, cache_bytes_max: 0 });
suite_tests!(segment_sim_cached, SimHarness { seed: 200, cache_bytes_max: 1 << 20 });
suite_tests!(object_untiered, ObjectHarness { seed: 400, aggressive: false });
suite_tests!(object_aggressive, ObjectHarness { seed: 500, aggressive: true });
#[cfg(not(madsim))]
suite_tests!(segment_real, crate::harness::RealHarness::new());
#[cfg(all(feature = "rocksdb", not(madsim)))]
suite_tests!(rocksdb, crate::harness::RocksHarness::new());
#[cfg(all(feature = "s3", not(madsim)))]
suite_tests!(object_s3, crate::harness::S3Harness { seed: 900 });

#[tokio::test]
async fn segment_sim_partly_cached_passes_the_whole_suite() {
    suite::run_all(&mut SimHarness { seed: 300, cache_bytes_max: 2048 }).await;
}
