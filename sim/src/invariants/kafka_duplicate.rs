//! Duplicate (Jepsen's Kafka anomaly): with idempotent producers every value is in the log at
//! most once, however often its batch was retried through timeouts and leader changes.

use std::collections::BTreeMap;

use super::kafka_history::FinalRead;
use super::Violation;

pub const INVARIANT: &str = "kafka_duplicate";

pub fn check(read: &FinalRead) -> Result<(), Violation> {
    let mut seen: BTreeMap<&str, (i32, i64)> = BTreeMap::new();
    for (partition, records) in read {
        for (offset, value) in records {
            if let Some((p, o)) = seen.insert(value, (*partition, *offset)) {
                return Err(Violation::new(
                    INVARIANT,
                    format!("{value:?} at {p}/{o} and again at {partition}/{offset}"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_written_twice_fails_and_distinct_ones_pass() {
        let ok: FinalRead = [(0, vec![(0, "a".into()), (1, "b".into())]), (1, vec![(0, "c".into())])].into();
        assert_eq!(check(&ok), Ok(()));
        let dup: FinalRead = [(0, vec![(0, "a".into())]), (1, vec![(0, "c".into()), (1, "a".into())])].into();
        assert!(check(&dup).unwrap_err().detail.contains("at 0/0 and again at 1/1"));
    }
}
