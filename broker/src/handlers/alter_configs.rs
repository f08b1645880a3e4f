//! AlterConfigs (key 33): replaces a topic's overrides with the given set
//! (the legacy, non-incremental semantics: keys left out return to their
//! defaults). Values are validated (INVALID_CONFIG) and `validate_only`
//! applies nothing. Broker configs are fixed at start, so altering them is
//! INVALID_REQUEST.

use std::collections::BTreeMap;

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::alter_configs_response::AlterConfigsResourceResponse;
use ferrokafka_protocol::generated::{AlterConfigsRequest, AlterConfigsResponse};

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::{RequestContext, message_for};
use crate::topic_config;

fn result(
    resource_type: i8,
    resource_name: String,
    code: ErrorCode,
    message: Option<String>,
) -> AlterConfigsResourceResponse {
    AlterConfigsResourceResponse {
        error_code: code,
        error_message: if code.is_ok() {
            None
        } else {
            message.or_else(|| message_for(code))
        },
        resource_type,
        resource_name,
        ..AlterConfigsResourceResponse::default()
    }
}

pub(crate) async fn handle(
    context: &RequestContext,
    request: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let cluster = &context.cluster;
    let responses = request
        .resources
        .into_iter()
        .map(|resource| {
            let (kind, name) = (resource.resource_type, resource.resource_name);
            match kind {
                RESOURCE_TOPIC => {
                    if cluster.topic(&name).is_none() {
                        return result(kind, name, ErrorCode::UnknownTopicOrPartition, None);
                    }
                    let mut overrides = BTreeMap::new();
                    for config in resource.configs {
                        if let Err(message) =
                            topic_config::validate(&config.name, config.value.as_deref())
                        {
                            return result(kind, name, ErrorCode::InvalidConfig, Some(message));
                        }
                        overrides.insert(config.name, config.value.unwrap_or_default());
                    }
                    if request.validate_only {
                        return result(kind, name, ErrorCode::None, None);
                    }
                    match cluster.set_topic_config(&name, overrides) {
                        Ok(()) => result(kind, name, ErrorCode::None, None),
                        Err(code) => result(kind, name, code, None),
                    }
                }
                RESOURCE_BROKER => result(
                    kind,
                    name,
                    ErrorCode::InvalidRequest,
                    Some("broker configs of the bundled broker are fixed at start".into()),
                ),
                other => result(
                    other,
                    name,
                    ErrorCode::InvalidRequest,
                    Some(format!("resource type {other} is not supported")),
                ),
            }
        })
        .collect();
    AlterConfigsResponse {
        responses,
        ..AlterConfigsResponse::default()
    }
}

pub(crate) fn error_response(
    request: &AlterConfigsRequest,
    _version: i16,
    code: ErrorCode,
) -> AlterConfigsResponse {
    AlterConfigsResponse {
        responses: request
            .resources
            .iter()
            .map(|r| result(r.resource_type, r.resource_name.clone(), code, None))
            .collect(),
        ..AlterConfigsResponse::default()
    }
}
