//! The node's Prometheus metrics, rendered by the admin listener's `/metrics` in the text
//! exposition format. Names and labels are documented in `docs/metrics.md`.
//!
//! One registry per node, shared by its roles (`Arc<Metrics>`): counters and histograms count
//! as things happen on the data paths (Kafka requests per API, MQTT packets per type, storage
//! produces and fetches); gauges that mirror state (Raft, shards, sessions) are refreshed when
//! scraped, by the scrapers each role registers ([`Metrics::on_scrape`]).

pub mod buckets;
pub mod kafka;
pub mod meta;
pub mod mirror;
pub mod mqtt;
pub mod requests;
pub mod shards;
pub mod tiering;

use std::sync::Mutex;

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

pub use meta::RouteLabels;

/// Refreshes scrape-time gauges.
pub type Scraper = Box<dyn Fn() + Send + Sync>;

/// The node's metrics.
pub struct Metrics {
    registry: Registry,
    pub meta: meta::MetaMetrics,
    pub kafka: kafka::KafkaMetrics,
    pub mqtt: mqtt::MqttMetrics,
    pub shards: shards::ShardMetrics,
    scrapers: Mutex<Vec<Scraper>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("keel");
        let meta = meta::MetaMetrics::register(&mut registry);
        let kafka = kafka::KafkaMetrics::register(&mut registry);
        let mqtt = mqtt::MqttMetrics::register(&mut registry);
        let shards = shards::ShardMetrics::register(&mut registry);
        Metrics { registry, meta, kafka, mqtt, shards, scrapers: Mutex::new(Vec::new()) }
    }
}

impl Metrics {
    /// Runs `scraper` before every render.
    pub fn on_scrape(&self, scraper: Scraper) {
        self.scrapers.lock().unwrap_or_else(|e| e.into_inner()).push(scraper);
    }

    /// Refreshes the gauges and renders every metric.
    pub fn render(&self, meta: Option<&crate::meta::MetaNode>) -> String {
        self.meta.refresh(meta);
        for scrape in self.scrapers.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            scrape();
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `keel_...` name in `text`, without the suffixes the exposition adds.
    fn names_in(text: &str) -> std::collections::BTreeSet<String> {
        let mut out = std::collections::BTreeSet::new();
        for (i, _) in text.match_indices("keel_") {
            let name: String =
                text[i..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
            let base = ["_bucket", "_count", "_sum", "_total"]
                .iter()
                .fold(name.clone(), |n, s| n.strip_suffix(s).map_or(n.clone(), str::to_string));
            if base != "keel_" {
                out.insert(base);
            }
        }
        out
    }

    #[test]
    fn the_docs_and_the_dashboard_name_only_metrics_that_exist() {
        let exposed: std::collections::BTreeSet<String> = Metrics::default()
            .render(None)
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect();
        let docs = include_str!("../../docs/metrics.md");
        let dashboard = include_str!("../../docs/grafana-dashboard.json");
        for (what, text) in [("docs/metrics.md", docs), ("docs/grafana-dashboard.json", dashboard)] {
            for name in names_in(text) {
                assert!(exposed.contains(&name), "{what} names {name}, which is not exposed: {exposed:?}");
            }
        }
        for name in &exposed {
            assert!(docs.contains(name.as_str()), "{name} is not documented in docs/metrics.md");
        }
    }

    #[test]
    fn scrapers_run_before_a_render_and_names_follow_the_conventions() {
        let m = std::sync::Arc::new(Metrics::default());
        let weak = std::sync::Arc::downgrade(&m);
        m.on_scrape(Box::new(move || {
            if let Some(m) = weak.upgrade() {
                m.mqtt.connections.set(3);
            }
        }));
        m.kafka.observe("Produce", 100, 20, std::time::Duration::from_millis(3));
        let text = m.render(None);
        assert!(text.contains("keel_mqtt_connections 3"), "{text}");
        assert!(text.contains("keel_kafka_requests_total{api=\"Produce\"} 1"), "{text}");
        assert!(text.contains("keel_kafka_request_bytes_total{api=\"Produce\"} 100"), "{text}");
        assert!(text.contains("keel_kafka_request_duration_seconds_bucket{le=\"0.004\",api=\"Produce\"} 1"), "{text}");
        // Counters end in _total, units are in the names (seconds, bytes).
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            let mut parts = line.split_whitespace().skip(2);
            let (name, kind) = (parts.next().unwrap(), parts.next().unwrap());
            assert!(name.starts_with("keel_"), "{line}");
            if kind == "histogram" {
                assert!(name.ends_with("_seconds"), "{line}");
            }
        }
    }
}
