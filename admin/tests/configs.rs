//! Config operations against the bundled broker (in-process, port 0):
//! describe topic and broker resources, incremental alter with all four
//! operations, the legacy full-replace alter, validate-only, and per-item
//! errors; each scenario on one node and on three.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use ferrokafka_admin::{
    Admin, AlterConfigOp, AlterConfigsOptions, ConfigEntry, ConfigResource, ConfigSource,
    ConfigType, CreateTopicsOptions, DescribeConfigsOptions, NewTopic,
};
use ferrokafka_protocol::ErrorCode;

use common::start;

async fn entry(admin: &Admin, topic: &str, name: &str) -> ConfigEntry {
    let described = admin
        .describe_configs(
            &[ConfigResource::Topic(topic.into())],
            DescribeConfigsOptions::default(),
        )
        .await
        .unwrap();
    let entries = described[0].1.as_ref().unwrap();
    entries.iter().find(|e| e.name == name).unwrap().clone()
}

async fn describe_topic_and_broker_configs(nodes: i32) {
    let (broker, admin) = start(nodes).await;
    let created = admin
        .create_topics(
            vec![NewTopic::new("conf", 1, 1).config("retention.ms", "12345")],
            CreateTopicsOptions::default(),
        )
        .await
        .unwrap();
    assert!(created[0].1.is_ok(), "{created:?}");
    let cluster = admin.describe_cluster(Default::default()).await.unwrap();
    let last = cluster.brokers.last().unwrap().id;

    let described = admin
        .describe_configs(
            &[
                ConfigResource::Topic("conf".into()),
                ConfigResource::Broker(last),
                ConfigResource::Topic("absent".into()),
                ConfigResource::Broker(cluster.brokers[0].id),
            ],
            DescribeConfigsOptions {
                include_synonyms: true,
                include_documentation: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(described.len(), 4);
    assert_eq!(described[0].0, ConfigResource::Topic("conf".into()));
    let topic = described[0].1.as_ref().unwrap();
    let retention = topic.iter().find(|e| e.name == "retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("12345"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    assert!(!retention.is_default && !retention.read_only && !retention.sensitive);
    assert_eq!(retention.config_type, ConfigType::Long);
    assert!(retention.documentation.is_some());
    // The override first, then the default it hides.
    let sources: Vec<ConfigSource> = retention.synonyms.iter().map(|s| s.source).collect();
    assert_eq!(
        sources,
        [ConfigSource::DynamicTopic, ConfigSource::Default],
        "{retention:?}"
    );
    let segment = topic.iter().find(|e| e.name == "segment.bytes").unwrap();
    assert!(segment.is_default, "{segment:?}");
    assert_eq!(segment.source, ConfigSource::Default);

    // Each broker resource answered by that broker.
    for (i, id) in [(1, last), (3, cluster.brokers[0].id)] {
        let entries = described[i].1.as_ref().unwrap();
        let broker_id = entries.iter().find(|e| e.name == "broker.id").unwrap();
        assert_eq!(broker_id.value.as_deref(), Some(id.to_string().as_str()));
        assert!(broker_id.read_only);
        assert_eq!(broker_id.source, ConfigSource::StaticBroker);
    }
    assert_eq!(
        described[2].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::UnknownTopicOrPartition)
    );
    admin.close();
    broker.shutdown().await;
}
both!(describe_topic_and_broker_configs);

async fn incremental_alter_all_four_operations(nodes: i32) {
    let (broker, admin) = start(nodes).await;
    let created = admin
        .create_topics(
            vec![NewTopic::new("inc", 1, 1).config("retention.ms", "12345")],
            CreateTopicsOptions::default(),
        )
        .await
        .unwrap();
    assert!(created[0].1.is_ok(), "{created:?}");
    let topic = ConfigResource::Topic("inc".into());
    let options = AlterConfigsOptions::default();

    // SET (and one failing resource does not hide the other).
    let altered = admin
        .incremental_alter_configs(
            vec![
                (
                    topic.clone(),
                    vec![AlterConfigOp::Set("retention.ms".into(), "999".into())],
                ),
                (
                    ConfigResource::Topic("absent".into()),
                    vec![AlterConfigOp::Set("retention.ms".into(), "1".into())],
                ),
            ],
            options,
        )
        .await
        .unwrap();
    assert!(altered[0].1.is_ok(), "{altered:?}");
    assert_eq!(
        altered[1].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::UnknownTopicOrPartition)
    );
    assert_eq!(
        entry(&admin, "inc", "retention.ms").await.value.as_deref(),
        Some("999")
    );

    // APPEND to a list config (from its default, `delete`).
    let altered = admin
        .incremental_alter_configs(
            vec![(
                topic.clone(),
                vec![AlterConfigOp::Append(
                    "cleanup.policy".into(),
                    "compact".into(),
                )],
            )],
            options,
        )
        .await
        .unwrap();
    assert!(altered[0].1.is_ok(), "{altered:?}");
    assert_eq!(
        entry(&admin, "inc", "cleanup.policy")
            .await
            .value
            .as_deref(),
        Some("delete,compact")
    );

    // SUBTRACT from it.
    let altered = admin
        .incremental_alter_configs(
            vec![(
                topic.clone(),
                vec![AlterConfigOp::Subtract(
                    "cleanup.policy".into(),
                    "delete".into(),
                )],
            )],
            options,
        )
        .await
        .unwrap();
    assert!(altered[0].1.is_ok(), "{altered:?}");
    assert_eq!(
        entry(&admin, "inc", "cleanup.policy")
            .await
            .value
            .as_deref(),
        Some("compact")
    );

    // DELETE: back to the default.
    let altered = admin
        .incremental_alter_configs(
            vec![(
                topic.clone(),
                vec![AlterConfigOp::Delete("retention.ms".into())],
            )],
            options,
        )
        .await
        .unwrap();
    assert!(altered[0].1.is_ok(), "{altered:?}");
    let retention = entry(&admin, "inc", "retention.ms").await;
    assert!(retention.is_default, "{retention:?}");
    assert_eq!(retention.source, ConfigSource::Default);

    // Validate-only applies nothing; a bad value is INVALID_CONFIG with the
    // broker's message; appending to a non-list config is refused.
    let altered = admin
        .incremental_alter_configs(
            vec![(
                topic.clone(),
                vec![AlterConfigOp::Set("retention.ms".into(), "5".into())],
            )],
            options.validate_only(true),
        )
        .await
        .unwrap();
    assert!(altered[0].1.is_ok(), "{altered:?}");
    assert!(entry(&admin, "inc", "retention.ms").await.is_default);
    for op in [
        AlterConfigOp::Set("retention.ms".into(), "soon".into()),
        AlterConfigOp::Append("retention.ms".into(), "1".into()),
    ] {
        let altered = admin
            .incremental_alter_configs(vec![(topic.clone(), vec![op])], options)
            .await
            .unwrap();
        let err = altered[0].1.as_ref().unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::InvalidConfig), "{err:?}");
        assert!(err.message().is_some(), "{err:?}");
    }
    // A resource named twice in one request is Kafka's INVALID_REQUEST for
    // both, and nothing is applied.
    let altered = admin
        .incremental_alter_configs(
            vec![
                (
                    topic.clone(),
                    vec![AlterConfigOp::Set("retention.ms".into(), "7".into())],
                ),
                (
                    topic.clone(),
                    vec![AlterConfigOp::Set("retention.ms".into(), "8".into())],
                ),
            ],
            options,
        )
        .await
        .unwrap();
    assert_eq!(altered.len(), 2, "{altered:?}");
    for (_, r) in &altered {
        let err = r.as_ref().unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::InvalidRequest), "{err:?}");
    }
    assert!(entry(&admin, "inc", "retention.ms").await.is_default);
    admin.close();
    broker.shutdown().await;
}
both!(incremental_alter_all_four_operations);

