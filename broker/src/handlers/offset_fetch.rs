//! OffsetFetch (key 9): handed to the group coordinator (v0-7 one group,
//! v8+ several). A node that does not coordinate groups answers
//! NOT_COORDINATOR: at the top level from v2, per partition before (v0-1
//! have no top-level error), per group from v8.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use ferrokafka_protocol::generated::{OffsetFetchRequest, OffsetFetchResponse};

use super::RequestContext;

pub(crate) async fn handle(
    context: &RequestContext,
    request: OffsetFetchRequest,
) -> OffsetFetchResponse {
    if !context.is_coordinator() {
        return error_response(&request, context.version, ErrorCode::NotCoordinator);
    }
    context
        .cluster
        .groups()
        .offset_fetch(request, context.version)
        .await
}

pub(crate) fn error_response(
    request: &OffsetFetchRequest,
    version: i16,
    code: ErrorCode,
) -> OffsetFetchResponse {
    if version >= 8 {
        return OffsetFetchResponse {
            groups: request
                .groups
                .iter()
                .map(|group| OffsetFetchResponseGroup {
                    group_id: group.group_id.clone(),
                    error_code: code,
                    ..OffsetFetchResponseGroup::default()
                })
                .collect(),
            ..OffsetFetchResponse::default()
        };
    }
    let topics = request
        .topics
        .iter()
        .flatten()
        .map(|topic| OffsetFetchResponseTopic {
            name: topic.name.clone(),
            partitions: topic
                .partition_indexes
                .iter()
                .map(|partition| OffsetFetchResponsePartition {
                    partition_index: *partition,
                    committed_offset: -1,
                    metadata: Some(String::new()),
                    error_code: if version < 2 { code } else { ErrorCode::None },
                    ..OffsetFetchResponsePartition::default()
                })
                .collect(),
            ..OffsetFetchResponseTopic::default()
        })
        .collect();
    OffsetFetchResponse {
        topics,
        error_code: if version >= 2 { code } else { ErrorCode::None },
        ..OffsetFetchResponse::default()
    }
}
