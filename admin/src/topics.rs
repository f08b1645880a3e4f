//! Topic operations: create, delete, list and describe.

use std::collections::HashMap;
use std::time::Duration;

use ferrokafka_client::Target;
use ferrokafka_client::metadata::ClusterMetadata;
use ferrokafka_protocol::generated::create_partitions_request::CreatePartitionsTopic;
use ferrokafka_protocol::generated::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use ferrokafka_protocol::generated::delete_topics_request::DeleteTopicState;
use ferrokafka_protocol::generated::metadata_request::MetadataRequestTopic;
use ferrokafka_protocol::generated::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, MetadataRequest,
    MetadataResponse,
};
use ferrokafka_protocol::{ErrorCode, Uuid};

use crate::{Admin, AdminError, DEFAULT_TIMEOUT, Result};

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// The topic name.
    pub name: String,
    /// The number of partitions, or -1 for the broker's default.
    pub partitions: i32,
    /// The replication factor, or -1 for the broker's default.
    pub replication_factor: i16,
    /// Explicit replica assignment (partition → broker ids); when given,
    /// `partitions` and `replication_factor` must be -1.
    pub replica_assignment: Vec<(i32, Vec<i32>)>,
    /// Topic configs (`retention.ms`...).
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with `partitions` partitions and `replication_factor` replicas.
    pub fn new(name: impl Into<String>, partitions: i32, replication_factor: i16) -> NewTopic {
        NewTopic {
            name: name.into(),
            partitions,
            replication_factor,
            replica_assignment: Vec::new(),
            configs: Vec::new(),
        }
    }

    /// Adds a topic config.
    pub fn config(mut self, name: impl Into<String>, value: impl Into<String>) -> NewTopic {
        self.configs.push((name.into(), value.into()));
        self
    }
}

/// Options of [`Admin::create_topics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateTopicsOptions {
    /// How long the call (and the broker) may take.
    pub timeout: Duration,
    /// Validate the request without creating anything.
    pub validate_only: bool,
}

impl Default for CreateTopicsOptions {
    fn default() -> Self {
        CreateTopicsOptions {
            timeout: DEFAULT_TIMEOUT,
            validate_only: false,
        }
    }
}

/// Options of [`Admin::delete_topics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteTopicsOptions {
    /// How long the call (and the broker) may take.
    pub timeout: Duration,
}

impl Default for DeleteTopicsOptions {
    fn default() -> Self {
        DeleteTopicsOptions {
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// A topic as [`Admin::list_topics`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicListing {
    /// The topic name.
    pub name: String,
    /// The topic id (zero if the broker sends none).
    pub topic_id: Uuid,
    /// Whether it is internal (`__consumer_offsets`...).
    pub is_internal: bool,
}

/// One partition of a described topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    /// The partition index.
    pub partition: i32,
    /// The leader's broker id, or `None` if there is none.
    pub leader: Option<i32>,
    /// All replicas.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Offline replicas.
    pub offline_replicas: Vec<i32>,
}

/// A described topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// The topic name.
    pub name: String,
    /// The topic id (zero if the broker sends none).
    pub topic_id: Uuid,
    /// Whether it is internal.
    pub is_internal: bool,
    /// Partitions, sorted by index.
    pub partitions: Vec<PartitionDescription>,
}

fn millis(timeout: Duration) -> i32 {
    i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX)
}

