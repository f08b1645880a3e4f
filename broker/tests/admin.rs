//! Topic management and configs: create, delete, add partitions, delete
//! records, describe and alter configs, DescribeCluster and
//! DescribeTopicPartitions.

// Helpers outside #[test] functions may fail loudly too: a failure is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::*;
use ferrokafka_broker::Broker;
use ferrokafka_protocol::generated::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use ferrokafka_protocol::generated::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use ferrokafka_protocol::generated::delete_topics_request::DeleteTopicState;
use ferrokafka_protocol::generated::describe_configs_request::DescribeConfigsResource;
use ferrokafka_protocol::generated::{
    AlterConfigsRequest, CreatePartitionsRequest, CreateTopicsRequest, CreateTopicsResponse,
    DeleteRecordsRequest, DeleteTopicsRequest, DescribeClusterRequest, DescribeConfigsRequest,
    DescribeConfigsResponse, DescribeTopicPartitionsRequest, IncrementalAlterConfigsRequest,
    MetadataResponse,
};
use ferrokafka_protocol::{ErrorCode, Uuid};

fn topic(
    name: &str,
    partitions: i32,
    replication: i16,
    configs: &[(&str, &str)],
) -> CreatableTopic {
    CreatableTopic {
        name: name.into(),
        num_partitions: partitions,
        replication_factor: replication,
        configs: configs
            .iter()
            .map(|(k, v)| CreatableTopicConfig {
                name: (*k).into(),
                value: Some((*v).into()),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

async fn create(
    client: &mut TestClient,
    topics: Vec<CreatableTopic>,
    validate_only: bool,
) -> CreateTopicsResponse {
    client
        .send(
            7,
            &CreateTopicsRequest {
                topics,
                timeout_ms: 1000,
                validate_only,
                ..Default::default()
            },
        )
        .await
}

#[tokio::test]
async fn create_topics_validates_like_kafka() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let response = create(
        &mut client,
        vec![
            topic("good", 3, 1, &[("retention.ms", "1000")]),
            topic("bad name!", 1, 1, &[]),
            topic("zero", 0, 1, &[]),
            topic("replicated", 1, 3, &[]),
            topic("configured", 1, 1, &[("retention.ms", "soon")]),
            topic("unknown-config", 1, 1, &[("no.such.config", "1")]),
            topic("defaults", -1, -1, &[]),
        ],
        false,
    )
    .await;
    let codes: Vec<_> = response
        .topics
        .iter()
        .map(|t| (t.name.as_str(), t.error_code))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("good", ErrorCode::None),
            ("bad name!", ErrorCode::InvalidTopicException),
            ("zero", ErrorCode::InvalidPartitions),
            ("replicated", ErrorCode::InvalidReplicationFactor),
            ("configured", ErrorCode::InvalidConfig),
            ("unknown-config", ErrorCode::InvalidConfig),
            ("defaults", ErrorCode::None),
        ]
    );
    // More than 10000 partitions in one request is Kafka's request-wide
    // POLICY_VIOLATION, for every topic of that request, none created.
    let huge = create(
        &mut client,
        vec![topic("huge", i32::MAX, 1, &[]), topic("small", 1, 1, &[])],
        false,
    )
    .await;
    let codes: Vec<_> = huge
        .topics
        .iter()
        .map(|t| (t.name.as_str(), t.error_code))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("huge", ErrorCode::PolicyViolation),
            ("small", ErrorCode::PolicyViolation)
        ]
    );
    let good = &response.topics[0];
    assert_eq!((good.num_partitions, good.replication_factor), (3, 1));
    assert!(!good.topic_id.is_zero());
    let retention = good
        .configs
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.name == "retention.ms")
        .unwrap();
    assert_eq!(retention.value.as_deref(), Some("1000"));
    let again = create(&mut client, vec![topic("good", 1, 1, &[])], false).await;
    assert_eq!(again.topics[0].error_code, ErrorCode::TopicAlreadyExists);
    // validate_only creates nothing.
    let dry = create(&mut client, vec![topic("dry", 2, 1, &[])], true).await;
    assert_eq!(dry.topics[0].error_code, ErrorCode::None);
    let mut request = metadata_for(&["dry"]);
    request.allow_auto_topic_creation = false;
    let metadata: MetadataResponse = client.send(12, &request).await;
    assert_eq!(
        metadata.topics[0].error_code,
        ErrorCode::UnknownTopicOrPartition
    );
}

