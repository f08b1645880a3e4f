//! One module per API key, and the dispatch from a decoded request to its
//! handler. Whether an API and version are served at all is decided before
//! this, by the table in [`crate::apis`].
//!
//! Each module has `handle` (the request, answered) and `error_response`
//! (the same request answered with one error code everywhere, for
//! [`crate::faults::FaultAction::Fail`] and, for group APIs, NOT_COORDINATOR).

pub(crate) mod add_offsets_to_txn;
pub(crate) mod add_partitions_to_txn;
pub(crate) mod alter_configs;
pub(crate) mod api_versions;
pub(crate) mod create_partitions;
pub(crate) mod create_topics;
pub(crate) mod delete_groups;
pub(crate) mod delete_records;
pub(crate) mod delete_topics;
pub(crate) mod describe_cluster;
pub(crate) mod describe_configs;
pub(crate) mod describe_groups;
pub(crate) mod describe_topic_partitions;
pub(crate) mod describe_transactions;
pub(crate) mod end_txn;
pub(crate) mod fetch;
pub(crate) mod find_coordinator;
pub(crate) mod heartbeat;
pub(crate) mod incremental_alter_configs;
pub(crate) mod init_producer_id;
pub(crate) mod join_group;
pub(crate) mod leave_group;
pub(crate) mod list_groups;
pub(crate) mod list_offsets;
pub(crate) mod list_transactions;
pub(crate) mod metadata;
pub(crate) mod offset_commit;
pub(crate) mod offset_delete;
pub(crate) mod offset_fetch;
pub(crate) mod offset_for_leader_epoch;
pub(crate) mod produce;
pub(crate) mod sync_group;
pub(crate) mod txn_offset_commit;

use std::sync::Arc;

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::{RequestHeader, RequestKind, ResponseKind};
use tokio::sync::watch;

use crate::cluster::Cluster;

/// What a handler knows about the request it is answering.
pub(crate) struct RequestContext {
    pub(crate) cluster: Arc<Cluster>,
    /// The node the request reached.
    pub(crate) node: i32,
    /// The request's API version.
    pub(crate) version: i16,
    /// The request header (correlation id, client id), for logs.
    pub(crate) header: RequestHeader,
    /// Fires when the node stops, so a long poll can return at once.
    pub(crate) stopped: watch::Receiver<bool>,
    /// An injected error for one partition (see [`crate::faults`]).
    pub(crate) partition_fault: Option<PartitionFault>,
    /// The client's address as Kafka shows it (`/127.0.0.1`), or empty.
    pub(crate) client_host: Arc<str>,
}

/// An error injected for one partition of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartitionFault {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) code: ErrorCode,
}

impl RequestContext {
    /// The error injected for `topic`-`partition`, if any.
    pub(crate) fn injected_error(&self, topic: &str, partition: i32) -> Option<ErrorCode> {
        self.partition_fault
            .as_ref()
            .filter(|fault| fault.topic == topic && fault.partition == partition)
            .map(|fault| fault.code)
    }

    /// Whether this node coordinates groups.
    pub(crate) fn is_coordinator(&self) -> bool {
        self.cluster.coordinator_id() == self.node
    }
}

/// A handler's answer.
// One per request, moved once into the encoder: boxing the response would
// cost an allocation for nothing.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Reply {
    /// Send this response.
    Respond(ResponseKind),
    /// Send nothing (Produce with acks=0).
    Silent,
    /// Close the connection (Produce with acks=0 that failed, as Kafka does,
    /// so the producer notices).
    Close,
}

impl From<ResponseKind> for Reply {
    fn from(response: ResponseKind) -> Self {
        Reply::Respond(response)
    }
}

