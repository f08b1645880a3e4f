//! librdkafka (through the `rdkafka` crate, built from its bundled sources)
//! against the bundled ferrokafka broker, started in-process on port 0.
//!
//! These are the checks that the broker is honest to a client nobody here
//! wrote: an idempotent producer in every codec read back in order with
//! nothing lost or duplicated; a consumer group that splits partitions and
//! rebalances when a member leaves; committed offsets honoured by a new
//! member; admin topic operations and group listing; watermarks.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use ferrokafka_broker::{Broker, BrokerHandle};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

/// How long any one wait may take before the test fails: generous, because
/// the tests wait for conditions, never for time.
const DEADLINE: Duration = Duration::from_secs(60);

async fn broker(nodes: i32) -> BrokerHandle {
    Broker::builder()
        .nodes(nodes)
        .start()
        .await
        .expect("broker starts")
}

fn base_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("log_level", "3");
    config
}

fn admin(bootstrap: &str) -> AdminClient<DefaultClientContext> {
    base_config(bootstrap).create().expect("admin client")
}

async fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let results = admin(bootstrap)
        .create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .expect("create topics");
    for result in results {
        result.expect("topic created");
    }
}

fn consumer(bootstrap: &str, group: &str) -> BaseConsumer {
    base_config(bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .expect("consumer")
}

/// Polls on a blocking thread until `done` says so or the deadline passes.
fn poll_until(
    consumer: &BaseConsumer,
    mut done: impl FnMut(
        Option<(
            String,
            i32,
            i64,
            Option<Vec<u8>>,
            Option<Vec<u8>>,
            Vec<(String, Vec<u8>)>,
        )>,
    ) -> bool,
) {
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < DEADLINE,
            "condition not reached within {DEADLINE:?}"
        );
        let message = match consumer.poll(Duration::from_millis(100)) {
            None => None,
            Some(Err(e)) => panic!("consumer error: {e}"),
            Some(Ok(m)) => {
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| {
                                (
                                    h.key.to_string(),
                                    h.value.map(<[u8]>::to_vec).unwrap_or_default(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Some((
                    m.topic().to_string(),
                    m.partition(),
                    m.offset(),
                    m.key().map(<[u8]>::to_vec),
                    m.payload().map(<[u8]>::to_vec),
                    headers,
                ))
            }
        };
        if done(message) {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_in_every_codec_reads_back_in_order_exactly_once() {
    let broker = broker(1).await;
    let bootstrap = broker.bootstrap_address().to_string();
    const PER_CODEC: usize = 300;
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("interop-{codec}");
        create_topic(&bootstrap, &topic, 3).await;
        let producer: FutureProducer = base_config(&bootstrap)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", codec)
            .set("linger.ms", "5")
            .set("partitioner", "murmur2_random")
            .create()
            .expect("producer");
        let mut deliveries = Vec::new();
        for i in 0..PER_CODEC {
            let key = format!("key-{}", i % 7);
            let value = format!("{codec} value {i}");
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "seq",
                    value: Some(&i.to_string()),
                })
                .insert(Header {
                    key: "codec",
                    value: Some(codec),
                });
            let record = FutureRecord::to(&topic)
                .key(&key)
                .payload(&value)
                .headers(headers);
            deliveries.push(
                producer
                    .send_result(record)
                    .map_err(|(e, _)| e)
                    .expect("enqueued"),
            );
        }
        let mut acked: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
        for delivery in deliveries {
            let delivered = delivery
                .await
                .expect("delivery reported")
                .map_err(|(e, _)| e)
                .expect("delivered");
            acked
                .entry(delivered.partition)
                .or_default()
                .push(delivered.offset);
        }
        // Offsets per partition are dense and increasing: nothing appended twice.
        for offsets in acked.values() {
            let expected: Vec<i64> = (0..offsets.len() as i64).collect();
            assert_eq!(offsets, &expected, "{codec}: acknowledged offsets");
        }

        let consumer = consumer(&bootstrap, &format!("reader-{codec}"));
        consumer.subscribe(&[&topic]).unwrap();
        let mut seen: BTreeMap<i32, Vec<(i64, usize)>> = BTreeMap::new();
        let mut count = 0;
        let consumer = tokio::task::spawn_blocking(move || {
            poll_until(&consumer, |m| {
                if let Some((_, partition, offset, key, value, headers)) = m {
                    let value = String::from_utf8(value.unwrap()).unwrap();
                    let i: usize = value.rsplit(' ').next().unwrap().parse().unwrap();
                    assert_eq!(key.unwrap(), format!("key-{}", i % 7).into_bytes());
                    assert!(
                        headers.contains(&("seq".to_string(), i.to_string().into_bytes())),
                        "{headers:?}"
                    );
                    assert!(headers.contains(&("codec".to_string(), codec.as_bytes().to_vec())));
                    seen.entry(partition).or_default().push((offset, i));
                    count += 1;
                }
                count >= PER_CODEC
            });
            (seen, consumer)
        });
        let (seen, _consumer) = consumer.await.unwrap();
        let mut all = HashSet::new();
        for (partition, records) in &seen {
            let offsets: Vec<i64> = records.iter().map(|(o, _)| *o).collect();
            let expected: Vec<i64> = (0..offsets.len() as i64).collect();
            assert_eq!(
                offsets, expected,
                "{codec}: partition {partition} read in order"
            );
            // Same key, same partition, in send order.
            let indexes: Vec<usize> = records.iter().map(|(_, i)| *i).collect();
            let mut sorted = indexes.clone();
            sorted.sort_unstable();
            assert_eq!(
                indexes, sorted,
                "{codec}: partition {partition} keeps send order"
            );
            all.extend(indexes);
        }
        assert_eq!(all.len(), PER_CODEC, "{codec}: every record exactly once");
    }
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_two_splits_partitions_and_rebalances_when_one_leaves() {
    let broker = broker(1).await;
    let bootstrap = broker.bootstrap_address().to_string();
    create_topic(&bootstrap, "split", 4).await;
    let (a, b) = (
        consumer(&bootstrap, "splitters"),
        consumer(&bootstrap, "splitters"),
    );
    a.subscribe(&["split"]).unwrap();
    b.subscribe(&["split"]).unwrap();
    let (a, b) = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        loop {
            assert!(start.elapsed() < DEADLINE, "no balanced assignment");
            let _ = a.poll(Duration::from_millis(50));
            let _ = b.poll(Duration::from_millis(50));
            let (na, nb) = (
                a.assignment().unwrap().count(),
                b.assignment().unwrap().count(),
            );
            if na == 2 && nb == 2 {
                let mut parts: Vec<i32> = a
                    .assignment()
                    .unwrap()
                    .elements()
                    .iter()
                    .chain(b.assignment().unwrap().elements().iter())
                    .map(|e| e.partition())
                    .collect();
                parts.sort_unstable();
                assert_eq!(
                    parts,
                    vec![0, 1, 2, 3],
                    "each partition to exactly one member"
                );
                break;
            }
        }
        (a, b)
    })
    .await
    .unwrap();
    // One member leaves (close sends LeaveGroup); the other takes everything.
    drop(b);
    tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        loop {
            assert!(
                start.elapsed() < DEADLINE,
                "remaining member never got all partitions"
            );
            let _ = a.poll(Duration::from_millis(50));
            if a.assignment().unwrap().count() == 4 {
                break;
            }
        }
    })
    .await
    .unwrap();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_are_honoured_by_a_new_member() {
    let broker = broker(1).await;
    let bootstrap = broker.bootstrap_address().to_string();
    create_topic(&bootstrap, "resume", 1).await;
    let producer: FutureProducer = base_config(&bootstrap).create().unwrap();
    for i in 0..10 {
        producer
            .send(
                FutureRecord::<(), _>::to("resume").payload(&format!("m{i}")),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
    let first = consumer(&bootstrap, "resumers");
    first.subscribe(&["resume"]).unwrap();
    let first = tokio::task::spawn_blocking(move || {
        let mut read = 0;
        poll_until(&first, |m| {
            if m.is_some() {
                read += 1;
            }
            read == 4
        });
        // Commit "next offset to read" = 4.
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("resume", 0, Offset::Offset(4))
            .unwrap();
        first.commit(&tpl, CommitMode::Sync).unwrap();
        first
    })
    .await
    .unwrap();
    drop(first);
    let second = consumer(&bootstrap, "resumers");
    second.subscribe(&["resume"]).unwrap();
    tokio::task::spawn_blocking(move || {
        let mut offsets = Vec::new();
        poll_until(&second, |m| {
            if let Some((_, _, offset, _, _, _)) = m {
                offsets.push(offset);
            }
            offsets.len() == 6
        });
        assert_eq!(offsets, vec![4, 5, 6, 7, 8, 9]);
        let committed = second.committed(Duration::from_secs(10)).unwrap();
        assert_eq!(
            committed.find_partition("resume", 0).unwrap().offset(),
            Offset::Offset(4)
        );
    })
    .await
    .unwrap();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_topics_groups_and_watermarks() {
    let broker = broker(1).await;
    let bootstrap = broker.bootstrap_address().to_string();
    create_topic(&bootstrap, "admin-a", 2).await;
    create_topic(&bootstrap, "admin-b", 1).await;
    let client = admin(&bootstrap);
    // Creating an existing topic fails with TOPIC_ALREADY_EXISTS.
    let again = client
        .create_topics(
            &[NewTopic::new("admin-a", 2, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap();
    assert!(
        matches!(
            &again[0],
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists))
        ),
        "{again:?}"
    );

    let producer: FutureProducer = base_config(&bootstrap).create().unwrap();
    for i in 0..5 {
        producer
            .send(
                FutureRecord::<(), _>::to("admin-b").payload(&format!("w{i}")),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)
            .unwrap();
    }
    let bootstrap2 = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let consumer = consumer(&bootstrap2, "listed-group");
        let metadata = consumer
            .fetch_metadata(None, Duration::from_secs(10))
            .unwrap();
        let names: HashSet<&str> = metadata.topics().iter().map(|t| t.name()).collect();
        assert!(
            names.contains("admin-a") && names.contains("admin-b"),
            "{names:?}"
        );
        let a = metadata
            .topics()
            .iter()
            .find(|t| t.name() == "admin-a")
            .unwrap();
        assert_eq!(a.partitions().len(), 2);

        assert_eq!(
            consumer
                .fetch_watermarks("admin-b", 0, Duration::from_secs(10))
                .unwrap(),
            (0, 5)
        );

        // A group exists once it has committed offsets; ListGroups shows it.
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset("admin-b", 0, Offset::Offset(3))
            .unwrap();
        consumer.commit(&tpl, CommitMode::Sync).unwrap();
        let groups = consumer
            .fetch_group_list(None, Duration::from_secs(10))
            .unwrap();
        assert!(
            groups.groups().iter().any(|g| g.name() == "listed-group"),
            "groups listed"
        );
    })
    .await
    .unwrap();

    let deleted = client
        .delete_topics(&["admin-a"], &AdminOptions::new())
        .await
        .unwrap();
    assert!(deleted.iter().all(Result::is_ok), "{deleted:?}");
    let bootstrap3 = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        let consumer = consumer(&bootstrap3, "after-delete");
        let metadata = consumer
            .fetch_metadata(None, Duration::from_secs(10))
            .unwrap();
        assert!(
            !metadata.topics().iter().any(|t| t.name() == "admin-a"),
            "deleted topic gone"
        );
    })
    .await
    .unwrap();
    broker.shutdown().await;
}
