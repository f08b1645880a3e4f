//! The consumer through broker faults, against the bundled broker
//! (in-process, port 0): a partition leader that moves mid-consumption, a
//! topic created only after it was assigned, coordinator errors in the
//! group and commit requests, and close (or drop) with the broker gone.
//! Every wait polls a condition under a deadline.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, Instant};

use common::{WAIT, broker, config, group_config, init_tracing, poll_until, produce, producer};
use ferrokafka_broker::{Broker, FaultAction, FaultRule};
use ferrokafka_consumer::{Consumer, Error, TopicPartition};
use ferrokafka_protocol::{ApiKey, ErrorCode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_move_mid_consumption_is_followed() {
    let broker = broker(3).await;
    broker.create_topic("moving", 1).unwrap();
    let producer = producer(&broker).await;
    produce(&producer, "moving", 0, 0, 40).await;
    let mut consumer = Consumer::connect(config(&broker).build().unwrap())
        .await
        .unwrap();
    consumer.assign([TopicPartition::new("moving", 0)]).unwrap();
    let mut records = poll_until(&mut consumer, 40, WAIT).await;

    let (leader, _) = broker.leader_of("moving", 0).unwrap();
    broker.move_leader("moving", 0, (leader + 1) % 3).unwrap();
    produce(&producer, "moving", 0, 40, 40).await;
    // And a fetch error on the way, for good measure.
    broker.inject_fault(
        FaultRule::new(
            ApiKey::Fetch,
            FaultAction::Fail(ErrorCode::NotLeaderOrFollower),
        )
        .times(1),
    );
    records.extend(poll_until(&mut consumer, 40, WAIT).await);
    let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..80).collect::<Vec<_>>());
    consumer.close(Duration::from_secs(30)).await;
    producer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_created_later_is_read_once_it_exists() {
    init_tracing();
    let broker = Broker::builder()
        .auto_create_topics(false)
        .start()
        .await
        .unwrap();
    // Resolving the missing topic's position could retry for two minutes:
    // a poll that waited for that instead of its own timeout would take
    // that long.
    let request_timeout = Duration::from_secs(120);
    let mut consumer = Consumer::connect(
        config(&broker)
            .request_timeout(request_timeout)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let tp = TopicPartition::new("later", 0);
    consumer.assign([tp.clone()]).unwrap();
    let started = Instant::now();
    let poll_timeout = Duration::from_millis(300);
    let records = consumer.poll(poll_timeout).await.unwrap();
    assert!(records.is_empty(), "{records:?}");
    // Its own timeout plus a generous margin for a loaded machine, far
    // below the request timeout.
    assert!(
        started.elapsed() < poll_timeout + Duration::from_secs(30),
        "poll took {:?}",
        started.elapsed()
    );
    broker.create_topic("later", 1).unwrap();
    let producer = producer(&broker).await;
    produce(&producer, "later", 0, 0, 3).await;
    let records = poll_until(&mut consumer, 3, WAIT).await;
    assert_eq!(records[0].offset, 0);
    consumer.close(Duration::from_secs(30)).await;
    producer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_and_commit_requests_survive_coordinator_errors() {
    let broker = broker(1).await;
    broker.create_topic("faulty", 1).unwrap();
    let producer = producer(&broker).await;
    produce(&producer, "faulty", 0, 0, 10).await;
    broker.inject_fault(
        FaultRule::new(
            ApiKey::JoinGroup,
            FaultAction::Fail(ErrorCode::CoordinatorLoadInProgress),
        )
        .times(1),
    );
    broker.inject_fault(
        FaultRule::new(
            ApiKey::SyncGroup,
            FaultAction::Fail(ErrorCode::NotCoordinator),
        )
        .times(1),
    );
    let mut consumer = Consumer::connect(
        group_config(&broker, "faulty-group")
            .enable_auto_commit(false)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    consumer.subscribe(["faulty"]).unwrap();
    poll_until(&mut consumer, 10, WAIT).await;
    broker.inject_fault(
        FaultRule::new(
            ApiKey::OffsetCommit,
            FaultAction::Fail(ErrorCode::NotCoordinator),
        )
        .times(1),
    );
    consumer.commit().await.unwrap();
    broker.inject_fault(
        FaultRule::new(
            ApiKey::OffsetCommit,
            FaultAction::Fail(ErrorCode::IllegalGeneration),
        )
        .times(1),
    );
    assert!(matches!(
        consumer.commit().await,
        Err(Error::CommitFailed(_))
    ));
    let tp = TopicPartition::new("faulty", 0);
    let committed = consumer
        .committed(std::slice::from_ref(&tp), WAIT)
        .await
        .unwrap();
    assert_eq!(committed[&tp].as_ref().unwrap().offset, 10);
    consumer.close(Duration::from_secs(30)).await;
    producer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_with_the_broker_gone_returns_promptly() {
    let broker = broker(1).await;
    broker.create_topic("gone", 2).unwrap();
    // Requests (the commit and LeaveGroup of close) would retry for two
    // minutes: a close that waited for them instead of its own timeout
    // would take that long.
    let request_timeout = Duration::from_secs(120);
    let mut consumer = Consumer::connect(
        group_config(&broker, "gone-group")
            .request_timeout(request_timeout)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    consumer.subscribe(["gone"]).unwrap();
    let deadline = Instant::now() + WAIT;
    while consumer.assignment().len() != 2 {
        assert!(Instant::now() < deadline, "never joined");
        consumer.poll(Duration::from_millis(100)).await.unwrap();
    }
    broker.shutdown().await;
    let started = Instant::now();
    let close_timeout = Duration::from_secs(2);
    consumer.close(close_timeout).await;
    // The close's own timeout plus a generous margin for a loaded machine,
    // still far below the request timeout it must not wait for.
    assert!(
        started.elapsed() < close_timeout + Duration::from_secs(28),
        "close took {:?}",
        started.elapsed()
    );
    assert!(close_timeout + Duration::from_secs(28) < request_timeout);
    assert!(matches!(
        consumer.poll(Duration::from_millis(10)).await,
        Err(Error::Closed)
    ));
    // Drop of a consumer that was never closed does not block either.
    let broker = ferrokafka_broker::Broker::builder().start().await.unwrap();
    let dropped = Consumer::connect(group_config(&broker, "g").build().unwrap())
        .await
        .unwrap();
    broker.shutdown().await;
    drop(dropped);
}
