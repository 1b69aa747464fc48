//! Topic ACLs on every Kafka API that names a topic, from the `[mqtt] acl` rules (one rule set for
//! both protocols): reading a topic (Fetch, ListOffsets, OffsetForLeaderEpoch, OffsetCommit,
//! OffsetFetch, DescribeConfigs) needs subscribe access; writing to it (Produce) publish access;
//! seeing it in Metadata either (Kafka's DESCRIBE, implied by READ or WRITE: a publish-only
//! producer must still learn the partitions' leaders); changing it (CreateTopics, DeleteTopics, CreatePartitions,
//! AlterConfigs, IncrementalAlterConfigs, creating it on demand through Metadata) both. A denied
//! topic is answered TOPIC_AUTHORIZATION_FAILED and the rest of the request is served, as Kafka
//! does. Groups have no ACLs of their own: a group's committed offsets are guarded by their topics.

use keel_protocols::kafka::kafka_protocol::ResponseError;

use super::sasl::Session;
use super::Core;
use crate::broker::auth::Access;

/// What a request does to a topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    Describe,
    Read,
    Write,
    Alter,
}

/// Whether access `can` grants covers `need`.
fn covers(need: Need, can: impl Fn(Access) -> bool) -> bool {
    match need {
        Need::Describe => can(Access::Subscribe) || can(Access::Publish),
        Need::Read => can(Access::Subscribe),
        Need::Write => can(Access::Publish),
        Need::Alter => can(Access::Subscribe) && can(Access::Publish),
    }
}

/// Who is asking: the connection's login and client id.
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    pub core: &'a Core,
    pub session: &'a Session,
    pub client_id: &'a str,
}

impl Caller<'_> {
    /// Whether the caller may do `need` to `topic`.
    pub fn may(&self, need: Need, topic: &str) -> bool {
        covers(need, |a: Access| self.session.allows(self.core, self.client_id, a, topic))
    }

    /// `Ok` if the caller may do `need` to `topic`, else the error and a message for the client.
    pub fn check(&self, need: Need, topic: &str) -> Result<(), (ResponseError, String)> {
        match self.may(need, topic) {
            true => Ok(()),
            false => Err((ResponseError::TopicAuthorizationFailed, format!("not authorized for topic {topic}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describing_needs_either_access_and_altering_both() {
        let publish_only = |a: Access| a == Access::Publish;
        let subscribe_only = |a: Access| a == Access::Subscribe;
        assert!(covers(Need::Describe, publish_only) && covers(Need::Describe, subscribe_only));
        assert!(!covers(Need::Describe, |_| false));
        assert!(covers(Need::Write, publish_only) && !covers(Need::Read, publish_only));
        assert!(!covers(Need::Alter, publish_only) && covers(Need::Alter, |_| true));
    }
}
