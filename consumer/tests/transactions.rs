//! Exactly-once end to end against the bundled broker (in-process, port 0):
//! the transactional producer commits and aborts, read_committed consumers
//! see committed records only (and wait at an open transaction),
//! read_uncommitted ones see everything, offsets sent in a transaction are
//! committed with it, a second instance fences the first, and the
//! transactional API refuses calls made in the wrong state.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use ferrokafka_broker::{Broker, BrokerHandle};
use ferrokafka_consumer::{Consumer, ConsumerConfig, IsolationLevel, OffsetReset, TopicPartition};
use ferrokafka_producer::{
    ConsumerGroupMetadata, Error as ProducerError, Producer, ProducerConfig, ProducerRecord,
};

async fn broker() -> BrokerHandle {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    Broker::builder().start().await.unwrap()
}

async fn transactional(broker: &BrokerHandle, id: &str, linger: Duration) -> Producer {
    let config = ProducerConfig::builder()
        .bootstrap_servers(broker.bootstrap_servers().split(','))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .transactional_id(id)
        .linger(linger)
        .max_block(Duration::from_secs(10))
        .build()
        .unwrap();
    Producer::connect(config).await.unwrap()
}

async fn reader(broker: &BrokerHandle, isolation: IsolationLevel) -> Consumer {
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

/// Sends `values` (round-robin over `partitions`) inside the open
/// transaction and waits until each is written.
async fn send_all(producer: &Producer, topic: &str, partitions: i32, values: &[String]) {
    let mut deliveries = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let record = ProducerRecord::new(topic)
            .partition(i as i32 % partitions)
            .value(value.clone());
        deliveries.push(producer.send(record).await.unwrap());
    }
    producer.flush().await;
    for delivery in deliveries {
        delivery.await.unwrap();
    }
}

fn values(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{prefix}{i}")).collect()
}

/// Polls `consumer` until `until` says the values seen are enough, or the
/// deadline; returns the values in the order polled.
async fn poll_values(
    consumer: &mut Consumer,
    deadline: Duration,
    until: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let end = Instant::now() + deadline;
    let mut seen = Vec::new();
    while Instant::now() < end && !until(&seen) {
        for record in consumer.poll(Duration::from_millis(100)).await.unwrap() {
            seen.push(String::from_utf8(record.value.unwrap().to_vec()).unwrap());
        }
    }
    seen
}

