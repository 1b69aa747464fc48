//! `keel bench mqtt`'s options, and the plan they make: which measurement, against what,
//! bounded by what.

use std::time::Duration;

use keel_protocols::mqtt::{QoS, Version};

use super::payload::STAMP_BYTES;
use super::tracker::SEQ_MAX;

/// The longest run there can be, whatever `--count` asks for.
pub const RUN_TIME_MAX: Duration = Duration::from_secs(3600);
/// The largest payload, in bytes.
pub const PAYLOAD_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Options of `keel bench mqtt`.
#[derive(clap::Args, Debug, Clone)]
pub struct Options {
    /// Broker address; several, comma-separated, spread connections over them (more source
    /// ports for many connections: e.g. 127.0.0.1,127.0.0.2 against a broker on 0.0.0.0).
    #[arg(long, default_value = "127.0.0.1", value_delimiter = ',')]
    pub host: Vec<String>,
    #[arg(long, default_value_t = 1883)]
    pub port: u16,
    /// Publishing clients.
    #[arg(long, default_value_t = 1)]
    pub publishers: u32,
    /// Subscribing clients, each to `<topic-prefix>/#` (or with --shared, one shared group).
    #[arg(long, default_value_t = 1)]
    pub subscribers: u32,
    /// Topics: publisher i publishes to `<topic-prefix>/<i % topics>`.
    #[arg(long, default_value_t = 1)]
    pub topics: u32,
    #[arg(long, default_value = "bench")]
    pub topic_prefix: String,
    /// Subscribers share `$share/bench/<topic-prefix>/#`: each message goes to one of them.
    #[arg(long)]
    pub shared: bool,
    /// QoS of publishes and subscriptions.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub qos: u8,
    /// Payload bytes (at least 24: send time, sequence number, publisher, run).
    #[arg(long, default_value_t = 100)]
    pub payload: usize,
    /// Messages per second, all publishers together; 0: as fast as the broker takes them.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Messages per publisher (instead of --duration).
    #[arg(long, conflicts_with = "duration")]
    pub count: Option<u64>,
    /// Seconds of publishing (default 10); with --connections, seconds to hold them.
    #[arg(long)]
    pub duration: Option<u64>,
    /// Seconds before measuring starts (messages sent before are counted, not timed).
    #[arg(long, default_value_t = 0)]
    pub warmup: u64,
    /// Unacknowledged QoS 1/2 PUBLISHes a publisher keeps in flight.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    pub inflight: u16,
    /// MQTT version: 3.1.1 or 5.
    #[arg(long, default_value = "3.1.1", value_parser = ["3.1.1", "5"])]
    pub version: String,
    /// Instead of messages: connect this many clients, each subscribing to its own topic, and
    /// report how fast they connected (then hold them for --duration seconds).
    #[arg(long)]
    pub connections: Option<u32>,
    /// Persistent sessions (clean session false, fixed client ids). With --connections: measure
    /// CONNECT + SUBSCRIBE QoS 1 per second, each client disconnecting once subscribed.
    #[arg(long)]
    pub persistent: bool,
    /// Connection attempts in flight at once (--connections).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub connect_concurrency: u32,
    /// Client ids are `<client-prefix>-<role>-<n>`.
    #[arg(long, default_value = "keel-bench")]
    pub client_prefix: String,
    /// Keep alive of every client, in seconds (each pings at half of it when otherwise idle).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u16).range(2..))]
    pub keep_alive: u16,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Publishers to subscribers: rates, losses, latency.
    Throughput,
    /// Clients that connect, subscribe and stay idle.
    Idle { clients: u32 },
    /// Persistent sessions connecting and subscribing.
    Persistent { clients: u32 },
}

/// The options, checked.
#[derive(Debug, Clone)]
pub struct Plan {
    pub mode: Mode,
    pub version: Version,
    pub qos: QoS,
    /// Publishing time (or, connecting modes, holding time).
    pub duration: Duration,
    pub warmup: Duration,
    pub opts: Options,
}

