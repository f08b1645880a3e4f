//! JoinGroup (key 11): handed to the group coordinator ([`crate::group`];
//! KIP-394 member ids, protocol selection, leader election and rebalance waits live in the coordinator). A node that does not coordinate groups answers NOT_COORDINATOR,
//! which sends the client back to FindCoordinator. The request header's
//! client id goes with it: DescribeGroups reports it per member and member
//! ids start with it, as in Kafka, and so does the client's address
//! (`/<ip>`), which DescribeGroups reports as the member's host.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::{JoinGroupRequest, JoinGroupResponse};

use super::RequestContext;

pub(crate) async fn handle(
    context: &RequestContext,
    request: JoinGroupRequest,
) -> JoinGroupResponse {
    if !context.is_coordinator() {
        return error_response(&request, context.version, ErrorCode::NotCoordinator);
    }
    context
        .cluster
        .groups()
        .join_group_with_client(
            request,
            context.version,
            context.header.client_id.as_deref().unwrap_or(""),
            &context.client_host,
        )
        .await
}

pub(crate) fn error_response(
    request: &JoinGroupRequest,
    version: i16,
    code: ErrorCode,
) -> JoinGroupResponse {
    JoinGroupResponse {
        error_code: code,
        generation_id: -1,
        protocol_name: if version >= 7 {
            None
        } else {
            Some(String::new())
        },
        member_id: request.member_id.clone(),
        ..JoinGroupResponse::default()
    }
}
