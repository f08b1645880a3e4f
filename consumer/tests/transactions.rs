//! Exactly-once end to end against the bundled broker (in-process, port 0):
//! the transactional producer commits and aborts, read_committed consumers
//! see committed records only (and wait at an open transaction),
//! read_uncommitted ones see everything, offsets sent in a transaction are
//! committed with it, a second instance fences the first, and the
//! transactional API refuses calls made in the wrong state. Reads end at
//! a sentinel written after the records under test (see `txn_support`),
//! never after a quiet spell. Faults: `transactions_faults.rs`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod txn_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use ferrokafka_consumer::{Consumer, ConsumerConfig, IsolationLevel, OffsetReset, TopicPartition};
use ferrokafka_producer::{
    ConsumerGroupMetadata, Error as ProducerError, Producer, ProducerConfig, ProducerRecord,
};
use ferrokafka_protocol::ErrorCode;
use txn_support::*;

/// Sends `values` (round-robin over `partitions`) inside the open
/// transaction and waits until each is written.
async fn send_all(producer: &Producer, topic: &str, partitions: i32, values: &[String]) {
    send_to(producer, topic, &round_robin(values, partitions)).await;
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

    // Read up to a sentinel after the three transactions: read_committed
    // sees the committed records once each, in order, and none of the
    // aborted ones; read_uncommitted sees all of them.
    seal(&broker, "txn", 2).await;
    let (c, a, d) = (
        round_robin(&values("c", 10), 2),
        round_robin(&values("a", 10), 2),
        round_robin(&values("d", 5), 2),
    );
    let mut committed = reader(&broker, IsolationLevel::ReadCommitted).await;
    assign_all(&mut committed, "txn", 2);
    let seen = read_to_sentinels(&mut committed, "txn", 2).await;
    assert_eq!(seen, by_partition(&[c.clone(), d.clone()].concat()));

    let mut uncommitted = reader(&broker, IsolationLevel::ReadUncommitted).await;
    assign_all(&mut uncommitted, "txn", 2);
    let all = read_to_sentinels(&mut uncommitted, "txn", 2).await;
    assert_eq!(all, by_partition(&[c, a, d].concat()));

    committed.close(Duration::from_secs(1)).await;
    uncommitted.close(Duration::from_secs(1)).await;
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_transaction_holds_back_read_committed_consumers_until_it_commits() {
    let broker = broker().await;
    broker.create_topic("held", 2).unwrap();
    let producer = transactional(&broker, "txn-held", Duration::from_millis(5)).await;
    producer.init_transactions().await.unwrap();
    producer.begin_transaction().unwrap();
    send_all(&producer, "held", 1, &values("h", 3)).await;
    // After the open transaction's records, a sentinel on each partition:
    // partition 1's is readable at once, partition 0's only once the
    // transaction before it ends.
    seal(&broker, "held", 2).await;

    let mut committed = reader(&broker, IsolationLevel::ReadCommitted).await;
    assign_all(&mut committed, "held", 2);
    let mut sealed = BTreeSet::new();
    // The fetch that brings partition 1's sentinel reads partition 0 too,
    // after the open transaction's records were written.
    let early = read_until_sealed(&mut committed, "held", &[1], &mut sealed).await;
    assert_eq!(
        early.get(&0).cloned().unwrap_or_default(),
        Vec::<String>::new(),
        "records of an open transaction"
    );
    assert!(
        !sealed.contains(&0),
        "partition 0's sentinel passed the open transaction"
    );
    assert_eq!(
        committed
            .position(&TopicPartition::new("held", 0))
            .await
            .unwrap(),
        0
    );

    producer.commit_transaction().await.unwrap();
    let seen = read_until_sealed(&mut committed, "held", &[0], &mut sealed).await;
    assert_eq!(seen[&0], values("h", 3));
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
    let sink = committed_contents(&broker, "sink", 1).await;
    assert_eq!(sink[&0], values("out", 2));
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
    let seen = committed_contents(&broker, "unsent", 1).await;
    assert_eq!(seen[&0], values("next", 2));
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
    let fenced = |error: &ProducerError| matches!(error, ProducerError::Fatal(m) if m.contains(ErrorCode::ProducerFenced.name()));
    let error = first.commit_transaction().await.unwrap_err();
    assert!(fenced(&error), "{error}");
    // The fatal error stays: every later call fails with it.
    let error = first
        .send(ProducerRecord::new("fenced").value("late"))
        .await
        .unwrap_err();
    assert!(fenced(&error), "{error}");
    let error = first.begin_transaction().unwrap_err();
    assert!(fenced(&error), "{error}");

    second.begin_transaction().unwrap();
    send_all(&second, "fenced", 1, &values("live", 2)).await;
    second.commit_transaction().await.unwrap();
    let seen = committed_contents(&broker, "fenced", 1).await;
    assert_eq!(
        seen[&0],
        values("live", 2),
        "the zombie's records must stay hidden"
    );
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

    // The group resumes after the last transformed record: the first
    // record it reads is the sentinel written after the ten.
    seal(&broker, "input", 1).await;
    let mut again = Consumer::connect(group_config()).await.unwrap();
    again.subscribe(["input"]).unwrap();
    let rest = read_to_sentinels(&mut again, "input", 1).await;
    assert_eq!(rest[&0], Vec::<String>::new(), "input read twice");
    let out = committed_contents(&broker, "output", 1).await;
    assert_eq!(out[&0], values("out", 10));
    again.close(Duration::from_secs(1)).await;
    producer.close(Duration::from_secs(5)).await;
    plain.close(Duration::from_secs(1)).await;
    broker.shutdown().await;
}
