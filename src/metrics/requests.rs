//! Requests of one protocol, by kind: how many, their bytes each way and how long they took.
//! Kafka counts them per API, storage per RPC method.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::buckets;

type Counters<L> = Family<L, Counter<u64, AtomicU64>>;

pub struct RequestMetrics<L: Clone + Hash + Eq> {
    pub requests: Counters<L>,
    pub request_bytes: Counters<L>,
    pub response_bytes: Counters<L>,
    pub seconds: Family<L, Histogram, fn() -> Histogram>,
    labels: fn(&str) -> L,
}

impl<L> RequestMetrics<L>
where
    L: Clone + Hash + Eq + Debug + EncodeLabelSet + Send + Sync + 'static,
{
    /// Registers `{prefix}_requests`, `{prefix}_request_bytes`, `{prefix}_response_bytes` and
    /// `{prefix}_request_duration_seconds`; `what` names the requests in the help texts and
    /// `labels` makes a kind's label set.
    pub fn register(r: &mut Registry, prefix: &str, what: &str, labels: fn(&str) -> L) -> Self {
        let m = RequestMetrics {
            requests: Family::default(),
            request_bytes: Family::default(),
            response_bytes: Family::default(),
            seconds: Family::new_with_constructor(|| Histogram::new(buckets::latency_seconds())),
            labels,
        };
        r.register(format!("{prefix}_requests"), format!("Requests served: {what}"), m.requests.clone());
        r.register(
            format!("{prefix}_request_bytes"),
            format!("Bytes of the requests: {what}"),
            m.request_bytes.clone(),
        );
        r.register(
            format!("{prefix}_response_bytes"),
            format!("Bytes of the answers: {what}"),
            m.response_bytes.clone(),
        );
        r.register(
            format!("{prefix}_request_duration_seconds"),
            format!("Time to serve one: {what}"),
            m.seconds.clone(),
        );
        m
    }

    /// One request of `kind` served.
    pub fn observe(&self, kind: &str, request_bytes: usize, response_bytes: usize, took: Duration) {
        let labels = (self.labels)(kind);
        self.requests.get_or_create(&labels).inc();
        self.request_bytes.get_or_create(&labels).inc_by(request_bytes as u64);
        self.response_bytes.get_or_create(&labels).inc_by(response_bytes as u64);
        self.seconds.get_or_create(&labels).observe(took.as_secs_f64());
    }
}