impl Options {
    /// Checks the options and makes the plan.
    pub fn plan(&self) -> Result<Plan, String> {
        let version = if self.version == "5" { Version::V5 } else { Version::V311 };
        let qos = QoS::from_u8(self.qos).ok_or("--qos: 0, 1 or 2")?;
        let mode = match (self.connections, self.persistent) {
            (Some(0), _) => return Err("--connections: at least 1".into()),
            (Some(clients), false) => Mode::Idle { clients },
            (Some(clients), true) => Mode::Persistent { clients },
            (None, _) => Mode::Throughput,
        };
        let duration = match self.count {
            Some(_) => RUN_TIME_MAX,
            None => Duration::from_secs(self.duration.unwrap_or(10)).min(RUN_TIME_MAX),
        };
        let warmup = Duration::from_secs(self.warmup);
        if self.host.iter().all(|h| h.is_empty()) {
            return Err("--host: an address is needed".into());
        }
        if mode == Mode::Throughput {
            self.check_throughput(warmup, duration)?;
        }
        Ok(Plan { mode, version, qos, duration, warmup, opts: self.clone() })
    }

    fn check_throughput(&self, warmup: Duration, duration: Duration) -> Result<(), String> {
        if self.publishers == 0 && self.subscribers == 0 {
            return Err("--publishers and --subscribers are both 0: nothing to measure".into());
        }
        if self.topics == 0 {
            return Err("--topics: at least 1".into());
        }
        if !(STAMP_BYTES..=PAYLOAD_BYTES_MAX).contains(&self.payload) {
            return Err(format!("--payload: {STAMP_BYTES} to {PAYLOAD_BYTES_MAX} bytes"));
        }
        if self.count.is_some_and(|c| c == 0 || c >= SEQ_MAX) {
            return Err(format!("--count: 1 to {}", SEQ_MAX - 1));
        }
        if self.count.is_none() && warmup >= duration {
            return Err("--warmup must be shorter than --duration".into());
        }
        if self.topic_prefix.is_empty() || self.topic_prefix.contains(['#', '+']) {
            return Err("--topic-prefix: a topic name without wildcards".into());
        }
        Ok(())
    }
}

impl Plan {
    /// The address of client `n` (spread over the hosts).
    pub fn addr(&self, n: u32) -> String {
        let hosts: Vec<&String> = self.opts.host.iter().filter(|h| !h.is_empty()).collect();
        let host = hosts[n as usize % hosts.len()];
        if host.contains(':') {
            format!("[{host}]:{}", self.opts.port)
        } else {
            format!("{host}:{}", self.opts.port)
        }
    }

    /// What the version is called on the command line.
    pub fn version_name(&self) -> &'static str {
        match self.version {
            Version::V5 => "5",
            _ => "3.1.1",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        opts: Options,
    }

    fn plan(args: &str) -> Result<Plan, String> {
        let cli =
            Cli::try_parse_from(std::iter::once("bench").chain(args.split_whitespace())).map_err(|e| e.to_string())?;
        cli.opts.plan()
    }

    #[test]
    fn defaults_are_one_to_one_qos_0_for_ten_seconds() {
        let p = plan("").unwrap();
        assert_eq!(
            (p.mode, p.qos, p.version, p.duration),
            (Mode::Throughput, QoS::AtMostOnce, Version::V311, Duration::from_secs(10))
        );
        assert_eq!((p.opts.publishers, p.opts.subscribers, p.opts.payload, p.opts.inflight), (1, 1, 100, 64));
        assert_eq!(p.addr(0), "127.0.0.1:1883");
    }

    #[test]
    fn modes_and_limits() {
        assert_eq!(plan("--connections 5").unwrap().mode, Mode::Idle { clients: 5 });
        assert_eq!(plan("--connections 5 --persistent").unwrap().mode, Mode::Persistent { clients: 5 });
        assert!(plan("--qos 3").is_err());
        assert!(plan("--payload 10").is_err());
        assert!(plan("--count 5 --duration 5").is_err());
        assert!(plan("--warmup 10").is_err());
        assert!(plan("--inflight 0").is_err());
        assert!(plan("--topic-prefix a/#").is_err());
        let p = plan("--host 127.0.0.1,127.0.0.2 --port 1 --version 5").unwrap();
        assert_eq!(
            (p.addr(0), p.addr(1), p.addr(2), p.version),
            ("127.0.0.1:1".into(), "127.0.0.2:1".into(), "127.0.0.1:1".into(), Version::V5)
        );
    }
}
