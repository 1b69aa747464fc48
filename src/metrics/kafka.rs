//! Kafka wire protocol metrics, per API: requests, their bytes each way and how long they took
//! (from the decoded request to its encoded answer; a Fetch's wait for records included).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::mirror::Mirror;
use super::requests::RequestMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    pub api: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupLabels {
    pub group: String,
    pub topic: String,
    pub partition: i32,
}

/// One committed partition's lag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupLag {
    pub group: String,
    pub topic: String,
    pub partition: i32,
    pub lag: u64,
}

pub struct KafkaMetrics {
    pub requests: RequestMetrics<ApiLabels>,
    /// Per group coordinated here, topic and partition: HW minus the committed offset.
    pub group_lag: Family<GroupLabels, Gauge>,
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
            group_lag: Family::default(),
        };
        r.register(
            "kafka_group_lag_records",
            "Records a consumer group has yet to commit: HW minus committed offset (groups coordinated here)",
            m.group_lag.clone(),
        );
        r.register("kafka_connections", "Kafka client connections open", m.connections.clone());
        r.register(
            "kafka_protocol_errors",
            "Kafka frames that closed their connection (undecodable, unknown, over the limit)",
            m.protocol_errors.counter.clone(),
        );
        m
    }

    /// Replaces the group lag gauges.
    pub fn set_group_lags(&self, lags: &[GroupLag]) {
        self.group_lag.clear();
        for l in lags {
            let labels = GroupLabels { group: l.group.clone(), topic: l.topic.clone(), partition: l.partition };
            self.group_lag.get_or_create(&labels).set(i64::try_from(l.lag).unwrap_or(i64::MAX));
        }
    }

    /// One request of `api` served.
    pub fn observe(&self, api: &str, request_bytes: usize, response_bytes: usize, took: std::time::Duration) {
        self.requests.observe(api, request_bytes, response_bytes, took);
    }
}
