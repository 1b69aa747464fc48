//! After the faults stop, every shard is led and fully placed: it has a leader, the leader is
//! a live replica in the ISR, the ISR is a subset of the replicas, and the replicas are as
//! many distinct nodes as the topic's replication factor. This is the liveness half of shard
//! scheduling: failure detection, election from the ISR, and re-replication converge.
//! [`check_in_sync`] also wants every replica back in the ISR.

use std::collections::BTreeSet;

use super::Violation;

pub const INVARIANT: &str = "shards_led";

/// One shard as meta records it at the end of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardView {
    pub topic: String,
    pub partition: u32,
    pub replication_factor: u32,
    pub replicas: Vec<u64>,
    pub leader: Option<u64>,
    pub isr: Vec<u64>,
}

/// As [`check`], and every shard has all its replicas in sync again: used where the run
/// gives replicas time to catch up after healing.
pub fn check_in_sync(shards: &[ShardView], alive: &BTreeSet<u64>) -> Result<(), Violation> {
    check(shards, alive)?;
    match shards.iter().find(|s| s.isr.len() != s.replication_factor as usize) {
        Some(s) => Err(Violation::new(
            INVARIANT,
            format!(
                "{}/{}: {} in-sync replicas of {} after healing ({s:?})",
                s.topic,
                s.partition,
                s.isr.len(),
                s.replication_factor
            ),
        )),
        None => Ok(()),
    }
}

/// Checks every shard against the nodes alive at the end.
pub fn check(shards: &[ShardView], alive: &BTreeSet<u64>) -> Result<(), Violation> {
    for s in shards {
        if let Some(problem) = problem(s, alive) {
            return Err(Violation::new(INVARIANT, format!("{}/{}: {problem} ({s:?})", s.topic, s.partition)));
        }
    }
    Ok(())
}

fn problem(s: &ShardView, alive: &BTreeSet<u64>) -> Option<String> {
    let distinct: BTreeSet<u64> = s.replicas.iter().copied().collect();
    if distinct.len() != s.replicas.len() || s.replicas.len() != s.replication_factor as usize {
        return Some(format!("{} distinct replicas for replication factor {}", distinct.len(), s.replication_factor));
    }
    let Some(leader) = s.leader else { return Some("no leader".into()) };
    if !alive.contains(&leader) {
        return Some(format!("leader {leader} is not alive"));
    }
    if !distinct.contains(&leader) || !s.isr.contains(&leader) {
        return Some(format!("leader {leader} is not an in-sync replica"));
    }
    s.isr.iter().find(|r| !distinct.contains(r)).map(|r| format!("ISR member {r} is not a replica"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(replicas: Vec<u64>, leader: Option<u64>, isr: Vec<u64>) -> ShardView {
        ShardView { topic: "t".into(), partition: 0, replication_factor: 3, replicas, leader, isr }
    }

    fn alive(ids: &[u64]) -> BTreeSet<u64> {
        ids.iter().copied().collect()
    }

    #[test]
    fn a_led_fully_placed_shard_passes() {
        assert_eq!(check(&[shard(vec![1, 2, 3], Some(2), vec![2, 3])], &alive(&[1, 2, 3])), Ok(()));
    }

    #[test]
    fn a_shard_short_of_in_sync_replicas_fails_the_in_sync_check() {
        let all = alive(&[1, 2, 3]);
        assert_eq!(check_in_sync(&[shard(vec![1, 2, 3], Some(2), vec![1, 2, 3])], &all), Ok(()));
        let v = check_in_sync(&[shard(vec![1, 2, 3], Some(2), vec![2, 3])], &all).unwrap_err();
        assert!(v.detail.contains("2 in-sync replicas of 3"), "{}", v.detail);
    }

    #[test]
    fn each_kind_of_broken_shard_fails() {
        let all = alive(&[1, 2, 3, 4]);
        let cases = [
            (shard(vec![1, 2, 3], None, vec![1]), "no leader"),
            (shard(vec![1, 2, 3], Some(3), vec![1, 3]), "not alive"),
            (shard(vec![1, 2, 3], Some(4), vec![4]), "not an in-sync replica"),
            (shard(vec![1, 2, 3], Some(1), vec![2]), "not an in-sync replica"),
            (shard(vec![1, 2, 3], Some(1), vec![1, 4]), "ISR member 4 is not a replica"),
            (shard(vec![1, 2], Some(1), vec![1]), "2 distinct replicas"),
            (shard(vec![1, 1, 2], Some(1), vec![1]), "2 distinct replicas"),
        ];
        for (i, (s, want)) in cases.into_iter().enumerate() {
            let alive_here = if i == 1 { alive(&[1, 2]) } else { all.clone() };
            let v = check(&[s], &alive_here).unwrap_err();
            assert_eq!(v.invariant, INVARIANT);
            assert!(v.detail.contains(want), "case {i}: {}", v.detail);
        }
    }
}
