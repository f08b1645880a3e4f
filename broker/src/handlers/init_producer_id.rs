//! InitProducerId (key 22): producer ids and epochs (see
//! [`crate::producer_ids`]). A stale id/epoch pair is PRODUCER_FENCED from
//! v4 and INVALID_PRODUCER_EPOCH before, the code older clients know.
//!
//! With a transactional id the transaction coordinator answers (see
//! [`crate::txn`]): only on the coordinator node (NOT_COORDINATOR
//! elsewhere), INVALID_TRANSACTION_TIMEOUT for a timeout above
//! `transaction.max.timeout.ms`, INVALID_REQUEST for an empty id.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::{InitProducerIdRequest, InitProducerIdResponse};

use super::RequestContext;

pub(crate) async fn handle(
    context: &RequestContext,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let version = context.version;
    let (producer_id, producer_epoch) = if version >= 3 {
        (request.producer_id, request.producer_epoch)
    } else {
        (-1, -1)
    };
    let cluster = &context.cluster;
    let result = match request.transactional_id.as_deref() {
        Some(transactional_id) => {
            if !context.is_coordinator() {
                return error_response(&request, version, ErrorCode::NotCoordinator);
            }
            cluster.txns.ensure_ticker(cluster);
            cluster.txns.init_producer_id(
                cluster,
                transactional_id,
                request.transaction_timeout_ms,
                (producer_id, producer_epoch),
            )
        }
        None => cluster.init_producer_id(None, producer_id, producer_epoch),
    };
    match result {
        Ok((producer_id, producer_epoch)) => InitProducerIdResponse {
            producer_id,
            producer_epoch,
            ..InitProducerIdResponse::default()
        },
        Err(code) => error_response(&request, version, code),
    }
}

pub(crate) fn error_response(
    _request: &InitProducerIdRequest,
    version: i16,
    code: ErrorCode,
) -> InitProducerIdResponse {
    let code = if code == ErrorCode::ProducerFenced && version < 4 {
        ErrorCode::InvalidProducerEpoch
    } else {
        code
    };
    InitProducerIdResponse {
        error_code: code,
        producer_id: -1,
        producer_epoch: -1,
        ..InitProducerIdResponse::default()
    }
}
