//! EndTxn (key 26): commit or abort a producer's transaction; the markers
//! are written and pending offsets applied or dropped before the answer
//! (see [`crate::txn`]). PRODUCER_FENCED is INVALID_PRODUCER_EPOCH for v0-1
//! clients.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::{EndTxnRequest, EndTxnResponse};

use super::RequestContext;

pub(crate) async fn handle(context: &RequestContext, request: EndTxnRequest) -> EndTxnResponse {
    let version = context.version;
    if !context.is_coordinator() {
        return error_response(&request, version, ErrorCode::NotCoordinator);
    }
    let cluster = &context.cluster;
    cluster.txns.ensure_ticker(cluster);
    match cluster.txns.end_txn(
        cluster,
        &request.transactional_id,
        (request.producer_id, request.producer_epoch),
        request.committed,
    ) {
        Ok(()) => EndTxnResponse::default(),
        Err(code) => error_response(&request, version, code),
    }
}

pub(crate) fn error_response(
    _request: &EndTxnRequest,
    version: i16,
    code: ErrorCode,
) -> EndTxnResponse {
    EndTxnResponse {
        error_code: if code == ErrorCode::ProducerFenced && version < 2 {
            ErrorCode::InvalidProducerEpoch
        } else {
            code
        },
        ..EndTxnResponse::default()
    }
}
