//! Topic operations: create (counts or explicit replica assignment),
//! delete (by name, or by topic id with DeleteTopics v6+), list (with or
//! without internal topics), describe (by name or id, with authorized
//! operations) and create partitions.
//!
//! CreateTopics, DeleteTopics and CreatePartitions go to the controller and
//! are sent again, whole, when it answers NOT_CONTROLLER (as Java does);
//! every other error is the item's. Listing and describing read Metadata
//! from any broker.

use std::borrow::Borrow;
use std::collections::{BTreeSet, HashMap};

use ferrokafka_client::Target;
use ferrokafka_protocol::generated::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use ferrokafka_protocol::generated::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use ferrokafka_protocol::generated::delete_topics_request::DeleteTopicState;
use ferrokafka_protocol::generated::metadata_request::MetadataRequestTopic;
use ferrokafka_protocol::generated::metadata_response::MetadataResponseTopic;
use ferrokafka_protocol::generated::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, MetadataRequest,
};
use ferrokafka_protocol::{ErrorCode, Uuid};

use crate::cluster::AclOperation;
use crate::configs::{ConfigEntry, ConfigSource, ConfigType};
use crate::options::{
    CreatePartitionsOptions, CreateTopicsOptions, DeleteTopicsOptions, DescribeTopicsOptions,
    ListTopicsOptions,
};
use crate::{Admin, AdminError, Deadline, Result, millis};

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// The topic name.
    pub name: String,
    /// The number of partitions, or -1 for the broker's default.
    pub partitions: i32,
    /// The replication factor, or -1 for the broker's default.
    pub replication_factor: i16,
    /// Explicit replica assignment (partition → broker ids, the first the
    /// preferred leader); when given, `partitions` and `replication_factor`
    /// must be -1.
    pub replica_assignment: Vec<(i32, Vec<i32>)>,
    /// Topic configs (`retention.ms`...).
    pub configs: Vec<(String, String)>,
}

impl NewTopic {
    /// A topic with `partitions` partitions and `replication_factor` replicas
    /// (-1 for the broker's defaults).
    pub fn new(name: impl Into<String>, partitions: i32, replication_factor: i16) -> NewTopic {
        NewTopic {
            name: name.into(),
            partitions,
            replication_factor,
            replica_assignment: Vec::new(),
            configs: Vec::new(),
        }
    }

    /// A topic whose partition `i` is on the brokers `assignment[i]`.
    pub fn with_replica_assignment(
        name: impl Into<String>,
        assignment: impl IntoIterator<Item = Vec<i32>>,
    ) -> NewTopic {
        NewTopic {
            name: name.into(),
            partitions: -1,
            replication_factor: -1,
            replica_assignment: (0i32..).zip(assignment).collect(),
            configs: Vec::new(),
        }
    }

    /// Adds a topic config.
    pub fn config(mut self, name: impl Into<String>, value: impl Into<String>) -> NewTopic {
        self.configs.push((name.into(), value.into()));
        self
    }

