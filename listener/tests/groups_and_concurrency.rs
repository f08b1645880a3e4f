//! The listener container's consumers and their groups, against the
//! bundled broker: two groups each get every record, and a container of
//! several consumers splits the partitions and processes each record once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::Duration;

use common::{Seen, broker, committed, count, group_config, producer, recording, send, wait_until};
use ferrokafka_listener::ListenerContainer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_groups_each_get_every_record() {
    let broker = broker().await;
    broker.create_topic("events", 2).unwrap();
    let producer = producer(&broker).await;
    let (seen_a, seen_b): (Seen, Seen) = Default::default();
    let a = ListenerContainer::builder(group_config(&broker, "group-a"))
        .topics(["events"])
        .poll_timeout(Duration::from_millis(200))
        .start(recording(&seen_a))
        .await
        .unwrap();
    let b = ListenerContainer::builder(group_config(&broker, "group-b"))
        .topics(["events"])
        .poll_timeout(Duration::from_millis(200))
        .start(recording(&seen_b))
        .await
        .unwrap();
    for i in 0..20 {
        send(&producer, "events", i % 2, "k", &format!("v{i}")).await;
    }
    wait_until("both groups read 20 records", || {
        count(&seen_a) >= 20 && count(&seen_b) >= 20
    })
    .await;
    let expected: Vec<String> = (0..20).map(|i| format!("v{i}")).collect();
    for seen in [&seen_a, &seen_b] {
        let mut got = seen.lock().unwrap().clone();
        got.sort_by_key(|v| v[1..].parse::<u32>().unwrap());
        assert_eq!(got, expected);
    }
    assert_eq!(a.assignment().len(), 2);
    assert_eq!(b.assignment().len(), 2);
    a.stop(Duration::from_secs(5)).await;
    b.stop(Duration::from_secs(5)).await;
    assert!(!a.is_running() && !b.is_running());
    assert!(a.assignment().is_empty());
    producer.close(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_splits_partitions_and_processes_each_record_once() {
    let broker = broker().await;
    broker.create_topic("split", 4).unwrap();
    let producer = producer(&broker).await;
    let seen: Seen = Default::default();
    let container = ListenerContainer::builder(group_config(&broker, "split-group"))
        .topics(["split"])
        .concurrency(2)
        .poll_timeout(Duration::from_millis(200))
        .start(recording(&seen))
        .await
        .unwrap();
    wait_until("each consumer owns two partitions", || {
        let by_consumer = container.assignments();
        by_consumer.len() == 2 && by_consumer.iter().all(|a| a.len() == 2)
    })
    .await;
    let by_consumer = container.assignments();
    assert!(by_consumer[0].iter().all(|tp| !by_consumer[1].contains(tp)));
    assert_eq!(container.assignment().len(), 4);
    for i in 0..40 {
        send(&producer, "split", i % 4, "k", &format!("v{i}")).await;
    }
    wait_until("40 records", || count(&seen) >= 40).await;
    container.stop(Duration::from_secs(5)).await;
    let mut got = seen.lock().unwrap().clone();
    got.sort_by_key(|v| v[1..].parse::<u32>().unwrap());
    let expected: Vec<String> = (0..40).map(|i| format!("v{i}")).collect();
    assert_eq!(got, expected, "each record exactly once");
    for p in 0..4 {
        assert_eq!(
            committed(&broker, "split-group", "split", p).await,
            Some(10)
        );
    }
    producer.close(Duration::from_secs(1)).await;
}
