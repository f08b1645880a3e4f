//! DeleteRecords (key 21): moves a partition's log start offset (-1: to the
//! high watermark) and drops the batches wholly below it. An offset past the
//! high watermark is OFFSET_OUT_OF_RANGE; a partition led elsewhere is
//! NOT_LEADER_OR_FOLLOWER.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use ferrokafka_protocol::generated::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::RequestContext;

fn partition_result(
    index: i32,
    low_watermark: i64,
    code: ErrorCode,
) -> DeleteRecordsPartitionResult {
    DeleteRecordsPartitionResult {
        partition_index: index,
        low_watermark,
        error_code: code,
        ..DeleteRecordsPartitionResult::default()
    }
}

pub(crate) async fn handle(
    context: &RequestContext,
    request: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let cluster = &context.cluster;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .into_iter()
                .map(|wanted| {
                    match cluster
                        .led_partition(&topic.name, wanted.partition_index, context.node)
                        .map_err(crate::log::LogError::from)
                        .and_then(|led| led.log.delete_records(wanted.offset))
                    {
                        Ok(low_watermark) => {
                            partition_result(wanted.partition_index, low_watermark, ErrorCode::None)
                        }
                        Err(error) => partition_result(wanted.partition_index, -1, error.code),
                    }
                })
                .collect();
            DeleteRecordsTopicResult {
                name: topic.name,
                partitions,
                ..DeleteRecordsTopicResult::default()
            }
        })
        .collect();
    DeleteRecordsResponse {
        topics,
        ..DeleteRecordsResponse::default()
    }
}

pub(crate) fn error_response(
    request: &DeleteRecordsRequest,
    _version: i16,
    code: ErrorCode,
) -> DeleteRecordsResponse {
    DeleteRecordsResponse {
        topics: request
            .topics
            .iter()
            .map(|topic| DeleteRecordsTopicResult {
                name: topic.name.clone(),
                partitions: topic
                    .partitions
                    .iter()
                    .map(|p| partition_result(p.partition_index, -1, code))
                    .collect(),
                ..DeleteRecordsTopicResult::default()
            })
            .collect(),
        ..DeleteRecordsResponse::default()
    }
}
