//! Leader epochs as Kafka clients see them (KIP-320). A partition's leader epoch is its shard's
//! epoch in meta — what Metadata reports — and the storage leader's epoch cache, which starts a
//! new entry with that same number whenever a replica becomes leader, tells which epoch each
//! record was written in: Fetch stamps batches with it, ListOffsets answers it with offsets, and
//! OffsetForLeaderEpoch answers where an epoch ended. One numbering everywhere is what lets a
//! client (librdkafka, the Java consumer) validate its position after a leader change instead of
//! resetting it or asking again forever.

use keel_protocols::kafka::kafka_protocol::ResponseError;

use crate::meta::view::MetaView;

/// A meta epoch as Kafka's i32 (saturating; epochs never come near it).
pub fn to_kafka(epoch: u64) -> i32 {
    epoch.min(i32::MAX as u64) as i32
}

/// The partition's current leader epoch, as Metadata reports it (a binding's: the log's); `None`
/// if there is no such partition.
pub fn current(view: &MetaView, topic: &str, partition: i32) -> Option<i32> {
    let target = crate::meta::bindings::resolve(&view.topics, topic)?;
    let shard = target.topic.shards.get(usize::try_from(partition).ok()?)?;
    Some(to_kafka(shard.epoch))
}

/// Checks the epoch a client believes current (`-1`: it does not say) against the partition's:
/// an older one is FENCED_LEADER_EPOCH (the client's metadata is stale), a newer one
/// UNKNOWN_LEADER_EPOCH (this broker's is).
pub fn check(client: i32, current: i32) -> Result<(), ResponseError> {
    match client {
        c if c < 0 || c == current => Ok(()),
        c if c < current => Err(ResponseError::FencedLeaderEpoch),
        _ => Err(ResponseError::UnknownLeaderEpoch),
    }
}

/// The epoch the record at `offset` was written in, from the epoch starts of a read
/// (`(epoch, first offset)`, increasing); -1 if unknown.
pub fn at(starts: &[(u64, u64)], offset: u64) -> i32 {
    let i = starts.partition_point(|(_, start)| *start <= offset);
    i.checked_sub(1).map_or(-1, |j| to_kafka(starts[j].0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_client_is_fenced_and_a_newer_one_unknown() {
        assert_eq!(check(-1, 5), Ok(()));
        assert_eq!(check(5, 5), Ok(()));
        assert_eq!(check(4, 5), Err(ResponseError::FencedLeaderEpoch));
        assert_eq!(check(6, 5), Err(ResponseError::UnknownLeaderEpoch));
    }

    #[test]
    fn records_take_the_epoch_in_effect_at_their_offset() {
        let starts = [(3, 10), (5, 14)];
        assert_eq!(
            [at(&starts, 9), at(&starts, 10), at(&starts, 13), at(&starts, 14), at(&starts, 99)],
            [-1, 3, 3, 5, 5]
        );
        assert_eq!(to_kafka(u64::MAX), i32::MAX);
    }
}
