//! CreatePartitions (key 37): grows a topic (INVALID_PARTITIONS when the
//! count does not grow it), with optional assignments (leader = first
//! broker of each) and `validate_only`.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::create_partitions_response::CreatePartitionsTopicResult;
use ferrokafka_protocol::generated::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::{RequestContext, message_for};

pub(crate) fn handle(
    context: &RequestContext,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let results = request
        .topics
        .into_iter()
        .map(|topic| {
            let leaders = topic.assignments.as_ref().map(|assignments| {
                assignments
                    .iter()
                    .map(|a| a.broker_ids.first().copied().unwrap_or(-1))
                    .collect()
            });
            match context.cluster.add_partitions(
                &topic.name,
                topic.count,
                leaders,
                request.validate_only,
            ) {
                Ok(()) => CreatePartitionsTopicResult {
                    name: topic.name,
                    error_code: ErrorCode::None,
                    error_message: None,
                    ..CreatePartitionsTopicResult::default()
                },
                Err(error) => CreatePartitionsTopicResult {
                    name: topic.name,
                    error_code: error.code,
                    error_message: Some(error.message),
                    ..CreatePartitionsTopicResult::default()
                },
            }
        })
        .collect();
    CreatePartitionsResponse {
        results,
        ..CreatePartitionsResponse::default()
    }
}

pub(crate) fn error_response(
    request: &CreatePartitionsRequest,
    _version: i16,
    code: ErrorCode,
) -> CreatePartitionsResponse {
    CreatePartitionsResponse {
        results: request
            .topics
            .iter()
            .map(|topic| CreatePartitionsTopicResult {
                name: topic.name.clone(),
                error_code: code,
                error_message: message_for(code),
                ..CreatePartitionsTopicResult::default()
            })
            .collect(),
        ..CreatePartitionsResponse::default()
    }
}
