//! Group commit: concurrent durable appends share syncs, and share a failed sync's error.

use std::sync::Arc;

use keel_rt::disk::{DiskFaults, SimDisk};
use keel_storage::suite::{batch, Limits};
use keel_storage::{GroupCommit, LogEngine, MemoryConfig, MemoryEngine, SegmentEngine};

use crate::harness::{open_sim, segment_config};

const WRITERS: u64 = 32;

async fn group_on_sim(disk: &SimDisk) -> Arc<GroupCommit<SegmentEngine>> {
    let e = open_sim(disk, segment_config(Limits::default(), 1 << 20)).await.expect("open");
    Arc::new(GroupCommit::new(e))
}

#[tokio::test]
async fn concurrent_durable_appends_share_syncs() {
    let disk = SimDisk::new(11);
    let group = group_on_sim(&disk).await;
    disk.set_faults(DiskFaults::ssd());
    let syncs_before = disk.stats().syncs;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let group = group.clone();
            keel_rt::task::spawn(async move { group.append_durable(batch(i, 3, 1_000)).await })
        })
        .collect();
    let mut ranges = Vec::new();
    for t in tasks {
        ranges.push(t.await.expect("task").expect("durable append"));
    }
    let syncs = disk.stats().syncs - syncs_before;
    let durable_end = group.engine().durable_end();
    assert!(ranges.iter().all(|&(_, last)| last < durable_end), "every append is durable on return");
    ranges.sort();
    let dense = ranges.windows(2).all(|w| w[1].0 == w[0].1 + 1);
    assert!(dense && ranges[0].0 == 0 && ranges.last().map(|r| r.1) == Some(WRITERS * 3 - 1), "{ranges:?}");
    assert!((1..WRITERS).contains(&syncs), "{WRITERS} durable appends took {syncs} syncs");
}

#[tokio::test]
async fn a_failed_sync_fails_every_caller_that_waited_on_it() {
    let disk = SimDisk::new(12);
    let group = group_on_sim(&disk).await;
    disk.set_faults(DiskFaults { sync_fail_rate: 1.0, ..DiskFaults::ssd() });
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let group = group.clone();
            keel_rt::task::spawn(async move { group.append_durable(batch(i, 2, 0)).await })
        })
        .collect();
    for t in tasks {
        let r = t.await.expect("task");
        assert!(r.is_err(), "no caller is told its append is durable: {r:?}");
    }
    assert_eq!(group.engine().durable_end(), 0);
}

#[tokio::test]
async fn sequential_durable_appends_are_durable_on_return() {
    let group = GroupCommit::new(MemoryEngine::new(MemoryConfig::default()));
    for i in 0..5 {
        let (base, last) = group.append_durable(batch(i, 2, 0)).await.expect("append");
        assert_eq!((base, last), (i * 2, i * 2 + 1));
        assert!(group.engine().durable_end() > last);
    }
}
