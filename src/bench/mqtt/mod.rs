//! `keel bench mqtt`: an MQTT load generator, run against Keel or any other broker.
//!
//! Three measurements ([`options::Mode`]):
//! - publishers to subscribers ([`throughput`]): messages sent and received per second,
//!   losses, duplicates, reordering and end-to-end latency, at QoS 0, 1 or 2, flat out or at a
//!   fixed rate;
//! - idle connections ([`connections`]): how fast N clients connect and subscribe, then held
//!   so the broker's memory can be read;
//! - persistent sessions ([`connections`]): CONNECT (clean session false) + SUBSCRIBE QoS 1
//!   per second.
//!
//! Every client is its own task on one socket ([`wire`]) and speaks through Keel's own codec
//! (`keel_protocols::mqtt`). Progress goes to stderr every second; the summary to stdout
//! ([`report`]), as text or one JSON object. The run fails (an `Err`, so a non-zero exit)
//! when QoS 1/2 messages were lost or a client failed.

pub mod connections;
pub mod histogram;
pub mod live;
#[cfg(test)]
mod loopback_tests;
pub mod options;
pub mod pacer;
pub mod payload;
pub mod progress;
pub mod publisher;
pub mod report;
pub mod subscriber;
pub mod throughput;
pub mod tracker;
pub mod window;
pub mod wire;

pub use options::{Mode, Options, Plan};

/// Runs the bench the options describe, prints its summary, and fails if it went wrong.
pub async fn run(opts: Options) -> Result<(), String> {
    let plan = opts.plan()?;
    match plan.mode {
        Mode::Throughput => {
            let report = throughput::run(&plan).await?;
            report::print(&report, report::ThroughputReport::text, opts.json);
            if plan.opts.qos > 0 && report.lost > 0 {
                return Err(format!("{} QoS {} messages lost", report.lost, plan.opts.qos));
            }
            match report.errors.first() {
                Some(e) => Err(format!("{} client(s) failed, the first: {e}", report.errors.len())),
                None => Ok(()),
            }
        }
        Mode::Idle { clients } | Mode::Persistent { clients } => {
            let persistent = matches!(plan.mode, Mode::Persistent { .. });
            let report = connections::run(&plan, clients, persistent).await;
            report::print(&report, report::ConnectReport::text, opts.json);
            match (report.failed, report.dropped) {
                (0, 0) => Ok(()),
                (failed, dropped) => Err(format!("{failed} client(s) failed to connect, {dropped} dropped while idle")),
            }
        }
    }
}
