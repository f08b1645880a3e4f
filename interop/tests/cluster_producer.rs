//! The producer's user-facing behaviour, on whichever cluster
//! [`TestCluster`] gives: real Apache Kafka when `FERROKAFKA_TEST_BOOTSTRAP`
//! names one, the bundled broker otherwise.
//!
//! Idempotent acks=all produce in every codec (none, gzip, snappy, lz4,
//! zstd) and plain acks=1 produce, with keys, null keys, null values and
//! headers: every acknowledged (partition, offset) is read back exactly once
//! with its bytes, and keyed records sit on Java's partition
//! (`partition_for_key`). Transactions that commit and abort in turn are
//! seen by `read_committed` (only the committed ones) and
//! `read_uncommitted` (all), each read ending at a committed sentinel
//! record rather than after a wait in silence.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokafka_consumer::{Consumer, ConsumerRecord, IsolationLevel, TopicPartition};
use ferrokafka_interop::TestCluster;
use ferrokafka_producer::{
    Acks, Compression, Producer, ProducerRecord, RecordMetadata, partition_for_key,
};

const PARTITIONS: i32 = 3;
const RECORDS: usize = 400;

/// Record `i` of a run, as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(Bytes, Option<Bytes>)>,
}

fn expected(tag: &str, i: usize) -> Expected {
    let key = (!i.is_multiple_of(7)).then(|| Bytes::from(format!("key-{}", i % 11)));
    let value = (!i.is_multiple_of(13))
        .then(|| Bytes::from(format!("{tag} value {i} {}", "v".repeat(i % 97))));
    let mut headers = vec![(Bytes::from("i"), Some(Bytes::from(i.to_string())))];
    if i.is_multiple_of(3) {
        headers.push((Bytes::from("null"), None));
    }
    if i.is_multiple_of(5) {
        headers.push((Bytes::from("i"), Some(Bytes::from("again"))));
    }
    Expected {
        key,
        value,
        headers,
    }
}

fn record(topic: &str, e: &Expected) -> ProducerRecord {
    let mut r = ProducerRecord::new(topic);
    if let Some(k) = &e.key {
        r = r.key(k.clone());
    }
    if let Some(v) = &e.value {
        r = r.value(v.clone());
    }
    for (k, v) in &e.headers {
        r = r.header(k.clone(), v.clone());
    }
    r
}

fn seen(r: &ConsumerRecord) -> Expected {
    Expected {
        key: r.key.clone(),
        value: r.value.clone(),
        headers: r
            .headers
            .iter()
            .map(|h| (h.key.clone(), h.value.clone()))
            .collect(),
    }
}

/// Sends `RECORDS` records through `producer`, awaits every delivery, and
/// checks that reading the topic back finds each acknowledged record exactly
/// once at its (partition, offset), with its bytes, keyed ones on Java's
/// partition.
async fn produce_and_read_back(cluster: &TestCluster, topic: &str, tag: &str, producer: Producer) {
    let mut futures = Vec::new();
    for i in 0..RECORDS {
        let e = expected(tag, i);
        futures.push((i, producer.send(record(topic, &e)).await.unwrap()));
    }
    let mut acked: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    for (i, future) in futures {
        let md: RecordMetadata = future.await.unwrap_or_else(|e| panic!("record {i}: {e}"));
        assert_eq!(md.topic.as_str(), topic);
        assert!(md.offset >= 0, "record {i} acknowledged at {md:?}");
        if let Some(key) = &expected(tag, i).key {
            assert_eq!(
                md.partition,
                partition_for_key(key, PARTITIONS as usize),
                "record {i} with key {key:?} not on Java's partition"
            );
        }
        assert!(
            acked.insert((md.partition, md.offset), i).is_none(),
            "two records acknowledged at {}-{}",
            md.partition,
            md.offset
        );
    }
    producer.close(Duration::from_secs(10)).await;

    let records = cluster
        .read_to_end(topic, PARTITIONS, IsolationLevel::ReadUncommitted)
        .await
        .unwrap();
    let mut read: BTreeMap<(i32, i64), ConsumerRecord> = BTreeMap::new();
    for r in records {
        let at = (r.partition, r.offset);
        assert!(read.insert(at, r).is_none(), "{at:?} read twice");
    }
    assert_eq!(
        read.len(),
        acked.len(),
        "{} records read, {} acknowledged",
        read.len(),
        acked.len()
    );
    for ((partition, offset), i) in &acked {
        let r = read
            .get(&(*partition, *offset))
            .unwrap_or_else(|| panic!("record {i} at {partition}@{offset} not read back"));
        assert_eq!(
            seen(r),
            expected(tag, *i),
            "record {i} at {partition}@{offset}"
        );
    }
    // Per partition, acknowledged offsets follow send order.
    let mut last: BTreeMap<i32, usize> = BTreeMap::new();
    for ((partition, _), i) in &acked {
        if let Some(prev) = last.insert(*partition, *i) {
            assert!(prev < *i, "partition {partition}: record {i} before {prev}");
        }
    }
}

