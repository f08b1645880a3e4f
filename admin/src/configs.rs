//! Config operations: describe (topic and broker resources, with sources,
//! defaults, read-only and sensitive flags, synonyms and documentation when
//! asked), incremental alter (set, delete, append, subtract; KIP-339) and the
//! legacy alter (AlterConfigs: the given set replaces every override).
//!
//! Routing follows Java's `KafkaAdminClient`: a broker resource (and a broker
//! logger) goes to that broker; every other resource (topics, the
//! cluster-wide broker default) to any broker, all in one request.

use std::collections::{HashMap, VecDeque};

use ferrokafka_client::Target;
use ferrokafka_protocol::generated::alter_configs_request::{
    AlterConfigsResource as LegacyResource, AlterableConfig as LegacyConfig,
};
use ferrokafka_protocol::generated::describe_configs_request::DescribeConfigsResource;
use ferrokafka_protocol::generated::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use ferrokafka_protocol::generated::{
    AlterConfigsRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest,
};

use crate::options::{AlterConfigsOptions, DescribeConfigsOptions};
use crate::{Admin, AdminError, Deadline, Result};

/// What a config belongs to (Kafka's `ConfigResource`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConfigResource {
    /// A topic, by name.
    Topic(String),
    /// A broker, by id.
    Broker(i32),
    /// The cluster-wide default of dynamic broker configs (a broker
    /// resource with an empty name).
    BrokerDefault,
    /// A broker's loggers, by broker id.
    BrokerLogger(i32),
}

impl ConfigResource {
    fn wire(&self) -> (i8, String) {
        match self {
            ConfigResource::Topic(name) => (2, name.clone()),
            ConfigResource::Broker(id) => (4, id.to_string()),
            ConfigResource::BrokerDefault => (4, String::new()),
            ConfigResource::BrokerLogger(id) => (8, id.to_string()),
        }
    }

    fn target(&self) -> Target {
        match self {
            ConfigResource::Broker(id) | ConfigResource::BrokerLogger(id) => Target::Node(*id),
            ConfigResource::Topic(_) | ConfigResource::BrokerDefault => Target::AnyBroker,
        }
    }
}

/// Where a config value comes from (Kafka's `ConfigEntry.ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// Unknown (or a source this client does not know).
    Unknown,
    /// A topic's dynamic config.
    DynamicTopic,
    /// A broker's dynamic config.
    DynamicBroker,
    /// The cluster-wide dynamic broker default.
    DynamicDefaultBroker,
    /// The broker's static (server.properties) config.
    StaticBroker,
    /// The built-in default.
    Default,
    /// A dynamic broker logger config.
    DynamicBrokerLogger,
    /// A client metrics subscription (KIP-714).
    ClientMetrics,
    /// A group config (KIP-848).
    GroupConfig,
}

impl ConfigSource {
    pub(crate) fn from_wire(source: i8) -> ConfigSource {
        match source {
            1 => ConfigSource::DynamicTopic,
            2 => ConfigSource::DynamicBroker,
            3 => ConfigSource::DynamicDefaultBroker,
            4 => ConfigSource::StaticBroker,
            5 => ConfigSource::Default,
            6 => ConfigSource::DynamicBrokerLogger,
            7 => ConfigSource::ClientMetrics,
            8 => ConfigSource::GroupConfig,
            _ => ConfigSource::Unknown,
        }
    }
}

/// A config's type (DescribeConfigs v3+; `Unknown` before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// Not sent, or unknown to this client.
    Unknown,
    /// A boolean.
    Boolean,
    /// A string.
    String,
    /// An int.
    Int,
    /// A short.
    Short,
    /// A long.
    Long,
    /// A double.
    Double,
    /// A comma-separated list.
    List,
    /// A class name.
    Class,
    /// A password.
    Password,
}

impl ConfigType {
    fn from_wire(t: i8) -> ConfigType {
        match t {
            1 => ConfigType::Boolean,
            2 => ConfigType::String,
            3 => ConfigType::Int,
            4 => ConfigType::Short,
            5 => ConfigType::Long,
            6 => ConfigType::Double,
            7 => ConfigType::List,
            8 => ConfigType::Class,
            9 => ConfigType::Password,
            _ => ConfigType::Unknown,
        }
    }
}

/// A value a config would have at one level (Kafka's `ConfigSynonym`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonym {
    /// The synonym's name (`log.retention.ms` for `retention.ms`...).
    pub name: String,
    /// Its value.
    pub value: Option<String>,
    /// Where it is set.
    pub source: ConfigSource,
}

