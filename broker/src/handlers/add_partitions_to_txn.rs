//! AddPartitionsToTxn (key 24): partitions join a producer's transaction
//! (see [`crate::txn`]). v0-3 carry one transaction and answer per
//! partition; v4+ (KIP-890, sent by brokers) carry a batch of transactions
//! and answer per transaction, with `verify_only` checking membership only.
//! A whole-transaction error (INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED,
//! which v0-1 clients get as INVALID_PRODUCER_EPOCH, NOT_COORDINATOR) is
//! given to every partition; an unknown partition fails with
//! UNKNOWN_TOPIC_OR_PARTITION and the others with OPERATION_NOT_ATTEMPTED.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use ferrokafka_protocol::generated::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use ferrokafka_protocol::generated::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use super::RequestContext;
use crate::txn::PartitionResults;

/// PRODUCER_FENCED as a client of `version` knows it.
fn fenced_for(code: ErrorCode, version: i16) -> ErrorCode {
    if code == ErrorCode::ProducerFenced && version < 2 {
        ErrorCode::InvalidProducerEpoch
    } else {
        code
    }
}

fn topics_of(topics: &[AddPartitionsToTxnTopic]) -> Vec<(String, Vec<i32>)> {
    topics
        .iter()
        .map(|topic| (topic.name.clone(), topic.partitions.clone()))
        .collect()
}

fn shaped(results: PartitionResults) -> Vec<AddPartitionsToTxnTopicResult> {
    results
        .into_iter()
        .map(|(name, partitions)| AddPartitionsToTxnTopicResult {
            name,
            results_by_partition: partitions
                .into_iter()
                .map(
                    |(partition_index, code)| AddPartitionsToTxnPartitionResult {
                        partition_index,
                        partition_error_code: code,
                        ..AddPartitionsToTxnPartitionResult::default()
                    },
                )
                .collect(),
            ..AddPartitionsToTxnTopicResult::default()
        })
        .collect()
}

fn all_failed(topics: &[AddPartitionsToTxnTopic], code: ErrorCode) -> PartitionResults {
    topics
        .iter()
        .map(|topic| {
            (
                topic.name.clone(),
                topic.partitions.iter().map(|p| (*p, code)).collect(),
            )
        })
        .collect()
}

pub(crate) async fn handle(
    context: &RequestContext,
    request: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let version = context.version;
    if !context.is_coordinator() {
        return error_response(&request, version, ErrorCode::NotCoordinator);
    }
    let cluster = &context.cluster;
    cluster.txns.ensure_ticker(cluster);
    if version < 4 {
        let topics = topics_of(&request.v3_and_below_topics);
        let results = cluster
            .txns
            .add_partitions(
                cluster,
                &request.v3_and_below_transactional_id,
                (
                    request.v3_and_below_producer_id,
                    request.v3_and_below_producer_epoch,
                ),
                &topics,
                false,
            )
            .unwrap_or_else(|code| {
                all_failed(&request.v3_and_below_topics, fenced_for(code, version))
            });
        return AddPartitionsToTxnResponse {
            results_by_topic_v3_and_below: shaped(results),
            ..AddPartitionsToTxnResponse::default()
        };
    }
    let results_by_transaction = request
        .transactions
        .iter()
        .map(|txn| {
            let results = cluster
                .txns
                .add_partitions(
                    cluster,
                    &txn.transactional_id,
                    (txn.producer_id, txn.producer_epoch),
                    &topics_of(&txn.topics),
                    txn.verify_only,
                )
                .unwrap_or_else(|code| all_failed(&txn.topics, code));
            AddPartitionsToTxnResult {
                transactional_id: txn.transactional_id.clone(),
                topic_results: shaped(results),
                ..AddPartitionsToTxnResult::default()
            }
        })
        .collect();
    AddPartitionsToTxnResponse {
        results_by_transaction,
        ..AddPartitionsToTxnResponse::default()
    }
}

pub(crate) fn error_response(
    request: &AddPartitionsToTxnRequest,
    version: i16,
    code: ErrorCode,
) -> AddPartitionsToTxnResponse {
    let code = fenced_for(code, version);
    if version < 4 {
        return AddPartitionsToTxnResponse {
            results_by_topic_v3_and_below: shaped(all_failed(&request.v3_and_below_topics, code)),
            ..AddPartitionsToTxnResponse::default()
        };
    }
    AddPartitionsToTxnResponse {
        error_code: code,
        ..AddPartitionsToTxnResponse::default()
    }
}
