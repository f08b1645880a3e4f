//! CreateTopics (key 19): partition count (-1: `num.partitions`, v4+),
//! replication factor (-1: the default; more than the running nodes is
//! INVALID_REPLICATION_FACTOR), manual assignments (leader = first broker
//! listed), configs (validated: INVALID_CONFIG), `validate_only`, and
//! TOPIC_ALREADY_EXISTS / INVALID_TOPIC_EXCEPTION / INVALID_PARTITIONS.
//! A topic named twice in one request is INVALID_REQUEST, as in Kafka; a
//! request for more than 10000 partitions in all fails every other topic
//! with POLICY_VIOLATION (Kafka's cap on the records one request makes). From
//! v5 the result lists the topic's configs; from v7 its id.

use std::collections::BTreeMap;

use ferrokafka_protocol::generated::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use ferrokafka_protocol::generated::{CreateTopicsRequest, CreateTopicsResponse};
use ferrokafka_protocol::{ErrorCode, Uuid};

use super::RequestContext;
use crate::cluster::NewTopic;
use crate::log::LogError;
use crate::topic_config::{SOURCE_DEFAULT, SOURCE_DYNAMIC_TOPIC, TOPIC_CONFIG_KEYS, TopicConfig};

fn failed(name: String, error: &LogError, version: i16) -> CreatableTopicResult {
    CreatableTopicResult {
        name,
        error_code: error.code,
        error_message: (version >= 1).then(|| error.message.clone()),
        configs: if version >= 5 { None } else { Some(Vec::new()) },
        ..CreatableTopicResult::default()
    }
}

fn config_list(config: &TopicConfig) -> Vec<CreatableTopicConfigs> {
    TOPIC_CONFIG_KEYS
        .iter()
        .map(|key| {
            let overridden = config.overrides.get(key.name);
            CreatableTopicConfigs {
                name: key.name.to_owned(),
                value: Some(overridden.map_or(key.default, String::as_str).to_owned()),
                read_only: false,
                config_source: if overridden.is_some() {
                    SOURCE_DYNAMIC_TOPIC
                } else {
                    SOURCE_DEFAULT
                },
                is_sensitive: false,
                ..CreatableTopicConfigs::default()
            }
        })
        .collect()
}

pub(crate) async fn handle(
    context: &RequestContext,
    request: CreateTopicsRequest,
) -> CreateTopicsResponse {
    let version = context.version;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for topic in &request.topics {
        *counts.entry(topic.name.as_str()).or_default() += 1;
    }
    let duplicated: Vec<String> = counts
        .into_iter()
        .filter(|(_, count)| *count > 1)
        .map(|(name, _)| name.to_owned())
        .collect();
    let default_partitions = i64::from(context.cluster.config.default_partitions);
    let total: i64 = request
        .topics
        .iter()
        .filter(|t| !duplicated.contains(&t.name))
        .map(|t| match (t.assignments.len(), t.num_partitions) {
            (0, -1) => default_partitions,
            (0, n) => i64::from(n.max(0)),
            (n, _) => n as i64,
        })
        .sum();
    let too_many = total > i64::from(crate::cluster::MAX_PARTITIONS_PER_TOPIC);
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        if too_many && !duplicated.contains(&topic.name) {
            let error = LogError::new(
                ErrorCode::PolicyViolation,
                "Excessively large number of partitions per request.",
            );
            results.push(failed(topic.name, &error, version));
            continue;
        }
        if duplicated.contains(&topic.name) {
            if !results
                .iter()
                .any(|r: &CreatableTopicResult| r.name == topic.name)
            {
                let error = LogError::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "Create topics request from client contains duplicate topic {}",
                        topic.name
                    ),
                );
                results.push(failed(topic.name, &error, version));
            }
            continue;
        }
        let leaders = if topic.assignments.is_empty() {
            None
        } else if topic.num_partitions != -1 || topic.replication_factor != -1 {
            let error = LogError::new(
                ErrorCode::InvalidRequest,
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.",
            );
            results.push(failed(topic.name, &error, version));
            continue;
        } else {
            let mut assignments = topic.assignments.clone();
            assignments.sort_by_key(|a| a.partition_index);
            let in_order = assignments
                .iter()
                .enumerate()
                .all(|(index, a)| usize::try_from(a.partition_index).is_ok_and(|p| p == index));
            let leaders: Option<Vec<i32>> = assignments
                .iter()
                .map(|a| a.broker_ids.first().copied())
                .collect();
            if let Some(message) = assignments
                .iter()
                .find_map(|a| super::create_partitions::repeated_broker(&a.broker_ids))
            {
                let error = LogError::new(ErrorCode::InvalidReplicaAssignment, message);
                results.push(failed(topic.name, &error, version));
                continue;
            }
            match (in_order, leaders) {
                (true, Some(leaders)) => Some(leaders),
                _ => {
                    let error = LogError::new(
                        ErrorCode::InvalidReplicaAssignment,
                        "Partition assignments must cover partitions 0..n, each with at least one broker.",
                    );
                    results.push(failed(topic.name, &error, version));
                    continue;
                }
            }
        };
        let mut configs = BTreeMap::new();
        let mut config_error = None;
        for config in &topic.configs {
            match &config.value {
                Some(value) => {
                    configs.insert(config.name.clone(), value.clone());
                }
                None => {
                    config_error = Some(format!(
                        "Null value not supported for topic config {}",
                        config.name
                    ))
                }
            }
        }
        if let Some(message) = config_error {
            results.push(failed(
                topic.name,
                &LogError::new(ErrorCode::InvalidConfig, message),
                version,
            ));
            continue;
        }
        let replication_factor =
            if version < 4 && topic.replication_factor == -1 && leaders.is_none() {
                // Before v4, -1 was not a default marker; Kafka rejects it.
                -2
            } else {
                topic.replication_factor
            };
        let num_partitions = if version < 4 && topic.num_partitions == -1 && leaders.is_none() {
            0
        } else {
            topic.num_partitions
        };
        let created = context.cluster.create_topic(
            NewTopic {
                name: topic.name.clone(),
                partitions: num_partitions,
                replication_factor,
                leaders,
                configs,
            },
            request.validate_only,
        );
        results.push(match created {
            Ok(created) => CreatableTopicResult {
                name: topic.name,
                topic_id: if version >= 7 { created.id } else { Uuid::ZERO },
                error_code: ErrorCode::None,
                error_message: None,
                num_partitions: if version >= 5 {
                    i32::try_from(created.partitions.len())
                        .ok()
                        .filter(|count| *count > 0)
                        .unwrap_or(if num_partitions > 0 {
                            num_partitions
                        } else {
                            context.cluster.config.default_partitions
                        })
                } else {
                    -1
                },
                replication_factor: if version >= 5 {
                    created.replication_factor
                } else {
                    -1
                },
                configs: if version >= 5 {
                    Some(config_list(&created.config))
                } else {
                    Some(Vec::new())
                },
                ..CreatableTopicResult::default()
            },
            Err(error) => failed(topic.name, &error, version),
        });
    }
    CreateTopicsResponse {
        topics: results,
        ..CreateTopicsResponse::default()
    }
}

pub(crate) fn error_response(
    request: &CreateTopicsRequest,
    version: i16,
    code: ErrorCode,
) -> CreateTopicsResponse {
    CreateTopicsResponse {
        topics: request
            .topics
            .iter()
            .map(|topic| failed(topic.name.clone(), &LogError::from(code), version))
            .collect(),
        ..CreateTopicsResponse::default()
    }
}
