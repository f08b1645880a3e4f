//! Set-up shared by the transaction suites (`transactions.rs`,
//! `transactions_faults.rs`): the bundled broker on port 0, producers and
//! readers, and the sentinel that ends a read.
//!
//! The sentinel: after the records under test, a plain producer writes
//! [`SENTINEL`] to every partition. A read_committed reader only gets a
//! record once every transaction begun before it is decided, so reading
//! until each partition's sentinel proves that everything before it was
//! seen (committed records) or will never be (aborted ones): nothing
//! waits in silence for records that should not come.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ferrokafka_broker::{Broker, BrokerHandle, FaultAction};
use ferrokafka_consumer::{Consumer, ConsumerConfig, IsolationLevel, OffsetReset, TopicPartition};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use ferrokafka_protocol::ApiKey;

/// The value that ends a read on each partition.
pub(crate) const SENTINEL: &str = "sentinel";

/// How long a read to the sentinels may take before the test fails.
pub(crate) const READ_DEADLINE: Duration = Duration::from_secs(30);

pub(crate) fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// A one-node broker.
pub(crate) async fn broker() -> BrokerHandle {
    init_tracing();
    Broker::builder().start().await.unwrap()
}

/// A broker of `nodes` nodes (node 0 coordinates), recording requests.
pub(crate) async fn multi_node_broker(nodes: i32) -> BrokerHandle {
    init_tracing();
    Broker::builder()
        .nodes(nodes)
        .record_requests(true)
        .start()
        .await
        .unwrap()
}

/// A transactional producer whose calls wait up to 10 s (`max.block.ms`).
pub(crate) async fn transactional(broker: &BrokerHandle, id: &str, linger: Duration) -> Producer {
    transactional_with(broker, id, linger, Duration::from_secs(10)).await
}

/// A transactional producer whose calls wait up to `max_block`.
pub(crate) async fn transactional_with(
    broker: &BrokerHandle,
    id: &str,
    linger: Duration,
    max_block: Duration,
) -> Producer {
    let config = ProducerConfig::builder()
        .bootstrap_servers(broker.bootstrap_servers().split(','))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .transactional_id(id)
        .linger(linger)
        .max_block(max_block)
        .build()
        .unwrap();
    Producer::connect(config).await.unwrap()
}

/// An idempotent producer without transactions.
pub(crate) async fn plain(broker: &BrokerHandle) -> Producer {
    let config = ProducerConfig::builder()
        .bootstrap_servers(broker.bootstrap_servers().split(','))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .build()
        .unwrap();
    Producer::connect(config).await.unwrap()
}

pub(crate) async fn reader(broker: &BrokerHandle, isolation: IsolationLevel) -> Consumer {
    let config = ConsumerConfig::builder()
        .bootstrap_servers(broker.bootstrap_servers().split(','))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .fetch_max_wait(Duration::from_millis(50))
        .auto_offset_reset(OffsetReset::Earliest)
        .isolation_level(isolation)
        .build()
        .unwrap();
    Consumer::connect(config).await.unwrap()
}

pub(crate) fn values(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}{i}")).collect()
}

/// Sends each `(partition, value)` and waits until every one is written.
pub(crate) async fn send_to(producer: &Producer, topic: &str, records: &[(i32, String)]) {
    let mut deliveries = Vec::new();
    for (partition, value) in records {
        let record = ProducerRecord::new(topic)
            .partition(*partition)
            .value(value.clone());
        deliveries.push(producer.send(record).await.unwrap());
    }
    producer.flush().await;
    for delivery in deliveries {
        delivery.await.unwrap();
    }
}

/// `values` spread round-robin over `partitions`.
pub(crate) fn round_robin(values: &[String], partitions: i32) -> Vec<(i32, String)> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| (i as i32 % partitions, v.clone()))
        .collect()
}

/// What each partition should hold, in order.
pub(crate) fn by_partition(records: &[(i32, String)]) -> BTreeMap<i32, Vec<String>> {
    let mut map: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for (partition, value) in records {
        map.entry(*partition).or_default().push(value.clone());
    }
    map
}

/// Writes the sentinel to every partition of `topic` with a plain producer.
pub(crate) async fn seal(broker: &BrokerHandle, topic: &str, partitions: i32) {
    let producer = plain(broker).await;
    let sentinels: Vec<(i32, String)> = (0..partitions).map(|p| (p, SENTINEL.into())).collect();
    send_to(&producer, topic, &sentinels).await;
    producer.close(Duration::from_secs(5)).await;
}

pub(crate) fn assign_all(consumer: &mut Consumer, topic: &str, partitions: i32) {
    consumer
        .assign((0..partitions).map(|p| TopicPartition::new(topic, p)))
        .unwrap();
}

