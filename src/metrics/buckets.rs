//! Histogram buckets shared by the latency metrics.

/// Latency buckets in seconds: 0.5 ms to about 16 s, doubling (a request on loopback to one
/// that waited out a leader change).
pub fn latency_seconds() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.0005, 2.0, 16)
}
