//! Consumer group and cluster operations against the bundled broker
//! (in-process, port 0): list with a state filter, describe (members and
//! decoded assignments of a live ferrokafka consumer), delete, committed
//! offsets listed, altered and deleted, lag, and the errors a live group
//! gives (NON_EMPTY_GROUP, UNKNOWN_MEMBER_ID, GROUP_SUBSCRIBED_TO_TOPIC);
//! each scenario on one node and on three.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{BufMut, BytesMut};
use ferrokafka_admin::{
    AclOperation, Admin, ConsumerGroupLagOptions, CreateTopicsOptions, DescribeClusterOptions,
    DescribeConsumerGroupsOptions, GroupState, ListConsumerGroupOffsetsOptions,
    ListConsumerGroupsOptions, NewTopic, OffsetAndMetadata, decode_assignment,
};
use ferrokafka_broker::BrokerHandle;
use ferrokafka_consumer::{Consumer, ConsumerConfig, OffsetReset};
use ferrokafka_protocol::generated::ConsumerProtocolAssignment;
use ferrokafka_protocol::generated::consumer_protocol_assignment::TopicPartition;
use ferrokafka_protocol::{Encode, ErrorCode};

use common::{now_ms, produce, start, wait_until};

async fn create(admin: &Admin, name: &str, partitions: i32) {
    let created = admin
        .create_topics(
            vec![NewTopic::new(name, partitions, 1)],
            CreateTopicsOptions::default(),
        )
        .await
        .unwrap();
    assert!(created[0].1.is_ok(), "{created:?}");
}

async fn group_ids(admin: &Admin, states: &[GroupState]) -> Vec<String> {
    admin
        .list_consumer_groups(ListConsumerGroupsOptions::default().in_states(states.to_vec()))
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.group_id)
        .collect()
}

