//! The idempotent producer under injected faults, against the bundled
//! broker (in-process, port 0): lost connections and responses, retriable
//! and non-retriable errors (whole requests, or one partition while five
//! requests are in flight), leader moves, sequence errors and fencing.
//!
//! Every test that injects faults checks that each of them fired (exact
//! counts), and every test checks the offsets the producer acknowledged
//! against what the log holds: each acknowledged record at its offset,
//! exactly once, in send order per partition, and nothing else.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{
    Acked, Allowed, acknowledged, assert_faults_fired, assert_log_matches, broker, config, reader,
    wait_until,
};
use ferrokafka_broker::{BrokerHandle, FaultAction, FaultRule};
use ferrokafka_client::Target;
use ferrokafka_producer::{DeliveryFuture, Error, Producer, ProducerRecord};
use ferrokafka_protocol::generated::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use ferrokafka_protocol::generated::{CreateTopicsRequest, RequestKind};
use ferrokafka_protocol::{ApiKey, ErrorCode};
use tokio::task::JoinHandle;

/// Sends `count` records keyed by `i % 16` with value `i`, calling `at(i)`
/// before each send (to inject faults mid-stream), and returns every
/// acknowledgement in send order.
async fn send_keyed(
    producer: &Producer,
    topic: &str,
    count: usize,
    mut at: impl FnMut(usize),
) -> Vec<Acked> {
    let mut deliveries = Vec::with_capacity(count);
    for i in 0..count {
        at(i);
        let value = i.to_string();
        let record = ProducerRecord::new(topic)
            .key(format!("k{}", i % 16))
            .value(value.clone());
        deliveries.push((value, producer.send(record).await.unwrap()));
    }
    acknowledged(deliveries).await
}

/// Sends `count` records with values `{prefix}-{i}` to partition 0 of
/// `topic` and returns each value with its delivery result.
async fn send_all(
    producer: &Producer,
    topic: &str,
    prefix: &str,
    count: usize,
) -> Vec<(
    String,
    ferrokafka_producer::Result<ferrokafka_producer::RecordMetadata>,
)> {
    let mut deliveries = Vec::new();
    for i in 0..count {
        let value = format!("{prefix}-{i}");
        let record = ProducerRecord::new(topic).partition(0).value(value.clone());
        deliveries.push((value, producer.send(record).await.unwrap()));
    }
    let mut results = Vec::new();
    for (value, delivery) in deliveries {
        results.push((value, delivery.await));
    }
    results
}

/// Each value with its acknowledgement, panicking on a failed delivery.
fn all_acked(
    results: Vec<(
        String,
        ferrokafka_producer::Result<ferrokafka_producer::RecordMetadata>,
    )>,
) -> Vec<Acked> {
    results
        .into_iter()
        .map(|(value, result)| {
            let metadata = result.unwrap_or_else(|e| panic!("{value} failed: {e}"));
            Acked::new(value, &metadata)
        })
        .collect()
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
    let not_leader = FaultAction::Fail(ErrorCode::NotLeaderOrFollower);
    let acked = send_keyed(&producer, "idem", 10_000, |i| {
        let rule = match i {
            1_000 => FaultRule::new(ApiKey::Produce, FaultAction::DropAfterApply),
            2_500 => FaultRule::new(ApiKey::Produce, FaultAction::DropBeforeApply).times(2),
            4_000 => FaultRule::new(ApiKey::Produce, FaultAction::NoResponse),
            5_500 => FaultRule::new(ApiKey::Produce, FaultAction::DropAfterApply).times(3),
            7_000 => FaultRule::new(ApiKey::Produce, not_leader.clone()).times(2),
            8_500 => FaultRule::new(ApiKey::Produce, FaultAction::NoResponse).times(2),
            _ => return,
        };
        broker.inject_fault(rule);
    })
    .await;
    producer.close(Duration::from_secs(5)).await;
    assert_faults_fired(
        &broker,
        ApiKey::Produce,
        &[
            (FaultAction::DropAfterApply, 4),
            (FaultAction::DropBeforeApply, 2),
            (FaultAction::NoResponse, 3),
            (not_leader, 2),
        ],
    );
    // Lost responses: a batch whose answer was lost is known written once a
    // later batch of its partition is acknowledged, without its offset.
    let allowed = Allowed {
        unknown_offsets: true,
        ..Allowed::default()
    };
    assert_log_matches(&broker, "idem", 4, &acked, &allowed);
    broker.shutdown().await;
}

