//! Opening a shard's log with its topic's engine: memory, segment, object (tiered to the
//! node's object store, with a tiering loop per replica) or rocksdb (builds with the feature).

use std::sync::Arc;
use std::time::Duration;

use keel_rt::disk::Disk;
use keel_rt::{task, time};
use keel_storage::{LogEngine, LogError, MemoryConfig, MemoryEngine, ObjectEngine, SegmentConfig, SegmentEngine};

use super::{AbortOnDrop, StoreNode};
use crate::meta::records::{Engine, TopicRecord};

/// How often an object engine runs a tiering round (upload, clean up, evict).
const TIER_EVERY: Duration = Duration::from_secs(1);

/// The object store behind the `object` engine and its limits.
#[derive(Clone)]
pub struct ObjectTier {
    pub store: Arc<dyn keel_storage::object_store::ObjectStore>,
    /// Where under the store this cluster's logs go (may be empty).
    pub prefix: String,
    pub config: keel_storage::ObjectConfig,
}

/// What a replica needs to know of its topic. Retention is read when the replica opens (a
/// change applies from the replica's next start).
pub(super) struct TopicSettings {
    /// The topic's id ([`TopicRecord::id`]): replicas of another incarnation of the name are
    /// not this topic's.
    pub(super) id: u64,
    pub(super) engine: Engine,
    pub(super) min_insync: u32,
    pub(super) retention_ms: Option<u64>,
    pub(super) retention_bytes: Option<u64>,
}

impl TopicSettings {
    pub(super) fn of(t: &TopicRecord) -> Self {
        TopicSettings {
            id: t.id,
            engine: t.engine,
            min_insync: t.min_insync_replicas,
            retention_ms: t.retention_ms,
            retention_bytes: t.retention_bytes,
        }
    }
}

/// Where a replica of `topic`'s incarnation `id` keeps its files, and the name its object-tier
/// copy goes under: `<topic>/<partition>` for topics created before ids (0), else
/// `<topic>/<partition>.t<id>`, so a topic deleted and created again starts from nothing.
pub(super) fn shard_path(topic: &str, id: u64, partition: u32) -> String {
    match id {
        0 => format!("{topic}/{partition}"),
        id => format!("{topic}/{partition}.t{id}"),
    }
}

/// A RocksDB log in `dir` of `disk` (real files: RocksDB does its own I/O there).
#[cfg(all(feature = "rocksdb", not(madsim)))]
async fn rocksdb_log(disk: &dyn Disk, dir: &str, settings: &TopicSettings) -> Result<Arc<dyn LogEngine>, String> {
    let config = keel_storage::RocksConfig {
        retention_ms: settings.retention_ms,
        retention_bytes: settings.retention_bytes,
        ..keel_storage::RocksConfig::default()
    };
    let log = keel_storage::RocksEngine::open(disk, dir, config).await.map_err(|e| e.to_string())?;
    Ok(Arc::new(log))
}

/// Without the `rocksdb` feature (and always in simulation), rocksdb topics cannot be served.
#[cfg(not(all(feature = "rocksdb", not(madsim))))]
async fn rocksdb_log(_disk: &dyn Disk, _dir: &str, _settings: &TopicSettings) -> Result<Arc<dyn LogEngine>, String> {
    Err("the rocksdb engine is not built into this binary (build with --features rocksdb)".into())
}

impl StoreNode {
    /// Opens the shard's log with its topic's engine (and starts tiering for `object`).
    pub(super) async fn open_engine(
        &self,
        topic: &str,
        partition: u32,
        settings: &TopicSettings,
        dir: &str,
    ) -> Result<(Arc<dyn LogEngine>, Option<AbortOnDrop>), LogError> {
        let unavailable = |why: String| LogError::Io(std::io::Error::other(why));
        let (retention_ms, retention_bytes) = (settings.retention_ms, settings.retention_bytes);
        let mut segment = SegmentConfig { retention_ms, retention_bytes, ..SegmentConfig::default() };
        if let Some(bytes) = self.segment_bytes_max {
            segment.segment_bytes_max = bytes;
        }
        let engine = settings.engine;
        Ok(match engine {
            Engine::Memory => {
                let config = MemoryConfig { retention_ms, retention_bytes, ..MemoryConfig::default() };
                (Arc::new(MemoryEngine::new(config)), None)
            }
            Engine::Segment => {
                (Arc::new(SegmentEngine::open(self.disk.clone(), &format!("{dir}/log"), segment).await?), None)
            }
            Engine::Object => {
                let tier = self
                    .object_tier
                    .clone()
                    .ok_or_else(|| unavailable("no object store configured on this node".into()))?;
                // One prefix per replica: each replica tiers its own log (they may differ
                // above the HW, and each truncates on its own). A single copy uploaded by the
                // leader would save space; it needs remote metadata shared through meta.
                let base = if tier.prefix.is_empty() { String::new() } else { format!("{}/", tier.prefix) };
                let prefix = format!("{base}{}/replica-{}", shard_path(topic, settings.id, partition), self.node);
                let mut config = tier.config;
                (config.segment.retention_ms, config.segment.retention_bytes) = (retention_ms, retention_bytes);
                let log =
                    ObjectEngine::open(self.disk.clone(), &format!("{dir}/log"), tier.store, &prefix, config).await?;
                let log = Arc::new(log);
                let tiering = AbortOnDrop(task::spawn(tier_loop(log.clone(), self.metrics.clone())));
                (log, Some(tiering))
            }
            Engine::Rocksdb => {
                (rocksdb_log(self.disk.as_ref(), &format!("{dir}/rocksdb"), settings).await.map_err(unavailable)?, None)
            }
        })
    }
}

/// Tiers an object engine's committed, sealed segments, one round every `TIER_EVERY`, until
/// the replica is dropped (which aborts this task).
async fn tier_loop(engine: Arc<ObjectEngine>, metrics: Arc<crate::metrics::Metrics>) {
    loop {
        time::sleep(TIER_EVERY).await;
        let round = engine.tier(time::wall_ms()).await;
        metrics.shards.tiering.count(&round);
        match round {
            Ok(r) if r.uploaded + r.evicted > 0 => tracing::debug!(?r, "tiering round"),
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "tiering round failed; retried next round"),
        }
    }
}
