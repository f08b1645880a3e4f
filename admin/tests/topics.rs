//! Topic and partition-count operations against the bundled broker
//! (in-process, port 0), each scenario on one node and on three.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use ferrokafka_admin::{
    AclOperation, AdminError, CreatePartitionsOptions, CreateTopicsOptions, DeleteTopicsOptions,
    DescribeTopicsOptions, ListTopicsOptions, NewPartitions, NewTopic,
};
use ferrokafka_protocol::{ErrorCode, Uuid};

use common::start;

async fn create_list_describe_delete(nodes: i32) {
    let (broker, admin) = start(nodes).await;
    let options = CreateTopicsOptions::default().timeout(Duration::from_secs(10));
    let rf = i16::try_from(nodes).unwrap();
    let results = admin
        .create_topics(
            vec![
                NewTopic::new("alpha", 3, rf).config("retention.ms", "60000"),
                NewTopic::new("beta", 1, 1),
            ],
            options,
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    let alpha = results[0].1.as_ref().unwrap();
    assert_eq!(alpha.num_partitions, 3);
    assert_eq!(alpha.replication_factor, rf);
    assert!(!alpha.topic_id.is_zero());
    assert!(
        alpha
            .configs
            .iter()
            .any(|c| c.name == "retention.ms" && c.value.as_deref() == Some("60000")),
        "{alpha:?}"
    );
    assert!(results[1].1.is_ok(), "{results:?}");

    // A second create fails for the existing topic only, with the broker's
    // message; the topics are taken by reference too.
    let again = [NewTopic::new("alpha", 3, 1), NewTopic::new("gamma", 2, 1)];
    let results = admin.create_topics(&again, options).await.unwrap();
    assert_eq!(results[0].0, "alpha");
    let err = results[0].1.as_ref().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::TopicAlreadyExists));
    assert!(err.message().is_some_and(|m| !m.is_empty()), "{err:?}");
    assert!(results[1].1.is_ok(), "{:?}", results[1]);

    // Validate-only creates nothing.
    let results = admin
        .create_topics(
            vec![NewTopic::new("phantom", 1, 1)],
            options.validate_only(true),
        )
        .await
        .unwrap();
    assert!(results[0].1.is_ok(), "{:?}", results[0]);

    let listing = admin
        .list_topics(ListTopicsOptions::default())
        .await
        .unwrap();
    let names: Vec<&str> = listing.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["alpha", "beta", "gamma"]);
    assert!(
        listing
            .iter()
            .all(|t| !t.is_internal && !t.topic_id.is_zero())
    );
    let with_internal = admin
        .list_topics(ListTopicsOptions::default().list_internal(true))
        .await
        .unwrap();
    assert!(with_internal.len() >= listing.len());

    let described = admin
        .describe_topics(&["alpha", "missing"], DescribeTopicsOptions::default())
        .await
        .unwrap();
    let alpha = described[0].1.as_ref().unwrap();
    assert_eq!(alpha.name, "alpha");
    assert_eq!(alpha.partitions.len(), 3);
    assert!(alpha.authorized_operations.is_none());
    for (i, p) in alpha.partitions.iter().enumerate() {
        assert_eq!(p.partition, i as i32);
        assert!(p.leader.is_some_and(|l| p.replicas.contains(&l)), "{p:?}");
        assert_eq!(p.replicas.len(), nodes as usize);
        assert_eq!(p.isr.len(), nodes as usize);
    }
    assert_eq!(
        described[1].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::UnknownTopicOrPartition)
    );

    // By id, with authorized operations.
    let gamma_id = listing.iter().find(|t| t.name == "gamma").unwrap().topic_id;
    let missing_id = Uuid::from_u128(42);
    let by_id = admin
        .describe_topics_by_id(
            &[gamma_id, missing_id],
            DescribeTopicsOptions::default().include_authorized_operations(true),
        )
        .await
        .unwrap();
    let gamma = by_id[0].1.as_ref().unwrap();
    assert_eq!(gamma.name, "gamma");
    assert_eq!(gamma.partitions.len(), 2);
    let ops = gamma.authorized_operations.as_ref().unwrap();
    for op in [
        AclOperation::Read,
        AclOperation::Write,
        AclOperation::Describe,
        AclOperation::Delete,
    ] {
        assert!(ops.contains(&op), "{ops:?}");
    }
    assert_eq!(
        by_id[1].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::UnknownTopicId)
    );

    // Delete by name (one missing) and by id.
    let deleted = admin
        .delete_topics(&["beta", "missing"], DeleteTopicsOptions::default())
        .await
        .unwrap();
    assert!(deleted[0].1.is_ok(), "{:?}", deleted[0]);
    assert_eq!(
        deleted[1].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::UnknownTopicOrPartition)
    );
    let deleted = admin
        .delete_topics_by_id(&[gamma_id, missing_id], DeleteTopicsOptions::default())
        .await
        .unwrap();
    assert!(deleted[0].1.is_ok(), "{deleted:?}");
    assert_eq!(
        deleted[1].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::UnknownTopicId)
    );
    let listing = admin
        .list_topics(ListTopicsOptions::default())
        .await
        .unwrap();
    let names: Vec<&str> = listing.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["alpha"]);

    admin.close();
    broker.shutdown().await;
}
both!(create_list_describe_delete);

