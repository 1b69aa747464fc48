//! The object engine beyond the shared suite: tiering really moves data to the store, a crash
//! between a segment put and the manifest put is harmless, crashes of the local disk combined
//! with store faults lose nothing synced or uploaded, a fresh local disk recovers the uploaded
//! part, and a damaged segment object is reported as corruption.

use std::sync::Arc;

use bytes::Bytes;
use keel_rt::disk::SimDisk;
use keel_storage::object::keys::Keys;
use keel_storage::object::{FaultyStore, Manifest, StoreFaults};
use keel_storage::suite::{append_checked, batch, check_matches, Limits};
use keel_storage::{LogEngine, LogError, ObjectEngine, Record};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::harness::{object_config, open_object};

const LIMITS: Limits =
    Limits { segment_bytes_max: 1024, retention_bytes: None, retention_ms: None, batch_bytes_max: 64 * 1024 };
const LOCAL_BYTES_MAX: u64 = 1500;

async fn open(disk: &SimDisk, store: &Arc<dyn ObjectStore>) -> Result<ObjectEngine, LogError> {
    open_object(disk, store.clone(), object_config(LIMITS, LOCAL_BYTES_MAX)).await
}

/// The manifest as durably stored.
async fn stored_manifest(store: &dyn ObjectStore) -> Manifest {
    match store.get(&Keys::new("t/0").manifest()).await {
        Ok(got) => Manifest::decode(&got.bytes().await.expect("bytes")).expect("manifest"),
        Err(_) => Manifest::default(),
    }
}

/// The `(base, end)` of every segment object in the store.
async fn stored_segments(store: &dyn ObjectStore) -> Vec<(u64, u64)> {
    let keys = Keys::new("t/0");
    let mut out = Vec::new();
    let mut list = store.list(Some(&keys.segments()));
    while let Some(meta) = futures::StreamExt::next(&mut list).await {
        out.extend(keys.parse_segment(&meta.expect("list").location));
    }
    out.sort();
    out
}

async fn tier_all(e: &ObjectEngine) -> keel_storage::object::TierReport {
    e.set_committed_end(e.end_offset());
    e.tier(0).await.expect("tier")
}

#[tokio::test]
async fn tiering_uploads_evicts_and_reads_back() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let disk = SimDisk::new(1);
    let e = open(&disk, &store).await.expect("open");
    let mut model = Vec::new();
    for i in 0..60 {
        append_checked(&e, &mut model, batch(i, 1 + i as usize % 5, 1_000 + i)).await;
    }
    assert_eq!(e.tier(0).await.expect("tier").uploaded, 0, "nothing is committed yet");
    e.set_committed_end(model.len() as u64 / 2);
    let half = e.tier(0).await.expect("tier");
    assert!(half.uploaded > 0 && half.remote_end.is_some_and(|end| end <= model.len() as u64 / 2), "{half:?}");
    let report = tier_all(&e).await;
    assert!(report.evicted > 0, "{report:?}");
    let local_bytes: u64 = e.local().segment_infos().iter().map(|s| s.bytes).sum();
    assert!(local_bytes <= LOCAL_BYTES_MAX || e.local().segment_infos().len() == 1);
    assert!(e.local().start_offset() > 0 && e.start_offset() == 0);
    // The evicted segments count once, in the object tier.
    let evicted: u64 =
        e.manifest().segments.iter().filter(|s| s.end <= e.local().start_offset()).map(|s| s.bytes).sum();
    assert!(evicted > 0);
    assert_eq!(e.object_stored_bytes(), evicted);
    assert_eq!(e.stored_bytes(), Some(local_bytes + evicted));
    let manifest = stored_manifest(store.as_ref()).await;
    assert_eq!(manifest, e.manifest());
    let keys: Vec<(u64, u64)> = manifest.segments.iter().map(|s| (s.base, s.end)).collect();
    assert_eq!(stored_segments(store.as_ref()).await, keys);
    check_matches(&e, &model, 0).await;
    assert_eq!(e.offset_for_time(1_000).await.expect("offset_for_time"), 0);
    drop(e);
    let e = open(&disk, &store).await.expect("reopen");
    check_matches(&e, &model, 0).await;
}

