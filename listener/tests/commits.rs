//! What the listener container commits, against the bundled broker: in
//! record mode a new container resumes after the processed records without
//! duplicates, and in manual mode only acknowledged records are committed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{
    Seen, broker, committed, count, group_config, producer, recording, send, text, wait_until,
};
use ferrokafka_consumer::ConsumerRecord;
use ferrokafka_listener::{
    AckMode, Acknowledgment, ListenerContainer, ListenerError, listener_fn_with_ack,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_mode_commits_so_the_next_container_skips_processed_records() {
    let broker = broker().await;
    broker.create_topic("orders", 1).unwrap();
    let producer = producer(&broker).await;
    for i in 0..10 {
        send(&producer, "orders", 0, "k", &format!("old{i}")).await;
    }
    let first: Seen = Default::default();
    let container = ListenerContainer::builder(group_config(&broker, "resume"))
        .topics(["orders"])
        .ack_mode(AckMode::Record)
        .poll_timeout(Duration::from_millis(200))
        .start(recording(&first))
        .await
        .unwrap();
    wait_until("10 records", || count(&first) >= 10).await;
    container.stop(Duration::from_secs(5)).await;
    assert_eq!(count(&first), 10);
    assert_eq!(committed(&broker, "resume", "orders", 0).await, Some(10));

    for i in 0..5 {
        send(&producer, "orders", 0, "k", &format!("new{i}")).await;
    }
    let second: Seen = Default::default();
    let container = ListenerContainer::builder(group_config(&broker, "resume"))
        .topics(["orders"])
        .poll_timeout(Duration::from_millis(200))
        .start(recording(&second))
        .await
        .unwrap();
    wait_until("5 new records", || count(&second) >= 5).await;
    container.stop(Duration::from_secs(5)).await;
    let expected: Vec<String> = (0..5).map(|i| format!("new{i}")).collect();
    assert_eq!(*second.lock().unwrap(), expected);
    producer.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_ack_commits_only_acknowledged_records() {
    let broker = broker().await;
    broker.create_topic("manual", 1).unwrap();
    let producer = producer(&broker).await;
    for i in 0..6 {
        send(&producer, "manual", 0, "k", &format!("m{i}")).await;
    }
    let first: Seen = Default::default();
    let listener = {
        let first = first.clone();
        listener_fn_with_ack(move |record: ConsumerRecord, ack: Acknowledgment| {
            let first = first.clone();
            async move {
                // Acknowledges m0..m2 only.
                if record.offset < 3 {
                    ack.acknowledge();
                }
                first.lock().unwrap().push(text(record.value.as_ref()));
                Ok::<(), ListenerError>(())
            }
        })
    };
    let container = ListenerContainer::builder(group_config(&broker, "manual-service"))
        .topics(["manual"])
        .ack_mode(AckMode::Manual)
        .poll_timeout(Duration::from_millis(200))
        .start(listener)
        .await
        .unwrap();
    wait_until("6 records", || count(&first) >= 6).await;
    container.stop(Duration::from_secs(5)).await;
    assert_eq!(
        committed(&broker, "manual-service", "manual", 0).await,
        Some(3)
    );

    let second: Seen = Default::default();
    let container = ListenerContainer::builder(group_config(&broker, "manual-service"))
        .topics(["manual"])
        .ack_mode(AckMode::Manual)
        .poll_timeout(Duration::from_millis(200))
        .start(recording(&second))
        .await
        .unwrap();
    wait_until("the unacknowledged records again", || count(&second) >= 3).await;
    container.stop(Duration::from_secs(5)).await;
    assert_eq!(*second.lock().unwrap(), vec!["m3", "m4", "m5"]);
    producer.close(Duration::from_secs(1)).await;
}
