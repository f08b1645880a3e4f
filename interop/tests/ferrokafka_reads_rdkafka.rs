//! The ferrokafka consumer reads what librdkafka wrote: batches librdkafka
//! compressed with each codec (its own gzip, snappy, lz4 and zstd encoders,
//! idempotent, several records per batch, keys, null keys and values,
//! headers), and librdkafka transactions that commit and abort in turn across
//! partitions. Every record librdkafka acknowledged is read exactly once, at
//! the offset librdkafka was told, with its bytes intact; under
//! `read_committed` nothing of an aborted transaction shows and no control
//! record is ever handed over. Reading ends at each partition's end offset or
//! at a committed sentinel record, never after a wait in silence.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrokafka_broker::Broker;
use ferrokafka_consumer::{
    Consumer, ConsumerConfig, ConsumerRecord, IsolationLevel, OffsetReset, TopicPartition,
};
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{
    BaseRecord, DefaultProducerContext, FutureProducer, FutureRecord, Producer, ThreadedProducer,
};

const DEADLINE: Duration = Duration::from_secs(60);
const PARTITIONS: i32 = 4;
const TIMEOUT: Duration = Duration::from_secs(30);

/// librdkafka's names for the codecs it writes.
const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

/// Record `i` of a codec's run, as librdkafka sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn expected(codec: &str, i: usize) -> Expected {
    let key = (!i.is_multiple_of(11)).then(|| format!("key-{}", i % 7).into_bytes());
    let value = (!i.is_multiple_of(13))
        .then(|| format!("{codec} value {i} {}", "x".repeat(i % 50)).into_bytes());
    let mut headers = vec![("i".to_owned(), Some(i.to_string().into_bytes()))];
    if i % 2 == 1 {
        headers.push(("null".to_owned(), None));
    }
    Expected {
        key,
        value,
        headers,
    }
}

fn seen(record: &ConsumerRecord) -> Expected {
    Expected {
        key: record.key.as_ref().map(|k| k.to_vec()),
        value: record.value.as_ref().map(|v| v.to_vec()),
        headers: record
            .headers
            .iter()
            .map(|h| {
                (
                    String::from_utf8(h.key.to_vec()).unwrap(),
                    h.value.as_ref().map(|v| v.to_vec()),
                )
            })
            .collect(),
    }
}

fn ferrokafka_consumer(bootstrap: &str, isolation: IsolationLevel) -> ConsumerConfig {
    ConsumerConfig::builder()
        .bootstrap_servers([bootstrap.to_owned()])
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(false)
        .check_crcs(true)
        .isolation_level(isolation)
        .build()
        .unwrap()
}

fn partitions(topic: &str) -> Vec<TopicPartition> {
    (0..PARTITIONS)
        .map(|p| TopicPartition::new(topic, p))
        .collect()
}

