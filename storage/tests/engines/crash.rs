//! Crash recovery of the segment engine on the simulated disk: what was synced survives,
//! nothing that was not written appears, a torn tail is cut, and appends go on densely.

use keel_rt::disk::{DiskFaults, SimDisk};
use keel_storage::suite::{append_checked, batch, check_matches, Limits};
use keel_storage::{LogEngine, LogError, SegmentConfig};

use crate::harness::{open_sim, segment_config};

/// Small segments and index interval, so that crashes hit rolls and indexes too.
fn config() -> SegmentConfig {
    segment_config(Limits { segment_bytes_max: 4096, ..Limits::default() }, 2048)
}

#[tokio::test]
async fn a_crash_keeps_the_durable_prefix_and_cuts_the_torn_tail() {
    let (mut torn_writes, mut cut_tails, mut kept_unsynced, mut lost_unsynced) = (0, 0, 0, 0);
    for seed in 0..200u64 {
        let disk = SimDisk::new(seed);
        let e = open_sim(&disk, config()).await.expect("open");
        let mut model = Vec::new();
        for i in 0..2 + seed % 10 {
            append_checked(&e, &mut model, batch(seed * 100 + i, 1 + i as usize % 5, 1_000)).await;
        }
        let durable = e.sync().await.expect("sync");
        for i in 0..1 + seed % 6 {
            append_checked(&e, &mut model, batch(seed * 100 + 50 + i, 1 + i as usize % 7, 2_000)).await;
        }
        let written = model.len() as u64;
        disk.crash();
        let e = open_sim(&disk, config()).await.expect("reopen after a crash");
        let end = e.end_offset();
        assert!(durable <= end && end <= written, "seed {seed}: end {end} outside [{durable}, {written}]");
        assert_eq!(e.durable_end(), end, "recovered data is synced by open");
        model.truncate(end as usize);
        check_matches(&e, &model, 0).await;
        cut_tails += u64::from(e.recovery().truncated_bytes > 0);
        append_checked(&e, &mut model, batch(seed * 100 + 99, 3, 3_000)).await;
        e.sync().await.expect("sync");
        drop(e);
        let e = open_sim(&disk, config()).await.expect("reopen after appending past the cut");
        check_matches(&e, &model, 0).await;
        torn_writes += disk.stats().torn_writes;
        kept_unsynced += u64::from(end > durable);
        lost_unsynced += u64::from(end < written);
    }
    assert!(torn_writes > 0, "some crashes tore a write");
    assert!(cut_tails > 0, "some recoveries cut a torn tail");
    assert!(kept_unsynced > 0 && lost_unsynced > 0, "crashes kept some unsynced appends and lost others");
}

#[tokio::test]
async fn a_clean_crash_keeps_exactly_what_was_synced() {
    for seed in 0..50u64 {
        let disk = SimDisk::new(seed);
        let e = open_sim(&disk, config()).await.expect("open");
        let mut model = Vec::new();
        for i in 0..3 + seed % 20 {
            append_checked(&e, &mut model, batch(seed * 100 + i, 1 + i as usize % 9, 1_000)).await;
            if i % 4 == 3 {
                e.sync().await.expect("sync");
            }
        }
        let durable = e.durable_end();
        disk.crash_clean();
        let e = open_sim(&disk, config()).await.expect("reopen");
        assert_eq!(e.end_offset(), durable, "seed {seed}: exactly the synced prefix");
        model.truncate(durable as usize);
        check_matches(&e, &model, 0).await;
    }
}

#[tokio::test]
async fn a_truncation_is_durable_when_it_returns() {
    for seed in 0..30u64 {
        let disk = SimDisk::new(seed);
        let e = open_sim(&disk, config()).await.expect("open");
        let mut model = Vec::new();
        for i in 0..12 {
            append_checked(&e, &mut model, batch(seed * 100 + i, 1 + i as usize % 6, 1_000)).await;
        }
        e.sync().await.expect("sync");
        for i in 0..3 {
            append_checked(&e, &mut model, batch(seed * 100 + 20 + i, 4, 1_000)).await;
        }
        let cut = 1 + seed % (model.len() as u64 - 1);
        e.truncate(cut).await.expect("truncate");
        disk.crash();
        let e = open_sim(&disk, config()).await.expect("reopen");
        model.truncate(cut as usize);
        check_matches(&e, &model, 0).await;
    }
}

