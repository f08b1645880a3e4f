//! Heartbeat (key 12): handed to the group coordinator ([`crate::group`];
//! REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION and UNKNOWN_MEMBER_ID come from there). A node that does not coordinate groups answers NOT_COORDINATOR,
//! which sends the client back to FindCoordinator.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::{HeartbeatRequest, HeartbeatResponse};

use super::RequestContext;

pub(crate) async fn handle(
    context: &RequestContext,
    request: HeartbeatRequest,
) -> HeartbeatResponse {
    if !context.is_coordinator() {
        return error_response(&request, context.version, ErrorCode::NotCoordinator);
    }
    context
        .cluster
        .groups()
        .heartbeat(request, context.version)
        .await
}

pub(crate) fn error_response(
    request: &HeartbeatRequest,
    version: i16,
    code: ErrorCode,
) -> HeartbeatResponse {
    let _ = (request, version);
    HeartbeatResponse {
        error_code: code,
        ..HeartbeatResponse::default()
    }
}
