//! The one test suite every [`LogEngine`] passes.
//!
//! Each case asks a [`Harness`] for a fresh, empty engine with some [`Limits`] and panics
//! (a test failure) on the first deviation from the contract. Only what the contract
//! promises is checked, so that engines may differ in everything else (batch sizes are
//! compared through payload bytes, which no encoding can undercut).

use std::collections::BTreeSet;

use async_trait::async_trait;
use bytes::Bytes;

use crate::engine::{LogEngine, LogError, ProducerSeq, Record, StoredRecord};

/// What a case asks of a fresh engine; a harness maps it onto its engine's config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub segment_bytes_max: u64,
    pub retention_bytes: Option<u64>,
    pub retention_ms: Option<u64>,
    pub batch_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { segment_bytes_max: 1024 * 1024, retention_bytes: None, retention_ms: None, batch_bytes_max: 64 * 1024 }
    }
}

/// Makes engines for the suite.
#[async_trait]
pub trait Harness: Send {
    type Engine: LogEngine;
    /// A new, empty engine with `limits` (and anything else as the harness likes).
    async fn fresh(&mut self, limits: Limits) -> Self::Engine;
}

/// Runs every case.
pub async fn run_all<H: Harness>(h: &mut H) {
    dense_offsets_across_batches_and_rolls(h).await;
    reads_from_any_offset_return_exactly_the_right_records(h).await;
    bytes_max_is_honoured_but_reads_return_at_least_one_record(h).await;
    truncate_then_append_reuses_offsets(h).await;
    retention_drops_only_whole_old_segments(h).await;
    offset_for_time_finds_the_first_record_at_or_after(h).await;
    empty_log_edge_cases(h).await;
    oversized_batches_are_refused(h).await;
    producer_sequences_survive_mixed_appends_and_truncation(h).await;
    reset_starts_the_log_over_at_any_offset(h).await;
    records_spanning_offsets_keep_them(h).await;
}

/// A deterministic batch of `n` records for `seed`: values of 0 to 199 bytes, every third
/// record without a key, timestamps around `ts_ms`.
pub fn batch(seed: u64, n: usize, ts_ms: u64) -> Vec<Record> {
    (0..n as u64)
        .map(|i| {
            let len = ((seed * 31 + i * 17) % 200) as usize;
            let value: Vec<u8> = (0..len).map(|j| (seed as usize + i as usize + j) as u8).collect();
            let key = (!(seed + i).is_multiple_of(3)).then(|| Bytes::from(format!("k{seed}-{i}")));
            Record::new(ts_ms + i % 3, key, Bytes::from(value))
        })
        .collect()
}

fn payload(r: &StoredRecord) -> usize {
    r.key.as_ref().map_or(0, Bytes::len) + r.value.len()
}

/// Appends `records`, checking the assigned offsets against `model`, which it extends.
pub async fn append_checked<E: LogEngine>(e: &E, model: &mut Vec<Record>, records: Vec<Record>) -> (u64, u64) {
    let n = records.len() as u64;
    let (base, last) = e.append(records.clone()).await.expect("append");
    assert_eq!(base, model.len() as u64, "offsets are dense: the batch starts at the old end");
    assert_eq!(last, base + n - 1, "the batch's offsets are consecutive");
    assert_eq!(e.end_offset(), last + 1);
    model.extend(records);
    (base, last)
}

/// Reads everything from `from` to the end in small steps.
pub async fn read_to_end<E: LogEngine>(e: &E, from: u64) -> Vec<StoredRecord> {
    let mut out: Vec<StoredRecord> = Vec::new();
    let mut next = from;
    loop {
        let got = e.read(next, 4096).await.expect("read");
        if got.is_empty() {
            assert_eq!(next, e.end_offset(), "an empty read only at the end");
            return out;
        }
        assert_eq!(got[0].offset, next, "a read starts at `from`");
        next = got.last().map_or(next, |r| r.offset + 1);
        out.extend(got);
    }
}