/// Runs the handler of `request`'s API.
pub(crate) async fn handle(context: &RequestContext, request: RequestKind) -> Reply {
    let version = context.version;
    tracing::trace!(
        node = context.node,
        api = request.api_key().name(),
        version,
        correlation_id = context.header.correlation_id,
        client_id = context.header.client_id.as_deref().unwrap_or(""),
        "handling a request"
    );
    match request {
        RequestKind::Produce(r) => return produce::handle(context, r).await,
        RequestKind::Fetch(r) => ResponseKind::Fetch(fetch::handle(context, r).await),
        RequestKind::ListOffsets(r) => ResponseKind::ListOffsets(list_offsets::handle(context, r)),
        RequestKind::Metadata(r) => ResponseKind::Metadata(metadata::handle(context, r)),
        RequestKind::OffsetCommit(r) => {
            ResponseKind::OffsetCommit(offset_commit::handle(context, r).await)
        }
        RequestKind::OffsetFetch(r) => {
            ResponseKind::OffsetFetch(offset_fetch::handle(context, r).await)
        }
        RequestKind::FindCoordinator(r) => {
            ResponseKind::FindCoordinator(find_coordinator::handle(context, r))
        }
        RequestKind::JoinGroup(r) => ResponseKind::JoinGroup(join_group::handle(context, r).await),
        RequestKind::Heartbeat(r) => ResponseKind::Heartbeat(heartbeat::handle(context, r).await),
        RequestKind::LeaveGroup(r) => {
            ResponseKind::LeaveGroup(leave_group::handle(context, r).await)
        }
        RequestKind::SyncGroup(r) => ResponseKind::SyncGroup(sync_group::handle(context, r).await),
        RequestKind::DescribeGroups(r) => {
            ResponseKind::DescribeGroups(describe_groups::handle(context, r).await)
        }
        RequestKind::ListGroups(r) => {
            ResponseKind::ListGroups(list_groups::handle(context, r).await)
        }
        RequestKind::ApiVersions(r) => ResponseKind::ApiVersions(api_versions::handle(context, r)),
        RequestKind::CreateTopics(r) => {
            ResponseKind::CreateTopics(create_topics::handle(context, r))
        }
        RequestKind::DeleteTopics(r) => {
            ResponseKind::DeleteTopics(delete_topics::handle(context, r))
        }
        RequestKind::DeleteRecords(r) => {
            ResponseKind::DeleteRecords(delete_records::handle(context, r))
        }
        RequestKind::InitProducerId(r) => {
            ResponseKind::InitProducerId(init_producer_id::handle(context, r))
        }
        RequestKind::OffsetForLeaderEpoch(r) => {
            ResponseKind::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(context, r))
        }
        RequestKind::AddPartitionsToTxn(r) => {
            ResponseKind::AddPartitionsToTxn(add_partitions_to_txn::handle(context, r))
        }
        RequestKind::AddOffsetsToTxn(r) => {
            ResponseKind::AddOffsetsToTxn(add_offsets_to_txn::handle(context, r))
        }
        RequestKind::EndTxn(r) => ResponseKind::EndTxn(end_txn::handle(context, r)),
        RequestKind::TxnOffsetCommit(r) => {
            ResponseKind::TxnOffsetCommit(txn_offset_commit::handle(context, r))
        }
        RequestKind::DescribeConfigs(r) => {
            ResponseKind::DescribeConfigs(describe_configs::handle(context, r))
        }
        RequestKind::AlterConfigs(r) => {
            ResponseKind::AlterConfigs(alter_configs::handle(context, r))
        }
        RequestKind::CreatePartitions(r) => {
            ResponseKind::CreatePartitions(create_partitions::handle(context, r))
        }
        RequestKind::DeleteGroups(r) => {
            ResponseKind::DeleteGroups(delete_groups::handle(context, r).await)
        }
        RequestKind::IncrementalAlterConfigs(r) => {
            ResponseKind::IncrementalAlterConfigs(incremental_alter_configs::handle(context, r))
        }
        RequestKind::OffsetDelete(r) => {
            ResponseKind::OffsetDelete(offset_delete::handle(context, r).await)
        }
        RequestKind::DescribeCluster(r) => {
            ResponseKind::DescribeCluster(describe_cluster::handle(context, r))
        }
        RequestKind::DescribeTransactions(r) => {
            ResponseKind::DescribeTransactions(describe_transactions::handle(context, r))
        }
        RequestKind::ListTransactions(r) => {
            ResponseKind::ListTransactions(list_transactions::handle(context, r))
        }
        RequestKind::DescribeTopicPartitions(r) => {
            ResponseKind::DescribeTopicPartitions(describe_topic_partitions::handle(context, r))
        }
        other => {
            // The API table and this match disagree: a broker bug, answered
            // the way an unsupported request is.
            tracing::error!(
                api = other.api_key().name(),
                version,
                "no handler for a supported API"
            );
            return Reply::Close;
        }
    }
    .into()
}

