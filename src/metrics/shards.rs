//! Storage metrics: requests served by this storage node per RPC method (produce, read,
//! replica fetch, list offsets) with their bytes and latency, and per shard replica here its
//! offsets, role and ISR (set when scraped), with the cluster's under-replicated and offline
//! shard counts.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::buckets;
use super::requests::RequestMetrics;
use super::tiering::TieringMetrics;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShardLabels {
    pub topic: String,
    pub partition: u32,
}

type Gauges = Family<ShardLabels, Gauge>;

/// One replica's figures, as the storage role reads them at a scrape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReplicaFigures {
    pub topic: String,
    pub partition: u32,
    pub high_watermark: u64,
    pub log_start: u64,
    pub log_end: u64,
    pub leader: bool,
    pub replicas: usize,
    pub in_sync: usize,
    /// The topic's engine (`segment`, `object`, ...).
    pub engine: String,
    /// Bytes the replica stores, across tiers (`None`: the engine does not know cheaply).
    pub stored_bytes: Option<u64>,
    /// Of those, the bytes held only in the object store.
    pub object_bytes: u64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EngineLabels {
    pub engine: String,
    /// `local` (this node's disk) or `object` (the object store only).
    pub tier: String,
}

pub struct ShardMetrics {
    pub requests: RequestMetrics<MethodLabels>,
    pub produced_records: Counter<u64, AtomicU64>,
    /// How long each log sync (fsync of the shard's files) took.
    pub sync_seconds: Histogram,
    /// ISR changes leaders here decided (and proposed to meta).
    pub isr_shrinks: Counter<u64, AtomicU64>,
    pub isr_expands: Counter<u64, AtomicU64>,
    pub high_watermark: Gauges,
    pub log_start_offset: Gauges,
    pub log_end_offset: Gauges,
    /// On a leader: records in its log not yet acknowledged by every in-sync replica.
    pub replication_lag_records: Gauges,
    pub leader: Gauges,
    pub replicas: Gauges,
    pub in_sync_replicas: Gauges,
    pub stored_bytes: Gauges,
    /// Bytes stored by the replicas here, per engine (those whose engine knows).
    pub engine_stored_bytes: Family<EngineLabels, Gauge>,
    /// Shards this node leads whose ISR is smaller than their replica set.
    pub under_replicated: Gauge,
    /// Shards of the cluster without a leader (every node reports the count its view holds).
    pub offline: Gauge,
    /// The object tier's rounds.
    pub tiering: TieringMetrics,
}

impl ShardMetrics {
    pub fn register(r: &mut Registry) -> Self {
        let labels = |method: &str| MethodLabels { method: method.to_string() };
        let what = "storage RPCs, by method (a produce: until replicated and synced)";
        let m = ShardMetrics {
            requests: RequestMetrics::register(r, "storage", what, labels),
            produced_records: Counter::default(),
            sync_seconds: Histogram::new(buckets::latency_seconds()),
            isr_shrinks: Counter::default(),
            isr_expands: Counter::default(),
            high_watermark: Family::default(),
            log_start_offset: Family::default(),
            log_end_offset: Family::default(),
            replication_lag_records: Family::default(),
            leader: Family::default(),
            replicas: Family::default(),
            in_sync_replicas: Family::default(),
            stored_bytes: Family::default(),
            engine_stored_bytes: Family::default(),
            under_replicated: Gauge::default(),
            offline: Gauge::default(),
            tiering: TieringMetrics::register(r),
        };
        r.register("storage_produced_records", "Records acknowledged by produces here", m.produced_records.clone());
        r.register("storage_sync_duration_seconds", "Time of each shard log sync (fsync)", m.sync_seconds.clone());
        r.register("shard_isr_shrinks", "ISR shrinks decided by shard leaders here", m.isr_shrinks.clone());
        r.register("shard_isr_expands", "ISR expansions decided by shard leaders here", m.isr_expands.clone());
        let gauges = [
            ("shard_high_watermark", "The replica's high watermark", &m.high_watermark),
            ("shard_log_start_offset", "The replica's first stored offset", &m.log_start_offset),
            ("shard_log_end_offset", "The replica's log end", &m.log_end_offset),
            ("shard_replication_lag_records", "On a leader: log end minus high watermark", &m.replication_lag_records),
            ("shard_leader", "1 if this node leads the shard", &m.leader),
            ("shard_replicas", "The shard's replica count", &m.replicas),
            ("shard_in_sync_replicas", "The shard's in-sync replicas", &m.in_sync_replicas),
            ("shard_stored_bytes", "Bytes the replica stores, across tiers", &m.stored_bytes),
        ];
        for (name, help, family) in gauges {
            r.register(name, help, family.clone());
        }
        r.register(
            "shards_under_replicated",
            "Shards led here whose ISR is smaller than their replica set",
            m.under_replicated.clone(),
        );
        r.register("shards_offline", "Shards of the cluster without a leader", m.offline.clone());
        r.register(
            "engine_stored_bytes",
            "Bytes stored by the replicas here, by engine and tier (local disk or object store only)",
            m.engine_stored_bytes.clone(),
        );
        m
    }

