//! The summary printed at the end: a text block on stdout, or with `--json` one JSON object
//! (one line, for scripts). Latencies are in microseconds.

use serde::Serialize;

use super::histogram::Histogram;

/// Percentiles of a latency histogram recorded in nanoseconds, in microseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub samples: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

impl Latency {
    pub fn of(h: &Histogram) -> Latency {
        let us = |ns: u64| (ns as f64 / 100.0).round() / 10.0;
        Latency {
            samples: h.count(),
            p50_us: us(h.percentile(50.0)),
            p99_us: us(h.percentile(99.0)),
            p999_us: us(h.percentile(99.9)),
            max_us: us(h.max()),
        }
    }
}

/// The outcome of a publishers-to-subscribers run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ThroughputReport {
    pub mode: &'static str,
    pub broker: String,
    pub version: &'static str,
    pub qos: u8,
    pub publishers: u32,
    pub subscribers: u32,
    pub shared: bool,
    pub topics: u32,
    pub payload_bytes: usize,
    /// Messages per second asked for (0: flat out).
    pub rate: u64,
    pub warmup_s: f64,
    /// PUBLISHes written by the publishers.
    pub sent: u64,
    /// Acknowledged by the broker with success (QoS 1 and 2).
    pub acked: u64,
    /// Acknowledged with a failure reason code.
    pub rejected: u64,
    /// Messages the subscribers should have had: `sent` per subscriber, or once for the
    /// shared group.
    pub expected: u64,
    /// PUBLISHes of this run the subscribers received, duplicates included.
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    /// PUBLISHes not from this run (an earlier run's, from a persistent session).
    pub foreign: u64,
    /// Seconds from the end of the warm-up to the last measured send / receive.
    pub send_window_s: f64,
    pub receive_window_s: f64,
    pub sent_per_s: f64,
    pub received_per_s: f64,
    pub latency: Latency,
    pub errors: Vec<String>,
}

impl ThroughputReport {
    /// The text block.
    pub fn text(&self) -> String {
        let l = &self.latency;
        let rate = if self.rate == 0 { "flat out".to_string() } else { format!("{} msg/s", self.rate) };
        let shared = if self.shared { " (shared)" } else { "" };
        let mut s = format!(
            "keel bench mqtt: {} MQTT {}, QoS {}, {} pub -> {} sub{shared}, {} topic(s), {} B payload, {rate}\n",
            self.broker, self.version, self.qos, self.publishers, self.subscribers, self.topics, self.payload_bytes
        );
        s += &format!("  sent          {:>12}   (acked {}, rejected {})\n", self.sent, self.acked, self.rejected);
        s += &format!("  received      {:>12}   (expected {})\n", self.received, self.expected);
        s += &format!("  lost          {:>12}\n", self.lost);
        s += &format!("  duplicates    {:>12}\n", self.duplicates);
        s += &format!("  out of order  {:>12}\n", self.out_of_order);
        if self.foreign > 0 {
            s += &format!("  foreign       {:>12}   (not this run's)\n", self.foreign);
        }
        s += &format!(
            "  sent/s        {:>12.0}   (over {:.2} s after a {} s warm-up)\n",
            self.sent_per_s, self.send_window_s, self.warmup_s
        );
        s += &format!("  received/s    {:>12.0}   (over {:.2} s)\n", self.received_per_s, self.receive_window_s);
        s += &format!(
            "  latency µs    p50 {}  p99 {}  p99.9 {}  max {}  ({} samples)\n",
            l.p50_us, l.p99_us, l.p999_us, l.max_us, l.samples
        );
        for e in &self.errors {
            s += &format!("  error: {e}\n");
        }
        s
    }
}

/// The outcome of a connecting run (idle clients, or persistent sessions).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnectReport {
    /// "connections" or "persistent".
    pub mode: &'static str,
    pub broker: String,
    pub version: &'static str,
    pub clients: u32,
    pub connected: u64,
    pub failed: u64,
    /// CONNACKs with Session Present (sessions left by an earlier run).
    pub session_present: u64,
    /// From the first attempt to the last client subscribed.
    pub connect_s: f64,
    pub connected_per_s: f64,
    /// Per client: TCP connect, CONNECT/CONNACK, SUBSCRIBE/SUBACK.
    pub connect_latency: Latency,
    /// Seconds the connections were held idle.
    pub held_s: f64,
    /// Connections the broker closed while they were held.
    pub dropped: u64,
    pub errors: Vec<String>,
}

impl ConnectReport {
    /// The text block.
    pub fn text(&self) -> String {
        let l = &self.connect_latency;
        let what = if self.mode == "persistent" {
            "persistent sessions (connect + subscribe QoS 1)"
        } else {
            "idle connections"
        };
        let mut s = format!("keel bench mqtt: {} MQTT {}, {} {what}\n", self.broker, self.version, self.clients);
        s += &format!(
            "  connected     {:>12}   (failed {}, session present {})\n",
            self.connected, self.failed, self.session_present
        );
        s += &format!("  took          {:>12.2} s\n", self.connect_s);
        s += &format!("  connected/s   {:>12.0}\n", self.connected_per_s);
        s += &format!("  per client µs p50 {}  p99 {}  p99.9 {}  max {}\n", l.p50_us, l.p99_us, l.p999_us, l.max_us);
        if self.mode == "connections" {
            s += &format!("  held          {:>12.1} s   (dropped by the broker {})\n", self.held_s, self.dropped);
        }
        for e in &self.errors {
            s += &format!("  error: {e}\n");
        }
        s
    }
}

/// Prints `report` as text or JSON on stdout.
pub fn print<R: Serialize>(report: &R, text: impl FnOnce(&R) -> String, json: bool) {
    if json {
        report_line!("{}", serde_json::to_string(report).unwrap_or_default());
    } else {
        report_out!("{}", text(report));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_reported_in_microseconds() {
        let mut h = Histogram::default();
        (1..=1000u64).for_each(|v| h.record(v * 1000));
        let l = Latency::of(&h);
        assert_eq!((l.samples, l.max_us), (1000, 1000.0));
        assert!((l.p50_us - 500.0).abs() <= 5.0 && (l.p999_us - 999.0).abs() <= 10.0, "{l:?}");
        let json = serde_json::to_value(ThroughputReport { latency: l, ..Default::default() }).unwrap();
        assert_eq!(json["latency"]["max_us"], 1000.0);
        assert!(ThroughputReport::default().text().contains("lost"));
    }
}
