//! Volume end to end: the ferrokafka producer writes 100,000 keyed records
//! to 8 partitions of the bundled broker and the consumer reads every one
//! back exactly once, in order within each partition.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokafka_broker::Broker;
use ferrokafka_consumer::{Consumer, ConsumerConfig, OffsetReset, TopicPartition};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};

const RECORDS: usize = 100_000;
const PARTITIONS: i32 = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_of_a_large_stream_is_read_once_in_order() {
    let broker = Broker::builder().start().await.unwrap();
    broker.create_topic("volume", PARTITIONS).unwrap();
    let producer = Producer::connect(
        ProducerConfig::builder()
            .bootstrap_servers([broker.bootstrap_address()])
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    // Bounded window of delivery futures, as an application would keep.
    let mut pending = VecDeque::new();
    for i in 0..RECORDS {
        let record = ProducerRecord::new("volume")
            .key(Bytes::from(format!("k{}", i % 1000)))
            .value(Bytes::from(format!("{i:0>100}")));
        pending.push_back(producer.send(record).await.unwrap());
        if pending.len() >= 10_000 {
            pending.pop_front().unwrap().await.unwrap();
        }
    }
    while let Some(delivery) = pending.pop_front() {
        delivery.await.unwrap();
    }
    producer.close(Duration::from_secs(10)).await;

    let mut consumer = Consumer::connect(
        ConsumerConfig::builder()
            .bootstrap_servers([broker.bootstrap_address()])
            .auto_offset_reset(OffsetReset::Earliest)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    consumer
        .assign((0..PARTITIONS).map(|p| TopicPartition::new("volume", p)))
        .unwrap();
    let mut seen = vec![false; RECORDS];
    let mut last_index_per_key = std::collections::HashMap::new();
    let mut next_offset = vec![0i64; PARTITIONS as usize];
    let mut count = 0;
    let start = Instant::now();
    while count < RECORDS {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "read {count} of {RECORDS}"
        );
        for record in consumer.poll(Duration::from_millis(200)).await.unwrap() {
            let partition = record.partition as usize;
            assert_eq!(
                record.offset, next_offset[partition],
                "offsets dense and increasing"
            );
            next_offset[partition] += 1;
            let value = record.value.as_ref().unwrap();
            let i: usize = std::str::from_utf8(value).unwrap().parse().unwrap();
            assert!(!seen[i], "record {i} read twice");
            seen[i] = true;
            // Same key, same partition, in send order.
            let key = record.key.clone().unwrap();
            if let Some(previous) = last_index_per_key.insert(key, i) {
                assert!(previous < i, "record {i} after {previous} for the same key");
            }
            count += 1;
        }
    }
    assert!(seen.iter().all(|s| *s));
    consumer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}
