//! The Kafka APIs Keel serves and, for each, the versions: what ApiVersions advertises and
//! what a request is checked against before its body is decoded. Versions that name topics by
//! id only (Produce 13, Fetch 13+, DeleteTopics 6) are left out: Keel names topics.

use kafka_protocol::messages::ApiKey;

/// One served API: its key and the oldest and newest version served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Served {
    pub api_key: ApiKey,
    pub min: i16,
    pub max: i16,
}

const fn served(api_key: ApiKey, min: i16, max: i16) -> Served {
    Served { api_key, min, max }
}

/// Every API Keel answers, in key order.
pub const SERVED: &[Served] = &[
    served(ApiKey::Produce, 3, 11),
    served(ApiKey::Fetch, 4, 12),
    served(ApiKey::ListOffsets, 1, 7),
    served(ApiKey::Metadata, 0, 12),
    served(ApiKey::OffsetCommit, 2, 8),
    served(ApiKey::OffsetFetch, 1, 7),
    served(ApiKey::FindCoordinator, 0, 4),
    served(ApiKey::JoinGroup, 0, 8),
    served(ApiKey::Heartbeat, 0, 4),
    served(ApiKey::LeaveGroup, 0, 5),
    served(ApiKey::SyncGroup, 0, 5),
    served(ApiKey::DescribeGroups, 0, 5),
    served(ApiKey::ListGroups, 0, 4),
    served(ApiKey::SaslHandshake, 1, 1),
    served(ApiKey::ApiVersions, 0, 3),
    served(ApiKey::CreateTopics, 2, 7),
    served(ApiKey::DeleteTopics, 1, 5),
    served(ApiKey::InitProducerId, 0, 5),
    served(ApiKey::OffsetForLeaderEpoch, 2, 4),
    served(ApiKey::DescribeConfigs, 1, 4),
    served(ApiKey::AlterConfigs, 0, 2),
    served(ApiKey::SaslAuthenticate, 0, 2),
    served(ApiKey::CreatePartitions, 0, 3),
    served(ApiKey::DeleteGroups, 0, 2),
    served(ApiKey::IncrementalAlterConfigs, 0, 1),
];

/// The versions served of `api_key`, if it is served at all.
pub fn served_versions(api_key: ApiKey) -> Option<Served> {
    SERVED.iter().copied().find(|s| s.api_key == api_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_served_range_is_one_the_codec_can_decode() {
        for s in SERVED {
            let codec = s.api_key.valid_versions();
            assert!(codec.min <= s.min && s.max <= codec.max && s.min <= s.max, "{s:?} vs {codec:?}");
        }
        let keys: Vec<i16> = SERVED.iter().map(|s| s.api_key as i16).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "in key order, no repeats");
    }
}
