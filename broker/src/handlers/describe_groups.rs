//! DescribeGroups (key 15): handed to the group coordinator ([`crate::group`];
//! states, members, assignments). A node that does not coordinate groups answers NOT_COORDINATOR,
//! which sends the client back to FindCoordinator.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::describe_groups_response::DescribedGroup;
use ferrokafka_protocol::generated::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::RequestContext;

pub(crate) async fn handle(
    context: &RequestContext,
    request: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    if !context.is_coordinator() {
        return error_response(&request, context.version, ErrorCode::NotCoordinator);
    }
    context
        .cluster
        .groups()
        .describe_groups(request, context.version)
        .await
}

pub(crate) fn error_response(
    request: &DescribeGroupsRequest,
    version: i16,
    code: ErrorCode,
) -> DescribeGroupsResponse {
    let _ = version;
    DescribeGroupsResponse {
        groups: request
            .groups
            .iter()
            .map(|group_id| DescribedGroup {
                error_code: code,
                group_id: group_id.clone(),
                authorized_operations: i32::MIN,
                ..DescribedGroup::default()
            })
            .collect(),
        ..DescribeGroupsResponse::default()
    }
}
