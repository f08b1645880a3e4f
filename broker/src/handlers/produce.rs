//! Produce (key 0): validate each partition's batches, append them to the
//! partition log as they arrived (base offset, leader epoch and, for
//! LogAppendTime topics, the timestamp patched in place), and answer with
//! the base offset.
//!
//! - acks must be -1, 0 or 1 (INVALID_REQUIRED_ACKS otherwise). With acks=0
//!   there is no response at all; if such a produce fails, the connection is
//!   closed, which is how Kafka tells a fire-and-forget producer.
//! - With a single copy of every partition, acks=1 and acks=-1 are both
//!   satisfied by the append; acks=-1 additionally flushes to disk under the
//!   default flush policy, and fails with NOT_ENOUGH_REPLICAS when fewer of
//!   the partition's reported replicas are running than the topic's
//!   `min.insync.replicas` (so stopping a node has the effect it has in Kafka).
//! - Unknown topics are created when automatic creation is on.
//! - A partition this node does not lead gets NOT_LEADER_OR_FOLLOWER, and
//!   from v10 the current leader and its endpoint (KIP-951).
//! - Idempotent batches go through the sequence checks in [`crate::log`]: a
//!   duplicate is acknowledged with its original offset and not appended.
//! - Transactional batches (KIP-98) must belong to a partition added to the
//!   producer's ongoing transaction (INVALID_TXN_STATE otherwise, as Kafka's
//!   partition verification answers; INVALID_PRODUCER_EPOCH for an older
//!   epoch); see [`crate::txn`].

use std::collections::BTreeSet;

use bytes::Bytes;
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::produce_response::{
    BatchIndexAndErrorMessage, LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse,
    TopicProduceResponse,
};
use ferrokafka_protocol::generated::{ProduceRequest, ProduceResponse, ResponseKind};

use super::{Reply, RequestContext};
use crate::cluster::{Cluster, Topic, now_ms};
use crate::config::FlushPolicy;
use crate::log::{Appended, LogError, validate_produce_records};

fn partition_error(index: i32, error: &LogError, version: i16) -> PartitionProduceResponse {
    PartitionProduceResponse {
        index,
        error_code: error.code,
        base_offset: -1,
        error_message: (version >= 8).then(|| error.message.clone()),
        record_errors: if version >= 8 && error.code == ErrorCode::InvalidRecord {
            vec![BatchIndexAndErrorMessage {
                batch_index: 0,
                batch_index_error_message: Some(error.message.clone()),
                ..BatchIndexAndErrorMessage::default()
            }]
        } else {
            Vec::new()
        },
        ..PartitionProduceResponse::default()
    }
}

/// Validates and appends one partition's records, if this node leads it
/// and, for acks=-1, enough replicas are running.
fn append_partition(
    context: &RequestContext,
    topic: &Topic,
    partition: i32,
    records: Option<&Bytes>,
    acks: i16,
    now: i64,
) -> Result<Appended, LogError> {
    let cluster = &context.cluster;
    let led = Cluster::led_in(topic, partition, context.node)?;
    if acks == -1 {
        let in_sync = topic
            .replicas(context.node, cluster.config.nodes)
            .into_iter()
            .filter(|replica| cluster.node(*replica).is_some_and(|node| node.alive))
            .count();
        if i64::try_from(in_sync).unwrap_or(i64::MAX) < led.settings.min_insync_replicas {
            return Err(LogError::new(
                ErrorCode::NotEnoughReplicas,
                format!(
                    "{in_sync} replicas are in sync, below min.insync.replicas {}",
                    led.settings.min_insync_replicas
                ),
            ));
        }
    }
    let batches = validate_produce_records(records, context.version, &led.settings, now)?;
    let flush = match cluster.config.flush {
        FlushPolicy::Always => true,
        FlushPolicy::OnAcksAll => acks == -1,
        FlushPolicy::Never => false,
    };
    let transactional = batches
        .iter()
        .find(|batch| batch.header().is_transactional())
        .map(|batch| (batch.header().producer_id, batch.header().producer_epoch));
    match transactional {
        Some(producer) => {
            cluster
                .txns
                .append_transactional(producer, &topic.name, partition, || {
                    led.log
                        .append(batches, led.leader_epoch, &led.settings, now, flush)
                })
        }
        None => led
            .log
            .append(batches, led.leader_epoch, &led.settings, now, flush),
    }
}

