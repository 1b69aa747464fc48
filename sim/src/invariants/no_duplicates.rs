//! No duplicates for an idempotent producer: the simulation's producers write every value once
//! (values are unique per producer and attempt) and retry through leader changes, timeouts and
//! lost answers; the shard leaders deduplicate the retries. So every value appears at most
//! once in a shard's log as read back, whether or not its producer saw it acknowledged.

use std::collections::BTreeMap;

use super::no_acked_record_lost::ReadBack;
use super::Violation;

pub const INVARIANT: &str = "no_duplicates";

pub fn check(logs: &BTreeMap<String, ReadBack>) -> Result<(), Violation> {
    for (shard, log) in logs {
        let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
        for (offset, value) in &log.records {
            if let Some(first) = seen.insert(value, *offset) {
                return Err(Violation::new(
                    INVARIANT,
                    format!("{shard}: {value:?} written twice, at offsets {first} and {offset}"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs(records: &[(u64, &str)]) -> BTreeMap<String, ReadBack> {
        let records = records.iter().map(|(o, v)| (*o, v.to_string())).collect();
        [("t/0".to_string(), ReadBack { records, high_watermark: 10, start_offset: 0 })].into()
    }

    #[test]
    fn distinct_values_pass() {
        assert_eq!(check(&logs(&[(0, "a"), (1, "b"), (2, "c")])), Ok(()));
    }

    #[test]
    fn a_value_written_twice_fails() {
        let v = check(&logs(&[(0, "a"), (1, "b"), (2, "a")])).unwrap_err();
        assert_eq!(v.invariant, INVARIANT);
        assert!(v.detail.contains("offsets 0 and 2"), "{}", v.detail);
    }
}
