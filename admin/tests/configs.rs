//! Partition and config operations against the bundled broker.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use ferrokafka_admin::{
    Admin, AlterConfigOp, ConfigResource, ConfigSource, CreateTopicsOptions, NewTopic,
};
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
async fn create_partitions_per_topic() {
    let (broker, admin) = start(1).await;
    let options = CreateTopicsOptions::default();
    let created = admin
        .create_topics(vec![NewTopic::new("grow", 1, 1)], options)
        .await
        .unwrap();
    assert!(created[0].1.is_ok(), "{created:?}");
    let results = admin
        .create_partitions(&[("grow", 4), ("nowhere", 2)], options)
        .await
        .unwrap();
    assert!(results[0].1.is_ok(), "{results:?}");
    assert_eq!(
        results[1].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::UnknownTopicOrPartition)
    );
    let described = admin.describe_topics(&["grow"]).await.unwrap();
    assert_eq!(described[0].1.as_ref().unwrap().partitions.len(), 4);
    // Shrinking is refused.
    let results = admin
        .create_partitions(&[("grow", 2)], options)
        .await
        .unwrap();
    assert_eq!(
        results[0].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::InvalidPartitions)
    );
    admin.close();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_and_alter_configs() {
    let (broker, admin) = start(1).await;
    let created = admin
        .create_topics(
            vec![NewTopic::new("conf", 1, 1).config("retention.ms", "12345")],
            CreateTopicsOptions::default(),
        )
        .await
        .unwrap();
    assert!(created[0].1.is_ok(), "{created:?}");

    let topic = ConfigResource::Topic("conf".into());
    let described = admin
        .describe_configs(std::slice::from_ref(&topic))
        .await
        .unwrap();
    let entries = described[0].1.as_ref().unwrap();
    let retention = entries.iter().find(|e| e.name == "retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("12345"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    assert!(!retention.is_default);

    let altered = admin
        .incremental_alter_configs(
            vec![(
                topic.clone(),
                vec![
                    AlterConfigOp::Set("retention.ms".into(), "999".into()),
                    AlterConfigOp::Set("cleanup.policy".into(), "compact".into()),
                ],
            )],
            false,
        )
        .await
        .unwrap();
    assert!(altered[0].1.is_ok(), "{altered:?}");
    let described = admin
        .describe_configs(std::slice::from_ref(&topic))
        .await
        .unwrap();
    let entries = described[0].1.as_ref().unwrap();
    let retention = entries.iter().find(|e| e.name == "retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("999"));

    let altered = admin
        .incremental_alter_configs(
            vec![(
                topic.clone(),
                vec![AlterConfigOp::Delete("retention.ms".into())],
            )],
            false,
        )
        .await
        .unwrap();
    assert!(altered[0].1.is_ok(), "{altered:?}");
    let described = admin
        .describe_configs(std::slice::from_ref(&topic))
        .await
        .unwrap();
    let entries = described[0].1.as_ref().unwrap();
    let retention = entries.iter().find(|e| e.name == "retention.ms").unwrap();
    assert!(retention.is_default, "{retention:?}");

    // Broker configs and a missing topic.
    let described = admin
        .describe_configs(&[
            ConfigResource::Broker(broker_id(&admin).await),
            ConfigResource::Topic("absent".into()),
        ])
        .await
        .unwrap();
    assert!(!described[0].1.as_ref().unwrap().is_empty());
    assert_eq!(
        described[1].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::UnknownTopicOrPartition)
    );
    admin.close();
    broker.shutdown().await;
}

async fn broker_id(admin: &Admin) -> i32 {
    admin.client().refresh_metadata().await.unwrap();
    *admin.client().metadata().brokers.keys().next().unwrap()
}