async fn legacy_alter_replaces_every_override(nodes: i32) {
    let (broker, admin) = start(nodes).await;
    let created = admin
        .create_topics(
            vec![
                NewTopic::new("legacy", 1, 1)
                    .config("retention.ms", "12345")
                    .config("cleanup.policy", "compact"),
            ],
            CreateTopicsOptions::default(),
        )
        .await
        .unwrap();
    assert!(created[0].1.is_ok(), "{created:?}");
    let topic = ConfigResource::Topic("legacy".into());
    let altered = admin
        .alter_configs(
            vec![
                (
                    topic.clone(),
                    vec![("retention.ms".to_string(), "777".to_string())],
                ),
                (
                    ConfigResource::Topic("absent".into()),
                    vec![("retention.ms".to_string(), "1".to_string())],
                ),
            ],
            AlterConfigsOptions::default(),
        )
        .await
        .unwrap();
    assert!(altered[0].1.is_ok(), "{altered:?}");
    assert_eq!(
        altered[1].1.as_ref().unwrap_err().code(),
        Some(ErrorCode::UnknownTopicOrPartition)
    );
    assert_eq!(
        entry(&admin, "legacy", "retention.ms")
            .await
            .value
            .as_deref(),
        Some("777")
    );
    // The override left out is gone.
    let policy = entry(&admin, "legacy", "cleanup.policy").await;
    assert!(policy.is_default, "{policy:?}");
    assert_eq!(policy.value.as_deref(), Some("delete"));

    // Validate-only, and a broker resource (fixed at start on this broker).
    let altered = admin
        .alter_configs(
            vec![(topic.clone(), Vec::new())],
            AlterConfigsOptions::default().validate_only(true),
        )
        .await
        .unwrap();
    assert!(altered[0].1.is_ok(), "{altered:?}");
    assert_eq!(
        entry(&admin, "legacy", "retention.ms")
            .await
            .value
            .as_deref(),
        Some("777")
    );
    let altered = admin
        .alter_configs(
            vec![(
                ConfigResource::Broker(0),
                vec![("log.retention.ms".to_string(), "1".to_string())],
            )],
            AlterConfigsOptions::default(),
        )
        .await
        .unwrap();
    let refused = altered[0].1.as_ref().unwrap_err();
    assert_eq!(
        refused.code(),
        Some(ErrorCode::InvalidRequest),
        "{altered:?}"
    );
    assert!(refused.to_string().contains("fixed at start"), "{refused}");
    admin.close();
    broker.shutdown().await;
}
both!(legacy_alter_replaces_every_override);