/// Checks that the log holds exactly `model[from..]` from `from` on.
pub async fn check_matches<E: LogEngine>(e: &E, model: &[Record], from: u64) {
    assert_eq!(e.end_offset(), model.len() as u64, "end offset");
    let got = read_to_end(e, from).await;
    assert_eq!(got.len(), model.len() - from as usize, "record count from {from}");
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r.offset, from + i as u64, "dense offsets");
        assert_eq!(r.to_record(), model[r.offset as usize], "record at offset {}", r.offset);
    }
}

/// Offsets stay dense across batches, seals and size-based rolls.
pub async fn dense_offsets_across_batches_and_rolls<H: Harness>(h: &mut H) {
    let e = h.fresh(Limits { segment_bytes_max: 2048, ..Limits::default() }).await;
    let mut model = Vec::new();
    for i in 0..40u64 {
        append_checked(&e, &mut model, batch(i, 1 + i as usize % 7, 1_000 + i)).await;
        if i % 13 == 12 {
            e.seal().await.expect("seal");
        }
    }
    assert_eq!(e.start_offset(), 0);
    check_matches(&e, &model, 0).await;
    assert_eq!(e.sync().await.expect("sync"), model.len() as u64, "sync covers every append");
    assert_eq!(e.durable_end(), model.len() as u64);
}

/// A read from any offset returns that record and every later one, in order.
pub async fn reads_from_any_offset_return_exactly_the_right_records<H: Harness>(h: &mut H) {
    let e = h.fresh(Limits { segment_bytes_max: 1500, ..Limits::default() }).await;
    let mut model = Vec::new();
    for i in 0..25u64 {
        append_checked(&e, &mut model, batch(100 + i, 1 + i as usize % 5, 2_000)).await;
    }
    for from in 0..=model.len() as u64 {
        let got = e.read(from, usize::MAX).await.expect("read");
        let want: Vec<Record> = model[from as usize..].to_vec();
        assert_eq!(got.iter().map(StoredRecord::to_record).collect::<Vec<_>>(), want, "read from {from}");
        assert!(got.iter().zip(from..).all(|(r, o)| r.offset == o), "offsets from {from}");
    }
    let past = model.len() as u64 + 1;
    assert!(matches!(e.read(past, 100).await, Err(LogError::OffsetOutOfRange { .. })), "a read past the end");
}

/// Reads stop at whole batches within `bytes_max`, but always return the rest of the batch
/// holding `from`.
pub async fn bytes_max_is_honoured_but_reads_return_at_least_one_record<H: Harness>(h: &mut H) {
    let e = h.fresh(Limits { segment_bytes_max: 3000, ..Limits::default() }).await;
    let mut model = Vec::new();
    let mut batch_ends = BTreeSet::new();
    for i in 0..20u64 {
        let (_, last) = append_checked(&e, &mut model, batch(200 + i, 1 + i as usize % 6, 3_000)).await;
        batch_ends.insert(last + 1);
    }
    let budgets = [0usize, 1, 50, 300, 1_000, 4_000, usize::MAX];
    for from in [0u64, 1, 2, 7, 20, model.len() as u64 - 1] {
        let first_end = *batch_ends.range(from + 1..).next().expect("a batch holds `from`");
        let mut prev_len = 0;
        for bytes_max in budgets {
            let got = e.read(from, bytes_max).await.expect("read");
            assert!(!got.is_empty() && got[0].offset == from, "at least one record, from `from`");
            let want = &model[from as usize..from as usize + got.len()];
            assert!(got.iter().zip(want).all(|(g, w)| g.to_record() == *w), "a prefix of the log");
            let got_end = got.last().map_or(from, |r| r.offset + 1);
            assert!(batch_ends.contains(&got_end), "reads end on a batch boundary");
            if got_end > first_end {
                let bytes: usize = got.iter().map(payload).sum();
                assert!(bytes <= bytes_max, "{bytes} payload bytes past the first batch, budget {bytes_max}");
            }
            if bytes_max == 0 {
                assert_eq!(got_end, first_end, "a zero budget returns the rest of the first batch only");
            }
            assert!(got.len() >= prev_len, "a larger budget never returns less");
            prev_len = got.len();
        }
        assert_eq!(prev_len, model.len() - from as usize, "an unlimited budget returns everything");
    }
}

