//! DeleteTopics (key 20): by name (v0-5 `topic_names`, v6+ `topics`) or by
//! topic id (v6+). The logs and their files go at once; there is no
//! asynchronous deletion to wait for. As in Kafka, a name (or id) given
//! twice deletes nothing and is answered once, with INVALID_REQUEST.

use ferrokafka_protocol::generated::delete_topics_response::DeletableTopicResult;
use ferrokafka_protocol::generated::{DeleteTopicsRequest, DeleteTopicsResponse};
use ferrokafka_protocol::{ErrorCode, Uuid};

use super::{RequestContext, message_for};

fn result(
    name: Option<String>,
    topic_id: Uuid,
    code: ErrorCode,
    version: i16,
) -> DeletableTopicResult {
    DeletableTopicResult {
        name: if version >= 6 {
            name
        } else {
            Some(name.unwrap_or_default())
        },
        topic_id: if version >= 6 { topic_id } else { Uuid::ZERO },
        error_code: code,
        error_message: if version >= 5 {
            message_for(code)
        } else {
            None
        },
        ..DeletableTopicResult::default()
    }
}

/// (name, id) pairs the request names.
fn named(request: &DeleteTopicsRequest, version: i16) -> Vec<(Option<String>, Uuid)> {
    if version >= 6 {
        request
            .topics
            .iter()
            .map(|topic| (topic.name.clone(), topic.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|name| (Some(name.clone()), Uuid::ZERO))
            .collect()
    }
}

pub(crate) async fn handle(
    context: &RequestContext,
    request: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let cluster = &context.cluster;
    let version = context.version;
    let all = named(&request, version);
    let mut answered: Vec<(Option<String>, Uuid)> = Vec::new();
    let responses = all
        .iter()
        .filter_map(|item| {
            if all.iter().filter(|other| *other == item).count() < 2 {
                return Some(item.clone());
            }
            if !answered.contains(item) {
                answered.push(item.clone());
            }
            None
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|(name, topic_id)| match (name, topic_id.is_zero()) {
            (Some(name), true) => match cluster.delete_topic(&name) {
                Some(topic) => result(Some(name), topic.id, ErrorCode::None, version),
                None => result(
                    Some(name),
                    Uuid::ZERO,
                    ErrorCode::UnknownTopicOrPartition,
                    version,
                ),
            },
            (None, false) => match cluster.topic_by_id(topic_id) {
                Some(topic) => {
                    cluster.delete_topic(&topic.name);
                    result(Some(topic.name), topic_id, ErrorCode::None, version)
                }
                None => result(None, topic_id, ErrorCode::UnknownTopicId, version),
            },
            (name, _) => result(name, topic_id, ErrorCode::InvalidRequest, version),
        })
        .chain(
            answered
                .into_iter()
                .map(|(name, id)| result(name, id, ErrorCode::InvalidRequest, version)),
        )
        .collect();
    DeleteTopicsResponse {
        responses,
        ..DeleteTopicsResponse::default()
    }
}

pub(crate) fn error_response(
    request: &DeleteTopicsRequest,
    version: i16,
    code: ErrorCode,
) -> DeleteTopicsResponse {
    DeleteTopicsResponse {
        responses: named(request, version)
            .into_iter()
            .map(|(name, id)| result(name, id, code, version))
            .collect(),
        ..DeleteTopicsResponse::default()
    }
}
