//! OffsetForLeaderEpoch (key 23): for each partition, the largest leader
//! epoch not above the requested one and the offset where it ended (the log
//! end for the current epoch), so a consumer can detect log truncation
//! (KIP-320). Leader epochs start at 0 and grow when leadership moves.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use ferrokafka_protocol::generated::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::RequestContext;
use super::fetch::check_leader_epoch;
use crate::cluster::Cluster;

fn error_partition(partition: i32, code: ErrorCode) -> EpochEndOffset {
    EpochEndOffset {
        error_code: code,
        partition,
        leader_epoch: -1,
        end_offset: -1,
        ..EpochEndOffset::default()
    }
}

pub(crate) async fn handle(
    context: &RequestContext,
    request: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let cluster = &context.cluster;
    let version = context.version;
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let found = cluster.topic(&topic.topic);
            let partitions = topic
                .partitions
                .into_iter()
                .map(|wanted| {
                    let Some(found) = &found else {
                        return error_partition(
                            wanted.partition,
                            ErrorCode::UnknownTopicOrPartition,
                        );
                    };
                    let led =
                        Cluster::led_in(found, wanted.partition, context.node).and_then(|led| {
                            if version >= 2 {
                                check_leader_epoch(wanted.current_leader_epoch, led.leader_epoch)?;
                            }
                            Ok(led)
                        });
                    match led {
                        Err(code) => error_partition(wanted.partition, code),
                        Ok(led) => {
                            let (epoch, end_offset) = led
                                .log
                                .end_offset_for_epoch(wanted.leader_epoch, led.leader_epoch);
                            EpochEndOffset {
                                error_code: ErrorCode::None,
                                partition: wanted.partition,
                                leader_epoch: if version >= 1 { epoch } else { -1 },
                                end_offset,
                                ..EpochEndOffset::default()
                            }
                        }
                    }
                })
                .collect();
            OffsetForLeaderTopicResult {
                topic: topic.topic,
                partitions,
                ..OffsetForLeaderTopicResult::default()
            }
        })
        .collect();
    OffsetForLeaderEpochResponse {
        topics,
        ..OffsetForLeaderEpochResponse::default()
    }
}

pub(crate) fn error_response(
    request: &OffsetForLeaderEpochRequest,
    _version: i16,
    code: ErrorCode,
) -> OffsetForLeaderEpochResponse {
    OffsetForLeaderEpochResponse {
        topics: request
            .topics
            .iter()
            .map(|topic| OffsetForLeaderTopicResult {
                topic: topic.topic.clone(),
                partitions: topic
                    .partitions
                    .iter()
                    .map(|p| error_partition(p.partition, code))
                    .collect(),
                ..OffsetForLeaderTopicResult::default()
            })
            .collect(),
        ..OffsetForLeaderEpochResponse::default()
    }
}
