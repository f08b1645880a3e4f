//! FindCoordinator (key 10): every group (and transactional id) is
//! coordinated by one configured node. v0-3 answer one key; v4+ a batch of
//! keys (KIP-699). A stopped coordinator node gives COORDINATOR_NOT_AVAILABLE;
//! share-group keys (type 2) are not served (INVALID_REQUEST).

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::find_coordinator_response::Coordinator;
use ferrokafka_protocol::generated::{FindCoordinatorRequest, FindCoordinatorResponse};

use super::{RequestContext, message_for};

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// (node id, host, port) of the coordinator, or the error.
fn locate(context: &RequestContext, key_type: i8) -> Result<(i32, String, i32), ErrorCode> {
    if key_type != KEY_TYPE_GROUP && key_type != KEY_TYPE_TRANSACTION {
        return Err(ErrorCode::InvalidRequest);
    }
    let node = context
        .cluster
        .coordinator_node()
        .ok_or(ErrorCode::CoordinatorNotAvailable)?;
    Ok((node.id, node.host, i32::from(node.port)))
}

pub(crate) async fn handle(
    context: &RequestContext,
    request: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let version = context.version;
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| match locate(context, request.key_type) {
                Ok((node_id, host, port)) => Coordinator {
                    key,
                    node_id,
                    host,
                    port,
                    ..Coordinator::default()
                },
                Err(code) => Coordinator {
                    key,
                    node_id: -1,
                    error_code: code,
                    error_message: message_for(code),
                    ..Coordinator::default()
                },
            })
            .collect();
        return FindCoordinatorResponse {
            coordinators,
            ..FindCoordinatorResponse::default()
        };
    }
    match locate(context, request.key_type) {
        Ok((node_id, host, port)) => FindCoordinatorResponse {
            node_id,
            host,
            port,
            ..FindCoordinatorResponse::default()
        },
        Err(code) => error_response(&request, version, code),
    }
}

pub(crate) fn error_response(
    request: &FindCoordinatorRequest,
    version: i16,
    code: ErrorCode,
) -> FindCoordinatorResponse {
    if version >= 4 {
        return FindCoordinatorResponse {
            coordinators: request
                .coordinator_keys
                .iter()
                .map(|key| Coordinator {
                    key: key.clone(),
                    node_id: -1,
                    error_code: code,
                    error_message: message_for(code),
                    ..Coordinator::default()
                })
                .collect(),
            ..FindCoordinatorResponse::default()
        };
    }
    FindCoordinatorResponse {
        error_code: code,
        error_message: if version >= 1 {
            message_for(code)
        } else {
            None
        },
        node_id: -1,
        ..FindCoordinatorResponse::default()
    }
}
