//! The admin client's calls, on whichever cluster [`TestCluster`] gives:
//! real Apache Kafka when `FERROKAFKA_TEST_BOOTSTRAP` names one, the
//! bundled broker otherwise.
//!
//! Topics (create with configs, validate-only, list, describe by name and
//! id, create partitions, delete by name and id), configs (describe topic
//! and broker configs, incremental alter: set, append, subtract, delete;
//! legacy alter), offsets (list by spec, delete records), consumer groups
//! (list with a state filter, describe, delete; a group's offsets: list,
//! alter, delete; lag) and the cluster description. Each call also gets
//! items that fail, and the test asserts the exact error code of every item
//! (topic exists, unknown topic, invalid partitions or replication factor,
//! invalid config, group not empty, group subscribed to the topic...): what
//! Kafka answers is what the bundled broker must answer.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ferrokafka_admin::{
    AclOperation, AdminError, AlterConfigOp, AlterConfigsOptions, AlterConsumerGroupOffsetsOptions,
    ConfigEntry, ConfigResource, ConfigSource, ConfigType, ConsumerGroupLagOptions,
    CreatePartitionsOptions, CreateTopicsOptions, DeleteConsumerGroupOffsetsOptions,
    DeleteConsumerGroupsOptions, DeleteRecordsOptions, DeleteTopicsOptions, DescribeClusterOptions,
    DescribeConfigsOptions, DescribeConsumerGroupsOptions, DescribeTopicsOptions, GroupState,
    ListConsumerGroupOffsetsOptions, ListConsumerGroupsOptions, ListOffsetsOptions,
    ListTopicsOptions, NewPartitions, NewTopic, OffsetSpec,
};
use ferrokafka_consumer::{Consumer, OffsetAndMetadata, TopicPartition};
use ferrokafka_interop::{TestCluster, wait_for};
use ferrokafka_producer::{Producer, ProducerRecord};
use ferrokafka_protocol::ErrorCode;

const WAIT: Duration = Duration::from_secs(60);

/// The topic configs Kafka 4.4 describes, sorted.
const KAFKA_4_4_TOPIC_CONFIGS: [&str; 37] = [
    "cleanup.policy",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.type",
    "compression.zstd.level",
    "delete.retention.ms",
    "errors.deadletterqueue.group.enable",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "follower.replication.throttled.replicas",
    "index.interval.bytes",
    "leader.replication.throttled.replicas",
    "local.retention.bytes",
    "local.retention.ms",
    "max.compaction.lag.ms",
    "max.decompressed.message.bytes",
    "max.message.bytes",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "preallocate",
    "remote.copy.lag.bytes",
    "remote.copy.lag.ms",
    "remote.log.copy.disable",
    "remote.log.delete.on.disable",
    "remote.storage.enable",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.jitter.ms",
    "segment.ms",
    "unclean.leader.election.enable",
];

/// The error code of an item's result, `None` for success or for an item
/// the broker answered only once (a name given twice).
fn first_code<K, T>(results: &[(K, Result<T, AdminError>)]) -> Option<ErrorCode> {
    results.first().and_then(|(_, r)| r.as_ref().err()?.code())
}

/// The error code of each item's result (`None` for success).
fn codes<K: std::fmt::Debug, T>(results: &[(K, Result<T, AdminError>)]) -> Vec<Option<ErrorCode>> {
    results
        .iter()
        .map(|(_, r)| match r {
            Ok(_) => None,
            Err(e) => Some(e.code().unwrap_or_else(|| panic!("no error code: {e:?}"))),
        })
        .collect()
}

