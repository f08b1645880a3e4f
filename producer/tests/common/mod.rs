//! Shared set-up for the producer's tests against the bundled broker
//! (in-process, port 0): the broker and producer configuration, reading a
//! partition back, and the two checks every fault test ends with: that the
//! injected faults really fired, and that the offsets the producer
//! acknowledged are where the log holds exactly those records.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use ferrokafka_broker::{Broker, BrokerHandle, FaultAction};
use ferrokafka_client::{Client, ClientConfig, Target};
use ferrokafka_producer::{DeliveryFuture, ProducerConfig, RecordMetadata};
use ferrokafka_protocol::generated::FetchRequest;
use ferrokafka_protocol::generated::fetch_request::{FetchPartition, FetchTopic};
use ferrokafka_protocol::records::{DecodeOptions, Record, decode_batches};
use ferrokafka_protocol::{ApiKey, ErrorCode};

/// Logs with `RUST_LOG=ferrokafka_producer=debug` when a test needs a look.
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

pub(crate) fn config(broker: &BrokerHandle) -> ferrokafka_producer::ProducerConfigBuilder {
    ProducerConfig::builder()
        .bootstrap_servers(broker.bootstrap_servers().split(','))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
}

pub(crate) async fn reader(broker: &BrokerHandle) -> Client {
    let config = ClientConfig::builder()
        .bootstrap_servers(broker.bootstrap_servers().split(','))
        .build()
        .unwrap();
    Client::connect(config).await.unwrap()
}