/// One described config entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The config name.
    pub name: String,
    /// Its value (`None` when sensitive or unset).
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Whether the value is the default.
    pub is_default: bool,
    /// Whether it cannot be altered.
    pub read_only: bool,
    /// Whether it is sensitive (its value is hidden).
    pub sensitive: bool,
    /// Its synonyms, most specific first (when asked for and sent).
    pub synonyms: Vec<ConfigSynonym>,
    /// Its type (when the broker sends it).
    pub config_type: ConfigType,
    /// Its documentation (when asked for and sent).
    pub documentation: Option<String>,
}

/// An incremental config change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    /// Sets a value.
    Set(String, String),
    /// Removes a value (back to the default).
    Delete(String),
    /// Appends to a list value.
    Append(String, String),
    /// Removes from a list value.
    Subtract(String, String),
}

impl AlterConfigOp {
    fn wire(self) -> AlterableConfig {
        let (name, config_operation, value) = match self {
            AlterConfigOp::Set(n, v) => (n, 0, Some(v)),
            AlterConfigOp::Delete(n) => (n, 1, None),
            AlterConfigOp::Append(n, v) => (n, 2, Some(v)),
            AlterConfigOp::Subtract(n, v) => (n, 3, Some(v)),
        };
        AlterableConfig {
            name,
            config_operation,
            value,
            ..Default::default()
        }
    }
}

/// Resources (with their index in the call) that go to one target.
type TargetGroup<T> = (Target, Vec<(usize, ConfigResource, T)>);

/// Resources grouped by where their requests go, keeping each one's index.
fn by_target<T>(items: Vec<(ConfigResource, T)>) -> Vec<TargetGroup<T>> {
    let mut groups: Vec<TargetGroup<T>> = Vec::new();
    for (index, (resource, item)) in items.into_iter().enumerate() {
        let target = resource.target();
        match groups.iter_mut().find(|(t, _)| *t == target) {
            Some((_, group)) => group.push((index, resource, item)),
            None => groups.push((target, vec![(index, resource, item)])),
        }
    }
    groups
}

/// Puts per-index results back in the order asked.
fn ordered<T>(
    len: usize,
    mut results: HashMap<usize, (ConfigResource, Result<T>)>,
) -> Vec<(ConfigResource, Result<T>)> {
    (0..len).filter_map(|i| results.remove(&i)).collect()
}

impl Admin {
    /// Describes the configs of each resource; one result per resource, in
    /// the order given (UNKNOWN_TOPIC_OR_PARTITION for a missing topic).
    pub async fn describe_configs(
        &self,
        resources: &[ConfigResource],
        options: DescribeConfigsOptions,
    ) -> Result<Vec<(ConfigResource, Result<Vec<ConfigEntry>>)>> {
        let deadline = Deadline::after(options.timeout);
        let mut results = HashMap::new();
        let items = resources.iter().map(|r| (r.clone(), ())).collect();
        for (target, group) in by_target(items) {
            let request = DescribeConfigsRequest {
                resources: group
                    .iter()
                    .map(|(_, resource, ())| {
                        let (resource_type, resource_name) = resource.wire();
                        DescribeConfigsResource {
                            resource_type,
                            resource_name,
                            configuration_keys: None,
                            ..Default::default()
                        }
                    })
                    .collect(),
                include_synonyms: options.include_synonyms,
                include_documentation: options.include_documentation,
                ..Default::default()
            };
            match deadline
                .run(
                    self.client
                        .send_with_retry(&request, &target, deadline.remaining()),
                )
                .await
            {
                Err(e) => {
                    for (index, resource, ()) in group {
                        results.insert(index, (resource, Err(e.clone())));
                    }
                }
                Ok(response) => {
                    let mut answers = Answers::default();
                    for r in response.results {
                        let entries = AdminError::check(r.error_code, r.error_message)
                            .map(|()| r.configs.into_iter().map(entry).collect());
                        answers.add((r.resource_type, r.resource_name), entries);
                    }
                    for (index, resource, ()) in group {
                        let r = answers.take(&resource);
                        results.insert(index, (resource, r));
                    }
                }
            }
        }
        Ok(ordered(resources.len(), results))
    }

