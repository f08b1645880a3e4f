//! The listener container against the bundled broker (in-process, port 0):
//! groups and concurrency, commits per ack mode that resume a new container
//! without duplicates, retries then success, dead letters (after retries,
//! and at once for undecodable JSON), a failing recoverer that does not
//! skip the record, and a graceful stop that waits for the record in flight.
//! Every wait polls a condition under a deadline.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
// The dead-letter recoverer is behind the default `dead-letter` feature.
#![cfg(feature = "dead-letter")]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokafka_broker::{Broker, BrokerHandle};
use ferrokafka_consumer::listener::{
    AckMode, Acknowledgment, BoxFuture, DeadLetterRecoverer, DefaultErrorHandler, FixedBackOff,
    ListenerContainer, ListenerError, Recoverer, json_listener, listener_fn, listener_fn_with_ack,
};
use ferrokafka_consumer::{
    Consumer, ConsumerConfig, ConsumerConfigBuilder, ConsumerRecord, Error, OffsetReset,
    TopicPartition, TypedRecord,
};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};

const WAIT: Duration = Duration::from_secs(60);

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

async fn broker() -> BrokerHandle {
    init_tracing();
    Broker::builder().nodes(1).start().await.unwrap()
}

fn config(broker: &BrokerHandle) -> ConsumerConfigBuilder {
    ConsumerConfig::builder()
        .bootstrap_servers(broker.bootstrap_servers().split(','))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .fetch_max_wait(Duration::from_millis(100))
        .auto_offset_reset(OffsetReset::Earliest)
}

fn group_config(broker: &BrokerHandle, group: &str) -> ConsumerConfig {
    config(broker)
        .group_id(group)
        .session_timeout(Duration::from_millis(6_000))
        .heartbeat_interval(Duration::from_millis(100))
        .max_poll_interval(Duration::from_millis(10_000))
        .build()
        .unwrap()
}

async fn producer(broker: &BrokerHandle) -> Producer {
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
async fn send(producer: &Producer, topic: &str, partition: i32, key: &str, value: &str) -> i64 {
    let record = ProducerRecord::new(topic)
        .partition(partition)
        .key(Bytes::copy_from_slice(key.as_bytes()))
        .value(Bytes::copy_from_slice(value.as_bytes()));
    producer.send(record).await.unwrap().await.unwrap().offset
}

/// Waits until `condition` holds, panicking with `what` after [`WAIT`].
async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn text(bytes: Option<&Bytes>) -> String {
    String::from_utf8(bytes.unwrap().to_vec()).unwrap()
}

/// Values seen by a listener, in arrival order.
type Seen = Arc<Mutex<Vec<String>>>;

/// A listener that records every value it sees.
fn recording(seen: &Seen) -> impl ferrokafka_consumer::listener::MessageListener {
    let seen = seen.clone();
    listener_fn(move |record: ConsumerRecord| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(text(record.value.as_ref()));
            Ok::<(), ListenerError>(())
        }
    })
}

fn count(seen: &Seen) -> usize {
    seen.lock().unwrap().len()
}

