//! Inconsistent offsets (Jepsen's Kafka anomaly): an offset of a partition holds one value
//! for everyone — every consumer poll and the final read agree on it.

use std::collections::BTreeMap;

use super::kafka_history::{FinalRead, PollLog};
use super::Violation;

pub const INVARIANT: &str = "kafka_inconsistent_offsets";

pub fn check(polls: &[PollLog], read: &FinalRead) -> Result<(), Violation> {
    let mut at: BTreeMap<(i32, i64), (&str, &str)> = BTreeMap::new();
    let finals = read.iter().flat_map(|(p, r)| r.iter().map(move |(o, v)| (*p, *o, v.as_str(), "the final read")));
    let polled = polls
        .iter()
        .flat_map(|l| l.records.iter().map(move |(o, v)| (l.partition, *o, v.as_str(), l.consumer.as_str())));
    for (p, o, v, who) in finals.chain(polled) {
        match at.get(&(p, o)) {
            Some((other, by)) if other != &v => {
                return Err(Violation::new(INVARIANT, format!("{p}/{o} held {other:?} for {by} but {v:?} for {who}")));
            }
            Some(_) => {}
            None => {
                at.insert((p, o), (v, who));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll(records: &[(i64, &str)]) -> PollLog {
        PollLog {
            consumer: "c".into(),
            partition: 0,
            from: 0,
            records: records.iter().map(|(o, v)| (*o, v.to_string())).collect(),
        }
    }

    #[test]
    fn agreeing_reads_pass_and_two_values_at_one_offset_fail() {
        let read: FinalRead = [(0, vec![(0, "a".into()), (1, "b".into())])].into();
        assert_eq!(check(&[poll(&[(0, "a"), (1, "b")])], &read), Ok(()));
        let v = check(&[poll(&[(1, "x")])], &read).unwrap_err();
        assert!(v.detail.contains("0/1 held \"b\""), "{}", v.detail);
    }
}