const TOPIC: &str = "in-flight";
const PARTITIONS: i32 = 4;
/// The partition refused with a retriable error.
const REFUSED: i32 = 2;
/// About nine records of ~110 bytes fill a 1024-byte batch: nine batches
/// per partition, more than the requests in flight can carry.
const PER_PARTITION: usize = 80;
/// How long the first Produce request is held (and, the broker serving a
/// connection in order, every request behind it) while the others go out:
/// the five requests leave within milliseconds, and the test must see them
/// all sent before the first is answered, on a busy machine too.
const HOLD: Duration = Duration::from_secs(5);

/// A broker recording requests, with `TOPIC`'s partitions all on node 0,
/// and an idempotent producer allowed five requests in flight.
async fn in_flight_setup() -> (BrokerHandle, Producer) {
    let broker = broker(1).await;
    broker.create_topic(TOPIC, PARTITIONS).unwrap();
    broker.record_requests(true);
    // linger.ms at a minute: with a request in flight, a batch that fills
    // does not wake the sender, so the records `hold_and_refuse` queues
    // wait until its `flush` drains them all at once, one batch per
    // partition per request, up to the in-flight limit.
    let producer = Producer::connect(
        config(&broker)
            .max_in_flight_requests_per_connection(5)
            .batch_size(1024)
            .linger(Duration::from_secs(60))
            .request_timeout(Duration::from_secs(30))
            .delivery_timeout(Duration::from_secs(120))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    assert!(producer.config().idempotence_enabled());
    (broker, producer)
}

/// The fault `hold_and_refuse` refuses `REFUSED` with.
const NOT_ENOUGH: FaultAction = FaultAction::Fail(ErrorCode::NotEnoughReplicas);

/// Holds the next Produce request for `HOLD` (one record that fills a batch
/// of partition 0), queues `PER_PARTITION` records per partition behind it
/// and starts a flush; partition `REFUSED` is refused with
/// NOT_ENOUGH_REPLICAS in the first two requests naming it after the held
/// one. Returns the deliveries in send order and the flush.
async fn hold_and_refuse(
    broker: &BrokerHandle,
    producer: &Producer,
) -> (Vec<(String, DeliveryFuture)>, JoinHandle<()>) {
    broker.inject_fault(FaultRule::new(ApiKey::Produce, FaultAction::Delay(HOLD)));
    broker.inject_fault(
        FaultRule::new(ApiKey::Produce, NOT_ENOUGH)
            .for_partition(TOPIC, REFUSED)
            .times(2),
    );
    let held = format!("held-{}", "h".repeat(1000));
    let mut deliveries = vec![(
        held.clone(),
        producer
            .send(ProducerRecord::new(TOPIC).partition(0).value(held))
            .await
            .unwrap(),
    )];
    wait_until(Duration::from_secs(10), "the first request is held", || {
        broker
            .faults_fired()
            .iter()
            .any(|f| f.action == FaultAction::Delay(HOLD))
    })
    .await;
    for i in 0..PER_PARTITION {
        for partition in 0..PARTITIONS {
            let value = format!("p{partition}-{i:03}-{}", "v".repeat(90));
            let record = ProducerRecord::new(TOPIC)
                .partition(partition)
                .value(value.clone());
            deliveries.push((value, producer.send(record).await.unwrap()));
        }
    }
    let flushing = tokio::spawn({
        let producer = producer.clone();
        async move { producer.flush().await }
    });
    (deliveries, flushing)
}

/// Asserts that the two faults `hold_and_refuse` injected fired as told.
fn assert_held_and_refused(broker: &BrokerHandle) {
    assert_faults_fired(
        broker,
        ApiKey::Produce,
        &[(FaultAction::Delay(HOLD), 1), (NOT_ENOUGH, 2)],
    );
    let fired = broker.faults_fired();
    assert!(
        fired
            .iter()
            .filter(|f| f.action == NOT_ENOUGH)
            .all(|f| f.node == 0 && f.partition == Some((TOPIC.to_string(), REFUSED))),
        "{fired:?}"
    );
}

/// The partitions each recorded Produce request carried, in the order the
/// broker took them.
fn produce_requests(broker: &BrokerHandle) -> Vec<Vec<i32>> {
    broker
        .requests_seen()
        .into_iter()
        .filter_map(|seen| match seen.request {
            RequestKind::Produce(request) => Some(
                request
                    .topic_data
                    .iter()
                    .flat_map(|t| t.partition_data.iter().map(|p| p.index))
                    .collect(),
            ),
            _ => None,
        })
        .collect()
}

/// Five requests in flight to one broker (idempotence allows up to five
/// per connection and keeps order with them), and one partition refused
/// with a retriable error in two of them: the broker answers the later
/// requests' batches of that partition OUT_OF_ORDER_SEQUENCE_NUMBER (their
/// predecessor is missing), and the producer must resend the partition's
/// batches in order without losing, duplicating or reordering a record,
/// while the other partitions are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retriable_error_on_one_partition_with_five_requests_in_flight() {
    let (broker, producer) = in_flight_setup().await;
    // One batch of each partition acknowledged first: from then on the
    // broker checks the producer's sequences there, and batches pipeline.
    let mut warm = Vec::new();
    for partition in 0..PARTITIONS {
        let value = format!("warm-{partition}");
        let record = ProducerRecord::new(TOPIC)
            .partition(partition)
            .value(value.clone());
        warm.push((value, producer.send(record).await.unwrap()));
    }
    producer.flush().await;
    let mut acked = acknowledged(warm).await;
    broker.clear_requests_seen();
    let before = producer.metrics();
    let (deliveries, flushing) = hold_and_refuse(&broker, &producer).await;
    // Counters only grow: five requests sent since and still no response
    // seen means five were in flight together. (The first is held for
    // HOLD: this must look within that.)
    let sent_since = || producer.metrics().request_total - before.request_total;
    wait_until(HOLD, "five requests sent", || sent_since() >= 5).await;
    let metrics = producer.metrics();
    assert_eq!(
        (
            metrics.request_total - before.request_total,
            metrics.response_total - before.response_total
        ),
        (5, 0),
        "{metrics:?}"
    );
    acked.extend(acknowledged(deliveries).await);
    flushing.await.unwrap();
    assert_held_and_refused(&broker);
    // The partition was refused in requests among those five (the fault
    // fires on the first requests naming it after the held one).
    let produce = produce_requests(&broker);
    let refused: Vec<usize> = produce
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, partitions)| partitions.contains(&REFUSED))
        .map(|(i, _)| i)
        .take(2)
        .collect();
    assert!(refused.iter().all(|&i| i < 5), "{refused:?} of {produce:?}");
    let metrics = producer.metrics();
    assert!(metrics.record_retry_total > 0, "{metrics:?}");
    assert_eq!(metrics.record_error_total, 0, "{metrics:?}");
    assert_log_matches(&broker, TOPIC, PARTITIONS, &acked, &Allowed::default());
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

