//! What the Kafka scenario's consumer-group members record, for the group invariants
//! (`kafka_offsets_backwards`, `kafka_split_ownership`, `kafka_unseen`): every offset commit with
//! its outcome and the (virtual) times it was sent and answered, every committed offset an
//! OffsetFetch answered, every assignment a SyncGroup answered, and every record a member polled.
//! Times are milliseconds since the run started; the simulation has one clock for all clients.

/// How an OffsetCommit ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Answered without error: the broker promised the offset durable.
    Acked,
    /// Refused before anything was written (not the coordinator, a stale generation, an
    /// unknown member, a rebalance in progress).
    Rejected,
    /// No answer, or an error that does not say whether the offset was written.
    Unknown,
}

/// One offset commit of one partition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    pub group: String,
    pub member: String,
    pub generation: i32,
    pub partition: i32,
    pub offset: i64,
    pub sent_ms: u64,
    pub answered_ms: u64,
    pub outcome: CommitOutcome,
}

/// A committed offset an OffsetFetch answered (-1: none committed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub group: String,
    pub member: String,
    pub partition: i32,
    pub offset: i64,
    pub sent_ms: u64,
    pub answered_ms: u64,
}

/// The partitions a SyncGroup answer gave a member in a generation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assigned {
    pub group: String,
    pub generation: i32,
    pub member: String,
    pub partitions: Vec<i32>,
}

/// Everything the group members recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupLog {
    pub commits: Vec<Commit>,
    pub observed: Vec<Observed>,
    pub assigned: Vec<Assigned>,
    /// Records polled by any member: (partition, offset, value).
    pub polled: Vec<(i32, i64, String)>,
    /// Times a member lost its coordinator while consuming and carried on at another broker with
    /// its member id and generation (a heartbeat answered), without rejoining: a restored group.
    pub resumed: u64,
}
