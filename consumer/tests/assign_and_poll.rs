//! Manual assignment and poll against the bundled broker (in-process, port
//! 0): records in order with their keys, headers and timestamps, typed
//! through a deserializer; an empty poll that waits its timeout out; the
//! record stream adapters; a long-polling fetch woken as soon as records
//! arrive. Every wait polls a condition under a deadline.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::{WAIT, broker, config, fetches_at, poll_until, produce, producer, value, wait_for};
use ferrokafka_consumer::{
    Consumer, ConsumerRecord, Deserializer, StringDeserializer, TopicPartition, TypedRecord,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assign_and_poll_read_in_order_with_keys_and_headers() {
    let broker = broker(1).await;
    broker.create_topic("orders", 2).unwrap();
    let producer = producer(&broker).await;
    produce(&producer, "orders", 0, 0, 50).await;
    produce(&producer, "orders", 1, 50, 30).await;

    let mut consumer = Consumer::connect(config(&broker).max_poll_records(17).build().unwrap())
        .await
        .unwrap();
    consumer
        .assign([
            TopicPartition::new("orders", 0),
            TopicPartition::new("orders", 1),
        ])
        .unwrap();
    let records = poll_until(&mut consumer, 80, WAIT).await;
    assert_eq!(records.len(), 80);
    for partition in 0..2 {
        let mine: Vec<&ConsumerRecord> = records
            .iter()
            .filter(|r| r.partition == partition)
            .collect();
        let first = if partition == 0 { 0 } else { 50 };
        for (offset, record) in mine.iter().enumerate() {
            let i = first + offset;
            assert_eq!(record.topic, "orders");
            assert_eq!(record.offset, offset as i64);
            assert_eq!(value(record), format!("value-{i}"));
            assert_eq!(record.key.as_deref(), Some(format!("key-{i}").as_bytes()));
            assert_eq!(
                record.last_header("n").unwrap().value.as_deref(),
                Some(i.to_string().as_bytes())
            );
            assert!(record.timestamp > 0);
            assert!(record.leader_epoch.is_some());
        }
    }
    // Typed records through a deserializer.
    let typed =
        TypedRecord::from_record(records[0].clone(), &StringDeserializer, &StringDeserializer)
            .unwrap();
    assert!(typed.value.unwrap().starts_with("value-"));
    assert_eq!(
        StringDeserializer
            .deserialize("orders", records[0].key.as_ref())
            .unwrap(),
        typed.key
    );
    // Nothing more: a poll waits its timeout out and returns empty (it
    // does not hang: the outer timeout is only a guard).
    let started = Instant::now();
    let empty = tokio::time::timeout(WAIT, consumer.poll(Duration::from_millis(300)))
        .await
        .expect("an empty poll returns after its timeout")
        .unwrap();
    assert!(empty.is_empty(), "{empty:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    consumer.close(Duration::from_secs(30)).await;
    producer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_stream_yields_records_one_at_a_time() {
    let broker = broker(1).await;
    broker.create_topic("stream", 1).unwrap();
    let producer = producer(&broker).await;
    produce(&producer, "stream", 0, 0, 12).await;
    let mut consumer = Consumer::connect(config(&broker).max_poll_records(5).build().unwrap())
        .await
        .unwrap();
    consumer.assign([TopicPartition::new("stream", 0)]).unwrap();
    let mut stream = consumer.stream(Duration::from_millis(100));
    for expected in 0..12 {
        let record = tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(record.offset, expected);
    }
    // The owning futures Stream, with the consumer usable between records.
    consumer
        .seek(&TopicPartition::new("stream", 0), 10)
        .unwrap();
    let mut stream = consumer.into_stream(Duration::from_millis(100));
    for expected in 10..12 {
        let record = tokio::time::timeout(
            WAIT,
            std::future::poll_fn(|cx| {
                futures_core::Stream::poll_next(std::pin::Pin::new(&mut stream), cx)
            }),
        )
        .await
        .unwrap()
        .unwrap()
        .unwrap();
        assert_eq!(record.offset, expected);
        assert!(stream.consumer_mut().is_some());
    }
    let mut consumer = stream.into_consumer().unwrap();
    consumer.close(Duration::from_secs(30)).await;
    producer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}

/// A fetch waiting on the broker returns as soon as records arrive: with
/// `fetch.max.wait.ms` at 10 minutes, each of the records trickling in one
/// by one is written only once the fetch for it waits on the broker, and
/// reaches `poll` in the answer to that very fetch (no second fetch at its
/// offset, which is what an expired wait would lead to), long before the
/// wait could have expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_fetch_returns_as_soon_as_records_arrive() {
    let broker = broker(1).await;
    broker.create_topic("trickle", 1).unwrap();
    broker.record_requests(true);
    let producer = producer(&broker).await;
    let fetch_max_wait = Duration::from_secs(600);
    let mut consumer = Consumer::connect(
        config(&broker)
            .fetch_max_wait(fetch_max_wait)
            .request_timeout(fetch_max_wait + Duration::from_secs(60))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    consumer
        .assign([TopicPartition::new("trickle", 0)])
        .unwrap();
    for i in 0..5 {
        let offset = i as i64;
        let writer = async {
            // Only once the fetch for this offset waits on the broker.
            wait_for("the fetch to wait on the broker", WAIT, || {
                fetches_at(&broker, "trickle", 0, offset) > 0
            })
            .await;
            produce(&producer, "trickle", 0, i, 1).await;
        };
        let (_, records) = tokio::join!(writer, async {
            // A poll's own fetch waits at most the poll's timeout, so one
            // long poll; an unwoken fetch would not answer within it.
            let started = Instant::now();
            let mut got = Vec::new();
            while got.is_empty() && started.elapsed() < WAIT {
                got = consumer.poll(WAIT).await.unwrap();
            }
            got
        });
        assert_eq!(
            records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![offset],
            "record {i}: the waiting fetch was not woken by the append"
        );
        assert_eq!(
            fetches_at(&broker, "trickle", 0, offset),
            1,
            "record {i} came in the answer to a later fetch, not the waiting one"
        );
    }
    consumer.close(Duration::from_secs(1)).await;
    producer.close(Duration::from_secs(1)).await;
    broker.shutdown().await;
}
