//! One owner per partition per generation: no two members of a group are assigned the same
//! partition in the same generation, per the SyncGroup answers the members got. The
//! coordinator makes each generation durable before announcing it and a coordinator taking a
//! group over starts above the last durable one, so one generation number has one assignment;
//! two coordinators both believing they own the group could break that.

use std::collections::BTreeMap;

use super::kafka_group_history::Assigned;
use super::Violation;

pub const INVARIANT: &str = "kafka_split_ownership";

pub fn check(assigned: &[Assigned]) -> Result<(), Violation> {
    // (group, generation, partition) → the first member given it.
    let mut owner: BTreeMap<(&str, i32, i32), &str> = BTreeMap::new();
    for a in assigned {
        for p in &a.partitions {
            let first = *owner.entry((&a.group, a.generation, *p)).or_insert(&a.member);
            if first != a.member {
                return Err(Violation::new(
                    INVARIANT,
                    format!(
                        "group {} generation {}: partition {p} assigned to both {first} and {}",
                        a.group, a.generation, a.member
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

    fn assigned(generation: i32, member: &str, partitions: &[i32]) -> Assigned {
        Assigned { group: "g".into(), generation, member: member.into(), partitions: partitions.to_vec() }
    }

    #[test]
    fn disjoint_assignments_and_moves_across_generations_pass() {
        let a = [assigned(1, "a", &[0]), assigned(1, "b", &[1]), assigned(2, "b", &[0, 1]), assigned(1, "a", &[0])];
        assert_eq!(check(&a), Ok(()));
    }

    #[test]
    fn one_partition_owned_twice_in_a_generation_fails() {
        let a = [assigned(3, "a", &[0, 1]), assigned(3, "b", &[1])];
        assert!(check(&a).unwrap_err().detail.contains("partition 1 assigned to both a and b"));
    }
}