#[tokio::test]
async fn a_crash_between_the_segment_puts_and_the_manifest_put_is_harmless() {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let faulty = FaultyStore::new(mem.clone(), 7);
    let store: Arc<dyn ObjectStore> = Arc::new(faulty.clone());
    let disk = SimDisk::new(2);
    let e = open(&disk, &store).await.expect("open");
    let mut model = Vec::new();
    for i in 0..30 {
        append_checked(&e, &mut model, batch(i, 3, 1_000)).await;
    }
    e.sync().await.expect("sync");
    faulty.set_faults(StoreFaults { fail_puts_ending_with: Some("manifest".into()), ..StoreFaults::default() });
    e.set_committed_end(model.len() as u64);
    assert!(e.tier(0).await.is_err(), "the manifest put fails");
    let orphans = stored_segments(mem.as_ref()).await;
    assert!(!orphans.is_empty() && stored_manifest(mem.as_ref()).await.segments.is_empty());
    disk.crash();
    faulty.set_faults(StoreFaults::default());
    let e = open(&disk, &store).await.expect("reopen");
    assert!(e.manifest().segments.is_empty(), "no manifest lists the orphans");
    check_matches(&e, &model, 0).await;
    // A new history below the orphans' ends makes some of them unreachable by re-upload.
    let cut = orphans[orphans.len() / 2].0 + 1;
    e.truncate(cut).await.expect("truncate");
    model.truncate(cut as usize);
    for i in 0..10 {
        append_checked(&e, &mut model, batch(100 + i, 2, 2_000)).await;
    }
    let report = tier_all(&e).await;
    assert!(report.uploaded > 0 && report.orphans_deleted > 0, "{report:?}");
    let listed: Vec<(u64, u64)> = e.manifest().segments.iter().map(|s| (s.base, s.end)).collect();
    assert_eq!(stored_segments(mem.as_ref()).await, listed, "only listed objects remain");
    check_matches(&e, &model, 0).await;
}

#[tokio::test]
async fn a_fresh_local_disk_recovers_the_uploaded_part() {
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let e = open(&SimDisk::new(3), &store).await.expect("open");
    let mut model = Vec::new();
    for i in 0..40 {
        append_checked(&e, &mut model, batch(i, 2, 1_000)).await;
    }
    let remote_end = tier_all(&e).await.remote_end.expect("something uploaded");
    let e = open(&SimDisk::new(4), &store).await.expect("open on a new disk");
    assert_eq!((e.start_offset(), e.end_offset()), (0, remote_end));
    model.truncate(remote_end as usize);
    check_matches(&e, &model, 0).await;
    append_checked(&e, &mut model, batch(99, 2, 2_000)).await;
    check_matches(&e, &model, 0).await;
}

#[tokio::test]
async fn a_damaged_segment_object_is_reported_not_served() {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let e = open(&SimDisk::new(5), &mem).await.expect("open");
    let mut model = Vec::new();
    for i in 0..40 {
        append_checked(&e, &mut model, batch(i, 2, 1_000)).await;
    }
    tier_all(&e).await;
    let first = e.manifest().segments[0];
    assert!(e.local().start_offset() > first.base, "the first segment is only remote");
    let key = Keys::new("t/0").segment(first.base, first.end);
    let mut data = mem.get(&key).await.expect("get").bytes().await.expect("bytes").to_vec();
    let at = data.len() / 2;
    data[at] ^= 0x10;
    mem.put(&key, PutPayload::from(Bytes::from(data))).await.expect("put");
    let e = open(&SimDisk::new(6), &mem).await.expect("open on a new disk");
    let r = e.read(first.base, 1 << 20).await;
    assert!(matches!(r, Err(LogError::Corrupt { .. })), "{r:?}");
}

/// One seeded run of random appends, syncs, seals, tiering rounds, reads and truncations,
/// under store faults, with local-disk crashes.
struct Run {
    disk: SimDisk,
    faulty: FaultyStore,
    store: Arc<dyn ObjectStore>,
    e: ObjectEngine,
    model: Vec<Record>,
    synced: u64,
    faults: StoreFaults,
}

impl Run {
    async fn reopen(&mut self) {
        for _ in 0..50 {
            match open(&self.disk, &self.store).await {
                Ok(e) => {
                    self.e = e;
                    return;
                }
                Err(LogError::Io(_)) => continue,
                Err(e) => panic!("reopen: {e}"),
            }
        }
        panic!("could not reopen through the store faults");
    }

    async fn crash(&mut self, seed: u64, tearing: bool) {
        if tearing {
            self.disk.crash();
        } else {
            self.disk.crash_clean();
        }
        self.reopen().await;
        let end = self.e.end_offset();
        assert!(self.synced <= end && end <= self.model.len() as u64, "seed {seed}: end {end}, synced {}", self.synced);
        self.model.truncate(end as usize);
        self.synced = self.e.durable_end();
        self.check(seed).await;
    }

