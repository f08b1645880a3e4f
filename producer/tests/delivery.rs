//! The producer against the bundled broker (in-process, port 0): records
//! read back as sent (keys, headers, timestamps, offsets), Java's
//! partitioning, every codec and acks setting, typed values, custom
//! partitioners and interceptors.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{
    Allowed, acknowledged, assert_log_matches, broker, config, read_all, reader, value_of,
    wait_until, wall_millis,
};
use ferrokafka_producer::{
    Acks, Compression, Error, JsonSerializer, Producer, ProducerRecord, StringSerializer,
    TypedProducer, partition_for_key,
};

/// How far a producer's record stamp may be from the system clock read
/// just before or after `send`, in milliseconds. The producer reads the
/// wall clock as it measured it at its last anchoring plus the CPU
/// counter's time since, and anchors again whenever 10 ms of counter time
/// have passed: between anchorings the stamp drifts from the system clock
/// by whatever the two disagree over those 10 ms (the counter's
/// calibration, an NTP slew of the system clock), which cannot reach the
/// 10 ms themselves; and both readings round down to the millisecond. (A
/// step of the system clock is outside any bound, and outside this test.)
const STAMP_SLACK_MS: i64 = 10 + 1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_round_trip_with_keys_headers_and_offsets() {
    let broker = broker(1).await;
    broker.create_topic("round-trip", 3).unwrap();
    let producer = Producer::connect(config(&broker).build().unwrap())
        .await
        .unwrap();
    let mut deliveries = Vec::new();
    for i in 0..100 {
        let record = ProducerRecord::new("round-trip")
            .key(format!("key-{}", i % 7))
            .value(format!("value-{i}"))
            .header("trace", Some(Bytes::from(format!("t{i}"))));
        // Records without a timestamp are stamped with the wall clock.
        let before = wall_millis();
        let delivery = producer.send(record).await.unwrap();
        deliveries.push((i, delivery, before, wall_millis()));
    }
    let mut by_partition: HashMap<i32, Vec<(i64, usize)>> = HashMap::new();
    let mut stamped = HashMap::new();
    for (i, delivery, before, after) in deliveries {
        let metadata = delivery.await.unwrap();
        assert_eq!(metadata.topic, "round-trip");
        assert!(metadata.offset >= 0);
        assert!(
            (before - STAMP_SLACK_MS..=after + STAMP_SLACK_MS).contains(&metadata.timestamp),
            "record {i}: {before} <= {} <= {after}",
            metadata.timestamp
        );
        stamped.insert(i, metadata.timestamp);
        by_partition
            .entry(metadata.partition)
            .or_default()
            .push((metadata.offset, i));
    }
    let client = reader(&broker).await;
    let mut total = 0;
    for partition in 0..3 {
        let records = read_all(&client, "round-trip", partition).await;
        let expected = by_partition.remove(&partition).unwrap_or_default();
        assert_eq!(records.len(), expected.len());
        for (record, (offset, i)) in records.iter().zip(expected) {
            assert_eq!(record.offset, offset);
            assert_eq!(value_of(record), format!("value-{i}"));
            assert_eq!(record.timestamp, stamped[&i]);
            assert_eq!(
                record.key.as_deref(),
                Some(format!("key-{}", i % 7).as_bytes())
            );
            assert_eq!(record.headers[0].key, "trace");
            assert_eq!(
                record.headers[0].value.as_deref(),
                Some(format!("t{i}").as_bytes())
            );
        }
        total += records.len();
    }
    assert_eq!(total, 100);
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_records_land_on_the_partitions_java_picks() {
    let broker = broker(1).await;
    broker.create_topic("keyed", 10).unwrap();
    let producer = Producer::connect(config(&broker).build().unwrap())
        .await
        .unwrap();
    // murmur2("21") = -973932308; & 0x7fffffff = 1173551340; % 10 = 0.
    let metadata = producer
        .send(ProducerRecord::new("keyed").key("21").value("v"))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(metadata.partition, 0);
    for i in 0..200 {
        let key = format!("user-{i}");
        let metadata = producer
            .send(ProducerRecord::new("keyed").key(key.clone()).value("v"))
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(
            metadata.partition,
            partition_for_key(key.as_bytes(), 10),
            "{key}"
        );
    }
    // An explicit partition wins over the key.
    let metadata = producer
        .send(
            ProducerRecord::new("keyed")
                .key("21")
                .value("v")
                .partition(7),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(metadata.partition, 7);
    let err = producer
        .send(ProducerRecord::new("keyed").value("v").partition(10))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidPartition { count: 10, .. }),
        "{err}"
    );
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_codec_and_acks_setting_round_trips() {
    let broker = broker(1).await;
    let client = reader(&broker).await;
    for (i, (compression, acks)) in [
        (Compression::None, Acks::All),
        (Compression::Gzip, Acks::Leader),
        (Compression::Snappy, Acks::All),
        (Compression::Lz4, Acks::Leader),
        (Compression::Zstd, Acks::All),
        (Compression::Lz4, Acks::None),
    ]
    .into_iter()
    .enumerate()
    {
        let topic = format!("codec-{i}");
        broker.create_topic(&topic, 1).unwrap();
        let producer = Producer::connect(
            config(&broker)
                .compression_type(compression)
                .acks(acks)
                .build()
                .unwrap(),
        )
        .await
        .unwrap();
        let mut deliveries = Vec::new();
        for n in 0..500 {
            let value = format!("{compression}-{n}");
            let record = ProducerRecord::new(topic.clone()).value(value.clone());
            deliveries.push((value, producer.send(record).await.unwrap()));
        }
        let acked = acknowledged(deliveries).await;
        producer.close(Duration::from_secs(5)).await;
        if acks == Acks::None {
            // No answer, no offset.
            assert!(acked.iter().all(|a| a.offset == -1), "{acked:?}");
            // A record counts as sent once written to the socket: the
            // broker may not have stored the last ones yet.
            wait_until(Duration::from_secs(10), "all 500 stored", || {
                broker.offsets(&topic, 0).unwrap().1 == 500
            })
            .await;
        } else {
            assert_log_matches(&broker, &topic, 1, &acked, &Allowed::default());
        }
        let records = read_all(&client, &topic, 0).await;
        let values: Vec<String> = records.iter().map(value_of).collect();
        let expected: Vec<String> = (0..500).map(|n| format!("{compression}-{n}")).collect();
        assert_eq!(values, expected, "{compression} acks={acks}");
    }
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_producer_sends_json_values_with_string_keys() {
    #[derive(serde::Serialize)]
    struct Order {
        id: u64,
        item: String,
    }
    let broker = broker(1).await;
    broker.create_topic("orders", 4).unwrap();
    let producer = Producer::connect(config(&broker).build().unwrap())
        .await
        .unwrap();
    let orders = TypedProducer::new(producer, StringSerializer, JsonSerializer::<Order>::new());
    let metadata = orders
        .send_and_wait(
            "orders",
            Some("customer-1"),
            &Order {
                id: 1,
                item: "tea".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(metadata.partition, partition_for_key(b"customer-1", 4));
    let client = reader(&broker).await;
    let records = read_all(&client, "orders", metadata.partition).await;
    assert_eq!(
        records[0].value.as_deref(),
        Some(&br#"{"id":1,"item":"tea"}"#[..])
    );
    orders.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

/// Sends everything to the last partition.
#[derive(Debug)]
struct LastPartition;

impl ferrokafka_producer::Partitioner for LastPartition {
    fn partition(
        &self,
        _topic: &str,
        _key: Option<&[u8]>,
        _value: Option<&[u8]>,
        _record_size: usize,
        topic_info: &ferrokafka_client::metadata::TopicInfo,
    ) -> i32 {
        topic_info.partitions.last().map_or(0, |p| p.partition)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_partitioner_places_records_without_an_explicit_partition() {
    let broker = broker(1).await;
    broker.create_topic("custom", 5).unwrap();
    let producer = Producer::connect_with_partitioner(
        config(&broker).build().unwrap(),
        Arc::new(LastPartition),
    )
    .await
    .unwrap();
    for key in ["a", "b", "c"] {
        let metadata = producer
            .send(ProducerRecord::new("custom").key(key).value("v"))
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(metadata.partition, 4);
    }
    let metadata = producer
        .send(ProducerRecord::new("custom").value("v").partition(1))
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(metadata.partition, 1);
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

/// One acknowledgement: topic, partition, and the offset or the error.
type Acknowledgement = (String, i32, Result<i64, String>);

/// Records what it saw and adds a header to every record.
#[derive(Default)]
struct TracingInterceptor {
    acknowledged: std::sync::Mutex<Vec<Acknowledgement>>,
}

impl ferrokafka_producer::ProducerInterceptor for TracingInterceptor {
    fn on_send(&self, record: ProducerRecord) -> ProducerRecord {
        record.header("traced", Some(Bytes::from_static(b"yes")))
    }

    fn on_acknowledgement(
        &self,
        topic: &str,
        partition: i32,
        result: &ferrokafka_producer::Result<ferrokafka_producer::RecordMetadata>,
    ) {
        let result = match result {
            Ok(metadata) => {
                assert_eq!(
                    (metadata.topic.as_str(), metadata.partition),
                    (topic, partition)
                );
                Ok(metadata.offset)
            }
            Err(error) => Err(error.to_string()),
        };
        self.acknowledged
            .lock()
            .unwrap()
            .push((topic.to_string(), partition, result));
    }
}

/// Panics in both hooks: the producer skips it.
struct PanickingInterceptor;

impl ferrokafka_producer::ProducerInterceptor for PanickingInterceptor {
    fn on_send(&self, _record: ProducerRecord) -> ProducerRecord {
        panic!("on_send fails");
    }

    fn on_acknowledgement(
        &self,
        _topic: &str,
        _partition: i32,
        _result: &ferrokafka_producer::Result<ferrokafka_producer::RecordMetadata>,
    ) {
        panic!("on_acknowledgement fails");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interceptors_change_records_and_hear_every_outcome() {
    let broker = broker(1).await;
    broker.create_topic("intercepted", 2).unwrap();
    let tracing = Arc::new(TracingInterceptor::default());
    let producer = Producer::builder(config(&broker).batch_size(1024).build().unwrap())
        .interceptor(Arc::new(PanickingInterceptor))
        .interceptor(tracing.clone())
        .connect()
        .await
        .unwrap();
    let mut deliveries = Vec::new();
    for i in 0..30 {
        let record = ProducerRecord::new("intercepted")
            .partition(i % 2)
            .value(format!("v{i}"));
        deliveries.push(producer.send(record).await.unwrap());
    }
    // A record send refuses (over max.request.size) is acknowledged with
    // its error, and no partition.
    let too_large = producer
        .send(ProducerRecord::new("intercepted").value(vec![0u8; 2 << 20]))
        .await
        .unwrap_err();
    assert!(
        matches!(too_large, Error::RecordTooLarge { .. }),
        "{too_large}"
    );
    let mut stored = Vec::new();
    for delivery in deliveries {
        let metadata = delivery.await.unwrap();
        stored.push((metadata.partition, metadata.offset));
    }
    producer.flush().await;

    let mut acknowledged = tracing.acknowledged.lock().unwrap().clone();
    let refused: Vec<_> = acknowledged
        .iter()
        .filter(|(_, _, r)| r.is_err())
        .cloned()
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].1, -1);
    assert!(
        refused[0]
            .2
            .as_ref()
            .unwrap_err()
            .contains("max.request.size")
    );
    acknowledged.retain(|(_, _, r)| r.is_ok());
    let mut acked: Vec<(i32, i64)> = acknowledged
        .into_iter()
        .map(|(topic, partition, offset)| {
            assert_eq!(topic, "intercepted");
            (partition, offset.unwrap())
        })
        .collect();
    acked.sort_unstable();
    stored.sort_unstable();
    // Every record once, with the offset its future reported.
    assert_eq!(acked, stored);
    let reader = reader(&broker).await;
    for partition in 0..2 {
        let records = read_all(&reader, "intercepted", partition).await;
        assert_eq!(records.len(), 15);
        for record in records {
            let headers: Vec<_> = record.headers.iter().map(|h| h.key.clone()).collect();
            assert_eq!(headers, [Bytes::from_static(b"traced")]);
        }
    }
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}
