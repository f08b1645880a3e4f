//! SyncGroup (key 14): handed to the group coordinator ([`crate::group`];
//! followers wait there for the leader's assignment). A node that does not coordinate groups answers NOT_COORDINATOR,
//! which sends the client back to FindCoordinator.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::{SyncGroupRequest, SyncGroupResponse};

use super::RequestContext;

pub(crate) async fn handle(
    context: &RequestContext,
    request: SyncGroupRequest,
) -> SyncGroupResponse {
    if !context.is_coordinator() {
        return error_response(&request, context.version, ErrorCode::NotCoordinator);
    }
    context
        .cluster
        .groups()
        .sync_group(request, context.version)
        .await
}

pub(crate) fn error_response(
    request: &SyncGroupRequest,
    version: i16,
    code: ErrorCode,
) -> SyncGroupResponse {
    let _ = (request, version);
    SyncGroupResponse {
        error_code: code,
        ..SyncGroupResponse::default()
    }
}
