//! Unseen (Jepsen's Kafka anomaly): a record acknowledged to a producer that no consumer of the
//! group polled by the end, after the final drain (the members kept consuming until they passed
//! everything the final read found). It catches a group that loses its place: an offset
//! committed past what was consumed, a rebalance that starts a member past its predecessor's
//! committed offset, a partition no member owns.
//!
//! Distinct from [`super::kafka_lost_write`], which finds an acknowledged record missing from
//! the log itself: a record absent from the final read is a lost write and is not reported
//! again here, so each record is blamed on one anomaly.

use std::collections::BTreeSet;

use super::kafka_history::{FinalRead, ProduceOutcome, Produced};
use super::Violation;

pub const INVARIANT: &str = "kafka_unseen";

/// `polled`: every record the group's members polled, as (partition, offset, value).
pub fn check(produced: &[Produced], read: &FinalRead, polled: &[(i32, i64, String)]) -> Result<(), Violation> {
    let seen: BTreeSet<(i32, &str)> = polled.iter().map(|(p, _, v)| (*p, v.as_str())).collect();
    let unseen: Vec<String> = produced
        .iter()
        .filter_map(|p| match p.outcome {
            ProduceOutcome::Acked(o) => Some((p, o)),
            ProduceOutcome::Unknown => None,
        })
        .filter(|(p, o)| read.get(&p.partition).is_some_and(|r| r.iter().any(|(ro, v)| ro == o && *v == p.value)))
        .filter(|(p, _)| !seen.contains(&(p.partition, p.value.as_str())))
        .map(|(p, o)| format!("{:?} at {}/{o}", p.value, p.partition))
        .collect();
    if unseen.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = unseen.iter().take(5).map(String::as_str).collect();
    Err(Violation::new(
        INVARIANT,
        format!(
            "{} acknowledged records in the log were never polled by the group, e.g. {}",
            unseen.len(),
            shown.join(", ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acked(value: &str, offset: i64) -> Produced {
        Produced { producer: "p".into(), partition: 0, value: value.into(), outcome: ProduceOutcome::Acked(offset) }
    }

    fn read() -> FinalRead {
        [(0, vec![(0, "a".to_string()), (1, "b".to_string())])].into()
    }

    #[test]
    fn every_acknowledged_record_polled_passes_and_lost_ones_are_left_to_lost_write() {
        let polled = [(0, 0, "a".to_string()), (0, 1, "b".to_string()), (0, 0, "a".to_string())];
        let lost = acked("z", 2);
        let unknown = Produced { outcome: ProduceOutcome::Unknown, ..acked("b", 1) };
        assert_eq!(check(&[acked("a", 0), acked("b", 1), lost, unknown], &read(), &polled), Ok(()));
    }

    #[test]
    fn an_acknowledged_record_in_the_log_that_no_member_polled_fails() {
        let polled = [(0, 0, "a".to_string())];
        let e = check(&[acked("a", 0), acked("b", 1)], &read(), &polled).unwrap_err();
        assert!(e.detail.starts_with("1 acknowledged records") && e.detail.contains("\"b\" at 0/1"), "{e}");
        let elsewhere = [(1, 1, "b".to_string()), (0, 0, "a".to_string())];
        assert!(check(&[acked("b", 1)], &read(), &elsewhere).is_err(), "seen on another partition is not seen");
    }
}
