//! What the Kafka scenario's clients record, for the `kafka_*` invariants: every produced
//! record with its outcome, every consumer poll, and a final read of every partition.

use std::collections::BTreeMap;

/// How a produced record ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProduceOutcome {
    /// Acknowledged (acks=all) at this offset.
    Acked(i64),
    /// No answer, or an error the client could not tell from a loss.
    Unknown,
}

/// One record a producer sent (retried unchanged until answered, or given up).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Produced {
    pub producer: String,
    pub partition: i32,
    pub value: String,
    pub outcome: ProduceOutcome,
}

/// What one consumer saw of one partition, poll after poll (no reassignment: it owns the
/// partition for the whole run), as (offset, value) in the order received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollLog {
    pub consumer: String,
    pub partition: i32,
    /// The offset the consumer started from.
    pub from: i64,
    pub records: Vec<(i64, String)>,
}

/// A final read of every partition from its start: partition → (offset, value) in order.
pub type FinalRead = BTreeMap<i32, Vec<(i64, String)>>;
