//! Persistence across restarts (with a corrupted tail) and the consumer-group
//! APIs over the wire.

// Helpers outside #[test] functions may fail loudly too: a failure is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::fs;
use std::io::Write;

use bytes::Bytes;
use common::*;
use ferrokafka_broker::Broker;
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::join_group_request::JoinGroupRequestProtocol;
use ferrokafka_protocol::generated::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use ferrokafka_protocol::generated::offset_fetch_request::OffsetFetchRequestTopic;
use ferrokafka_protocol::generated::sync_group_request::SyncGroupRequestAssignment;
use ferrokafka_protocol::generated::{
    DeleteGroupsRequest, DescribeGroupsRequest, HeartbeatRequest, InitProducerIdRequest,
    JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest, OffsetCommitRequest,
    OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest,
};

fn commit(group: &str, topic: &str, offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest {
        group_id: group.into(),
        generation_id_or_member_epoch: -1,
        member_id: String::new(),
        topics: vec![OffsetCommitRequestTopic {
            name: topic.into(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: 0,
                committed_offset: offset,
                committed_leader_epoch: -1,
                committed_metadata: Some("meta".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn offset_fetch(group: &str, topic: &str) -> OffsetFetchRequest {
    OffsetFetchRequest {
        group_id: group.into(),
        topics: Some(vec![OffsetFetchRequestTopic {
            name: topic.into(),
            partition_indexes: vec![0],
            ..Default::default()
        }]),
        ..Default::default()
    }
}

async fn committed(client: &mut TestClient, group: &str, topic: &str) -> i64 {
    let response: OffsetFetchResponse = client.send(7, &offset_fetch(group, topic)).await;
    response.topics[0].partitions[0].committed_offset
}

#[tokio::test]
async fn logs_offsets_and_producer_state_survive_a_restart_with_a_corrupt_tail() {
    let dir = tempfile::tempdir().unwrap();
    let idempotent = batch_with(&["i0", "i1"], Some((0, 0, 0)), now_ms());
    let first_id;
    {
        let broker = Broker::builder()
            .data_dir(dir.path())
            .start()
            .await
            .unwrap();
        let mut client = TestClient::connect(broker.bootstrap_address()).await;
        let ids = client
            .send(
                4,
                &InitProducerIdRequest {
                    transactional_id: None,
                    transaction_timeout_ms: 1000,
                    ..Default::default()
                },
            )
            .await;
        first_id = ids.producer_id;
        assert_eq!(first_id, 0);
        assert_eq!(
            produce(&mut client, "durable", 0, idempotent.clone()).await,
            (ErrorCode::None, 0)
        );
        assert_eq!(
            produce(&mut client, "durable", 0, batch(&["plain"])).await,
            (ErrorCode::None, 2)
        );
        assert_eq!(
            produce(&mut client, "durable", 0, batch(&["doomed"])).await,
            (ErrorCode::None, 3)
        );
        let response = client.send(8, &commit("g", "durable", 3)).await;
        assert_eq!(response.topics[0].partitions[0].error_code, ErrorCode::None);
        broker.shutdown().await;
    }
    // Damage the last batch and leave a torn write after it.
    let partition_dir = dir.path().join("topics").join("durable").join("0");
    let log = fs::read_dir(&partition_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .unwrap();
    let mut data = fs::read(&log).unwrap();
    let last = data.len() - 2;
    data[last] ^= 0xff;
    fs::write(&log, &data).unwrap();
    fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(&[0, 0, 0, 0, 0, 0, 0, 9, 0, 0])
        .unwrap();

    let broker = Broker::builder()
        .data_dir(dir.path())
        .start()
        .await
        .unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let (error, high_watermark, records) = fetch(&mut client, "durable", 0, 0).await;
    assert_eq!(
        (error, high_watermark),
        (ErrorCode::None, 3),
        "the corrupt batch is gone"
    );
    assert_eq!(base_offsets(&records), vec![0, 2]);
    // The producer state came back from the batch headers: a retry is a duplicate.
    assert_eq!(
        produce(&mut client, "durable", 0, idempotent).await,
        (ErrorCode::None, 0)
    );
    assert_eq!(
        produce(&mut client, "durable", 0, batch(&["new"])).await,
        (ErrorCode::None, 3)
    );
    assert_eq!(committed(&mut client, "g", "durable").await, 3);
    let ids = client
        .send(
            4,
            &InitProducerIdRequest {
                transactional_id: None,
                transaction_timeout_ms: 1000,
                ..Default::default()
            },
        )
        .await;
    assert!(ids.producer_id > first_id, "producer ids are not reused");
    broker.shutdown().await;
}

fn join(member_id: &str) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: "team".into(),
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

#[tokio::test]
async fn a_consumer_group_joins_syncs_commits_and_leaves() {
    let broker = Broker::builder().start().await.unwrap();
    broker.create_topic("work", 1).unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let first = client.send(5, &join("")).await;
    assert_eq!(first.error_code, ErrorCode::MemberIdRequired);
    let member_id = first.member_id.clone();
    let joined = client.send(5, &join(&member_id)).await;
    assert_eq!(joined.error_code, ErrorCode::None);
    assert_eq!(joined.leader, member_id);
    let synced = client
        .send(
            3,
            &SyncGroupRequest {
                group_id: "team".into(),
                generation_id: joined.generation_id,
                member_id: member_id.clone(),
                assignments: vec![SyncGroupRequestAssignment {
                    member_id: member_id.clone(),
                    assignment: Bytes::from_static(b"assignment"),
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .await;
    assert_eq!(synced.error_code, ErrorCode::None);
    assert_eq!(synced.assignment, Bytes::from_static(b"assignment"));
    let heartbeat = client
        .send(
            3,
            &HeartbeatRequest {
                group_id: "team".into(),
                generation_id: joined.generation_id,
                member_id: member_id.clone(),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(heartbeat.error_code, ErrorCode::None);
    let mut request = commit("team", "work", 7);
    request.generation_id_or_member_epoch = joined.generation_id;
    request.member_id = member_id.clone();
    assert_eq!(
        client.send(7, &request).await.topics[0].partitions[0].error_code,
        ErrorCode::None
    );
    assert_eq!(committed(&mut client, "team", "work").await, 7);
    let unknown = client.send(7, &commit("team", "no-such-topic", 1)).await;
    assert_eq!(
        unknown.topics[0].partitions[0].error_code,
        ErrorCode::UnknownTopicOrPartition
    );
    let described = client
        .send(
            5,
            &DescribeGroupsRequest {
                groups: vec!["team".into()],
                ..Default::default()
            },
        )
        .await;
    assert_eq!(described.groups[0].group_state, "Stable");
    let listed = client.send(4, &ListGroupsRequest::default()).await;
    assert_eq!(listed.groups.len(), 1);
    let deleted = client
        .send(
            2,
            &DeleteGroupsRequest {
                groups_names: vec!["team".into()],
                ..Default::default()
            },
        )
        .await;
    assert_eq!(deleted.results[0].error_code, ErrorCode::NonEmptyGroup);
    let left = client
        .send(
            2,
            &LeaveGroupRequest {
                group_id: "team".into(),
                member_id: member_id.clone(),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(left.error_code, ErrorCode::None);
    let deleted = client
        .send(
            2,
            &DeleteGroupsRequest {
                groups_names: vec!["team".into()],
                ..Default::default()
            },
        )
        .await;
    assert_eq!(deleted.results[0].error_code, ErrorCode::None);
    broker.shutdown().await;
}
