//! A rough throughput figure against the in-process broker, printed, never
//! asserted (`cargo test -p ferrokafka-producer --release --test throughput
//! -- --ignored --nocapture`). The real side-by-side benchmark with
//! librdkafka lives in `bench/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use ferrokafka_broker::Broker;
use ferrokafka_producer::{Acks, Producer, ProducerConfig, ProducerRecord};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "prints a throughput figure; run by hand"]
async fn throughput_100_byte_records() {
    let broker = Broker::builder().nodes(1).start().await.unwrap();
    for (acks, partitions) in [(Acks::Leader, 1), (Acks::Leader, 8), (Acks::All, 8)] {
        let topic = format!("bench-{acks}-{partitions}");
        broker.create_topic(&topic, partitions).unwrap();
        let producer = Producer::connect(
            ProducerConfig::builder()
                .bootstrap_servers([broker.bootstrap_address()])
                .acks(acks)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
        let value = bytes::Bytes::from(vec![b'x'; 100]);
        let count = 1_000_000usize;
        let started = Instant::now();
        let mut last = None;
        for _ in 0..count {
            let record = ProducerRecord {
                topic: topic.as_str().into(),
                value: Some(value.clone()),
                ..Default::default()
            };
            last = Some(producer.send(record).await.unwrap());
        }
        producer.flush().await;
        last.unwrap().await.unwrap();
        let took = started.elapsed();
        println!(
            "acks={acks} partitions={partitions}: {:.0} msg/s, {:.1} MB/s",
            count as f64 / took.as_secs_f64(),
            (count * 100) as f64 / took.as_secs_f64() / 1e6
        );
        producer.close(Duration::from_secs(5)).await;
    }
    broker.shutdown().await;
}