/// The group's committed offset of `topic`-`partition`.
async fn committed(broker: &BrokerHandle, group: &str, topic: &str, partition: i32) -> Option<i64> {
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
async fn read_all(
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_groups_each_get_every_record() {
    let broker = broker().await;
    broker.create_topic("events", 2).unwrap();
    let producer = producer(&broker).await;
    let (seen_a, seen_b): (Seen, Seen) = Default::default();
    let a = ListenerContainer::builder(group_config(&broker, "group-a"))
        .topics(["events"])
        .poll_timeout(Duration::from_millis(200))
        .start(recording(&seen_a))
        .await
        .unwrap();
    let b = ListenerContainer::builder(group_config(&broker, "group-b"))
        .topics(["events"])
        .poll_timeout(Duration::from_millis(200))
        .start(recording(&seen_b))
        .await
        .unwrap();
    for i in 0..20 {
        send(&producer, "events", i % 2, "k", &format!("v{i}")).await;
    }
    wait_until("both groups read 20 records", || {
        count(&seen_a) >= 20 && count(&seen_b) >= 20
    })
    .await;
    let expected: Vec<String> = (0..20).map(|i| format!("v{i}")).collect();
    for seen in [&seen_a, &seen_b] {
        let mut got = seen.lock().unwrap().clone();
        got.sort_by_key(|v| v[1..].parse::<u32>().unwrap());
        assert_eq!(got, expected);
    }
    assert_eq!(a.assignment().len(), 2);
    assert_eq!(b.assignment().len(), 2);
    a.stop(Duration::from_secs(5)).await;
    b.stop(Duration::from_secs(5)).await;
    assert!(!a.is_running() && !b.is_running());
    assert!(a.assignment().is_empty());
    producer.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_splits_partitions_and_processes_each_record_once() {
    let broker = broker().await;
    broker.create_topic("split", 4).unwrap();
    let producer = producer(&broker).await;
    let seen: Seen = Default::default();
    let container = ListenerContainer::builder(group_config(&broker, "split-group"))
        .topics(["split"])
        .concurrency(2)
        .poll_timeout(Duration::from_millis(200))
        .start(recording(&seen))
        .await
        .unwrap();
    wait_until("each consumer owns two partitions", || {
        let by_consumer = container.assignments();
        by_consumer.len() == 2 && by_consumer.iter().all(|a| a.len() == 2)
    })
    .await;
    let by_consumer = container.assignments();
    assert!(by_consumer[0].iter().all(|tp| !by_consumer[1].contains(tp)));
    assert_eq!(container.assignment().len(), 4);
    for i in 0..40 {
        send(&producer, "split", i % 4, "k", &format!("v{i}")).await;
    }
    wait_until("40 records", || count(&seen) >= 40).await;
    container.stop(Duration::from_secs(5)).await;
    let mut got = seen.lock().unwrap().clone();
    got.sort_by_key(|v| v[1..].parse::<u32>().unwrap());
    let expected: Vec<String> = (0..40).map(|i| format!("v{i}")).collect();
    assert_eq!(got, expected, "each record exactly once");
    for p in 0..4 {
        assert_eq!(
            committed(&broker, "split-group", "split", p).await,
            Some(10)
        );
    }
    producer.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_mode_commits_so_the_next_container_skips_processed_records() {
    let broker = broker().await;
    broker.create_topic("orders", 1).unwrap();
    let producer = producer(&broker).await;
    for i in 0..10 {
        send(&producer, "orders", 0, "k", &format!("old{i}")).await;
    }
    let first: Seen = Default::default();
    let container = ListenerContainer::builder(group_config(&broker, "resume"))
        .topics(["orders"])
        .ack_mode(AckMode::Record)
        .poll_timeout(Duration::from_millis(200))
        .start(recording(&first))
        .await
        .unwrap();
    wait_until("10 records", || count(&first) >= 10).await;
    container.stop(Duration::from_secs(5)).await;
    assert_eq!(count(&first), 10);
    assert_eq!(committed(&broker, "resume", "orders", 0).await, Some(10));

    for i in 0..5 {
        send(&producer, "orders", 0, "k", &format!("new{i}")).await;
    }
    let second: Seen = Default::default();
    let container = ListenerContainer::builder(group_config(&broker, "resume"))
        .topics(["orders"])
        .poll_timeout(Duration::from_millis(200))
        .start(recording(&second))
        .await
        .unwrap();
    wait_until("5 new records", || count(&second) >= 5).await;
    container.stop(Duration::from_secs(5)).await;
    let expected: Vec<String> = (0..5).map(|i| format!("new{i}")).collect();
    assert_eq!(*second.lock().unwrap(), expected);
    producer.close(Duration::from_secs(1)).await;
}

/// A recoverer that counts its calls and fails the first `failures` times.
#[derive(Default)]
struct CountingRecoverer {
    calls: AtomicUsize,
    failures: usize,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_is_retried_until_it_succeeds() {
    let broker = broker().await;
    broker.create_topic("flaky", 1).unwrap();
    let producer = producer(&broker).await;
    for i in 0..5 {
        send(&producer, "flaky", 0, "k", &format!("r{i}")).await;
    }
    let calls: Arc<Mutex<BTreeMap<String, usize>>> = Default::default();
    let processed: Seen = Default::default();
    let recoverer = Arc::new(CountingRecoverer::default());
    let listener = {
        let (calls, processed) = (calls.clone(), processed.clone());
        listener_fn(move |record: ConsumerRecord| {
            let (calls, processed) = (calls.clone(), processed.clone());
            async move {
                let value = text(record.value.as_ref());
                let n = {
                    let mut calls = calls.lock().unwrap();
                    let n = calls.entry(value.clone()).or_insert(0);
                    *n += 1;
                    *n
                };
                if value == "r1" && n <= 3 {
                    return Err(format!("transient failure {n}").into());
                }
                processed.lock().unwrap().push(value);
                Ok(())
            }
        })
    };
    let container = ListenerContainer::builder(group_config(&broker, "retry"))
        .topics(["flaky"])
        .poll_timeout(Duration::from_millis(200))
        .error_handler(
            DefaultErrorHandler::new(FixedBackOff::new(Duration::from_millis(10), 5))
                .with_recoverer(recoverer.clone()),
        )
        .start(listener)
        .await
        .unwrap();
    wait_until("5 records processed", || count(&processed) >= 5).await;
    container.stop(Duration::from_secs(5)).await;
    let expected: Vec<String> = (0..5).map(|i| format!("r{i}")).collect();
    assert_eq!(*processed.lock().unwrap(), expected, "once each, in order");
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls["r1"], 4, "3 failures, then success");
    assert!(calls.iter().all(|(v, n)| v == "r1" || *n == 1));
    assert_eq!(recoverer.calls.load(Ordering::SeqCst), 0);
    assert_eq!(committed(&broker, "retry", "flaky", 0).await, Some(5));
    producer.close(Duration::from_secs(1)).await;
}

fn header(record: &ConsumerRecord, key: &str) -> String {
    let header = record
        .last_header(key)
        .unwrap_or_else(|| panic!("no header {key}"));
    text(header.value.as_ref())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_always_fails_goes_to_the_dead_letter_topic() {
    let broker = broker().await;
    broker.create_topic("payments", 2).unwrap();
    broker.create_topic("payments-dlt", 2).unwrap();
    let producer = producer(&broker).await;
    let bad = ProducerRecord::new("payments")
        .partition(1)
        .key(Bytes::from_static(b"key-7"))
        .value(Bytes::from_static(b"poison"))
        .header("trace-id", Some(Bytes::from_static(b"abc")));
    let bad_meta = producer.send(bad).await.unwrap().await.unwrap();
    send(&producer, "payments", 1, "key-8", "fine").await;

    let attempts = Arc::new(AtomicUsize::new(0));
    let processed: Seen = Default::default();
    let listener = {
        let (attempts, processed) = (attempts.clone(), processed.clone());
        listener_fn(move |record: ConsumerRecord| {
            let (attempts, processed) = (attempts.clone(), processed.clone());
            async move {
                let value = text(record.value.as_ref());
                if value == "poison" {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    return Err("cannot process poison".into());
                }
                processed.lock().unwrap().push(value);
                Ok(())
            }
        })
    };
    let container = ListenerContainer::builder(group_config(&broker, "payments-service"))
        .topics(["payments"])
        .poll_timeout(Duration::from_millis(200))
        .error_handler(
            DefaultErrorHandler::new(FixedBackOff::new(Duration::from_millis(20), 3))
                .with_recoverer(DeadLetterRecoverer::new(producer.clone())),
        )
        .start(listener)
        .await
        .unwrap();
    wait_until("the next record processed", || count(&processed) >= 1).await;
    container.stop(Duration::from_secs(5)).await;
    assert_eq!(attempts.load(Ordering::SeqCst), 3, "max attempts in all");
    assert_eq!(*processed.lock().unwrap(), vec!["fine".to_string()]);
    assert_eq!(
        committed(&broker, "payments-service", "payments", 1).await,
        Some(2)
    );

    // Same partition of the DLT (it has enough), original key, value and
    // headers, plus the failure headers.
    let dead = read_all(&broker, "payments-dlt", 1, 1).await;
    assert_eq!(dead.len(), 1);
    let dead = &dead[0];
    assert_eq!(dead.key.as_deref(), Some(&b"key-7"[..]));
    assert_eq!(dead.value.as_deref(), Some(&b"poison"[..]));
    assert_eq!(header(dead, "trace-id"), "abc");
    assert_eq!(
        dead.headers[0].key.as_ref(),
        b"trace-id",
        "original headers first"
    );
    assert_eq!(header(dead, "kafka_dlt-original-topic"), "payments");
    assert_eq!(header(dead, "kafka_dlt-original-partition"), "1");
    assert_eq!(header(dead, "kafka_dlt-original-offset"), "0");
    assert_eq!(
        header(dead, "kafka_dlt-original-timestamp"),
        bad_meta.timestamp.to_string()
    );
    assert_eq!(
        header(dead, "kafka_dlt-exception-message"),
        "cannot process poison"
    );
    assert_eq!(broker.offsets("payments-dlt", 0), Some((0, 0)));
    producer.close(Duration::from_secs(1)).await;
}

#[derive(Debug, serde::Deserialize)]
struct Order {
    id: u32,
}

/// A JSON record's key and order id.
type KeyAndId = (Option<String>, u32);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_json_record_goes_straight_to_the_dead_letter_topic() {
    let broker = broker().await;
    broker.create_topic("json-orders", 1).unwrap();
    broker.create_topic("json-orders-dlt", 1).unwrap();
    let producer = producer(&broker).await;
    send(&producer, "json-orders", 0, "a", "{not json").await;
    send(&producer, "json-orders", 0, "b", r#"{"id":42}"#).await;

    let calls = Arc::new(AtomicUsize::new(0));
    let ids: Arc<Mutex<Vec<KeyAndId>>> = Default::default();
    let listener = {
        let (calls, ids) = (calls.clone(), ids.clone());
        json_listener(move |record: TypedRecord<Option<String>, Order>| {
            calls.fetch_add(1, Ordering::SeqCst);
            let ids = ids.clone();
            async move {
                ids.lock().unwrap().push((record.key, record.value.id));
                Ok::<(), ListenerError>(())
            }
        })
    };
    let container = ListenerContainer::builder(group_config(&broker, "json-service"))
        .topics(["json-orders"])
        .poll_timeout(Duration::from_millis(200))
        .error_handler(
            DefaultErrorHandler::new(FixedBackOff::new(Duration::from_millis(500), 10))
                .with_recoverer(DeadLetterRecoverer::new(producer.clone())),
        )
        .start(listener)
        .await
        .unwrap();
    wait_until("the good record", || !ids.lock().unwrap().is_empty()).await;
    container.stop(Duration::from_secs(5)).await;
    assert_eq!(*ids.lock().unwrap(), vec![(Some("b".to_string()), 42)]);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the handler never saw the bad one"
    );
    let dead = read_all(&broker, "json-orders-dlt", 0, 1).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].value.as_deref(), Some(&b"{not json"[..]));
    assert_eq!(header(&dead[0], "kafka_dlt-original-offset"), "0");
    assert!(header(&dead[0], "kafka_dlt-exception-message").contains("invalid JSON"));
    assert_eq!(
        broker.offsets("json-orders-dlt", 0),
        Some((0, 1)),
        "one dead letter"
    );
    assert_eq!(
        committed(&broker, "json-service", "json-orders", 0).await,
        Some(2)
    );
    producer.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_recoverer_gets_the_record_delivered_again() {
    let broker = broker().await;
    broker.create_topic("fragile", 1).unwrap();
    let producer = producer(&broker).await;
    send(&producer, "fragile", 0, "k", "bad").await;
    send(&producer, "fragile", 0, "k", "good").await;
    let attempts = Arc::new(AtomicUsize::new(0));
    let processed: Seen = Default::default();
    let listener = {
        let (attempts, processed) = (attempts.clone(), processed.clone());
        listener_fn(move |record: ConsumerRecord| {
            let (attempts, processed) = (attempts.clone(), processed.clone());
            async move {
                let value = text(record.value.as_ref());
                if value == "bad" {
                    attempts.fetch_add(1, Ordering::SeqCst);
                    return Err("always".into());
                }
                processed.lock().unwrap().push(value);
                Ok(())
            }
        })
    };
    let recoverer = Arc::new(CountingRecoverer {
        calls: AtomicUsize::new(0),
        failures: 1,
    });
    let container = ListenerContainer::builder(group_config(&broker, "fragile-service"))
        .topics(["fragile"])
        .poll_timeout(Duration::from_millis(200))
        .error_handler(
            DefaultErrorHandler::new(FixedBackOff::new(Duration::ZERO, 2))
                .with_recoverer(recoverer.clone()),
        )
        .start(listener)
        .await
        .unwrap();
    wait_until("the next record processed", || count(&processed) >= 1).await;
    container.stop(Duration::from_secs(5)).await;
    // First round: 2 attempts, recoverer fails; redelivered: 2 more, recovered.
    assert_eq!(recoverer.calls.load(Ordering::SeqCst), 2);
    assert_eq!(attempts.load(Ordering::SeqCst), 4);
    assert_eq!(*processed.lock().unwrap(), vec!["good".to_string()]);
    assert_eq!(
        committed(&broker, "fragile-service", "fragile", 0).await,
        Some(2)
    );
    producer.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_ack_commits_only_acknowledged_records() {
    let broker = broker().await;
    broker.create_topic("manual", 1).unwrap();
    let producer = producer(&broker).await;
    for i in 0..6 {
        send(&producer, "manual", 0, "k", &format!("m{i}")).await;
    }
    let first: Seen = Default::default();
    let listener = {
        let first = first.clone();
        listener_fn_with_ack(move |record: ConsumerRecord, ack: Acknowledgment| {
            let first = first.clone();
            async move {
                // Acknowledges m0..m2 only.
                if record.offset < 3 {
                    ack.acknowledge();
                }
                first.lock().unwrap().push(text(record.value.as_ref()));
                Ok::<(), ListenerError>(())
            }
        })
    };
    let container = ListenerContainer::builder(group_config(&broker, "manual-service"))
        .topics(["manual"])
        .ack_mode(AckMode::Manual)
        .poll_timeout(Duration::from_millis(200))
        .start(listener)
        .await
        .unwrap();
    wait_until("6 records", || count(&first) >= 6).await;
    container.stop(Duration::from_secs(5)).await;
    assert_eq!(
        committed(&broker, "manual-service", "manual", 0).await,
        Some(3)
    );

    let second: Seen = Default::default();
    let container = ListenerContainer::builder(group_config(&broker, "manual-service"))
        .topics(["manual"])
        .ack_mode(AckMode::Manual)
        .poll_timeout(Duration::from_millis(200))
        .start(recording(&second))
        .await
        .unwrap();
    wait_until("the unacknowledged records again", || count(&second) >= 3).await;
    container.stop(Duration::from_secs(5)).await;
    assert_eq!(*second.lock().unwrap(), vec!["m3", "m4", "m5"]);
    producer.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_waits_for_the_record_in_flight_and_commits_it() {
    let broker = broker().await;
    broker.create_topic("slow", 1).unwrap();
    let producer = producer(&broker).await;
    send(&producer, "slow", 0, "k", "s0").await;
    send(&producer, "slow", 0, "k", "s1").await;
    let entered = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let finished = Arc::new(AtomicBool::new(false));
    let seen: Seen = Default::default();
    let listener = {
        let (entered, release, finished, seen) = (
            entered.clone(),
            release.clone(),
            finished.clone(),
            seen.clone(),
        );
        listener_fn(move |record: ConsumerRecord| {
            let (entered, release, finished, seen) = (
                entered.clone(),
                release.clone(),
                finished.clone(),
                seen.clone(),
            );
            async move {
                seen.lock().unwrap().push(text(record.value.as_ref()));
                entered.notify_one();
                release.notified().await;
                finished.store(true, Ordering::SeqCst);
                Ok::<(), ListenerError>(())
            }
        })
    };
    let container = Arc::new(
        ListenerContainer::builder(group_config(&broker, "slow-service"))
            .topics(["slow"])
            .ack_mode(AckMode::Batch)
            .poll_timeout(Duration::from_millis(200))
            .start(listener)
            .await
            .unwrap(),
    );
    tokio::time::timeout(WAIT, entered.notified())
        .await
        .unwrap();
    let stopping = {
        let container = container.clone();
        tokio::spawn(async move { container.stop(Duration::from_secs(60)).await })
    };
    // Stop is under way (it has taken the worker tasks over, so the
    // container no longer reports running), but the handler still holds
    // the record.
    wait_until("stop to be under way", || !container.is_running()).await;
    assert!(
        !stopping.is_finished(),
        "stop must wait for the record in flight"
    );
    assert!(!finished.load(Ordering::SeqCst));
    release.notify_one();
    tokio::time::timeout(WAIT, stopping).await.unwrap().unwrap();
    assert!(finished.load(Ordering::SeqCst));
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["s0"],
        "no new record after stop"
    );
    assert_eq!(
        committed(&broker, "slow-service", "slow", 0).await,
        Some(1),
        "the finished record is committed, the next is not"
    );
    assert!(!container.is_running());
    producer.close(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn start_rejects_bad_settings() {
    let broker = broker().await;
    let no_group = config(&broker).build().unwrap();
    let listener = || listener_fn(|_r: ConsumerRecord| async { Ok::<(), ListenerError>(()) });
    let config_error = |result: Result<ListenerContainer, Error>, what: &str| match result {
        Err(Error::Client(ferrokafka_client::Error::Config(message))) => {
            assert!(message.contains(what), "{message}");
        }
        other => panic!("expected a configuration error about {what}, got {other:?}"),
    };
    let result = ListenerContainer::builder(no_group)
        .topics(["t"])
        .start(listener())
        .await;
    assert!(
        matches!(result, Err(Error::NoGroupId(_))),
        "expected NoGroupId, got {result:?}"
    );
    config_error(
        ListenerContainer::builder(group_config(&broker, "g"))
            .start(listener())
            .await,
        "at least one topic",
    );
    config_error(
        ListenerContainer::builder(group_config(&broker, "g"))
            .topics(["t"])
            .concurrency(0)
            .start(listener())
            .await,
        "concurrency must be at least 1",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_fails_the_record_not_the_consumer() {
    let broker = broker().await;
    broker.create_topic("panicky", 1).unwrap();
    let producer = producer(&broker).await;
    send(&producer, "panicky", 0, "k", "p0").await;
    send(&producer, "panicky", 0, "k", "p1").await;
    let panicked = Arc::new(AtomicBool::new(false));
    let processed: Seen = Default::default();
    let listener = {
        let (panicked, processed) = (panicked.clone(), processed.clone());
        listener_fn(move |record: ConsumerRecord| {
            let (panicked, processed) = (panicked.clone(), processed.clone());
            async move {
                let value = text(record.value.as_ref());
                if value == "p0" && !panicked.swap(true, Ordering::SeqCst) {
                    panic!("handler bug");
                }
                processed.lock().unwrap().push(value);
                Ok::<(), ListenerError>(())
            }
        })
    };
    let container = ListenerContainer::builder(group_config(&broker, "panicky-service"))
        .topics(["panicky"])
        .poll_timeout(Duration::from_millis(200))
        .start(listener)
        .await
        .unwrap();
    wait_until("both records", || count(&processed) >= 2).await;
    assert!(container.is_running());
    container.stop(Duration::from_secs(5)).await;
    assert_eq!(*processed.lock().unwrap(), vec!["p0", "p1"]);
    producer.close(Duration::from_secs(1)).await;
}