async fn per_item_create_errors(nodes: i32) {
    let (broker, admin) = start(nodes).await;
    admin
        .create_topics(
            vec![NewTopic::new("exists", 1, 1)],
            CreateTopicsOptions::default(),
        )
        .await
        .unwrap()[0]
        .1
        .as_ref()
        .unwrap();
    let too_many = i16::try_from(nodes + 1).unwrap();
    let results = admin
        .create_topics(
            vec![
                NewTopic::new("exists", 1, 1),
                NewTopic::new("zero-partitions", 0, 1),
                NewTopic::new("too-many-replicas", 1, too_many),
                NewTopic::new("fine", 2, 1),
                NewTopic::new("bad-config", 1, 1).config("cleanup.policy", "shred"),
            ],
            CreateTopicsOptions::default(),
        )
        .await
        .unwrap();
    let codes: Vec<Option<ErrorCode>> = results
        .iter()
        .map(|(_, r)| r.as_ref().err().and_then(|e| e.code()))
        .collect();
    assert_eq!(
        codes,
        [
            Some(ErrorCode::TopicAlreadyExists),
            Some(ErrorCode::InvalidPartitions),
            Some(ErrorCode::InvalidReplicationFactor),
            None,
            Some(ErrorCode::InvalidConfig),
        ],
        "{results:?}"
    );
    for (name, r) in &results {
        if let Err(e) = r {
            assert!(e.message().is_some(), "{name}: {e:?}");
        }
    }
    let described = admin
        .describe_topics(&["fine"], DescribeTopicsOptions::default())
        .await
        .unwrap();
    assert_eq!(described[0].1.as_ref().unwrap().partitions.len(), 2);
    admin.close();
    broker.shutdown().await;
}
both!(per_item_create_errors);

async fn explicit_replica_assignment(nodes: i32) {
    let (broker, admin) = start(nodes).await;
    let cluster = admin.describe_cluster(Default::default()).await.unwrap();
    let ids: Vec<i32> = cluster.brokers.iter().map(|b| b.id).collect();
    let last = *ids.last().unwrap();
    let first = ids[0];
    let results = admin
        .create_topics(
            vec![NewTopic::with_replica_assignment(
                "placed",
                [vec![last], vec![first], vec![last]],
            )],
            CreateTopicsOptions::default(),
        )
        .await
        .unwrap();
    let created = results[0].1.as_ref().unwrap();
    assert_eq!(created.num_partitions, 3);
    let described = admin
        .describe_topics(&["placed"], DescribeTopicsOptions::default())
        .await
        .unwrap();
    let leaders: Vec<Option<i32>> = described[0]
        .1
        .as_ref()
        .unwrap()
        .partitions
        .iter()
        .map(|p| p.leader)
        .collect();
    assert_eq!(leaders, [Some(last), Some(first), Some(last)]);

    // An assignment that skips a partition is refused; counts together
    // with an assignment too.
    let mut mixed = NewTopic::with_replica_assignment("mixed", [vec![first]]);
    mixed.partitions = 1;
    let mut gap = NewTopic::with_replica_assignment("gap", [vec![first]]);
    gap.replica_assignment[0].0 = 1;
    let results = admin
        .create_topics(vec![gap, mixed], CreateTopicsOptions::default())
        .await
        .unwrap();
    assert_eq!(
        results[0].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::InvalidReplicaAssignment)
    );
    assert_eq!(
        results[1].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::InvalidRequest)
    );
    admin.close();
    broker.shutdown().await;
}
both!(explicit_replica_assignment);

