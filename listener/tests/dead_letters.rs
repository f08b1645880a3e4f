//! Records that fail for good, against the bundled broker: after the
//! retries they go to the dead-letter topic (original key, value, headers
//! and partition, plus the failure headers), undecodable JSON goes there at
//! once, and a failing recoverer gets the record delivered again instead
//! of skipping it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use common::{
    CountingRecoverer, Seen, broker, committed, count, group_config, header, producer, read_all,
    send, text, wait_until,
};
use ferrokafka_consumer::{ConsumerRecord, TypedRecord};
use ferrokafka_listener::{
    DeadLetterRecoverer, DefaultErrorHandler, FixedBackOff, ListenerContainer, ListenerError,
    json_listener, listener_fn,
};
use ferrokafka_producer::ProducerRecord;

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
