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
use ferrokafka_protocol::generated::metadata_request::MetadataRequestTopic;
use ferrokafka_protocol::generated::{MetadataRequest, MetadataResponse};
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
