//! Committed offsets never go backwards: no acknowledged offset commit is lost.
//!
//! Kafka lets a commit set any offset, lower ones included, so the property is not "the offset
//! only grows" but that of a register: once a commit of a (group, partition) is acknowledged,
//! every OffsetFetch sent afterwards answers that offset or one a commit that may have come
//! later wrote. Precisely, for an OffsetFetch sent at `s` and answered at `a` with offset `v`,
//! if some commit was acknowledged before `s`, then `v` is the offset of a *candidate*: a commit
//! sent before `a` that was acknowledged, or whose outcome is unknown (it may land at any time),
//! and that no acknowledged commit sent after its answer (and answered before `s`) overwrote.
//! Refused commits wrote nothing and explain nothing. An answer that no candidate explains and
//! lies below the offset of an acknowledged candidate is a commit gone backwards (a coordinator
//! that replayed less than was acknowledged, or a stale one answering).

use super::kafka_group_history::{Commit, CommitOutcome, Observed};
use super::Violation;

pub const INVARIANT: &str = "kafka_offsets_backwards";

fn same(c: &Commit, o: &Observed) -> bool {
    c.group == o.group && c.partition == o.partition
}

pub fn check(commits: &[Commit], observed: &[Observed]) -> Result<(), Violation> {
    for o in observed {
        let acked_before: Vec<&Commit> = commits
            .iter()
            .filter(|c| same(c, o) && c.outcome == CommitOutcome::Acked && c.answered_ms < o.sent_ms)
            .collect();
        if acked_before.is_empty() {
            continue;
        }
        let overwritten =
            |c: &Commit| c.outcome == CommitOutcome::Acked && acked_before.iter().any(|w| w.sent_ms > c.answered_ms);
        let candidates: Vec<&Commit> = commits
            .iter()
            .filter(|c| same(c, o) && c.outcome != CommitOutcome::Rejected && c.sent_ms <= o.answered_ms)
            .filter(|c| !overwritten(c))
            .collect();
        if candidates.iter().any(|c| c.offset == o.offset) {
            continue;
        }
        let floor = candidates.iter().filter(|c| c.outcome == CommitOutcome::Acked).max_by_key(|c| c.offset);
        if let Some(c) = floor.filter(|c| o.offset < c.offset) {
            return Err(Violation::new(
                INVARIANT,
                format!(
                    "group {} partition {}: {} fetched committed offset {} at {} ms, but {} (generation {}) \
                     had committed {} acknowledged at {} ms and no later commit wrote {}",
                    o.group,
                    o.partition,
                    o.member,
                    o.offset,
                    o.sent_ms,
                    c.member,
                    c.generation,
                    c.offset,
                    c.answered_ms,
                    o.offset
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(offset: i64, sent_ms: u64, answered_ms: u64, outcome: CommitOutcome) -> Commit {
        Commit {
            group: "g".into(),
            member: "m".into(),
            generation: 1,
            partition: 0,
            offset,
            sent_ms,
            answered_ms,
            outcome,
        }
    }

    fn fetched(offset: i64, sent_ms: u64) -> Observed {
        Observed { group: "g".into(), member: "n".into(), partition: 0, offset, sent_ms, answered_ms: sent_ms + 5 }
    }

    #[test]
    fn the_last_acknowledged_offset_or_a_concurrent_one_passes() {
        let c = [commit(5, 0, 10, CommitOutcome::Acked), commit(10, 20, 30, CommitOutcome::Acked)];
        assert_eq!(check(&c, &[fetched(10, 40), fetched(-1, 0), fetched(5, 15)]), Ok(()));
        let overlapping = [commit(5, 0, 30, CommitOutcome::Acked), commit(10, 20, 25, CommitOutcome::Acked)];
        assert_eq!(check(&overlapping, &[fetched(5, 40)]), Ok(()), "either may have landed last");
        let lower_later = [commit(10, 0, 10, CommitOutcome::Acked), commit(3, 20, 30, CommitOutcome::Acked)];
        assert_eq!(check(&lower_later, &[fetched(3, 40)]), Ok(()), "a later commit may set it lower");
        let unknown = [commit(10, 20, 30, CommitOutcome::Acked), commit(4, 0, 10, CommitOutcome::Unknown)];
        assert_eq!(check(&unknown, &[fetched(4, 40)]), Ok(()), "an unknown commit may land late");
    }

    #[test]
    fn an_overwritten_or_missing_offset_after_an_acknowledged_commit_fails() {
        let c = [commit(5, 0, 10, CommitOutcome::Acked), commit(10, 20, 30, CommitOutcome::Acked)];
        let e = check(&c, &[fetched(5, 40)]).unwrap_err();
        assert!(e.detail.contains("fetched committed offset 5") && e.detail.contains("had committed 10"), "{e}");
        assert!(check(&c, &[fetched(-1, 40)]).is_err(), "the commit vanished");
        let refused = [commit(10, 0, 10, CommitOutcome::Acked), commit(2, 20, 30, CommitOutcome::Rejected)];
        assert!(check(&refused, &[fetched(2, 40)]).is_err(), "a refused commit explains nothing");
    }
}
