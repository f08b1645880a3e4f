//! ListTransactions (key 66, KIP-664): the transactional ids this node
//! coordinates, filtered by state name, producer id and (v1+) minimum
//! running time. Every transactional id is coordinated by the group
//! coordinator node (see [`crate::txn`]); other nodes list none, so an
//! admin client that asks every node and merges sees each id once. State
//! names Kafka does not know are returned in `unknown_state_filters`.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::list_transactions_response::TransactionState;
use ferrokafka_protocol::generated::{ListTransactionsRequest, ListTransactionsResponse};

use super::RequestContext;
use crate::cluster::now_ms;

/// Kafka's transaction state names.
const STATES: &[&str] = &[
    "Empty",
    "Ongoing",
    "PrepareCommit",
    "PrepareAbort",
    "CompleteCommit",
    "CompleteAbort",
    "Dead",
    "PrepareEpochFence",
];

pub(crate) async fn handle(
    context: &RequestContext,
    request: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let unknown_state_filters = request
        .state_filters
        .iter()
        .filter(|state| !STATES.contains(&state.as_str()))
        .cloned()
        .collect();
    if !context.is_coordinator() {
        return ListTransactionsResponse {
            unknown_state_filters,
            ..ListTransactionsResponse::default()
        };
    }
    let cluster = &context.cluster;
    let duration = if context.version >= 1 {
        request.duration_filter
    } else {
        -1
    };
    let now = now_ms();
    let transaction_states = cluster
        .txns
        .describe_all(cluster)
        .into_iter()
        .filter(|txn| {
            request.state_filters.is_empty()
                || request
                    .state_filters
                    .iter()
                    .any(|state| state == txn.status.name())
        })
        .filter(|txn| {
            request.producer_id_filters.is_empty()
                || request.producer_id_filters.contains(&txn.producer_id)
        })
        .filter(|txn| {
            duration < 0
                || (txn.start_time_ms >= 0 && now.saturating_sub(txn.start_time_ms) >= duration)
        })
        .map(|txn| TransactionState {
            transactional_id: txn.transactional_id,
            producer_id: txn.producer_id,
            transaction_state: txn.status.name().to_owned(),
            ..TransactionState::default()
        })
        .collect();
    ListTransactionsResponse {
        unknown_state_filters,
        transaction_states,
        ..ListTransactionsResponse::default()
    }
}

pub(crate) fn error_response(
    _request: &ListTransactionsRequest,
    _version: i16,
    code: ErrorCode,
) -> ListTransactionsResponse {
    ListTransactionsResponse {
        error_code: code,
        ..ListTransactionsResponse::default()
    }
}
