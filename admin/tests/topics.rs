//! Topic operations against the bundled broker (in-process, port 0).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use ferrokafka_admin::{Admin, CreateTopicsOptions, DeleteTopicsOptions, NewTopic};
use ferrokafka_broker::{Broker, BrokerHandle};
use ferrokafka_client::ClientConfig;
use ferrokafka_protocol::ErrorCode;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_list_describe_delete() {
    let (broker, admin) = start(1).await;
    let options = CreateTopicsOptions {
        timeout: Duration::from_secs(10),
        validate_only: false,
    };
    let results = admin
        .create_topics(
            vec![
                NewTopic::new("alpha", 3, 1).config("retention.ms", "60000"),
                NewTopic::new("beta", 1, 1),
            ],
            options,
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    for (name, r) in &results {
        assert!(r.is_ok(), "{name}: {r:?}");
    }

    // A second create fails for the existing topic only.
    let results = admin
        .create_topics(
            vec![NewTopic::new("alpha", 3, 1), NewTopic::new("gamma", 2, 1)],
            options,
        )
        .await
        .unwrap();
    assert_eq!(results[0].0, "alpha");
    let err = results[0].1.as_ref().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::TopicAlreadyExists));
    assert!(err.message().is_some_and(|m| !m.is_empty()), "{err:?}");
    assert!(results[1].1.is_ok(), "{:?}", results[1]);

    // Validate-only creates nothing.
    let results = admin
        .create_topics(
            vec![NewTopic::new("phantom", 1, 1)],
            CreateTopicsOptions {
                validate_only: true,
                ..options
            },
        )
        .await
        .unwrap();
    assert!(results[0].1.is_ok(), "{:?}", results[0]);

    let listing = admin.list_topics(false).await.unwrap();
    let names: Vec<&str> = listing.iter().map(|t| t.name.as_str()).collect();
    assert!(names.contains(&"alpha"), "{names:?}");
    assert!(names.contains(&"beta"));
    assert!(names.contains(&"gamma"));
    assert!(!names.contains(&"phantom"));
    assert!(listing.iter().all(|t| !t.is_internal));

    let described = admin.describe_topics(&["alpha", "missing"]).await.unwrap();
    let alpha = described[0].1.as_ref().unwrap();
    assert_eq!(alpha.name, "alpha");
    assert_eq!(alpha.partitions.len(), 3);
    for (i, p) in alpha.partitions.iter().enumerate() {
        assert_eq!(p.partition, i as i32);
        assert!(p.leader.is_some());
        assert_eq!(p.replicas.len(), 1);
        assert_eq!(p.isr.len(), 1);
    }
    assert_eq!(
        described[1].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::UnknownTopicOrPartition)
    );

    let deleted = admin
        .delete_topics(&["beta", "missing"], DeleteTopicsOptions::default())
        .await
        .unwrap();
    assert!(deleted[0].1.is_ok(), "{:?}", deleted[0]);
    assert_eq!(
        deleted[1].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::UnknownTopicOrPartition)
    );
    let listing = admin.list_topics(false).await.unwrap();
    assert!(!listing.iter().any(|t| t.name == "beta"));

    admin.close();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_replication() {
    let (broker, admin) = start(3).await;
    let results = admin
        .create_topics(
            vec![
                NewTopic::new("replicated", 2, 3),
                NewTopic::new("too-many", 1, 4),
            ],
            CreateTopicsOptions::default(),
        )
        .await
        .unwrap();
    assert!(results[0].1.is_ok(), "{results:?}");
    assert_eq!(
        results[1].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::InvalidReplicationFactor)
    );
    let described = admin.describe_topics(&["replicated"]).await.unwrap();
    let topic = described[0].1.as_ref().unwrap();
    assert!(!topic.topic_id.is_zero());
    for p in &topic.partitions {
        assert_eq!(p.replicas.len(), 3, "{p:?}");
        assert!(p.leader.is_some_and(|l| p.replicas.contains(&l)));
    }
    let deleted = admin
        .delete_topics(&["replicated"], DeleteTopicsOptions::default())
        .await
        .unwrap();
    assert!(deleted[0].1.is_ok(), "{deleted:?}");
    admin.close();
    broker.shutdown().await;
}
