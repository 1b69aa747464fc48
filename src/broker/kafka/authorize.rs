//! Topic ACLs on every Kafka API that names a topic, from the `[mqtt] acl` rules (one rule set for
//! both protocols): reading a topic (Fetch, ListOffsets, OffsetForLeaderEpoch, OffsetCommit,
//! OffsetFetch, DescribeConfigs, seeing it in Metadata) needs subscribe access; writing to it
//! (Produce) publish access; changing it (CreateTopics, DeleteTopics, CreatePartitions,
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
    Read,
    Write,
    Alter,
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
        let can = |a: Access| self.session.allows(self.core, self.client_id, a, topic);
        match need {
            Need::Read => can(Access::Subscribe),
            Need::Write => can(Access::Publish),
            Need::Alter => can(Access::Subscribe) && can(Access::Publish),
        }
    }

    /// `Ok` if the caller may do `need` to `topic`, else the error and a message for the client.
    pub fn check(&self, need: Need, topic: &str) -> Result<(), (ResponseError, String)> {
        match self.may(need, topic) {
            true => Ok(()),
            false => Err((ResponseError::TopicAuthorizationFailed, format!("not authorized for topic {topic}"))),
        }
    }
}
