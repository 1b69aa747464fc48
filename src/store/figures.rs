//! The storage role's figures for the node's metrics, read when scraped: per replica here its
//! high watermark and log bounds (from the replica), its role, replica count and ISR (from
//! this node's metadata view), and the cluster's offline shards.

use std::sync::Arc;

use super::StoreNode;
use crate::meta::view::ViewHandle;
use crate::metrics::shards::ReplicaFigures;
use crate::metrics::Metrics;

/// Registers the scraper of `store`'s replicas with `metrics`.
pub fn scrape_into(store: &StoreNode, view: &ViewHandle, metrics: &Arc<Metrics>) {
    let (store, view, weak) = (store.clone(), view.clone(), Arc::downgrade(metrics));
    metrics.on_scrape(Box::new(move || {
        if let Some(metrics) = weak.upgrade() {
            let (replicas, offline) = figures(&store, &view);
            metrics.shards.set_replicas(&replicas, offline);
        }
    }));
}

/// Every replica's figures, and how many shards of the cluster have no leader.
fn figures(store: &StoreNode, view: &ViewHandle) -> (Vec<ReplicaFigures>, usize) {
    let v = view.current();
    let offline = v.topics.values().flat_map(|t| t.shards.iter()).filter(|s| s.leader.is_none()).count();
    let mut out = Vec::new();
    for (topic, partition) in store.shards() {
        let Some(h) = store.handle(&topic, partition) else { continue };
        let shard = v.topics.get(&topic).and_then(|t| t.shards.iter().find(|s| s.partition == partition));
        out.push(ReplicaFigures {
            high_watermark: *h.hw.borrow(),
            log_start: h.engine.start_offset(),
            log_end: h.engine.end_offset(),
            leader: shard.is_some_and(|s| s.leader == Some(store.node)),
            replicas: shard.map_or(0, |s| s.replicas.len()),
            in_sync: shard.map_or(0, |s| s.isr.len()),
            engine: v.topics.get(&topic).map_or(String::new(), |t| format!("{:?}", t.engine).to_lowercase()),
            stored_bytes: h.engine.stored_bytes(),
            object_bytes: h.engine.object_stored_bytes(),
            topic,
            partition,
        });
    }
    (out, offline)
}