impl Admin {
    /// Creates topics on the controller; one result per topic, in the order
    /// given.
    pub async fn create_topics(
        &self,
        topics: Vec<NewTopic>,
        options: CreateTopicsOptions,
    ) -> Result<Vec<(String, Result<()>)>> {
        let names: Vec<String> = topics.iter().map(|t| t.name.clone()).collect();
        let request = CreateTopicsRequest {
            topics: topics
                .into_iter()
                .map(|t| CreatableTopic {
                    name: t.name,
                    num_partitions: t.partitions,
                    replication_factor: t.replication_factor,
                    assignments: t
                        .replica_assignment
                        .into_iter()
                        .map(|(partition_index, broker_ids)| CreatableReplicaAssignment {
                            partition_index,
                            broker_ids,
                            ..Default::default()
                        })
                        .collect(),
                    configs: t
                        .configs
                        .into_iter()
                        .map(|(name, value)| CreatableTopicConfig {
                            name,
                            value: Some(value),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            timeout_ms: millis(options.timeout),
            validate_only: options.validate_only,
            ..Default::default()
        };
        let response = self
            .client
            .send_with_retry_checked(&request, &Target::Controller, options.timeout, |r| {
                // Retry only when the controller moved; per-topic errors are
                // reported per topic.
                r.topics
                    .iter()
                    .map(|t| t.error_code)
                    .find(|c| *c == ErrorCode::NotController)
            })
            .await?;
        let mut by_name: HashMap<String, Result<()>> = response
            .topics
            .into_iter()
            .map(|t| {
                let r = AdminError::check(t.error_code, t.error_message);
                (t.name, r)
            })
            .collect();
        Ok(names
            .into_iter()
            .map(|n| {
                let r = by_name
                    .remove(&n)
                    .unwrap_or_else(|| Err(AdminError::MissingResult(n.clone())));
                (n, r)
            })
            .collect())
    }

    /// Deletes topics by name; one result per topic, in the order given.
    pub async fn delete_topics(
        &self,
        names: &[&str],
        options: DeleteTopicsOptions,
    ) -> Result<Vec<(String, Result<()>)>> {
        let version = match self.client.resolve(&Target::Controller).await? {
            Some(node) => self
                .client
                .node_connection(node)
                .await?
                .version_for::<DeleteTopicsRequest>()?,
            None => 0,
        };
        let mut request = DeleteTopicsRequest {
            timeout_ms: millis(options.timeout),
            ..Default::default()
        };
        if version >= 6 {
            request.topics = names
                .iter()
                .map(|n| DeleteTopicState {
                    name: Some((*n).to_string()),
                    topic_id: Uuid::ZERO,
                    ..Default::default()
                })
                .collect();
        } else {
            request.topic_names = names.iter().map(|n| (*n).to_string()).collect();
        }
        let response = self
            .client
            .send_with_retry_checked(&request, &Target::Controller, options.timeout, |r| {
                r.responses
                    .iter()
                    .map(|t| t.error_code)
                    .find(|c| *c == ErrorCode::NotController)
            })
            .await?;
        let mut by_name: HashMap<String, Result<()>> = response
            .responses
            .into_iter()
            .filter_map(|t| {
                let name = t.name?;
                Some((name, AdminError::check(t.error_code, t.error_message)))
            })
            .collect();
        Ok(names
            .iter()
            .map(|n| {
                let n = (*n).to_string();
                let r = by_name
                    .remove(&n)
                    .unwrap_or_else(|| Err(AdminError::MissingResult(n.clone())));
                (n, r)
            })
            .collect())
    }

    /// Increases topics' partition counts (`(topic, new total count)`); one
    /// result per topic, in the order given.
    pub async fn create_partitions(
        &self,
        increases: &[(&str, i32)],
        options: CreateTopicsOptions,
    ) -> Result<Vec<(String, Result<()>)>> {
        let request = CreatePartitionsRequest {
            topics: increases
                .iter()
                .map(|(name, count)| CreatePartitionsTopic {
                    name: (*name).to_string(),
                    count: *count,
                    assignments: None,
                    ..Default::default()
                })
                .collect(),
            timeout_ms: millis(options.timeout),
            validate_only: options.validate_only,
            ..Default::default()
        };
        let response = self
            .client
            .send_with_retry_checked(&request, &Target::Controller, options.timeout, |r| {
                r.results
                    .iter()
                    .map(|t| t.error_code)
                    .find(|c| *c == ErrorCode::NotController)
            })
            .await?;
        let mut by_name: HashMap<String, Result<()>> = response
            .results
            .into_iter()
            .map(|t| (t.name, AdminError::check(t.error_code, t.error_message)))
            .collect();
        Ok(increases
            .iter()
            .map(|(n, _)| {
                let n = (*n).to_string();
                let r = by_name
                    .remove(&n)
                    .unwrap_or_else(|| Err(AdminError::MissingResult(n.clone())));
                (n, r)
            })
            .collect())
    }

    async fn fetch_metadata(&self, topics: Option<&[&str]>) -> Result<ClusterMetadata> {
        let request = MetadataRequest {
            topics: topics.map(|ts| {
                ts.iter()
                    .map(|t| MetadataRequestTopic {
                        name: Some((*t).to_string()),
                        topic_id: Uuid::ZERO,
                        ..Default::default()
                    })
                    .collect()
            }),
            allow_auto_topic_creation: false,
            ..Default::default()
        };
        let response: MetadataResponse = self
            .client
            .send_with_retry(&request, &Target::AnyBroker, DEFAULT_TIMEOUT)
            .await?;
        Ok(ClusterMetadata::from_response(&response, None))
    }

    /// Lists the cluster's topics, sorted by name; internal topics only with
    /// `include_internal`.
    pub async fn list_topics(&self, include_internal: bool) -> Result<Vec<TopicListing>> {
        let metadata = self.fetch_metadata(None).await?;
        let mut listing: Vec<TopicListing> = metadata
            .topics
            .values()
            .filter(|t| include_internal || !t.is_internal)
            .filter(|t| t.error.is_ok())
            .map(|t| TopicListing {
                name: t.name.clone(),
                topic_id: t.topic_id,
                is_internal: t.is_internal,
            })
            .collect();
        listing.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listing)
    }

    /// Describes topics; one result per topic, in the order given
    /// (UNKNOWN_TOPIC_OR_PARTITION for a topic that does not exist).
    pub async fn describe_topics(
        &self,
        names: &[&str],
    ) -> Result<Vec<(String, Result<TopicDescription>)>> {
        let metadata = self.fetch_metadata(Some(names)).await?;
        Ok(names
            .iter()
            .map(|n| {
                let r = match metadata.topic(n) {
                    // The metadata cache drops topics the broker does not know.
                    None => Err(AdminError::Kafka {
                        code: ErrorCode::UnknownTopicOrPartition,
                        message: None,
                    }),
                    Some(t) if !t.error.is_ok() => Err(AdminError::Kafka {
                        code: t.error,
                        message: None,
                    }),
                    Some(t) => Ok(TopicDescription {
                        name: t.name.clone(),
                        topic_id: t.topic_id,
                        is_internal: t.is_internal,
                        partitions: t
                            .partitions
                            .iter()
                            .map(|p| PartitionDescription {
                                partition: p.partition,
                                leader: (p.leader >= 0).then_some(p.leader),
                                replicas: p.replicas.clone(),
                                isr: p.isr.clone(),
                                offline_replicas: p.offline_replicas.clone(),
                            })
                            .collect(),
                    }),
                };
                ((*n).to_string(), r)
            })
            .collect())
    }
}
