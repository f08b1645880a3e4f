//! Partition requests against the bundled broker (in-process, port 0):
//! list offsets (earliest, latest, by timestamp, max timestamp) and delete
//! records, routed to each partition's leader, with per-partition errors
//! and retries; each scenario on one node and on three.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use ferrokafka_admin::{
    CreateTopicsOptions, DeleteRecordsOptions, ListOffsetsOptions, NewTopic, OffsetSpec,
};
use ferrokafka_broker::{FaultAction, FaultRule};
use ferrokafka_protocol::{ApiKey, ErrorCode};

use common::{now_ms, produce, start};

async fn list_offsets_every_spec(nodes: i32) {
    let (broker, admin) = start(nodes).await;
    let created = admin
        .create_topics(
            vec![NewTopic::new("events", 3, 1)],
            CreateTopicsOptions::default(),
        )
        .await
        .unwrap();
    assert!(created[0].1.is_ok(), "{created:?}");
    // Recent timestamps: records older than retention.ms (7 days) go.
    let base = now_ms() - 60_000;
    produce(
        &admin,
        "events",
        0,
        &[base + 1_000, base + 5_000, base + 3_000],
    )
    .await;
    produce(&admin, "events", 2, &[base + 7_000]).await;

    let listed = admin
        .list_offsets(
            &[
                ("events", 0, OffsetSpec::Earliest),
                ("events", 0, OffsetSpec::Latest),
                ("events", 0, OffsetSpec::Timestamp(base + 2_000)),
                ("events", 0, OffsetSpec::MaxTimestamp),
                ("events", 0, OffsetSpec::Timestamp(base + 30_000)),
                ("nope", 0, OffsetSpec::Latest),
                ("events", 9, OffsetSpec::Latest),
                ("events", 1, OffsetSpec::Latest),
                ("events", 2, OffsetSpec::Latest),
            ],
            ListOffsetsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 9);
    assert_eq!(listed[0].0, ("events".to_string(), 0));
    let offset = |i: usize| listed[i].1.as_ref().unwrap().offset;
    assert_eq!(offset(0), 0);
    assert_eq!(offset(1), 3);
    assert_eq!(offset(2), 1);
    assert_eq!(listed[2].1.as_ref().unwrap().timestamp, base + 5_000);
    assert_eq!(offset(3), 1);
    assert_eq!(listed[3].1.as_ref().unwrap().timestamp, base + 5_000);
    assert_eq!(offset(4), -1);
    for i in [5, 6] {
        assert_eq!(
            listed[i].1.as_ref().unwrap_err().code(),
            Some(ErrorCode::UnknownTopicOrPartition),
            "{:?}",
            listed[i]
        );
    }
    assert_eq!(offset(7), 0);
    assert_eq!(offset(8), 1);
    // The lookup of a missing topic created nothing.
    let topics = admin.list_topics(Default::default()).await.unwrap();
    assert!(!topics.iter().any(|t| t.name == "nope"), "{topics:?}");
    admin.close();
    broker.shutdown().await;
}
both!(list_offsets_every_spec);

async fn delete_records_per_partition(nodes: i32) {
    let (broker, admin) = start(nodes).await;
    let created = admin
        .create_topics(
            vec![NewTopic::new("trim", 2, 1)],
            CreateTopicsOptions::default(),
        )
        .await
        .unwrap();
    assert!(created[0].1.is_ok(), "{created:?}");
    let now = now_ms();
    produce(&admin, "trim", 0, &[now; 4]).await;
    produce(&admin, "trim", 1, &[now; 2]).await;

    let deleted = admin
        .delete_records(
            &[
                ("trim", 0, 2),
                ("trim", 1, -1),
                ("trim", 0, 10),
                ("missing", 0, 1),
                ("trim", 7, 1),
            ],
            DeleteRecordsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(deleted.len(), 5);
    assert_eq!(deleted[0].1.as_ref().unwrap().low_watermark, 2);
    assert_eq!(deleted[1].1.as_ref().unwrap().low_watermark, 2);
    assert_eq!(
        deleted[2].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::OffsetOutOfRange)
    );
    for i in [3, 4] {
        assert_eq!(
            deleted[i].1.as_ref().unwrap_err().code(),
            Some(ErrorCode::UnknownTopicOrPartition)
        );
    }
    let listed = admin
        .list_offsets(
            &[
                ("trim", 0, OffsetSpec::Earliest),
                ("trim", 1, OffsetSpec::Earliest),
                ("trim", 0, OffsetSpec::Latest),
            ],
            ListOffsetsOptions::default(),
        )
        .await
        .unwrap();
    let offsets: Vec<i64> = listed
        .iter()
        .map(|(_, r)| r.as_ref().unwrap().offset)
        .collect();
    assert_eq!(offsets, [2, 2, 4]);
    admin.close();
    broker.shutdown().await;
}
both!(delete_records_per_partition);

async fn stale_leader_answers_are_retried(nodes: i32) {
    let (broker, admin) = start(nodes).await;
    let created = admin
        .create_topics(
            vec![NewTopic::new("moving", 2, 1)],
            CreateTopicsOptions::default(),
        )
        .await
        .unwrap();
    assert!(created[0].1.is_ok(), "{created:?}");
    produce(&admin, "moving", 1, &[now_ms(); 3]).await;
    // Partition 1 answers NOT_LEADER_OR_FOLLOWER twice; partition 0 is
    // served at once, and partition 1 after a metadata refresh.
    broker.inject_fault(
        FaultRule::new(
            ApiKey::ListOffsets,
            FaultAction::Fail(ErrorCode::NotLeaderOrFollower),
        )
        .for_partition("moving", 1)
        .times(2),
    );
    let listed = admin
        .list_offsets(
            &[
                ("moving", 0, OffsetSpec::Latest),
                ("moving", 1, OffsetSpec::Latest),
            ],
            ListOffsetsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(listed[0].1.as_ref().unwrap().offset, 0);
    assert_eq!(listed[1].1.as_ref().unwrap().offset, 3);

    // A partition that never recovers fails with its last error when the
    // timeout passes.
    broker.inject_fault(
        FaultRule::new(
            ApiKey::DeleteRecords,
            FaultAction::Fail(ErrorCode::NotLeaderOrFollower),
        )
        .times(10_000),
    );
    let timeout = Duration::from_millis(400);
    let started = std::time::Instant::now();
    // Retried until the timeout, not before it gives up and not much after:
    // a call that ignored its timeout would retry through the 10,000
    // faults (backoffs of up to 50 ms: minutes), far past this outer bound.
    let deleted = tokio::time::timeout(
        Duration::from_secs(60),
        admin.delete_records(
            &[("moving", 1, 1)],
            DeleteRecordsOptions::default().timeout(timeout),
        ),
    )
    .await
    .expect("delete_records not bounded by its timeout")
    .unwrap();
    let elapsed = started.elapsed();
    assert!(elapsed >= timeout, "gave up after {elapsed:?}");
    assert_eq!(
        deleted[0].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::NotLeaderOrFollower),
        "{deleted:?}"
    );
    admin.close();
    broker.shutdown().await;
}
both!(stale_leader_answers_are_retried);
