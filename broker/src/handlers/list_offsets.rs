//! ListOffsets (key 2): earliest (-2), latest (-1), max timestamp (-3, v7+,
//! KIP-734), earliest local (-4, the same as earliest: there is no tiered
//! storage), latest tiered (-5: none, so -1) and by timestamp. v0 answers in
//! `old_style_offsets` (at most `max_num_offsets`, latest first), later
//! versions with one offset and timestamp. From v4 the leader epoch is
//! checked and returned, as in Fetch. With `isolation_level` 1
//! (READ_COMMITTED, v2+) latest is the last stable offset (KIP-98).

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use ferrokafka_protocol::generated::{ListOffsetsRequest, ListOffsetsResponse};

use super::RequestContext;
use super::fetch::check_leader_epoch;
use crate::cluster::{Cluster, now_ms};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

fn error_partition(index: i32, code: ErrorCode) -> ListOffsetsPartitionResponse {
    ListOffsetsPartitionResponse {
        partition_index: index,
        error_code: code,
        ..ListOffsetsPartitionResponse::default()
    }
}

pub(crate) async fn handle(
    context: &RequestContext,
    request: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let cluster = &context.cluster;
    let version = context.version;
    let now = now_ms();
    let read_committed = version >= 2 && request.isolation_level == 1;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let found = cluster.topic(&topic.name);
            let partitions = topic
                .partitions
                .into_iter()
                .map(|wanted| {
                    let Some(found) = &found else {
                        return error_partition(
                            wanted.partition_index,
                            ErrorCode::UnknownTopicOrPartition,
                        );
                    };
                    if let Some(code) = context.injected_error(&found.name, wanted.partition_index)
                    {
                        return error_partition(wanted.partition_index, code);
                    }
                    let led = Cluster::led_in(found, wanted.partition_index, context.node)
                        .and_then(|led| {
                            if version >= 4 {
                                check_leader_epoch(wanted.current_leader_epoch, led.leader_epoch)?;
                            }
                            Ok(led)
                        });
                    let led = match led {
                        Ok(led) => led,
                        Err(code) => return error_partition(wanted.partition_index, code),
                    };
                    let mut offsets = led.log.offsets(&led.settings, now);
                    if read_committed {
                        offsets.high_watermark = offsets.last_stable_offset;
                    }
                    if version == 0 {
                        let mut old_style = match wanted.timestamp {
                            EARLIEST => vec![offsets.log_start_offset],
                            LATEST => vec![offsets.high_watermark, offsets.log_start_offset],
                            timestamp => led
                                .log
                                .offset_for_timestamp(timestamp)
                                .map_or(vec![offsets.high_watermark], |(offset, _, _)| {
                                    vec![offset]
                                }),
                        };
                        old_style.dedup();
                        old_style.truncate(usize::try_from(wanted.max_num_offsets).unwrap_or(0));
                        return ListOffsetsPartitionResponse {
                            partition_index: wanted.partition_index,
                            old_style_offsets: old_style,
                            ..ListOffsetsPartitionResponse::default()
                        };
                    }
                    let current_epoch = led.leader_epoch;
                    let (offset, timestamp, epoch) = match wanted.timestamp {
                        LATEST => (offsets.high_watermark, -1, current_epoch),
                        EARLIEST | EARLIEST_LOCAL => (offsets.log_start_offset, -1, current_epoch),
                        LATEST_TIERED => (-1, -1, -1),
                        MAX_TIMESTAMP => led.log.max_timestamp_offset().unwrap_or((-1, -1, -1)),
                        timestamp if timestamp < 0 => {
                            return error_partition(
                                wanted.partition_index,
                                ErrorCode::InvalidRequest,
                            );
                        }
                        timestamp => led
                            .log
                            .offset_for_timestamp(timestamp)
                            .unwrap_or((-1, -1, -1)),
                    };
                    ListOffsetsPartitionResponse {
                        partition_index: wanted.partition_index,
                        error_code: ErrorCode::None,
                        timestamp,
                        offset,
                        leader_epoch: if version >= 4 { epoch } else { -1 },
                        ..ListOffsetsPartitionResponse::default()
                    }
                })
                .collect();
            ListOffsetsTopicResponse {
                name: topic.name,
                partitions,
                ..ListOffsetsTopicResponse::default()
            }
        })
        .collect();
    ListOffsetsResponse {
        topics,
        ..ListOffsetsResponse::default()
    }
}

pub(crate) fn error_response(
    request: &ListOffsetsRequest,
    _version: i16,
    code: ErrorCode,
) -> ListOffsetsResponse {
    ListOffsetsResponse {
        topics: request
            .topics
            .iter()
            .map(|topic| ListOffsetsTopicResponse {
                name: topic.name.clone(),
                partitions: topic
                    .partitions
                    .iter()
                    .map(|p| error_partition(p.partition_index, code))
                    .collect(),
                ..ListOffsetsTopicResponse::default()
            })
            .collect(),
        ..ListOffsetsResponse::default()
    }
}
