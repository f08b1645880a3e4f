//! OffsetCommit (key 8): handed to the group coordinator, which checks each
//! partition against the broker's topics (UNKNOWN_TOPIC_OR_PARTITION) and
//! persists through the data directory's offset store when there is one. A
//! node that does not coordinate groups answers NOT_COORDINATOR.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use ferrokafka_protocol::generated::{OffsetCommitRequest, OffsetCommitResponse};

use super::RequestContext;

pub(crate) async fn handle(
    context: &RequestContext,
    request: OffsetCommitRequest,
) -> OffsetCommitResponse {
    if !context.is_coordinator() {
        return error_response(&request, context.version, ErrorCode::NotCoordinator);
    }
    let cluster = &context.cluster;
    let partition_exists = |topic: &str, partition: i32| cluster.partition_exists(topic, partition);
    cluster
        .groups()
        .offset_commit(request, context.version, &partition_exists)
        .await
}

pub(crate) fn error_response(
    request: &OffsetCommitRequest,
    _version: i16,
    code: ErrorCode,
) -> OffsetCommitResponse {
    OffsetCommitResponse {
        topics: request
            .topics
            .iter()
            .map(|topic| OffsetCommitResponseTopic {
                name: topic.name.clone(),
                partitions: topic
                    .partitions
                    .iter()
                    .map(|p| OffsetCommitResponsePartition {
                        partition_index: p.partition_index,
                        error_code: code,
                        ..OffsetCommitResponsePartition::default()
                    })
                    .collect(),
                ..OffsetCommitResponseTopic::default()
            })
            .collect(),
        ..OffsetCommitResponse::default()
    }
}