/// Truncation removes exactly the suffix, durably, and appends reuse the offsets.
pub async fn truncate_then_append_reuses_offsets<H: Harness>(h: &mut H) {
    let e = h.fresh(Limits { segment_bytes_max: 1500, ..Limits::default() }).await;
    let mut model = Vec::new();
    for i in 0..30u64 {
        append_checked(&e, &mut model, batch(300 + i, 1 + i as usize % 5, 4_000)).await;
    }
    e.sync().await.expect("sync");
    let mid = model.len() as u64 * 2 / 3 + 1;
    for end in [mid, mid - 5, mid - 9] {
        e.truncate(end).await.expect("truncate");
        model.truncate(end as usize);
        assert!(e.durable_end() <= e.end_offset());
        check_matches(&e, &model, 0).await;
        append_checked(&e, &mut model, batch(end, 3, 4_500)).await;
        check_matches(&e, &model, 0).await;
    }
    e.seal().await.expect("seal");
    let sealed_at = e.end_offset();
    append_checked(&e, &mut model, batch(77, 4, 4_600)).await;
    e.truncate(sealed_at).await.expect("truncate at a segment boundary");
    model.truncate(sealed_at as usize);
    check_matches(&e, &model, 0).await;
    let end = e.end_offset();
    e.truncate(end).await.expect("truncate at the end is a no-op");
    e.truncate(end + 5).await.expect("truncate past the end is a no-op");
    assert_eq!(e.end_offset(), end);
    e.truncate(0).await.expect("truncate everything");
    model.clear();
    assert_eq!((e.start_offset(), e.end_offset()), (0, 0));
    assert!(e.read(0, 100).await.expect("read").is_empty());
    append_checked(&e, &mut model, batch(78, 2, 4_700)).await;
    check_matches(&e, &model, 0).await;
}

/// Retention drops whole sealed segments from the start, never the active one, and never a
/// segment holding an offset at or above the committed end.
pub async fn retention_drops_only_whole_old_segments<H: Harness>(h: &mut H) {
    let e = h.fresh(Limits { retention_ms: Some(1_000), ..Limits::default() }).await;
    let mut model = Vec::new();
    for (i, ts) in [(0u64, 1_000u64), (1, 1_000), (2, 1_000)] {
        append_checked(&e, &mut model, batch(400 + i, 3, ts)).await;
    }
    e.seal().await.expect("seal");
    let first_seal = e.end_offset();
    for i in 0..2u64 {
        append_checked(&e, &mut model, batch(410 + i, 2, 5_000)).await;
    }
    e.seal().await.expect("seal");
    let second_seal = e.end_offset();
    append_checked(&e, &mut model, batch(420, 4, 9_000)).await;
    e.set_committed_end(first_seal - 1);
    assert_eq!(e.apply_retention(5_500).await.expect("retention"), 0, "the old segment is not all committed");
    e.set_committed_end(e.end_offset());
    assert_eq!(e.apply_retention(500).await.expect("retention"), 0, "nothing is old yet");
    let stored_before = e.stored_bytes();
    assert_eq!(e.apply_retention(5_500).await.expect("retention"), first_seal, "the first segment is too old");
    if let (Some(before), Some(after)) = (stored_before, e.stored_bytes()) {
        assert!(0 < after && after < before, "stored bytes shrink with retention: {before} -> {after}");
    }
    assert_eq!(e.start_offset(), first_seal);
    for below in [0, first_seal - 1] {
        let r = e.read(below, 100).await;
        assert!(matches!(r, Err(LogError::OffsetOutOfRange { .. })), "read below the start: {r:?}");
    }
    check_matches(&e, &model, first_seal).await;
    assert_eq!(e.apply_retention(1_000_000).await.expect("retention"), second_seal, "the active segment stays");
    assert_eq!(e.apply_retention(u64::MAX).await.expect("retention"), second_seal);
    check_matches(&e, &model, second_seal).await;
    let r = e.truncate(second_seal - 1).await;
    assert!(matches!(r, Err(LogError::OffsetOutOfRange { .. })), "truncate below the start: {r:?}");

    let e = h.fresh(Limits { retention_bytes: Some(1), ..Limits::default() }).await;
    let mut model = Vec::new();
    for i in 0..3u64 {
        append_checked(&e, &mut model, batch(430 + i, 5, 10_000)).await;
        e.seal().await.expect("seal");
    }
    append_checked(&e, &mut model, batch(440, 5, 10_000)).await;
    e.set_committed_end(e.end_offset());
    let active_base = model.len() as u64 - 5;
    assert_eq!(e.apply_retention(0).await.expect("retention"), active_base, "every sealed segment is over");
    check_matches(&e, &model, active_base).await;

    let e = h.fresh(Limits { retention_bytes: Some(10 << 20), ..Limits::default() }).await;
    let mut model = Vec::new();
    append_checked(&e, &mut model, batch(450, 5, 0)).await;
    e.seal().await.expect("seal");
    append_checked(&e, &mut model, batch(451, 5, 0)).await;
    assert_eq!(e.apply_retention(u64::MAX).await.expect("retention"), 0, "within the byte limit");
}

