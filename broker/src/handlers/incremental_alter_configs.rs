//! IncrementalAlterConfigs (key 44, KIP-339): SET, DELETE, APPEND and
//! SUBTRACT (the last two for list configs such as `cleanup.policy`) on a
//! topic's overrides, validated as a whole before anything changes.
//! Broker configs are fixed at start (INVALID_REQUEST). As in Kafka, a
//! resource named twice in one request fails both times (INVALID_REQUEST),
//! and deleting a key that is not set (even an unknown one) succeeds.

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::incremental_alter_configs_response::AlterConfigsResourceResponse;
use ferrokafka_protocol::generated::{
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};

use super::describe_configs::{RESOURCE_BROKER, RESOURCE_TOPIC};
use super::{RequestContext, message_for};
use crate::topic_config::{self, ConfigType};

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

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
    request: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let cluster = &context.cluster;
    let named = |kind: i8, name: &str| {
        request
            .resources
            .iter()
            .filter(|r| r.resource_type == kind && r.resource_name == name)
            .count()
    };
    let duplicated: Vec<(i8, String)> = request
        .resources
        .iter()
        .filter(|r| named(r.resource_type, &r.resource_name) > 1)
        .map(|r| (r.resource_type, r.resource_name.clone()))
        .collect();
    let responses = request
        .resources
        .into_iter()
        .map(|resource| {
            let (kind, name) = (resource.resource_type, resource.resource_name);
            if duplicated.contains(&(kind, name.clone())) {
                return result(
                    kind,
                    name,
                    ErrorCode::InvalidRequest,
                    Some("Error due to duplicate resources in the request.".into()),
                );
            }
            if kind == RESOURCE_BROKER {
                return result(
                    kind,
                    name,
                    ErrorCode::InvalidRequest,
                    Some("broker configs of the bundled broker are fixed at start".into()),
                );
            }
            if kind != RESOURCE_TOPIC {
                return result(
                    kind,
                    name,
                    ErrorCode::InvalidRequest,
                    Some(format!("resource type {kind} is not supported")),
                );
            }
            let Some(topic) = cluster.topic(&name) else {
                return result(kind, name, ErrorCode::UnknownTopicOrPartition, None);
            };
            let mut overrides = topic.config.overrides.clone();
            for config in resource.configs {
                if config.config_operation == DELETE {
                    overrides.remove(&config.name);
                    continue;
                }
                let Some(key) = topic_config::lookup_key(&config.name) else {
                    return result(
                        kind,
                        name,
                        ErrorCode::InvalidConfig,
                        Some(format!("Unknown topic config name: {}", config.name)),
                    );
                };
                match config.config_operation {
                    SET => {
                        if let Err(message) =
                            topic_config::validate(&config.name, config.value.as_deref())
                        {
                            return result(kind, name, ErrorCode::InvalidConfig, Some(message));
                        }
                        overrides.insert(config.name, config.value.unwrap_or_default());
                    }
                    APPEND | SUBTRACT => {
                        if key.config_type != ConfigType::List {
                            return result(
                                kind,
                                name,
                                ErrorCode::InvalidConfig,
                                Some(format!(
                                    "Config value append is not allowed for config key: {}",
                                    config.name
                                )),
                            );
                        }
                        let current = overrides
                            .get(&config.name)
                            .map_or(key.default, String::as_str);
                        let mut items: Vec<String> = current
                            .split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect();
                        let given: Vec<String> = config
                            .value
                            .as_deref()
                            .unwrap_or_default()
                            .split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect();
                        if config.config_operation == APPEND {
                            for item in given {
                                if !items.contains(&item) {
                                    items.push(item);
                                }
                            }
                        } else {
                            items.retain(|item| !given.contains(item));
                        }
                        let value = items.join(",");
                        if let Err(message) = topic_config::validate(&config.name, Some(&value)) {
                            return result(kind, name, ErrorCode::InvalidConfig, Some(message));
                        }
                        overrides.insert(config.name, value);
                    }
                    other => {
                        return result(
                            kind,
                            name,
                            ErrorCode::InvalidRequest,
                            Some(format!("unknown config operation {other}")),
                        );
                    }
                }
            }
            if request.validate_only {
                return result(kind, name, ErrorCode::None, None);
            }
            match cluster.set_topic_config(&name, overrides) {
                Ok(()) => result(kind, name, ErrorCode::None, None),
                Err(code) => result(kind, name, code, None),
            }
        })
        .collect();
    IncrementalAlterConfigsResponse {
        responses,
        ..IncrementalAlterConfigsResponse::default()
    }
}

pub(crate) fn error_response(
    request: &IncrementalAlterConfigsRequest,
    _version: i16,
    code: ErrorCode,
) -> IncrementalAlterConfigsResponse {
    IncrementalAlterConfigsResponse {
        responses: request
            .resources
            .iter()
            .map(|r| result(r.resource_type, r.resource_name.clone(), code, None))
            .collect(),
        ..IncrementalAlterConfigsResponse::default()
    }
}