#[tokio::test]
async fn a_failed_truncation_loses_nothing_below_the_cut() {
    let mut failed = 0;
    for seed in 0..20u64 {
        let disk = SimDisk::new(seed);
        let e = open_sim(&disk, config()).await.expect("open");
        let mut model = Vec::new();
        for i in 0..10 {
            append_checked(&e, &mut model, batch(seed * 100 + i, 6, 1_000)).await;
        }
        e.sync().await.expect("sync");
        // Mid-batch, so that the segment must be rewritten; the rewrite runs out of space.
        let cut = model.len() as u64 - 3;
        disk.set_faults(DiskFaults { capacity_bytes: 1, ..DiskFaults::default() });
        match e.truncate(cut).await {
            Err(LogError::Io(_)) => failed += 1,
            other => panic!("seed {seed}: truncation with a full disk: {other:?}"),
        }
        assert!(matches!(e.append(batch(1, 1, 0)).await, Err(LogError::Closed)), "writes refused after a failure");
        disk.set_faults(DiskFaults::default());
        disk.crash();
        let e = open_sim(&disk, config()).await.expect("reopen");
        assert!(e.end_offset() >= cut, "seed {seed}: offsets below the cut survive");
        model.truncate(e.end_offset() as usize);
        check_matches(&e, &model, 0).await;
    }
    assert_eq!(failed, 20);
}

#[tokio::test]
async fn a_failed_sync_refuses_writes_until_reopened() {
    let disk = SimDisk::new(9);
    let e = open_sim(&disk, config()).await.expect("open");
    let mut model = Vec::new();
    append_checked(&e, &mut model, batch(1, 3, 0)).await;
    e.sync().await.expect("sync");
    append_checked(&e, &mut model, batch(2, 3, 0)).await;
    disk.set_faults(DiskFaults { sync_fail_rate: 1.0, ..DiskFaults::default() });
    assert!(matches!(e.sync().await, Err(LogError::Io(_))));
    assert_eq!(e.durable_end(), 3, "a failed sync makes nothing durable");
    assert!(matches!(e.append(batch(3, 1, 0)).await, Err(LogError::Closed)));
    assert!(matches!(e.sync().await, Err(LogError::Closed)));
    assert_eq!(e.read(0, 1 << 20).await.expect("reads still work").len(), 6);
    disk.set_faults(DiskFaults::default());
    disk.crash_clean();
    let e = open_sim(&disk, config()).await.expect("reopen");
    model.truncate(3);
    check_matches(&e, &model, 0).await;
}

#[tokio::test]
async fn reopening_without_a_crash_finds_every_append() {
    let disk = SimDisk::new(4);
    let e = open_sim(&disk, config()).await.expect("open");
    let mut model = Vec::new();
    for i in 0..30 {
        append_checked(&e, &mut model, batch(i, 1 + i as usize % 4, 1_000 + i)).await;
    }
    drop(e);
    let e = open_sim(&disk, config()).await.expect("reopen");
    assert_eq!((e.durable_end(), e.recovery().truncated_bytes), (model.len() as u64, 0));
    assert!(e.recovery().segments > 1);
    check_matches(&e, &model, 0).await;
}

#[cfg(not(madsim))]
#[tokio::test]
async fn a_real_disk_log_reopens_with_everything_synced() {
    let h = crate::harness::RealHarness::new();
    let open = || keel_storage::SegmentEngine::open(h.disk(), "log", config());
    let e = open().await.expect("open");
    let mut model = Vec::new();
    for i in 0..40 {
        append_checked(&e, &mut model, batch(i, 1 + i as usize % 4, 1_000 + i)).await;
    }
    e.sync().await.expect("sync");
    drop(e);
    let e = open().await.expect("reopen");
    assert!(e.recovery().segments > 1 && e.recovery().rebuilt_indexes == 0);
    check_matches(&e, &model, 0).await;
}
