//! Starting and stopping a listener container, against the bundled broker:
//! start rejects bad settings with the error that names them, and a
//! graceful stop waits for the record in flight and commits it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{
    Seen, WAIT, broker, committed, config, group_config, producer, send, text, wait_until,
};
use ferrokafka_consumer::{ConsumerRecord, Error};
use ferrokafka_listener::{AckMode, ListenerContainer, ListenerError, listener_fn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_waits_for_the_record_in_flight_and_commits_it() {
    let broker = broker().await;
    broker.create_topic("slow", 1).unwrap();
    let producer = producer(&broker).await;
    send(&producer, "slow", 0, "k", "s0").await;
    send(&producer, "slow", 0, "k", "s1").await;
    let entered = Arc::new(tokio::sync::Notify::new());
    let release = Arc::new(tokio::sync::Notify::new());
    let finished = Arc::new(AtomicBool::new(false));
    let seen: Seen = Default::default();
    let listener = {
        let (entered, release, finished, seen) = (
            entered.clone(),
            release.clone(),
            finished.clone(),
            seen.clone(),
        );
        listener_fn(move |record: ConsumerRecord| {
            let (entered, release, finished, seen) = (
                entered.clone(),
                release.clone(),
                finished.clone(),
                seen.clone(),
            );
            async move {
                seen.lock().unwrap().push(text(record.value.as_ref()));
                entered.notify_one();
                release.notified().await;
                finished.store(true, Ordering::SeqCst);
                Ok::<(), ListenerError>(())
            }
        })
    };
    let container = Arc::new(
        ListenerContainer::builder(group_config(&broker, "slow-service"))
            .topics(["slow"])
            .ack_mode(AckMode::Batch)
            .poll_timeout(Duration::from_millis(200))
            .start(listener)
            .await
            .unwrap(),
    );
    tokio::time::timeout(WAIT, entered.notified())
        .await
        .unwrap();
    let stopping = {
        let container = container.clone();
        tokio::spawn(async move { container.stop(Duration::from_secs(60)).await })
    };
    // Stop is under way (it has taken the worker tasks over, so the
    // container no longer reports running), but the handler still holds
    // the record.
    wait_until("stop to be under way", || !container.is_running()).await;
    assert!(
        !stopping.is_finished(),
        "stop must wait for the record in flight"
    );
    assert!(!finished.load(Ordering::SeqCst));
    release.notify_one();
    tokio::time::timeout(WAIT, stopping).await.unwrap().unwrap();
    assert!(finished.load(Ordering::SeqCst));
    assert_eq!(
        *seen.lock().unwrap(),
        vec!["s0"],
        "no new record after stop"
    );
    assert_eq!(
        committed(&broker, "slow-service", "slow", 0).await,
        Some(1),
        "the finished record is committed, the next is not"
    );
    assert!(!container.is_running());
    producer.close(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn start_rejects_bad_settings() {
    let broker = broker().await;
    let no_group = config(&broker).build().unwrap();
    let listener = || listener_fn(|_r: ConsumerRecord| async { Ok::<(), ListenerError>(()) });
    let config_error = |result: Result<ListenerContainer, Error>, what: &str| match result {
        Err(Error::Client(ferrokafka_client::Error::Config(message))) => {
            assert!(message.contains(what), "{message}");
        }
        other => panic!("expected a configuration error about {what}, got {other:?}"),
    };
    let result = ListenerContainer::builder(no_group)
        .topics(["t"])
        .start(listener())
        .await;
    assert!(
        matches!(result, Err(Error::NoGroupId(_))),
        "expected NoGroupId, got {result:?}"
    );
    config_error(
        ListenerContainer::builder(group_config(&broker, "g"))
            .start(listener())
            .await,
        "at least one topic",
    );
    config_error(
        ListenerContainer::builder(group_config(&broker, "g"))
            .topics(["t"])
            .concurrency(0)
            .start(listener())
            .await,
        "concurrency must be at least 1",
    );
}
