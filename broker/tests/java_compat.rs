//! Requests exactly as the reference Java client (kafka-clients 4.x) sends
//! them, where its encoding differs from what the other clients send and the
//! broker once answered differently than Apache Kafka. Each test names the
//! Java call that found it (interop/tests/java_client.rs runs the client
//! itself).

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
use ferrokafka_protocol::generated::describe_topic_partitions_request::TopicRequest;
use ferrokafka_protocol::generated::metadata_request::MetadataRequestTopic;
use ferrokafka_protocol::generated::{
    DescribeTopicPartitionsRequest, MetadataRequest, MetadataResponse,
};
use ferrokafka_protocol::{ErrorCode, Uuid};

/// `Admin.describeTopics(TopicCollection.ofTopicIds(...))`: Metadata v12
/// naming each topic by id, with the name left at the Java default "" (not
/// null). Kafka goes by the ids whenever any is set; answering by the empty
/// name gave a topic with a zero id, which the Java client rejects
/// ("Use errors() when managing topic using topic name").
#[tokio::test]
async fn metadata_by_topic_id_ignores_the_empty_name_java_sends() {
    let broker = Broker::builder().start().await.unwrap();
    broker.create_topic("described-by-id", 2).unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let by_name: MetadataResponse = client.send(12, &metadata_for(&["described-by-id"])).await;
    let id = by_name.topics[0].topic_id;
    assert!(!id.is_zero());

    let unknown = Uuid::from_u128(42);
    let request = MetadataRequest {
        topics: Some(
            [id, unknown]
                .into_iter()
                .map(|topic_id| MetadataRequestTopic {
                    topic_id,
                    name: Some(String::new()),
                    ..MetadataRequestTopic::default()
                })
                .collect(),
        ),
        allow_auto_topic_creation: false,
        ..MetadataRequest::default()
    };
    let response: MetadataResponse = client.send(12, &request).await;
    assert_eq!(response.topics.len(), 2, "{response:?}");

    let found = &response.topics[0];
    assert_eq!(found.error_code, ErrorCode::None);
    assert_eq!(found.topic_id, id);
    assert_eq!(found.name.as_deref(), Some("described-by-id"));
    assert_eq!(found.partitions.len(), 2);

    let missing = &response.topics[1];
    assert_eq!(missing.error_code, ErrorCode::UnknownTopicId);
    assert_eq!(missing.topic_id, unknown);
    assert_eq!(missing.name, None);

    // Nothing named "" was created or looked up.
    assert!(broker.offsets("", 0).is_none());
}

/// `Admin.describeTopics(names, new DescribeTopicsOptions()
/// .includeAuthorizedOperations(true))`: DescribeTopicPartitions has no flag
/// for authorized operations, and Kafka always fills them in (without an
/// authorizer, every operation a topic has: READ, WRITE, CREATE, DELETE,
/// ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS). The "not requested"
/// marker left the Java client's `authorizedOperations()` null.
#[tokio::test]
async fn describe_topic_partitions_always_reports_authorized_operations() {
    let broker = Broker::builder().start().await.unwrap();
    broker.create_topic("with-operations", 1).unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let request = DescribeTopicPartitionsRequest {
        topics: ["with-operations", "without-topic"]
            .into_iter()
            .map(|name| TopicRequest {
                name: name.to_owned(),
                ..TopicRequest::default()
            })
            .collect(),
        response_partition_limit: 2000,
        ..DescribeTopicPartitionsRequest::default()
    };
    let response = client.send(0, &request).await;
    let every_topic_operation: i32 = [3, 4, 5, 6, 7, 8, 10, 11]
        .into_iter()
        .map(|bit| 1 << bit)
        .sum();
    assert_eq!(response.topics.len(), 2, "{response:?}");
    for topic in &response.topics {
        assert_eq!(
            topic.topic_authorized_operations, every_topic_operation,
            "{topic:?}"
        );
    }
}
