//! `cargo test --features sim`: runs the seeded simulation suites.
//!
//! madsim switches to simulation only under rustc's `--cfg madsim`, which a cargo feature
//! cannot set. This test target (`harness = false`, `required-features = ["sim"]`) therefore
//! re-runs cargo for the simulation crate with that flag, in a target directory of its own
//! beside this one, passes its arguments through, and exits with the inner cargo's code.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // List mode (`cargo test -- --list`) must print nothing but test names: the suites are
    // listed by the inner cargo instead.
    if args.iter().any(|a| a == "--list") {
        return ExitCode::SUCCESS;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let exe = std::env::current_exe().expect("test binary path");
    // <target>/debug/deps/sim-<hash> → <target>/sim
    let target: PathBuf = exe.ancestors().nth(3).map(|t| t.join("sim")).expect("target directory");
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("test")
        .args(["-p", "keel-sim"])
        .arg("--target-dir")
        .arg(&target)
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    match std::env::var("RUSTFLAGS") {
        // An exported RUSTFLAGS silently overrides `build.rustflags`: extend it instead.
        Ok(flags) => {
            cmd.env("RUSTFLAGS", format!("{flags} --cfg madsim"));
        }
        Err(_) => {
            cmd.args(["--config", r#"build.rustflags=["--cfg","madsim"]"#]);
        }
    }
    cmd.args(["--config", r#"build.rustdocflags=["--cfg","madsim"]"#]);
    if !args.is_empty() {
        cmd.arg("--").args(&args);
    }
    eprintln!("simulation: {cmd:?}");
    match cmd.status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("simulation suites failed ({s})");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("cannot run cargo for the simulation suites: {e}");
            ExitCode::FAILURE
        }
    }
}
