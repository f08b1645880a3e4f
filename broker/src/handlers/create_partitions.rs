//! CreatePartitions (key 37): grows a topic (INVALID_PARTITIONS when the
//! count does not grow it), with optional assignments (leader = first
//! broker of each) and `validate_only`. As in Kafka, a topic named twice
//! is answered once with INVALID_REQUEST and not grown, and an assignment
//! naming a broker twice is INVALID_REPLICA_ASSIGNMENT; more than 10000 new
//! partitions in all fail every other topic with POLICY_VIOLATION.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::create_partitions_request::CreatePartitionsTopic;
use ferrokafka_protocol::generated::create_partitions_response::CreatePartitionsTopicResult;
use ferrokafka_protocol::generated::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::{RequestContext, message_for};

pub(crate) async fn handle(
    context: &RequestContext,
    request: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let duplicated = |name: &str| request.topics.iter().filter(|t| t.name == name).count() > 1;
    let additional: i64 = request
        .topics
        .iter()
        .filter(|t| !duplicated(&t.name))
        .filter_map(|t| {
            let current = context.cluster.topic(&t.name)?.partitions.len() as i64;
            Some((i64::from(t.count) - current).max(0))
        })
        .sum();
    let too_many = additional > i64::from(crate::cluster::MAX_PARTITIONS_PER_TOPIC);
    let mut answered: Vec<String> = Vec::new();
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        if too_many && !duplicated(&topic.name) {
            results.push(CreatePartitionsTopicResult {
                name: topic.name.clone(),
                error_code: ErrorCode::PolicyViolation,
                error_message: Some(
                    "Excessively large number of additional partitions per request.".into(),
                ),
                ..CreatePartitionsTopicResult::default()
            });
            continue;
        }
        if duplicated(&topic.name) {
            if !answered.contains(&topic.name) {
                answered.push(topic.name.clone());
                results.push(CreatePartitionsTopicResult {
                    name: topic.name.clone(),
                    error_code: ErrorCode::InvalidRequest,
                    error_message: Some("Duplicate topic name.".into()),
                    ..CreatePartitionsTopicResult::default()
                });
            }
            continue;
        }
        if let Some(message) = topic
            .assignments
            .iter()
            .flatten()
            .find_map(|a| repeated_broker(&a.broker_ids))
        {
            results.push(CreatePartitionsTopicResult {
                name: topic.name.clone(),
                error_code: ErrorCode::InvalidReplicaAssignment,
                error_message: Some(message),
                ..CreatePartitionsTopicResult::default()
            });
            continue;
        }
        results.push(grow(context, &request, topic.clone()));
    }
    CreatePartitionsResponse {
        results,
        ..CreatePartitionsResponse::default()
    }
}

/// Kafka's message for a manual assignment naming a broker twice.
pub(crate) fn repeated_broker(brokers: &[i32]) -> Option<String> {
    brokers
        .iter()
        .enumerate()
        .find(|(i, b)| brokers.iter().skip(i + 1).any(|other| other == *b))
        .map(|(_, b)| {
            format!("The manual partition assignment includes the broker {b} more than once.")
        })
}

fn grow(
    context: &RequestContext,
    request: &CreatePartitionsRequest,
    topic: CreatePartitionsTopic,
) -> CreatePartitionsTopicResult {
    let leaders = topic.assignments.as_ref().map(|assignments| {
        assignments
            .iter()
            .map(|a| a.broker_ids.first().copied().unwrap_or(-1))
            .collect()
    });
    let (error_code, error_message) = match context.cluster.add_partitions(
        &topic.name,
        topic.count,
        leaders,
        request.validate_only,
    ) {
        Ok(()) => (ErrorCode::None, None),
        Err(error) => (error.code, Some(error.message)),
    };
    CreatePartitionsTopicResult {
        name: topic.name,
        error_code,
        error_message,
        ..CreatePartitionsTopicResult::default()
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
