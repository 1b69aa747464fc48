//! Poll skip (Jepsen's Kafka anomaly): a consumer that owns a partition throughout receives
//! every offset from where it started, none skipped (offsets are dense: one per record).

use super::kafka_history::PollLog;
use super::Violation;

pub const INVARIANT: &str = "kafka_poll_skip";

pub fn check(polls: &[PollLog]) -> Result<(), Violation> {
    for l in polls {
        let mut next = l.from;
        for (o, _) in &l.records {
            if *o > next {
                return Err(Violation::new(
                    INVARIANT,
                    format!("{} on partition {}: offsets {next}..{o} skipped", l.consumer, l.partition),
                ));
            }
            next = next.max(o + 1);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_offsets_pass_and_a_gap_fails() {
        let log = |from, o: &[i64]| PollLog {
            consumer: "c".into(),
            partition: 0,
            from,
            records: o.iter().map(|o| (*o, String::new())).collect(),
        };
        assert_eq!(check(&[log(3, &[3, 4, 5])]), Ok(()));
        assert!(check(&[log(0, &[0, 1, 3])]).unwrap_err().detail.contains("offsets 2..3 skipped"));
        assert!(check(&[log(2, &[4])]).is_err(), "from its start, too");
    }
}
