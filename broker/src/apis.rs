//! The one table of APIs the broker serves, with the versions of each.
//!
//! The connection checks every request against [`SUPPORTED_APIS`] before
//! decoding it, and the ApiVersions handler lists exactly this table, so what
//! the broker advertises and what it answers cannot drift apart. Every range
//! is the full range the message specs define: the handlers fill in each
//! version's fields, and where a version asks for something the broker does
//! not do (fetch sessions) it gives the answer Kafka gives when it cannot
//! (see each handler's header). Transactions (KIP-98) are served;
//! WriteTxnMarkers is broker-to-broker and not listed.
//!
//! Produce v0-v2 stay listed for the reason Kafka 4 lists them: librdkafka
//! refuses a broker that does not (KAFKA-18659).

use ferrokafka_protocol::{ApiKey, VersionRange};

/// One API the broker answers and the versions it answers it at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiSupport {
    /// The API.
    pub api: ApiKey,
    /// The versions served, inclusive.
    pub versions: VersionRange,
}

const fn full(api: ApiKey) -> ApiSupport {
    ApiSupport {
        api,
        versions: api.valid_versions(),
    }
}

/// Every API the broker serves, in API key order.
pub const SUPPORTED_APIS: &[ApiSupport] = &[
    full(ApiKey::Produce),
    full(ApiKey::Fetch),
    full(ApiKey::ListOffsets),
    full(ApiKey::Metadata),
    full(ApiKey::OffsetCommit),
    full(ApiKey::OffsetFetch),
    full(ApiKey::FindCoordinator),
    full(ApiKey::JoinGroup),
    full(ApiKey::Heartbeat),
    full(ApiKey::LeaveGroup),
    full(ApiKey::SyncGroup),
    full(ApiKey::DescribeGroups),
    full(ApiKey::ListGroups),
    full(ApiKey::ApiVersions),
    full(ApiKey::CreateTopics),
    full(ApiKey::DeleteTopics),
    full(ApiKey::DeleteRecords),
    full(ApiKey::InitProducerId),
    full(ApiKey::OffsetForLeaderEpoch),
    full(ApiKey::AddPartitionsToTxn),
    full(ApiKey::AddOffsetsToTxn),
    full(ApiKey::EndTxn),
    full(ApiKey::TxnOffsetCommit),
    full(ApiKey::DescribeConfigs),
    full(ApiKey::AlterConfigs),
    full(ApiKey::CreatePartitions),
    full(ApiKey::DeleteGroups),
    full(ApiKey::IncrementalAlterConfigs),
    full(ApiKey::OffsetDelete),
    full(ApiKey::DescribeCluster),
    full(ApiKey::DescribeTransactions),
    full(ApiKey::ListTransactions),
    full(ApiKey::DescribeTopicPartitions),
];

/// The versions served for the API numbered `key`, if it is served at all.
pub fn supported_versions(key: i16) -> Option<VersionRange> {
    SUPPORTED_APIS
        .iter()
        .find(|support| support.api.key() == key)
        .map(|support| support.versions)
}

/// Whether the API numbered `key` is served at `version`.
pub fn is_supported(key: i16, version: i16) -> bool {
    supported_versions(key).is_some_and(|range| range.contains(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_in_key_order_without_duplicates() {
        for pair in SUPPORTED_APIS.windows(2) {
            assert!(pair[0].api.key() < pair[1].api.key(), "{:?}", pair);
        }
    }

    #[test]
    fn lookups_follow_the_table() {
        assert!(is_supported(18, 0));
        assert!(is_supported(18, 4));
        assert!(!is_supported(18, 5));
        assert!(!is_supported(-1, 0));
        assert!(is_supported(ApiKey::EndTxn.key(), 0));
        assert!(!is_supported(ApiKey::WriteTxnMarkers.key(), 0));
    }
}
