//! Damage that is not a torn append is reported as `Corrupt`, never skipped; damaged index
//! files are rebuilt, and wrong index points cost a scan, not a wrong answer.

use keel_rt::disk::{read_all, Disk, DiskFaults, OpenMode, SimDisk};
use keel_storage::segment::{format, names};
use keel_storage::suite::{append_checked, batch, check_matches, Limits};
use keel_storage::{LogEngine, LogError, Record, SegmentConfig, SegmentEngine};

use crate::harness::{open_sim, segment_config, DIR};

fn config() -> SegmentConfig {
    segment_config(Limits::default(), 0)
}

fn path(name: &str) -> String {
    format!("{DIR}/{name}")
}

/// XORs `mask` into the byte at `pos` of `name`, durably.
async fn damage(disk: &SimDisk, name: &str, pos: u64, mask: u8) {
    let f = disk.open(&path(name), OpenMode::Existing).await.expect("open segment file");
    let b = f.read_at(pos, 1).await.expect("read")[0];
    f.write_at(pos, &[b ^ mask]).await.expect("write");
    f.sync().await.expect("sync");
}

/// Writes `batches` to a fresh log and syncs; returns the model and each batch's position.
async fn filled(disk: &SimDisk, config: SegmentConfig, batches: &[Vec<Record>]) -> (Vec<Record>, Vec<u64>) {
    let e = open_sim(disk, config).await.expect("open");
    let (mut model, mut positions, mut pos) = (Vec::new(), Vec::new(), 0);
    for b in batches {
        positions.push(pos);
        pos += format::encoded_len(b) as u64;
        append_checked(&e, &mut model, b.clone()).await;
    }
    e.sync().await.expect("sync");
    (model, positions)
}

/// Reads the whole log; the first error, if any.
async fn read_everything(e: &SegmentEngine) -> Result<(), LogError> {
    let mut next = e.start_offset();
    while next < e.end_offset() {
        let got = e.read(next, 4096).await?;
        next = got.last().map_or(next, |r| r.offset + 1);
    }
    Ok(())
}

#[tokio::test]
async fn a_flipped_bit_in_a_sealed_segment_is_reported() {
    let mut at_open = 0;
    for seed in 0..24u64 {
        let disk = SimDisk::new(seed);
        let e = open_sim(&disk, config()).await.expect("open");
        let mut model = Vec::new();
        for i in 0..8 {
            append_checked(&e, &mut model, batch(seed + i, 5, 1_000)).await;
        }
        e.seal().await.expect("seal");
        e.sync().await.expect("sync");
        disk.set_faults(DiskFaults { bit_flip_rate: 1.0, ..DiskFaults::default() });
        disk.crash();
        disk.set_faults(DiskFaults::default());
        assert!(disk.stats().bit_flips > 0);
        let reported = match open_sim(&disk, config()).await {
            Err(LogError::Corrupt { .. }) => {
                at_open += 1;
                true
            }
            Err(other) => panic!("seed {seed}: open failed otherwise: {other}"),
            Ok(e) => matches!(read_everything(&e).await, Err(LogError::Corrupt { .. })),
        };
        assert!(reported, "seed {seed}: a flipped bit in a sealed segment went unreported");
    }
    assert!(at_open > 0, "damaged indexes make open rebuild them and find the damage");
}

#[tokio::test]
async fn damage_in_a_sealed_segment_is_reported_by_the_read_that_reaches_it() {
    let disk = SimDisk::new(1);
    let batches: Vec<_> = (0..6).map(|i| batch(i, 4, 1_000)).collect();
    let (model, positions) = filled(&disk, config(), &batches).await;
    let e = open_sim(&disk, config()).await.expect("open");
    e.seal().await.expect("seal");
    let mut model = model;
    append_checked(&e, &mut model, batch(10, 4, 2_000)).await;
    e.sync().await.expect("sync");
    drop(e);
    damage(&disk, &names::log(0), positions[3] + 20, 0x10).await;
    let e = open_sim(&disk, config()).await.expect("valid indexes: open does not scan sealed segments");
    match e.read(12, 1 << 20).await {
        Err(LogError::Corrupt { offset_hint, .. }) => assert_eq!(offset_hint, 12, "the damaged batch"),
        other => panic!("a read of the damaged batch: {other:?}"),
    }
    let before = e.read(0, 0).await.expect("records before the damage are served");
    assert_eq!(before.len(), 4);
    let after = e.read(24, 1 << 20).await.expect("records of the next segment are served");
    assert_eq!(after.len(), 4);
}

#[tokio::test]
async fn damage_followed_by_valid_batches_in_the_last_segment_is_reported() {
    let disk = SimDisk::new(2);
    let batches: Vec<_> = (0..5).map(|i| batch(i, 3, 1_000)).collect();
    let (_, positions) = filled(&disk, config(), &batches).await;
    damage(&disk, &names::log(0), positions[2] + 40, 0x01).await;
    match open_sim(&disk, config()).await {
        Err(LogError::Corrupt { offset_hint, .. }) => assert_eq!(offset_hint, 6, "the first damaged batch"),
        Err(other) => panic!("open failed otherwise: {other}"),
        Ok(_) => panic!("damage in the middle of the last segment was skipped"),
    }
    damage(&disk, &names::log(0), positions[2], 0xff).await;
    let r = open_sim(&disk, config()).await;
    assert!(matches!(r, Err(LogError::Corrupt { .. })), "a damaged header is found past too: {:?}", r.err());
}

