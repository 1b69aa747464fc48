//! Kafka wire protocol metrics, per API: requests, their bytes each way and how long they took
//! (from the decoded request to its encoded answer; a Fetch's wait for records included).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::mirror::Mirror;
use super::requests::RequestMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    pub api: String,
}

pub struct KafkaMetrics {
    pub requests: RequestMetrics<ApiLabels>,
    /// Connections open now (set when scraped).
    pub connections: Gauge,
    /// Frames that closed their connection: undecodable, unknown API or version, over the limit.
    pub protocol_errors: Mirror,
}

impl KafkaMetrics {
    pub fn register(r: &mut Registry) -> Self {
        let labels = |api: &str| ApiLabels { api: api.to_string() };
        let m = KafkaMetrics {
            requests: RequestMetrics::register(r, "kafka", "Kafka requests, by API", labels),
            connections: Gauge::default(),
            protocol_errors: Mirror::default(),
        };
        r.register("kafka_connections", "Kafka client connections open", m.connections.clone());
        r.register(
            "kafka_protocol_errors",
            "Kafka frames that closed their connection (undecodable, unknown, over the limit)",
            m.protocol_errors.counter.clone(),
        );
        m
    }

    /// One request of `api` served.
    pub fn observe(&self, api: &str, request_bytes: usize, response_bytes: usize, took: std::time::Duration) {
        self.requests.observe(api, request_bytes, response_bytes, took);
    }
}
