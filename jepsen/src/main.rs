//! `keel-jepsen`: one Jepsen-style run against real keel processes (see the crate docs and the
//! README's "Jepsen-style checks"). Exit status 0 when the verdict is the one `--expect`s.

use std::process::ExitCode;

use clap::Parser;
use keel_jepsen::opts::Opts;

fn main() -> ExitCode {
    let opts = Opts::parse();
    match keel_jepsen::run::run(&opts) {
        Err(e) => {
            eprintln!("keel-jepsen: {e}");
            ExitCode::from(2)
        }
        Ok((verdict, out)) => {
            let faults: Vec<String> = verdict
                .stats
                .iter()
                .filter(|(k, _)| k.starts_with("faults-"))
                .map(|(k, v)| format!("{}={v}", &k[7..]))
                .collect();
            let stats: Vec<String> = verdict
                .stats
                .iter()
                .filter(|(k, _)| !k.starts_with("faults-"))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let anomalies: Vec<&String> = verdict.anomalies.keys().collect();
            println!(
                "jepsen {}: {} ({}); faults: {}; anomalies: {:?}{}; results in {}",
                opts.workload,
                if verdict.valid { "valid" } else { "INVALID" },
                stats.join(" "),
                faults.join(" "),
                anomalies,
                verdict.error.as_ref().map(|e| format!("; error: {e}")).unwrap_or_default(),
                out.display()
            );
            let expected = (opts.expect == "invalid") != verdict.valid;
            if expected {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
