//! Writing a target's seed corpus: when `KEEL_FUZZ_SEED_DIR` names a directory, the target's
//! valid encodings go there as `seed-NN` files (rewritten on every start, so they follow the
//! encoders), before libFuzzer reads the corpus. Without it, nothing is written.

use std::path::PathBuf;

/// The environment variable naming the directory the seeds go to.
pub const SEED_DIR_ENV: &str = "KEEL_FUZZ_SEED_DIR";

/// Writes what `make` returns into the seed directory, if one is set (real files: the fuzz
/// crate is outside the runtime seam, see `fuzz/clippy.toml`).
pub fn write(make: impl FnOnce() -> Vec<Vec<u8>>) {
    let Some(dir) = std::env::var_os(SEED_DIR_ENV).map(PathBuf::from) else { return };
    std::fs::create_dir_all(&dir).expect("the seed directory can be created");
    for (i, seed) in make().into_iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:02}")), seed).expect("a seed can be written");
    }
}
