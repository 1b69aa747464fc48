//! Consumer group lag for the node's metrics: every [`EVERY`], for each group this broker
//! coordinates, each committed partition's lag (its high watermark minus the committed offset).
//! Groups coordinated elsewhere are reported by their coordinators.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use keel_rt::time;

use super::{lock, Core};
use crate::metrics::kafka::GroupLag;
use crate::rpc::shard::OffsetSpec;

/// How often lag is worked out.
pub const EVERY: Duration = Duration::from_secs(15);

impl super::Coordinator {
    /// Every committed offset of the groups loaded here: (group, topic, partition, offset).
    pub async fn committed(&self) -> Vec<(String, String, i32, i64)> {
        let handles: Vec<(String, super::Handle)> =
            lock(&self.groups).iter().map(|(g, h)| (g.clone(), h.clone())).collect();
        let mut out = Vec::new();
        for (group, h) in handles {
            let slot = h.lock().await;
            let Some(l) = slot.as_ref() else { continue };
            out.extend(l.offsets.iter().map(|((t, p), c)| (group.clone(), t.clone(), *p, c.offset)));
        }
        out
    }
}

/// Records between a committed offset and the high watermark, never below zero (no commit,
/// `-1`, counts from 0). Shared with the admin API's group views.
pub fn lag(high_watermark: u64, committed: i64) -> u64 {
    high_watermark.saturating_sub(u64::try_from(committed).unwrap_or(0))
}

/// Lags from committed offsets and the partitions' high watermarks (a partition whose HW could
/// not be read is left out).
pub fn lags(committed: &[(String, String, i32, i64)], hws: &BTreeMap<(String, i32), u64>) -> Vec<GroupLag> {
    committed
        .iter()
        .filter_map(|(group, topic, partition, offset)| {
            let hw = *hws.get(&(topic.clone(), *partition))?;
            Some(GroupLag { group: group.clone(), topic: topic.clone(), partition: *partition, lag: lag(hw, *offset) })
        })
        .collect()
}

/// Works lag out every [`EVERY`] until the broker stops.
pub async fn run(core: Arc<Core>) {
    loop {
        time::sleep(EVERY).await;
        let committed = core.groups.committed().await;
        let mut hws = BTreeMap::new();
        for (_, topic, partition, _) in &committed {
            let key = (topic.clone(), *partition);
            if hws.contains_key(&key) || *partition < 0 {
                continue;
            }
            if let Ok(hw) = core.data.list_offsets(topic, *partition as u32, OffsetSpec::Latest, 0).await {
                hws.insert(key, hw);
            }
        }
        core.metrics.kafka.set_group_lags(&lags(&committed, &hws));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_is_the_hw_minus_the_committed_offset_never_below_zero() {
        let committed = vec![
            ("g".to_string(), "t".to_string(), 0, 5),
            ("g".to_string(), "t".to_string(), 1, 9),
            ("h".to_string(), "u".to_string(), 0, 1),
        ];
        let hws = [(("t".to_string(), 0), 12), (("t".to_string(), 1), 7)].into_iter().collect();
        let got: Vec<(String, i32, u64)> =
            lags(&committed, &hws).into_iter().map(|l| (l.group, l.partition, l.lag)).collect();
        assert_eq!(got, vec![("g".into(), 0, 7), ("g".into(), 1, 0)], "u/0's HW unknown: left out");
    }
}
