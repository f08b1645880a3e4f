//! The producer against the bundled broker (in-process, port 0): delivery
//! and read-back, Java partitioning, idempotence under injected faults,
//! leader moves, non-retriable errors, delivery timeouts, backpressure and
//! close.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ferrokafka_broker::{Broker, BrokerHandle, FaultAction, FaultRule};
use ferrokafka_client::{Client, ClientConfig, Target};
use ferrokafka_producer::{
    Acks, Compression, Error, JsonSerializer, Producer, ProducerConfig, ProducerRecord,
    StringSerializer, TypedProducer, partition_for_key,
};
use ferrokafka_protocol::generated::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use ferrokafka_protocol::generated::fetch_request::{FetchPartition, FetchTopic};
use ferrokafka_protocol::generated::{CreateTopicsRequest, FetchRequest};
use ferrokafka_protocol::records::{DecodeOptions, Record, decode_batches};
use ferrokafka_protocol::{ApiKey, ErrorCode};

/// Logs with `RUST_LOG=ferrokafka_producer=debug` when a test needs a look.
fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

async fn broker(nodes: i32) -> BrokerHandle {
    init_tracing();
    Broker::builder().nodes(nodes).start().await.unwrap()
}

fn config(broker: &BrokerHandle) -> ferrokafka_producer::ProducerConfigBuilder {
    ProducerConfig::builder()
        .bootstrap_servers(broker.bootstrap_servers().split(','))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
}

async fn reader(broker: &BrokerHandle) -> Client {
    let config = ClientConfig::builder()
        .bootstrap_servers(broker.bootstrap_servers().split(','))
        .build()
        .unwrap();
    Client::connect(config).await.unwrap()
}

/// Every record of a partition, read back with Fetch through the client core.
async fn read_all(client: &Client, topic: &str, partition: i32) -> Vec<Record> {
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
fn wall_millis() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

fn value_of(record: &Record) -> String {
    String::from_utf8(record.value.clone().unwrap().to_vec()).unwrap()
}

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
        // Records without a timestamp are stamped with the wall clock (read
        // off the CPU counter: allow a millisecond either way for its drift
        // across a millisecond boundary).
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
            (before - 1..=after + 1).contains(&metadata.timestamp),
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
            let record = ProducerRecord::new(topic.clone()).value(format!("{compression}-{n}"));
            deliveries.push(producer.send(record).await.unwrap());
        }
        for delivery in deliveries {
            let metadata = delivery.await.unwrap();
            if acks == Acks::None {
                assert_eq!(metadata.offset, -1);
            }
        }
        producer.close(Duration::from_secs(5)).await;
        // With acks=0 a record counts as sent once written to the socket:
        // the broker may not have stored the last ones yet.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while broker.offsets(&topic, 0).unwrap().1 < 500 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let records = read_all(&client, &topic, 0).await;
        let values: Vec<String> = records.iter().map(value_of).collect();
        let expected: Vec<String> = (0..500).map(|n| format!("{compression}-{n}")).collect();
        assert_eq!(values, expected, "{compression} acks={acks}");
    }
    broker.shutdown().await;
}

