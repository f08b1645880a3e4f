//! TxnOffsetCommit (key 28): offsets committed within a transaction, held
//! pending until EndTxn applies (commit) or drops (abort) them (see
//! [`crate::txn`]). From v3 the request names the member and generation,
//! checked as Kafka checks a transactional commit; the producer must match
//! the transactional id (INVALID_PRODUCER_ID_MAPPING, INVALID_PRODUCER_EPOCH)
//! and the group must have been added with AddOffsetsToTxn
//! (INVALID_TXN_STATE otherwise).

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use ferrokafka_protocol::generated::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::RequestContext;
use crate::txn::TxnOffsetCommit;

fn shaped(request: &TxnOffsetCommitRequest, codes: &[ErrorCode]) -> TxnOffsetCommitResponse {
    let mut codes = codes.iter().copied();
    TxnOffsetCommitResponse {
        topics: request
            .topics
            .iter()
            .map(|topic| TxnOffsetCommitResponseTopic {
                name: topic.name.clone(),
                partitions: topic
                    .partitions
                    .iter()
                    .map(|partition| TxnOffsetCommitResponsePartition {
                        partition_index: partition.partition_index,
                        error_code: codes.next().unwrap_or(ErrorCode::UnknownServerError),
                        ..TxnOffsetCommitResponsePartition::default()
                    })
                    .collect(),
                ..TxnOffsetCommitResponseTopic::default()
            })
            .collect(),
        ..TxnOffsetCommitResponse::default()
    }
}

pub(crate) async fn handle(
    context: &RequestContext,
    request: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let version = context.version;
    if !context.is_coordinator() {
        return error_response(&request, version, ErrorCode::NotCoordinator);
    }
    let cluster = &context.cluster;
    cluster.txns.ensure_ticker(cluster);
    let (generation_id, member_id, group_instance_id) = if version >= 3 {
        (
            request.generation_id,
            request.member_id.as_str(),
            request.group_instance_id.as_deref(),
        )
    } else {
        (-1, "", None)
    };
    let commit = TxnOffsetCommit {
        transactional_id: &request.transactional_id,
        group_id: &request.group_id,
        producer_id: request.producer_id,
        producer_epoch: request.producer_epoch,
        generation_id,
        member_id,
        group_instance_id,
    };
    let partitions: Vec<_> = request
        .topics
        .iter()
        .flat_map(|topic| {
            topic.partitions.iter().map(|p| {
                (
                    topic.name.clone(),
                    p.partition_index,
                    p.committed_offset,
                    if version >= 2 {
                        p.committed_leader_epoch
                    } else {
                        -1
                    },
                    p.committed_metadata.clone(),
                )
            })
        })
        .collect();
    let codes = cluster
        .txns
        .txn_offset_commit(cluster, &commit, &partitions);
    shaped(&request, &codes)
}

pub(crate) fn error_response(
    request: &TxnOffsetCommitRequest,
    _version: i16,
    code: ErrorCode,
) -> TxnOffsetCommitResponse {
    let count = request.topics.iter().map(|t| t.partitions.len()).sum();
    shaped(request, &vec![code; count])
}