/// `offset_for_time` finds the first record at or after a time, timestamps being unordered.
pub async fn offset_for_time_finds_the_first_record_at_or_after<H: Harness>(h: &mut H) {
    let e = h.fresh(Limits { segment_bytes_max: 600, ..Limits::default() }).await;
    let mut model = Vec::new();
    let stamps: [&[u64]; 7] = [&[100, 100, 105], &[90, 200], &[300, 250], &[400], &[500, 150], &[600; 5], &[550, 700]];
    for (i, ts) in stamps.iter().enumerate() {
        let mut recs = batch(500 + i as u64, ts.len(), 0);
        for (r, t) in recs.iter_mut().zip(ts.iter()) {
            r.timestamp_ms = *t;
        }
        append_checked(&e, &mut model, recs).await;
        if i == 2 {
            e.seal().await.expect("seal");
        }
    }
    for ts in
        [0, 90, 100, 101, 105, 106, 150, 200, 201, 250, 260, 300, 400, 401, 500, 501, 600, 601, 700, 701, u64::MAX]
    {
        let want = model.iter().position(|r| r.timestamp_ms >= ts).map_or(model.len() as u64, |p| p as u64);
        assert_eq!(e.offset_for_time(ts).await.expect("offset_for_time"), want, "first offset at or after {ts}");
    }
}

/// An empty log: every operation works and says so.
pub async fn empty_log_edge_cases<H: Harness>(h: &mut H) {
    let e = h.fresh(Limits { retention_bytes: Some(0), retention_ms: Some(0), ..Limits::default() }).await;
    assert_eq!((e.start_offset(), e.end_offset(), e.durable_end()), (0, 0, 0));
    assert!(matches!(e.stored_bytes(), None | Some(0)), "an empty log stores nothing: {:?}", e.stored_bytes());
    assert!(e.read(0, 0).await.expect("read at the end").is_empty());
    assert!(matches!(e.read(1, 100).await, Err(LogError::OffsetOutOfRange { requested: 1, start: 0, end: 0 })));
    assert_eq!(e.sync().await.expect("sync"), 0);
    e.seal().await.expect("seal of an empty segment");
    assert_eq!(e.apply_retention(u64::MAX).await.expect("retention"), 0);
    assert_eq!(e.offset_for_time(0).await.expect("offset_for_time"), 0);
    assert_eq!(e.offset_for_time(u64::MAX).await.expect("offset_for_time"), 0);
    e.truncate(0).await.expect("truncate");
    let mut model = Vec::new();
    append_checked(&e, &mut model, batch(600, 1, 0)).await;
    assert_eq!(e.read(1, 100).await.expect("read at the end").len(), 0);
}

