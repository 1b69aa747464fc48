//! Drives seeds: runs each seed in a child process of the test binary (twice when checking
//! determinism), prints `seed=<N> digest=<hex>` with the seed's settings and summary, and for a
//! failing seed the command that replays it.
//!
//! Why a process per run: real tokio (which openraft and `select!` use) seeds each thread's
//! branch-choice RNG from a process-wide counter, so two runs in one process see different
//! `select!` choices. A fresh process makes every run the first, hence reproducible by seed.
//!
//! Knobs (environment): `MADSIM_TEST_SEED` (run just this seed, or `MADSIM_TEST_NUM` seeds from
//! it), `KEEL_SIM_SEEDS` (how many seeds; each suite has its default), `KEEL_SIM_SEED_BASE`
//! (first seed, default 1), `KEEL_SIM_JOBS` (runs at once, default: the machine's cores),
//! `KEEL_SIM_DETERMINISM=0` (skip the second run of each seed).

use std::future::Future;
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::invariants::Violation;
use crate::meta_scenario::Outcome;

/// Set in a child process: the seed it runs.
const CHILD_ENV: &str = "KEEL_SIM_CHILD_SEED";
/// Prefix of the child's result line on stdout.
const RESULT_PREFIX: &str = "KEEL_SIM_RESULT ";

/// What one run reports to its parent.
#[derive(Debug, Serialize, Deserialize)]
struct RunReport {
    digest: u64,
    summary: String,
    violations: Vec<(String, String)>,
}

/// The result of one seed.
#[derive(Debug)]
pub struct SeedResult {
    pub seed: u64,
    pub digest: Option<u64>,
    pub summary: String,
    pub violations: Vec<Violation>,
    /// The run died (a panic inside Keel or the harness, or the time limit).
    pub panic: Option<String>,
    /// Set when the second run of the seed gave another digest.
    pub nondeterministic: Option<(u64, u64)>,
    pub wall: Duration,
}

