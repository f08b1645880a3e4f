//! InitProducerId (key 22): producer ids and epochs (see
//! [`crate::producer_ids`]). A stale id/epoch pair is PRODUCER_FENCED from
//! v4 and INVALID_PRODUCER_EPOCH before, the code older clients know.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::{InitProducerIdRequest, InitProducerIdResponse};

use super::RequestContext;

pub(crate) fn handle(
    context: &RequestContext,
    request: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let version = context.version;
    let (producer_id, producer_epoch) = if version >= 3 {
        (request.producer_id, request.producer_epoch)
    } else {
        (-1, -1)
    };
    match context.cluster.init_producer_id(
        request.transactional_id.as_deref(),
        producer_id,
        producer_epoch,
    ) {
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