/// A batch over `batch_bytes_max` is refused whole, and the log is unchanged.
pub async fn oversized_batches_are_refused<H: Harness>(h: &mut H) {
    let e = h.fresh(Limits { batch_bytes_max: 1_000, ..Limits::default() }).await;
    let mut model = Vec::new();
    append_checked(&e, &mut model, batch(700, 2, 0)).await;
    let big = vec![Record::new(0, None, Bytes::from(vec![7u8; 1_000]))];
    let r = e.append(big).await;
    assert!(matches!(r, Err(LogError::TooLarge { max: 1_000, .. })), "{r:?}");
    append_checked(&e, &mut model, batch(701, 2, 0)).await;
    check_matches(&e, &model, 0).await;
}

/// Records carry their producer and sequence through appends that mix producers, reads from
/// inside a run, and truncation into the middle of a run.
pub async fn producer_sequences_survive_mixed_appends_and_truncation<H: Harness>(h: &mut H) {
    let e = h.fresh(Limits { segment_bytes_max: 1024, ..Limits::default() }).await;
    let tag = |id: u64, sequence: u32| Some(ProducerSeq { producer_id: id, producer_epoch: 1, sequence });
    let mut model = Vec::new();
    for i in 0..12u64 {
        let mut records = batch(300 + i, 6, 5_000);
        for (j, r) in records.iter_mut().enumerate() {
            // Two producers interleaved in runs, with a plain record now and then.
            let j = j as u64;
            r.producer = match (i + j) % 5 {
                0 => None,
                1 | 2 => tag(7, (i * 6 + j) as u32),
                _ => tag(8, (i * 6 + j) as u32),
            };
        }
        append_checked(&e, &mut model, records).await;
    }
    check_matches(&e, &model, 0).await;
    check_matches(&e, &model, 33).await;
    e.truncate(40).await.expect("truncate");
    model.truncate(40);
    check_matches(&e, &model, 0).await;
    let mut more = batch(400, 3, 5_000);
    more.iter_mut().enumerate().for_each(|(j, r)| r.producer = tag(7, 100 + j as u32));
    append_checked(&e, &mut model, more).await;
    check_matches(&e, &model, 0).await;
}

/// `reset` discards everything and starts the log over, empty, at any offset (above or below
/// the old end); appends continue from there and nothing older can be read.
pub async fn reset_starts_the_log_over_at_any_offset<H: Harness>(h: &mut H) {
    let e = h.fresh(Limits { segment_bytes_max: 1024, ..Limits::default() }).await;
    let mut model = Vec::new();
    for i in 0..10u64 {
        append_checked(&e, &mut model, batch(500 + i, 4, 7_000)).await;
    }
    e.sync().await.expect("sync");
    for start in [1_000u64, 12] {
        e.reset(start).await.expect("reset");
        assert_eq!((e.start_offset(), e.end_offset(), e.durable_end()), (start, start, start), "after reset({start})");
        assert!(e.read(start, 4096).await.expect("read").is_empty(), "an empty log");
        if start > 0 {
            assert!(matches!(e.read(start - 1, 100).await, Err(LogError::OffsetOutOfRange { .. })), "below the start");
        }
        let (base, last) = e.append(batch(600, 3, 8_000)).await.expect("append after reset");
        assert_eq!((base, last), (start, start + 2));
        assert_eq!(e.sync().await.expect("sync"), start + 3);
        let got = read_to_end(&e, start).await;
        assert_eq!(got.iter().map(StoredRecord::to_record).collect::<Vec<_>>(), batch(600, 3, 8_000));
    }
}