pub(crate) async fn handle(context: &RequestContext, request: ProduceRequest) -> Reply {
    let cluster = &context.cluster;
    let version = context.version;
    let acks = request.acks;
    let now = now_ms();
    let mut leaders_named = BTreeSet::new();
    let mut any_error = false;
    let mut appended = false;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic_data in request.topic_data {
        let topic = match cluster.auto_create(&topic_data.name) {
            Ok(topic) => topic,
            Err(error) => {
                tracing::debug!(topic = %topic_data.name, error = %error.message, "auto-creation failed");
                None
            }
        };
        let mut partitions = Vec::with_capacity(topic_data.partition_data.len());
        for data in topic_data.partition_data {
            let result = if !(-1..=1).contains(&acks) {
                Err(LogError::from(ErrorCode::InvalidRequiredAcks))
            } else if let Some(code) = context.injected_error(&topic_data.name, data.index) {
                Err(LogError::from(code))
            } else {
                match &topic {
                    None => Err(LogError::from(ErrorCode::UnknownTopicOrPartition)),
                    Some(topic) => append_partition(
                        context,
                        topic,
                        data.index,
                        data.records.as_ref(),
                        acks,
                        now,
                    ),
                }
            };
            let response = match result {
                Ok(outcome) => {
                    appended |= !outcome.duplicate;
                    PartitionProduceResponse {
                        index: data.index,
                        error_code: ErrorCode::None,
                        base_offset: outcome.base_offset,
                        log_append_time_ms: if version >= 2 {
                            outcome.log_append_time_ms
                        } else {
                            -1
                        },
                        log_start_offset: if version >= 5 {
                            outcome.log_start_offset
                        } else {
                            -1
                        },
                        ..PartitionProduceResponse::default()
                    }
                }
                Err(error) => {
                    any_error = true;
                    let mut response = partition_error(data.index, &error, version);
                    if version >= 10 && error.code == ErrorCode::NotLeaderOrFollower {
                        if let Some((leader, epoch)) =
                            cluster.leader_of(&topic_data.name, data.index)
                        {
                            response.current_leader = LeaderIdAndEpoch {
                                leader_id: leader,
                                leader_epoch: epoch,
                                ..LeaderIdAndEpoch::default()
                            };
                            leaders_named.insert(leader);
                        }
                    }
                    response
                }
            };
            partitions.push(response);
        }
        responses.push(TopicProduceResponse {
            name: topic_data.name,
            partition_responses: partitions,
            ..TopicProduceResponse::default()
        });
    }
    if appended {
        cluster.appended.notify_waiters();
    }
    if acks == 0 {
        return if any_error {
            Reply::Close
        } else {
            Reply::Silent
        };
    }
    let node_endpoints = leaders_named
        .into_iter()
        .filter_map(|id| cluster.node(id).filter(|node| node.alive))
        .map(|node| NodeEndpoint {
            node_id: node.id,
            host: node.host,
            port: i32::from(node.port),
            rack: None,
            ..NodeEndpoint::default()
        })
        .collect();
    Reply::Respond(ResponseKind::Produce(ProduceResponse {
        responses,
        node_endpoints,
        ..ProduceResponse::default()
    }))
}

pub(crate) fn error_response(
    request: &ProduceRequest,
    version: i16,
    code: ErrorCode,
) -> ProduceResponse {
    let error = LogError::from(code);
    ProduceResponse {
        responses: request
            .topic_data
            .iter()
            .map(|topic| TopicProduceResponse {
                name: topic.name.clone(),
                partition_responses: topic
                    .partition_data
                    .iter()
                    .map(|partition| partition_error(partition.index, &error, version))
                    .collect(),
                ..TopicProduceResponse::default()
            })
            .collect(),
        ..ProduceResponse::default()
    }
}
