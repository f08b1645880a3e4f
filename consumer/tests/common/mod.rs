//! Shared set-up of the consumer's integration tests against the bundled
//! broker (in-process, port 0): configurations, a producer that writes
//! through the client core (the consumer's tests do not depend on the
//! producer crate's behaviour), waits that poll a condition under a
//! deadline, a consumer polling on its own task, exact read counts, and
//! the Fetch requests the broker saw.
//!
//! Reads are counted as a multiset of (partition, offset, value): a record
//! read twice counts twice, so a test that expects each record once fails
//! on a duplicate instead of folding it into a set.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokafka_broker::{Broker, BrokerHandle};
use ferrokafka_client::{Client, ClientConfig, Target};
use ferrokafka_consumer::{
    Consumer, ConsumerConfig, ConsumerConfigBuilder, ConsumerRecord, OffsetReset,
    RebalanceListener, TopicPartition,
};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::compression::Compression;
use ferrokafka_protocol::generated::ProduceRequest;
use ferrokafka_protocol::generated::RequestKind;
use ferrokafka_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use ferrokafka_protocol::records::{RecordBatchBuilder, RecordHeader};

/// How long a test waits for something that takes milliseconds on an idle
/// machine: generous, so a loaded machine does not fail the test.
pub(crate) const WAIT: Duration = Duration::from_secs(60);

pub(crate) fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub(crate) async fn broker(nodes: i32) -> BrokerHandle {
    init_tracing();
    Broker::builder().nodes(nodes).start().await.unwrap()
}

pub(crate) fn config(broker: &BrokerHandle) -> ConsumerConfigBuilder {
    ConsumerConfig::builder()
        .bootstrap_servers(broker.bootstrap_servers().split(','))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .fetch_max_wait(Duration::from_millis(100))
        .auto_offset_reset(OffsetReset::Earliest)
}

pub(crate) fn group_config(broker: &BrokerHandle, group: &str) -> ConsumerConfigBuilder {
    config(broker)
        .group_id(group)
        .session_timeout(Duration::from_millis(6_000))
        .heartbeat_interval(Duration::from_millis(100))
        .max_poll_interval(Duration::from_millis(10_000))
}

/// Writes records with Produce requests through the client core.
pub(crate) struct Producer {
    client: Client,
}

impl Producer {
    pub(crate) async fn close(&self, _timeout: Duration) {
        self.client.close();
    }
}

pub(crate) async fn producer(broker: &BrokerHandle) -> Producer {
    let config = ClientConfig::builder()
        .bootstrap_servers(broker.bootstrap_servers().split(','))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .build()
        .unwrap();
    Producer {
        client: Client::connect(config).await.unwrap(),
    }
}

/// A record as written: (partition, offset, value).
pub(crate) type Written = (i32, i64, String);

/// Produces `count` records to `partition`, numbered from `from` (value
/// `value-{n}`, key `key-{n}`, header `n`), in batches of up to 7 records
/// (so that seeks land inside batches), and waits for every
/// acknowledgement. Returns each record with the offset the broker gave it.
pub(crate) async fn produce(
    producer: &Producer,
    topic: &str,
    partition: i32,
    from: usize,
    count: usize,
) -> Vec<Written> {
    let values: Vec<(usize, String)> = (from..from + count)
        .map(|i| (i, format!("value-{i}")))
        .collect();
    produce_values(producer, topic, partition, &values).await
}