async fn idempotent_codec(compression: Compression, tag: &str) {
    let cluster = TestCluster::start().await.unwrap();
    let topic = cluster.unique(&format!("producer-{tag}"));
    cluster.create_topic(&topic, PARTITIONS).await.unwrap();
    let config = cluster
        .producer_config()
        .enable_idempotence(true)
        .acks(Acks::All)
        .compression_type(compression)
        .linger(Duration::from_millis(5))
        .batch_size(4096)
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    produce_and_read_back(&cluster, &topic, tag, producer).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_acks_all_none() {
    idempotent_codec(Compression::None, "none").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_acks_all_gzip() {
    idempotent_codec(Compression::Gzip, "gzip").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_acks_all_snappy() {
    idempotent_codec(Compression::Snappy, "snappy").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_acks_all_lz4() {
    idempotent_codec(Compression::Lz4, "lz4").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_acks_all_zstd() {
    idempotent_codec(Compression::Zstd, "zstd").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_leader_without_idempotence() {
    let cluster = TestCluster::start().await.unwrap();
    let topic = cluster.unique("producer-acks1");
    cluster.create_topic(&topic, PARTITIONS).await.unwrap();
    let config = cluster
        .producer_config()
        .enable_idempotence(false)
        .acks(Acks::Leader)
        .compression_type(Compression::Lz4)
        .linger(Duration::from_millis(2))
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    produce_and_read_back(&cluster, &topic, "acks1", producer).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_commit_and_abort() {
    let cluster = TestCluster::start().await.unwrap();
    let topic = cluster.unique("producer-txn");
    cluster.create_topic(&topic, PARTITIONS).await.unwrap();
    let config = cluster
        .producer_config()
        .transactional_id(cluster.unique("txn"))
        .compression_type(Compression::Zstd)
        .linger(Duration::from_millis(2))
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    producer.init_transactions().await.unwrap();

    let mut committed: Vec<String> = Vec::new();
    let mut all: Vec<String> = Vec::new();
    for txn in 0..6 {
        producer.begin_transaction().unwrap();
        let mut futures = Vec::new();
        for i in 0..30 {
            let value = format!("txn-{txn}-{i}");
            let r = ProducerRecord::new(topic.as_str())
                .key(format!("k{i}"))
                .value(value.clone());
            futures.push(producer.send(r).await.unwrap());
            all.push(value.clone());
            if txn % 2 == 0 {
                committed.push(value);
            }
        }
        if txn % 2 == 0 {
            producer.commit_transaction().await.unwrap();
            for f in futures {
                f.await.unwrap();
            }
        } else {
            // Flushed first, so the aborted records are in the log (Java's
            // abortTransaction drops what is still unsent).
            producer.flush().await;
            for f in futures {
                f.await.unwrap();
            }
            producer.abort_transaction().await.unwrap();
        }
    }
    // A committed sentinel on every partition ends each read.
    producer.begin_transaction().unwrap();
    let mut sentinels = Vec::new();
    for p in 0..PARTITIONS {
        sentinels.push(
            producer
                .send(
                    ProducerRecord::new(topic.as_str())
                        .partition(p)
                        .value("sentinel"),
                )
                .await
                .unwrap(),
        );
    }
    producer.commit_transaction().await.unwrap();
    for s in sentinels {
        s.await.unwrap();
    }
    producer.close(Duration::from_secs(10)).await;

    let values = |records: Vec<ConsumerRecord>| -> Vec<String> {
        let mut v: Vec<String> = records
            .into_iter()
            .map(|r| String::from_utf8(r.value.unwrap().to_vec()).unwrap())
            .collect();
        v.sort();
        v
    };
    committed.sort();
    all.sort();
    let read = values(read_each_to_sentinel(&cluster, &topic, IsolationLevel::ReadCommitted).await);
    assert_eq!(read, committed, "read_committed");
    let read =
        values(read_each_to_sentinel(&cluster, &topic, IsolationLevel::ReadUncommitted).await);
    assert_eq!(read, all, "read_uncommitted");
    cluster.shutdown().await;
}

/// Reads every partition of `topic` up to its own sentinel record.
async fn read_each_to_sentinel(
    cluster: &TestCluster,
    topic: &str,
    isolation: IsolationLevel,
) -> Vec<ConsumerRecord> {
    let config = cluster
        .consumer_config()
        .isolation_level(isolation)
        .build()
        .unwrap();
    let mut consumer = Consumer::connect(config).await.unwrap();
    let tps: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    consumer.assign(tps.clone()).unwrap();
    let start = Instant::now();
    let mut out = Vec::new();
    let mut done = std::collections::BTreeSet::new();
    while done.len() < tps.len() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{isolation:?}: sentinels of {done:?} only after 60 s; read {} records",
            out.len()
        );
        for r in consumer.poll(Duration::from_millis(500)).await.unwrap() {
            if done.contains(&r.partition) {
                panic!(
                    "{isolation:?}: {r:?} after partition {}'s sentinel",
                    r.partition
                );
            }
            if r.value.as_deref() == Some(b"sentinel".as_slice()) {
                done.insert(r.partition);
                consumer.pause(&[r.topic_partition()]).unwrap();
            } else {
                out.push(r);
            }
        }
    }
    consumer.close(Duration::from_secs(5)).await;
    out
}