async fn offsets_of_an_empty_group(nodes: i32) {
    let (broker, admin) = start(nodes).await;
    create(&admin, "events", 2).await;
    create(&admin, "other", 1).await;
    produce(&admin, "events", 0, &[now_ms(); 10]).await;

    // A group that does not exist yet takes offsets (and comes to be).
    let altered = admin
        .alter_consumer_group_offsets(
            "g1",
            [
                (("events", 0), OffsetAndMetadata::from(5)),
                (
                    ("events", 1),
                    OffsetAndMetadata {
                        offset: 0,
                        leader_epoch: None,
                        metadata: Some("note".into()),
                    },
                ),
                (("other", 0), 0.into()),
                (("absent", 0), 1.into()),
            ],
            Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(altered.len(), 4);
    assert!(altered[..3].iter().all(|(_, r)| r.is_ok()), "{altered:?}");
    assert_eq!(altered[0].0, ("events".to_string(), 0));
    assert_eq!(
        altered[3].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::UnknownTopicOrPartition)
    );

    assert!(group_ids(&admin, &[]).await.contains(&"g1".to_string()));
    assert!(
        group_ids(&admin, &[GroupState::Empty])
            .await
            .contains(&"g1".to_string())
    );
    assert!(
        !group_ids(&admin, &[GroupState::Stable, GroupState::Dead])
            .await
            .contains(&"g1".to_string())
    );

    let offsets = admin
        .list_consumer_group_offsets("g1", Default::default())
        .await
        .unwrap();
    let got: Vec<(&str, i32, i64)> = offsets
        .iter()
        .map(|o| (o.topic.as_str(), o.partition, o.offset))
        .collect();
    assert_eq!(got, [("events", 0, 5), ("events", 1, 0), ("other", 0, 0)]);
    assert_eq!(offsets[1].metadata.as_deref(), Some("note"));
    let only = admin
        .list_consumer_group_offsets(
            "g1",
            ListConsumerGroupOffsetsOptions {
                partitions: Some(vec![("events".into(), 1)]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
    assert_eq!((only[0].partition, only[0].offset), (1, 0));

    let lag = admin
        .consumer_group_lag("g1", ConsumerGroupLagOptions::default())
        .await
        .unwrap();
    let lag: Vec<(&str, i32, Option<i64>, Option<i64>)> = lag
        .iter()
        .map(|l| (l.topic.as_str(), l.partition, l.end, l.lag))
        .collect();
    assert_eq!(
        lag,
        [
            ("events", 0, Some(10), Some(5)),
            ("events", 1, Some(0), Some(0)),
            ("other", 0, Some(0), Some(0)),
        ]
    );

    let described = admin
        .describe_consumer_groups(&["g1", "never-was"], Default::default())
        .await
        .unwrap();
    let g1 = described[0].1.as_ref().unwrap();
    assert_eq!(g1.group_id, "g1");
    assert!(g1.members.is_empty());
    assert_eq!(g1.state, GroupState::Empty);
    assert!(g1.coordinator.is_some());
    assert_eq!(described[1].1.as_ref().unwrap().state, GroupState::Dead);

    // Delete one partition's offset, then the group.
    let deleted = admin
        .delete_consumer_group_offsets("g1", &[("other", 0)], Default::default())
        .await
        .unwrap();
    assert!(deleted[0].1.is_ok(), "{deleted:?}");
    let offsets = admin
        .list_consumer_group_offsets("g1", Default::default())
        .await
        .unwrap();
    assert!(!offsets.iter().any(|o| o.topic == "other"), "{offsets:?}");
    let err = admin
        .delete_consumer_group_offsets("never-was", &[("other", 0)], Default::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::GroupIdNotFound), "{err:?}");

    let deleted = admin
        .delete_consumer_groups(&["g1", "never-was"], Default::default())
        .await
        .unwrap();
    assert!(deleted[0].1.is_ok(), "{deleted:?}");
    assert_eq!(
        deleted[1].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::GroupIdNotFound)
    );
    assert!(!group_ids(&admin, &[]).await.contains(&"g1".to_string()));
    admin.close();
    broker.shutdown().await;
}
both!(offsets_of_an_empty_group);

/// A ferrokafka consumer polling on its own task until stopped.
struct Member {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

fn member(broker: &BrokerHandle, group: &str, topic: &str) -> Member {
    let config = ConsumerConfig::builder()
        .bootstrap_servers(broker.bootstrap_servers().split(','))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .fetch_max_wait(Duration::from_millis(100))
        .auto_offset_reset(OffsetReset::Earliest)
        .group_id(group)
        .client_id("admin-test-member")
        .session_timeout(Duration::from_millis(6_000))
        .heartbeat_interval(Duration::from_millis(100))
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let topic = topic.to_string();
    let task = tokio::spawn(async move {
        let mut consumer = Consumer::connect(config).await.unwrap();
        consumer.subscribe([topic]).unwrap();
        while !s.load(Ordering::Acquire) {
            consumer.poll(Duration::from_millis(100)).await.unwrap();
        }
        consumer.close(Duration::from_secs(5)).await;
    });
    Member { stop, task }
}

impl Member {
    async fn leave(self) {
        self.stop.store(true, Ordering::Release);
        self.task.await.unwrap();
    }
}

async fn a_live_group(nodes: i32) {
    let (broker, admin) = start(nodes).await;
    create(&admin, "live", 2).await;
    create(&admin, "unrelated", 1).await;
    let member = member(&broker, "lg", "live");

    let options = DescribeConsumerGroupsOptions::default().include_authorized_operations(true);
    wait_until(
        "a stable group with both partitions",
        Duration::from_secs(20),
        || {
            let admin = admin.clone();
            async move {
                let d = admin
                    .describe_consumer_groups(&["lg"], options)
                    .await
                    .unwrap();
                d[0].1.as_ref().is_ok_and(|g| {
                    g.state == GroupState::Stable
                        && g.members.len() == 1
                        && g.members[0].assignment == [("live".to_string(), vec![0, 1])]
                })
            }
        },
    )
    .await;
    let described = admin
        .describe_consumer_groups(&["lg"], options)
        .await
        .unwrap();
    let lg = described[0].1.as_ref().unwrap();
    assert_eq!(lg.protocol_type, "consumer");
    assert!(!lg.protocol.is_empty());
    assert_eq!(lg.members[0].client_id, "admin-test-member");
    assert!(lg.members[0].member_id.starts_with("admin-test-member-"));
    let coordinator = lg.coordinator.as_ref().unwrap();
    let cluster = admin
        .describe_cluster(DescribeClusterOptions::default())
        .await
        .unwrap();
    assert!(cluster.brokers.iter().any(|b| b.id == coordinator.id));
    let ops = lg.authorized_operations.as_ref().unwrap();
    assert!(ops.contains(&AclOperation::Describe) && ops.contains(&AclOperation::Delete));
    assert!(
        group_ids(&admin, &[GroupState::Stable])
            .await
            .contains(&"lg".to_string())
    );

    // A live group cannot be deleted (the other item still is answered),
    // nor have its offsets altered.
    let deleted = admin
        .delete_consumer_groups(&["lg", "absent"], Default::default())
        .await
        .unwrap();
    assert_eq!(
        deleted[0].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::NonEmptyGroup)
    );
    assert_eq!(
        deleted[1].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::GroupIdNotFound)
    );
    let err = admin
        .alter_consumer_group_offsets("lg", [(("live", 0), 1i64)], Default::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UnknownMemberId), "{err:?}");

    // Offsets of the subscribed topic cannot be deleted; of another, they can.
    let deleted = admin
        .delete_consumer_group_offsets("lg", &[("live", 0), ("unrelated", 0)], Default::default())
        .await
        .unwrap();
    assert_eq!(
        deleted[0].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::GroupSubscribedToTopic)
    );
    assert!(deleted[1].1.is_ok(), "{deleted:?}");

    // Once the member left: Empty, offsets alterable, group deletable.
    member.leave().await;
    wait_until("an empty group", Duration::from_secs(20), || {
        let admin = admin.clone();
        async move {
            let d = admin
                .describe_consumer_groups(&["lg"], Default::default())
                .await
                .unwrap();
            d[0].1.as_ref().is_ok_and(|g| g.state == GroupState::Empty)
        }
    })
    .await;
    let altered = admin
        .alter_consumer_group_offsets("lg", [(("live", 0), 1i64)], Default::default())
        .await
        .unwrap();
    assert!(altered[0].1.is_ok(), "{altered:?}");
    let deleted = admin
        .delete_consumer_groups(&["lg"], Default::default())
        .await
        .unwrap();
    assert!(deleted[0].1.is_ok(), "{deleted:?}");
    admin.close();
    broker.shutdown().await;
}
both!(a_live_group);

