//! Replicas agree below the high watermark: any two replicas of a shard hold the same record
//! at every offset both have committed. (A replica may be behind, never different.)

use std::collections::BTreeMap;

use super::no_acked_record_lost::ReadBack;
use super::Violation;

pub const INVARIANT: &str = "replicas_agree";

/// `replicas`: per shard, per node, the committed records that replica serves.
pub fn check(replicas: &BTreeMap<String, BTreeMap<u64, ReadBack>>) -> Result<(), Violation> {
    for (shard, by_node) in replicas {
        let mut seen: BTreeMap<u64, (u64, &String)> = BTreeMap::new();
        for (node, log) in by_node {
            for (offset, value) in &log.records {
                match seen.get(offset) {
                    Some((other, v)) if *v != value => {
                        return Err(Violation::new(
                            INVARIANT,
                            format!("{shard}: offset {offset} is {v:?} on node {other} but {value:?} on node {node}"),
                        ))
                    }
                    Some(_) => {}
                    None => {
                        seen.insert(*offset, (*node, value));
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rb(records: &[(u64, &str)]) -> ReadBack {
        ReadBack {
            records: records.iter().map(|(o, v)| (*o, v.to_string())).collect(),
            high_watermark: 100,
            start_offset: 0,
        }
    }

    #[test]
    fn a_lagging_replica_agrees_and_a_different_one_does_not() {
        let ok = [("t/0".to_string(), [(1, rb(&[(0, "a"), (1, "b")])), (2, rb(&[(0, "a")]))].into())].into();
        assert_eq!(check(&ok), Ok(()));
        let bad = [("t/0".to_string(), [(1, rb(&[(0, "a"), (1, "b")])), (2, rb(&[(0, "a"), (1, "z")]))].into())].into();
        let v = check(&bad).unwrap_err();
        assert_eq!(v.invariant, INVARIANT);
        assert!(v.detail.contains("offset 1"), "{}", v.detail);
    }
}
