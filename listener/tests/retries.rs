//! The listener container's retries, against the bundled broker: a failing
//! handler is retried with the back-off until it succeeds (the recoverer
//! never called), and a panicking handler fails its record, not the
//! consumer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{
    CountingRecoverer, Seen, broker, committed, count, group_config, producer, send, text,
    wait_until,
};
use ferrokafka_consumer::ConsumerRecord;
use ferrokafka_listener::{
    DefaultErrorHandler, FixedBackOff, ListenerContainer, ListenerError, listener_fn,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_handler_is_retried_until_it_succeeds() {
    let broker = broker().await;
    broker.create_topic("flaky", 1).unwrap();
    let producer = producer(&broker).await;
    for i in 0..5 {
        send(&producer, "flaky", 0, "k", &format!("r{i}")).await;
    }
    let calls: Arc<Mutex<BTreeMap<String, usize>>> = Default::default();
    let processed: Seen = Default::default();
    let recoverer = Arc::new(CountingRecoverer::default());
    let listener = {
        let (calls, processed) = (calls.clone(), processed.clone());
        listener_fn(move |record: ConsumerRecord| {
            let (calls, processed) = (calls.clone(), processed.clone());
            async move {
                let value = text(record.value.as_ref());
                let n = {
                    let mut calls = calls.lock().unwrap();
                    let n = calls.entry(value.clone()).or_insert(0);
                    *n += 1;
                    *n
                };
                if value == "r1" && n <= 3 {
                    return Err(format!("transient failure {n}").into());
                }
                processed.lock().unwrap().push(value);
                Ok(())
            }
        })
    };
    let container = ListenerContainer::builder(group_config(&broker, "retry"))
        .topics(["flaky"])
        .poll_timeout(Duration::from_millis(200))
        .error_handler(
            DefaultErrorHandler::new(FixedBackOff::new(Duration::from_millis(10), 5))
                .with_recoverer(recoverer.clone()),
        )
        .start(listener)
        .await
        .unwrap();
    wait_until("5 records processed", || count(&processed) >= 5).await;
    container.stop(Duration::from_secs(5)).await;
    let expected: Vec<String> = (0..5).map(|i| format!("r{i}")).collect();
    assert_eq!(*processed.lock().unwrap(), expected, "once each, in order");
    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls["r1"], 4, "3 failures, then success");
    assert!(calls.iter().all(|(v, n)| v == "r1" || *n == 1));
    assert_eq!(recoverer.calls.load(Ordering::SeqCst), 0);
    assert_eq!(committed(&broker, "retry", "flaky", 0).await, Some(5));
    producer.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_fails_the_record_not_the_consumer() {
    let broker = broker().await;
    broker.create_topic("panicky", 1).unwrap();
    let producer = producer(&broker).await;
    send(&producer, "panicky", 0, "k", "p0").await;
    send(&producer, "panicky", 0, "k", "p1").await;
    let panicked = Arc::new(AtomicBool::new(false));
    let processed: Seen = Default::default();
    let listener = {
        let (panicked, processed) = (panicked.clone(), processed.clone());
        listener_fn(move |record: ConsumerRecord| {
            let (panicked, processed) = (panicked.clone(), processed.clone());
            async move {
                let value = text(record.value.as_ref());
                if value == "p0" && !panicked.swap(true, Ordering::SeqCst) {
                    panic!("handler bug");
                }
                processed.lock().unwrap().push(value);
                Ok::<(), ListenerError>(())
            }
        })
    };
    let container = ListenerContainer::builder(group_config(&broker, "panicky-service"))
        .topics(["panicky"])
        .poll_timeout(Duration::from_millis(200))
        .start(listener)
        .await
        .unwrap();
    wait_until("both records", || count(&processed) >= 2).await;
    assert!(container.is_running());
    container.stop(Duration::from_secs(5)).await;
    assert_eq!(*processed.lock().unwrap(), vec!["p0", "p1"]);
    producer.close(Duration::from_secs(1)).await;
}
