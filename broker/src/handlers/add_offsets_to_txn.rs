//! AddOffsetsToTxn (key 25): a consumer group's offsets join a producer's
//! transaction, so that TxnOffsetCommit may follow (see [`crate::txn`]).
//! Kafka adds the group's `__consumer_offsets` partition; this broker has
//! no such topic and records the group. PRODUCER_FENCED is
//! INVALID_PRODUCER_EPOCH for v0-1 clients.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::RequestContext;

pub(crate) async fn handle(
    context: &RequestContext,
    request: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let version = context.version;
    if !context.is_coordinator() {
        return error_response(&request, version, ErrorCode::NotCoordinator);
    }
    let cluster = &context.cluster;
    cluster.txns.ensure_ticker(cluster);
    match cluster.txns.add_offsets(
        cluster,
        &request.transactional_id,
        (request.producer_id, request.producer_epoch),
        &request.group_id,
    ) {
        Ok(()) => AddOffsetsToTxnResponse::default(),
        Err(code) => error_response(&request, version, code),
    }
}

pub(crate) fn error_response(
    _request: &AddOffsetsToTxnRequest,
    version: i16,
    code: ErrorCode,
) -> AddOffsetsToTxnResponse {
    AddOffsetsToTxnResponse {
        error_code: if code == ErrorCode::ProducerFenced && version < 2 {
            ErrorCode::InvalidProducerEpoch
        } else {
            code
        },
        ..AddOffsetsToTxnResponse::default()
    }
}