/// The same in a log whose offsets are far past its file's size (reset to a high start, as a
/// follower behind its leader's retention is), when the one valid batch after the damage is the
/// last in the file, is followed by a torn append, or is larger than the bytes before it.
#[tokio::test]
async fn damage_followed_by_one_valid_batch_is_reported_at_high_offsets_too() {
    for (damaged, torn) in [(3, false), (2, true), (0, false)] {
        let disk = SimDisk::new(6);
        let e = open_sim(&disk, config()).await.expect("open");
        e.reset(1_000_000).await.expect("reset");
        let mut positions = vec![0];
        for i in 0..5 {
            e.append(batch(i, 3, 1_000)).await.expect("append");
            positions.push(positions[i as usize] + format::encoded_len(&batch(i, 3, 1_000)) as u64);
        }
        e.sync().await.expect("sync");
        drop(e);
        // A damaged magic byte: the batch no longer parses, so only the batch after it tells
        // damage from a torn append.
        damage(&disk, &names::log(1_000_000), positions[damaged], 0xff).await;
        if torn {
            let f = disk.open(&path(&names::log(1_000_000)), OpenMode::Existing).await.expect("open segment file");
            f.set_len(positions[5] - 7).await.expect("tear");
            f.sync().await.expect("sync");
        }
        match open_sim(&disk, config()).await {
            Err(LogError::Corrupt { offset_hint, .. }) => assert_eq!(offset_hint, 1_000_000 + 3 * damaged as u64),
            Err(other) => panic!("open failed otherwise: {other}"),
            Ok(e) => panic!("damage at batch {damaged} skipped: the log now ends at {}", e.end_offset()),
        }
    }
}

/// A torn append is cut even when its records carry valid batches in their values, at offsets
/// the log cannot have next (behind its end, or further ahead than its file has bytes).
#[tokio::test]
async fn a_torn_append_carrying_batches_in_its_values_is_cut() {
    let disk = SimDisk::new(7);
    let e = open_sim(&disk, config()).await.expect("open");
    e.reset(1_000_000).await.expect("reset");
    let mut model = Vec::new();
    for i in 0..3 {
        e.append(batch(i, 3, 1_000)).await.expect("append");
        model.extend(batch(i, 3, 1_000));
    }
    let mut value = Vec::new();
    for base in [0, 999_999, 2_000_000, u64::MAX / 2] {
        format::encode(base, &batch(base % 7, 2, 1_000), &mut value);
    }
    value.extend_from_slice(&[0; 32]); // the tear cuts this, not the batches inside
    e.append(vec![Record::new(1_000, None, value.into())]).await.expect("append");
    e.sync().await.expect("sync");
    drop(e);
    let f = disk.open(&path(&names::log(1_000_000)), OpenMode::Existing).await.expect("open segment file");
    let len = f.len().await.expect("len");
    f.set_len(len - 7).await.expect("tear");
    f.sync().await.expect("sync");
    let e = open_sim(&disk, config()).await.expect("a torn append is not corruption");
    assert!(e.recovery().truncated_bytes > 0);
    assert_eq!(e.end_offset(), 1_000_009);
    let got = e.read(1_000_000, 1 << 20).await.expect("read");
    assert_eq!(got.iter().map(|r| r.to_record()).collect::<Vec<_>>(), model);
}

/// A bit flipped anywhere in the last, whole batch (payload, checksum, magic, length) is
/// damage to synced data, not a torn append: reported, never cut silently.
#[tokio::test]
async fn a_damaged_whole_last_batch_is_reported_not_cut() {
    for (i, (at, mask)) in [(45, 0x04), (3, 0x80), (0, 0x01), (1, 0x02), (21, 0x01), (20, 0x40)].into_iter().enumerate()
    {
        let disk = SimDisk::new(30 + i as u64);
        let batches: Vec<_> = (0..5).map(|i| batch(i, 3, 1_000)).collect();
        let (_, positions) = filled(&disk, config(), &batches).await;
        damage(&disk, &names::log(0), positions[4] + at, mask).await;
        match open_sim(&disk, config()).await {
            Err(LogError::Corrupt { offset_hint, .. }) => assert_eq!(offset_hint, 12, "byte {at}"),
            Err(other) => panic!("byte {at}: open failed otherwise: {other}"),
            Ok(_) => panic!("byte {at}: a flipped bit in the last batch was cut as a torn append"),
        }
    }
}