    fn wire(&self) -> CreatableTopic {
        CreatableTopic {
            name: self.name.clone(),
            num_partitions: self.partitions,
            replication_factor: self.replication_factor,
            assignments: self
                .replica_assignment
                .iter()
                .map(|(partition_index, broker_ids)| CreatableReplicaAssignment {
                    partition_index: *partition_index,
                    broker_ids: broker_ids.clone(),
                    ..Default::default()
                })
                .collect(),
            configs: self
                .configs
                .iter()
                .map(|(name, value)| CreatableTopicConfig {
                    name: name.clone(),
                    value: Some(value.clone()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }
}

/// What the controller reports about a created topic (CreateTopics v5+;
/// from older brokers the counts are -1 and the configs empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTopic {
    /// The topic id (v7+; zero before).
    pub topic_id: Uuid,
    /// The number of partitions, or -1 if the broker did not say.
    pub num_partitions: i32,
    /// The replication factor, or -1 if the broker did not say.
    pub replication_factor: i16,
    /// The topic's configs, if the broker sent them.
    pub configs: Vec<ConfigEntry>,
}

/// A partition count increase for [`Admin::create_partitions`] (Java's
/// `NewPartitions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPartitions {
    /// The new total number of partitions.
    pub total_count: i32,
    /// The replicas of each new partition, in order (the first broker the
    /// preferred leader); `None` lets the controller place them.
    pub assignments: Option<Vec<Vec<i32>>>,
}

impl NewPartitions {
    /// Grows the topic to `total_count` partitions.
    pub fn increase_to(total_count: i32) -> NewPartitions {
        NewPartitions {
            total_count,
            assignments: None,
        }
    }

    /// Grows the topic to `total_count` partitions, placing the new ones on
    /// the brokers given.
    pub fn increase_to_with_assignments(
        total_count: i32,
        assignments: Vec<Vec<i32>>,
    ) -> NewPartitions {
        NewPartitions {
            total_count,
            assignments: Some(assignments),
        }
    }
}

impl From<i32> for NewPartitions {
    fn from(total_count: i32) -> Self {
        NewPartitions::increase_to(total_count)
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
    /// The leader epoch, or -1.
    pub leader_epoch: i32,
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
    /// What this client may do on the topic, when asked for
    /// (`include_authorized_operations`) and the broker answered.
    pub authorized_operations: Option<BTreeSet<AclOperation>>,
}

fn describe(topic: MetadataResponseTopic, with_operations: bool) -> Result<TopicDescription> {
    AdminError::check(topic.error_code, None)?;
    let mut partitions: Vec<PartitionDescription> = topic
        .partitions
        .into_iter()
        .map(|p| PartitionDescription {
            partition: p.partition_index,
            leader: (p.leader_id >= 0).then_some(p.leader_id),
            leader_epoch: p.leader_epoch,
            replicas: p.replica_nodes,
            isr: p.isr_nodes,
            offline_replicas: p.offline_replicas,
        })
        .collect();
    partitions.sort_by_key(|p| p.partition);
    Ok(TopicDescription {
        name: topic.name.unwrap_or_default(),
        topic_id: topic.topic_id,
        is_internal: topic.is_internal,
        partitions,
        authorized_operations: if with_operations {
            AclOperation::from_bit_field(topic.topic_authorized_operations)
        } else {
            None
        },
    })
}

/// Picks each item's result out of a response map, in the order asked.
fn in_order<K, T>(
    keys: Vec<K>,
    mut results: HashMap<K, Result<T>>,
    describe_key: impl Fn(&K) -> String,
) -> Vec<(K, Result<T>)>
where
    K: std::hash::Hash + Eq,
{
    keys.into_iter()
        .map(|k| {
            let r = results
                .remove(&k)
                .unwrap_or_else(|| Err(AdminError::MissingResult(describe_key(&k))));
            (k, r)
        })
        .collect()
}

impl Admin {
    /// Creates topics on the controller; one result per topic, in the order
    /// given (TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS,
    /// INVALID_REPLICATION_FACTOR, INVALID_REPLICA_ASSIGNMENT, INVALID_CONFIG,
    /// POLICY_VIOLATION... with the broker's message).
    ///
    /// Takes the topics by value or by reference: `vec![NewTopic::new(..)]`,
    /// `&topics` and `&[..]` all work.
    pub async fn create_topics<T: Borrow<NewTopic>>(
        &self,
        topics: impl IntoIterator<Item = T>,
        options: CreateTopicsOptions,
    ) -> Result<Vec<(String, Result<CreatedTopic>)>> {
        let deadline = Deadline::after(options.timeout);
        let wire: Vec<CreatableTopic> = topics.into_iter().map(|t| t.borrow().wire()).collect();
        let names: Vec<String> = wire.iter().map(|t| t.name.clone()).collect();
        let request = CreateTopicsRequest {
            topics: wire,
            timeout_ms: millis(options.timeout),
            validate_only: options.validate_only,
            ..Default::default()
        };
        let response = deadline
            .run(self.client.send_with_retry_checked(
                &request,
                &Target::Controller,
                deadline.remaining(),
                |r| {
                    // The controller moved: send it all again. Per-topic
                    // errors are reported per topic.
                    r.topics
                        .iter()
                        .map(|t| t.error_code)
                        .find(|c| *c == ErrorCode::NotController)
                },
            ))
            .await?;
        let by_name: HashMap<String, Result<CreatedTopic>> = response
            .topics
            .into_iter()
            .map(|t| {
                let r = AdminError::check(t.error_code, t.error_message).map(|()| CreatedTopic {
                    topic_id: t.topic_id,
                    num_partitions: t.num_partitions,
                    replication_factor: t.replication_factor,
                    configs: t
                        .configs
                        .unwrap_or_default()
                        .into_iter()
                        .map(|c| {
                            let source = ConfigSource::from_wire(c.config_source);
                            ConfigEntry {
                                name: c.name,
                                value: c.value,
                                is_default: source == ConfigSource::Default,
                                source,
                                read_only: c.read_only,
                                sensitive: c.is_sensitive,
                                synonyms: Vec::new(),
                                config_type: ConfigType::Unknown,
                                documentation: None,
                            }
                        })
                        .collect(),
                });
                (t.name, r)
            })
            .collect();
        Ok(in_order(names, by_name, String::clone))
    }

    /// Deletes topics by name; one result per topic, in the order given
    /// (UNKNOWN_TOPIC_OR_PARTITION for a topic that does not exist).
    pub async fn delete_topics(
        &self,
        names: &[&str],
        options: DeleteTopicsOptions,
    ) -> Result<Vec<(String, Result<()>)>> {
        let deadline = Deadline::after(options.timeout);
        let version = self
            .version_for::<DeleteTopicsRequest>(&Target::Controller, &deadline)
            .await?;
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
        let response = self.send_delete_topics(&request, &deadline).await?;
        let by_name: HashMap<String, Result<()>> = response
            .responses
            .into_iter()
            .filter_map(|t| {
                let name = t.name?;
                Some((name, AdminError::check(t.error_code, t.error_message)))
            })
            .collect();
        let names = names.iter().map(|n| (*n).to_string()).collect();
        Ok(in_order(names, by_name, String::clone))
    }

    /// Deletes topics by topic id (DeleteTopics v6+, KIP-516); one result
    /// per id, in the order given (UNKNOWN_TOPIC_ID for an id that names no
    /// topic). Against an older broker every item fails with
    /// [`AdminError::InvalidRequest`].
    pub async fn delete_topics_by_id(
        &self,
        ids: &[Uuid],
        options: DeleteTopicsOptions,
    ) -> Result<Vec<(Uuid, Result<()>)>> {
        let deadline = Deadline::after(options.timeout);
        let version = self
            .version_for::<DeleteTopicsRequest>(&Target::Controller, &deadline)
            .await?;
        if version < 6 {
            return Ok(ids
                .iter()
                .map(|id| {
                    let e = AdminError::InvalidRequest(format!(
                        "deleting topics by id needs DeleteTopics v6, the broker speaks v{version}"
                    ));
                    (*id, Err(e))
                })
                .collect());
        }
        let request = DeleteTopicsRequest {
            topics: ids
                .iter()
                .map(|id| DeleteTopicState {
                    name: None,
                    topic_id: *id,
                    ..Default::default()
                })
                .collect(),
            timeout_ms: millis(options.timeout),
            ..Default::default()
        };
        let response = self.send_delete_topics(&request, &deadline).await?;
        let by_id: HashMap<Uuid, Result<()>> = response
            .responses
            .into_iter()
            .map(|t| (t.topic_id, AdminError::check(t.error_code, t.error_message)))
            .collect();
        Ok(in_order(ids.to_vec(), by_id, Uuid::to_string))
    }

    async fn send_delete_topics(
        &self,
        request: &DeleteTopicsRequest,
        deadline: &Deadline,
    ) -> Result<ferrokafka_protocol::generated::DeleteTopicsResponse> {
        deadline
            .run(self.client.send_with_retry_checked(
                request,
                &Target::Controller,
                deadline.remaining(),
                |r| {
                    r.responses
                        .iter()
                        .map(|t| t.error_code)
                        .find(|c| *c == ErrorCode::NotController)
                },
            ))
            .await
    }

    /// Increases topics' partition counts (`(topic, new total count)` or
    /// `(topic, NewPartitions)`) on the controller; one result per topic, in
    /// the order given (INVALID_PARTITIONS when the count does not grow,
    /// UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT...).
    pub async fn create_partitions<P: Into<NewPartitions> + Clone>(
        &self,
        increases: &[(&str, P)],
        options: CreatePartitionsOptions,
    ) -> Result<Vec<(String, Result<()>)>> {
        let deadline = Deadline::after(options.timeout);
        let request = CreatePartitionsRequest {
            topics: increases
                .iter()
                .map(|(name, increase)| {
                    let increase: NewPartitions = increase.clone().into();
                    CreatePartitionsTopic {
                        name: (*name).to_string(),
                        count: increase.total_count,
                        assignments: increase.assignments.map(|a| {
                            a.into_iter()
                                .map(|broker_ids| CreatePartitionsAssignment {
                                    broker_ids,
                                    ..Default::default()
                                })
                                .collect()
                        }),
                        ..Default::default()
                    }
                })
                .collect(),
            timeout_ms: millis(options.timeout),
            validate_only: options.validate_only,
            ..Default::default()
        };
        let response = deadline
            .run(self.client.send_with_retry_checked(
                &request,
                &Target::Controller,
                deadline.remaining(),
                |r| {
                    r.results
                        .iter()
                        .map(|t| t.error_code)
                        .find(|c| *c == ErrorCode::NotController)
                },
            ))
            .await?;
        let by_name: HashMap<String, Result<()>> = response
            .results
            .into_iter()
            .map(|t| (t.name, AdminError::check(t.error_code, t.error_message)))
            .collect();
        let names = increases.iter().map(|(n, _)| (*n).to_string()).collect();
        Ok(in_order(names, by_name, String::clone))
    }

    /// Lists the cluster's topics, sorted by name; internal topics only with
    /// `options.list_internal`.
    pub async fn list_topics(&self, options: ListTopicsOptions) -> Result<Vec<TopicListing>> {
        let deadline = Deadline::after(options.timeout);
        let response = self.metadata_request(None, false, &deadline).await?;
        let mut listing: Vec<TopicListing> = response
            .topics
            .into_iter()
            .filter(|t| options.list_internal || !t.is_internal)
            .filter(|t| t.error_code.is_ok())
            .filter_map(|t| {
                Some(TopicListing {
                    name: t.name?,
                    topic_id: t.topic_id,
                    is_internal: t.is_internal,
                })
            })
            .collect();
        listing.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(listing)
    }

    /// Describes topics by name; one result per topic, in the order given
    /// (UNKNOWN_TOPIC_OR_PARTITION for a topic that does not exist).
    pub async fn describe_topics(
        &self,
        names: &[&str],
        options: DescribeTopicsOptions,
    ) -> Result<Vec<(String, Result<TopicDescription>)>> {
        let deadline = Deadline::after(options.timeout);
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let topics = names
            .iter()
            .map(|n| MetadataRequestTopic {
                name: Some((*n).to_string()),
                topic_id: Uuid::ZERO,
                ..Default::default()
            })
            .collect();
        let response = self
            .metadata_request(
                Some(topics),
                options.include_authorized_operations,
                &deadline,
            )
            .await?;
        let by_name: HashMap<String, Result<TopicDescription>> = response
            .topics
            .into_iter()
            .filter_map(|t| {
                let name = t.name.clone()?;
                Some((name, describe(t, options.include_authorized_operations)))
            })
            .collect();
        let names = names.iter().map(|n| (*n).to_string()).collect();
        Ok(in_order(names, by_name, String::clone))
    }

    /// Describes topics by topic id (Metadata v10+); one result per id, in
    /// the order given (UNKNOWN_TOPIC_ID for an id that names no topic).
    pub async fn describe_topics_by_id(
        &self,
        ids: &[Uuid],
        options: DescribeTopicsOptions,
    ) -> Result<Vec<(Uuid, Result<TopicDescription>)>> {
        let deadline = Deadline::after(options.timeout);
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let version = self
            .version_for::<MetadataRequest>(&Target::AnyBroker, &deadline)
            .await?;
        if version < 10 {
            return Ok(ids
                .iter()
                .map(|id| {
                    let e = AdminError::InvalidRequest(format!(
                        "describing topics by id needs Metadata v10, the broker speaks v{version}"
                    ));
                    (*id, Err(e))
                })
                .collect());
        }
        let topics = ids
            .iter()
            .map(|id| MetadataRequestTopic {
                name: None,
                topic_id: *id,
                ..Default::default()
            })
            .collect();
        let response = self
            .metadata_request(
                Some(topics),
                options.include_authorized_operations,
                &deadline,
            )
            .await?;
        let by_id: HashMap<Uuid, Result<TopicDescription>> = response
            .topics
            .into_iter()
            .map(|t| {
                (
                    t.topic_id,
                    describe(t, options.include_authorized_operations),
                )
            })
            .collect();
        Ok(in_order(ids.to_vec(), by_id, Uuid::to_string))
    }
}
