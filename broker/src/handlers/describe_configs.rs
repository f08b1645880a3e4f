//! DescribeConfigs (key 32): topic configs (every known key, with the
//! override or default, its source, type and documentation when asked) and
//! the broker configs a client may look at (read-only; the broker is
//! configured at start). v0 reports `is_default`; v1+ `config_source` and,
//! when asked, synonyms; v3+ types and documentation. As in Kafka, the
//! cluster-wide broker default (an empty broker name) lists only dynamic
//! defaults (none here), and a broker's loggers are described (`root`).

use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use ferrokafka_protocol::generated::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::{RequestContext, message_for};
use crate::cluster::Cluster;
use crate::topic_config::{
    ConfigType, SOURCE_DEFAULT, SOURCE_DYNAMIC_TOPIC, SOURCE_STATIC_BROKER, TOPIC_CONFIG_KEYS,
};

/// Resource types (Kafka's `ConfigResource.Type`).
pub(crate) const RESOURCE_TOPIC: i8 = 2;
pub(crate) const RESOURCE_BROKER: i8 = 4;
pub(crate) const RESOURCE_BROKER_LOGGER: i8 = 8;

/// `config_source` of a broker logger's level (DYNAMIC_BROKER_LOGGER_CONFIG).
const SOURCE_BROKER_LOGGER: i8 = 6;

/// A broker's loggers, as Kafka describes them: each logger's level, its
/// config type UNKNOWN. The bundled broker has one, `root`, at INFO.
fn logger_entries() -> Vec<Entry> {
    vec![Entry {
        name: "root".to_owned(),
        value: "INFO".to_owned(),
        source: SOURCE_BROKER_LOGGER,
        read_only: false,
        config_type: ConfigType::String,
        documentation: "",
        default: None,
    }]
}

/// One described entry before version-specific shaping.
struct Entry {
    name: String,
    value: String,
    source: i8,
    read_only: bool,
    config_type: ConfigType,
    documentation: &'static str,
    default: Option<String>,
}

fn broker_entries(cluster: &Cluster, node: i32) -> Vec<Entry> {
    let config = &cluster.config;
    // As Kafka reports a broker config: DEFAULT_CONFIG while the value is
    // Kafka's default (`kafka_default`), STATIC_BROKER_CONFIG otherwise
    // (the bundled broker's settings play server.properties); read-only
    // unless Kafka can change it dynamically.
    let entry = |name: &str,
                 value: String,
                 kafka_default: Option<&str>,
                 read_only: bool,
                 config_type: ConfigType,
                 documentation: &'static str| Entry {
        name: name.to_owned(),
        source: if kafka_default == Some(value.as_str()) {
            SOURCE_DEFAULT
        } else {
            SOURCE_STATIC_BROKER
        },
        value,
        read_only,
        config_type,
        documentation,
        default: kafka_default.map(str::to_owned),
    };
    vec![
        entry(
            "auto.create.topics.enable",
            config.auto_create_topics.to_string(),
            Some("true"),
            true,
            ConfigType::Boolean,
            "Create topics on first use.",
        ),
        entry(
            "broker.id",
            node.to_string(),
            None,
            true,
            ConfigType::Int,
            "This broker's id.",
        ),
        entry(
            "default.replication.factor",
            config.default_replication_factor.to_string(),
            Some("1"),
            true,
            ConfigType::Int,
            "Replication factor of auto-created topics.",
        ),
        entry(
            "group.initial.rebalance.delay.ms",
            config.group_initial_rebalance_delay_ms.to_string(),
            Some("3000"),
            true,
            ConfigType::Int,
            "Delay before the first rebalance of a group.",
        ),
        entry(
            "group.max.session.timeout.ms",
            config.group_max_session_timeout_ms.to_string(),
            Some("1800000"),
            true,
            ConfigType::Int,
            "Largest session timeout allowed.",
        ),
        entry(
            "group.min.session.timeout.ms",
            config.group_min_session_timeout_ms.to_string(),
            Some("6000"),
            true,
            ConfigType::Int,
            "Smallest session timeout allowed.",
        ),
        entry(
            "log.dirs",
            config
                .data_dir
                .as_ref()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            None,
            true,
            ConfigType::List,
            "Where logs are kept (empty: memory).",
        ),
        entry(
            "log.retention.hours",
            "168".to_owned(),
            Some("168"),
            true,
            ConfigType::Int,
            "Default retention of topics.",
        ),
        entry(
            "message.max.bytes",
            "1048588".to_owned(),
            Some("1048588"),
            false,
            ConfigType::Int,
            "Default max.message.bytes of topics.",
        ),
        entry(
            "num.partitions",
            config.default_partitions.to_string(),
            Some("1"),
            true,
            ConfigType::Int,
            "Partitions of auto-created topics.",
        ),
        entry(
            "socket.request.max.bytes",
            config.max_frame_size.to_string(),
            Some("104857600"),
            true,
            ConfigType::Int,
            "Largest request accepted.",
        ),
    ]
}

