//! Metadata (key 3): the running nodes, the controller, and topics with
//! their partitions and leaders, creating unknown topics when automatic
//! creation is on and the request allows it (v4+ `allow_auto_topic_creation`;
//! always allowed before v4, as in Kafka).
//!
//! Topics requested by id (v10+) are looked up by id, from v12 even when a
//! name comes with the id (the Java client sends "" rather than null).
//! Replicas are the leader and the nodes after it (there is no replication, see
//! [`crate::cluster::Topic::replicas`]); the ISR is those that are running. Partitions whose leader
//! node is stopped report LEADER_NOT_AVAILABLE with leader -1 and the node
//! among the offline replicas, which is what a single-replica Kafka
//! partition looks like when its broker is down.
//! Authorized operations (v8+), when asked, are every operation a topic or
//! the cluster has, as Kafka answers without an authorizer (KIP-430).

use ferrokafka_protocol::generated::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use ferrokafka_protocol::generated::{MetadataRequest, MetadataResponse};
use ferrokafka_protocol::{ErrorCode, Uuid};

use super::RequestContext;
use crate::cluster::{Cluster, Topic};

/// `topic_authorized_operations` / `cluster_authorized_operations` when not
/// requested (Kafka's `Integer.MIN_VALUE`).
pub(crate) const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;

/// A topic's authorized operations when asked (KIP-430): without an
/// authorizer Kafka grants every operation `AclEntry.supportedOperations`
/// lists for a topic (READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7,
/// DESCRIBE 8, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11), as a bit field.
pub(crate) const TOPIC_AUTHORIZED_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

/// The cluster's, likewise (CREATE 5, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9,
/// DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11, IDEMPOTENT_WRITE 12).
pub(crate) const CLUSTER_AUTHORIZED_OPERATIONS: i32 =
    (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) | (1 << 12);

pub(crate) fn brokers(cluster: &Cluster) -> Vec<MetadataResponseBroker> {
    cluster
        .alive_nodes()
        .into_iter()
        .map(|node| MetadataResponseBroker {
            node_id: node.id,
            host: node.host,
            port: i32::from(node.port),
            rack: None,
            ..MetadataResponseBroker::default()
        })
        .collect()
}

/// One topic as Metadata describes it.
pub(crate) fn describe_topic(
    cluster: &Cluster,
    topic: &Topic,
    version: i16,
) -> MetadataResponseTopic {
    let nodes = cluster.config.nodes;
    let partitions = topic
        .partitions
        .iter()
        .enumerate()
        .map(|(index, partition)| {
            let alive = cluster
                .node(partition.leader)
                .is_some_and(|node| node.alive);
            let replicas = topic.replicas(partition.leader, nodes);
            let (error_code, leader_id, isr, offline) = if alive {
                let (isr, offline) = replicas
                    .iter()
                    .partition(|replica| cluster.node(**replica).is_some_and(|node| node.alive));
                (ErrorCode::None, partition.leader, isr, offline)
            } else {
                (
                    ErrorCode::LeaderNotAvailable,
                    -1,
                    Vec::new(),
                    vec![partition.leader],
                )
            };
            MetadataResponsePartition {
                error_code,
                partition_index: i32::try_from(index).unwrap_or(i32::MAX),
                leader_id,
                leader_epoch: if version >= 7 {
                    partition.leader_epoch
                } else {
                    -1
                },
                replica_nodes: replicas,
                isr_nodes: isr,
                offline_replicas: if version >= 5 { offline } else { Vec::new() },
                ..MetadataResponsePartition::default()
            }
        })
        .collect();
    MetadataResponseTopic {
        error_code: ErrorCode::None,
        name: Some(topic.name.clone()),
        topic_id: if version >= 10 { topic.id } else { Uuid::ZERO },
        is_internal: false,
        partitions,
        topic_authorized_operations: OPERATIONS_NOT_REQUESTED,
        ..MetadataResponseTopic::default()
    }
}

fn missing(name: Option<String>, id: Uuid, code: ErrorCode) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: code,
        name,
        topic_id: id,
        topic_authorized_operations: OPERATIONS_NOT_REQUESTED,
        ..MetadataResponseTopic::default()
    }
}

pub(crate) async fn handle(context: &RequestContext, request: MetadataRequest) -> MetadataResponse {
    let cluster = &context.cluster;
    let version = context.version;
    // v0 has no null array: an empty list means every topic.
    let all_topics = request.topics.is_none()
        || (version == 0 && request.topics.as_ref().is_some_and(Vec::is_empty));
    let allow_create = version < 4 || request.allow_auto_topic_creation;
    // The flags exist from v8 (the cluster one until v10; DescribeCluster
    // carries it after).
    let topic_operations = version >= 8 && request.include_topic_authorized_operations;
    let cluster_operations =
        (8..=10).contains(&version) && request.include_cluster_authorized_operations;
    let topics: Vec<MetadataResponseTopic> = if all_topics {
        cluster
            .topics()
            .iter()
            .map(|topic| describe_topic(cluster, topic, version))
            .collect()
    } else {
        request
            .topics
            .unwrap_or_default()
            .into_iter()
            .map(|wanted| match wanted.name {
                // From v12 (where Kafka serves ids) a topic with an id is
                // looked up by it, whatever its name says: the Java client
                // sends the name as "" (its default), not null, and Kafka
                // goes by the ids whenever any is set.
                _ if version >= 12 && !wanted.topic_id.is_zero() => {
                    match cluster.topic_by_id(wanted.topic_id) {
                        Some(topic) => describe_topic(cluster, &topic, version),
                        None => missing(None, wanted.topic_id, ErrorCode::UnknownTopicId),
                    }
                }
                Some(name) => {
                    let found = if allow_create {
                        cluster.auto_create(&name)
                    } else {
                        Ok(cluster.topic(&name))
                    };
                    match found {
                        Ok(Some(topic)) => describe_topic(cluster, &topic, version),
                        Ok(None) => {
                            missing(Some(name), Uuid::ZERO, ErrorCode::UnknownTopicOrPartition)
                        }
                        Err(error) => missing(Some(name), Uuid::ZERO, error.code),
                    }
                }
                None => match cluster.topic_by_id(wanted.topic_id) {
                    Some(topic) => describe_topic(cluster, &topic, version),
                    None => missing(None, wanted.topic_id, ErrorCode::UnknownTopicId),
                },
            })
            .collect()
    };
    let topics = topics
        .into_iter()
        .map(|topic| {
            if topic_operations && topic.error_code.is_ok() {
                MetadataResponseTopic {
                    topic_authorized_operations: TOPIC_AUTHORIZED_OPERATIONS,
                    ..topic
                }
            } else {
                topic
            }
        })
        .collect();
    MetadataResponse {
        brokers: brokers(cluster),
        cluster_id: (version >= 2).then(|| cluster.config.cluster_id.clone()),
        controller_id: if version >= 1 {
            cluster.controller_id()
        } else {
            -1
        },
        topics,
        cluster_authorized_operations: if cluster_operations {
            CLUSTER_AUTHORIZED_OPERATIONS
        } else {
            OPERATIONS_NOT_REQUESTED
        },
        ..MetadataResponse::default()
    }
}

pub(crate) fn error_response(
    request: &MetadataRequest,
    _version: i16,
    code: ErrorCode,
) -> MetadataResponse {
    let topics = request
        .topics
        .iter()
        .flatten()
        .map(|topic| missing(topic.name.clone(), topic.topic_id, code))
        .collect();
    MetadataResponse {
        topics,
        cluster_authorized_operations: OPERATIONS_NOT_REQUESTED,
        ..MetadataResponse::default()
    }
}
