//! [`ProducerTable`]: what a shard replica knows of its idempotent producers, to deduplicate
//! retried produce requests.
//!
//! A producer numbers its records per shard (`sequence` 0, 1, 2, … within a `producer_epoch`)
//! and sends one request at a time; a request whose outcome it did not learn (a timeout, a
//! leader change) is retried with the same numbers. The leader checks each request against
//! the table: the next numbers are appended; numbers it holds already are answered with the
//! offsets they were written at (once committed), never appended twice.
//!
//! Every replica keeps the table up to date from its own log — leaders from what they append,
//! followers from what they fetch, a restarted replica by scanning its log — so a new leader
//! deduplicates retries of requests its predecessor appended. Truncation removes the entries
//! of the records it removes. Per producer only the last [`BATCHES_KEPT`] requests are kept:
//! a producer with one request in flight retries only its latest.

use std::collections::{BTreeMap, VecDeque};

use crate::engine::{ProducerSeq, StoredRecord};

/// Requests remembered per producer.
pub const BATCHES_KEPT: usize = 5;

/// The producer fields of one produce request: `count` records numbered from `first`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: u64,
    pub producer_epoch: u16,
    pub first_sequence: u32,
    pub count: u32,
}

impl ProducerBatch {
    /// The last record's sequence (`None` if the numbers overflow).
    pub fn last_sequence(&self) -> Option<u32> {
        self.count.checked_sub(1).and_then(|c| self.first_sequence.checked_add(c))
    }
}

/// What the table says of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProducerCheck {
    /// New numbers: append them.
    Append,
    /// Already written at `base..=last`.
    Duplicate { base: u64, last: u64 },
    /// The same request is being appended right now: the producer retries later.
    InFlight,
    /// A gap or a partial overlap: the producer lost track (it retries only after a timeout
    /// and never skips numbers). `expected` is the next sequence the shard expects.
    OutOfOrder { expected: u32 },
    /// The producer's epoch is older than one already seen.
    Fenced { current: u16 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    first: u32,
    last: u32,
    /// Where it was written; `None` while the leader appends it.
    offsets: Option<(u64, u64)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Producer {
    epoch: u16,
    entries: VecDeque<Entry>,
}

/// Producers and their latest requests, per shard replica.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProducerTable {
    producers: BTreeMap<u64, Producer>,
}

