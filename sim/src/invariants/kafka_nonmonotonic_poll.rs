//! Nonmonotonic poll (Jepsen's Kafka anomaly): a consumer that owns a partition throughout
//! (no reassignment) receives its offsets in increasing order, poll after poll.

use super::kafka_history::PollLog;
use super::Violation;

pub const INVARIANT: &str = "kafka_nonmonotonic_poll";

pub fn check(polls: &[PollLog]) -> Result<(), Violation> {
    for l in polls {
        if let Some(w) = l.records.windows(2).find(|w| w[1].0 <= w[0].0) {
            return Err(Violation::new(
                INVARIANT,
                format!("{} on partition {}: offset {} after {}", l.consumer, l.partition, w[1].0, w[0].0),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn increasing_offsets_pass_and_a_step_back_fails() {
        let log = |o: &[i64]| PollLog {
            consumer: "c".into(),
            partition: 1,
            from: 0,
            records: o.iter().map(|o| (*o, String::new())).collect(),
        };
        assert_eq!(check(&[log(&[0, 1, 2])]), Ok(()));
        assert!(check(&[log(&[0, 2, 1])]).unwrap_err().detail.contains("offset 1 after 2"));
    }
}
