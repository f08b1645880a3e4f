//! LeaveGroup (key 13): handed to the group coordinator ([`crate::group`];
//! v0-2 leave one member, v3+ a batch (KIP-345)). A node that does not coordinate groups answers NOT_COORDINATOR,
//! which sends the client back to FindCoordinator.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::{LeaveGroupRequest, LeaveGroupResponse};

use super::RequestContext;

pub(crate) async fn handle(
    context: &RequestContext,
    request: LeaveGroupRequest,
) -> LeaveGroupResponse {
    if !context.is_coordinator() {
        return error_response(&request, context.version, ErrorCode::NotCoordinator);
    }
    context
        .cluster
        .groups()
        .leave_group(request, context.version)
        .await
}

pub(crate) fn error_response(
    request: &LeaveGroupRequest,
    version: i16,
    code: ErrorCode,
) -> LeaveGroupResponse {
    let _ = (request, version);
    LeaveGroupResponse {
        error_code: code,
        ..LeaveGroupResponse::default()
    }
}
