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

use bytes::Bytes;
use common::*;
use ferrokafka_broker::Broker;
use ferrokafka_protocol::generated::describe_topic_partitions_request::TopicRequest;
use ferrokafka_protocol::generated::join_group_request::JoinGroupRequestProtocol;
use ferrokafka_protocol::generated::metadata_request::MetadataRequestTopic;
use ferrokafka_protocol::generated::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use ferrokafka_protocol::generated::sync_group_request::SyncGroupRequestAssignment;
use ferrokafka_protocol::generated::{
    DescribeGroupsRequest, DescribeTopicPartitionsRequest, HeartbeatRequest, JoinGroupRequest,
    LeaveGroupRequest, MetadataRequest, MetadataResponse, OffsetCommitRequest, SyncGroupRequest,
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

fn join(group: &str, member_id: &str) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: group.into(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        member_id: member_id.into(),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: Bytes::from_static(b"subscription"),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Joins `group` as its only member and syncs; returns (member id, generation).
async fn stable_member(client: &mut TestClient, group: &str) -> (String, i32) {
    let first = client.send(5, &join(group, "")).await;
    assert_eq!(first.error_code, ErrorCode::MemberIdRequired);
    let joined = client.send(5, &join(group, &first.member_id)).await;
    assert_eq!(joined.error_code, ErrorCode::None);
    let synced = client
        .send(
            3,
            &SyncGroupRequest {
                group_id: group.into(),
                generation_id: joined.generation_id,
                member_id: joined.member_id.clone(),
                assignments: vec![SyncGroupRequestAssignment {
                    member_id: joined.member_id.clone(),
                    assignment: Bytes::from_static(b"assignment"),
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .await;
    assert_eq!(synced.error_code, ErrorCode::None);
    (joined.member_id, joined.generation_id)
}

/// A Java `KafkaConsumer` stays connected while the broker restarts from its
/// data directory: Kafka keeps a Stable classic group (generation, members,
/// assignments) in `__consumer_offsets` and reloads it, so the member's
/// next heartbeat and commit with its old member id and generation are
/// accepted. Without the group kept, they were UNKNOWN_MEMBER_ID and the
/// Java client's commitSync threw CommitFailedException. A group that
/// emptied comes back Empty.
#[tokio::test]
async fn a_stable_group_survives_a_restart_from_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let (member_id, generation) = {
        let broker = Broker::builder()
            .data_dir(dir.path())
            .start()
            .await
            .unwrap();
        broker.create_topic("work", 1).unwrap();
        let mut client = TestClient::connect(broker.bootstrap_address()).await;
        let stable = stable_member(&mut client, "kept").await;
        // A second group empties before the restart.
        let (gone, _) = stable_member(&mut client, "emptied").await;
        let left = client
            .send(
                2,
                &LeaveGroupRequest {
                    group_id: "emptied".into(),
                    member_id: gone,
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(left.error_code, ErrorCode::None);
        broker.shutdown().await;
        stable
    };

    let broker = Broker::builder()
        .data_dir(dir.path())
        .start()
        .await
        .unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let heartbeat = client
        .send(
            3,
            &HeartbeatRequest {
                group_id: "kept".into(),
                generation_id: generation,
                member_id: member_id.clone(),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(heartbeat.error_code, ErrorCode::None);
    let commit = OffsetCommitRequest {
        group_id: "kept".into(),
        generation_id_or_member_epoch: generation,
        member_id: member_id.clone(),
        topics: vec![OffsetCommitRequestTopic {
            name: "work".into(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: 3,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let committed = client.send(7, &commit).await;
    assert_eq!(
        committed.topics[0].partitions[0].error_code,
        ErrorCode::None
    );
    let described = client
        .send(
            5,
            &DescribeGroupsRequest {
                groups: vec!["kept".into(), "emptied".into()],
                ..Default::default()
            },
        )
        .await;
    let kept = &described.groups[0];
    assert_eq!(kept.group_state, "Stable");
    assert_eq!(kept.protocol_data, "range");
    assert_eq!(kept.members.len(), 1);
    assert_eq!(kept.members[0].member_id, member_id);
    assert_eq!(
        kept.members[0].member_assignment,
        Bytes::from_static(b"assignment")
    );
    // The group that emptied is not brought back with its old member.
    assert_ne!(described.groups[1].group_state, "Stable");
    assert!(described.groups[1].members.is_empty());
    broker.shutdown().await;
}
