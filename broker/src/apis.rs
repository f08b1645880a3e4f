//! The one list of APIs the broker serves, and the table of the versions of
//! each.
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

/// The list of APIs the broker serves, in API key order: each API, named as
/// in [`ApiKey`] (and `RequestKind`, `ResponseKind`), with its handler module
/// under `handlers/`. This list is the only one: [`SUPPORTED_APIS`] is made
/// from it here, and the dispatch to the handlers and the error responses in
/// `handlers`. Serving another API is a line here and its handler module.
///
/// `served_apis!(then)` calls the macro `then` with the list as
/// `Api => module, ...`.
macro_rules! served_apis {
    ($then:ident) => {
        $then! {
            Produce => produce,
            Fetch => fetch,
            ListOffsets => list_offsets,
            Metadata => metadata,
            OffsetCommit => offset_commit,
            OffsetFetch => offset_fetch,
            FindCoordinator => find_coordinator,
            JoinGroup => join_group,
            Heartbeat => heartbeat,
            LeaveGroup => leave_group,
            SyncGroup => sync_group,
            DescribeGroups => describe_groups,
            ListGroups => list_groups,
            ApiVersions => api_versions,
            CreateTopics => create_topics,
            DeleteTopics => delete_topics,
            DeleteRecords => delete_records,
            InitProducerId => init_producer_id,
            OffsetForLeaderEpoch => offset_for_leader_epoch,
            AddPartitionsToTxn => add_partitions_to_txn,
            AddOffsetsToTxn => add_offsets_to_txn,
            EndTxn => end_txn,
            TxnOffsetCommit => txn_offset_commit,
            DescribeConfigs => describe_configs,
            AlterConfigs => alter_configs,
            CreatePartitions => create_partitions,
            DeleteGroups => delete_groups,
            IncrementalAlterConfigs => incremental_alter_configs,
            OffsetDelete => offset_delete,
            DescribeCluster => describe_cluster,
            DescribeTransactions => describe_transactions,
            ListTransactions => list_transactions,
            DescribeTopicPartitions => describe_topic_partitions,
        }
    };
}
pub(crate) use served_apis;

macro_rules! version_table {
    ($($api:ident => $module:ident,)*) => {
        /// Every API the broker serves, in API key order.
        pub const SUPPORTED_APIS: &[ApiSupport] = &[$(full(ApiKey::$api)),*];
    };
}
served_apis!(version_table);

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
