//! DeleteGroups (key 42): handed to the group coordinator ([`crate::group`];
//! NON_EMPTY_GROUP while members remain). A node that does not coordinate groups answers NOT_COORDINATOR,
//! which sends the client back to FindCoordinator.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::delete_groups_response::DeletableGroupResult;
use ferrokafka_protocol::generated::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::RequestContext;

pub(crate) async fn handle(
    context: &RequestContext,
    request: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    if !context.is_coordinator() {
        return error_response(&request, context.version, ErrorCode::NotCoordinator);
    }
    context
        .cluster
        .groups()
        .delete_groups(request, context.version)
        .await
}

pub(crate) fn error_response(
    request: &DeleteGroupsRequest,
    version: i16,
    code: ErrorCode,
) -> DeleteGroupsResponse {
    let _ = version;
    DeleteGroupsResponse {
        results: request
            .groups_names
            .iter()
            .map(|group_id| DeletableGroupResult {
                group_id: group_id.clone(),
                error_code: code,
                ..DeletableGroupResult::default()
            })
            .collect(),
        ..DeleteGroupsResponse::default()
    }
}