/// `request` answered with `code` on every entry, without applying it.
pub(crate) fn error_response(
    request: &RequestKind,
    version: i16,
    code: ErrorCode,
) -> Option<ResponseKind> {
    Some(match request {
        RequestKind::Produce(r) => ResponseKind::Produce(produce::error_response(r, version, code)),
        RequestKind::Fetch(r) => ResponseKind::Fetch(fetch::error_response(r, version, code)),
        RequestKind::ListOffsets(r) => {
            ResponseKind::ListOffsets(list_offsets::error_response(r, version, code))
        }
        RequestKind::Metadata(r) => {
            ResponseKind::Metadata(metadata::error_response(r, version, code))
        }
        RequestKind::OffsetCommit(r) => {
            ResponseKind::OffsetCommit(offset_commit::error_response(r, version, code))
        }
        RequestKind::OffsetFetch(r) => {
            ResponseKind::OffsetFetch(offset_fetch::error_response(r, version, code))
        }
        RequestKind::FindCoordinator(r) => {
            ResponseKind::FindCoordinator(find_coordinator::error_response(r, version, code))
        }
        RequestKind::JoinGroup(r) => {
            ResponseKind::JoinGroup(join_group::error_response(r, version, code))
        }
        RequestKind::Heartbeat(r) => {
            ResponseKind::Heartbeat(heartbeat::error_response(r, version, code))
        }
        RequestKind::LeaveGroup(r) => {
            ResponseKind::LeaveGroup(leave_group::error_response(r, version, code))
        }
        RequestKind::SyncGroup(r) => {
            ResponseKind::SyncGroup(sync_group::error_response(r, version, code))
        }
        RequestKind::DescribeGroups(r) => {
            ResponseKind::DescribeGroups(describe_groups::error_response(r, version, code))
        }
        RequestKind::ListGroups(r) => {
            ResponseKind::ListGroups(list_groups::error_response(r, version, code))
        }
        RequestKind::ApiVersions(r) => {
            ResponseKind::ApiVersions(api_versions::error_response(r, version, code))
        }
        RequestKind::CreateTopics(r) => {
            ResponseKind::CreateTopics(create_topics::error_response(r, version, code))
        }
        RequestKind::DeleteTopics(r) => {
            ResponseKind::DeleteTopics(delete_topics::error_response(r, version, code))
        }
        RequestKind::DeleteRecords(r) => {
            ResponseKind::DeleteRecords(delete_records::error_response(r, version, code))
        }
        RequestKind::InitProducerId(r) => {
            ResponseKind::InitProducerId(init_producer_id::error_response(r, version, code))
        }
        RequestKind::OffsetForLeaderEpoch(r) => ResponseKind::OffsetForLeaderEpoch(
            offset_for_leader_epoch::error_response(r, version, code),
        ),
        RequestKind::AddPartitionsToTxn(r) => ResponseKind::AddPartitionsToTxn(
            add_partitions_to_txn::error_response(r, version, code),
        ),
        RequestKind::AddOffsetsToTxn(r) => {
            ResponseKind::AddOffsetsToTxn(add_offsets_to_txn::error_response(r, version, code))
        }
        RequestKind::EndTxn(r) => ResponseKind::EndTxn(end_txn::error_response(r, version, code)),
        RequestKind::TxnOffsetCommit(r) => {
            ResponseKind::TxnOffsetCommit(txn_offset_commit::error_response(r, version, code))
        }
        RequestKind::DescribeConfigs(r) => {
            ResponseKind::DescribeConfigs(describe_configs::error_response(r, version, code))
        }
        RequestKind::AlterConfigs(r) => {
            ResponseKind::AlterConfigs(alter_configs::error_response(r, version, code))
        }
        RequestKind::CreatePartitions(r) => {
            ResponseKind::CreatePartitions(create_partitions::error_response(r, version, code))
        }
        RequestKind::DeleteGroups(r) => {
            ResponseKind::DeleteGroups(delete_groups::error_response(r, version, code))
        }
        RequestKind::IncrementalAlterConfigs(r) => ResponseKind::IncrementalAlterConfigs(
            incremental_alter_configs::error_response(r, version, code),
        ),
        RequestKind::OffsetDelete(r) => {
            ResponseKind::OffsetDelete(offset_delete::error_response(r, version, code))
        }
        RequestKind::DescribeCluster(r) => {
            ResponseKind::DescribeCluster(describe_cluster::error_response(r, version, code))
        }
        RequestKind::DescribeTransactions(r) => ResponseKind::DescribeTransactions(
            describe_transactions::error_response(r, version, code),
        ),
        RequestKind::ListTransactions(r) => {
            ResponseKind::ListTransactions(list_transactions::error_response(r, version, code))
        }
        RequestKind::DescribeTopicPartitions(r) => ResponseKind::DescribeTopicPartitions(
            describe_topic_partitions::error_response(r, version, code),
        ),
        _ => return None,
    })
}

/// The error message field for `code`, or `None` for success.
pub(crate) fn message_for(code: ErrorCode) -> Option<String> {
    (!code.is_ok()).then(|| code.description().to_owned())
}

#[cfg(test)]
mod tests;
