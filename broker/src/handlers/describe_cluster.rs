//! DescribeCluster (key 60): the running brokers, the cluster id and the
//! controller. Only broker endpoints exist (`endpoint_type` 1); asking for
//! controllers (2, v1+) gets UNSUPPORTED_ENDPOINT_TYPE, as from a broker
//! that is not a controller. Authorized operations, when asked, are all a
//! cluster has (there is no authorizer, KIP-430).

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::describe_cluster_response::DescribeClusterBroker;
use ferrokafka_protocol::generated::{DescribeClusterRequest, DescribeClusterResponse};

use super::metadata::{CLUSTER_AUTHORIZED_OPERATIONS, OPERATIONS_NOT_REQUESTED};
use super::{RequestContext, message_for};

const BROKER_ENDPOINTS: i8 = 1;

pub(crate) async fn handle(
    context: &RequestContext,
    request: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let version = context.version;
    if version >= 1 && request.endpoint_type != BROKER_ENDPOINTS {
        return error_response(&request, version, ErrorCode::UnsupportedEndpointType);
    }
    let cluster = &context.cluster;
    DescribeClusterResponse {
        cluster_id: cluster.config.cluster_id.clone(),
        controller_id: cluster.controller_id(),
        brokers: cluster
            .alive_nodes()
            .into_iter()
            .map(|node| DescribeClusterBroker {
                broker_id: node.id,
                host: node.host,
                port: i32::from(node.port),
                rack: None,
                ..DescribeClusterBroker::default()
            })
            .collect(),
        // Asked for: everything, as Kafka answers without an authorizer.
        cluster_authorized_operations: if request.include_cluster_authorized_operations {
            CLUSTER_AUTHORIZED_OPERATIONS
        } else {
            OPERATIONS_NOT_REQUESTED
        },
        ..DescribeClusterResponse::default()
    }
}

pub(crate) fn error_response(
    request: &DescribeClusterRequest,
    version: i16,
    code: ErrorCode,
) -> DescribeClusterResponse {
    DescribeClusterResponse {
        error_code: code,
        error_message: message_for(code),
        endpoint_type: if version >= 1 {
            request.endpoint_type
        } else {
            BROKER_ENDPOINTS
        },
        controller_id: -1,
        cluster_authorized_operations: OPERATIONS_NOT_REQUESTED,
        ..DescribeClusterResponse::default()
    }
}
