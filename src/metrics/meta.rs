//! Metrics of the meta role (Raft state, refreshed when scraped) and of the admin API.

use std::sync::atomic::AtomicU64;

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

/// Raft gauges of this meta node, and admin requests.
pub struct MetaMetrics {
    pub term: Gauge,
    pub is_leader: Gauge,
    pub last_log_index: Gauge,
    pub last_applied: Gauge,
    pub voters: Gauge,
    pub topics: Gauge,
    pub admin_requests: Family<RouteLabels, Counter<u64, AtomicU64>>,
}

impl MetaMetrics {
    pub fn register(r: &mut Registry) -> Self {
        let m = MetaMetrics {
            term: Gauge::default(),
            is_leader: Gauge::default(),
            last_log_index: Gauge::default(),
            last_applied: Gauge::default(),
            voters: Gauge::default(),
            topics: Gauge::default(),
            admin_requests: Family::default(),
        };
        r.register("meta_term", "Current Raft term of this meta node", m.term.clone());
        r.register("meta_is_leader", "1 if this node is the meta leader", m.is_leader.clone());
        r.register("meta_last_log_index", "Index of the last entry in this node's Raft log", m.last_log_index.clone());
        r.register(
            "meta_last_applied",
            "Index of the last entry applied to the meta state machine",
            m.last_applied.clone(),
        );
        r.register("meta_voters", "Voting members of the meta cluster", m.voters.clone());
        r.register("meta_topics", "Topics in the applied metadata", m.topics.clone());
        r.register("admin_requests", "Admin HTTP requests by method and status", m.admin_requests.clone());
        m
    }

    /// Sets the Raft gauges from this node's meta role, if it has one.
    pub fn refresh(&self, meta: Option<&MetaNode>) {
        let Some(m) = meta else { return };
        let s = m.status();
        self.term.set(s.term as i64);
        self.is_leader.set(i64::from(s.leader == Some(s.id)));
        self.last_log_index.set(s.last_log_index.map_or(-1, |v| v as i64));
        self.last_applied.set(s.last_applied.map_or(-1, |v| v as i64));
        self.voters.set(s.voters.len() as i64);
        self.topics.set(m.sm.read(|a| a.state.topics.len()) as i64);
    }
}