/// The same refusal when it hits a partition's first batch of the
/// producer's epoch. The broker holds no sequence state for the producer
/// there yet and so takes any sequence (as Kafka does): had later batches
/// of the partition gone out with the first, the broker would have
/// appended them ahead of it. The producer sends a partition's first batch
/// of an epoch alone, and every record lands once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retriable_error_on_a_partitions_first_batch_keeps_its_records_in_order() {
    let (broker, producer) = in_flight_setup().await;
    let (deliveries, flushing) = hold_and_refuse(&broker, &producer).await;
    let acked = acknowledged(deliveries).await;
    flushing.await.unwrap();
    assert_held_and_refused(&broker);
    let metrics = producer.metrics();
    assert!(metrics.record_retry_total > 0, "{metrics:?}");
    assert_eq!(metrics.record_error_total, 0, "{metrics:?}");
    assert_log_matches(&broker, TOPIC, PARTITIONS, &acked, &Allowed::default());
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
    let acked = send_keyed(&producer, "moving", 3_000, |i| {
        if i == 1_000 || i == 2_000 {
            for partition in 0..3 {
                let (leader, _) = broker.leader_of("moving", partition).unwrap();
                broker
                    .move_leader("moving", partition, (leader + 1) % 3)
                    .unwrap();
            }
        }
    })
    .await;
    producer.close(Duration::from_secs(5)).await;
    assert_log_matches(&broker, "moving", 3, &acked, &Allowed::default());
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
    let acked = [Acked::new("before", &first), Acked::new("after", &second)];
    assert_log_matches(&broker, "hinted", 1, &acked, &Allowed::default());
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
    let invalid = FaultAction::Fail(ErrorCode::InvalidRecord);
    broker.inject_fault(FaultRule::new(ApiKey::Produce, invalid.clone()).on_node(1));
    let mut deliveries = Vec::new();
    for i in 0..30 {
        let partition = i % 3;
        let value = i.to_string();
        let record = ProducerRecord::new("partial")
            .partition(partition)
            .value(value.clone());
        deliveries.push((partition, value, producer.send(record).await.unwrap()));
    }
    let mut acked = Vec::new();
    for (partition, value, delivery) in deliveries {
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
            (_, result) => acked.push(Acked::new(value, &result.unwrap())),
        }
    }
    // The partition works again afterwards.
    let after = producer
        .send(ProducerRecord::new("partial").partition(1).value("after"))
        .await
        .unwrap()
        .await
        .unwrap();
    acked.push(Acked::new("after", &after));
    producer.close(Duration::from_secs(5)).await;
    assert_faults_fired(&broker, ApiKey::Produce, &[(invalid, 1)]);
    assert_eq!(broker.faults_fired()[0].node, 1);
    // The refused records were never written.
    assert_log_matches(&broker, "partial", 3, &acked, &Allowed::default());
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
    let first = producer
        .send(ProducerRecord::new("retried").value("first"))
        .await
        .unwrap()
        .await
        .unwrap();
    let not_leader = FaultAction::Fail(ErrorCode::NotLeaderOrFollower);
    broker.inject_fault(FaultRule::new(ApiKey::Produce, not_leader.clone()).times(2));
    let second = producer
        .send(ProducerRecord::new("retried").value("second"))
        .await
        .unwrap()
        .await
        .unwrap();
    producer.close(Duration::from_secs(5)).await;
    assert_faults_fired(&broker, ApiKey::Produce, &[(not_leader, 2)]);
    let acked = [Acked::new("first", &first), Acked::new("second", &second)];
    assert_log_matches(&broker, "retried", 1, &acked, &Allowed::default());
    let metrics = producer.metrics();
    assert_eq!(metrics.record_send_total, 2, "{metrics:?}");
    assert_eq!(metrics.record_error_total, 0, "{metrics:?}");
    assert_eq!(metrics.record_retry_total, 2, "{metrics:?}");
    assert_eq!(metrics.response_total, 4, "{metrics:?}");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_producer_id_bumps_the_epoch_and_delivers_everything_once() {
    let broker = broker(1).await;
    broker.create_topic("unknown-pid", 1).unwrap();
    let producer = Producer::connect(config(&broker).build().unwrap())
        .await
        .unwrap();
    let mut acked = all_acked(send_all(&producer, "unknown-pid", "before", 10).await);
    let unknown = FaultAction::Fail(ErrorCode::UnknownProducerId);
    broker.inject_fault(FaultRule::new(ApiKey::Produce, unknown.clone()));
    acked.extend(all_acked(
        send_all(&producer, "unknown-pid", "after", 100).await,
    ));
    producer.close(Duration::from_secs(5)).await;
    assert_faults_fired(&broker, ApiKey::Produce, &[(unknown, 1)]);
    assert_log_matches(&broker, "unknown-pid", 1, &acked, &Allowed::default());
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
    let out_of_order = FaultAction::Fail(ErrorCode::OutOfOrderSequenceNumber);
    broker.inject_fault(FaultRule::new(ApiKey::Produce, out_of_order.clone()));
    for (value, result) in send_all(&producer, "gap", "lost", 5).await {
        let error = result.unwrap_err();
        assert_eq!(
            error.kafka_code(),
            Some(ErrorCode::OutOfOrderSequenceNumber),
            "{value}: {error}"
        );
    }
    let acked = all_acked(send_all(&producer, "gap", "kept", 50).await);
    producer.close(Duration::from_secs(5)).await;
    assert_faults_fired(&broker, ApiKey::Produce, &[(out_of_order, 1)]);
    // The refused batch was not written; nothing else is in the log.
    assert_log_matches(&broker, "gap", 1, &acked, &Allowed::default());
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
    let fenced = FaultAction::Fail(ErrorCode::InvalidProducerEpoch);
    broker.inject_fault(FaultRule::new(ApiKey::Produce, fenced.clone()));
    for (value, result) in send_all(&producer, "fenced", "v", 3).await {
        let error = result.unwrap_err();
        assert_eq!(
            error.kafka_code(),
            Some(ErrorCode::InvalidProducerEpoch),
            "{value}: {error}"
        );
    }
    let err = producer
        .send(ProducerRecord::new("fenced").value("later"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Fatal(_)), "{err}");
    producer.close(Duration::from_secs(5)).await;
    assert_faults_fired(&broker, ApiKey::Produce, &[(fenced, 1)]);
    assert_log_matches(&broker, "fenced", 1, &[], &Allowed::default());
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
        let delivery = producer
            .send(ProducerRecord::new("small").value(value.clone()))
            .await
            .unwrap();
        deliveries.push((i, value, delivery));
    }
    let mut acked = Vec::new();
    for (i, value, delivery) in deliveries {
        match delivery.await {
            Ok(metadata) => acked.push(Acked::new(value, &metadata)),
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
    assert_eq!(acked.len(), 39);
    assert_log_matches(&broker, "small", 1, &acked, &Allowed::default());
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}
