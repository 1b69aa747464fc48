//! Lost write (Jepsen's Kafka anomaly): every record a producer saw acknowledged is in the
//! final read of its partition, at the offset it was acknowledged at.

use super::kafka_history::{FinalRead, ProduceOutcome, Produced};
use super::Violation;

pub const INVARIANT: &str = "kafka_lost_write";

pub fn check(produced: &[Produced], read: &FinalRead) -> Result<(), Violation> {
    for p in produced {
        let ProduceOutcome::Acked(offset) = p.outcome else { continue };
        let found = read.get(&p.partition).and_then(|r| r.iter().find(|(o, _)| *o == offset));
        match found {
            Some((_, v)) if *v == p.value => {}
            Some((_, v)) => {
                return Err(Violation::new(
                    INVARIANT,
                    format!(
                        "{}: {:?} acknowledged at {}/{offset}, which holds {v:?}",
                        p.producer, p.value, p.partition
                    ),
                ))
            }
            None => {
                return Err(Violation::new(
                    INVARIANT,
                    format!("{}: {:?} acknowledged at {}/{offset}, not in the log", p.producer, p.value, p.partition),
                ))
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
    fn acknowledged_records_at_their_offsets_pass_and_unknown_ones_need_not_be_there() {
        let read = [(0, vec![(0, "a".to_string()), (1, "b".to_string())])].into();
        let unknown = Produced { outcome: ProduceOutcome::Unknown, ..acked("z", 0) };
        assert_eq!(check(&[acked("a", 0), acked("b", 1), unknown], &read), Ok(()));
    }

    #[test]
    fn a_missing_or_replaced_acknowledged_record_fails() {
        let read = [(0, vec![(0, "a".to_string()), (1, "x".to_string())])].into();
        assert!(check(&[acked("b", 1)], &read).unwrap_err().detail.contains("holds \"x\""));
        assert!(check(&[acked("c", 2)], &read).unwrap_err().detail.contains("not in the log"));
    }
}