/// Sends `count` records (keyed by `i % 16`, value `i`), injecting `faults`
/// at the given send indexes, and checks that every record is in the log
/// exactly once and in send order per partition.
async fn exactly_once_in_order(
    broker: &BrokerHandle,
    producer: &Producer,
    topic: &str,
    partitions: i32,
    count: usize,
    mut at: impl FnMut(usize),
) {
    let mut deliveries = Vec::with_capacity(count);
    for i in 0..count {
        at(i);
        let record = ProducerRecord::new(topic)
            .key(format!("k{}", i % 16))
            .value(i.to_string());
        deliveries.push(producer.send(record).await.unwrap());
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    let client = reader(broker).await;
    let mut seen = vec![0usize; count];
    for partition in 0..partitions {
        let values: Vec<usize> = read_all(&client, topic, partition)
            .await
            .iter()
            .map(|r| value_of(r).parse().unwrap())
            .collect();
        for pair in values.windows(2) {
            assert!(
                pair[0] < pair[1],
                "partition {partition} out of order: {pair:?}"
            );
        }
        for v in values {
            seen[v] += 1;
        }
    }
    let wrong: Vec<(usize, usize)> = seen
        .iter()
        .enumerate()
        .filter(|(_, n)| **n != 1)
        .map(|(i, n)| (i, *n))
        .take(10)
        .collect();
    assert!(
        wrong.is_empty(),
        "records not seen exactly once (index, times): {wrong:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_stream_survives_dropped_connections_and_lost_responses() {
    let broker = broker(1).await;
    broker.create_topic("idem", 4).unwrap();
    let producer = Producer::connect(
        config(&broker)
            .request_timeout(Duration::from_millis(1000))
            .linger(Duration::from_millis(2))
            .batch_size(2048)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    assert!(producer.config().idempotence_enabled());
    exactly_once_in_order(&broker, &producer, "idem", 4, 10_000, |i| {
        let rule = match i {
            1_000 => FaultRule::new(ApiKey::Produce, FaultAction::DropAfterApply),
            2_500 => FaultRule::new(ApiKey::Produce, FaultAction::DropBeforeApply).times(2),
            4_000 => FaultRule::new(ApiKey::Produce, FaultAction::NoResponse),
            5_500 => FaultRule::new(ApiKey::Produce, FaultAction::DropAfterApply).times(3),
            7_000 => FaultRule::new(
                ApiKey::Produce,
                FaultAction::Fail(ErrorCode::NotLeaderOrFollower),
            )
            .times(2),
            8_500 => FaultRule::new(ApiKey::Produce, FaultAction::NoResponse).times(2),
            _ => return,
        };
        broker.inject_fault(rule);
    })
    .await;
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_move_mid_stream_keeps_every_record_once_in_order() {
    let broker = broker(3).await;
    broker.create_topic("moving", 3).unwrap();
    let producer = Producer::connect(config(&broker).build().unwrap())
        .await
        .unwrap();
    let broker_ref = &broker;
    exactly_once_in_order(&broker, &producer, "moving", 3, 3_000, |i| {
        if i == 1_000 || i == 2_000 {
            for partition in 0..3 {
                let (leader, _) = broker_ref.leader_of("moving", partition).unwrap();
                broker_ref
                    .move_leader("moving", partition, (leader + 1) % 3)
                    .unwrap();
            }
        }
    })
    .await;
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

/// KIP-951: a Produce refused with NOT_LEADER_OR_FOLLOWER names the new
/// leader, and the producer resends there without asking for metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_leader_named_by_the_produce_response_needs_no_metadata_request() {
    let broker = broker(3).await;
    broker.create_topic("hinted", 1).unwrap();
    let mut config = config(&broker).build().unwrap();
    // No age-based refresh during the test.
    config.client.metadata_max_age = Duration::from_secs(600);
    let producer = Producer::connect(config).await.unwrap();
    let first = producer
        .send(ProducerRecord::new("hinted").value("before"))
        .await
        .unwrap()
        .await
        .unwrap();
    let (leader, epoch) = broker.leader_of("hinted", 0).unwrap();
    broker.record_requests(true);
    broker.move_leader("hinted", 0, (leader + 1) % 3).unwrap();
    let second = producer
        .send(ProducerRecord::new("hinted").value("after"))
        .await
        .unwrap()
        .await
        .unwrap();
    let seen = broker.requests_seen();
    broker.record_requests(false);
    assert_eq!((first.offset, second.offset), (0, 1));
    let produce_nodes: Vec<i32> = seen
        .iter()
        .filter(|r| r.api == ApiKey::Produce)
        .map(|r| r.node)
        .collect();
    // Refused by the old leader, then stored by the new one.
    assert_eq!(produce_nodes, [leader, (leader + 1) % 3], "{seen:?}");
    assert!(
        seen.iter().all(|r| r.api != ApiKey::Metadata),
        "a metadata request was sent: {seen:?}"
    );
    let metadata = producer.client().metadata();
    let partition = metadata.partition("hinted", 0).unwrap();
    assert_eq!(partition.leader, (leader + 1) % 3);
    assert!(partition.leader_epoch > epoch);
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_retriable_error_fails_only_its_records() {
    let broker = broker(3).await;
    broker.create_topic("partial", 3).unwrap();
    // One partition per broker, so a fault on one broker hits one partition.
    for partition in 0..3 {
        if broker.leader_of("partial", partition).unwrap().0 != partition {
            broker.move_leader("partial", partition, partition).unwrap();
        }
    }
    let producer = Producer::connect(config(&broker).build().unwrap())
        .await
        .unwrap();
    broker.inject_fault(
        FaultRule::new(ApiKey::Produce, FaultAction::Fail(ErrorCode::InvalidRecord)).on_node(1),
    );
    let mut deliveries = Vec::new();
    for i in 0..30 {
        let partition = i % 3;
        let record = ProducerRecord::new("partial")
            .partition(partition)
            .value(i.to_string());
        deliveries.push((partition, producer.send(record).await.unwrap()));
    }
    for (partition, delivery) in deliveries {
        match (partition, delivery.await) {
            (1, Err(error)) => {
                assert_eq!(
                    error.kafka_code(),
                    Some(ErrorCode::InvalidRecord),
                    "{error}"
                );
                assert!(
                    matches!(error, Error::Kafka { partition: 1, .. }),
                    "{error}"
                );
            }
            (1, Ok(m)) => panic!("partition 1 should have failed: {m:?}"),
            (_, result) => {
                result.unwrap();
            }
        }
    }
    // The partition works again afterwards.
    producer
        .send(ProducerRecord::new("partial").partition(1).value("after"))
        .await
        .unwrap()
        .await
        .unwrap();
    producer.close(Duration::from_secs(5)).await;
    // The metrics count exactly what the futures reported.
    let metrics = producer.metrics();
    assert_eq!(metrics.record_send_total, 21, "{metrics:?}");
    assert_eq!(metrics.record_error_total, 10, "{metrics:?}");
    assert_eq!(metrics.record_retry_total, 0, "{metrics:?}");
    assert_eq!(metrics.requests_in_flight, 0, "{metrics:?}");
    assert_eq!(metrics.request_total, metrics.response_total, "{metrics:?}");
    assert!(metrics.batch_total >= 4, "{metrics:?}");
    assert!(metrics.outgoing_byte_total > 0, "{metrics:?}");
    assert_eq!(
        metrics.buffer_available_bytes, metrics.buffer_total_bytes,
        "{metrics:?}"
    );
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_retried_records() {
    let broker = broker(1).await;
    broker.create_topic("retried", 1).unwrap();
    let producer = Producer::connect(config(&broker).build().unwrap())
        .await
        .unwrap();
    // Warm up so the fault hits a Produce request with every record in it.
    producer
        .send(ProducerRecord::new("retried").value("first"))
        .await
        .unwrap()
        .await
        .unwrap();
    broker.inject_fault(
        FaultRule::new(
            ApiKey::Produce,
            FaultAction::Fail(ErrorCode::NotLeaderOrFollower),
        )
        .times(2),
    );
    let delivery = producer
        .send(ProducerRecord::new("retried").value("second"))
        .await
        .unwrap();
    delivery.await.unwrap();
    producer.close(Duration::from_secs(5)).await;
    let metrics = producer.metrics();
    assert_eq!(metrics.record_send_total, 2, "{metrics:?}");
    assert_eq!(metrics.record_error_total, 0, "{metrics:?}");
    assert_eq!(metrics.record_retry_total, 2, "{metrics:?}");
    assert_eq!(metrics.response_total, 4, "{metrics:?}");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_large_batches_are_split_and_only_the_oversized_record_fails() {
    let broker = broker(1).await;
    let client = reader(&broker).await;
    let response = client
        .send(
            &CreateTopicsRequest {
                topics: vec![CreatableTopic {
                    name: "small".into(),
                    num_partitions: 1,
                    replication_factor: -1,
                    configs: vec![CreatableTopicConfig {
                        name: "max.message.bytes".into(),
                        value: Some("3000".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                timeout_ms: 5000,
                ..Default::default()
            },
            &Target::Controller,
        )
        .await
        .unwrap();
    assert_eq!(response.topics[0].error_code, ErrorCode::None);
    let producer = Producer::connect(
        config(&broker)
            .linger(Duration::from_millis(50))
            .request_timeout(Duration::from_secs(5))
            .delivery_timeout(Duration::from_secs(20))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let mut deliveries = Vec::new();
    for i in 0..40 {
        let value = if i == 17 {
            "x".repeat(5000)
        } else {
            format!("{i:0>200}")
        };
        deliveries.push((
            i,
            producer
                .send(ProducerRecord::new("small").value(value))
                .await
                .unwrap(),
        ));
    }
    let mut delivered = 0;
    for (i, delivery) in deliveries {
        match delivery.await {
            Ok(_) => delivered += 1,
            Err(error) => {
                assert_eq!(i, 17, "{error}");
                assert_eq!(
                    error.kafka_code(),
                    Some(ErrorCode::MessageTooLarge),
                    "{error}"
                );
            }
        }
    }
    assert_eq!(delivered, 39);
    let values: Vec<String> = read_all(&client, "small", 0)
        .await
        .iter()
        .map(value_of)
        .collect();
    let expected: Vec<String> = (0..40)
        .filter(|&i| i != 17)
        .map(|i| format!("{i:0>200}"))
        .collect();
    assert_eq!(values, expected);
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_timeout_expires_records_while_the_broker_is_down() {
    let broker = broker(1).await;
    broker.create_topic("down", 1).unwrap();
    let producer = Producer::connect(
        config(&broker)
            .request_timeout(Duration::from_millis(500))
            .delivery_timeout(Duration::from_millis(1500))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    producer
        .send(ProducerRecord::new("down").value("before"))
        .await
        .unwrap()
        .await
        .unwrap();
    broker.stop_node(0).await.unwrap();
    let started = tokio::time::Instant::now();
    let mut deliveries = Vec::new();
    for i in 0..20 {
        deliveries.push(
            producer
                .send(ProducerRecord::new("down").value(i.to_string()))
                .await
                .unwrap(),
        );
    }
    for delivery in deliveries {
        let error = delivery.await.unwrap_err();
        assert!(
            matches!(error, Error::DeliveryTimeout { .. }),
            "expected a delivery timeout, got {error}"
        );
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    producer.close(Duration::from_secs(1)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_memory_backpressure_waits_then_times_out_or_proceeds() {
    let broker = broker(1).await;
    broker.create_topic("pressure", 1).unwrap();
    let producer = Producer::connect(
        config(&broker)
            .buffer_memory(10_000)
            .max_block(Duration::from_millis(300))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    // Hold every Produce for a while so nothing frees memory.
    broker.inject_fault(
        FaultRule::new(
            ApiKey::Produce,
            FaultAction::Delay(Duration::from_millis(1500)),
        )
        .times(100),
    );
    let value = "v".repeat(1000);
    let mut deliveries = Vec::new();
    let err = loop {
        match producer
            .send(ProducerRecord::new("pressure").value(value.clone()))
            .await
        {
            Ok(d) => deliveries.push(d),
            Err(e) => break e,
        }
        assert!(deliveries.len() < 20, "buffer.memory never pushed back");
    };
    assert!(matches!(err, Error::MaxBlockTimeout { .. }), "{err}");
    assert!(deliveries.len() >= 5, "{}", deliveries.len());
    // A send that waits long enough gets in once the held requests finish.
    let patient = Producer::clone(&producer);
    let waiting = tokio::spawn(async move {
        patient
            .send(ProducerRecord::new("pressure").value("late"))
            .await
            .map(drop)
    });
    for d in deliveries {
        d.await.unwrap();
    }
    broker.clear_faults();
    // max.block.ms (300 ms) may pass before the first 1.5 s delay ends;
    // either way the answer is a clean timeout or success, never a hang.
    match waiting.await.unwrap() {
        Ok(()) | Err(Error::MaxBlockTimeout { .. }) => {}
        Err(e) => panic!("{e}"),
    }
    producer.flush().await;
    assert_eq!(producer.buffer_available_bytes(), 10_000);
    producer
        .send(ProducerRecord::new("pressure").value(value))
        .await
        .unwrap()
        .await
        .unwrap();
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_waiting_for_memory_sends_lingering_batches() {
    let broker = broker(1).await;
    broker.create_topic("exhausted", 8).unwrap();
    // Each open batch holds batch.size (16384) of buffer.memory: four hold
    // all of it, and with linger.ms at a minute none would give it back
    // before max.block.ms (10 s) ran out for the fifth partition's record.
    let producer = Producer::connect(
        config(&broker)
            .buffer_memory(4 * 16384)
            .linger(Duration::from_secs(60))
            .max_block(Duration::from_secs(10))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    // Known partitions: every send takes the path that opens batches.
    producer
        .client()
        .metadata_for(&["exhausted"])
        .await
        .unwrap();
    let mut deliveries = Vec::new();
    for partition in 0..8 {
        let record = ProducerRecord::new("exhausted")
            .partition(partition)
            .value(format!("v{partition}"));
        deliveries.push(producer.send(record).await.unwrap());
    }
    producer.flush().await;
    for (partition, delivery) in deliveries.into_iter().enumerate() {
        let metadata = delivery.await.unwrap();
        assert_eq!(metadata.partition, i32::try_from(partition).unwrap());
    }
    assert_eq!(producer.buffer_available_bytes(), 4 * 16384);
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_delivers_pending_records_and_refuses_new_ones() {
    let broker = broker(1).await;
    broker.create_topic("closing", 2).unwrap();
    let producer = Producer::connect(
        config(&broker)
            .linger(Duration::from_secs(30))
            .delivery_timeout(Duration::from_secs(120))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let called = Arc::new(AtomicUsize::new(0));
    let mut deliveries = Vec::new();
    for i in 0..50 {
        let record = ProducerRecord::new("closing").value(i.to_string());
        if i % 2 == 0 {
            deliveries.push(producer.send(record).await.unwrap());
        } else {
            let called = called.clone();
            producer
                .send_with_callback(record, move |result| {
                    result.unwrap();
                    called.fetch_add(1, Ordering::SeqCst);
                })
                .await
                .unwrap();
        }
    }
    // linger.ms is 30 s: only close makes these go now.
    producer.close(Duration::from_secs(10)).await;
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    assert_eq!(called.load(Ordering::SeqCst), 25);
    let err = producer
        .send(ProducerRecord::new("closing").value("late"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Closed(_)), "{err}");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_with_the_broker_down_fails_pending_records_after_the_timeout() {
    let broker = broker(1).await;
    broker.create_topic("stuck", 1).unwrap();
    let producer = Producer::connect(config(&broker).build().unwrap())
        .await
        .unwrap();
    producer
        .send(ProducerRecord::new("stuck").value("first"))
        .await
        .unwrap()
        .await
        .unwrap();
    broker.stop_node(0).await.unwrap();
    let delivery = producer
        .send(ProducerRecord::new("stuck").value("x"))
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    producer.close(Duration::from_millis(300)).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let err = delivery.await.unwrap_err();
    assert!(matches!(err, Error::Closed(_)), "{err}");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_sends_before_linger_ends() {
    let broker = broker(1).await;
    broker.create_topic("flush", 1).unwrap();
    let producer = Producer::connect(
        config(&broker)
            .linger(Duration::from_secs(30))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let delivery = producer
        .send(ProducerRecord::new("flush").value("v"))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), producer.flush())
        .await
        .expect("flush finished");
    assert_eq!(delivery.await.unwrap().offset, 0);
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

/// A caller that sends in a loop without ever yielding to its runtime must
/// not keep the sender from running: the first record is delivered while
/// the loop still goes on. (A sender task woken from the caller's worker
/// would sit in that worker's LIFO slot, which no other worker steals,
/// until the loop yields; here it never does while `buffer.memory` has
/// room.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_never_yields_does_not_hold_up_delivery() {
    use std::future::Future as _;
    use std::task::{Context, Poll, Waker};

    let broker = broker(1).await;
    broker.create_topic("busy", 4).unwrap();
    let producer = Producer::connect(
        config(&broker)
            .acks(Acks::Leader)
            .buffer_memory(512 << 20)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    // On a worker thread of the runtime (a test's own body runs on a
    // thread outside it, whose wake-ups never go to a LIFO slot).
    let sending = producer.clone();
    let (delivered, sent) = tokio::spawn(async move {
        let topic = ferrokafka_producer::TopicName::new("busy");
        let value = Bytes::from(vec![b'x'; 100]);
        let mut first = sending
            .send(ProducerRecord::new(topic.clone()).value(value.clone()))
            .await
            .unwrap();
        let mut sent = 1usize;
        // Far more than the sender needs to deliver the first batch; the
        // loop stops as soon as it is delivered. 2,000,000 records of ~120
        // bytes fit in the 512 MiB buffer, so `send` never waits (never
        // yields) here.
        loop {
            // A context is not Send: made for each look.
            let poll = std::pin::Pin::new(&mut first).poll(&mut Context::from_waker(Waker::noop()));
            if let Poll::Ready(result) = poll {
                return (Some(result.unwrap()), sent);
            }
            if sent == 2_000_000 {
                return (None, sent);
            }
            for _ in 0..100 {
                // Dropped futures do not cancel delivery.
                drop(
                    sending
                        .send(ProducerRecord::new(topic.clone()).value(value.clone()))
                        .await
                        .unwrap(),
                );
            }
            sent += 100;
        }
    })
    .await
    .unwrap();
    let delivered = delivered.expect("the first record was delivered while the loop ran");
    assert_eq!(delivered.offset, 0);
    assert!(sent < 2_000_000);
    producer.flush().await;
    let stored: i64 = (0..4).map(|p| broker.offsets("busy", p).unwrap().1).sum();
    assert_eq!(stored, i64::try_from(sent).unwrap());
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

/// A batch that fills while a request is in flight waits for no response:
/// the sender looks again within linger.ms. Here the first request is
/// never answered (until the 60 s request timeout), and the second
/// partition's full batch is still delivered at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_batch_goes_out_while_an_unanswered_request_is_in_flight() {
    let broker = broker(1).await;
    broker.create_topic("stalled", 2).unwrap();
    let producer = Producer::connect(
        config(&broker)
            .acks(Acks::Leader)
            .batch_size(1024)
            .linger(Duration::from_millis(50))
            .request_timeout(Duration::from_secs(60))
            .delivery_timeout(Duration::from_secs(120))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    broker.inject_fault(FaultRule::new(ApiKey::Produce, FaultAction::NoResponse).times(1));
    let send = |partition: i32, count: u8| {
        let producer = producer.clone();
        async move {
            let mut futures = Vec::new();
            for i in 0..count {
                futures.push(
                    producer
                        .send(
                            ProducerRecord::new("stalled")
                                .partition(partition)
                                .value(vec![b'a' + i % 26; 100]),
                        )
                        .await
                        .unwrap(),
                );
            }
            futures
        }
    };
    // One batch (5 records, under 1024 bytes), sent when linger ends and
    // applied, but never answered: one request stays in flight.
    let stalled = send(0, 5).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while broker.offsets("stalled", 0).unwrap().1 < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first request never arrived"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // 20 records of 100 bytes: the first batch of partition 1 fills.
    let flowing = send(1, 20).await;
    let first = flowing.into_iter().next().unwrap();
    let delivered = tokio::time::timeout(Duration::from_secs(10), first)
        .await
        .expect("delivered without waiting for the unanswered request")
        .unwrap();
    assert_eq!((delivered.partition, delivered.offset), (1, 0));
    drop(stalled);
    producer.close(Duration::from_millis(100)).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_topics_time_out_after_max_block() {
    let broker = Broker::builder()
        .nodes(1)
        .auto_create_topics(false)
        .start()
        .await
        .unwrap();
    let producer = Producer::connect(
        config(&broker)
            .max_block(Duration::from_millis(300))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let err = producer
        .send(ProducerRecord::new("nowhere").value("v"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MaxBlockTimeout { .. }), "{err}");
    producer.close(Duration::from_secs(1)).await;
    broker.shutdown().await;
}

/// Sends `count` records to partition 0 of `topic` and returns each result.
async fn send_all(
    producer: &Producer,
    topic: &str,
    count: usize,
) -> Vec<ferrokafka_producer::Result<ferrokafka_producer::RecordMetadata>> {
    let mut deliveries = Vec::new();
    for i in 0..count {
        let record = ProducerRecord::new(topic).partition(0).value(i.to_string());
        deliveries.push(producer.send(record).await.unwrap());
    }
    let mut results = Vec::new();
    for delivery in deliveries {
        results.push(delivery.await);
    }
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_producer_id_bumps_the_epoch_and_delivers_everything_once() {
    let broker = broker(1).await;
    broker.create_topic("unknown-pid", 1).unwrap();
    let producer = Producer::connect(config(&broker).build().unwrap())
        .await
        .unwrap();
    send_all(&producer, "unknown-pid", 10)
        .await
        .into_iter()
        .for_each(|r| {
            r.unwrap();
        });
    broker.inject_fault(FaultRule::new(
        ApiKey::Produce,
        FaultAction::Fail(ErrorCode::UnknownProducerId),
    ));
    for result in send_all(&producer, "unknown-pid", 100).await {
        result.unwrap();
    }
    let client = reader(&broker).await;
    let values: Vec<String> = read_all(&client, "unknown-pid", 0)
        .await
        .iter()
        .map(value_of)
        .collect();
    let expected: Vec<String> = (0..10).chain(0..100).map(|i| i.to_string()).collect();
    assert_eq!(values, expected);
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_sequence_gap_fails_its_batch_and_the_epoch_bump_lets_later_records_through() {
    let broker = broker(1).await;
    broker.create_topic("gap", 1).unwrap();
    // One batch: all records sent well within linger.ms.
    let producer = Producer::connect(
        config(&broker)
            .linger(Duration::from_millis(200))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    broker.inject_fault(FaultRule::new(
        ApiKey::Produce,
        FaultAction::Fail(ErrorCode::OutOfOrderSequenceNumber),
    ));
    let first = send_all(&producer, "gap", 5).await;
    for result in &first {
        let error = result.as_ref().unwrap_err();
        assert_eq!(
            error.kafka_code(),
            Some(ErrorCode::OutOfOrderSequenceNumber),
            "{error}"
        );
    }
    for result in send_all(&producer, "gap", 50).await {
        result.unwrap();
    }
    let client = reader(&broker).await;
    assert_eq!(read_all(&client, "gap", 0).await.len(), 50);
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_producer_becomes_fatal() {
    let broker = broker(1).await;
    broker.create_topic("fenced", 1).unwrap();
    // One batch: all records sent well within linger.ms.
    let producer = Producer::connect(
        config(&broker)
            .linger(Duration::from_millis(200))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    broker.inject_fault(FaultRule::new(
        ApiKey::Produce,
        FaultAction::Fail(ErrorCode::InvalidProducerEpoch),
    ));
    for result in send_all(&producer, "fenced", 3).await {
        let error = result.unwrap_err();
        assert_eq!(
            error.kafka_code(),
            Some(ErrorCode::InvalidProducerEpoch),
            "{error}"
        );
    }
    let err = producer
        .send(ProducerRecord::new("fenced").value("later"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Fatal(_)), "{err}");
    producer.close(Duration::from_secs(5)).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_producer_fails_pending_records_without_hanging() {
    let broker = broker(1).await;
    broker.create_topic("dropped", 1).unwrap();
    let producer = Producer::connect(
        config(&broker)
            .linger(Duration::from_secs(30))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let delivery = producer
        .send(ProducerRecord::new("dropped").value("v"))
        .await
        .unwrap();
    drop(producer);
    let err = tokio::time::timeout(Duration::from_secs(5), delivery)
        .await
        .expect("resolved promptly")
        .unwrap_err();
    assert!(matches!(err, Error::Closed(_)), "{err}");
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

/// A producer that outlives the runtime it was started on (its sender's
/// timers and connections die with it) refuses records, or fails them,
/// instead of leaving them to wait forever.
#[test]
fn a_producer_whose_runtime_is_gone_fails_records_instead_of_hanging() {
    let broker_runtime = tokio::runtime::Runtime::new().unwrap();
    let broker = broker_runtime.block_on(broker(1));
    broker.create_topic("orphan", 1).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let producer = runtime.block_on(async {
        let producer = Producer::connect(config(&broker).build().unwrap())
            .await
            .unwrap();
        let delivered = producer
            .send(ProducerRecord::new("orphan").value("first"))
            .await
            .unwrap()
            .await
            .unwrap();
        assert_eq!(delivered.offset, 0);
        producer
    });
    drop(runtime);
    let later = tokio::runtime::Runtime::new().unwrap();
    let failure = later.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match producer
                    .send(ProducerRecord::new("orphan").value("later"))
                    .await
                {
                    Err(error) => return error,
                    // Accepted before the sender was found gone: it fails.
                    Ok(delivery) => {
                        if let Err(error) = delivery.await {
                            return error;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("the record failed rather than waited forever")
    });
    assert!(
        matches!(failure, Error::Fatal(_) | Error::Closed(_)),
        "{failure}"
    );
    drop(producer);
    broker_runtime.block_on(broker.shutdown());
}