/// Produces `count` records to `topic`-`partition` with timestamps
/// `base + 1000 * i`.
async fn produce(cluster: &TestCluster, topic: &str, partition: i32, count: i64, base: i64) {
    let producer = Producer::connect(cluster.producer_config().build().unwrap())
        .await
        .unwrap();
    let mut futures = Vec::new();
    for i in 0..count {
        let r = ProducerRecord::new(topic)
            .partition(partition)
            .timestamp(base + 1000 * i)
            .value(format!("value-{i}"));
        futures.push(producer.send(r).await.unwrap());
    }
    for f in futures {
        f.await.unwrap();
    }
    producer.close(Duration::from_secs(10)).await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_create_describe_grow_delete() {
    let cluster = TestCluster::start().await.unwrap();
    let admin = cluster.admin();
    let existing = cluster.unique("admin-existing");
    cluster.create_topic(&existing, 2).await.unwrap();
    let same_count = cluster.unique("admin-same-count");
    cluster.create_topic(&same_count, 2).await.unwrap();
    let fresh = cluster.unique("admin-fresh");
    let validated = cluster.unique("admin-validated");

    let created = admin
        .create_topics(
            [
                NewTopic::new(&fresh, 3, -1).config("retention.ms", "123456"),
                NewTopic::new(&existing, 1, -1),
                NewTopic::new(cluster.unique("admin-zero"), 0, -1),
                NewTopic::new(cluster.unique("admin-rf"), 1, 5),
                NewTopic::new("bad name!", 1, -1),
            ],
            CreateTopicsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        codes(&created),
        vec![
            None,
            Some(ErrorCode::TopicAlreadyExists),
            Some(ErrorCode::InvalidPartitions),
            Some(ErrorCode::InvalidReplicationFactor),
            Some(ErrorCode::InvalidTopicException),
        ],
        "{created:#?}"
    );
    let fresh_created = created[0].1.as_ref().unwrap();
    assert_eq!(fresh_created.num_partitions, 3);
    assert_eq!(fresh_created.replication_factor, 1);
    let retention = fresh_created
        .configs
        .iter()
        .find(|c| c.name == "retention.ms")
        .unwrap_or_else(|| panic!("no retention.ms in {:?}", fresh_created.configs));
    assert_eq!(retention.value.as_deref(), Some("123456"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    cluster.wait_for_leaders(&fresh).await.unwrap();

    // validate_only creates nothing.
    let validate = admin
        .create_topics(
            [NewTopic::new(&validated, 2, -1)],
            CreateTopicsOptions::default().validate_only(true),
        )
        .await
        .unwrap();
    assert_eq!(codes(&validate), vec![None]);
    let described = admin
        .describe_topics(&[&validated], DescribeTopicsOptions::default())
        .await
        .unwrap();
    assert_eq!(
        codes(&described),
        vec![Some(ErrorCode::UnknownTopicOrPartition)]
    );

    let listed = admin
        .list_topics(ListTopicsOptions::default())
        .await
        .unwrap();
    assert!(listed.iter().any(|t| t.name == fresh && !t.is_internal));
    assert!(listed.iter().any(|t| t.name == existing));
    assert!(!listed.iter().any(|t| t.is_internal), "{listed:?}");

    let missing = cluster.unique("admin-missing");
    let described = admin
        .describe_topics(&[&fresh, &missing], DescribeTopicsOptions::default())
        .await
        .unwrap();
    assert_eq!(
        codes(&described),
        vec![None, Some(ErrorCode::UnknownTopicOrPartition)]
    );
    let d = described[0].1.as_ref().unwrap();
    assert_eq!(d.name, fresh);
    assert_eq!(
        d.partitions.iter().map(|p| p.partition).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    for p in &d.partitions {
        assert!(p.leader.is_some());
        assert_eq!(p.replicas.len(), 1);
        assert_eq!(p.isr, p.replicas);
    }
    let id = d.topic_id;
    let by_id = admin
        .describe_topics_by_id(&[id], DescribeTopicsOptions::default())
        .await
        .unwrap();
    assert_eq!(codes(&by_id), vec![None]);
    assert_eq!(by_id[0].1.as_ref().unwrap().name, fresh);

    let grown = admin
        .create_partitions(
            &[
                (fresh.as_str(), NewPartitions::increase_to(5)),
                (existing.as_str(), NewPartitions::increase_to(1)),
                (same_count.as_str(), NewPartitions::increase_to(2)),
                (missing.as_str(), NewPartitions::increase_to(4)),
            ],
            CreatePartitionsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        codes(&grown),
        vec![
            None,
            Some(ErrorCode::InvalidPartitions),
            Some(ErrorCode::InvalidPartitions),
            Some(ErrorCode::UnknownTopicOrPartition),
        ],
        "{grown:#?}"
    );
    wait_for("5 partitions", WAIT, || async {
        let d = admin
            .describe_topics(&[&fresh], DescribeTopicsOptions::default())
            .await
            .ok()?;
        let d = d.into_iter().next()?.1.ok()?;
        (d.partitions.len() == 5 && d.partitions.iter().all(|p| p.leader.is_some())).then_some(())
    })
    .await
    .unwrap();

    let deleted = admin
        .delete_topics(&[&fresh, &missing], DeleteTopicsOptions::default())
        .await
        .unwrap();
    assert_eq!(
        codes(&deleted),
        vec![None, Some(ErrorCode::UnknownTopicOrPartition)]
    );
    let existing_id = admin
        .describe_topics(&[&existing], DescribeTopicsOptions::default())
        .await
        .unwrap()[0]
        .1
        .as_ref()
        .unwrap()
        .topic_id;
    let deleted = admin
        .delete_topics_by_id(&[existing_id, id], DeleteTopicsOptions::default())
        .await
        .unwrap();
    assert_eq!(codes(&deleted), vec![None, Some(ErrorCode::UnknownTopicId)]);
    wait_for("the topics gone", WAIT, || async {
        let d = admin
            .describe_topics(&[&fresh, &existing], DescribeTopicsOptions::default())
            .await
            .ok()?;
        (codes(&d)
            == vec![
                Some(ErrorCode::UnknownTopicOrPartition),
                Some(ErrorCode::UnknownTopicOrPartition),
            ])
        .then_some(())
    })
    .await
    .unwrap();
    cluster.shutdown().await;
}

fn entry<'a>(entries: &'a [ConfigEntry], name: &str) -> &'a ConfigEntry {
    entries
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no {name} among {} entries", entries.len()))
}

async fn topic_configs(cluster: &TestCluster, topic: &str) -> Vec<ConfigEntry> {
    let described = cluster
        .admin()
        .describe_configs(
            &[ConfigResource::Topic(topic.to_owned())],
            DescribeConfigsOptions::default(),
        )
        .await
        .unwrap();
    described.into_iter().next().unwrap().1.unwrap()
}

/// The topic's configs once `name` shows `value`: a real cluster's brokers
/// apply an alteration when the controller's record reaches them, a moment
/// after the call returns.
async fn configs_once(
    cluster: &TestCluster,
    topic: &str,
    name: &str,
    value: &str,
) -> Vec<ConfigEntry> {
    let start = Instant::now();
    loop {
        let entries = topic_configs(cluster, topic).await;
        let now = entry(&entries, name).value.clone();
        if now.as_deref() == Some(value) {
            return entries;
        }
        assert!(
            start.elapsed() < WAIT,
            "{topic}: {name} is {now:?}, not {value:?}, after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configs_describe_and_alter() {
    let cluster = TestCluster::start().await.unwrap();
    let admin = cluster.admin();
    let topic = cluster.unique("admin-configs");
    cluster
        .create_topic_with(NewTopic::new(&topic, 1, -1).config("retention.ms", "123456"))
        .await
        .unwrap();
    let missing = cluster.unique("admin-missing");
    let brokers = admin
        .describe_cluster(DescribeClusterOptions::default())
        .await
        .unwrap()
        .brokers;
    let broker = brokers[0].id;

    let described = admin
        .describe_configs(
            &[
                ConfigResource::Topic(topic.clone()),
                ConfigResource::Topic(missing.clone()),
                ConfigResource::Broker(broker),
            ],
            DescribeConfigsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        codes(&described),
        vec![None, Some(ErrorCode::UnknownTopicOrPartition), None],
        "{described:#?}"
    );
    let entries = described[0].1.as_ref().unwrap();
    let retention = entry(entries, "retention.ms");
    assert_eq!(retention.value.as_deref(), Some("123456"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);
    assert!(!retention.is_default);
    let cleanup = entry(entries, "cleanup.policy");
    assert_eq!(cleanup.value.as_deref(), Some("delete"));
    assert_eq!(cleanup.source, ConfigSource::Default);
    assert!(cleanup.is_default);
    let mut names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names, KAFKA_4_4_TOPIC_CONFIGS,
        "the topic configs Kafka 4.4 describes"
    );
    let broker_entries = described[2].1.as_ref().unwrap();
    assert!(
        broker_entries.iter().any(|e| e.name == "num.partitions"),
        "broker configs: {broker_entries:?}"
    );
    // Kafka's defaults are DEFAULT_CONFIG (read-only unless dynamically
    // alterable); what the node was started with is STATIC_BROKER_CONFIG.
    let max = entry(broker_entries, "message.max.bytes");
    assert_eq!(
        (
            max.value.as_deref(),
            max.source,
            max.read_only,
            max.config_type
        ),
        (
            Some("1048588"),
            ConfigSource::Default,
            false,
            ConfigType::Int
        ),
        "{max:?}"
    );
    let socket = entry(broker_entries, "socket.request.max.bytes");
    assert_eq!(
        (socket.value.as_deref(), socket.source, socket.read_only),
        (Some("104857600"), ConfigSource::Default, true),
        "{socket:?}"
    );
    let dirs = entry(broker_entries, "log.dirs");
    assert_eq!(
        (dirs.source, dirs.read_only, dirs.config_type),
        (ConfigSource::StaticBroker, true, ConfigType::List),
        "{dirs:?}"
    );
    let id = entry(broker_entries, "broker.id");
    assert_eq!(id.value, Some(broker.to_string()));
    assert_eq!(
        (id.source, id.read_only),
        (ConfigSource::StaticBroker, true)
    );

    // A broker's loggers (Kafka lists each logger's level; `root` is
    // always there), and the cluster-wide default, which lists only
    // dynamic defaults.
    let described = admin
        .describe_configs(
            &[
                ConfigResource::BrokerLogger(broker),
                ConfigResource::BrokerDefault,
            ],
            DescribeConfigsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(codes(&described), vec![None, None], "{described:#?}");
    let root = entry(described[0].1.as_ref().unwrap(), "root");
    assert_eq!(root.source, ConfigSource::DynamicBrokerLogger, "{root:?}");
    assert!(root.value.is_some());
    for e in described[1].1.as_ref().unwrap() {
        assert_eq!(e.source, ConfigSource::DynamicDefaultBroker, "{e:?}");
    }

    let topic_resource = ConfigResource::Topic(topic.clone());
    let altered = admin
        .incremental_alter_configs(
            vec![
                (
                    topic_resource.clone(),
                    vec![
                        AlterConfigOp::Set("retention.ms".into(), "999000".into()),
                        AlterConfigOp::Set("cleanup.policy".into(), "compact".into()),
                        AlterConfigOp::Set("max.message.bytes".into(), "20000".into()),
                    ],
                ),
                (
                    ConfigResource::Topic(missing.clone()),
                    vec![AlterConfigOp::Set("retention.ms".into(), "1000".into())],
                ),
            ],
            AlterConfigsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        codes(&altered),
        vec![None, Some(ErrorCode::UnknownTopicOrPartition)],
        "{altered:#?}"
    );
    let entries = configs_once(&cluster, &topic, "retention.ms", "999000").await;
    assert_eq!(
        entry(&entries, "cleanup.policy").value.as_deref(),
        Some("compact")
    );
    assert_eq!(
        entry(&entries, "cleanup.policy").source,
        ConfigSource::DynamicTopic
    );

    // Append and subtract on a list; delete back to the default.
    let altered = admin
        .incremental_alter_configs(
            vec![(
                topic_resource.clone(),
                vec![
                    AlterConfigOp::Append("cleanup.policy".into(), "delete".into()),
                    AlterConfigOp::Delete("retention.ms".into()),
                ],
            )],
            AlterConfigsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(codes(&altered), vec![None], "{altered:#?}");
    let entries = configs_once(&cluster, &topic, "cleanup.policy", "compact,delete").await;
    let retention = entry(&entries, "retention.ms");
    assert_eq!(retention.value.as_deref(), Some("604800000"));
    assert_eq!(retention.source, ConfigSource::Default);
    let altered = admin
        .incremental_alter_configs(
            vec![(
                topic_resource.clone(),
                vec![AlterConfigOp::Subtract(
                    "cleanup.policy".into(),
                    "compact".into(),
                )],
            )],
            AlterConfigsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(codes(&altered), vec![None], "{altered:#?}");
    configs_once(&cluster, &topic, "cleanup.policy", "delete").await;

    // Invalid values and unknown names: INVALID_CONFIG, nothing applied.
    let altered = admin
        .incremental_alter_configs(
            vec![(
                topic_resource.clone(),
                vec![AlterConfigOp::Set("retention.ms".into(), "soon".into())],
            )],
            AlterConfigsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        codes(&altered),
        vec![Some(ErrorCode::InvalidConfig)],
        "{altered:#?}"
    );
    let altered = admin
        .incremental_alter_configs(
            vec![(
                topic_resource.clone(),
                vec![AlterConfigOp::Set("no.such.config".into(), "1".into())],
            )],
            AlterConfigsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        codes(&altered),
        vec![Some(ErrorCode::InvalidConfig)],
        "{altered:#?}"
    );

    // Deleting a key that is not set, even an unknown one, succeeds; a
    // resource named twice in one request fails both times.
    let altered = admin
        .incremental_alter_configs(
            vec![(
                topic_resource.clone(),
                vec![AlterConfigOp::Delete("no.such.config".into())],
            )],
            AlterConfigsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(codes(&altered), vec![None], "{altered:#?}");
    let altered = admin
        .incremental_alter_configs(
            vec![
                (
                    topic_resource.clone(),
                    vec![AlterConfigOp::Set("retention.ms".into(), "1".into())],
                ),
                (
                    topic_resource.clone(),
                    vec![AlterConfigOp::Set("retention.ms".into(), "2".into())],
                ),
            ],
            AlterConfigsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        codes(&altered),
        vec![
            Some(ErrorCode::InvalidRequest),
            Some(ErrorCode::InvalidRequest)
        ],
        "{altered:#?}"
    );

    // The legacy AlterConfigs replaces the whole set.
    let altered = admin
        .alter_configs(
            vec![
                (
                    topic_resource.clone(),
                    vec![("retention.ms".to_owned(), "5000".to_owned())],
                ),
                (
                    ConfigResource::Topic(missing.clone()),
                    vec![("retention.ms".to_owned(), "5000".to_owned())],
                ),
            ],
            AlterConfigsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        codes(&altered),
        vec![None, Some(ErrorCode::UnknownTopicOrPartition)],
        "{altered:#?}"
    );
    let entries = configs_once(&cluster, &topic, "retention.ms", "5000").await;
    let max = entry(&entries, "max.message.bytes");
    assert_eq!(max.source, ConfigSource::Default, "{max:?}");
    assert_eq!(max.value.as_deref(), Some("1048588"), "{max:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_offsets_and_delete_records() {
    let cluster = TestCluster::start().await.unwrap();
    let admin = cluster.admin();
    let topic = cluster.unique("admin-offsets");
    cluster.create_topic(&topic, 2).await.unwrap();
    let missing = cluster.unique("admin-missing");
    let base = now_ms() - 100_000;
    produce(&cluster, &topic, 0, 10, base).await;

    let t = topic.as_str();
    let listed = admin
        .list_offsets(
            &[
                (t, 0, OffsetSpec::Earliest),
                (t, 0, OffsetSpec::Latest),
                (t, 0, OffsetSpec::MaxTimestamp),
                (t, 0, OffsetSpec::Timestamp(base + 3500)),
                (t, 0, OffsetSpec::Timestamp(base + 1_000_000)),
                (t, 1, OffsetSpec::Latest),
                (t, 7, OffsetSpec::Latest),
                (missing.as_str(), 0, OffsetSpec::Latest),
            ],
            ListOffsetsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        codes(&listed),
        vec![
            None,
            None,
            None,
            None,
            None,
            None,
            Some(ErrorCode::UnknownTopicOrPartition),
            Some(ErrorCode::UnknownTopicOrPartition),
        ],
        "{listed:#?}"
    );
    let got: Vec<(i64, i64)> = listed
        .iter()
        .take(6)
        .map(|(_, r)| {
            let o = r.as_ref().unwrap();
            (o.offset, o.timestamp)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (0, -1),
            (10, -1),
            (9, base + 9000),
            (4, base + 4000),
            (-1, -1),
            (0, -1)
        ],
        "{listed:#?}"
    );

    let deleted = admin
        .delete_records(
            &[(t, 0, 4), (t, 1, 3), (missing.as_str(), 0, 1), (t, 9, 0)],
            DeleteRecordsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        codes(&deleted),
        vec![
            None,
            Some(ErrorCode::OffsetOutOfRange),
            Some(ErrorCode::UnknownTopicOrPartition),
            Some(ErrorCode::UnknownTopicOrPartition),
        ],
        "{deleted:#?}"
    );
    assert_eq!(deleted[0].1.as_ref().unwrap().low_watermark, 4);
    // -1: up to the high watermark.
    let deleted = admin
        .delete_records(&[(t, 0, -1)], DeleteRecordsOptions::default())
        .await
        .unwrap();
    assert_eq!(codes(&deleted), vec![None]);
    assert_eq!(deleted[0].1.as_ref().unwrap().low_watermark, 10);
    let listed = admin
        .list_offsets(
            &[(t, 0, OffsetSpec::Earliest), (t, 0, OffsetSpec::Latest)],
            ListOffsetsOptions::default(),
        )
        .await
        .unwrap();
    let got: Vec<i64> = listed
        .iter()
        .map(|(_, r)| r.as_ref().unwrap().offset)
        .collect();
    assert_eq!(got, vec![10, 10]);
    cluster.shutdown().await;
}

/// A consumer of `group` subscribed to `topic`, polled until it has
/// `partitions` partitions.
async fn member(cluster: &TestCluster, group: &str, topic: &str, partitions: usize) -> Consumer {
    let config = cluster
        .consumer_config()
        .group_id(group)
        .client_id("admin-member")
        .build()
        .unwrap();
    let mut consumer = Consumer::connect(config).await.unwrap();
    consumer.subscribe([topic]).unwrap();
    let start = Instant::now();
    while consumer.assignment().len() < partitions {
        assert!(start.elapsed() < WAIT, "no assignment after {WAIT:?}");
        consumer.poll(Duration::from_millis(200)).await.unwrap();
    }
    consumer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_groups_and_their_offsets() {
    let cluster = TestCluster::start().await.unwrap();
    let admin = cluster.admin();
    let topic = cluster.unique("admin-groups");
    cluster.create_topic(&topic, 2).await.unwrap();
    produce(&cluster, &topic, 0, 6, now_ms()).await;
    produce(&cluster, &topic, 1, 4, now_ms()).await;
    let group = cluster.unique("admin-group");
    let unknown = cluster.unique("admin-no-group");
    let t = topic.as_str();

    let mut consumer = member(&cluster, &group, t, 2).await;
    consumer
        .commit_offsets(BTreeMap::from([
            (TopicPartition::new(t, 0), OffsetAndMetadata::new(3)),
            (
                TopicPartition::new(t, 1),
                OffsetAndMetadata {
                    offset: 1,
                    leader_epoch: None,
                    metadata: Some("meta".into()),
                },
            ),
        ]))
        .await
        .unwrap();

    let listed = admin
        .list_consumer_groups(ListConsumerGroupsOptions::default())
        .await
        .unwrap();
    let listing = listed
        .iter()
        .find(|g| g.group_id == group)
        .unwrap_or_else(|| panic!("{group} not in {listed:?}"));
    assert_eq!(listing.protocol_type, "consumer");
    assert_eq!(listing.state, GroupState::Stable);
    let empty_only = admin
        .list_consumer_groups(ListConsumerGroupsOptions::default().in_states([GroupState::Empty]))
        .await
        .unwrap();
    assert!(!empty_only.iter().any(|g| g.group_id == group));

    let described = admin
        .describe_consumer_groups(
            &[&group, &unknown],
            DescribeConsumerGroupsOptions::default().include_authorized_operations(true),
        )
        .await
        .unwrap();
    let d = described[0].1.as_ref().unwrap();
    assert_eq!(d.state, GroupState::Stable);
    assert_eq!(d.protocol_type, "consumer");
    assert_eq!(d.protocol, "range");
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.members[0].client_id, "admin-member");
    // Kafka shows the member's address as `/<ip>` and its id as
    // `<client.id>-<uuid>`.
    assert_eq!(d.members[0].client_host, "/127.0.0.1");
    assert!(d.members[0].member_id.starts_with("admin-member-"), "{d:?}");
    // Without an authorizer, every operation Kafka 4 knows for a group.
    assert_eq!(
        d.authorized_operations,
        Some(BTreeSet::from([
            AclOperation::Read,
            AclOperation::Delete,
            AclOperation::Describe,
            AclOperation::DescribeConfigs,
            AclOperation::AlterConfigs,
        ])),
        "{d:?}"
    );
    assert_eq!(d.members[0].assignment, vec![(topic.clone(), vec![0, 1])]);
    assert!(d.coordinator.is_some());
    // DescribeGroups (below v6) describes a group that does not exist as
    // Dead with no members, on Kafka 4.4 as on the bundled broker.
    let d = described[1].1.as_ref().unwrap();
    assert_eq!(d.state, GroupState::Dead, "{d:?}");
    assert!(d.members.is_empty() && d.protocol_type.is_empty(), "{d:?}");

    let offsets = admin
        .list_consumer_group_offsets(&group, ListConsumerGroupOffsetsOptions::default())
        .await
        .unwrap();
    let got: Vec<(i32, i64, Option<String>)> = offsets
        .iter()
        .map(|o| (o.partition, o.offset, o.metadata.clone()))
        .collect();
    assert_eq!(
        got,
        vec![(0, 3, Some(String::new())), (1, 1, Some("meta".into()))],
        "{offsets:?}"
    );
    let lag = admin
        .consumer_group_lag(&group, ConsumerGroupLagOptions::default())
        .await
        .unwrap();
    let got: Vec<(i32, Option<i64>)> = lag.iter().map(|l| (l.partition, l.lag)).collect();
    assert_eq!(got, vec![(0, Some(3)), (1, Some(3))]);

    // While the member is there: the group cannot go, its offsets cannot
    // be altered, and those of a subscribed topic cannot be deleted.
    let deleted = admin
        .delete_consumer_groups(&[&group, &unknown], DeleteConsumerGroupsOptions::default())
        .await
        .unwrap();
    assert_eq!(
        codes(&deleted),
        vec![
            Some(ErrorCode::NonEmptyGroup),
            Some(ErrorCode::GroupIdNotFound)
        ]
    );
    let altered = admin
        .alter_consumer_group_offsets(
            &group,
            [((t, 0), 5i64)],
            AlterConsumerGroupOffsetsOptions::default().timeout(Duration::from_secs(5)),
        )
        .await;
    let altered_code = match &altered {
        Ok(items) => codes(items).into_iter().next().flatten(),
        Err(e) => e.code(),
    };
    assert_eq!(
        altered_code,
        Some(ErrorCode::UnknownMemberId),
        "{altered:?}"
    );
    let deleted = admin
        .delete_consumer_group_offsets(
            &group,
            &[(t, 0)],
            DeleteConsumerGroupOffsetsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        codes(&deleted),
        vec![Some(ErrorCode::GroupSubscribedToTopic)]
    );

    consumer.close(Duration::from_secs(10)).await;
    wait_for("the group empty", WAIT, || async {
        let d = admin
            .describe_consumer_groups(&[&group], DescribeConsumerGroupsOptions::default())
            .await
            .ok()?;
        let d = d.into_iter().next()?.1.ok()?;
        (d.state == GroupState::Empty).then_some(())
    })
    .await
    .unwrap();

    let altered = admin
        .alter_consumer_group_offsets(
            &group,
            [((t, 0), 5i64), ((t, 1), 2i64)],
            AlterConsumerGroupOffsetsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(codes(&altered), vec![None, None]);
    let deleted = admin
        .delete_consumer_group_offsets(
            &group,
            &[(t, 0)],
            DeleteConsumerGroupOffsetsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(codes(&deleted), vec![None]);
    let offsets = admin
        .list_consumer_group_offsets(&group, ListConsumerGroupOffsetsOptions::default())
        .await
        .unwrap();
    let got: Vec<(i32, i64)> = offsets.iter().map(|o| (o.partition, o.offset)).collect();
    assert_eq!(got, vec![(1, 2)], "{offsets:?}");
    let unknown_offsets = admin
        .delete_consumer_group_offsets(
            &unknown,
            &[(t, 0)],
            DeleteConsumerGroupOffsetsOptions::default(),
        )
        .await;
    let unknown_code = match &unknown_offsets {
        Ok(items) => codes(items).into_iter().next().flatten(),
        Err(e) => e.code(),
    };
    assert_eq!(
        unknown_code,
        Some(ErrorCode::GroupIdNotFound),
        "{unknown_offsets:?}"
    );

    let deleted = admin
        .delete_consumer_groups(&[&group], DeleteConsumerGroupsOptions::default())
        .await
        .unwrap();
    assert_eq!(codes(&deleted), vec![None]);
    let listed = admin
        .list_consumer_groups(ListConsumerGroupsOptions::default())
        .await
        .unwrap();
    assert!(!listed.iter().any(|g| g.group_id == group), "{listed:?}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_cluster() {
    let cluster = TestCluster::start().await.unwrap();
    let description = cluster
        .admin()
        .describe_cluster(DescribeClusterOptions::default().include_authorized_operations(true))
        .await
        .unwrap();
    assert!(!description.cluster_id.is_empty());
    assert!(!description.brokers.is_empty());
    let ids: Vec<i32> = description.brokers.iter().map(|b| b.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted);
    let controller = description.controller.expect("a controller");
    assert!(ids.contains(&controller), "{description:?}");
    let bootstrap: Vec<String> = cluster.bootstrap().split(',').map(str::to_owned).collect();
    assert!(
        description
            .brokers
            .iter()
            .any(|b| bootstrap.contains(&format!("{}:{}", b.host, b.port))),
        "{description:?} vs {bootstrap:?}"
    );
    cluster.shutdown().await;
}

/// Requests Kafka refuses as a whole or per item: a name given twice, a
/// manual assignment naming a broker twice, no broker, an unknown broker or
/// the wrong number of partitions, and more than 10000 partitions in one
/// request (POLICY_VIOLATION for every topic of it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_refused_like_kafka() {
    let cluster = TestCluster::start().await.unwrap();
    let admin = cluster.admin();
    let broker = admin
        .describe_cluster(DescribeClusterOptions::default())
        .await
        .unwrap()
        .brokers[0]
        .id;
    let topic = cluster.unique("admin-refused");
    cluster.create_topic(&topic, 1).await.unwrap();
    let t = topic.as_str();
    let partitions = || async {
        admin
            .describe_topics(&[t], DescribeTopicsOptions::default())
            .await
            .unwrap()[0]
            .1
            .as_ref()
            .unwrap()
            .partitions
            .len()
    };

    // Named twice: INVALID_REQUEST, nothing done.
    let grown = admin
        .create_partitions(
            &[
                (t, NewPartitions::increase_to(2)),
                (t, NewPartitions::increase_to(3)),
            ],
            CreatePartitionsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        first_code(&grown),
        Some(ErrorCode::InvalidRequest),
        "{grown:?}"
    );
    let deleted = admin
        .delete_topics(&[t, t], DeleteTopicsOptions::default())
        .await
        .unwrap();
    assert_eq!(
        first_code(&deleted),
        Some(ErrorCode::InvalidRequest),
        "{deleted:?}"
    );
    assert_eq!(partitions().await, 1);

    // Manual assignments.
    for (what, assignment) in [
        ("a broker twice", vec![vec![broker, broker]]),
        ("no broker", vec![vec![]]),
        ("an unknown broker", vec![vec![99]]),
        ("too few assignments", vec![]),
    ] {
        let grown = admin
            .create_partitions(
                &[(
                    t,
                    NewPartitions::increase_to_with_assignments(2, assignment),
                )],
                CreatePartitionsOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(
            codes(&grown),
            vec![Some(ErrorCode::InvalidReplicaAssignment)],
            "{what}: {grown:?}"
        );
    }
    assert_eq!(partitions().await, 1);
    let created = admin
        .create_topics(
            [
                NewTopic::with_replica_assignment(
                    cluster.unique("admin-twice"),
                    [vec![broker, broker]],
                ),
                NewTopic::with_replica_assignment(cluster.unique("admin-nobody"), [vec![]]),
            ],
            CreateTopicsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        codes(&created),
        vec![
            Some(ErrorCode::InvalidReplicaAssignment),
            Some(ErrorCode::InvalidReplicaAssignment)
        ],
        "{created:?}"
    );

    // Over 10000 partitions in one request: every topic of it refused.
    let good = cluster.unique("admin-good");
    let created = admin
        .create_topics(
            [
                NewTopic::new(&good, 3, -1),
                NewTopic::new(cluster.unique("admin-zero"), 0, -1),
                NewTopic::new(cluster.unique("admin-huge"), i32::MAX, -1),
            ],
            CreateTopicsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        codes(&created),
        vec![Some(ErrorCode::PolicyViolation); 3],
        "{created:?}"
    );
    let created = admin
        .create_topics(
            [
                NewTopic::new(cluster.unique("admin-6000"), 6000, -1),
                NewTopic::new(cluster.unique("admin-6000"), 6000, -1),
            ],
            CreateTopicsOptions::default().validate_only(true),
        )
        .await
        .unwrap();
    assert_eq!(
        codes(&created),
        vec![Some(ErrorCode::PolicyViolation); 2],
        "{created:?}"
    );
    let grown = admin
        .create_partitions(
            &[(t, NewPartitions::increase_to(20_000))],
            CreatePartitionsOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        codes(&grown),
        vec![Some(ErrorCode::PolicyViolation)],
        "{grown:?}"
    );
    let described = admin
        .describe_topics(&[&good], DescribeTopicsOptions::default())
        .await
        .unwrap();
    assert_eq!(
        codes(&described),
        vec![Some(ErrorCode::UnknownTopicOrPartition)]
    );
    assert_eq!(partitions().await, 1);
    cluster.shutdown().await;
}