/// A last batch cut short (an append that never completed) is dropped.
#[tokio::test]
async fn a_last_batch_cut_short_is_dropped_as_a_torn_append() {
    let disk = SimDisk::new(3);
    let batches: Vec<_> = (0..5).map(|i| batch(i, 3, 1_000)).collect();
    let (mut model, positions) = filled(&disk, config(), &batches).await;
    let f = disk.open(&path(&names::log(0)), OpenMode::Existing).await.expect("open segment file");
    let len = f.len().await.expect("len");
    f.set_len(len - 7).await.expect("cut");
    f.sync().await.expect("sync");
    let e = open_sim(&disk, config()).await.expect("open");
    assert_eq!(e.end_offset(), 12, "the last batch is dropped");
    assert_eq!(e.recovery().truncated_bytes, len - 7 - positions[4]);
    model.truncate(12);
    check_matches(&e, &model, 0).await;
}

#[tokio::test]
async fn a_missing_segment_between_two_others_is_reported() {
    let disk = SimDisk::new(4);
    let e = open_sim(&disk, config()).await.expect("open");
    let mut model = Vec::new();
    let mut seals = Vec::new();
    for i in 0..3 {
        append_checked(&e, &mut model, batch(i, 4, 1_000)).await;
        e.seal().await.expect("seal");
        seals.push(e.end_offset());
    }
    drop(e);
    for name in [names::log(seals[0]), names::index(seals[0]), names::time_index(seals[0])] {
        disk.remove_file(&path(&name)).await.expect("remove");
    }
    disk.sync_dir(DIR).await.expect("sync dir");
    let r = open_sim(&disk, config()).await;
    assert!(matches!(r, Err(LogError::Corrupt { offset_hint: 4, .. })), "a gap: {:?}", r.err());
}

/// A log of several sealed segments, with many index points each.
async fn sealed_segments(disk: &SimDisk) -> (Vec<Record>, Vec<u64>) {
    let e = open_sim(disk, config()).await.expect("open");
    let mut model = Vec::new();
    let mut bases = vec![0];
    for s in 0..3u64 {
        for i in 0..12 {
            append_checked(&e, &mut model, batch(s * 20 + i, 4, 1_000)).await;
        }
        e.seal().await.expect("seal");
        bases.push(e.end_offset());
    }
    e.sync().await.expect("sync");
    (model, bases)
}

#[tokio::test]
async fn missing_or_invalid_index_files_are_rebuilt() {
    let disk = SimDisk::new(5);
    let (model, bases) = sealed_segments(&disk).await;
    disk.remove_file(&path(&names::index(bases[0]))).await.expect("remove");
    let f = disk.open(&path(&names::time_index(bases[1])), OpenMode::Existing).await.expect("open");
    let len = f.len().await.expect("len");
    f.write_at(0, &vec![0; len as usize]).await.expect("zero the time index");
    let e = open_sim(&disk, config()).await.expect("open");
    assert_eq!(e.recovery().rebuilt_indexes, 2);
    check_matches(&e, &model, 0).await;
    let rebuilt = read_all(&disk, &path(&names::index(bases[0]))).await.expect("read");
    assert!(rebuilt.is_some_and(|ix| !ix.is_empty()), "the rebuilt index is written back");
    for ts in [999, 1_000, 1_002, 1_003] {
        let want = model.iter().position(|r| r.timestamp_ms >= ts).unwrap_or(model.len()) as u64;
        assert_eq!(e.offset_for_time(ts).await.expect("offset_for_time"), want);
    }
}

#[tokio::test]
async fn a_wrong_index_point_costs_a_scan_not_a_wrong_answer() {
    let disk = SimDisk::new(6);
    let (model, bases) = sealed_segments(&disk).await;
    let name = path(&names::index(bases[1]));
    let mut ix = read_all(&disk, &name).await.expect("read").expect("index file");
    assert!(ix.len() >= 16, "several index points");
    for entry in ix.chunks_mut(8) {
        let pos = u32::from_be_bytes([entry[4], entry[5], entry[6], entry[7]]) + 3;
        entry[4..].copy_from_slice(&pos.to_be_bytes());
    }
    let f = disk.open(&name, OpenMode::Existing).await.expect("open");
    f.write_at(0, &ix).await.expect("write");
    let e = open_sim(&disk, config()).await.expect("open");
    assert_eq!(e.recovery().rebuilt_indexes, 0, "the index still looks valid");
    for from in bases[1]..bases[2] {
        let got = e.read(from, 1).await.expect("read");
        assert_eq!(got[0].offset, from);
        assert_eq!(got[0].to_record(), model[from as usize]);
    }
}

#[tokio::test]
async fn leftovers_of_interrupted_work_are_removed() {
    let disk = SimDisk::new(7);
    let (model, _) = sealed_segments(&disk).await;
    for name in [names::temp(0), names::index(9_999), "notes.txt".to_string()] {
        disk.open(&path(&name), OpenMode::Create).await.expect("create");
    }
    let e = open_sim(&disk, config()).await.expect("open");
    assert_eq!(e.recovery().removed_files, 2, "the temp file and the orphan index; foreign files stay");
    assert!(disk.exists(&path("notes.txt")).await.expect("exists"));
    check_matches(&e, &model, 0).await;
}