fn topic_entries(overrides: &std::collections::BTreeMap<String, String>) -> Vec<Entry> {
    TOPIC_CONFIG_KEYS
        .iter()
        .map(|key| {
            let overridden = overrides.get(key.name);
            Entry {
                name: key.name.to_owned(),
                value: overridden
                    .cloned()
                    .unwrap_or_else(|| key.default.to_owned()),
                source: if overridden.is_some() {
                    SOURCE_DYNAMIC_TOPIC
                } else {
                    SOURCE_DEFAULT
                },
                read_only: false,
                config_type: key.config_type,
                documentation: key.documentation,
                default: Some(key.default.to_owned()),
            }
        })
        .collect()
}

fn shape(
    entry: Entry,
    version: i16,
    synonyms: bool,
    documentation: bool,
) -> DescribeConfigsResourceResult {
    let synonyms = if version >= 1 && synonyms {
        let mut list = vec![DescribeConfigsSynonym {
            name: entry.name.clone(),
            value: Some(entry.value.clone()),
            source: entry.source,
            ..DescribeConfigsSynonym::default()
        }];
        if entry.source == SOURCE_DYNAMIC_TOPIC {
            list.push(DescribeConfigsSynonym {
                name: entry.name.clone(),
                value: entry.default.clone(),
                source: SOURCE_DEFAULT,
                ..DescribeConfigsSynonym::default()
            });
        }
        list
    } else {
        Vec::new()
    };
    DescribeConfigsResourceResult {
        name: entry.name,
        value: Some(entry.value),
        read_only: entry.read_only,
        is_default: version == 0 && entry.source == SOURCE_DEFAULT,
        config_source: if version >= 1 { entry.source } else { -1 },
        is_sensitive: false,
        synonyms,
        config_type: if version >= 3 && entry.source != SOURCE_BROKER_LOGGER {
            entry.config_type as i8
        } else {
            0
        },
        documentation: (version >= 3 && documentation).then(|| entry.documentation.to_owned()),
        ..DescribeConfigsResourceResult::default()
    }
}

fn failed(
    resource_type: i8,
    resource_name: String,
    code: ErrorCode,
    message: Option<String>,
) -> DescribeConfigsResult {
    DescribeConfigsResult {
        error_code: code,
        error_message: message.or_else(|| message_for(code)),
        resource_type,
        resource_name,
        configs: Vec::new(),
        ..DescribeConfigsResult::default()
    }
}

/// Parses a broker resource name: empty (cluster default) or a node id.
pub(crate) fn broker_resource(
    cluster: &Cluster,
    name: &str,
    this_node: i32,
) -> Result<i32, String> {
    if name.is_empty() {
        return Ok(this_node);
    }
    name.parse::<i32>()
        .ok()
        .filter(|id| (0..cluster.config.nodes).contains(id))
        .ok_or_else(|| format!("Unexpected broker id {name}"))
}

pub(crate) async fn handle(
    context: &RequestContext,
    request: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let cluster = &context.cluster;
    let version = context.version;
    let results = request
        .resources
        .into_iter()
        .map(|resource| {
            let entries = match resource.resource_type {
                RESOURCE_TOPIC => match cluster.topic(&resource.resource_name) {
                    Some(topic) => topic_entries(&topic.config.overrides),
                    None => {
                        return failed(
                            resource.resource_type,
                            resource.resource_name,
                            ErrorCode::UnknownTopicOrPartition,
                            None,
                        );
                    }
                },
                // The cluster-wide default lists only dynamic defaults, as
                // in Kafka; the bundled broker has none.
                RESOURCE_BROKER if resource.resource_name.is_empty() => Vec::new(),
                RESOURCE_BROKER | RESOURCE_BROKER_LOGGER => {
                    match broker_resource(cluster, &resource.resource_name, context.node) {
                        Ok(_) if resource.resource_type == RESOURCE_BROKER_LOGGER => {
                            logger_entries()
                        }
                        Ok(node) => broker_entries(cluster, node),
                        Err(message) => {
                            return failed(
                                resource.resource_type,
                                resource.resource_name,
                                ErrorCode::InvalidRequest,
                                Some(message),
                            );
                        }
                    }
                }
                other => {
                    return failed(
                        other,
                        resource.resource_name,
                        ErrorCode::InvalidRequest,
                        Some(format!("resource type {other} is not supported")),
                    );
                }
            };
            let configs = entries
                .into_iter()
                .filter(|entry| {
                    resource
                        .configuration_keys
                        .as_ref()
                        // Kafka treats an empty list like null: every config.
                        .is_none_or(|keys| keys.is_empty() || keys.contains(&entry.name))
                })
                .map(|entry| {
                    shape(
                        entry,
                        version,
                        request.include_synonyms,
                        request.include_documentation,
                    )
                })
                .collect();
            DescribeConfigsResult {
                error_code: ErrorCode::None,
                error_message: None,
                resource_type: resource.resource_type,
                resource_name: resource.resource_name,
                configs,
                ..DescribeConfigsResult::default()
            }
        })
        .collect();
    DescribeConfigsResponse {
        results,
        ..DescribeConfigsResponse::default()
    }
}

pub(crate) fn error_response(
    request: &DescribeConfigsRequest,
    _version: i16,
    code: ErrorCode,
) -> DescribeConfigsResponse {
    DescribeConfigsResponse {
        results: request
            .resources
            .iter()
            .map(|r| failed(r.resource_type, r.resource_name.clone(), code, None))
            .collect(),
        ..DescribeConfigsResponse::default()
    }
}