/// Produces the given (number, value) records to `partition` as
/// [`produce`] does, and returns them with their offsets.
pub(crate) async fn produce_values(
    producer: &Producer,
    topic: &str,
    partition: i32,
    values: &[(usize, String)],
) -> Vec<Written> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut written = Vec::with_capacity(values.len());
    for chunk in values.chunks(7) {
        let mut builder = RecordBatchBuilder::new(Compression::None);
        for (i, value) in chunk {
            builder
                .append(
                    now,
                    Some(format!("key-{i}").as_bytes()),
                    Some(value.as_bytes()),
                    &[RecordHeader::new(
                        Bytes::from_static(b"n"),
                        Some(Bytes::from(i.to_string())),
                    )],
                )
                .unwrap();
        }
        let batch = builder.build().unwrap();
        let request = ProduceRequest {
            acks: -1,
            timeout_ms: 10_000,
            topic_data: vec![TopicProduceData {
                name: topic.to_string(),
                partition_data: vec![PartitionProduceData {
                    index: partition,
                    records: Some(batch),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let deadline = Instant::now() + WAIT;
        let base_offset = loop {
            let target = Target::Leader {
                topic: topic.to_string(),
                partition,
            };
            let leader = producer.client.resolve(&target).await.unwrap().unwrap();
            let connection = producer.client.node_connection(leader).await.unwrap();
            let version = connection.version_for::<ProduceRequest>().unwrap().min(12);
            let (code, base_offset) = match connection.send_at(&request, version).await {
                Ok(response) => {
                    let p = &response.responses[0].partition_responses[0];
                    (p.error_code, p.base_offset)
                }
                Err(_) => (ErrorCode::NetworkException, -1),
            };
            if code == ErrorCode::None {
                break base_offset;
            }
            assert!(Instant::now() < deadline, "produce failed: {code}");
            producer.client.refresh_metadata().await.unwrap();
            // Retry backoff while the leader moves.
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        for (k, (_, value)) in chunk.iter().enumerate() {
            written.push((partition, base_offset + k as i64, value.clone()));
        }
    }
    written
}

/// Polls until `count` records arrived or the deadline passes.
pub(crate) async fn poll_until(
    consumer: &mut Consumer,
    count: usize,
    within: Duration,
) -> Vec<ConsumerRecord> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records arrived",
            out.len()
        );
        out.extend(consumer.poll(Duration::from_millis(200)).await.unwrap());
    }
    out
}

pub(crate) fn value(record: &ConsumerRecord) -> String {
    String::from_utf8(record.value.clone().unwrap().to_vec()).unwrap()
}

/// Waits until `condition` holds, checking every 20 ms; panics naming
/// `what` after `within`.
pub(crate) async fn wait_for(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// How many times each record, (partition, offset, value), was read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Reads(pub BTreeMap<Written, usize>);

impl Reads {
    /// The records read, each counted as often as it was.
    pub(crate) fn of<'a>(records: impl IntoIterator<Item = &'a ConsumerRecord>) -> Reads {
        let mut reads = Reads::default();
        for record in records {
            reads.add(record.partition, record.offset, value(record));
        }
        reads
    }

    /// Every written record, once.
    pub(crate) fn once<'a>(written: impl IntoIterator<Item = &'a Written>) -> Reads {
        let mut reads = Reads::default();
        for (p, o, v) in written {
            reads.add(*p, *o, v.clone());
        }
        reads
    }

    pub(crate) fn add(&mut self, partition: i32, offset: i64, value: String) {
        *self.0.entry((partition, offset, value)).or_default() += 1;
    }

    /// Adds `other`'s counts to these.
    pub(crate) fn merge(&mut self, other: &Reads) {
        for (key, count) in &other.0 {
            *self.0.entry(key.clone()).or_default() += count;
        }
    }

    /// Whether every record of `expected` was read at least once.
    pub(crate) fn covers(&self, expected: &Reads) -> bool {
        expected.0.keys().all(|key| self.0.contains_key(key))
    }

    /// The (partition, offset) pairs read.
    pub(crate) fn offsets(&self) -> BTreeSet<(i32, i64)> {
        self.0.keys().map(|(p, o, _)| (*p, *o)).collect()
    }

    pub(crate) fn total(&self) -> usize {
        self.0.values().sum()
    }

    /// Panics, listing the differences, unless these are exactly `expected`:
    /// nothing missing, nothing read more often than expected, nothing that
    /// was never written.
    pub(crate) fn assert_exactly(&self, expected: &Reads, what: &str) {
        if self == expected {
            return;
        }
        let mut missing = Vec::new();
        let mut wrong_count = Vec::new();
        for (key, want) in &expected.0 {
            match self.0.get(key) {
                None => missing.push(key.clone()),
                Some(got) if got != want => wrong_count.push((key.clone(), *got, *want)),
                Some(_) => {}
            }
        }
        let unexpected: Vec<_> = self
            .0
            .iter()
            .filter(|(key, _)| !expected.0.contains_key(*key))
            .collect();
        panic!(
            "{what}: {} missing (first {:?}), {} read a wrong number of times \
             ((record, read, expected), first {:?}), {} never written (first {:?})",
            missing.len(),
            missing.iter().take(10).collect::<Vec<_>>(),
            wrong_count.len(),
            wrong_count.iter().take(10).collect::<Vec<_>>(),
            unexpected.len(),
            unexpected.iter().take(10).collect::<Vec<_>>(),
        );
    }
}

/// A consumer polling on its own task, as an application would.
pub(crate) struct Poller {
    stop: Arc<AtomicBool>,
    records: Arc<Mutex<Vec<ConsumerRecord>>>,
    assignment: Arc<Mutex<Vec<TopicPartition>>>,
    task: tokio::task::JoinHandle<Consumer>,
}

impl Poller {
    pub(crate) fn spawn(consumer: Consumer) -> Poller {
        Poller::spawn_into(consumer, Arc::new(Mutex::new(Vec::new())))
    }

    /// Polls `consumer`, appending what it returns to `records`.
    pub(crate) fn spawn_into(
        mut consumer: Consumer,
        records: Arc<Mutex<Vec<ConsumerRecord>>>,
    ) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let assignment = Arc::new(Mutex::new(Vec::new()));
        let (s, r, a) = (stop.clone(), records.clone(), assignment.clone());
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Acquire) {
                let batch = consumer.poll(Duration::from_millis(100)).await.unwrap();
                r.lock().unwrap().extend(batch);
                *a.lock().unwrap() = consumer.assignment();
            }
            consumer
        });
        Poller {
            stop,
            records,
            assignment,
            task,
        }
    }

    pub(crate) fn assignment(&self) -> Vec<TopicPartition> {
        self.assignment.lock().unwrap().clone()
    }

    /// Everything read so far, each record counted as often as it was read.
    pub(crate) fn reads(&self) -> Reads {
        Reads::of(self.records.lock().unwrap().iter())
    }

    /// Stops polling (after the poll under way) and hands the consumer back.
    pub(crate) async fn stop(self) -> Consumer {
        self.finish().await.0
    }

    /// Stops polling and hands back the consumer and everything it read.
    pub(crate) async fn finish(self) -> (Consumer, Reads) {
        self.stop.store(true, Ordering::Release);
        let consumer = self.task.await.unwrap();
        let reads = Reads::of(self.records.lock().unwrap().iter());
        (consumer, reads)
    }
}