fn assign_all(consumer: &mut Consumer, topic: &str, partitions: i32) {
    consumer
        .assign((0..partitions).map(|p| TopicPartition::new(topic, p)))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_sees_committed_transactions_only() {
    let broker = broker().await;
    broker.create_topic("txn", 2).unwrap();
    let producer = transactional(&broker, "txn-commit-abort", Duration::from_millis(5)).await;
    producer.init_transactions().await.unwrap();

    producer.begin_transaction().unwrap();
    send_all(&producer, "txn", 2, &values("c", 10)).await;
    producer.commit_transaction().await.unwrap();

    producer.begin_transaction().unwrap();
    send_all(&producer, "txn", 2, &values("a", 10)).await;
    producer.abort_transaction().await.unwrap();

    producer.begin_transaction().unwrap();
    send_all(&producer, "txn", 2, &values("d", 5)).await;
    producer.commit_transaction().await.unwrap();

    let mut committed = reader(&broker, IsolationLevel::ReadCommitted).await;
    assign_all(&mut committed, "txn", 2);
    let seen = poll_values(&mut committed, Duration::from_secs(10), |s| s.len() >= 15).await;
    let mut expected: Vec<String> = values("c", 10);
    expected.extend(values("d", 5));
    let mut sorted = seen.clone();
    sorted.sort();
    expected.sort();
    assert_eq!(sorted, expected, "read_committed saw {seen:?}");
    // Nothing else shows up later: the aborted records stay hidden.
    let more = poll_values(&mut committed, Duration::from_millis(500), |_| false).await;
    assert!(more.is_empty(), "{more:?}");

    let mut uncommitted = reader(&broker, IsolationLevel::ReadUncommitted).await;
    assign_all(&mut uncommitted, "txn", 2);
    let all = poll_values(&mut uncommitted, Duration::from_secs(10), |s| s.len() >= 25).await;
    assert_eq!(all.len(), 25, "{all:?}");
    assert!(all.iter().any(|v| v.starts_with('a')));

    committed.close(Duration::from_secs(1)).await;
    uncommitted.close(Duration::from_secs(1)).await;
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_transaction_holds_back_read_committed_consumers_until_it_commits() {
    let broker = broker().await;
    broker.create_topic("held", 1).unwrap();
    let producer = transactional(&broker, "txn-held", Duration::from_millis(5)).await;
    producer.init_transactions().await.unwrap();
    producer.begin_transaction().unwrap();
    send_all(&producer, "held", 1, &values("h", 3)).await;

    let mut committed = reader(&broker, IsolationLevel::ReadCommitted).await;
    assign_all(&mut committed, "held", 1);
    let early = poll_values(&mut committed, Duration::from_millis(700), |_| false).await;
    assert!(
        early.is_empty(),
        "records of an open transaction: {early:?}"
    );

    producer.commit_transaction().await.unwrap();
    let seen = poll_values(&mut committed, Duration::from_secs(10), |s| s.len() >= 3).await;
    assert_eq!(seen, values("h", 3));
    committed.close(Duration::from_secs(1)).await;
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_sent_in_a_transaction_commit_and_abort_with_it() {
    let broker = broker().await;
    broker.create_topic("source", 1).unwrap();
    broker.create_topic("sink", 1).unwrap();
    let producer = transactional(&broker, "txn-offsets", Duration::from_millis(5)).await;
    producer.init_transactions().await.unwrap();
    let group = ConsumerGroupMetadata::new("eos-group");

    producer.begin_transaction().unwrap();
    send_all(&producer, "sink", 1, &values("out", 2)).await;
    producer
        .send_offsets_to_transaction(&[("source", 0, 5)], &group)
        .await
        .unwrap();
    producer.commit_transaction().await.unwrap();

    producer.begin_transaction().unwrap();
    send_all(&producer, "sink", 1, &values("lost", 2)).await;
    producer
        .send_offsets_to_transaction(&[("source", 0, 9)], &group)
        .await
        .unwrap();
    producer.abort_transaction().await.unwrap();

    let config = ConsumerConfig::builder()
        .bootstrap_servers(broker.bootstrap_servers().split(','))
        .group_id("eos-group")
        .build()
        .unwrap();
    let mut consumer = Consumer::connect(config).await.unwrap();
    let tp = TopicPartition::new("source", 0);
    let committed = consumer
        .committed(std::slice::from_ref(&tp), Duration::from_secs(5))
        .await
        .unwrap();
    let offset = committed.get(&tp).cloned().flatten().map(|o| o.offset);
    assert_eq!(offset, Some(5), "{committed:?}");
    consumer.close(Duration::from_secs(1)).await;
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_fails_records_not_sent_yet() {
    let broker = broker().await;
    broker.create_topic("unsent", 1).unwrap();
    // A long linger keeps the records in their batch until the abort.
    let producer = transactional(&broker, "txn-unsent", Duration::from_secs(30)).await;
    producer.init_transactions().await.unwrap();
    producer.begin_transaction().unwrap();
    let mut deliveries = Vec::new();
    for i in 0..3 {
        let record = ProducerRecord::new("unsent").value(format!("u{i}"));
        deliveries.push(producer.send(record).await.unwrap());
    }
    producer.abort_transaction().await.unwrap();
    for delivery in deliveries {
        let error = delivery.await.unwrap_err();
        assert!(
            matches!(error, ProducerError::TransactionAborted),
            "{error}"
        );
    }
    // The producer goes on with a new transaction.
    producer.begin_transaction().unwrap();
    send_all(&producer, "unsent", 1, &values("next", 2)).await;
    producer.commit_transaction().await.unwrap();
    let mut committed = reader(&broker, IsolationLevel::ReadCommitted).await;
    assign_all(&mut committed, "unsent", 1);
    let seen = poll_values(&mut committed, Duration::from_secs(10), |s| s.len() >= 2).await;
    assert_eq!(seen, values("next", 2));
    committed.close(Duration::from_secs(1)).await;
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_instance_fences_the_first_and_aborts_its_open_transaction() {
    let broker = broker().await;
    broker.create_topic("fenced", 1).unwrap();
    let first = transactional(&broker, "txn-zombie", Duration::from_millis(5)).await;
    first.init_transactions().await.unwrap();
    first.begin_transaction().unwrap();
    send_all(&first, "fenced", 1, &values("zombie", 2)).await;

    let second = transactional(&broker, "txn-zombie", Duration::from_millis(5)).await;
    second.init_transactions().await.unwrap();
    let error = first.commit_transaction().await.unwrap_err();
    assert!(matches!(error, ProducerError::Fatal(_)), "{error}");
    let error = first
        .send(ProducerRecord::new("fenced").value("late"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ProducerError::Fatal(_) | ProducerError::TransactionState(_)
        ),
        "{error}"
    );

    second.begin_transaction().unwrap();
    send_all(&second, "fenced", 1, &values("live", 2)).await;
    second.commit_transaction().await.unwrap();
    let mut committed = reader(&broker, IsolationLevel::ReadCommitted).await;
    assign_all(&mut committed, "fenced", 1);
    let seen = poll_values(&mut committed, Duration::from_secs(10), |s| s.len() >= 2).await;
    assert_eq!(
        seen,
        values("live", 2),
        "the zombie's records must stay hidden"
    );
    committed.close(Duration::from_secs(1)).await;
    first.close(Duration::from_secs(1)).await;
    second.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_calls_in_the_wrong_state_are_typed_errors() {
    let broker = broker().await;
    broker.create_topic("states", 1).unwrap();
    let producer = transactional(&broker, "txn-states", Duration::from_millis(5)).await;
    let state_error =
        |e: ProducerError| assert!(matches!(e, ProducerError::TransactionState(_)), "{e}");
    state_error(
        producer
            .send(ProducerRecord::new("states").value("x"))
            .await
            .unwrap_err(),
    );
    state_error(producer.begin_transaction().unwrap_err());
    producer.init_transactions().await.unwrap();
    state_error(producer.init_transactions().await.unwrap_err());
    state_error(
        producer
            .send(ProducerRecord::new("states").value("x"))
            .await
            .unwrap_err(),
    );
    state_error(producer.commit_transaction().await.unwrap_err());
    state_error(producer.abort_transaction().await.unwrap_err());
    producer.begin_transaction().unwrap();
    state_error(producer.begin_transaction().unwrap_err());
    // An empty transaction commits without troubling the coordinator.
    producer.commit_transaction().await.unwrap();

    // A producer without transactional.id refuses every transactional call.
    let plain = Producer::connect(
        ProducerConfig::builder()
            .bootstrap_servers(broker.bootstrap_servers().split(','))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    state_error(plain.init_transactions().await.unwrap_err());
    state_error(plain.begin_transaction().unwrap_err());

    // transactional.id with idempotence explicitly off is a configuration error.
    let conflict = ProducerConfig::from_properties([
        ("bootstrap.servers", "localhost:9092"),
        ("transactional.id", "x"),
        ("enable.idempotence", "false"),
    ])
    .unwrap_err();
    assert!(
        conflict.to_string().contains("transactional.id"),
        "{conflict}"
    );
    plain.close(Duration::from_secs(1)).await;
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_transform_produce_commits_the_input_offsets_with_the_output() {
    let broker = broker().await;
    broker.create_topic("input", 1).unwrap();
    broker.create_topic("output", 1).unwrap();
    // Ten input records, written by a plain producer.
    let plain = Producer::connect(
        ProducerConfig::builder()
            .bootstrap_servers(broker.bootstrap_servers().split(','))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    for i in 0..10 {
        plain
            .send(ProducerRecord::new("input").value(format!("in{i}")))
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let group_config = || {
        ConsumerConfig::builder()
            .bootstrap_servers(broker.bootstrap_servers().split(','))
            .group_id("ctp")
            .enable_auto_commit(false)
            .auto_offset_reset(OffsetReset::Earliest)
            .fetch_max_wait(Duration::from_millis(50))
            .isolation_level(IsolationLevel::ReadCommitted)
            .build()
            .unwrap()
    };
    let mut consumer = Consumer::connect(group_config()).await.unwrap();
    consumer.subscribe(["input"]).unwrap();
    let producer = transactional(&broker, "ctp-tx", Duration::from_millis(5)).await;
    producer.init_transactions().await.unwrap();

    let mut transformed = 0;
    let deadline = Instant::now() + Duration::from_secs(15);
    while transformed < 10 && Instant::now() < deadline {
        let records = consumer.poll(Duration::from_millis(200)).await.unwrap();
        if records.is_empty() {
            continue;
        }
        producer.begin_transaction().unwrap();
        let mut next = 0;
        for record in &records {
            let value = String::from_utf8(record.value.clone().unwrap().to_vec()).unwrap();
            // commit_transaction reports a failed record; no need to await each.
            let _delivery = producer
                .send(ProducerRecord::new("output").value(value.replace("in", "out")))
                .await
                .unwrap();
            next = record.offset + 1;
        }
        let group = consumer.group_metadata().unwrap();
        assert_eq!(group.group_id, "ctp");
        assert!(
            group.generation_id > 0 && !group.member_id.is_empty(),
            "{group:?}"
        );
        producer
            .send_offsets_to_transaction(&[("input", 0, next)], &group)
            .await
            .unwrap();
        producer.commit_transaction().await.unwrap();
        transformed += records.len();
    }
    assert_eq!(transformed, 10);
    consumer.close(Duration::from_secs(2)).await;

    // The group resumes after the last transformed record: nothing is read twice.
    let mut again = Consumer::connect(group_config()).await.unwrap();
    again.subscribe(["input"]).unwrap();
    let rest = poll_values(&mut again, Duration::from_millis(1500), |_| false).await;
    assert!(rest.is_empty(), "input read twice: {rest:?}");
    let mut output = reader(&broker, IsolationLevel::ReadCommitted).await;
    assign_all(&mut output, "output", 1);
    let out = poll_values(&mut output, Duration::from_secs(10), |s| s.len() >= 10).await;
    assert_eq!(out, values("out", 10));
    again.close(Duration::from_secs(1)).await;
    output.close(Duration::from_secs(1)).await;
    producer.close(Duration::from_secs(5)).await;
    plain.close(Duration::from_secs(1)).await;
    broker.shutdown().await;
}
