//! What one subscriber received of each publisher's sequence: which numbers (a bitset that
//! grows with the sequence), how many came twice, how many came after a later one.
//!
//! A non-shared subscriber should see every message once, in order per publisher. Shared
//! subscribers split the messages: their sets are [`union`](Tracker::union)ed to find what the
//! group lost, and a number held by two members is a duplicate of the group.

/// Sequence numbers at or above this are not tracked (a bitset of 2^32 bits is 512 MiB): a
/// publisher's count is checked against it before the run.
pub const SEQ_MAX: u64 = 1 << 32;

/// The numbers seen from one publisher.
#[derive(Default, Clone)]
struct SeqSet {
    bits: Vec<u64>,
    distinct: u64,
    /// The highest number seen, plus one (0: none yet).
    next: u64,
}

impl SeqSet {
    /// Marks `seq`; false when it was already marked.
    fn insert(&mut self, seq: u64) -> bool {
        let (word, bit) = ((seq / 64) as usize, seq % 64);
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        let mask = 1u64 << bit;
        let fresh = self.bits[word] & mask == 0;
        self.bits[word] |= mask;
        self.distinct += u64::from(fresh);
        fresh
    }
}

/// How a received message fitted its publisher's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// New and after every number seen before.
    InOrder,
    /// New, but after a higher number.
    OutOfOrder,
    /// Seen before.
    Duplicate,
}

/// One subscriber's (or, after [`union`](Tracker::union), one group's) view of every publisher.
#[derive(Default, Clone)]
pub struct Tracker {
    publishers: Vec<SeqSet>,
    pub duplicates: u64,
    pub out_of_order: u64,
}

impl Tracker {
    /// A tracker for publishers `0..publishers`.
    pub fn new(publishers: u32) -> Tracker {
        Tracker { publishers: vec![SeqSet::default(); publishers as usize], ..Tracker::default() }
    }

    /// Records message `seq` of `publisher`; `None` if either is out of range (not this run's).
    pub fn record(&mut self, publisher: u32, seq: u64) -> Option<Arrival> {
        if seq >= SEQ_MAX {
            return None;
        }
        let set = self.publishers.get_mut(publisher as usize)?;
        if !set.insert(seq) {
            self.duplicates += 1;
            return Some(Arrival::Duplicate);
        }
        if seq < set.next {
            self.out_of_order += 1;
            return Some(Arrival::OutOfOrder);
        }
        set.next = seq + 1;
        Some(Arrival::InOrder)
    }

    /// Distinct messages received from every publisher together.
    pub fn distinct(&self) -> u64 {
        self.publishers.iter().map(|s| s.distinct).sum()
    }

    /// Distinct messages received from `publisher`.
    pub fn distinct_from(&self, publisher: u32) -> u64 {
        self.publishers.get(publisher as usize).map_or(0, |s| s.distinct)
    }

    /// The group of `members`: the union of their sets; a number two members hold counts as a
    /// duplicate, on top of each member's own duplicates and out-of-order arrivals.
    pub fn union<'a>(members: impl IntoIterator<Item = &'a Tracker>) -> Tracker {
        let mut group = Tracker::default();
        let mut held = 0;
        for member in members {
            held += member.distinct();
            group.duplicates += member.duplicates;
            group.out_of_order += member.out_of_order;
            if group.publishers.len() < member.publishers.len() {
                group.publishers.resize(member.publishers.len(), SeqSet::default());
            }
            for (mine, theirs) in group.publishers.iter_mut().zip(&member.publishers) {
                if mine.bits.len() < theirs.bits.len() {
                    mine.bits.resize(theirs.bits.len(), 0);
                }
                for (m, t) in mine.bits.iter_mut().zip(&theirs.bits) {
                    *m |= t;
                }
                mine.next = mine.next.max(theirs.next);
            }
        }
        for set in &mut group.publishers {
            set.distinct = set.bits.iter().map(|w| u64::from(w.count_ones())).sum();
        }
        group.duplicates += held - group.distinct();
        group
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_arrivals() {
        let mut t = Tracker::new(2);
        assert_eq!(t.record(0, 0), Some(Arrival::InOrder));
        assert_eq!(t.record(0, 2), Some(Arrival::InOrder));
        assert_eq!(t.record(0, 1), Some(Arrival::OutOfOrder));
        assert_eq!(t.record(0, 2), Some(Arrival::Duplicate));
        assert_eq!(t.record(1, 500), Some(Arrival::InOrder));
        assert_eq!(t.record(2, 0), None);
        assert_eq!(t.record(0, SEQ_MAX), None);
        assert_eq!((t.distinct(), t.distinct_from(0), t.duplicates, t.out_of_order), (4, 3, 1, 1));
    }

    #[test]
    fn a_group_counts_what_two_members_both_hold() {
        let (mut a, mut b) = (Tracker::new(1), Tracker::new(1));
        for s in 0..100 {
            a.record(0, s);
        }
        for s in 90..200 {
            b.record(0, s);
        }
        b.record(0, 150);
        let group = Tracker::union([&a, &b]);
        assert_eq!(group.distinct(), 200);
        assert_eq!(group.duplicates, 10 + 1);
    }
}
