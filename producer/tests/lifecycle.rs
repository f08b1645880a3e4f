//! The producer's limits and life cycle against the bundled broker
//! (in-process, port 0): delivery timeouts with the broker down,
//! `buffer.memory` backpressure, `max.block.ms`, flush and close, dropping
//! the producer or its runtime, and a sender that keeps going whatever the
//! caller or an unanswered request does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{
    Acked, Allowed, acknowledged, assert_faults_fired, assert_log_matches, broker, config,
    wait_until,
};
use ferrokafka_broker::{Broker, FaultAction, FaultRule};
use ferrokafka_producer::{Acks, Error, Producer, ProducerRecord};
use ferrokafka_protocol::ApiKey;

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
        // Not answered in 40 times delivery.timeout.ms means never: with
        // the broker down, nothing but the timeout can end these.
        let error = tokio::time::timeout(Duration::from_secs(60), delivery)
            .await
            .expect("expired rather than waited for the broker")
            .unwrap_err();
        assert!(
            matches!(
                &error,
                Error::DeliveryTimeout { topic, partition: 0, after }
                    if topic == "down" && *after == Duration::from_millis(1500)
            ),
            "expected a delivery timeout, got {error}"
        );
    }
    // Each record's batch was made after `started`, and none expires
    // before delivery.timeout.ms from then.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1500), "{took:?}");
    producer.close(Duration::from_secs(1)).await;
    broker.shutdown().await;
}

