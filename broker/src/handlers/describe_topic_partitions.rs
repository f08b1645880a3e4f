//! DescribeTopicPartitions (key 75, KIP-966): topics and partitions like
//! Metadata, paginated by `response_partition_limit` with a cursor. An empty
//! topic list means every topic, sorted by name, as in Kafka. There are no
//! eligible leader replicas to report (no ELR without replication). The
//! request has no flag for authorized operations: Kafka always fills them in
//! (every operation of a topic, without an authorizer), and the Java Admin
//! client reads them when `includeAuthorizedOperations` is set.

use ferrokafka_protocol::generated::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use ferrokafka_protocol::generated::{
    DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse,
};
use ferrokafka_protocol::{ErrorCode, Uuid};

use super::RequestContext;
use super::metadata::{OPERATIONS_NOT_REQUESTED, TOPIC_AUTHORIZED_OPERATIONS, describe_topic};

/// Kafka's `max.request.partition.size.limit` default.
const PARTITION_LIMIT_CAP: i32 = 2000;

fn missing(name: String, code: ErrorCode) -> DescribeTopicPartitionsResponseTopic {
    DescribeTopicPartitionsResponseTopic {
        error_code: code,
        name: Some(name),
        topic_id: Uuid::ZERO,
        topic_authorized_operations: OPERATIONS_NOT_REQUESTED,
        ..DescribeTopicPartitionsResponseTopic::default()
    }
}

pub(crate) async fn handle(
    context: &RequestContext,
    request: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let cluster = &context.cluster;
    let mut names: Vec<String> = if request.topics.is_empty() {
        cluster
            .topics()
            .into_iter()
            .map(|topic| topic.name)
            .collect()
    } else {
        request.topics.into_iter().map(|topic| topic.name).collect()
    };
    names.sort();
    names.dedup();
    let (start_topic, start_partition) = request.cursor.map_or((String::new(), 0), |cursor| {
        (cursor.topic_name, cursor.partition_index.max(0))
    });
    let mut budget = request
        .response_partition_limit
        .clamp(1, PARTITION_LIMIT_CAP);
    let mut topics = Vec::new();
    let mut next_cursor = None;
    for name in names.into_iter().filter(|name| *name >= start_topic) {
        let Some(topic) = cluster.topic(&name) else {
            topics.push(DescribeTopicPartitionsResponseTopic {
                topic_authorized_operations: TOPIC_AUTHORIZED_OPERATIONS,
                ..missing(name, ErrorCode::UnknownTopicOrPartition)
            });
            continue;
        };
        if budget == 0 {
            next_cursor = Some(Cursor {
                topic_name: name,
                partition_index: 0,
                ..Cursor::default()
            });
            break;
        }
        let described = describe_topic(cluster, &topic, 12);
        let first = if name == start_topic {
            start_partition
        } else {
            0
        };
        let mut partitions = Vec::new();
        for partition in described
            .partitions
            .into_iter()
            .filter(|p| p.partition_index >= first)
        {
            if budget == 0 {
                next_cursor = Some(Cursor {
                    topic_name: name.clone(),
                    partition_index: partition.partition_index,
                    ..Cursor::default()
                });
                break;
            }
            budget -= 1;
            partitions.push(DescribeTopicPartitionsResponsePartition {
                error_code: partition.error_code,
                partition_index: partition.partition_index,
                leader_id: partition.leader_id,
                leader_epoch: partition.leader_epoch,
                replica_nodes: partition.replica_nodes,
                isr_nodes: partition.isr_nodes,
                eligible_leader_replicas: Some(Vec::new()),
                last_known_elr: Some(Vec::new()),
                offline_replicas: partition.offline_replicas,
                ..DescribeTopicPartitionsResponsePartition::default()
            });
        }
        topics.push(DescribeTopicPartitionsResponseTopic {
            error_code: ErrorCode::None,
            name: Some(name),
            topic_id: topic.id,
            is_internal: false,
            partitions,
            topic_authorized_operations: TOPIC_AUTHORIZED_OPERATIONS,
            ..DescribeTopicPartitionsResponseTopic::default()
        });
        if next_cursor.is_some() {
            break;
        }
    }
    DescribeTopicPartitionsResponse {
        topics,
        next_cursor,
        ..DescribeTopicPartitionsResponse::default()
    }
}

pub(crate) fn error_response(
    request: &DescribeTopicPartitionsRequest,
    _version: i16,
    code: ErrorCode,
) -> DescribeTopicPartitionsResponse {
    DescribeTopicPartitionsResponse {
        topics: request
            .topics
            .iter()
            .map(|topic| missing(topic.name.clone(), code))
            .collect(),
        ..DescribeTopicPartitionsResponse::default()
    }
}