async fn create_partitions_per_topic(nodes: i32) {
    let (broker, admin) = start(nodes).await;
    let created = admin
        .create_topics(
            vec![NewTopic::new("grow", 1, 1), NewTopic::new("placed", 1, 1)],
            CreateTopicsOptions::default(),
        )
        .await
        .unwrap();
    assert!(created.iter().all(|(_, r)| r.is_ok()), "{created:?}");
    let options = CreatePartitionsOptions::default();

    // Validate-only changes nothing.
    let results = admin
        .create_partitions(&[("grow", 4)], options.validate_only(true))
        .await
        .unwrap();
    assert!(results[0].1.is_ok(), "{results:?}");
    let count = |admin: ferrokafka_admin::Admin, topic: &'static str| async move {
        admin
            .describe_topics(&[topic], DescribeTopicsOptions::default())
            .await
            .unwrap()[0]
            .1
            .as_ref()
            .unwrap()
            .partitions
            .len()
    };
    assert_eq!(count(admin.clone(), "grow").await, 1);

    // One failing topic does not hide the other.
    let results = admin
        .create_partitions(&[("grow", 4), ("nowhere", 2)], options)
        .await
        .unwrap();
    assert!(results[0].1.is_ok(), "{results:?}");
    assert_eq!(
        results[1].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::UnknownTopicOrPartition)
    );
    assert_eq!(count(admin.clone(), "grow").await, 4);

    // Shrinking, or keeping the count, is refused.
    let results = admin
        .create_partitions(&[("grow", 2), ("placed", 1)], options)
        .await
        .unwrap();
    for (name, r) in &results {
        let err = r.as_ref().unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::InvalidPartitions), "{name}");
        assert!(err.message().is_some(), "{err:?}");
    }

    // With an explicit assignment of the new partitions.
    let cluster = admin.describe_cluster(Default::default()).await.unwrap();
    let last = cluster.brokers.last().unwrap().id;
    let results = admin
        .create_partitions(
            &[(
                "placed",
                NewPartitions::increase_to_with_assignments(3, vec![vec![last], vec![last]]),
            )],
            options,
        )
        .await
        .unwrap();
    assert!(results[0].1.is_ok(), "{results:?}");
    let described = admin
        .describe_topics(&["placed"], DescribeTopicsOptions::default())
        .await
        .unwrap();
    let partitions = &described[0].1.as_ref().unwrap().partitions;
    assert_eq!(partitions.len(), 3);
    assert_eq!(partitions[1].leader, Some(last));
    assert_eq!(partitions[2].leader, Some(last));
    admin.close();
    broker.shutdown().await;
}
both!(create_partitions_per_topic);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_timeout_bounds_the_whole_call() {
    use ferrokafka_broker::{FaultAction, FaultRule};
    use ferrokafka_protocol::ApiKey;
    let (broker, admin) = start(1).await;
    // The controller keeps answering NOT_CONTROLLER: retried until the
    // timeout, which ends the call.
    broker.inject_fault(
        FaultRule::new(
            ApiKey::CreateTopics,
            FaultAction::Fail(ErrorCode::NotController),
        )
        .times(1_000),
    );
    let timeout = Duration::from_millis(500);
    let started = std::time::Instant::now();
    // A call that ignored its timeout would retry through the 1,000 faults
    // (backoffs of up to 50 ms: about 50 s), past this outer bound.
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        admin.create_topics(
            vec![NewTopic::new("slow", 1, 1)],
            CreateTopicsOptions::default().timeout(timeout),
        ),
    )
    .await
    .expect("create_topics not bounded by its timeout");
    let elapsed = started.elapsed();
    assert!(elapsed >= timeout, "gave up after {elapsed:?}: {result:?}");
    // Whichever notices first: the call's deadline, or the retry loop
    // (bounded by what remains of it) after the last NOT_CONTROLLER.
    let err = result.unwrap_err();
    assert!(
        matches!(err, AdminError::Timeout { after } if after == timeout)
            || err.code() == Some(ErrorCode::NotController),
        "{err:?}"
    );
    admin.close();
    broker.shutdown().await;
}