/// Polls `consumer` (assigned every partition of `topic`) until each
/// partition gave its sentinel; returns each partition's values before it,
/// in order. Fails the test at `READ_DEADLINE` or if a value follows a
/// sentinel.
pub(crate) async fn read_to_sentinels(
    consumer: &mut Consumer,
    topic: &str,
    partitions: i32,
) -> BTreeMap<i32, Vec<String>> {
    let all: Vec<i32> = (0..partitions).collect();
    read_until_sealed(consumer, topic, &all, &mut BTreeSet::new()).await
}

/// Polls `consumer` until each partition in `wanted` gave its sentinel;
/// returns the values seen before the sentinels, by partition (on any
/// partition). `sealed` holds the partitions whose sentinel was seen, by
/// this or an earlier read: a value after a sentinel fails the test, as
/// does `READ_DEADLINE` passing.
pub(crate) async fn read_until_sealed(
    consumer: &mut Consumer,
    topic: &str,
    wanted: &[i32],
    sealed: &mut BTreeSet<i32>,
) -> BTreeMap<i32, Vec<String>> {
    let end = Instant::now() + READ_DEADLINE;
    let mut seen: BTreeMap<i32, Vec<String>> = wanted.iter().map(|p| (*p, Vec::new())).collect();
    while !wanted.iter().all(|p| sealed.contains(p)) {
        assert!(
            Instant::now() < end,
            "no sentinel on some of partitions {wanted:?} of {topic} after {READ_DEADLINE:?} \
             (sealed: {sealed:?}); seen {seen:?}"
        );
        for record in consumer.poll(Duration::from_millis(100)).await.unwrap() {
            assert_eq!(record.topic, topic);
            let value = String::from_utf8(record.value.unwrap().to_vec()).unwrap();
            assert!(
                !sealed.contains(&record.partition),
                "{value:?} after the sentinel of partition {}",
                record.partition
            );
            if value == SENTINEL {
                sealed.insert(record.partition);
            } else {
                seen.entry(record.partition).or_default().push(value);
            }
        }
    }
    seen
}

/// Reads `topic` with a fresh read_committed reader up to the sentinels
/// (written by [`seal`] first).
pub(crate) async fn committed_contents(
    broker: &BrokerHandle,
    topic: &str,
    partitions: i32,
) -> BTreeMap<i32, Vec<String>> {
    seal(broker, topic, partitions).await;
    let mut consumer = reader(broker, IsolationLevel::ReadCommitted).await;
    assign_all(&mut consumer, topic, partitions);
    let seen = read_to_sentinels(&mut consumer, topic, partitions).await;
    consumer.close(Duration::from_secs(1)).await;
    seen
}

/// Asserts that exactly the `expected` faults fired, in that order, and
/// that no injected rule is left unspent.
pub(crate) fn assert_faults_fired(broker: &BrokerHandle, expected: &[(ApiKey, FaultAction)]) {
    let fired: Vec<(ApiKey, FaultAction)> = broker
        .faults_fired()
        .into_iter()
        .map(|f| (f.api, f.action))
        .collect();
    assert_eq!(fired, expected, "the faults that fired");
    let pending = broker.pending_faults();
    assert!(pending.is_empty(), "faults that never fired: {pending:?}");
}

/// A transaction marker (control batch) in a partition's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marker {
    pub(crate) producer_id: i64,
    pub(crate) commit: bool,
}

/// The transaction markers of `topic`-`partition`, in log order, read from
/// the raw batches (magic 2 header: attributes at byte 21, producer id at
/// 43, records from 61; a control record's key is version:i16, type:i16,
/// type 1 = COMMIT).
pub(crate) fn markers(broker: &BrokerHandle, topic: &str, partition: i32) -> Vec<Marker> {
    let batches = broker.batches(topic, partition).unwrap();
    let mut markers = Vec::new();
    for batch in batches {
        let attributes = i16::from_be_bytes([batch[21], batch[22]]);
        if attributes & 0x20 == 0 {
            continue;
        }
        let producer_id = i64::from_be_bytes(batch[43..51].try_into().unwrap());
        let mut at = 61;
        let _length = varint(&batch, &mut at);
        at += 1; // record attributes
        let _timestamp_delta = varint(&batch, &mut at);
        let _offset_delta = varint(&batch, &mut at);
        let key_length = varint(&batch, &mut at);
        assert_eq!(key_length, 4, "a control record key is 4 bytes");
        let kind = i16::from_be_bytes([batch[at + 2], batch[at + 3]]);
        markers.push(Marker {
            producer_id,
            commit: kind == 1,
        });
    }
    markers
}

/// A zigzag varint at `*at`, advancing past it.
fn varint(bytes: &[u8], at: &mut usize) -> i64 {
    let mut raw: u64 = 0;
    let mut shift = 0;
    loop {
        let byte = bytes[*at];
        *at += 1;
        raw |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    ((raw >> 1) as i64) ^ -((raw & 1) as i64)
}