/// The reads of several pollers together.
pub(crate) fn reads_of(pollers: &[&Poller]) -> Reads {
    let mut reads = Reads::default();
    for poller in pollers {
        reads.merge(&poller.reads());
    }
    reads
}

/// A rebalance listener that logs "assigned N", "revoked N" and "lost N".
#[derive(Default, Clone)]
pub(crate) struct Events(pub Arc<Mutex<Vec<String>>>);

impl Events {
    pub(crate) fn log(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl RebalanceListener for Events {
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition]) {
        self.0
            .lock()
            .unwrap()
            .push(format!("revoked {}", partitions.len()));
    }
    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) {
        self.0
            .lock()
            .unwrap()
            .push(format!("assigned {}", partitions.len()));
    }
    fn on_partitions_lost(&mut self, partitions: &[TopicPartition]) {
        self.0
            .lock()
            .unwrap()
            .push(format!("lost {}", partitions.len()));
    }
}

/// Per partition, the records a crashed member leaves to be read again:
/// from the committed offset (where the next owner starts) up to its
/// position (where it had read to), as (committed, position).
pub(crate) type Windows = BTreeMap<i32, Vec<(i64, i64)>>;

/// Crashes `consumer` (a group member that has stopped polling): notes,
/// for each partition it owns, the committed offset and its position, then
/// drops it without leaving the group, so nothing more is committed and the
/// group notices by session timeout. Nobody else can commit those
/// partitions until then, so the committed offsets read here are where
/// their next owner starts.
pub(crate) async fn crash(mut consumer: Consumer, windows: &mut Windows) {
    let owned = consumer.assignment();
    let committed = consumer.committed(&owned, WAIT).await.unwrap();
    for tp in owned {
        let position = consumer.position(&tp).await.unwrap();
        let committed = committed[&tp].as_ref().map_or(0, |o| o.offset);
        assert!(
            committed <= position,
            "{tp}: committed {committed} beyond the position {position}"
        );
        windows
            .entry(tp.partition)
            .or_default()
            .push((committed, position));
    }
    drop(consumer);
}

/// What a group reads of `written` when each record is read once, and once
/// more for each crash window it lies in (records a crashed member read
/// after its last commit): re-delivery there and nowhere else.
pub(crate) fn expected_reads(written: &[Written], windows: &Windows) -> Reads {
    let mut reads = Reads::default();
    for (p, o, v) in written {
        let again = windows
            .get(p)
            .map_or(0, |w| w.iter().filter(|(c, e)| c <= o && o < e).count());
        reads.0.insert((*p, *o, v.clone()), 1 + again);
    }
    reads
}

/// The Fetch requests for `topic`-`partition` at `offset` the broker has
/// received since it started recording.
pub(crate) fn fetches_at(broker: &BrokerHandle, topic: &str, partition: i32, offset: i64) -> usize {
    broker
        .requests_seen()
        .iter()
        .filter(|seen| match &seen.request {
            RequestKind::Fetch(fetch) => fetch.topics.iter().any(|t| {
                (t.topic == topic || t.topic.is_empty())
                    && t.partitions
                        .iter()
                        .any(|p| p.partition == partition && p.fetch_offset == offset)
            }),
            _ => false,
        })
        .count()
}
