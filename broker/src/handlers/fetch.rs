//! Fetch (key 1): whole stored batches from the requested offsets, with a
//! real long poll.
//!
//! - The response returns once it holds `min_bytes`, once any partition has
//!   an error, or when `max_wait_ms` has passed; in between the handler
//!   sleeps until an append (or a leader move, or the node stopping) wakes
//!   it and then reads again.
//! - `max_bytes` (v3+) bounds the response and `partition_max_bytes` each
//!   partition, except that the first partition with data always returns at
//!   least one whole batch, so a consumer can make progress past a batch
//!   larger than its limits (KIP-74).
//! - An offset outside log start..=high watermark gets OFFSET_OUT_OF_RANGE.
//! - Fetch sessions (KIP-227) are not kept. That is an answer Kafka itself
//!   gives when its session cache is full: a full fetch (epoch -1) or a
//!   request for a new session (epoch 0) is answered in full with session id
//!   0, which tells the client no session exists; a request naming a session
//!   id gets FETCH_SESSION_ID_NOT_FOUND, and one with session id 0 and any
//!   other epoch INVALID_FETCH_SESSION_EPOCH. Clients then keep sending
//!   full fetches.
//! - From v9, `current_leader_epoch` is checked: older is FENCED_LEADER_EPOCH,
//!   newer UNKNOWN_LEADER_EPOCH. From v12, NOT_LEADER_OR_FOLLOWER names the
//!   current leader, and from v16 its endpoint (KIP-951).
//! - Topics are named (v0-12) or identified by topic id (v13+).
//! - `isolation_level` 1 (READ_COMMITTED, v4+) returns batches below the
//!   last stable offset only, with the aborted transactions overlapping
//!   them (KIP-98); READ_UNCOMMITTED returns everything up to the high
//!   watermark and a null aborted list. Both report the last stable offset.

use std::collections::BTreeSet;
use std::time::Duration;

use ferrokafka_protocol::generated::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint, PartitionData,
};
use ferrokafka_protocol::generated::{FetchRequest, FetchResponse};
use ferrokafka_protocol::{ErrorCode, Uuid};
use tokio::time::Instant;

use super::RequestContext;
use crate::cluster::{Cluster, Topic, now_ms};

/// Session epoch of a full fetch without a session.
const FINAL_EPOCH: i32 = -1;
/// Session epoch asking for a new session.
const INITIAL_EPOCH: i32 = 0;

fn partition_error(index: i32, code: ErrorCode) -> PartitionData {
    PartitionData {
        partition_index: index,
        error_code: code,
        high_watermark: -1,
        last_stable_offset: -1,
        log_start_offset: -1,
        ..PartitionData::default()
    }
}

/// Checks a client's view of the leader epoch against the partition's.
pub(crate) fn check_leader_epoch(client_epoch: i32, leader_epoch: i32) -> Result<(), ErrorCode> {
    if client_epoch < 0 || client_epoch == leader_epoch {
        Ok(())
    } else if client_epoch < leader_epoch {
        Err(ErrorCode::FencedLeaderEpoch)
    } else {
        Err(ErrorCode::UnknownLeaderEpoch)
    }
}

struct Gathered {
    response: FetchResponse,
    bytes: usize,
    has_error: bool,
}