#[tokio::test]
async fn delete_topics_by_name_and_by_id() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let created = create(
        &mut client,
        vec![topic("one", 1, 1, &[]), topic("two", 1, 1, &[])],
        false,
    )
    .await;
    let two_id = created.topics[1].topic_id;
    let response = client
        .send(
            5,
            &DeleteTopicsRequest {
                topic_names: vec!["one".into(), "missing".into()],
                timeout_ms: 1000,
                ..Default::default()
            },
        )
        .await;
    let codes: Vec<_> = response.responses.iter().map(|r| r.error_code).collect();
    assert_eq!(
        codes,
        vec![ErrorCode::None, ErrorCode::UnknownTopicOrPartition]
    );
    let response = client
        .send(
            6,
            &DeleteTopicsRequest {
                topics: vec![
                    DeleteTopicState {
                        name: None,
                        topic_id: two_id,
                        ..Default::default()
                    },
                    DeleteTopicState {
                        name: None,
                        topic_id: Uuid::from_u128(99),
                        ..Default::default()
                    },
                ],
                timeout_ms: 1000,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(response.responses[0].error_code, ErrorCode::None);
    assert_eq!(response.responses[0].name.as_deref(), Some("two"));
    assert_eq!(response.responses[1].error_code, ErrorCode::UnknownTopicId);
    let all: MetadataResponse = client
        .send(
            12,
            &ferrokafka_protocol::generated::MetadataRequest {
                topics: None,
                ..Default::default()
            },
        )
        .await;
    assert!(all.topics.is_empty());
}

#[tokio::test]
async fn create_partitions_grows_topics_only() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    create(&mut client, vec![topic("grow", 1, 1, &[])], false).await;
    let request = |count| CreatePartitionsRequest {
        topics: vec![
            ferrokafka_protocol::generated::create_partitions_request::CreatePartitionsTopic {
                name: "grow".into(),
                count,
                assignments: None,
                ..Default::default()
            },
        ],
        timeout_ms: 1000,
        ..Default::default()
    };
    assert_eq!(
        client.send(3, &request(4)).await.results[0].error_code,
        ErrorCode::None
    );
    assert_eq!(
        client.send(3, &request(2)).await.results[0].error_code,
        ErrorCode::InvalidPartitions
    );
    let metadata: MetadataResponse = client.send(12, &metadata_for(&["grow"])).await;
    assert_eq!(metadata.topics[0].partitions.len(), 4);
    assert_eq!(
        produce(&mut client, "grow", 3, batch(&["new partition"])).await,
        (ErrorCode::None, 0)
    );
}

#[tokio::test]
async fn delete_records_moves_the_log_start_offset() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    for value in ["a", "b", "c"] {
        produce(&mut client, "trim", 0, batch(&[value])).await;
    }
    let request = |offset| DeleteRecordsRequest {
        topics: vec![DeleteRecordsTopic {
            name: "trim".into(),
            partitions: vec![DeleteRecordsPartition {
                partition_index: 0,
                offset,
                ..Default::default()
            }],
            ..Default::default()
        }],
        timeout_ms: 1000,
        ..Default::default()
    };
    let response = client.send(2, &request(2)).await;
    let partition = &response.topics[0].partitions[0];
    assert_eq!(
        (partition.error_code, partition.low_watermark),
        (ErrorCode::None, 2)
    );
    assert_eq!(
        fetch(&mut client, "trim", 0, 1).await.0,
        ErrorCode::OffsetOutOfRange
    );
    assert_eq!(
        base_offsets(&fetch(&mut client, "trim", 0, 2).await.2),
        vec![2]
    );
    let response = client.send(2, &request(10)).await;
    assert_eq!(
        response.topics[0].partitions[0].error_code,
        ErrorCode::OffsetOutOfRange
    );
    let response = client.send(2, &request(-1)).await;
    assert_eq!(response.topics[0].partitions[0].low_watermark, 3);
}

async fn describe_topic_config(
    client: &mut TestClient,
    name: &str,
    keys: Option<Vec<String>>,
) -> DescribeConfigsResponse {
    client
        .send(
            4,
            &DescribeConfigsRequest {
                resources: vec![DescribeConfigsResource {
                    resource_type: 2,
                    resource_name: name.into(),
                    configuration_keys: keys,
                    ..Default::default()
                }],
                include_synonyms: true,
                include_documentation: true,
                ..Default::default()
            },
        )
        .await
}

