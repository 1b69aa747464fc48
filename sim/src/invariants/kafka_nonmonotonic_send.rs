//! Nonmonotonic send (Jepsen's Kafka anomaly): one producer's acknowledged records land on a
//! partition in the order it sent them (it has one request in flight per partition).

use std::collections::BTreeMap;

use super::kafka_history::{ProduceOutcome, Produced};
use super::Violation;

pub const INVARIANT: &str = "kafka_nonmonotonic_send";

pub fn check(produced: &[Produced]) -> Result<(), Violation> {
    let mut last: BTreeMap<(&str, i32), (i64, &str)> = BTreeMap::new();
    for p in produced {
        let ProduceOutcome::Acked(offset) = p.outcome else { continue };
        if let Some((before, value)) = last.insert((&p.producer, p.partition), (offset, &p.value)) {
            if offset <= before {
                return Err(Violation::new(
                    INVARIANT,
                    format!(
                        "{}: {:?} at {}/{offset}, sent after {value:?} at {before}",
                        p.producer, p.value, p.partition
                    ),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acked(value: &str, offset: i64) -> Produced {
        Produced { producer: "p".into(), partition: 0, value: value.into(), outcome: ProduceOutcome::Acked(offset) }
    }

    #[test]
    fn send_order_is_offset_order_or_it_fails() {
        assert_eq!(check(&[acked("a", 3), acked("b", 7)]), Ok(()));
        assert!(check(&[acked("a", 7), acked("b", 3)]).unwrap_err().detail.contains("sent after \"a\""));
    }
}
