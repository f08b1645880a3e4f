//! The ferrokafka admin client and librdkafka (through the `rdkafka` crate)
//! on the same bundled broker, started in-process on port 0: topics created
//! by one are seen by the other, and a group formed by two librdkafka
//! consumers is described by ferrokafka (members, decoded assignments,
//! state Stable) with its committed offsets and lag.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrokafka_admin::{
    Admin, ConfigResource, ConfigSource, CreateTopicsOptions, DescribeConfigsOptions,
    DescribeTopicsOptions, GroupState, ListTopicsOptions, NewTopic,
};
use ferrokafka_broker::{Broker, BrokerHandle};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic as RdNewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig as RdConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

/// How long any one wait may take: the tests wait for conditions, never
/// for time.
const DEADLINE: Duration = Duration::from_secs(60);

async fn start(nodes: i32) -> (BrokerHandle, Admin, String) {
    let broker = Broker::builder().nodes(nodes).start().await.unwrap();
    let bootstrap = broker.bootstrap_servers();
    let config = ferrokafka_client::ClientConfig::builder()
        .bootstrap_servers(bootstrap.split(','))
        .retry_backoff(Duration::from_millis(5), Duration::from_millis(50))
        .build()
        .unwrap();
    let admin = Admin::connect(config).await.unwrap();
    (broker, admin, bootstrap)
}

fn rd_config(bootstrap: &str) -> RdConfig {
    let mut config = RdConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("log_level", "3");
    config
}

fn rd_consumer(bootstrap: &str, group: &str, client_id: &str) -> BaseConsumer {
    rd_config(bootstrap)
        .set("group.id", group)
        .set("client.id", client_id)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .unwrap()
}

