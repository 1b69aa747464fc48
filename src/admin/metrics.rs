//! Prometheus metrics of the node, in the text exposition format.
//!
//! Gauges that mirror Raft state are refreshed when scraped; counters count as things happen.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::meta::MetaNode;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub status: u16,
}

/// The node's metrics.
pub struct Metrics {
    registry: Registry,
    pub meta_term: Gauge,
    pub meta_is_leader: Gauge,
    pub meta_last_log_index: Gauge,
    pub meta_last_applied: Gauge,
    pub meta_voters: Gauge,
    pub meta_topics: Gauge,
    pub admin_requests: Family<RouteLabels, Counter<u64, AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("keel");
        let m = Metrics {
            registry: Registry::default(),
            meta_term: Gauge::default(),
            meta_is_leader: Gauge::default(),
            meta_last_log_index: Gauge::default(),
            meta_last_applied: Gauge::default(),
            meta_voters: Gauge::default(),
            meta_topics: Gauge::default(),
            admin_requests: Family::default(),
        };
        registry.register("meta_term", "Current Raft term of this meta node", m.meta_term.clone());
        registry.register("meta_is_leader", "1 if this node is the meta leader", m.meta_is_leader.clone());
        registry.register(
            "meta_last_log_index",
            "Index of the last entry in this node's Raft log",
            m.meta_last_log_index.clone(),
        );
        registry.register(
            "meta_last_applied",
            "Index of the last entry applied to the meta state machine",
            m.meta_last_applied.clone(),
        );
        registry.register("meta_voters", "Voting members of the meta cluster", m.meta_voters.clone());
        registry.register("meta_topics", "Topics in the applied metadata", m.meta_topics.clone());
        registry.register("admin_requests", "Admin HTTP requests by method and status", m.admin_requests.clone());
        Metrics { registry, ..m }
    }
}

impl Metrics {
    /// Refreshes the Raft gauges and renders every metric.
    pub fn render(&self, meta: Option<&MetaNode>) -> String {
        if let Some(m) = meta {
            let s = m.status();
            self.meta_term.set(s.term as i64);
            self.meta_is_leader.set(i64::from(s.leader == Some(s.id)));
            self.meta_last_log_index.set(s.last_log_index.map_or(-1, |v| v as i64));
            self.meta_last_applied.set(s.last_applied.map_or(-1, |v| v as i64));
            self.meta_voters.set(s.voters.len() as i64);
            self.meta_topics.set(m.sm.read(|a| a.state.topics.len()) as i64);
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