impl ProducerTable {
    /// Rebuilds the table from a log read in order (records without a producer are skipped).
    pub fn from_log<'a>(records: impl IntoIterator<Item = &'a StoredRecord>) -> Self {
        let mut t = ProducerTable::default();
        for r in records {
            if let Some(p) = r.producer {
                t.observe_record(p, r.offset, r.span);
            }
        }
        t
    }

    /// Checks a request against what is known (a producer never seen starts anywhere: its
    /// history may have been dropped by retention or never reached this replica).
    pub fn check(&self, b: &ProducerBatch) -> ProducerCheck {
        let Some(last) = b.last_sequence() else { return ProducerCheck::OutOfOrder { expected: 0 } };
        let Some(p) = self.producers.get(&b.producer_id) else { return ProducerCheck::Append };
        if b.producer_epoch < p.epoch {
            return ProducerCheck::Fenced { current: p.epoch };
        }
        if b.producer_epoch > p.epoch {
            return ProducerCheck::Append;
        }
        // Within a known run, sequences map one to one onto consecutive offsets: a retry of a
        // request that was merged with its neighbours (as the log shows them) is found too.
        if let Some(e) = p.entries.iter().find(|e| e.first <= b.first_sequence && last <= e.last) {
            return match e.offsets {
                Some((base, _)) => ProducerCheck::Duplicate {
                    base: base + u64::from(b.first_sequence - e.first),
                    last: base + u64::from(last - e.first),
                },
                None => ProducerCheck::InFlight,
            };
        }
        match p.entries.back() {
            Some(e) if e.last.checked_add(1) != Some(b.first_sequence) => {
                ProducerCheck::OutOfOrder { expected: e.last.wrapping_add(1) }
            }
            _ => ProducerCheck::Append,
        }
    }

    /// (Leader) The request passed [`check`](Self::check) as `Append` and is being appended.
    pub fn begin(&mut self, b: &ProducerBatch) {
        let last = b.last_sequence().expect("checked before");
        self.push(b.producer_id, b.producer_epoch, Entry { first: b.first_sequence, last, offsets: None });
    }

    /// (Leader) The request begun earlier landed at `base..=last`.
    pub fn appended(&mut self, b: &ProducerBatch, base: u64, last: u64) {
        let found = self.producers.get_mut(&b.producer_id).and_then(|p| {
            (p.epoch == b.producer_epoch).then_some(())?;
            p.entries.iter_mut().find(|e| e.first == b.first_sequence && e.offsets.is_none())
        });
        match found {
            Some(e) => e.offsets = Some((base, last)),
            // The entry was dropped (the replica changed role meanwhile): the records stand.
            None => self.observe(b, base),
        }
    }

    /// Records `b` written at `base..` by someone else (a follower appending fetched records).
    pub fn observe(&mut self, b: &ProducerBatch, base: u64) {
        let Some(last) = b.last_sequence() else { return };
        let offsets = Some((base, base + u64::from(b.count) - 1));
        self.push(b.producer_id, b.producer_epoch, Entry { first: b.first_sequence, last, offsets });
    }

    /// A record of `span` offsets (and as many sequences) from `p.sequence`, at `offset`.
    fn observe_record(&mut self, p: ProducerSeq, offset: u64, span: u32) {
        let span = span.max(1);
        let (Some(last_seq), Some(last_offset)) =
            (p.sequence.checked_add(span - 1), offset.checked_add(u64::from(span) - 1))
        else {
            return;
        };
        let extends = self.producers.get_mut(&p.producer_id).and_then(|q| {
            let e = q.entries.back_mut().filter(|_| q.epoch == p.producer_epoch)?;
            let (base, last) = e.offsets?;
            (e.last.checked_add(1) == Some(p.sequence) && last + 1 == offset).then_some(())?;
            e.last = last_seq;
            e.offsets = Some((base, last_offset));
            Some(())
        });
        if extends.is_none() {
            let entry = Entry { first: p.sequence, last: last_seq, offsets: Some((offset, last_offset)) };
            self.push(p.producer_id, p.producer_epoch, entry);
        }
    }

    fn push(&mut self, id: u64, epoch: u16, entry: Entry) {
        let p = self.producers.entry(id).or_insert(Producer { epoch, entries: VecDeque::new() });
        if epoch != p.epoch {
            *p = Producer { epoch, entries: VecDeque::new() };
        }
        p.entries.push_back(entry);
        while p.entries.len() > BATCHES_KEPT {
            p.entries.pop_front();
        }
    }

    /// Forgets requests being appended (the replica stops leading; their appends, if they
    /// land, are recorded by [`appended`](Self::appended)).
    pub fn drop_in_flight(&mut self) {
        for p in self.producers.values_mut() {
            p.entries.retain(|e| e.offsets.is_some());
        }
        self.producers.retain(|_, p| !p.entries.is_empty());
    }

    /// Forgets what was written at or above `end` (a truncation).
    pub fn truncate(&mut self, end: u64) {
        for p in self.producers.values_mut() {
            p.entries.retain(|e| e.offsets.is_some_and(|(base, _)| base < end));
            if let Some(e) = p.entries.back_mut() {
                let (base, last) = e.offsets.expect("kept above");
                if last >= end {
                    // A run cut in the middle: keep its first part.
                    e.last = e.first + (end - 1 - base) as u32;
                    e.offsets = Some((base, end - 1));
                }
            }
        }
        self.producers.retain(|_, p| !p.entries.is_empty());
    }

    /// The producer ids known (for diagnostics and tests).
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }
}