impl SeedResult {
    pub fn failed(&self) -> bool {
        !self.violations.is_empty() || self.panic.is_some() || self.nondeterministic.is_some()
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// The seeds to run: `MADSIM_TEST_SEED` if set, else `KEEL_SIM_SEEDS` (or `default_count`)
/// seeds from `KEEL_SIM_SEED_BASE`.
pub fn seeds(default_count: u64) -> Vec<u64> {
    if let Some(seed) = env_u64("MADSIM_TEST_SEED") {
        let n = env_u64("MADSIM_TEST_NUM").unwrap_or(1);
        return (seed..seed + n).collect();
    }
    let base = env_u64("KEEL_SIM_SEED_BASE").unwrap_or(1);
    let n = env_u64("KEEL_SIM_SEEDS").unwrap_or(default_count);
    (base..base + n).collect()
}

/// In the child: runs the seed in a fresh runtime and prints the result line.
fn child_run<F, Fut>(seed: u64, scenario: F)
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Outcome>,
{
    if let Ok(filter) = std::env::var("RUST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .try_init();
    }
    let mut rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    rt.set_time_limit(Duration::from_secs(900));
    keel_rt::trace::reset();
    keel_rt::fault::reset();
    keel_rt::time::reset_skews();
    let o = rt.block_on(scenario(seed));
    let report = RunReport {
        digest: o.digest,
        summary: o.summary,
        violations: o.violations.into_iter().map(|v| (v.invariant.to_string(), v.detail)).collect(),
    };
    emit(&format!("{RESULT_PREFIX}{}", serde_json::to_string(&report).expect("report serialises")));
}

/// Starts a child process running `test` for `seed`.
fn spawn_child(test: &str, seed: u64) -> std::io::Result<std::process::Child> {
    Command::new(std::env::current_exe()?)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, seed.to_string())
        .env_remove("MADSIM_TEST_SEED")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
}

fn collect_child(child: std::process::Child) -> Result<RunReport, String> {
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if let Some(line) = stdout.lines().find_map(|l| l.split_once(RESULT_PREFIX).map(|(_, r)| r)) {
        return serde_json::from_str(line).map_err(|e| format!("bad result line: {e}"));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().filter(|l| !l.trim_start().starts_with("at ")).take(40).collect();
    Err(format!("run died ({}):\n{}", out.status, tail.join("\n")))
}

/// Prints a line past libtest's output capture, so every seed's line shows in CI logs.
pub fn emit(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn print_result(test: &str, r: &SeedResult) {
    let digest = r.digest.map_or("none".to_string(), |d| format!("{d:016x}"));
    emit(&format!("seed={} digest={digest}", r.seed));
    emit(&format!("  {} wall={:.1}s", r.summary, r.wall.as_secs_f64()));
    if let Some((a, b)) = r.nondeterministic {
        emit(&format!("  NONDETERMINISTIC: second run gave digest={b:016x} (first {a:016x})"));
    }
    if let Some(p) = &r.panic {
        emit(&format!("  DIED: {p}"));
    }
    for v in &r.violations {
        emit(&format!("  VIOLATION: {v}"));
    }
    if r.failed() {
        emit(&format!("  replay: MADSIM_TEST_SEED={} cargo test --features sim -- {test}", r.seed));
    }
}

/// Runs `scenario` for every seed, `KEEL_SIM_JOBS` processes at a time, and returns the
/// results. In a child process, runs the child's one seed instead and returns nothing.
pub fn run_seeds<F, Fut>(test: &'static str, seeds: &[u64], scenario: F) -> Vec<SeedResult>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Outcome>,
{
    if let Some(seed) = env_u64(CHILD_ENV) {
        child_run(seed, scenario);
        return Vec::new();
    }
    let determinism = std::env::var("KEEL_SIM_DETERMINISM").map(|v| v != "0").unwrap_or(true);
    let jobs = env_u64("KEEL_SIM_JOBS")
        .map(|j| j.max(1) as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let runs_per_seed = if determinism { 2 } else { 1 };
    let mut out = Vec::new();
    let per_batch = (jobs / runs_per_seed).max(1);
    for batch in seeds.chunks(per_batch) {
        #[allow(clippy::disallowed_methods)] // the harness times real runs, outside the simulation
        let start = Instant::now();
        let children: Vec<(u64, Vec<Result<std::process::Child, String>>)> = batch
            .iter()
            .map(|&seed| {
                (seed, (0..runs_per_seed).map(|_| spawn_child(test, seed).map_err(|e| e.to_string())).collect())
            })
            .collect();
        for (seed, runs) in children {
            let reports: Vec<Result<RunReport, String>> = runs.into_iter().map(|c| c.and_then(collect_child)).collect();
            let r = seed_result(seed, reports, start.elapsed());
            print_result(test, &r);
            out.push(r);
        }
    }
    out
}

/// In a suite's parent process: prints how many of `results` failed, and fails the test if any
/// did (their replay commands are printed above).
pub fn assert_none_failed(test: &str, results: &[SeedResult]) {
    let failed: Vec<u64> = results.iter().filter(|r| r.failed()).map(|r| r.seed).collect();
    emit(&format!("{test}: {} seeds, {} failed", results.len(), failed.len()));
    assert!(failed.is_empty(), "failing seeds: {failed:?} (replay commands above)");
}

/// In a planted-bug suite's parent process: prints the seeds in which one of the `safety`
/// invariants reported a violation, and fails the test if there is none.
pub fn assert_caught(test: &str, results: &[SeedResult], safety: &[&str]) {
    let caught: Vec<u64> =
        results.iter().filter(|r| r.violations.iter().any(|v| safety.contains(&v.invariant))).map(|r| r.seed).collect();
    emit(&format!("{test}: caught in seeds {caught:?} of {}", results.len()));
    assert!(!caught.is_empty(), "no safety invariant caught the bug in {} seeds", results.len());
}

fn seed_result(seed: u64, mut reports: Vec<Result<RunReport, String>>, wall: Duration) -> SeedResult {
    let second = if reports.len() > 1 { Some(reports.remove(1)) } else { None };
    let first = reports.remove(0);
    let mut r = SeedResult {
        seed,
        digest: None,
        summary: String::new(),
        violations: Vec::new(),
        panic: None,
        nondeterministic: None,
        wall,
    };
    match first {
        Ok(rep) => {
            r.digest = Some(rep.digest);
            r.summary = rep.summary;
            r.violations = rep.violations.into_iter().map(|(i, d)| Violation::new(leak(i), d)).collect();
        }
        Err(e) => r.panic = Some(e),
    }
    if let (Some(d1), Some(Ok(rep2))) = (r.digest, &second) {
        if rep2.digest != d1 {
            r.nondeterministic = Some((d1, rep2.digest));
        }
    }
    r
}

/// Invariant names come back as strings from the child; the checkers' names are static.
fn leak(name: String) -> &'static str {
    use crate::invariants::*;
    let known = [
        single_leader_per_term::INVARIANT,
        committed_never_lost::INVARIANT,
        state_machines_converge::INVARIANT,
        linearizable::INVARIANT,
        shards_led::INVARIANT,
        no_acked_record_lost::INVARIANT,
        no_duplicates::INVARIANT,
        replicas_agree::INVARIANT,
        mqtt_at_least_once::INVARIANT,
        mqtt_exactly_once::INVARIANT,
        mqtt_order::INVARIANT,
        mqtt_retained::INVARIANT,
        mqtt_will::INVARIANT,
        mqtt_session_resumed::INVARIANT,
        kafka_lost_write::INVARIANT,
        kafka_duplicate::INVARIANT,
        kafka_inconsistent_offsets::INVARIANT,
        kafka_nonmonotonic_poll::INVARIANT,
        kafka_poll_skip::INVARIANT,
        kafka_nonmonotonic_send::INVARIANT,
        kafka_offsets_backwards::INVARIANT,
        kafka_split_ownership::INVARIANT,
        kafka_unseen::INVARIANT,
        "load_scenario",
        "liveness",
        "expected_results",
    ];
    known.into_iter().find(|k| *k == name).unwrap_or("unknown")
}