fn gather(context: &RequestContext, request: &FetchRequest) -> Gathered {
    let cluster = &context.cluster;
    let version = context.version;
    let now = now_ms();
    let max_bytes = if version >= 3 {
        usize::try_from(request.max_bytes).unwrap_or(0)
    } else {
        usize::MAX
    };
    let read_committed = version >= 4 && request.isolation_level == 1;
    let mut total = 0usize;
    let mut has_error = false;
    let mut leaders_named = BTreeSet::new();
    let mut responses = Vec::with_capacity(request.topics.len());
    for wanted in &request.topics {
        let topic: Option<Topic> = if version >= 13 {
            cluster.topic_by_id(wanted.topic_id)
        } else {
            cluster.topic(&wanted.topic)
        };
        let missing = if version >= 13 {
            ErrorCode::UnknownTopicId
        } else {
            ErrorCode::UnknownTopicOrPartition
        };
        let mut partitions = Vec::with_capacity(wanted.partitions.len());
        for fetch in &wanted.partitions {
            let Some(topic) = &topic else {
                has_error = true;
                partitions.push(partition_error(fetch.partition, missing));
                continue;
            };
            if let Some(code) = context.injected_error(&topic.name, fetch.partition) {
                has_error = true;
                partitions.push(partition_error(fetch.partition, code));
                continue;
            }
            let led = Cluster::led_in(topic, fetch.partition, context.node).and_then(|led| {
                if version >= 9 {
                    check_leader_epoch(fetch.current_leader_epoch, led.leader_epoch)?;
                }
                Ok(led)
            });
            let led = match led {
                Ok(led) => led,
                Err(code) => {
                    has_error = true;
                    let mut data = partition_error(fetch.partition, code);
                    if version >= 12 && code == ErrorCode::NotLeaderOrFollower {
                        if let Some((leader, epoch)) =
                            cluster.leader_of(&topic.name, fetch.partition)
                        {
                            data.current_leader = LeaderIdAndEpoch {
                                leader_id: leader,
                                leader_epoch: epoch,
                                ..LeaderIdAndEpoch::default()
                            };
                            leaders_named.insert(leader);
                        }
                    }
                    partitions.push(data);
                    continue;
                }
            };
            let partition_limit = usize::try_from(fetch.partition_max_bytes).unwrap_or(0);
            let limit = partition_limit.min(max_bytes.saturating_sub(total));
            match led.log.read_isolated(
                fetch.fetch_offset,
                limit,
                total == 0,
                read_committed,
                &led.settings,
                now,
            ) {
                Ok(read) => {
                    total = total.saturating_add(read.records.len());
                    partitions.push(PartitionData {
                        partition_index: fetch.partition,
                        error_code: ErrorCode::None,
                        high_watermark: read.high_watermark,
                        last_stable_offset: if version >= 4 {
                            read.last_stable_offset
                        } else {
                            -1
                        },
                        aborted_transactions: if version >= 4 {
                            read.aborted.map(|aborted| {
                                aborted
                                    .into_iter()
                                    .map(|(producer_id, first_offset)| AbortedTransaction {
                                        producer_id,
                                        first_offset,
                                        ..AbortedTransaction::default()
                                    })
                                    .collect()
                            })
                        } else {
                            None
                        },
                        log_start_offset: if version >= 5 {
                            read.log_start_offset
                        } else {
                            -1
                        },
                        records: Some(read.records),
                        ..PartitionData::default()
                    });
                }
                Err(error) => {
                    has_error = true;
                    let offsets = led.log.offsets(&led.settings, now);
                    partitions.push(PartitionData {
                        high_watermark: offsets.high_watermark,
                        last_stable_offset: if version >= 4 {
                            offsets.last_stable_offset
                        } else {
                            -1
                        },
                        log_start_offset: if version >= 5 {
                            offsets.log_start_offset
                        } else {
                            -1
                        },
                        ..partition_error(fetch.partition, error.code)
                    });
                }
            }
        }
        responses.push(FetchableTopicResponse {
            topic: if version >= 13 {
                String::new()
            } else {
                wanted.topic.clone()
            },
            topic_id: if version >= 13 {
                wanted.topic_id
            } else {
                Uuid::ZERO
            },
            partitions,
            ..FetchableTopicResponse::default()
        });
    }
    let node_endpoints = if version >= 16 {
        leaders_named
            .into_iter()
            .filter_map(|id| cluster.node(id).filter(|node| node.alive))
            .map(|node| NodeEndpoint {
                node_id: node.id,
                host: node.host,
                port: i32::from(node.port),
                rack: None,
                ..NodeEndpoint::default()
            })
            .collect()
    } else {
        Vec::new()
    };
    Gathered {
        response: FetchResponse {
            responses,
            node_endpoints,
            ..FetchResponse::default()
        },
        bytes: total,
        has_error,
    }
}

pub(crate) async fn handle(context: &RequestContext, request: FetchRequest) -> FetchResponse {
    if context.version >= 7 {
        let code = if request.session_id != 0 {
            Some(ErrorCode::FetchSessionIdNotFound)
        } else if request.session_epoch != FINAL_EPOCH && request.session_epoch != INITIAL_EPOCH {
            Some(ErrorCode::InvalidFetchSessionEpoch)
        } else {
            None
        };
        if let Some(code) = code {
            return FetchResponse {
                error_code: code,
                ..FetchResponse::default()
            };
        }
    }
    let wait = Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0));
    let deadline = Instant::now() + wait;
    let min_bytes = usize::try_from(request.min_bytes).unwrap_or(0);
    let mut stopped = context.stopped.clone();
    loop {
        // Registered before reading, so an append between the read and the
        // wait still wakes this fetch.
        let appended = context.cluster.appended.notified();
        tokio::pin!(appended);
        appended.as_mut().enable();
        let gathered = gather(context, &request);
        if gathered.bytes >= min_bytes
            || gathered.has_error
            || Instant::now() >= deadline
            || *stopped.borrow()
        {
            return gathered.response;
        }
        tokio::select! {
            _ = &mut appended => {}
            _ = tokio::time::sleep_until(deadline) => {}
            changed = stopped.changed() => {
                if changed.is_err() {
                    return gather(context, &request).response;
                }
            }
        }
    }
}

pub(crate) fn error_response(
    request: &FetchRequest,
    version: i16,
    code: ErrorCode,
) -> FetchResponse {
    FetchResponse {
        error_code: if version >= 7 { code } else { ErrorCode::None },
        responses: request
            .topics
            .iter()
            .map(|topic| FetchableTopicResponse {
                topic: if version >= 13 {
                    String::new()
                } else {
                    topic.topic.clone()
                },
                topic_id: if version >= 13 {
                    topic.topic_id
                } else {
                    Uuid::ZERO
                },
                partitions: topic
                    .partitions
                    .iter()
                    .map(|p| partition_error(p.partition, code))
                    .collect(),
                ..FetchableTopicResponse::default()
            })
            .collect(),
        ..FetchResponse::default()
    }
}