async fn topics_both_ways(nodes: i32) {
    let (broker, admin, bootstrap) = start(nodes).await;

    // Created by ferrokafka, seen in librdkafka's metadata.
    let created = admin
        .create_topics(
            vec![NewTopic::new("from-ferrokafka", 5, 1)],
            CreateTopicsOptions::default(),
        )
        .await
        .unwrap();
    assert!(created[0].1.is_ok(), "{created:?}");
    let b = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let consumer = rd_consumer(&b, "metadata-reader", "reader");
        let metadata = consumer
            .fetch_metadata(Some("from-ferrokafka"), Duration::from_secs(10))
            .unwrap();
        let topic = &metadata.topics()[0];
        assert_eq!(topic.name(), "from-ferrokafka");
        assert!(topic.error().is_none(), "{:?}", topic.error());
        assert_eq!(topic.partitions().len(), 5);
    })
    .await
    .unwrap();

    // Created by librdkafka's AdminClient, seen by ferrokafka.
    let rd_admin: AdminClient<DefaultClientContext> = rd_config(&bootstrap).create().unwrap();
    let results = rd_admin
        .create_topics(
            &[
                RdNewTopic::new("from-librdkafka", 3, TopicReplication::Fixed(1))
                    .set("retention.ms", "3600000"),
            ],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    for r in results {
        r.unwrap();
    }
    let listing = admin
        .list_topics(ListTopicsOptions::default())
        .await
        .unwrap();
    let names: Vec<&str> = listing.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["from-ferrokafka", "from-librdkafka"]);
    let described = admin
        .describe_topics(&["from-librdkafka"], DescribeTopicsOptions::default())
        .await
        .unwrap();
    let topic = described[0].1.as_ref().unwrap();
    assert_eq!(topic.partitions.len(), 3);
    assert!(topic.partitions.iter().all(|p| p.leader.is_some()));
    let configs = admin
        .describe_configs(
            &[ConfigResource::Topic("from-librdkafka".into())],
            DescribeConfigsOptions::default(),
        )
        .await
        .unwrap();
    let entries = configs[0].1.as_ref().unwrap();
    let retention = entries.iter().find(|e| e.name == "retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert_eq!(retention.source, ConfigSource::DynamicTopic);

    // And deleted by librdkafka, gone for ferrokafka.
    let results = rd_admin
        .delete_topics(&["from-ferrokafka"], &AdminOptions::new())
        .await
        .unwrap();
    for r in results {
        r.unwrap();
    }
    let listing = admin
        .list_topics(ListTopicsOptions::default())
        .await
        .unwrap();
    let names: Vec<&str> = listing.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["from-librdkafka"]);
    admin.close();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_both_ways_one_node() {
    topics_both_ways(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_both_ways_three_nodes() {
    topics_both_ways(3).await;
}

async fn a_librdkafka_group_described(nodes: i32) {
    let (broker, admin, bootstrap) = start(nodes).await;
    let created = admin
        .create_topics(
            vec![NewTopic::new("shared", 4, 1)],
            CreateTopicsOptions::default(),
        )
        .await
        .unwrap();
    assert!(created[0].1.is_ok(), "{created:?}");
    let producer: FutureProducer = rd_config(&bootstrap).create().unwrap();
    for partition in 0..4 {
        for i in 0..10 {
            producer
                .send(
                    FutureRecord::<(), _>::to("shared")
                        .partition(partition)
                        .payload(&format!("m{i}")),
                    Duration::from_secs(30),
                )
                .await
                .map_err(|(e, _)| e)
                .unwrap();
        }
    }

    let (a, b) = (
        rd_consumer(&bootstrap, "rd-group", "rd-a"),
        rd_consumer(&bootstrap, "rd-group", "rd-b"),
    );
    a.subscribe(&["shared"]).unwrap();
    b.subscribe(&["shared"]).unwrap();
    // Both members hold two partitions; each commits offset 3 + partition.
    let (a, b, expected) = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        loop {
            assert!(start.elapsed() < DEADLINE, "no balanced assignment");
            let _ = a.poll(Duration::from_millis(50));
            let _ = b.poll(Duration::from_millis(50));
            if a.assignment().unwrap().count() == 2 && b.assignment().unwrap().count() == 2 {
                break;
            }
        }
        let mut expected: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (name, consumer) in [("rd-a", &a), ("rd-b", &b)] {
            let mut partitions: Vec<i32> = consumer
                .assignment()
                .unwrap()
                .elements()
                .iter()
                .map(|e| e.partition())
                .collect();
            partitions.sort_unstable();
            let mut tpl = TopicPartitionList::new();
            for p in &partitions {
                tpl.add_partition_offset("shared", *p, Offset::Offset(3 + i64::from(*p)))
                    .unwrap();
            }
            consumer.commit(&tpl, CommitMode::Sync).unwrap();
            expected.insert(name.to_string(), partitions);
        }
        (a, b, expected)
    })
    .await
    .unwrap();

    // librdkafka heartbeats on its own threads: the group stays Stable.
    let described = admin
        .describe_consumer_groups(&["rd-group"], Default::default())
        .await
        .unwrap();
    let group = described[0].1.as_ref().unwrap();
    assert_eq!(group.state, GroupState::Stable, "{group:?}");
    assert_eq!(group.protocol_type, "consumer");
    assert!(!group.protocol.is_empty(), "{group:?}");
    assert!(group.coordinator.is_some());
    let got: BTreeMap<String, Vec<i32>> = group
        .members
        .iter()
        .map(|m| {
            assert_eq!(m.assignment.len(), 1, "{m:?}");
            assert_eq!(m.assignment[0].0, "shared");
            (m.client_id.clone(), m.assignment[0].1.clone())
        })
        .collect();
    assert_eq!(got, expected);
    let listed = admin
        .list_consumer_groups(
            ferrokafka_admin::ListConsumerGroupsOptions::default().in_states([GroupState::Stable]),
        )
        .await
        .unwrap();
    assert!(
        listed.iter().any(|g| g.group_id == "rd-group"),
        "{listed:?}"
    );

    let offsets = admin
        .list_consumer_group_offsets("rd-group", Default::default())
        .await
        .unwrap();
    let offsets: Vec<(i32, i64)> = offsets.iter().map(|o| (o.partition, o.offset)).collect();
    assert_eq!(offsets, [(0, 3), (1, 4), (2, 5), (3, 6)]);
    let lag = admin
        .consumer_group_lag("rd-group", Default::default())
        .await
        .unwrap();
    let lag: Vec<(i32, Option<i64>, Option<i64>)> =
        lag.iter().map(|l| (l.partition, l.end, l.lag)).collect();
    assert_eq!(
        lag,
        [
            (0, Some(10), Some(7)),
            (1, Some(10), Some(6)),
            (2, Some(10), Some(5)),
            (3, Some(10), Some(4)),
        ]
    );

    // While they are members the group cannot be deleted.
    let deleted = admin
        .delete_consumer_groups(&["rd-group"], Default::default())
        .await
        .unwrap();
    assert_eq!(
        deleted[0].1.as_ref().unwrap_err().code(),
        Some(ferrokafka_protocol::ErrorCode::NonEmptyGroup)
    );
    tokio::task::spawn_blocking(move || {
        drop(a);
        drop(b);
    })
    .await
    .unwrap();
    admin.close();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_librdkafka_group_described_one_node() {
    a_librdkafka_group_described(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_librdkafka_group_described_three_nodes() {
    a_librdkafka_group_described(3).await;
}