/// The producer runs of `records` (as appended in order from `base`): each with its offset.
pub fn runs_of(records: &[crate::engine::Record], base: u64) -> Vec<(ProducerBatch, u64)> {
    let mut out: Vec<(ProducerBatch, u64)> = Vec::new();
    let mut offset = base;
    for r in records {
        let at = offset;
        let span = r.span.max(1);
        offset += u64::from(span);
        let Some(p) = r.producer else { continue };
        if let Some((b, start)) = out.last_mut() {
            let follows = b.producer_id == p.producer_id
                && b.producer_epoch == p.producer_epoch
                && b.last_sequence().and_then(|l| l.checked_add(1)) == Some(p.sequence)
                && *start + u64::from(b.count) == at;
            if let Some(count) = b.count.checked_add(span).filter(|_| follows) {
                b.count = count;
                continue;
            }
        }
        let b = ProducerBatch {
            producer_id: p.producer_id,
            producer_epoch: p.producer_epoch,
            first_sequence: p.sequence,
            count: span,
        };
        out.push((b, at));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(id: u64, epoch: u16, first: u32, count: u32) -> ProducerBatch {
        ProducerBatch { producer_id: id, producer_epoch: epoch, first_sequence: first, count }
    }

    #[test]
    fn retries_of_appended_requests_are_duplicates_with_their_offsets() {
        let mut t = ProducerTable::default();
        let b = batch(1, 0, 0, 3);
        assert_eq!(t.check(&b), ProducerCheck::Append);
        t.begin(&b);
        assert_eq!(t.check(&b), ProducerCheck::InFlight);
        t.appended(&b, 10, 12);
        assert_eq!(t.check(&b), ProducerCheck::Duplicate { base: 10, last: 12 });
        assert_eq!(t.check(&batch(1, 0, 3, 1)), ProducerCheck::Append);
        assert_eq!(t.check(&batch(1, 0, 4, 1)), ProducerCheck::OutOfOrder { expected: 3 });
        assert_eq!(t.check(&batch(1, 0, 1, 2)), ProducerCheck::Duplicate { base: 11, last: 12 }, "a part");
        assert_eq!(t.check(&batch(1, 0, 2, 2)), ProducerCheck::OutOfOrder { expected: 3 }, "partial overlap");
        assert_eq!(t.check(&batch(2, 0, 7, 1)), ProducerCheck::Append, "unknown producers start anywhere");
    }

    #[test]
    fn epochs_fence_older_and_reset_for_newer() {
        let mut t = ProducerTable::default();
        let b = batch(1, 3, 0, 1);
        t.begin(&b);
        t.appended(&b, 0, 0);
        assert_eq!(t.check(&batch(1, 2, 1, 1)), ProducerCheck::Fenced { current: 3 });
        let newer = batch(1, 4, 0, 1);
        assert_eq!(t.check(&newer), ProducerCheck::Append);
        t.begin(&newer);
        t.appended(&newer, 1, 1);
        assert_eq!(t.check(&b), ProducerCheck::Fenced { current: 4 });
    }

    #[test]
    fn records_spanning_several_offsets_rebuild_their_sequences() {
        let rec = |offset, sequence, span| StoredRecord {
            offset,
            timestamp_ms: 0,
            key: None,
            value: bytes::Bytes::new(),
            producer: Some(ProducerSeq { producer_id: 5, producer_epoch: 0, sequence }),
            span,
        };
        // Two batches kept whole: sequences 0..=2 at offsets 10..=12, then 3..=6 at 13..=16.
        let rebuilt = ProducerTable::from_log(&[rec(10, 0, 3), rec(13, 3, 4)]);
        assert_eq!(rebuilt.check(&batch(5, 0, 3, 4)), ProducerCheck::Duplicate { base: 13, last: 16 });
        assert_eq!(rebuilt.check(&batch(5, 0, 0, 3)), ProducerCheck::Duplicate { base: 10, last: 12 });
        assert_eq!(rebuilt.check(&batch(5, 0, 7, 2)), ProducerCheck::Append);
        assert_eq!(rebuilt.check(&batch(5, 0, 8, 1)), ProducerCheck::OutOfOrder { expected: 7 });
    }

    #[test]
    fn the_log_rebuilds_the_table_a_follower_observes() {
        let rec = |offset, sequence| StoredRecord {
            offset,
            timestamp_ms: 0,
            key: None,
            value: bytes::Bytes::new(),
            producer: Some(ProducerSeq { producer_id: 5, producer_epoch: 0, sequence }),
            span: 1,
        };
        let log = [rec(0, 0), rec(1, 1), rec(2, 2), rec(3, 3)];
        let rebuilt = ProducerTable::from_log(&log);
        // Requests cannot be told apart in the log (adjacent runs merge): a retry of any part
        // of a run is found with its own offsets.
        assert_eq!(rebuilt.check(&batch(5, 0, 0, 4)), ProducerCheck::Duplicate { base: 0, last: 3 });
        assert_eq!(rebuilt.check(&batch(5, 0, 2, 2)), ProducerCheck::Duplicate { base: 2, last: 3 });
        assert_eq!(rebuilt.check(&batch(5, 0, 4, 1)), ProducerCheck::Append);
        assert_eq!(rebuilt.check(&batch(5, 0, 3, 2)), ProducerCheck::OutOfOrder { expected: 4 }, "overlap");
        let mut observed = ProducerTable::default();
        observed.observe(&batch(5, 0, 0, 4), 0);
        assert_eq!(observed.check(&batch(5, 0, 0, 4)), ProducerCheck::Duplicate { base: 0, last: 3 });
    }

    /// A truncation just past a producer's observed batch keeps that batch whole and no more:
    /// its next sequence stays a new request (were the batch's last offset overestimated, the
    /// cut would stretch the batch over a sequence it does not hold).
    #[test]
    fn a_cut_just_past_an_observed_batch_leaves_its_sequences_as_they_were() {
        let mut t = ProducerTable::default();
        t.observe(&batch(1, 0, 0, 3), 10); // sequences 0..=2 at offsets 10..=12
        t.observe(&batch(2, 0, 0, 1), 13);
        t.truncate(14);
        assert_eq!(t.check(&batch(1, 0, 0, 3)), ProducerCheck::Duplicate { base: 10, last: 12 });
        assert_eq!(t.check(&batch(1, 0, 3, 1)), ProducerCheck::Append);
    }

    /// A producer's records with another's between them are two runs, each with its own
    /// offsets: a run joins the previous one only when both its sequence and its offset follow.
    #[test]
    fn the_log_joins_a_producers_records_only_where_sequence_and_offset_both_follow() {
        let rec = |offset, producer_id, sequence| StoredRecord {
            offset,
            timestamp_ms: 0,
            key: None,
            value: bytes::Bytes::new(),
            producer: Some(ProducerSeq { producer_id, producer_epoch: 0, sequence }),
            span: 1,
        };
        let rebuilt = ProducerTable::from_log(&[rec(10, 5, 0), rec(11, 6, 0), rec(12, 5, 1)]);
        assert_eq!(rebuilt.check(&batch(5, 0, 1, 1)), ProducerCheck::Duplicate { base: 12, last: 12 });
        assert_eq!(rebuilt.check(&batch(5, 0, 0, 1)), ProducerCheck::Duplicate { base: 10, last: 10 });
        assert_eq!(rebuilt.check(&batch(5, 0, 0, 2)), ProducerCheck::OutOfOrder { expected: 2 }, "not one run");
    }

    #[test]
    fn only_the_last_batches_kept_of_a_producer_are_known() {
        let mut t = ProducerTable::default();
        assert!(t.is_empty());
        for seq in 0..BATCHES_KEPT as u32 {
            t.observe(&batch(1, 0, seq, 1), u64::from(seq));
        }
        assert_eq!(t.check(&batch(1, 0, 0, 1)), ProducerCheck::Duplicate { base: 0, last: 0 }, "all kept");
        t.observe(&batch(1, 0, BATCHES_KEPT as u32, 1), BATCHES_KEPT as u64);
        let expected = BATCHES_KEPT as u32 + 1;
        assert_eq!(t.check(&batch(1, 0, 0, 1)), ProducerCheck::OutOfOrder { expected }, "the oldest is forgotten");
        assert_eq!(t.check(&batch(1, 0, 1, 1)), ProducerCheck::Duplicate { base: 1, last: 1 });
        assert!(!t.is_empty());
    }

    /// Truncations exactly at a batch's first offset, and one past a run already cut.
    #[test]
    fn truncation_at_a_batch_boundary_removes_the_batch_and_a_cut_run_stays_cut() {
        let mut t = ProducerTable::default();
        t.observe(&batch(1, 0, 0, 4), 0); // sequences 0..=3 at 0..=3
        t.observe(&batch(1, 0, 4, 2), 4); // 4..=5 at 4..=5
        t.observe(&batch(2, 0, 0, 1), 6);
        assert_eq!(t.len(), 2);
        t.truncate(4);
        assert_eq!(t.check(&batch(1, 0, 4, 2)), ProducerCheck::Append, "the batch at 4 is gone");
        assert_eq!(t.len(), 1);
        t.truncate(2);
        assert_eq!(t.check(&batch(1, 0, 0, 2)), ProducerCheck::Duplicate { base: 0, last: 1 });
        // Another producer wrote at 2; cutting at 3 leaves producer 1's run (0..=1) alone.
        t.observe(&batch(2, 0, 0, 1), 2);
        t.truncate(3);
        assert_eq!(t.check(&batch(1, 0, 2, 1)), ProducerCheck::Append);
    }

    #[test]
    fn truncation_forgets_what_it_removes() {
        let mut t = ProducerTable::default();
        t.observe(&batch(1, 0, 0, 2), 0);
        t.observe(&batch(1, 0, 2, 4), 2);
        t.observe(&batch(2, 0, 0, 1), 6);
        t.truncate(4);
        assert_eq!(t.check(&batch(1, 0, 2, 2)), ProducerCheck::Duplicate { base: 2, last: 3 }, "cut run kept");
        assert_eq!(t.check(&batch(1, 0, 4, 2)), ProducerCheck::Append, "the retry of the cut part");
        assert_eq!(t.check(&batch(2, 0, 0, 1)), ProducerCheck::Append, "removed entirely");
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn runs_follow_producers_and_sequences() {
        let rec = |id, sequence| crate::engine::Record {
            producer: (id > 0).then_some(ProducerSeq { producer_id: id, producer_epoch: 0, sequence }),
            ..crate::engine::Record::new(0, None, bytes::Bytes::new())
        };
        let recs = [rec(1, 0), rec(1, 1), rec(0, 0), rec(1, 2), rec(2, 0), rec(2, 1)];
        assert_eq!(
            runs_of(&recs, 100),
            vec![(batch(1, 0, 0, 2), 100), (batch(1, 0, 2, 1), 103), (batch(2, 0, 0, 2), 104)]
        );
    }
}
