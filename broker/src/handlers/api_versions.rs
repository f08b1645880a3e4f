//! ApiVersions (key 18): the supported ranges, straight from
//! [`crate::apis::SUPPORTED_APIS`]. An ApiVersions request at a version the
//! broker does not know never reaches this module: the connection answers
//! it with a v0 body (see `connection`).

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::api_versions_response::ApiVersion;
use ferrokafka_protocol::generated::{ApiVersionsRequest, ApiVersionsResponse};

use super::RequestContext;
use crate::apis::SUPPORTED_APIS;

/// The table as ApiVersions entries.
pub(crate) fn supported_api_list() -> Vec<ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .map(|support| ApiVersion {
            api_key: support.api.key(),
            min_version: support.versions.min,
            max_version: support.versions.max,
            ..ApiVersion::default()
        })
        .collect()
}

pub(crate) async fn handle(
    _context: &RequestContext,
    _request: ApiVersionsRequest,
) -> ApiVersionsResponse {
    ApiVersionsResponse {
        error_code: ErrorCode::None,
        api_keys: supported_api_list(),
        // No features: the broker has no KRaft metadata version to report.
        ..ApiVersionsResponse::default()
    }
}

pub(crate) fn error_response(
    _request: &ApiVersionsRequest,
    _version: i16,
    code: ErrorCode,
) -> ApiVersionsResponse {
    ApiVersionsResponse {
        error_code: code,
        api_keys: supported_api_list(),
        ..ApiVersionsResponse::default()
    }
}
