//! File damage on a node that is down: a truncated tail or flipped bits in one of its shard
//! log files (the storage layer must detect it, drop the replica out of the ISR and refetch;
//! acknowledged records live on the other in-sync replicas).

use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::Rng;

/// Every regular file under `dir`, recursively, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if e.metadata().is_ok_and(|m| m.len() > 0) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Damages one non-empty file under `data_dir/shards`: truncates its tail or flips a few bits.
/// Returns what it did, or `None` when there is nothing to damage.
pub fn damage(data_dir: &Path, rng: &mut impl Rng) -> std::io::Result<Option<String>> {
    let candidates = files(&data_dir.join("shards"));
    let Some(path) = candidates.choose(rng) else { return Ok(None) };
    let mut bytes = std::fs::read(path)?;
    let len = bytes.len();
    let what = if rng.gen_bool(0.5) {
        let keep = rng.gen_range(0..len);
        bytes.truncate(keep);
        format!("truncated {} from {len} to {keep} bytes", path.display())
    } else {
        let flips = rng.gen_range(1..=3);
        let mut at = Vec::new();
        for _ in 0..flips {
            let i = rng.gen_range(0..len);
            bytes[i] ^= 1 << rng.gen_range(0..8);
            at.push(i);
        }
        format!("flipped bits at {at:?} of {}", path.display())
    };
    std::fs::write(path, &bytes)?;
    Ok(Some(what))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    #[test]
    fn damages_a_shard_file_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("keel-jepsen-disk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("shards/t/0")).unwrap();
        std::fs::create_dir_all(dir.join("meta")).unwrap();
        std::fs::write(dir.join("shards/t/0/00000000.log"), [7u8; 64]).unwrap();
        std::fs::write(dir.join("meta/log"), [7u8; 64]).unwrap();
        let mut rng = SmallRng::seed_from_u64(3);
        let mut changed = 0;
        for _ in 0..4 {
            let before = std::fs::read(dir.join("shards/t/0/00000000.log")).unwrap();
            let what = damage(&dir, &mut rng).unwrap().unwrap();
            let after = std::fs::read(dir.join("shards/t/0/00000000.log")).unwrap();
            assert!(what.contains("00000000.log"), "{what}");
            changed += usize::from(before != after);
        }
        assert!(changed >= 3, "damage changes the file (a truncation to the same length aside)");
        assert_eq!(std::fs::read(dir.join("meta/log")).unwrap(), [7u8; 64], "meta files are left alone");
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(damage(&dir, &mut rng).unwrap(), None, "no shard files: nothing to damage");
    }
}