/// A record of span `n` takes `n` offsets: appends, reads from any offset inside it (the
/// record holding it comes first), producer sequences, truncation at its boundaries and
/// inside it (it goes whole), time lookups and a restart of the offsets after it.
pub async fn records_spanning_offsets_keep_them<H: Harness>(h: &mut H) {
    let e = h.fresh(Limits { segment_bytes_max: 1024, ..Limits::default() }).await;
    let spans = [1u32, 5, 1, 3, 2, 7, 1, 4];
    // (first offset, record) for every record appended.
    let mut model: Vec<(u64, Record)> = Vec::new();
    let mut next = 0u64;
    let mut sequence = 0u32;
    for (i, chunk) in spans.chunks(3).enumerate() {
        let mut records = batch(700 + i as u64, chunk.len(), 9_000 + 10 * i as u64);
        for (r, &span) in records.iter_mut().zip(chunk) {
            r.span = span;
            r.producer = Some(ProducerSeq { producer_id: 4, producer_epoch: 0, sequence });
            sequence += span;
        }
        let total: u64 = chunk.iter().map(|&s| u64::from(s)).sum();
        let (base, last) = e.append(records.clone()).await.expect("append");
        assert_eq!((base, last), (next, next + total - 1), "a batch takes its records' spans");
        for r in records {
            model.push((next, r.clone()));
            next += u64::from(r.span);
        }
        assert_eq!(e.end_offset(), next);
    }
    e.sync().await.expect("sync");
    let holding = |o: u64| model.iter().position(|(first, r)| *first <= o && o < first + u64::from(r.span));
    for from in 0..next {
        let got = e.read(from, 1 << 20).await.expect("read");
        let i = holding(from).expect("every offset is held");
        assert_eq!(got[0].offset, model[i].0, "a read from {from} starts with the record holding it");
        let want: Vec<Record> = model[i..].iter().map(|(_, r)| r.clone()).collect();
        assert_eq!(got.iter().map(StoredRecord::to_record).collect::<Vec<_>>(), want, "from {from}");
        assert!(got.iter().all(|r| r.span == r.to_record().span));
    }
    // A time lookup finds a record's first offset.
    let (at, ts) = (model[4].0, model[4].1.timestamp_ms);
    let first_at_ts = model.iter().find(|(_, r)| r.timestamp_ms >= ts).map(|(o, _)| *o);
    assert_eq!(e.offset_for_time(ts).await.expect("time"), first_at_ts.expect("found"));
    assert!(at >= first_at_ts.unwrap_or(0));
    // Truncating inside a record drops it whole; at a boundary, exactly there.
    let (inside, boundary) = (model[5].0 + 3, model[5].0);
    e.truncate(inside).await.expect("truncate inside");
    assert_eq!(e.end_offset(), boundary, "a record straddling the end goes whole");
    assert!(e.durable_end() <= boundary);
    model.truncate(5);
    let got = read_to_end_spanning(&e, 0).await;
    assert_eq!(got, model.iter().map(|(_, r)| r.clone()).collect::<Vec<_>>());
    e.truncate(model[3].0).await.expect("truncate at a boundary");
    assert_eq!(e.end_offset(), model[3].0);
    model.truncate(3);
    let mut more = batch(800, 2, 9_500);
    more[0].span = 6;
    let (base, last) = e.append(more.clone()).await.expect("append after truncation");
    assert_eq!((base, last), (model[2].0 + 1, model[2].0 + 7));
    let got = read_to_end_spanning(&e, 0).await;
    let mut want: Vec<Record> = model.iter().map(|(_, r)| r.clone()).collect();
    want.extend(more);
    assert_eq!(got, want);
}

/// Every record from `from` to the end, for logs with spanning records.
async fn read_to_end_spanning<E: LogEngine>(e: &E, from: u64) -> Vec<Record> {
    let mut out: Vec<Record> = Vec::new();
    let mut next = from;
    while next < e.end_offset() {
        let got = e.read(next, 256).await.expect("read");
        assert!(!got.is_empty(), "a read below the end returns a record");
        next = got.last().expect("non-empty").end_offset();
        out.extend(got.iter().map(StoredRecord::to_record));
    }
    out
}
