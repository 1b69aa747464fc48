//! The leader-epoch cache: at which offset each leader epoch began writing.
//!
//! A replica records `(epoch, start_offset)` when it becomes leader (at its log end) and, as
//! a follower, when fetched records carry a new epoch. It answers "where did epoch `e` end?" —
//! the start of the next greater epoch, or the log end for the latest one — which is how a
//! follower coming back finds the divergent suffix it must truncate (Kafka's KIP-101 and
//! KIP-320): offsets it holds beyond the end of its last epoch on the leader were never
//! committed.

/// Epoch start offsets, strictly increasing in both epoch and offset (an epoch that wrote
/// nothing is replaced by the next one at the same offset).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EpochCache {
    entries: Vec<(u64, u64)>,
}

impl EpochCache {
    pub fn new() -> Self {
        EpochCache::default()
    }

    /// From persisted entries; refuses entries that are not increasing.
    pub fn from_entries(entries: Vec<(u64, u64)>) -> Result<Self, String> {
        for w in entries.windows(2) {
            if w[0].0 >= w[1].0 || w[0].1 > w[1].1 {
                return Err(format!("epoch cache not increasing: {:?} then {:?}", w[0], w[1]));
            }
        }
        Ok(EpochCache { entries })
    }

    pub fn entries(&self) -> &[(u64, u64)] {
        &self.entries
    }

    /// The latest epoch, if any.
    pub fn latest(&self) -> Option<u64> {
        self.entries.last().map(|e| e.0)
    }

    /// Records that `epoch` starts at `start_offset`. Ignored if `epoch` is not newer than the
    /// latest; an older epoch starting at the same offset wrote nothing and is replaced.
    pub fn assign(&mut self, epoch: u64, start_offset: u64) {
        if let Some(&(e, s)) = self.entries.last() {
            if epoch <= e {
                return;
            }
            assert!(start_offset >= s, "epoch {epoch} starts at {start_offset}, before epoch {e} at {s}");
            if start_offset == s {
                self.entries.pop();
            }
        }
        self.entries.push((epoch, start_offset));
    }

    /// The largest epoch `<= epoch` and where it ended (exclusive): the next epoch's start, or
    /// `log_end` for the latest. `None` when no epoch `<= epoch` is known.
    pub fn end_of(&self, epoch: u64, log_end: u64) -> Option<(u64, u64)> {
        let i = self.entries.partition_point(|(e, _)| *e <= epoch);
        if i == 0 {
            return None;
        }
        let end = self.entries.get(i).map_or(log_end, |(_, start)| *start);
        Some((self.entries[i - 1].0, end))
    }

    /// Kafka's answer to OffsetForLeaderEpoch (KIP-101, as Kafka's `LeaderEpochFileCache`
    /// answers it): the latest epoch ends at `log_end`; an older one at the next epoch's start,
    /// answered with the largest epoch `<= epoch` known (or `epoch` itself when it predates
    /// every epoch kept, e.g. after retention); `None` (UNDEFINED) for an epoch newer than the
    /// latest or an empty cache.
    pub fn kafka_end_for(&self, epoch: u64, log_end: u64) -> Option<(u64, u64)> {
        if self.latest()? == epoch {
            return Some((epoch, log_end));
        }
        let i = self.entries.partition_point(|(e, _)| *e <= epoch);
        let (_, next_start) = *self.entries.get(i)?;
        let floor = i.checked_sub(1).map_or(epoch, |j| self.entries[j].0);
        Some((floor, next_start))
    }

    /// The epoch the record at `offset` was written in, if known.
    pub fn epoch_at(&self, offset: u64) -> Option<u64> {
        let i = self.entries.partition_point(|(_, start)| *start <= offset);
        i.checked_sub(1).map(|j| self.entries[j].0)
    }

    /// The epochs of the records `from..to`: the one in effect at `from` (starting at `from`),
    /// then every epoch that starts inside the range. What a leader sends with fetched records.
    pub fn starts_within(&self, from: u64, to: u64) -> Vec<(u64, u64)> {
        let first = self.entries.partition_point(|(_, start)| *start <= from);
        let mut out = Vec::new();
        if first > 0 {
            out.push((self.entries[first - 1].0, from));
        }
        out.extend(self.entries[first..].iter().copied().filter(|(_, start)| *start < to));
        out
    }

    /// Forgets epochs that start at or after `offset` (after truncating the log there).
    pub fn truncate_from(&mut self, offset: u64) {
        self.entries.retain(|(_, start)| *start < offset);
    }