/// Every record of a partition, read back with Fetch through the client core.
pub(crate) async fn read_all(client: &Client, topic: &str, partition: i32) -> Vec<Record> {
    let mut out = Vec::new();
    let mut offset = 0i64;
    client.refresh_metadata().await.unwrap();
    loop {
        let leader = client
            .resolve(&Target::Leader {
                topic: topic.to_string(),
                partition,
            })
            .await
            .unwrap()
            .unwrap();
        let connection = client.node_connection(leader).await.unwrap();
        let request = FetchRequest {
            replica_id: -1,
            max_wait_ms: 0,
            min_bytes: 0,
            max_bytes: 64 << 20,
            topics: vec![FetchTopic {
                topic: topic.to_string(),
                partitions: vec![FetchPartition {
                    partition,
                    current_leader_epoch: -1,
                    fetch_offset: offset,
                    last_fetched_epoch: -1,
                    log_start_offset: -1,
                    partition_max_bytes: 32 << 20,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let response = connection.send_at(&request, 12).await.unwrap();
        let data = &response.responses[0].partitions[0];
        assert_eq!(data.error_code, ErrorCode::None);
        let before = out.len();
        for batch in decode_batches(
            data.records.clone().unwrap_or_default(),
            DecodeOptions::default(),
        ) {
            for record in batch.unwrap().records {
                if record.offset >= offset {
                    out.push(record);
                }
            }
        }
        if let Some(last) = out.last() {
            offset = last.offset + 1;
        }
        if out.len() == before || offset >= data.high_watermark {
            return out;
        }
    }
}

/// The system clock in milliseconds since the epoch.
pub(crate) fn wall_millis() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

pub(crate) fn value_of(record: &Record) -> String {
    String::from_utf8(record.value.clone().unwrap().to_vec()).unwrap()
}

/// Polls `done` every few milliseconds until it holds, failing the test
/// with `what` if it does not within `within`.
pub(crate) async fn wait_until(within: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {within:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What the log of `topic`-`partition` holds, straight from the broker:
/// (offset, value) for every record, in offset order.
pub(crate) fn log_of(broker: &BrokerHandle, topic: &str, partition: i32) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for batch in broker.batches(topic, partition).unwrap() {
        for batch in decode_batches(batch, DecodeOptions::default()) {
            for record in batch.unwrap().records {
                out.push((record.offset, value_of(&record)));
            }
        }
    }
    out
}

/// A record the producer acknowledged: its value (unique in its test) and
/// where the delivery result says it landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Acked {
    pub(crate) value: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
}

impl Acked {
    pub(crate) fn new(value: impl Into<String>, metadata: &RecordMetadata) -> Self {
        Acked {
            value: value.into(),
            partition: metadata.partition,
            offset: metadata.offset,
        }
    }
}

/// Awaits every delivery, in send order, expecting each to succeed.
pub(crate) async fn acknowledged(deliveries: Vec<(String, DeliveryFuture)>) -> Vec<Acked> {
    let mut acked = Vec::with_capacity(deliveries.len());
    for (value, delivery) in deliveries {
        let metadata = delivery
            .await
            .unwrap_or_else(|error| panic!("{value} failed: {error}"));
        acked.push(Acked::new(value, &metadata));
    }
    acked
}

/// What a log may hold besides the acknowledged records, and whether an
/// acknowledgement may lack its offset.
#[derive(Debug, Default)]
pub(crate) struct Allowed<'a> {
    /// Values that were not acknowledged but may be in the log (a record
    /// whose delivery failed after its request may have been applied).
    pub(crate) unacknowledged: &'a [String],
    /// Whether an acknowledgement may carry offset -1. The idempotent
    /// producer completes a batch whose own answer was lost without
    /// resending it once a later batch of its partition is acknowledged
    /// (the broker appends a partition's sequences only in order, so it was
    /// written), and then it cannot know the batch's offset.
    pub(crate) unknown_offsets: bool,
}

/// Checks the acknowledged records (in send order) against what the logs
/// of `topic`'s `partitions` hold: the record at each acknowledged offset
/// is the one acknowledged there; each acknowledged record is in the log
/// of the partition it was acknowledged on exactly once, in send order;
/// and nothing else is there beyond what `allowed` says.
pub(crate) fn assert_log_matches(
    broker: &BrokerHandle,
    topic: &str,
    partitions: i32,
    acked: &[Acked],
    allowed: &Allowed<'_>,
) {
    let unknown: Vec<&Acked> = acked.iter().filter(|a| a.offset < 0).collect();
    assert!(
        allowed.unknown_offsets || unknown.is_empty(),
        "acknowledged without an offset: {:?}",
        &unknown[..unknown.len().min(10)]
    );
    let mut by_partition: HashMap<i32, Vec<&Acked>> = HashMap::new();
    for a in acked {
        assert!(
            (0..partitions).contains(&a.partition),
            "{a:?}: no such partition"
        );
        by_partition.entry(a.partition).or_default().push(a);
    }
    let may_hold: HashSet<&str> = allowed.unacknowledged.iter().map(String::as_str).collect();
    for partition in 0..partitions {
        let log = log_of(broker, topic, partition);
        let ours = by_partition.remove(&partition).unwrap_or_default();
        let at: HashMap<i64, &str> = log.iter().map(|(o, v)| (*o, v.as_str())).collect();
        for a in ours.iter().filter(|a| a.offset >= 0) {
            assert_eq!(
                at.get(&a.offset).copied(),
                Some(a.value.as_str()),
                "{topic}-{partition}: the log at offset {} does not hold {:?}",
                a.offset,
                a.value
            );
        }
        let expected: Vec<&str> = ours.iter().map(|a| a.value.as_str()).collect();
        let wanted: HashSet<&str> = expected.iter().copied().collect();
        let held: Vec<&str> = log
            .iter()
            .map(|(_, v)| v.as_str())
            .filter(|v| wanted.contains(v))
            .collect();
        if held != expected {
            let first = held
                .iter()
                .zip(&expected)
                .position(|(h, e)| h != e)
                .unwrap_or(held.len().min(expected.len()));
            panic!(
                "{topic}-{partition}: acknowledged records not in the log exactly once in send \
                 order ({} held, {} acknowledged); first difference at {first}: held {:?}, \
                 acknowledged {:?}",
                held.len(),
                expected.len(),
                held.get(first..(first + 5).min(held.len())),
                expected.get(first..(first + 5).min(expected.len())),
            );
        }
        let extra: Vec<&(i64, String)> = log
            .iter()
            .filter(|(_, v)| !wanted.contains(v.as_str()))
            .collect();
        let unexpected: Vec<_> = extra
            .iter()
            .filter(|(_, v)| !may_hold.contains(v.as_str()))
            .take(10)
            .collect();
        assert!(
            unexpected.is_empty(),
            "{topic}-{partition}: records in the log that were not acknowledged: {unexpected:?}"
        );
        let mut once = HashSet::new();
        for (offset, value) in extra {
            assert!(
                once.insert(value.as_str()),
                "{topic}-{partition}: {value:?} is in the log twice (again at {offset})"
            );
        }
    }
}

/// Asserts that every injected fault rule is spent and that the faults
/// fired on `api` are exactly `expected`: (action, how many times).
pub(crate) fn assert_faults_fired(
    broker: &BrokerHandle,
    api: ApiKey,
    expected: &[(FaultAction, usize)],
) {
    let pending = broker.pending_faults();
    assert!(pending.is_empty(), "faults that never fired: {pending:?}");
    let fired = broker.faults_fired();
    let mut counts: Vec<(FaultAction, usize)> = Vec::new();
    for fault in fired.iter().filter(|f| f.api == api) {
        match counts
            .iter_mut()
            .find(|(action, _)| *action == fault.action)
        {
            Some((_, n)) => *n += 1,
            None => counts.push((fault.action.clone(), 1)),
        }
    }
    let mut want = expected.to_vec();
    let key = |(action, _): &(FaultAction, usize)| format!("{action:?}");
    counts.sort_by_key(key);
    want.sort_by_key(key);
    assert_eq!(counts, want, "faults fired on {api:?}: {fired:?}");
    assert!(
        fired.iter().all(|f| f.api == api),
        "faults fired on another API: {fired:?}"
    );
}
