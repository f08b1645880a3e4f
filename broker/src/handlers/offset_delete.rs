//! OffsetDelete (key 47): handed to the group coordinator ([`crate::group`];
//! KIP-496). A node that does not coordinate groups answers NOT_COORDINATOR,
//! which sends the client back to FindCoordinator.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::RequestContext;

pub(crate) async fn handle(
    context: &RequestContext,
    request: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    if !context.is_coordinator() {
        return error_response(&request, context.version, ErrorCode::NotCoordinator);
    }
    context
        .cluster
        .groups()
        .offset_delete(request, context.version)
        .await
}

pub(crate) fn error_response(
    request: &OffsetDeleteRequest,
    version: i16,
    code: ErrorCode,
) -> OffsetDeleteResponse {
    let _ = (request, version);
    OffsetDeleteResponse {
        error_code: code,
        ..OffsetDeleteResponse::default()
    }
}