    /// Forgets epochs wholly before `offset` (after retention), keeping the one spanning it.
    pub fn trim_before(&mut self, offset: u64) {
        let keep_from = self.entries.partition_point(|(_, start)| *start <= offset).saturating_sub(1);
        self.entries.drain(..keep_from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_are_the_next_epochs_start_or_the_log_end() {
        let mut c = EpochCache::new();
        c.assign(1, 0);
        c.assign(3, 10);
        c.assign(4, 25);
        assert_eq!(c.end_of(1, 30), Some((1, 10)));
        assert_eq!(c.end_of(2, 30), Some((1, 10)), "an epoch unknown here maps to the largest below it");
        assert_eq!(c.end_of(3, 30), Some((3, 25)));
        assert_eq!(c.end_of(9, 30), Some((4, 30)));
        assert_eq!(c.end_of(0, 30), None);
    }

    #[test]
    fn kafka_ends_follow_kafkas_epoch_cache() {
        let c = EpochCache::from_entries(vec![(2, 5), (3, 10), (6, 25)]).unwrap();
        assert_eq!(c.kafka_end_for(6, 30), Some((6, 30)), "the latest ends at the log end");
        assert_eq!(c.kafka_end_for(3, 30), Some((3, 25)));
        assert_eq!(c.kafka_end_for(4, 30), Some((3, 25)), "an epoch unknown here: the largest below it");
        assert_eq!(c.kafka_end_for(1, 30), Some((1, 5)), "older than all kept: itself, ending where they start");
        assert_eq!(c.kafka_end_for(7, 30), None, "newer than the latest: undefined");
        assert_eq!(EpochCache::new().kafka_end_for(0, 0), None);
        assert_eq!((c.epoch_at(4), c.epoch_at(5), c.epoch_at(24), c.epoch_at(99)), (None, Some(2), Some(3), Some(6)));
    }

    #[test]
    fn stale_epochs_are_ignored_and_empty_ones_replaced() {
        let mut c = EpochCache::new();
        c.assign(2, 5);
        c.assign(1, 7);
        c.assign(3, 5);
        assert_eq!(c.entries(), &[(3, 5)]);
    }

    #[test]
    fn the_epochs_of_a_range_of_records() {
        let c = EpochCache::from_entries(vec![(1, 0), (3, 10), (4, 25)]).unwrap();
        assert_eq!(c.starts_within(5, 30), vec![(1, 5), (3, 10), (4, 25)]);
        assert_eq!(c.starts_within(12, 20), vec![(3, 12)]);
        assert_eq!(c.starts_within(25, 26), vec![(4, 25)]);
        assert_eq!(c.starts_within(5, 25), vec![(1, 5), (3, 10)], "epoch 4 starts after the range");
        let trimmed = EpochCache::from_entries(vec![(3, 10), (4, 25)]).unwrap();
        assert_eq!(trimmed.starts_within(2, 30), vec![(3, 10), (4, 25)], "no epoch known at 2");
    }

    #[test]
    fn truncation_and_trimming() {
        let mut c = EpochCache::from_entries(vec![(1, 0), (2, 10), (5, 20)]).unwrap();
        c.truncate_from(15);
        assert_eq!(c.entries(), &[(1, 0), (2, 10)]);
        c.trim_before(12);
        assert_eq!(c.entries(), &[(2, 10)]);
        assert!(EpochCache::from_entries(vec![(2, 0), (1, 5)]).is_err());
    }

    #[test]
    fn persisted_entries_must_not_go_back_in_offset_but_may_hold_an_epoch_that_wrote_nothing() {
        assert!(EpochCache::from_entries(vec![(1, 10), (2, 5)]).is_err(), "epoch 2 starts before epoch 1");
        assert!(EpochCache::from_entries(vec![(1, 5), (1, 7)]).is_err(), "epoch 1 twice");
        let c = EpochCache::from_entries(vec![(1, 5), (2, 5), (3, 9)]).expect("epoch 1 wrote nothing");
        assert_eq!(c.end_of(1, 20), Some((1, 5)));
        assert_eq!(c.end_of(2, 20), Some((2, 9)));
    }

    #[test]
    fn a_follower_finds_its_divergent_suffix() {
        // The follower wrote offsets 10..15 in epoch 2 as a leader that was then deposed; the
        // new leader's epoch 2 ended at 12, so 12..15 never committed and must go.
        let mut leader = EpochCache::new();
        leader.assign(1, 0);
        leader.assign(2, 10);
        leader.assign(3, 12);
        let follower_last_epoch = 2;
        let (epoch, end) = leader.end_of(follower_last_epoch, 20).unwrap();
        assert_eq!((epoch, end.min(15)), (2, 12));
    }
}