    /// Applies incremental config changes (IncrementalAlterConfigs); one
    /// result per resource, in the order given. A resource's changes apply
    /// all or nothing (INVALID_CONFIG with the broker's message).
    pub async fn incremental_alter_configs(
        &self,
        changes: Vec<(ConfigResource, Vec<AlterConfigOp>)>,
        options: AlterConfigsOptions,
    ) -> Result<Vec<(ConfigResource, Result<()>)>> {
        let deadline = Deadline::after(options.timeout);
        let len = changes.len();
        let mut results = HashMap::new();
        for (target, group) in by_target(changes) {
            let mut keys = Vec::with_capacity(group.len());
            let mut resources = Vec::with_capacity(group.len());
            for (index, resource, ops) in group {
                let (resource_type, resource_name) = resource.wire();
                resources.push(AlterConfigsResource {
                    resource_type,
                    resource_name,
                    configs: ops.into_iter().map(AlterConfigOp::wire).collect(),
                    ..Default::default()
                });
                keys.push((index, resource));
            }
            let request = IncrementalAlterConfigsRequest {
                resources,
                validate_only: options.validate_only,
                ..Default::default()
            };
            let response = deadline
                .run(
                    self.client
                        .send_with_retry(&request, &target, deadline.remaining()),
                )
                .await
                .map(|r| {
                    let mut answers = Answers::default();
                    for r in r.responses {
                        let key = (r.resource_type, r.resource_name);
                        answers.add(key, AdminError::check(r.error_code, r.error_message));
                    }
                    answers
                });
            collect_alter(keys, response, &mut results);
        }
        Ok(ordered(len, results))
    }

    /// Replaces each resource's configs with the given set (the legacy
    /// AlterConfigs: every override left out returns to its default; Java's
    /// deprecated `alterConfigs`). One result per resource, in the order
    /// given.
    pub async fn alter_configs(
        &self,
        configs: Vec<(ConfigResource, Vec<(String, String)>)>,
        options: AlterConfigsOptions,
    ) -> Result<Vec<(ConfigResource, Result<()>)>> {
        let deadline = Deadline::after(options.timeout);
        let len = configs.len();
        let mut results = HashMap::new();
        for (target, group) in by_target(configs) {
            let mut keys = Vec::with_capacity(group.len());
            let mut resources = Vec::with_capacity(group.len());
            for (index, resource, entries) in group {
                let (resource_type, resource_name) = resource.wire();
                resources.push(LegacyResource {
                    resource_type,
                    resource_name,
                    configs: entries
                        .into_iter()
                        .map(|(name, value)| LegacyConfig {
                            name,
                            value: Some(value),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                });
                keys.push((index, resource));
            }
            let request = AlterConfigsRequest {
                resources,
                validate_only: options.validate_only,
                ..Default::default()
            };
            let response = deadline
                .run(
                    self.client
                        .send_with_retry(&request, &target, deadline.remaining()),
                )
                .await
                .map(|r| {
                    let mut answers = Answers::default();
                    for r in r.responses {
                        let key = (r.resource_type, r.resource_name);
                        answers.add(key, AdminError::check(r.error_code, r.error_message));
                    }
                    answers
                });
            collect_alter(keys, response, &mut results);
        }
        Ok(ordered(len, results))
    }
}

/// A response's per-resource answers, in the order sent for each key (a
/// resource named twice gets two answers).
struct Answers<T> {
    by_key: HashMap<(i8, String), VecDeque<Result<T>>>,
}

impl<T> Default for Answers<T> {
    fn default() -> Self {
        Answers {
            by_key: HashMap::new(),
        }
    }
}

impl<T> Answers<T> {
    fn add(&mut self, key: (i8, String), answer: Result<T>) {
        self.by_key.entry(key).or_default().push_back(answer);
    }

    fn take(&mut self, resource: &ConfigResource) -> Result<T> {
        let key = resource.wire();
        self.by_key
            .get_mut(&key)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| Err(AdminError::MissingResult(format!("{resource:?}"))))
    }
}

fn collect_alter(
    keys: Vec<(usize, ConfigResource)>,
    response: Result<Answers<()>>,
    results: &mut HashMap<usize, (ConfigResource, Result<()>)>,
) {
    match response {
        Err(e) => {
            for (index, resource) in keys {
                results.insert(index, (resource, Err(e.clone())));
            }
        }
        Ok(mut answers) => {
            for (index, resource) in keys {
                let r = answers.take(&resource);
                results.insert(index, (resource, r));
            }
        }
    }
}

fn entry(
    c: ferrokafka_protocol::generated::describe_configs_response::DescribeConfigsResourceResult,
) -> ConfigEntry {
    let source = ConfigSource::from_wire(c.config_source);
    ConfigEntry {
        name: c.name,
        value: c.value,
        is_default: c.is_default || source == ConfigSource::Default,
        source,
        read_only: c.read_only,
        sensitive: c.is_sensitive,
        synonyms: c
            .synonyms
            .into_iter()
            .map(|s| ConfigSynonym {
                name: s.name,
                value: s.value,
                source: ConfigSource::from_wire(s.source),
            })
            .collect(),
        config_type: ConfigType::from_wire(c.config_type),
        documentation: c.documentation,
    }
}
