//! Keel's real-client check with the rdkafka crate (Rust bindings of librdkafka, built from
//! source by `rdkafka-sys`): produce and consume with acks 0, 1 and all, the idempotent
//! producer, a consumer group that commits and resumes, every compression codec, seeking by
//! timestamp (offsets_for_times) and the admin API, against a running broker.
//!
//!     rdkafka-check 127.0.0.1:9092 [CHECK...]
//!
//! Prints one line per check (`ok NAME` or `FAIL NAME: why`), then
//! `kafka clients: N passed, M failed (rdkafka crate)`; exits nonzero when a check failed.
//! Built by ci/kafka-clients.sh alone: a workspace member outside the default members.

mod checks;
mod client;

use std::process::ExitCode;
use std::time::Duration;

/// No check may take longer than this.
const CHECK_TIMEOUT: Duration = Duration::from_secs(120);

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(bootstrap) = std::env::args().nth(1) else {
        eprintln!("usage: rdkafka-check HOST:PORT[,HOST:PORT...] [CHECK...]");
        return ExitCode::from(2);
    };
    let version = rdkafka::util::get_rdkafka_version().1;
    println!("rdkafka: librdkafka {version} against {bootstrap}");
    let only: Vec<String> = std::env::args().skip(2).collect();
    let (mut passed, mut failed) = (0, 0);
    for (name, check) in checks::all().into_iter().filter(|(n, _)| only.is_empty() || only.iter().any(|o| o == n)) {
        let outcome = match tokio::time::timeout(CHECK_TIMEOUT, check(bootstrap.clone())).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("timed out after {CHECK_TIMEOUT:?}")),
        };
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("ok {name}");
            }
            Err(why) => {
                failed += 1;
                println!("FAIL {name}: {why}");
            }
        }
    }
    println!("kafka clients: {passed} passed, {failed} failed (rdkafka crate)");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