    async fn check(&self, seed: u64) {
        self.faulty.set_faults(StoreFaults::default());
        let start = self.e.start_offset();
        assert_eq!(start, 0, "seed {seed}: no retention here");
        check_matches(&self.e, &self.model, start).await;
        self.faulty.set_faults(self.faults.clone());
    }

    async fn step(&mut self, seed: u64, rng: &mut StdRng) {
        match rng.gen_range(0..20) {
            0..=8 => {
                let n = rng.gen_range(1..6);
                append_checked(&self.e, &mut self.model, batch(rng.gen_range(0..1_000_000), n, 1_000)).await;
            }
            9 | 10 => self.synced = self.e.sync().await.expect("sync"),
            11 => self.e.seal().await.expect("seal"),
            12..=14 => {
                self.e.set_committed_end(self.e.durable_end());
                let _ = self.e.tier(0).await;
            }
            15 | 16 => {
                let from = rng.gen_range(0..=self.model.len() as u64);
                match self.e.read(from, rng.gen_range(0..3000)).await {
                    Ok(got) => assert!(got.iter().all(|r| r.to_record() == self.model[r.offset as usize])),
                    Err(LogError::Io(_)) => {}
                    Err(e) => panic!("seed {seed}: read: {e}"),
                }
            }
            17 => {
                let end = rng.gen_range(0..=self.model.len() as u64);
                self.faulty.set_faults(StoreFaults::default());
                self.e.truncate(end).await.expect("truncate");
                self.faulty.set_faults(self.faults.clone());
                self.model.truncate(end as usize);
                self.synced = self.synced.min(end);
            }
            18 => self.crash(seed, true).await,
            _ => self.crash(seed, false).await,
        }
    }
}

#[tokio::test]
async fn local_crashes_and_store_faults_lose_nothing_synced_or_uploaded() {
    let (mut uploads, mut lost_acks, mut evictions) = (0, 0, 0);
    for seed in 0..120u64 {
        let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let faulty = FaultyStore::new(mem.clone(), seed);
        let faults = StoreFaults {
            put_fail_rate: 0.1,
            put_lost_ack_rate: 0.1,
            get_fail_rate: 0.05,
            delete_fail_rate: 0.2,
            list_fail_rate: 0.2,
            ..StoreFaults::default()
        };
        let store: Arc<dyn ObjectStore> = Arc::new(faulty.clone());
        let disk = SimDisk::new(seed);
        let e = open(&disk, &store).await.expect("open");
        faulty.set_faults(faults.clone());
        let mut run = Run { disk, faulty, store, e, model: Vec::new(), synced: 0, faults };
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..80 {
            run.step(seed, &mut rng).await;
        }
        run.crash(seed, true).await;
        evictions += u64::from(run.e.local().start_offset() > 0);
        // The uploaded part alone, on a fresh local disk.
        let remote = stored_manifest(mem.as_ref()).await;
        run.disk = SimDisk::new(seed + 1_000);
        run.faulty.set_faults(StoreFaults::default());
        run.reopen().await;
        let remote_end = remote.end().unwrap_or(0);
        assert_eq!(run.e.end_offset(), remote_end, "seed {seed}: a fresh disk starts at the remote end");
        run.model.truncate(remote_end as usize);
        check_matches(&run.e, &run.model, 0).await;
        uploads += u64::from(remote_end > 0);
        lost_acks += run.faulty.stats().lost_acks;
    }
    assert!(
        uploads > 50 && lost_acks > 0 && evictions > 10,
        "uploads {uploads}, lost acks {lost_acks}, evictions {evictions}"
    );
}

#[tokio::test]
async fn a_path_outside_the_prefix_is_not_an_orphan() {
    let mem: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let other = Path::from("t/1/segments/00000000000000000000-00000000000000000005.log");
    mem.put(&other, PutPayload::from(Bytes::from_static(b"x"))).await.expect("put");
    let e = open(&SimDisk::new(8), &mem).await.expect("open");
    let mut model = Vec::new();
    for i in 0..20 {
        append_checked(&e, &mut model, batch(i, 2, 1_000)).await;
    }
    tier_all(&e).await;
    assert!(mem.head(&other).await.is_ok(), "another log's object is left alone");
}