    /// One storage RPC served.
    pub fn observe(&self, method: &str, request_bytes: usize, response_bytes: usize, took: Duration) {
        self.requests.observe(method, request_bytes, response_bytes, took);
    }

    /// Replaces the per-replica gauges with `replicas` (shards moved away disappear).
    pub fn set_replicas(&self, replicas: &[ReplicaFigures], offline: usize) {
        let families = [
            &self.high_watermark,
            &self.log_start_offset,
            &self.log_end_offset,
            &self.replication_lag_records,
            &self.leader,
            &self.replicas,
            &self.in_sync_replicas,
            &self.stored_bytes,
        ];
        for f in families {
            f.clear();
        }
        self.engine_stored_bytes.clear();
        let mut per_engine: std::collections::BTreeMap<(&str, &str), u64> = Default::default();
        for r in replicas {
            let l = ShardLabels { topic: r.topic.clone(), partition: r.partition };
            let set = |f: &Gauges, v: u64| {
                f.get_or_create(&l).set(i64::try_from(v).unwrap_or(i64::MAX));
            };
            set(&self.high_watermark, r.high_watermark);
            set(&self.log_start_offset, r.log_start);
            set(&self.log_end_offset, r.log_end);
            set(&self.replication_lag_records, if r.leader { r.log_end.saturating_sub(r.high_watermark) } else { 0 });
            set(&self.leader, u64::from(r.leader));
            set(&self.replicas, r.replicas as u64);
            set(&self.in_sync_replicas, r.in_sync as u64);
            if let Some(bytes) = r.stored_bytes {
                set(&self.stored_bytes, bytes);
                let object = r.object_bytes.min(bytes);
                *per_engine.entry((r.engine.as_str(), "local")).or_default() += bytes - object;
                if object > 0 || r.engine == "object" {
                    *per_engine.entry((r.engine.as_str(), "object")).or_default() += object;
                }
            }
        }
        for ((engine, tier), bytes) in per_engine {
            let labels = EngineLabels { engine: engine.to_string(), tier: tier.to_string() };
            self.engine_stored_bytes.get_or_create(&labels).set(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        let under = replicas.iter().filter(|r| r.leader && r.in_sync < r.replicas).count();
        self.under_replicated.set(under as i64);
        self.offline.set(offline as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_gauges_follow_the_replicas_held_now() {
        let mut r = Registry::default();
        let m = ShardMetrics::register(&mut r);
        let a = ReplicaFigures {
            topic: "t".into(),
            partition: 0,
            high_watermark: 7,
            log_end: 9,
            leader: true,
            replicas: 3,
            in_sync: 2,
            ..Default::default()
        };
        let b = ReplicaFigures { partition: 1, leader: false, in_sync: 3, ..a.clone() };
        m.set_replicas(&[a.clone(), b], 1);
        let t0 = ShardLabels { topic: "t".into(), partition: 0 };
        assert_eq!(m.replication_lag_records.get_or_create(&t0).get(), 2);
        assert_eq!((m.under_replicated.get(), m.offline.get()), (1, 1));
        m.set_replicas(&[ReplicaFigures { in_sync: 3, ..a }], 0);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        assert!(!text.contains("partition=\"1\""), "a replica moved away is gone: {text}");
        assert_eq!((m.under_replicated.get(), m.offline.get()), (0, 0));
    }

    #[test]
    fn stored_bytes_split_into_the_local_and_object_tiers() {
        let mut r = Registry::default();
        let m = ShardMetrics::register(&mut r);
        let seg = ReplicaFigures {
            topic: "s".into(),
            engine: "segment".into(),
            stored_bytes: Some(100),
            ..Default::default()
        };
        let obj = ReplicaFigures {
            topic: "o".into(),
            engine: "object".into(),
            stored_bytes: Some(1_000),
            object_bytes: 700,
            ..Default::default()
        };
        m.set_replicas(&[seg, obj], 0);
        let get = |engine: &str, tier: &str| {
            m.engine_stored_bytes.get_or_create(&EngineLabels { engine: engine.into(), tier: tier.into() }).get()
        };
        assert_eq!((get("segment", "local"), get("object", "local"), get("object", "object")), (100, 300, 700));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        assert!(!text.contains("engine=\"segment\",tier=\"object\""), "no object tier for segment logs: {text}");
    }
}