#[tokio::test]
async fn configs_are_described_altered_and_enforced() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    create(
        &mut client,
        vec![topic("conf", 1, 1, &[("cleanup.policy", "compact")])],
        false,
    )
    .await;
    let response = describe_topic_config(&mut client, "conf", None).await;
    let configs = &response.results[0].configs;
    let policy = configs.iter().find(|c| c.name == "cleanup.policy").unwrap();
    assert_eq!(
        (policy.value.as_deref(), policy.config_source),
        (Some("compact"), 1)
    );
    let retention = configs.iter().find(|c| c.name == "retention.ms").unwrap();
    assert_eq!(
        (retention.value.as_deref(), retention.config_source),
        (Some("604800000"), 5)
    );
    // Incremental: append to a list, set a value.
    let response = client
        .send(1, &IncrementalAlterConfigsRequest {
            resources: vec![ferrokafka_protocol::generated::incremental_alter_configs_request::AlterConfigsResource {
                resource_type: 2,
                resource_name: "conf".into(),
                configs: vec![
                    ferrokafka_protocol::generated::incremental_alter_configs_request::AlterableConfig {
                        name: "cleanup.policy".into(),
                        config_operation: 2,
                        value: Some("delete".into()),
                        ..Default::default()
                    },
                    ferrokafka_protocol::generated::incremental_alter_configs_request::AlterableConfig {
                        name: "retention.bytes".into(),
                        config_operation: 0,
                        value: Some("1".into()),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
            ..Default::default()
        })
        .await;
    assert_eq!(response.responses[0].error_code, ErrorCode::None);
    let response =
        describe_topic_config(&mut client, "conf", Some(vec!["cleanup.policy".into()])).await;
    assert_eq!(response.results[0].configs.len(), 1);
    assert_eq!(
        response.results[0].configs[0].value.as_deref(),
        Some("compact,delete")
    );
    // retention.bytes=1 keeps only the newest batch.
    produce(&mut client, "conf", 0, batch(&["a"])).await;
    produce(&mut client, "conf", 0, batch(&["b"])).await;
    assert_eq!(
        fetch(&mut client, "conf", 0, 0).await.0,
        ErrorCode::OffsetOutOfRange
    );
    // AlterConfigs replaces the whole set.
    let response = client
        .send(2, &AlterConfigsRequest {
            resources: vec![ferrokafka_protocol::generated::alter_configs_request::AlterConfigsResource {
                resource_type: 2,
                resource_name: "conf".into(),
                configs: vec![ferrokafka_protocol::generated::alter_configs_request::AlterableConfig {
                    name: "max.message.bytes".into(),
                    value: Some("50".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        })
        .await;
    assert_eq!(response.responses[0].error_code, ErrorCode::None);
    let response =
        describe_topic_config(&mut client, "conf", Some(vec!["cleanup.policy".into()])).await;
    assert_eq!(
        response.results[0].configs[0].value.as_deref(),
        Some("delete")
    );
    assert_eq!(
        produce(&mut client, "conf", 0, batch(&["too big for fifty bytes"]))
            .await
            .0,
        ErrorCode::MessageTooLarge
    );
    // Unknown topics and broker configs.
    assert_eq!(
        describe_topic_config(&mut client, "nope", None)
            .await
            .results[0]
            .error_code,
        ErrorCode::UnknownTopicOrPartition
    );
    let response: DescribeConfigsResponse = client
        .send(
            4,
            &DescribeConfigsRequest {
                resources: vec![DescribeConfigsResource {
                    resource_type: 4,
                    resource_name: "0".into(),
                    configuration_keys: None,
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .await;
    let partitions = response.results[0]
        .configs
        .iter()
        .find(|c| c.name == "num.partitions")
        .unwrap();
    assert_eq!(partitions.value.as_deref(), Some("1"));
}

#[tokio::test]
async fn describe_cluster_and_topic_partitions() {
    let broker = Broker::builder().nodes(3).start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let cluster = client
        .send(
            1,
            &DescribeClusterRequest {
                endpoint_type: 1,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(cluster.error_code, ErrorCode::None);
    assert_eq!(cluster.brokers.len(), 3);
    assert_eq!(cluster.controller_id, 0);
    create(
        &mut client,
        vec![topic("a", 3, 1, &[]), topic("b", 2, 1, &[])],
        false,
    )
    .await;
    let mut request = DescribeTopicPartitionsRequest {
        topics: vec![],
        response_partition_limit: 2,
        cursor: None,
        ..Default::default()
    };
    let mut seen = Vec::new();
    loop {
        let response = client.send(0, &request).await;
        for topic in &response.topics {
            for partition in &topic.partitions {
                seen.push((topic.name.clone().unwrap(), partition.partition_index));
            }
        }
        match response.next_cursor {
            Some(cursor) => {
                request.cursor = Some(
                    ferrokafka_protocol::generated::describe_topic_partitions_request::Cursor {
                        topic_name: cursor.topic_name,
                        partition_index: cursor.partition_index,
                        ..Default::default()
                    },
                )
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[0], ("a".to_owned(), 0));
    assert_eq!(seen[4], ("b".to_owned(), 1));
}
