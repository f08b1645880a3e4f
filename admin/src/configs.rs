//! Config operations: describe (topic and broker, with sources and defaults)
//! and incremental alter (set, delete, append, subtract).

use std::collections::HashMap;

use ferrokafka_client::Target;
use ferrokafka_protocol::generated::describe_configs_request::DescribeConfigsResource;
use ferrokafka_protocol::generated::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use ferrokafka_protocol::generated::{DescribeConfigsRequest, IncrementalAlterConfigsRequest};

use crate::{Admin, AdminError, DEFAULT_TIMEOUT, Result};

/// What a config belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConfigResource {
    /// A topic, by name.
    Topic(String),
    /// A broker, by id.
    Broker(i32),
}

impl ConfigResource {
    fn wire(&self) -> (i8, String) {
        match self {
            ConfigResource::Topic(name) => (2, name.clone()),
            ConfigResource::Broker(id) => (4, id.to_string()),
        }
    }

    fn target(&self) -> Target {
        match self {
            ConfigResource::Topic(_) => Target::AnyBroker,
            ConfigResource::Broker(id) => Target::Node(*id),
        }
    }
}

/// Where a config value comes from (Kafka's `ConfigSource`).
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
}

impl ConfigSource {
    fn from_wire(source: i8) -> ConfigSource {
        match source {
            1 => ConfigSource::DynamicTopic,
            2 => ConfigSource::DynamicBroker,
            3 => ConfigSource::DynamicDefaultBroker,
            4 => ConfigSource::StaticBroker,
            5 => ConfigSource::Default,
            6 => ConfigSource::DynamicBrokerLogger,
            _ => ConfigSource::Unknown,
        }
    }
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

impl Admin {
    /// Describes the configs of each resource; one result per resource, in
    /// the order given.
    pub async fn describe_configs(
        &self,
        resources: &[ConfigResource],
    ) -> Result<Vec<(ConfigResource, Result<Vec<ConfigEntry>>)>> {
        let mut out = Vec::with_capacity(resources.len());
        for resource in resources {
            let r = self.describe_one(resource).await;
            out.push((resource.clone(), r));
        }
        Ok(out)
    }

    async fn describe_one(&self, resource: &ConfigResource) -> Result<Vec<ConfigEntry>> {
        let (resource_type, resource_name) = resource.wire();
        let request = DescribeConfigsRequest {
            resources: vec![DescribeConfigsResource {
                resource_type,
                resource_name: resource_name.clone(),
                configuration_keys: None,
                ..Default::default()
            }],
            ..Default::default()
        };
        let response = self
            .client
            .send_with_retry(&request, &resource.target(), DEFAULT_TIMEOUT)
            .await?;
        let result = response
            .results
            .into_iter()
            .find(|r| r.resource_name == resource_name)
            .ok_or(AdminError::MissingResult(resource_name))?;
        AdminError::check(result.error_code, result.error_message)?;
        Ok(result
            .configs
            .into_iter()
            .map(|c| {
                let source = ConfigSource::from_wire(c.config_source);
                ConfigEntry {
                    name: c.name,
                    value: c.value,
                    is_default: c.is_default || source == ConfigSource::Default,
                    source,
                    read_only: c.read_only,
                    sensitive: c.is_sensitive,
                }
            })
            .collect())
    }

    /// Applies incremental config changes; one result per resource, in the
    /// order given.
    pub async fn incremental_alter_configs(
        &self,
        changes: Vec<(ConfigResource, Vec<AlterConfigOp>)>,
        validate_only: bool,
    ) -> Result<Vec<(ConfigResource, Result<()>)>> {
        let mut out = Vec::with_capacity(changes.len());
        for (resource, ops) in changes {
            let (resource_type, resource_name) = resource.wire();
            let request = IncrementalAlterConfigsRequest {
                resources: vec![AlterConfigsResource {
                    resource_type,
                    resource_name: resource_name.clone(),
                    configs: ops.into_iter().map(AlterConfigOp::wire).collect(),
                    ..Default::default()
                }],
                validate_only,
                ..Default::default()
            };
            let r = match self
                .client
                .send_with_retry(&request, &resource.target(), DEFAULT_TIMEOUT)
                .await
            {
                Err(e) => Err(AdminError::from(e)),
                Ok(response) => {
                    let mut by_name: HashMap<String, Result<()>> = response
                        .responses
                        .into_iter()
                        .map(|r| {
                            (
                                r.resource_name,
                                AdminError::check(r.error_code, r.error_message),
                            )
                        })
                        .collect();
                    by_name
                        .remove(&resource_name)
                        .unwrap_or(Err(AdminError::MissingResult(resource_name)))
                }
            };
            out.push((resource, r));
        }
        Ok(out)
    }
}