/// Two producers with 10 000 bytes of `buffer.memory`, and the broker down
/// so that nothing they hold is delivered (and their memory is not given
/// back) until it returns: a send that finds no room waits for it, and
/// either gives up after `max.block.ms` or goes ahead once memory frees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffer_memory_backpressure_waits_then_times_out_or_proceeds() {
    let broker = broker(1).await;
    broker.create_topic("pressure", 2).unwrap();
    let producer = |max_block: Duration| {
        Producer::connect(
            config(&broker)
                .buffer_memory(10_000)
                .max_block(max_block)
                .build()
                .unwrap(),
        )
    };
    let impatient = producer(Duration::from_millis(300)).await.unwrap();
    let patient = producer(Duration::from_secs(60)).await.unwrap();
    // Each has its producer id and the topic's metadata before the broker
    // goes away.
    let mut acked = Vec::new();
    for (partition, producer) in [(0, &impatient), (1, &patient)] {
        let value = format!("warm-{partition}");
        let record = ProducerRecord::new("pressure")
            .partition(partition)
            .value(value.clone());
        let metadata = producer.send(record).await.unwrap().await.unwrap();
        acked.push(Acked::new(value, &metadata));
    }
    broker.stop_node(0).await.unwrap();
    let record = |partition: i32, value: &str| {
        ProducerRecord::new("pressure")
            .partition(partition)
            .value(format!("{value}-{}", "v".repeat(1000)))
    };
    // Fills the impatient producer's memory until a send gives up.
    let mut deliveries = Vec::new();
    let err = loop {
        let value = format!("i{}", deliveries.len());
        match impatient.send(record(0, &value)).await {
            Ok(d) => deliveries.push((format!("{value}-{}", "v".repeat(1000)), d)),
            Err(e) => break e,
        }
        assert!(deliveries.len() < 20, "buffer.memory never pushed back");
    };
    assert!(matches!(err, Error::MaxBlockTimeout { .. }), "{err}");
    assert!(deliveries.len() >= 5, "{}", deliveries.len());
    // The patient one takes as many of the same records (the same
    // accounting, from the same state), so the next one finds no room
    // either, and waits.
    let accepted = deliveries.len();
    for n in 0..accepted {
        let value = format!("p{n}");
        let delivery = patient.send(record(1, &value)).await.unwrap();
        deliveries.push((format!("{value}-{}", "v".repeat(1000)), delivery));
    }
    assert_eq!(
        patient.buffer_available_bytes(),
        impatient.buffer_available_bytes()
    );
    let waiting = tokio::spawn({
        let patient = patient.clone();
        let record = record(1, "late");
        async move { patient.send(record).await }
    });
    broker.restart_node(0).await.unwrap();
    // Memory frees as the held records are delivered, within max.block.ms.
    let late = waiting.await.unwrap().unwrap();
    deliveries.push((format!("late-{}", "v".repeat(1000)), late));
    acked.extend(acknowledged(deliveries).await);
    for producer in [&impatient, &patient] {
        producer.flush().await;
        assert_eq!(producer.buffer_available_bytes(), 10_000);
    }
    assert_log_matches(&broker, "pressure", 2, &acked, &Allowed::default());
    impatient.close(Duration::from_secs(5)).await;
    patient.close(Duration::from_secs(5)).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_sends_before_linger_ends() {
    let broker = broker(1).await;
    broker.create_topic("flush", 1).unwrap();
    let producer = Producer::connect(
        config(&broker)
            .linger(Duration::from_secs(60))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let delivery = producer
        .send(ProducerRecord::new("flush").value("v"))
        .await
        .unwrap();
    // Without the flush the record would go when linger.ms (60 s) ends.
    tokio::time::timeout(Duration::from_secs(30), producer.flush())
        .await
        .expect("flush finished before linger.ms ended");
    assert_eq!(delivery.await.unwrap().offset, 0);
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
    // The request timeout (30 s) and delivery timeout (2 min) are what a
    // close that ignored its own timeout would wait for.
    let producer = Producer::connect(
        config(&broker)
            .request_timeout(Duration::from_secs(30))
            .delivery_timeout(Duration::from_secs(120))
            .build()
            .unwrap(),
    )
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
    // Nothing could be delivered: close waited its whole timeout, and no
    // longer than the request's (the record was failed, not timed out).
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(30), "{took:?}");
    let err = delivery.await.unwrap_err();
    assert!(matches!(err, Error::Closed(_)), "{err}");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_producer_fails_pending_records_without_hanging() {
    let broker = broker(1).await;
    broker.create_topic("dropped", 1).unwrap();
    let producer = Producer::connect(
        config(&broker)
            .linger(Duration::from_secs(60))
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
    // A producer kept alive would send it when linger.ms (60 s) ends.
    let err = tokio::time::timeout(Duration::from_secs(30), delivery)
        .await
        .expect("resolved before linger.ms ended")
        .unwrap_err();
    assert!(matches!(err, Error::Closed(_)), "{err}");
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
    let refusal = later.block_on(async {
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match producer
                    .send(ProducerRecord::new("orphan").value("later"))
                    .await
                {
                    Err(error) => return error,
                    // Accepted before the sender was found gone, it fails
                    // (never waits): Fatal if it was still queued when the
                    // stopped sender's state was cleaned up, Closed if the
                    // sender dropped it while unwinding. Which one is a
                    // race with the sender's thread; that it fails is not.
                    Ok(delivery) => {
                        let error = delivery
                            .await
                            .expect_err("delivered by a sender whose runtime is gone");
                        assert!(
                            matches!(error, Error::Fatal(_) | Error::Closed(_)),
                            "{error}"
                        );
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .expect("records were refused rather than taken forever")
    });
    // Once the sender is found gone the producer is fatally broken.
    assert!(
        matches!(&refusal, Error::Fatal(m) if m.contains("sender stopped")),
        "{refusal}"
    );
    drop(producer);
    broker_runtime.block_on(broker.shutdown());
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
    wait_until(Duration::from_secs(10), "the first request arrived", || {
        broker.offsets("stalled", 0).unwrap().1 == 5
    })
    .await;
    // 20 records of 100 bytes: the first batch of partition 1 fills.
    let flowing = send(1, 20).await;
    let first = flowing.into_iter().next().unwrap();
    // Waiting for the unanswered request would take request.timeout.ms
    // (60 s).
    let delivered = tokio::time::timeout(Duration::from_secs(30), first)
        .await
        .expect("delivered without waiting for the unanswered request")
        .unwrap();
    assert_eq!((delivered.partition, delivered.offset), (1, 0));
    assert_faults_fired(&broker, ApiKey::Produce, &[(FaultAction::NoResponse, 1)]);
    drop(stalled);
    producer.close(Duration::from_millis(100)).await;
    broker.shutdown().await;
}
