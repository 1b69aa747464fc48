//! Partition shapes as sets of blocked directions (from, to) over node ids.

use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use rand::Rng;

/// The shapes the nemesis picks from.
pub const SHAPES: [&str; 4] = ["halves", "isolate", "bridge", "one-way"];

/// Every direction between the two groups, both ways.
fn cut(a: &[u64], b: &[u64]) -> BTreeSet<(u64, u64)> {
    a.iter().flat_map(|&x| b.iter().flat_map(move |&y| [(x, y), (y, x)])).collect()
}

/// `node` cut from every other of `nodes`, both ways.
pub fn isolate(node: u64, nodes: &[u64]) -> (BTreeSet<(u64, u64)>, String) {
    let others: Vec<u64> = nodes.iter().copied().filter(|&n| n != node).collect();
    (cut(&[node], &others), format!("{node} isolated"))
}

/// The blocked directions of `shape` over `nodes`, with a description of who is cut from whom.
pub fn shape(shape: &str, nodes: &[u64], rng: &mut impl Rng) -> (BTreeSet<(u64, u64)>, String) {
    let mut v = nodes.to_vec();
    v.shuffle(rng);
    match shape {
        // A majority and a minority that cannot talk.
        "halves" => {
            let (minority, majority) = v.split_at(v.len() / 2);
            (cut(minority, majority), format!("{minority:?} | {majority:?}"))
        }
        // One node cut from everyone.
        "isolate" => (cut(&v[..1], &v[1..]), format!("{:?} isolated", v[0])),
        // Two halves that cannot talk, and one node that talks to both (Jepsen's bridge).
        "bridge" => {
            let bridge = v[0];
            let (a, b) = v[1..].split_at((v.len() - 1) / 2);
            (cut(a, b), format!("{a:?} | {b:?}, bridged by {bridge}"))
        }
        // One node's bytes reach nobody, while it still hears everyone.
        "one-way" => {
            let mute = v[0];
            let blocked = v[1..].iter().map(|&o| (mute, o)).collect();
            (blocked, format!("{mute} cannot send to {:?}", &v[1..]))
        }
        other => unreachable!("unknown partition shape {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    fn connected(blocked: &BTreeSet<(u64, u64)>, a: u64, b: u64) -> bool {
        !blocked.contains(&(a, b)) && !blocked.contains(&(b, a))
    }

    #[test]
    fn shapes_cut_what_they_say() {
        let nodes = [1, 2, 3, 4, 5];
        let mut rng = SmallRng::seed_from_u64(7);
        let (halves, _) = shape("halves", &nodes, &mut rng);
        let groups: Vec<Vec<u64>> = {
            let first: Vec<u64> = nodes.iter().copied().filter(|&n| connected(&halves, 1, n)).collect();
            let rest = nodes.iter().copied().filter(|n| !first.contains(n)).collect();
            vec![first, rest]
        };
        assert_eq!(groups[0].len() + groups[1].len(), 5);
        assert!(groups.iter().any(|g| g.len() == 3), "a majority of 3: {groups:?}");
        assert_eq!(halves.len(), 2 * 2 * 3);

        let (iso, _) = shape("isolate", &nodes, &mut rng);
        assert_eq!(iso.len(), 8, "one node, both ways, with four others");
        let (leader, _) = isolate(3, &nodes);
        assert_eq!(leader.len(), 8);
        assert!(leader.iter().all(|&(a, b)| a == 3 || b == 3));

        let (bridge, _) = shape("bridge", &nodes, &mut rng);
        let bridge_node = nodes.iter().copied().find(|&n| nodes.iter().all(|&o| connected(&bridge, n, o))).unwrap();
        assert_eq!(bridge.len(), 2 * 2 * 2, "two pairs cut both ways");
        assert!(nodes.iter().all(|&o| connected(&bridge, bridge_node, o)));

        let (one_way, _) = shape("one-way", &nodes, &mut rng);
        assert_eq!(one_way.len(), 4);
        let mute = one_way.iter().next().unwrap().0;
        assert!(one_way.iter().all(|&(from, _)| from == mute), "only the mute node's sends are blocked");
    }
}
