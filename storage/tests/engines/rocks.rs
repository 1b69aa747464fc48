//! The RocksDB engine beyond the shared suite: what survives a close and reopen (records with
//! their producers, segment boundaries for retention, truncations), and the refusal of a disk
//! that is not real files.
#![cfg(all(feature = "rocksdb", not(madsim)))]

use keel_rt::disk::SimDisk;
use keel_storage::suite::{append_checked, batch, check_matches, Limits};
use keel_storage::{LogEngine, LogError, ProducerSeq, RocksEngine};

use crate::harness::{rocks_config, RealHarness};

async fn open(h: &RealHarness, limits: Limits) -> RocksEngine {
    RocksEngine::open(&*h.disk(), "log", rocks_config(limits)).await.expect("open")
}

#[tokio::test]
async fn segments_truncations_and_producers_survive_a_reopen() {
    let h = RealHarness::new();
    let limits = Limits { retention_ms: Some(1_000), ..Limits::default() };
    let e = open(&h, limits).await;
    let mut model = Vec::new();
    for i in 0..3u64 {
        let mut records = batch(800 + i, 4, 1_000);
        for (j, r) in records.iter_mut().enumerate() {
            r.producer = Some(ProducerSeq { producer_id: 9, producer_epoch: 2, sequence: (i * 4) as u32 + j as u32 });
        }
        append_checked(&e, &mut model, records).await;
    }
    e.seal().await.expect("seal");
    let first_seal = e.end_offset();
    append_checked(&e, &mut model, batch(810, 5, 9_000)).await;
    e.truncate(first_seal + 3).await.expect("truncate");
    model.truncate(first_seal as usize + 3);
    drop(e);

    let e = open(&h, limits).await;
    assert_eq!((e.start_offset(), e.end_offset(), e.durable_end()), (0, first_seal + 3, first_seal + 3));
    check_matches(&e, &model, 0).await;
    assert_eq!(e.offset_for_time(9_000).await.expect("offset_for_time"), first_seal);
    assert_eq!(e.apply_retention(5_000).await.expect("retention"), first_seal, "the sealed segment is old");
    check_matches(&e, &model, first_seal).await;
    drop(e);

    let e = open(&h, limits).await;
    assert_eq!(e.start_offset(), first_seal, "retention survives a reopen");
    assert!(matches!(e.read(0, 100).await, Err(LogError::OffsetOutOfRange { .. })));
    append_checked(&e, &mut model, batch(820, 2, 9_500)).await;
    assert_eq!(e.sync().await.expect("sync"), model.len() as u64);
    check_matches(&e, &model, first_seal).await;
}

#[tokio::test]
async fn a_simulated_disk_is_refused() {
    let r = RocksEngine::open(&SimDisk::new(1), "log", rocks_config(Limits::default())).await;
    assert!(matches!(&r, Err(LogError::Io(e)) if e.kind() == std::io::ErrorKind::Unsupported), "{:?}", r.err());
}
