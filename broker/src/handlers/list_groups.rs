//! ListGroups (key 16): handed to the group coordinator (with the v4+ state
//! filter and v5+ type filter). Admin clients ask every broker and merge the
//! answers, so a node that does not coordinate groups answers with an empty
//! list, not an error: it simply has no groups.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::{ListGroupsRequest, ListGroupsResponse};

use super::RequestContext;

pub(crate) async fn handle(
    context: &RequestContext,
    request: ListGroupsRequest,
) -> ListGroupsResponse {
    if !context.is_coordinator() {
        return ListGroupsResponse::default();
    }
    context
        .cluster
        .groups()
        .list_groups(request, context.version)
        .await
}

pub(crate) fn error_response(
    _request: &ListGroupsRequest,
    _version: i16,
    code: ErrorCode,
) -> ListGroupsResponse {
    ListGroupsResponse {
        error_code: code,
        ..ListGroupsResponse::default()
    }
}
