//! Consumer group and cluster operations against the bundled broker.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use ferrokafka_admin::{Admin, CreateTopicsOptions, NewTopic, OffsetSpec, decode_assignment};
use ferrokafka_broker::{Broker, BrokerHandle};
use ferrokafka_client::{ClientConfig, Target};
use ferrokafka_protocol::generated::consumer_protocol_assignment::TopicPartition;
use ferrokafka_protocol::generated::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use ferrokafka_protocol::generated::{ConsumerProtocolAssignment, OffsetCommitRequest};
use ferrokafka_protocol::{Encode, ErrorCode};

async fn start(nodes: i32) -> (BrokerHandle, Admin) {
    let broker = Broker::builder().nodes(nodes).start().await.unwrap();
    let config = ClientConfig::builder()
        .bootstrap_servers([broker.bootstrap_address()])
        .request_timeout(Duration::from_secs(5))
        .retry_backoff(Duration::from_millis(5), Duration::from_millis(50))
        .reconnect_backoff(Duration::from_millis(5), Duration::from_millis(50))
        .build()
        .unwrap();
    let admin = Admin::connect(config).await.unwrap();
    (broker, admin)
}

async fn commit(admin: &Admin, group: &str, topic: &str, offsets: &[(i32, i64)]) {
    let request = OffsetCommitRequest {
        group_id: group.into(),
        generation_id_or_member_epoch: -1,
        member_id: String::new(),
        topics: vec![OffsetCommitRequestTopic {
            name: topic.into(),
            partitions: offsets
                .iter()
                .map(|(p, o)| OffsetCommitRequestPartition {
                    partition_index: *p,
                    committed_offset: *o,
                    committed_leader_epoch: -1,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let response = admin
        .client()
        .send_with_retry(
            &request,
            &Target::GroupCoordinator(group.into()),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    for t in &response.topics {
        for p in &t.partitions {
            assert_eq!(p.error_code, ErrorCode::None, "{response:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_offsets_and_cluster() {
    let (broker, admin) = start(1).await;
    let created = admin
        .create_topics(
            vec![NewTopic::new("events", 2, 1)],
            CreateTopicsOptions::default(),
        )
        .await
        .unwrap();
    assert!(created[0].1.is_ok(), "{created:?}");
    commit(&admin, "g1", "events", &[(0, 5), (1, 7)]).await;

    let listed = admin.list_consumer_groups(&[]).await.unwrap();
    assert!(listed.iter().any(|g| g.group_id == "g1"), "{listed:?}");
    let empty = admin.list_consumer_groups(&["Empty"]).await.unwrap();
    assert!(empty.iter().any(|g| g.group_id == "g1"), "{empty:?}");
    let stable = admin.list_consumer_groups(&["Stable"]).await.unwrap();
    assert!(!stable.iter().any(|g| g.group_id == "g1"), "{stable:?}");

    let offsets = admin.list_consumer_group_offsets("g1").await.unwrap();
    let got: Vec<(String, i32, i64)> = offsets
        .iter()
        .map(|o| (o.topic.clone(), o.partition, o.offset))
        .collect();
    assert_eq!(
        got,
        vec![("events".to_string(), 0, 5), ("events".to_string(), 1, 7)]
    );

    let listed = admin
        .list_offsets(&[
            ("events", 0, OffsetSpec::Earliest),
            ("events", 1, OffsetSpec::Latest),
            ("nope", 0, OffsetSpec::Latest),
        ])
        .await
        .unwrap();
    assert_eq!(listed[0].1.as_ref().unwrap().offset, 0);
    assert_eq!(listed[1].1.as_ref().unwrap().offset, 0);
    assert_eq!(
        listed[2].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::UnknownTopicOrPartition)
    );
    let topics = admin.list_topics(false).await.unwrap();
    assert!(!topics.iter().any(|t| t.name == "nope"), "{topics:?}");
    let lag = admin.consumer_group_lag("g1").await.unwrap();
    assert_eq!(lag.len(), 2);
    assert!(lag.iter().all(|l| l.end == 0 && l.lag == 0), "{lag:?}");

    let described = admin.describe_consumer_groups(&["g1"]).await.unwrap();
    let g1 = described[0].1.as_ref().unwrap();
    assert_eq!(g1.group_id, "g1");
    assert!(g1.members.is_empty());
    assert!(g1.state.eq_ignore_ascii_case("empty"), "{g1:?}");

    let deleted = admin
        .delete_consumer_groups(&["g1", "never-was"])
        .await
        .unwrap();
    assert!(deleted[0].1.is_ok(), "{deleted:?}");
    assert_eq!(
        deleted[1].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::GroupIdNotFound)
    );
    let listed = admin.list_consumer_groups(&[]).await.unwrap();
    assert!(!listed.iter().any(|g| g.group_id == "g1"), "{listed:?}");

    let cluster = admin.describe_cluster().await.unwrap();
    assert_eq!(cluster.brokers.len(), 1);
    assert!(!cluster.cluster_id.is_empty());
    assert!(cluster.controller.is_some());

    admin.close();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_node_cluster_described() {
    let (broker, admin) = start(3).await;
    let cluster = admin.describe_cluster().await.unwrap();
    assert_eq!(cluster.brokers.len(), 3);
    admin.close();
    broker.shutdown().await;
}

#[test]
fn assignment_bytes_decode() {
    let assignment = ConsumerProtocolAssignment {
        assigned_partitions: vec![TopicPartition {
            topic: "t".into(),
            partitions: vec![0, 2],
        }],
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    buf.put_i16(1);
    assignment.encode(&mut buf, 1).unwrap();
    let decoded = decode_assignment(&buf.freeze()).unwrap();
    assert_eq!(decoded, vec![("t".to_string(), vec![0, 2])]);
    assert!(decode_assignment(&bytes::Bytes::from_static(&[0])).is_none());
}