/// Everything in `topic` up to each partition's end offset, as read by one
/// ferrokafka consumer: a record read twice shows up twice.
async fn read_to_end(bootstrap: &str, topic: &str) -> Vec<ConsumerRecord> {
    let mut consumer = Consumer::connect(ferrokafka_consumer(
        bootstrap,
        IsolationLevel::ReadUncommitted,
    ))
    .await
    .unwrap();
    let partitions = partitions(topic);
    consumer.assign(partitions.clone()).unwrap();
    let ends = consumer.end_offsets(&partitions, TIMEOUT).await.unwrap();
    let start = Instant::now();
    let mut read = Vec::new();
    loop {
        let mut done = true;
        for tp in &partitions {
            if consumer.position(tp).await.unwrap() < ends[tp] {
                done = false;
            }
        }
        if done {
            break;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "read {} records of {topic}, ends {ends:?}",
            read.len()
        );
        read.extend(consumer.poll(Duration::from_millis(100)).await.unwrap());
    }
    consumer.close(TIMEOUT).await;
    read
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_librdkafka_compressed_are_read_exactly_once_in_every_codec() {
    let broker = Broker::builder().start().await.unwrap();
    let bootstrap = broker.bootstrap_address();
    const COUNT: usize = 600;
    for codec in CODECS {
        let topic = format!("from-rd-{codec}");
        broker.create_topic(&topic, PARTITIONS).unwrap();
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set("broker.address.family", "v4")
            .set("compression.codec", codec)
            .set("enable.idempotence", "true")
            .set("linger.ms", "20")
            .create()
            .unwrap();
        let mut deliveries = Vec::new();
        for i in 0..COUNT {
            let Expected {
                key,
                value,
                headers,
            } = expected(codec, i);
            let mut owned = OwnedHeaders::new();
            for (name, value) in &headers {
                owned = owned.insert(Header {
                    key: name.as_str(),
                    value: value.as_deref(),
                });
            }
            let mut record = FutureRecord::<[u8], [u8]>::to(&topic)
                .partition((i % PARTITIONS as usize) as i32)
                .headers(owned);
            if let Some(key) = &key {
                record = record.key(key.as_slice());
            }
            if let Some(value) = &value {
                record = record.payload(value.as_slice());
            }
            // Queued without waiting, so that librdkafka fills batches.
            deliveries.push(producer.send_result(record).map_err(|(e, _)| e).unwrap());
        }
        let mut landed = BTreeMap::new();
        for (i, delivery) in deliveries.into_iter().enumerate() {
            let delivery = delivery.await.unwrap().map_err(|(e, _)| e).unwrap();
            assert!(
                landed
                    .insert((delivery.partition, delivery.offset), i)
                    .is_none(),
                "{codec}: two records acknowledged at one offset"
            );
        }
        drop(producer);
        // librdkafka did batch (and so compress) several records together.
        let batches: usize = (0..PARTITIONS)
            .map(|p| broker.batches(&topic, p).unwrap().len())
            .sum();
        assert!(
            batches < COUNT / 4,
            "{codec}: {batches} batches for {COUNT} records"
        );

        let read = read_to_end(&bootstrap, &topic).await;
        assert_eq!(read.len(), COUNT, "{codec}: each record exactly once");
        let mut last = BTreeMap::new();
        let mut got = vec![0; COUNT];
        for record in &read {
            let i = *landed
                .get(&(record.partition, record.offset))
                .unwrap_or_else(|| panic!("{codec}: unacknowledged {record:?}"));
            got[i] += 1;
            assert_eq!(seen(record), expected(codec, i), "{codec}: record {i}");
            if let Some(previous) = last.insert(record.partition, record.offset) {
                assert!(record.offset > previous, "{codec}: out of order {record:?}");
            }
        }
        assert!(got.iter().all(|n| *n == 1), "{codec}: {got:?}");
    }
    broker.shutdown().await;
}

/// What one librdkafka transaction writes: `value(t, p, n)` for record `n`
/// on partition `p`.
fn txn_value(t: usize, p: i32, n: usize) -> String {
    format!("t{t}-p{p}-n{n}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_transactions_are_read_committed_by_ferrokafka() {
    let broker = Broker::builder().start().await.unwrap();
    let bootstrap = broker.bootstrap_address();
    const TOPIC: &str = "from-rd-txn";
    const TRANSACTIONS: usize = 12;
    const PER_PARTITION: usize = 5;
    const SENTINEL: &str = "end";
    broker.create_topic(TOPIC, PARTITIONS).unwrap();

    // Transaction t commits unless t % 3 == 1; its records are lz4 batches.
    // A last committed transaction writes the sentinel to every partition.
    let committed = |t: usize| t % 3 != 1;
    let writer = bootstrap.clone();
    tokio::task::spawn_blocking(move || {
        // A thread of its own serves librdkafka's delivery reports, which an
        // abort waits for.
        let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &writer)
            .set("broker.address.family", "v4")
            .set("transactional.id", "rd-to-fk")
            .set("compression.codec", "lz4")
            .set("linger.ms", "5")
            .create()
            .unwrap();
        producer.init_transactions(TIMEOUT).unwrap();
        for t in 0..=TRANSACTIONS {
            producer.begin_transaction().unwrap();
            for p in 0..PARTITIONS {
                if t == TRANSACTIONS {
                    let record = BaseRecord::<(), str>::to(TOPIC)
                        .partition(p)
                        .payload(SENTINEL);
                    producer.send(record).map_err(|(e, _)| e).unwrap();
                    continue;
                }
                for n in 0..PER_PARTITION {
                    let value = txn_value(t, p, n);
                    let record = BaseRecord::<(), str>::to(TOPIC)
                        .partition(p)
                        .payload(&value);
                    producer.send(record).map_err(|(e, _)| e).unwrap();
                }
            }
            if t == TRANSACTIONS || committed(t) {
                producer.commit_transaction(TIMEOUT).unwrap();
            } else {
                // Flushed first: librdkafka purges what it has not sent yet
                // when it aborts, and the aborted records must be in the log.
                producer.flush(TIMEOUT).unwrap();
                producer.abort_transaction(TIMEOUT).unwrap();
            }
        }
    })
    .await
    .unwrap();

    for isolation in [
        IsolationLevel::ReadCommitted,
        IsolationLevel::ReadUncommitted,
    ] {
        let mut consumer = Consumer::connect(ferrokafka_consumer(&bootstrap, isolation))
            .await
            .unwrap();
        consumer.assign(partitions(TOPIC)).unwrap();
        let mut values: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        let start = Instant::now();
        while values.len() < PARTITIONS as usize
            || values
                .values()
                .any(|v| v.last().map(String::as_str) != Some(SENTINEL))
        {
            assert!(
                start.elapsed() < DEADLINE,
                "{isolation:?}: read only {values:?}"
            );
            for record in consumer.poll(Duration::from_millis(100)).await.unwrap() {
                let value = String::from_utf8(record.value.unwrap().to_vec()).unwrap();
                values.entry(record.partition).or_default().push(value);
            }
        }
        consumer.close(TIMEOUT).await;
        for p in 0..PARTITIONS {
            let want: Vec<String> = (0..TRANSACTIONS)
                .filter(|&t| isolation == IsolationLevel::ReadUncommitted || committed(t))
                .flat_map(|t| (0..PER_PARTITION).map(move |n| txn_value(t, p, n)))
                .chain([SENTINEL.to_owned()])
                .collect();
            assert_eq!(values[&p], want, "{isolation:?}: partition {p}");
        }
    }
    broker.shutdown().await;
}