async fn describe_the_cluster(nodes: i32) {
    let (broker, admin) = start(nodes).await;
    let cluster = admin
        .describe_cluster(DescribeClusterOptions::default())
        .await
        .unwrap();
    assert_eq!(cluster.brokers.len(), nodes as usize);
    assert!(!cluster.cluster_id.is_empty());
    let controller = cluster.controller.unwrap();
    assert!(cluster.brokers.iter().any(|b| b.id == controller));
    assert!(cluster.brokers.iter().all(|b| b.port > 0));
    assert!(cluster.authorized_operations.is_none());
    let with_ops = admin
        .describe_cluster(DescribeClusterOptions::default().include_authorized_operations(true))
        .await
        .unwrap();
    let ops = with_ops.authorized_operations.unwrap();
    assert!(ops.contains(&AclOperation::Describe) && ops.contains(&AclOperation::Create));
    admin.close();
    broker.shutdown().await;
}
both!(describe_the_cluster);

#[test]
fn assignment_bytes_decode() {
    let assignment = ConsumerProtocolAssignment {
        assigned_partitions: vec![TopicPartition {
            topic: "t".into(),
            partitions: vec![2, 0],
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

async fn group_requests_follow_the_coordinator(nodes: i32) {
    use ferrokafka_broker::{FaultAction, FaultRule};
    use ferrokafka_protocol::ApiKey;
    let (broker, admin) = start(nodes).await;
    create(&admin, "retried", 1).await;
    // Each group API first answers a coordinator error: the call finds the
    // coordinator again (or backs off) and succeeds.
    for (api, code) in [
        (ApiKey::OffsetCommit, ErrorCode::NotCoordinator),
        (ApiKey::OffsetFetch, ErrorCode::CoordinatorLoadInProgress),
        (ApiKey::DescribeGroups, ErrorCode::CoordinatorNotAvailable),
        (ApiKey::OffsetDelete, ErrorCode::NotCoordinator),
        (ApiKey::DeleteGroups, ErrorCode::CoordinatorLoadInProgress),
    ] {
        broker.inject_fault(FaultRule::new(api, FaultAction::Fail(code)).times(2));
    }
    let altered = admin
        .alter_consumer_group_offsets("rg", [(("retried", 0), 0i64)], Default::default())
        .await
        .unwrap();
    assert!(altered[0].1.is_ok(), "{altered:?}");
    let offsets = admin
        .list_consumer_group_offsets("rg", Default::default())
        .await
        .unwrap();
    assert_eq!(offsets.len(), 1);
    let described = admin
        .describe_consumer_groups(&["rg"], Default::default())
        .await
        .unwrap();
    assert_eq!(described[0].1.as_ref().unwrap().state, GroupState::Empty);
    let deleted = admin
        .delete_consumer_group_offsets("rg", &[("retried", 0)], Default::default())
        .await
        .unwrap();
    assert!(deleted[0].1.is_ok(), "{deleted:?}");
    let deleted = admin
        .delete_consumer_groups(&["rg"], Default::default())
        .await
        .unwrap();
    assert!(deleted[0].1.is_ok(), "{deleted:?}");
    admin.close();
    broker.shutdown().await;
}
both!(group_requests_follow_the_coordinator);
