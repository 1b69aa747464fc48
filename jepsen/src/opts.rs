//! The harness's command line.

use std::path::PathBuf;

use clap::Parser;

/// One Jepsen-style run against real `keel` processes.
#[derive(Clone, Debug, Parser)]
#[command(name = "keel-jepsen", version)]
pub struct Opts {
    /// Nodes in the cluster (meta on the first three, storage and broker on all).
    #[arg(long, default_value_t = 5)]
    pub nodes: usize,
    /// Seconds of workload under faults (then heal, recover, drain and check).
    #[arg(long, default_value_t = 60)]
    pub time_limit: u64,
    /// Faults to inject, comma separated: kill, pause, partition, disk, clock (none: no faults).
    #[arg(long, default_value = "kill,pause,partition")]
    pub nemesis: String,
    /// Seconds between the end of one fault and the start of the next.
    #[arg(long, default_value_t = 3)]
    pub nemesis_interval: u64,
    /// How long each fault is held, in seconds: `MIN,MAX` (drawn between them).
    #[arg(long, default_value = "2,6")]
    pub fault_seconds: String,
    /// The share of faults aimed at a node that leads a shard of the workload's topics (0 to 1).
    #[arg(long, default_value_t = 0.5)]
    pub leader_bias: f64,
    /// log, metadata, kafka or mqtt.
    #[arg(long, default_value = "log")]
    pub workload: String,
    /// The MQTT workload's publishers' QoS levels, comma separated, taken in turn.
    #[arg(long, default_value = "1,2")]
    pub mqtt_qos: String,
    /// Concurrent clients of the workload.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Seed of every random choice the harness makes (faults, operations).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The keel binary (default: `keel` beside this harness's own executable).
    #[arg(long)]
    pub keel: Option<PathBuf>,
    /// Where the results folder goes (default: ./jepsen-results/<workload>-<seed>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run a deliberately broken cluster (`storage.unsafe_ack_before_replication`, debug builds
    /// of keel only): shard leaders acknowledge before syncing and before any follower has
    /// the records.
    #[arg(long)]
    pub unsafe_ack_before_replication: bool,
    /// The verdict that makes the exit status 0: `valid` (default) or `invalid` (to show the
    /// checkers catch a broken build).
    #[arg(long, default_value = "valid")]
    pub expect: String,
}

impl Opts {
    /// The faults asked for, each checked against the known ones.
    pub fn faults(&self) -> Result<Vec<String>, String> {
        let known = ["kill", "pause", "partition", "disk", "clock"];
        let mut out = Vec::new();
        for f in self.nemesis.split(',').map(str::trim).filter(|f| !f.is_empty() && *f != "none") {
            if !known.contains(&f) {
                return Err(format!("unknown fault {f:?}: expected some of {}", known.join(", ")));
            }
            out.push(f.to_string());
        }
        Ok(out)
    }

    /// How long faults are held: (min, max) milliseconds.
    pub fn fault_ms(&self) -> Result<(u64, u64), String> {
        let bad = || format!("--fault-seconds: {:?} is not MIN,MAX seconds with 0 < MIN <= MAX", self.fault_seconds);
        let (min, max) = self.fault_seconds.split_once(',').ok_or_else(bad)?;
        let (min, max): (f64, f64) = (min.trim().parse().map_err(|_| bad())?, max.trim().parse().map_err(|_| bad())?);
        if !(min > 0.0 && min <= max && (0.0..=1.0).contains(&self.leader_bias)) {
            return Err(format!("{}; --leader-bias: 0 to 1", bad()));
        }
        Ok(((min * 1000.0) as u64, (max * 1000.0) as u64))
    }

    /// The MQTT publishers' QoS levels.
    pub fn mqtt_qos(&self) -> Result<Vec<u8>, String> {
        let levels: Vec<u8> = self
            .mqtt_qos
            .split(',')
            .map(|q| match q.trim() {
                "1" => Ok(1),
                "2" => Ok(2),
                other => Err(format!("--mqtt-qos: {other:?} is not 1 or 2")),
            })
            .collect::<Result<_, _>>()?;
        if levels.is_empty() {
            return Err("--mqtt-qos: at least one level".into());
        }
        Ok(levels)
    }

    /// libfaketime for clock faults: `JEPSEN_FAKETIME`, or Debian's (package `faketime`).
    pub fn faketime(&self) -> Result<PathBuf, String> {
        let path = std::env::var("JEPSEN_FAKETIME")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"));
        if !path.exists() {
            return Err(format!(
                "clock faults need libfaketime: {} not found (apt-get install faketime, or set JEPSEN_FAKETIME)",
                path.display()
            ));
        }
        Ok(path)
    }

    /// The keel binary to run.
    pub fn keel_binary(&self) -> Result<PathBuf, String> {
        let path = match &self.keel {
            Some(p) => p.clone(),
            None => {
                let me = std::env::current_exe().map_err(|e| format!("own path: {e}"))?;
                me.parent().ok_or("own path has no parent")?.join("keel")
            }
        };
        if !path.exists() {
            return Err(format!(
                "{} not found: build it first (cargo build --bin keel) or pass --keel",
                path.display()
            ));
        }
        Ok(path)
    }
}
