//! DescribeTransactions (key 65, KIP-664): the state, producer id and
//! epoch, timeout, start time and partitions of each transactional id (see
//! [`crate::txn`]). An id the coordinator does not know is
//! TRANSACTIONAL_ID_NOT_FOUND; a node that does not coordinate
//! transactions answers NOT_COORDINATOR for every id.

use std::collections::BTreeMap;

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::describe_transactions_response::{TopicData, TransactionState};
use ferrokafka_protocol::generated::{DescribeTransactionsRequest, DescribeTransactionsResponse};

use super::RequestContext;
use crate::txn::TxnDescription;

fn shaped(description: TxnDescription) -> TransactionState {
    let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for (topic, partition) in description.partitions {
        topics.entry(topic).or_default().push(partition);
    }
    TransactionState {
        error_code: ErrorCode::None,
        transactional_id: description.transactional_id,
        transaction_state: description.status.name().to_owned(),
        transaction_timeout_ms: description.timeout_ms,
        transaction_start_time_ms: description.start_time_ms,
        producer_id: description.producer_id,
        producer_epoch: description.producer_epoch,
        topics: topics
            .into_iter()
            .map(|(topic, partitions)| TopicData {
                topic,
                partitions,
                ..TopicData::default()
            })
            .collect(),
        ..TransactionState::default()
    }
}

pub(crate) async fn handle(
    context: &RequestContext,
    request: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    if !context.is_coordinator() {
        return error_response(&request, context.version, ErrorCode::NotCoordinator);
    }
    let cluster = &context.cluster;
    let mut known: BTreeMap<String, TxnDescription> = cluster
        .txns
        .describe_all(cluster)
        .into_iter()
        .map(|description| (description.transactional_id.clone(), description))
        .collect();
    DescribeTransactionsResponse {
        transaction_states: request
            .transactional_ids
            .into_iter()
            .map(|id| match known.remove(&id) {
                Some(description) => shaped(description),
                None => TransactionState {
                    error_code: ErrorCode::TransactionalIdNotFound,
                    transactional_id: id,
                    producer_id: -1,
                    producer_epoch: -1,
                    transaction_start_time_ms: -1,
                    ..TransactionState::default()
                },
            })
            .collect(),
        ..DescribeTransactionsResponse::default()
    }
}

pub(crate) fn error_response(
    request: &DescribeTransactionsRequest,
    _version: i16,
    code: ErrorCode,
) -> DescribeTransactionsResponse {
    DescribeTransactionsResponse {
        transaction_states: request
            .transactional_ids
            .iter()
            .map(|id| TransactionState {
                error_code: code,
                transactional_id: id.clone(),
                producer_id: -1,
                producer_epoch: -1,
                transaction_start_time_ms: -1,
                ..TransactionState::default()
            })
            .collect(),
        ..DescribeTransactionsResponse::default()
    }
}
