//! Shared set-up of the listener container's tests against the bundled
//! broker (in-process, port 0): configurations, a producer, waits that poll
//! a condition under a deadline, a listener that records what it sees,
//! committed offsets and topic contents, and a recoverer that counts its
//! calls and can fail.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokafka_broker::{Broker, BrokerHandle};
use ferrokafka_consumer::{
    Consumer, ConsumerConfig, ConsumerConfigBuilder, ConsumerRecord, OffsetReset, TopicPartition,
};
use ferrokafka_listener::{BoxFuture, ListenerError, MessageListener, Recoverer, listener_fn};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};

pub(crate) const WAIT: Duration = Duration::from_secs(60);

pub(crate) fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub(crate) async fn broker() -> BrokerHandle {
    init_tracing();
    Broker::builder().nodes(1).start().await.unwrap()
}

pub(crate) fn config(broker: &BrokerHandle) -> ConsumerConfigBuilder {
    ConsumerConfig::builder()
        .bootstrap_servers(broker.bootstrap_servers().split(','))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .fetch_max_wait(Duration::from_millis(100))
        .auto_offset_reset(OffsetReset::Earliest)
}

pub(crate) fn group_config(broker: &BrokerHandle, group: &str) -> ConsumerConfig {
    config(broker)
        .group_id(group)
        .session_timeout(Duration::from_millis(6_000))
        .heartbeat_interval(Duration::from_millis(100))
        .max_poll_interval(Duration::from_millis(10_000))
        .build()
        .unwrap()
}

pub(crate) async fn producer(broker: &BrokerHandle) -> Producer {
    Producer::connect(
        ProducerConfig::builder()
            .bootstrap_servers(broker.bootstrap_servers().split(','))
            .linger(Duration::from_millis(1))
            .build()
            .unwrap(),
    )
    .await
    .unwrap()
}

/// Sends `value` with key `key` to `topic`-`partition` and waits for it.
pub(crate) async fn send(
    producer: &Producer,
    topic: &str,
    partition: i32,
    key: &str,
    value: &str,
) -> i64 {
    let record = ProducerRecord::new(topic)
        .partition(partition)
        .key(Bytes::copy_from_slice(key.as_bytes()))
        .value(Bytes::copy_from_slice(value.as_bytes()));
    producer.send(record).await.unwrap().await.unwrap().offset
}

/// Waits until `condition` holds, panicking with `what` after [`WAIT`].
pub(crate) async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(crate) fn text(bytes: Option<&Bytes>) -> String {
    String::from_utf8(bytes.unwrap().to_vec()).unwrap()
}

/// Values seen by a listener, in arrival order.
pub(crate) type Seen = Arc<Mutex<Vec<String>>>;

/// A listener that records every value it sees.
pub(crate) fn recording(seen: &Seen) -> impl MessageListener {
    let seen = seen.clone();
    listener_fn(move |record: ConsumerRecord| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(text(record.value.as_ref()));
            Ok::<(), ListenerError>(())
        }
    })
}

pub(crate) fn count(seen: &Seen) -> usize {
    seen.lock().unwrap().len()
}

/// The group's committed offset of `topic`-`partition`.
pub(crate) async fn committed(
    broker: &BrokerHandle,
    group: &str,
    topic: &str,
    partition: i32,
) -> Option<i64> {
    let consumer = Consumer::connect(config(broker).group_id(group).build().unwrap())
        .await
        .unwrap();
    let tp = TopicPartition::new(topic, partition);
    let offsets = consumer
        .committed(std::slice::from_ref(&tp), Duration::from_secs(5))
        .await
        .unwrap();
    offsets.get(&tp).cloned().flatten().map(|o| o.offset)
}

/// Every record of `topic`-`partition` up to its end offset `count`.
pub(crate) async fn read_all(
    broker: &BrokerHandle,
    topic: &str,
    partition: i32,
    count: usize,
) -> Vec<ConsumerRecord> {
    let mut consumer = Consumer::connect(config(broker).build().unwrap())
        .await
        .unwrap();
    consumer
        .assign([TopicPartition::new(topic, partition)])
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let mut out = Vec::new();
    while out.len() < count {
        assert!(
            Instant::now() < deadline,
            "timed out reading {topic}-{partition}"
        );
        out.extend(consumer.poll(Duration::from_millis(200)).await.unwrap());
    }
    consumer.close(Duration::from_secs(1)).await;
    out
}

pub(crate) fn header(record: &ConsumerRecord, key: &str) -> String {
    let header = record
        .last_header(key)
        .unwrap_or_else(|| panic!("no header {key}"));
    text(header.value.as_ref())
}

/// A recoverer that counts its calls and fails the first `failures` times.
#[derive(Default)]
pub(crate) struct CountingRecoverer {
    pub(crate) calls: AtomicUsize,
    pub(crate) failures: usize,
}

impl Recoverer for CountingRecoverer {
    fn recover<'a>(
        &'a self,
        _record: &'a ConsumerRecord,
        _error: &'a ListenerError,
    ) -> BoxFuture<'a, Result<(), ListenerError>> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let failures = self.failures;
        Box::pin(async move {
            if call < failures {
                Err("recoverer is down".into())
            } else {
                Ok(())
            }
        })
    }
}
