//! The consumer against the bundled broker (in-process, port 0): manual
//! assignment and poll, seek/position/pause, reset policies, groups that
//! split partitions and rebalance, commits that resume a new member without
//! duplicates or gaps, auto-commit on close, leader moves, and close with
//! the broker gone. Every wait polls a condition under a deadline.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    Events, Poller, Reads, WAIT, broker, config, group_config, init_tracing, poll_until, produce,
    producer, reads_of, value, wait_for,
};
use ferrokafka_broker::{Broker, BrokerHandle, FaultAction, FaultRule};
use ferrokafka_consumer::{Consumer, Deserializer};
use ferrokafka_consumer::{
    ConsumerRecord, Error, OffsetAndMetadata, OffsetReset, RebalanceListener, StringDeserializer,
    TopicPartition, TypedRecord,
};
use ferrokafka_protocol::generated::RequestKind;
use ferrokafka_protocol::{ApiKey, ErrorCode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assign_and_poll_read_in_order_with_keys_and_headers() {
    let broker = broker(1).await;
    broker.create_topic("orders", 2).unwrap();
    let producer = producer(&broker).await;
    produce(&producer, "orders", 0, 0, 50).await;
    produce(&producer, "orders", 1, 50, 30).await;

    let mut consumer = Consumer::connect(config(&broker).max_poll_records(17).build().unwrap())
        .await
        .unwrap();
    consumer
        .assign([
            TopicPartition::new("orders", 0),
            TopicPartition::new("orders", 1),
        ])
        .unwrap();
    let records = poll_until(&mut consumer, 80, WAIT).await;
    assert_eq!(records.len(), 80);
    for partition in 0..2 {
        let mine: Vec<&ConsumerRecord> = records
            .iter()
            .filter(|r| r.partition == partition)
            .collect();
        let first = if partition == 0 { 0 } else { 50 };
        for (offset, record) in mine.iter().enumerate() {
            let i = first + offset;
            assert_eq!(record.topic, "orders");
            assert_eq!(record.offset, offset as i64);
            assert_eq!(value(record), format!("value-{i}"));
            assert_eq!(record.key.as_deref(), Some(format!("key-{i}").as_bytes()));
            assert_eq!(
                record.last_header("n").unwrap().value.as_deref(),
                Some(i.to_string().as_bytes())
            );
            assert!(record.timestamp > 0);
            assert!(record.leader_epoch.is_some());
        }
    }
    // Typed records through a deserializer.
    let typed =
        TypedRecord::from_record(records[0].clone(), &StringDeserializer, &StringDeserializer)
            .unwrap();
    assert!(typed.value.unwrap().starts_with("value-"));
    assert_eq!(
        StringDeserializer
            .deserialize("orders", records[0].key.as_ref())
            .unwrap(),
        typed.key
    );
    // Nothing more: a poll waits its timeout out and returns empty (it
    // does not hang: the outer timeout is only a guard).
    let started = Instant::now();
    let empty = tokio::time::timeout(WAIT, consumer.poll(Duration::from_millis(300)))
        .await
        .expect("an empty poll returns after its timeout")
        .unwrap();
    assert!(empty.is_empty(), "{empty:?}");
    assert!(started.elapsed() >= Duration::from_millis(300));
    consumer.close(Duration::from_secs(30)).await;
    producer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_position_pause_resume_and_offset_lookups() {
    let broker = broker(1).await;
    broker.create_topic("seek", 1).unwrap();
    let producer = producer(&broker).await;
    produce(&producer, "seek", 0, 0, 20).await;
    let tp = TopicPartition::new("seek", 0);

    let mut consumer = Consumer::connect(config(&broker).build().unwrap())
        .await
        .unwrap();
    consumer.assign([tp.clone()]).unwrap();
    assert_eq!(consumer.position(&tp).await.unwrap(), 0);
    let records = poll_until(&mut consumer, 20, WAIT).await;
    assert_eq!(records.last().unwrap().offset, 19);
    assert_eq!(consumer.position(&tp).await.unwrap(), 20);

    consumer.seek(&tp, 5).unwrap();
    let records = poll_until(&mut consumer, 1, WAIT).await;
    assert_eq!(
        records[0].offset, 5,
        "records below the seek offset are skipped"
    );
    poll_until(&mut consumer, 20 - 5 - records.len(), WAIT).await;

    consumer.pause(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(consumer.paused(), vec![tp.clone()]);
    produce(&producer, "seek", 0, 20, 5).await;
    assert!(
        consumer
            .poll(Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );
    consumer.resume(std::slice::from_ref(&tp)).unwrap();
    let records = poll_until(&mut consumer, 5, WAIT).await;
    assert_eq!(records[0].offset, 20);

    consumer
        .seek_to_beginning(std::slice::from_ref(&tp))
        .unwrap();
    assert_eq!(consumer.position(&tp).await.unwrap(), 0);
    consumer.seek_to_end(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(consumer.position(&tp).await.unwrap(), 25);

    let timeout = WAIT;
    assert_eq!(
        consumer
            .beginning_offsets(std::slice::from_ref(&tp), timeout)
            .await
            .unwrap()[&tp],
        0
    );
    assert_eq!(
        consumer
            .end_offsets(std::slice::from_ref(&tp), timeout)
            .await
            .unwrap()[&tp],
        25
    );
    let found = consumer
        .offsets_for_times(&BTreeMap::from([(tp.clone(), 0)]), timeout)
        .await
        .unwrap();
    assert_eq!(found[&tp].unwrap().offset, 0);
    let future = consumer
        .offsets_for_times(&BTreeMap::from([(tp.clone(), i64::MAX / 2)]), timeout)
        .await
        .unwrap();
    assert_eq!(future[&tp], None);

    // Not assigned: a typed error.
    let other = TopicPartition::new("seek", 7);
    assert!(matches!(
        consumer.seek(&other, 1),
        Err(Error::NotAssigned(_))
    ));
    consumer.close(Duration::from_secs(30)).await;
    producer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_policies_latest_earliest_and_none() {
    let broker = broker(1).await;
    broker.create_topic("reset", 1).unwrap();
    let producer = producer(&broker).await;
    produce(&producer, "reset", 0, 0, 10).await;
    let tp = TopicPartition::new("reset", 0);

    // latest: only what is produced afterwards.
    let mut latest = Consumer::connect(
        config(&broker)
            .auto_offset_reset(OffsetReset::Latest)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    latest.assign([tp.clone()]).unwrap();
    assert_eq!(latest.position(&tp).await.unwrap(), 10);
    produce(&producer, "reset", 0, 10, 5).await;
    let records = poll_until(&mut latest, 5, WAIT).await;
    assert_eq!(records[0].offset, 10);

    // earliest, and out-of-range positions reset by the policy.
    let mut earliest = Consumer::connect(config(&broker).build().unwrap())
        .await
        .unwrap();
    earliest.assign([tp.clone()]).unwrap();
    earliest.seek(&tp, 1_000).unwrap();
    let records = poll_until(&mut earliest, 1, WAIT).await;
    assert_eq!(records[0].offset, 0);

    // none: no committed offset is an error, and so is an out-of-range seek.
    let mut none = Consumer::connect(
        group_config(&broker, "reset-none")
            .auto_offset_reset(OffsetReset::None)
            .enable_auto_commit(false)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    none.assign([tp.clone()]).unwrap();
    // The committed offset is looked up within a poll's time: a poll that
    // ran out of it first returns empty, and the next one tries again.
    let deadline = Instant::now() + WAIT;
    loop {
        match none.poll(Duration::from_millis(500)).await {
            Err(Error::NoOffsetForPartition(p)) => {
                assert_eq!(p, tp);
                break;
            }
            Ok(records) if records.is_empty() => {
                assert!(Instant::now() < deadline, "no NoOffsetForPartition");
            }
            other => panic!("expected NoOffsetForPartition, got {other:?}"),
        }
    }
    none.seek(&tp, 1_000).unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        match none.poll(Duration::from_millis(200)).await {
            Err(Error::OffsetOutOfRange { partition, offset }) => {
                assert_eq!((partition, offset), (tp.clone(), 1_000));
                break;
            }
            Ok(records) => assert!(records.is_empty()),
            Err(other) => panic!("unexpected {other}"),
        }
        assert!(Instant::now() < deadline, "no OffsetOutOfRange");
    }
    // With a committed offset, `none` starts there.
    none.seek(&tp, 3).unwrap();
    none.commit().await.unwrap();
    let mut resumed = Consumer::connect(
        group_config(&broker, "reset-none")
            .auto_offset_reset(OffsetReset::None)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    resumed.assign([tp.clone()]).unwrap();
    let records = poll_until(&mut resumed, 1, WAIT).await;
    assert_eq!(records[0].offset, 3);

    for mut c in [latest, earliest, none, resumed] {
        c.close(Duration::from_secs(30)).await;
    }
    producer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_split_partitions_and_rebalance_when_one_leaves() {
    let broker = broker(1).await;
    broker.create_topic("split", 4).unwrap();
    let producer = producer(&broker).await;

    let events = Events::default();
    let mut first = Consumer::connect(group_config(&broker, "split-group").build().unwrap())
        .await
        .unwrap();
    first
        .subscribe_with_listener(["split"], Box::new(events.clone()))
        .unwrap();
    let first = Poller::spawn(first);
    wait_for("the first member to own all partitions", WAIT, || {
        first.assignment().len() == 4
    })
    .await;

    let mut second = Consumer::connect(group_config(&broker, "split-group").build().unwrap())
        .await
        .unwrap();
    second.subscribe(["split"]).unwrap();
    let second = Poller::spawn(second);
    wait_for("the members to split the partitions", WAIT, || {
        let a: BTreeSet<_> = first.assignment().into_iter().collect();
        let b: BTreeSet<_> = second.assignment().into_iter().collect();
        a.len() == 2 && b.len() == 2 && a.is_disjoint(&b)
    })
    .await;

    let mut written = Vec::new();
    for partition in 0..4 {
        written.extend(produce(&producer, "split", partition, 0, 25).await);
    }
    let expected = Reads::once(&written);
    wait_for("every record to be consumed", WAIT, || {
        reads_of(&[&first, &second]).covers(&expected)
    })
    .await;
    // Each member read only its own partitions, and each record once.
    reads_of(&[&first, &second]).assert_exactly(&expected, "records read by the two members");
    let a: BTreeSet<i32> = first.assignment().iter().map(|tp| tp.partition).collect();
    assert!(first.reads().offsets().iter().all(|(p, _)| a.contains(p)));

    // The second leaves (committing on close): the first takes everything
    // over and reads on from the commits, re-reading nothing.
    let second_reads = second.reads();
    let mut second = second.stop().await;
    second.close(Duration::from_secs(30)).await;
    wait_for("the first member to own all partitions again", WAIT, || {
        first.assignment().len() == 4
    })
    .await;
    for partition in 0..4 {
        written.extend(produce(&producer, "split", partition, 25, 5).await);
    }
    let expected = Reads::once(&written);
    let all_reads = || {
        let mut reads = first.reads();
        reads.merge(&second_reads);
        reads
    };
    wait_for("the new records to be consumed", WAIT, || {
        all_reads().covers(&expected)
    })
    .await;
    let log = events.0.lock().unwrap().clone();
    assert!(log.first().is_some_and(|e| e == "assigned 4"), "{log:?}");
    assert!(log.iter().any(|e| e == "revoked 4"), "{log:?}");
    assert!(log.iter().any(|e| e == "assigned 2"), "{log:?}");

    let (mut first, mut reads) = first.finish().await;
    reads.merge(&second_reads);
    reads.assert_exactly(&expected, "records read through the leave");
    first.close(Duration::from_secs(30)).await;
    producer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_resume_a_new_member_without_duplicates_or_gaps() {
    let broker = broker(1).await;
    broker.create_topic("resume", 2).unwrap();
    let producer = producer(&broker).await;
    let mut written = produce(&producer, "resume", 0, 0, 30).await;
    written.extend(produce(&producer, "resume", 1, 30, 30).await);
    let build = || {
        group_config(&broker, "resume-group")
            .enable_auto_commit(false)
            .max_poll_records(7)
            .build()
            .unwrap()
    };

    let mut first = Consumer::connect(build()).await.unwrap();
    first.subscribe(["resume"]).unwrap();
    let got_first = poll_until(&mut first, 25, WAIT).await;
    first.commit().await.unwrap();
    // Explicit offsets of partitions it does not own are refused.
    let foreign = BTreeMap::from([(TopicPartition::new("other", 0), OffsetAndMetadata::new(1))]);
    assert!(matches!(
        first.commit_offsets(foreign).await,
        Err(Error::NotAssigned(_))
    ));
    first.close(Duration::from_secs(30)).await;

    written.extend(produce(&producer, "resume", 0, 60, 10).await);
    let mut second = Consumer::connect(build()).await.unwrap();
    second.subscribe(["resume"]).unwrap();
    let expected = 70 - got_first.len();
    let got_second = poll_until(&mut second, expected, WAIT).await;
    assert!(
        second
            .poll(Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );

    // Every record exactly once: no duplicates, no gaps.
    Reads::of(got_first.iter().chain(got_second.iter()))
        .assert_exactly(&Reads::once(&written), "records read by both members");

    // commit_async reports its outcome too.
    second.commit_async().unwrap().wait().await.unwrap();
    let committed = second
        .committed(
            &[
                TopicPartition::new("resume", 0),
                TopicPartition::new("resume", 1),
            ],
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(
        committed[&TopicPartition::new("resume", 0)]
            .as_ref()
            .unwrap()
            .offset,
        40
    );
    assert_eq!(
        committed[&TopicPartition::new("resume", 1)]
            .as_ref()
            .unwrap()
            .offset,
        30
    );
    second.close(Duration::from_secs(30)).await;
    producer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_commit_on_close() {
    let broker = broker(1).await;
    broker.create_topic("auto", 1).unwrap();
    let producer = producer(&broker).await;
    produce(&producer, "auto", 0, 0, 30).await;
    let tp = TopicPartition::new("auto", 0);

    let mut consumer = Consumer::connect(
        group_config(&broker, "auto-group")
            .auto_commit_interval(Duration::from_secs(600))
            // Longer than request.timeout.ms: JoinGroup goes through a client
            // whose timeout covers the rebalance timeout.
            .max_poll_interval(Duration::from_secs(60))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    consumer.subscribe(["auto"]).unwrap();
    poll_until(&mut consumer, 30, WAIT).await;
    // Generous: a close that timed out would skip the commit under test.
    consumer.close(Duration::from_secs(30)).await;
    assert!(matches!(
        consumer.poll(Duration::from_millis(10)).await,
        Err(Error::Closed)
    ));

    let checker = Consumer::connect(group_config(&broker, "auto-group").build().unwrap())
        .await
        .unwrap();
    let committed = checker
        .committed(std::slice::from_ref(&tp), WAIT)
        .await
        .unwrap();
    assert_eq!(committed[&tp].as_ref().unwrap().offset, 30);
    drop(checker);
    producer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_polling_leaves_and_cannot_commit_until_it_rejoins() {
    let broker = broker(1).await;
    broker.create_topic("slow", 1).unwrap();
    let producer = producer(&broker).await;
    produce(&producer, "slow", 0, 0, 10).await;
    let events = Events::default();
    // Long enough that a loaded machine's gaps between polls stay well
    // under it, so the member leaves only when the test stops polling.
    let max_poll_interval = Duration::from_secs(5);
    let mut consumer = Consumer::connect(
        group_config(&broker, "slow-group")
            .max_poll_interval(max_poll_interval)
            .enable_auto_commit(false)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    consumer
        .subscribe_with_listener(["slow"], Box::new(events.clone()))
        .unwrap();
    poll_until(&mut consumer, 10, WAIT).await;
    let (member, generation) = consumer.group_member().unwrap();
    assert!(!member.is_empty() && generation >= 0);

    // Processing takes longer than max.poll.interval.ms: the heartbeat task
    // leaves the group.
    wait_for("the member to leave the group", WAIT, || {
        consumer.group_member().unwrap().1 < 0
    })
    .await;
    // Its partitions are no longer its own: the commit is refused, not applied.
    assert!(matches!(
        consumer.commit().await,
        Err(Error::CommitFailed(_))
    ));
    let tp = TopicPartition::new("slow", 0);
    let committed = consumer
        .committed(std::slice::from_ref(&tp), WAIT)
        .await
        .unwrap();
    assert_eq!(committed[&tp], None);

    // The next poll rejoins (partitions lost, then assigned again) and reads on.
    produce(&producer, "slow", 0, 10, 5).await;
    let records = poll_until(&mut consumer, 5, WAIT).await;
    assert_eq!(
        records[0].offset, 0,
        "nothing was committed, so it starts over"
    );
    assert!(consumer.group_member().unwrap().1 >= 0);
    let log = events.log();
    // The partition was lost (not revoked: its offsets could no longer be
    // committed), then assigned again. How many times it was assigned is
    // not the point (a slow join may take more than one round), the order
    // is.
    assert_eq!(
        log.first().map(String::as_str),
        Some("assigned 1"),
        "{log:?}"
    );
    assert_eq!(
        log.last().map(String::as_str),
        Some("assigned 1"),
        "{log:?}"
    );
    assert!(log.iter().any(|e| e == "lost 1"), "{log:?}");
    assert!(!log.iter().any(|e| e.starts_with("revoked")), "{log:?}");
    consumer.close(Duration::from_secs(30)).await;
    producer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_member_is_replaced_after_the_session_timeout() {
    let broker = broker(1).await;
    broker.create_topic("crash", 2).unwrap();
    let producer = producer(&broker).await;
    let build = || {
        group_config(&broker, "crash-group")
            .partition_assignment_strategy([ferrokafka_consumer::AssignmentStrategy::RoundRobin])
            .build()
            .unwrap()
    };
    let mut survivor = Consumer::connect(build()).await.unwrap();
    survivor.subscribe(["crash"]).unwrap();
    let survivor = Poller::spawn(survivor);
    wait_for("the survivor to join", WAIT, || {
        survivor.assignment().len() == 2
    })
    .await;
    let mut crashing = Consumer::connect(build()).await.unwrap();
    crashing.subscribe(["crash"]).unwrap();
    let crashing = Poller::spawn(crashing);
    wait_for("the split", WAIT, || {
        survivor.assignment().len() == 1 && crashing.assignment().len() == 1
    })
    .await;
    // Crash: stop polling and drop without close (no LeaveGroup).
    let (crashed, crashed_reads) = crashing.finish().await;
    drop(crashed);
    wait_for("the survivor to take over", WAIT, || {
        survivor.assignment().len() == 2
    })
    .await;
    let mut written = produce(&producer, "crash", 0, 0, 5).await;
    written.extend(produce(&producer, "crash", 1, 5, 5).await);
    let expected = Reads::once(&written);
    wait_for("every record", WAIT, || survivor.reads().covers(&expected)).await;
    assert_eq!(crashed_reads, Reads::default());
    let (mut survivor, reads) = survivor.finish().await;
    reads.assert_exactly(&expected, "records read by the survivor");
    survivor.close(Duration::from_secs(30)).await;
    producer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_stream_yields_records_one_at_a_time() {
    let broker = broker(1).await;
    broker.create_topic("stream", 1).unwrap();
    let producer = producer(&broker).await;
    produce(&producer, "stream", 0, 0, 12).await;
    let mut consumer = Consumer::connect(config(&broker).max_poll_records(5).build().unwrap())
        .await
        .unwrap();
    consumer.assign([TopicPartition::new("stream", 0)]).unwrap();
    let mut stream = consumer.stream(Duration::from_millis(100));
    for expected in 0..12 {
        let record = tokio::time::timeout(WAIT, stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(record.offset, expected);
    }
    // The owning futures Stream, with the consumer usable between records.
    consumer
        .seek(&TopicPartition::new("stream", 0), 10)
        .unwrap();
    let mut stream = consumer.into_stream(Duration::from_millis(100));
    for expected in 10..12 {
        let record = tokio::time::timeout(
            WAIT,
            std::future::poll_fn(|cx| {
                futures_core::Stream::poll_next(std::pin::Pin::new(&mut stream), cx)
            }),
        )
        .await
        .unwrap()
        .unwrap()
        .unwrap();
        assert_eq!(record.offset, expected);
        assert!(stream.consumer_mut().is_some());
    }
    let mut consumer = stream.into_consumer().unwrap();
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

/// A manual-commit application's listener: commits what it processed when
/// partitions are revoked.
struct CommitProcessedOnRevoke(Arc<Mutex<Vec<ConsumerRecord>>>);

impl RebalanceListener for CommitProcessedOnRevoke {
    fn on_partitions_revoked(&mut self, _partitions: &[TopicPartition]) {}
    fn on_partitions_assigned(&mut self, _partitions: &[TopicPartition]) {}
    fn offsets_to_commit_on_revoke(
        &mut self,
        partitions: &[TopicPartition],
    ) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        let mut out = BTreeMap::new();
        for record in self.0.lock().unwrap().iter() {
            let tp = record.topic_partition();
            if partitions.contains(&tp) {
                out.insert(tp, OffsetAndMetadata::new(record.offset + 1));
            }
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_commits_processed_offsets_before_the_revoke() {
    let broker = broker(1).await;
    broker.create_topic("handover", 2).unwrap();
    let producer = producer(&broker).await;
    let mut written = produce(&producer, "handover", 0, 0, 10).await;
    written.extend(produce(&producer, "handover", 1, 10, 10).await);
    let build = || {
        group_config(&broker, "handover-group")
            .enable_auto_commit(false)
            .build()
            .unwrap()
    };
    let processed = Arc::new(Mutex::new(Vec::new()));
    let mut first = Consumer::connect(build()).await.unwrap();
    first
        .subscribe_with_listener(
            ["handover"],
            Box::new(CommitProcessedOnRevoke(processed.clone())),
        )
        .unwrap();
    let first = Poller::spawn_into(first, processed.clone());
    let expected = Reads::once(&written);
    wait_for("the first member to read everything", WAIT, || {
        first.reads().covers(&expected)
    })
    .await;
    let mut second = Consumer::connect(build()).await.unwrap();
    second.subscribe(["handover"]).unwrap();
    let second = Poller::spawn(second);
    wait_for("the split", WAIT, || {
        first.assignment().len() == 1 && second.assignment().len() == 1
    })
    .await;
    // The second member starts where the first one's processing ended, and
    // the first, given one partition back, where its own ended: nothing is
    // read twice although nothing was committed but by the listener.
    written.extend(produce(&producer, "handover", 0, 20, 2).await);
    written.extend(produce(&producer, "handover", 1, 22, 2).await);
    let expected = Reads::once(&written);
    wait_for("the new records", WAIT, || {
        reads_of(&[&first, &second]).covers(&expected)
    })
    .await;
    let (mut second, second_reads) = second.finish().await;
    second.close(Duration::from_secs(30)).await;
    let (mut first, mut reads) = first.finish().await;
    first.close(Duration::from_secs(30)).await;
    assert!(
        second_reads.offsets().iter().all(|(_, o)| *o >= 10),
        "re-read processed records: {second_reads:?}"
    );
    reads.merge(&second_reads);
    reads.assert_exactly(&expected, "records read through the hand-over");
    producer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_subscription_picks_up_new_matching_topics() {
    let broker = broker(1).await;
    broker.create_topic("metrics-a", 1).unwrap();
    broker.create_topic("metrics-b", 2).unwrap();
    broker.create_topic("other", 1).unwrap();
    let mut consumer = Consumer::connect(
        group_config(&broker, "pattern-group")
            .property("metadata.max.age.ms", "200")
            .unwrap()
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    consumer.subscribe_pattern("metrics-.*").unwrap();
    let deadline = Instant::now() + WAIT;
    while consumer.assignment().len() != 3 {
        assert!(Instant::now() < deadline, "{:?}", consumer.assignment());
        consumer.poll(Duration::from_millis(100)).await.unwrap();
    }
    assert!(
        consumer
            .assignment()
            .iter()
            .all(|tp| tp.topic.starts_with("metrics-"))
    );
    broker.create_topic("metrics-c", 1).unwrap();
    let deadline = Instant::now() + WAIT;
    while consumer.assignment().len() != 4 {
        assert!(Instant::now() < deadline, "{:?}", consumer.assignment());
        consumer.poll(Duration::from_millis(100)).await.unwrap();
    }
    assert_eq!(
        consumer.subscription(),
        vec!["metrics-a", "metrics-b", "metrics-c"]
    );
    match consumer.subscribe_pattern("(") {
        Err(Error::Client(ferrokafka_client::Error::Config(message))) => {
            assert!(
                message.contains("invalid subscription pattern"),
                "{message}"
            );
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
    // The refused pattern left the subscription as it was.
    assert_eq!(
        consumer.subscription(),
        vec!["metrics-a", "metrics-b", "metrics-c"]
    );
    consumer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_comes_back_to_its_partitions() {
    let broker = broker(1).await;
    broker.create_topic("static", 2).unwrap();
    let producer = producer(&broker).await;
    produce(&producer, "static", 0, 0, 4).await;
    let build = || {
        group_config(&broker, "static-group")
            .group_instance_id("instance-1")
            .build()
            .unwrap()
    };
    let mut first = Consumer::connect(build()).await.unwrap();
    first.subscribe(["static"]).unwrap();
    poll_until(&mut first, 4, WAIT).await;
    assert_eq!(first.assignment().len(), 2);
    // Close commits but sends no LeaveGroup: the place stays reserved.
    first.close(Duration::from_secs(30)).await;

    produce(&producer, "static", 1, 4, 3).await;
    let mut again = Consumer::connect(build()).await.unwrap();
    again.subscribe(["static"]).unwrap();
    let records = poll_until(&mut again, 3, WAIT).await;
    assert!(
        records.iter().all(|r| r.partition == 1),
        "resumed after the commit"
    );
    assert_eq!(again.assignment().len(), 2);
    again.close(Duration::from_secs(30)).await;
    producer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_on_six_partitions_lose_nothing_through_join_leave_and_crash() {
    let broker = broker(1).await;
    broker.create_topic("six", 6).unwrap();
    let producer = producer(&broker).await;
    let build = || {
        group_config(&broker, "six-group")
            .auto_commit_interval(Duration::from_millis(200))
            .build()
            .unwrap()
    };
    // Each round writes 5 records to every partition.
    let count = 5;
    let mut written = Vec::new();

    let a = {
        let mut c = Consumer::connect(build()).await.unwrap();
        c.subscribe(["six"]).unwrap();
        Poller::spawn(c)
    };
    for p in 0..6 {
        written.extend(produce(&producer, "six", p, 0, count).await);
    }
    // Join: b and c arrive while records flow.
    let b = {
        let mut c = Consumer::connect(build()).await.unwrap();
        c.subscribe(["six"]).unwrap();
        Poller::spawn(c)
    };
    let c = {
        let mut c = Consumer::connect(build()).await.unwrap();
        c.subscribe(["six"]).unwrap();
        Poller::spawn(c)
    };
    wait_for("three members with two partitions each", WAIT, || {
        [&a, &b, &c].iter().all(|p| p.assignment().len() == 2)
    })
    .await;
    for p in 0..6 {
        written.extend(produce(&producer, "six", p, 5, count).await);
    }
    let expected = Reads::once(&written);
    wait_for("every record so far", WAIT, || {
        reads_of(&[&a, &b, &c]).covers(&expected)
    })
    .await;

    // Leave: b closes cleanly (committing what it read).
    let (mut b_consumer, b_reads) = b.finish().await;
    b_consumer.close(Duration::from_secs(30)).await;
    wait_for("two members with three partitions each", WAIT, || {
        a.assignment().len() == 3 && c.assignment().len() == 3
    })
    .await;
    for p in 0..6 {
        written.extend(produce(&producer, "six", p, 10, count).await);
    }
    let expected = Reads::once(&written);
    wait_for("the new records", WAIT, || {
        let mut reads = reads_of(&[&a, &c]);
        reads.merge(&b_reads);
        reads.covers(&expected)
    })
    .await;
    // Crash: c stops polling and is dropped without leaving. What it read
    // after its last auto-commit is read again by its successor, and only
    // that.
    let mut windows = common::Windows::new();
    let (c_consumer, c_reads) = c.finish().await;
    common::crash(c_consumer, &mut windows).await;
    wait_for("the survivor to own all six", WAIT, || {
        a.assignment().len() == 6
    })
    .await;
    for p in 0..6 {
        written.extend(produce(&producer, "six", p, 15, count).await);
    }
    let expected = Reads::once(&written);
    wait_for("the last records", WAIT, || {
        let mut reads = a.reads();
        reads.merge(&b_reads);
        reads.merge(&c_reads);
        reads.covers(&expected)
    })
    .await;
    let (mut a, mut reads) = a.finish().await;
    a.close(Duration::from_secs(30)).await;
    reads.merge(&b_reads);
    reads.merge(&c_reads);
    reads.assert_exactly(
        &common::expected_reads(&written, &windows),
        &format!("records read through join, leave and crash (crash windows {windows:?})"),
    );
    producer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooperative_sticky_keeps_unaffected_partitions_through_a_rebalance() {
    let broker = broker(1).await;
    broker.create_topic("coop", 4).unwrap();
    let producer = producer(&broker).await;
    let build = || {
        group_config(&broker, "coop-group")
            .partition_assignment_strategy([
                ferrokafka_consumer::AssignmentStrategy::CooperativeSticky,
            ])
            .build()
            .unwrap()
    };
    let events = Events::default();
    let mut first = Consumer::connect(build()).await.unwrap();
    first
        .subscribe_with_listener(["coop"], Box::new(events.clone()))
        .unwrap();
    let first = Poller::spawn(first);
    wait_for("the first member to own all four", WAIT, || {
        first.assignment().len() == 4
    })
    .await;
    let mut written = Vec::new();
    for p in 0..4 {
        written.extend(produce(&producer, "coop", p, 0, 5).await);
    }
    let expected = Reads::once(&written);
    wait_for("the first records", WAIT, || {
        first.reads().covers(&expected)
    })
    .await;

    let mut second = Consumer::connect(build()).await.unwrap();
    second.subscribe(["coop"]).unwrap();
    let second = Poller::spawn(second);
    wait_for("the incremental split", WAIT, || {
        first.assignment().len() == 2 && second.assignment().len() == 2
    })
    .await;
    let log = events.log();
    // Only the two partitions that moved were revoked; nothing was revoked
    // wholesale, and no partition was owned twice.
    assert!(log.iter().any(|e| e == "revoked 2"), "{log:?}");
    assert!(!log.iter().any(|e| e == "revoked 4"), "{log:?}");
    let a: BTreeSet<_> = first.assignment().into_iter().collect();
    let b: BTreeSet<_> = second.assignment().into_iter().collect();
    assert!(a.is_disjoint(&b));
    for p in 0..4 {
        written.extend(produce(&producer, "coop", p, 5, 5).await);
    }
    let expected = Reads::once(&written);
    wait_for("every record", WAIT, || {
        reads_of(&[&first, &second]).covers(&expected)
    })
    .await;
    let (mut second, second_reads) = second.finish().await;
    second.close(Duration::from_secs(30)).await;
    let (mut first, mut reads) = first.finish().await;
    first.close(Duration::from_secs(30)).await;
    // Committed positions (auto-commit before the revoke) mean the second
    // member did not re-read what the first had handed out.
    assert!(
        second_reads.offsets().iter().all(|(_, o)| *o >= 5),
        "{second_reads:?}"
    );
    reads.merge(&second_reads);
    reads.assert_exactly(&expected, "records read through the cooperative rebalance");
    producer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eager_sticky_keeps_partitions_through_join_and_leave() {
    /// A consumer polling on its own task, publishing its generation and
    /// assignment after every poll.
    struct Member {
        stop: Arc<AtomicBool>,
        view: Arc<Mutex<(i32, BTreeSet<i32>)>>,
        task: tokio::task::JoinHandle<Consumer>,
    }
    impl Member {
        fn view(&self) -> (i32, BTreeSet<i32>) {
            self.view.lock().unwrap().clone()
        }
    }
    let broker = broker(1).await;
    broker.create_topic("sticky", 6).unwrap();
    let start = |broker: &BrokerHandle| {
        let config = group_config(broker, "sticky-group")
            .partition_assignment_strategy([ferrokafka_consumer::AssignmentStrategy::Sticky])
            .build()
            .unwrap();
        async move {
            let mut consumer = Consumer::connect(config).await.unwrap();
            consumer.subscribe(["sticky"]).unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let view = Arc::new(Mutex::new((-1, BTreeSet::new())));
            let (s, v) = (stop.clone(), view.clone());
            let task = tokio::spawn(async move {
                while !s.load(Ordering::Acquire) {
                    consumer.poll(Duration::from_millis(100)).await.unwrap();
                    let generation = consumer.group_member().map_or(-1, |(_, g)| g);
                    let partitions = consumer
                        .assignment()
                        .iter()
                        .map(|tp| tp.partition)
                        .collect();
                    *v.lock().unwrap() = (generation, partitions);
                }
                consumer
            });
            Member { stop, view, task }
        }
    };
    // Waits for one generation in which the members split all six
    // partitions with the given sizes, and returns their shares.
    async fn settled(members: &[&Member], sizes: &[usize]) -> Vec<BTreeSet<i32>> {
        let mut shares = Vec::new();
        wait_for("a settled generation", WAIT, || {
            let views: Vec<_> = members.iter().map(|m| m.view()).collect();
            let generation = views[0].0;
            let all: BTreeSet<i32> = views.iter().flat_map(|v| v.1.iter().copied()).collect();
            let ok = generation > 0
                && views.iter().all(|v| v.0 == generation)
                && all == (0..6).collect()
                && views.iter().map(|v| v.1.len()).eq(sizes.iter().copied());
            if ok {
                shares = views.into_iter().map(|v| v.1).collect();
            }
            ok
        })
        .await;
        shares
    }

    let a = start(&broker).await;
    let first = settled(&[&a], &[6]).await;
    assert_eq!(first[0].len(), 6);

    // b joins: a hands over exactly three and keeps the other three.
    let b = start(&broker).await;
    let second = settled(&[&a, &b], &[3, 3]).await;
    assert!(second[0].is_subset(&first[0]));

    // c joins: a and b each hand over one partition, the fewest possible,
    // and keep everything else.
    let c = start(&broker).await;
    let third = settled(&[&a, &b, &c], &[2, 2, 2]).await;
    assert!(third[0].is_subset(&second[0]), "{second:?} -> {third:?}");
    assert!(third[1].is_subset(&second[1]), "{second:?} -> {third:?}");

    // b leaves: a and c keep all theirs and split b's.
    b.stop.store(true, Ordering::Release);
    let mut b = b.task.await.unwrap();
    b.close(Duration::from_secs(30)).await;
    let fourth = settled(&[&a, &c], &[3, 3]).await;
    assert!(fourth[0].is_superset(&third[0]), "{third:?} -> {fourth:?}");
    assert!(fourth[1].is_superset(&third[2]), "{third:?} -> {fourth:?}");

    for member in [a, c] {
        member.stop.store(true, Ordering::Release);
        let mut consumer = member.task.await.unwrap();
        consumer.close(Duration::from_secs(30)).await;
    }
    broker.shutdown().await;
}

/// The Fetch requests for `topic`-`partition` at `offset` the broker has
/// received since it started recording.
fn fetches_at(broker: &BrokerHandle, topic: &str, partition: i32, offset: i64) -> usize {
    broker
        .requests_seen()
        .iter()
        .filter(|seen| match &seen.request {
            RequestKind::Fetch(fetch) => fetch.topics.iter().any(|t| {
                (t.topic == topic || t.topic.is_empty())
                    && t.partitions
                        .iter()
                        .any(|p| p.partition == partition && p.fetch_offset == offset)
            }),
            _ => false,
        })
        .count()
}

/// A fetch waiting on the broker returns as soon as records arrive: with
/// `fetch.max.wait.ms` at 10 minutes, each of the records trickling in one
/// by one is written only once the fetch for it waits on the broker, and
/// reaches `poll` in the answer to that very fetch (no second fetch at its
/// offset, which is what an expired wait would lead to), long before the
/// wait could have expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_fetch_returns_as_soon_as_records_arrive() {
    let broker = broker(1).await;
    broker.create_topic("trickle", 1).unwrap();
    broker.record_requests(true);
    let producer = producer(&broker).await;
    let fetch_max_wait = Duration::from_secs(600);
    let mut consumer = Consumer::connect(
        config(&broker)
            .fetch_max_wait(fetch_max_wait)
            .request_timeout(fetch_max_wait + Duration::from_secs(60))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    consumer
        .assign([TopicPartition::new("trickle", 0)])
        .unwrap();
    for i in 0..5 {
        let offset = i as i64;
        let writer = async {
            // Only once the fetch for this offset waits on the broker.
            wait_for("the fetch to wait on the broker", WAIT, || {
                fetches_at(&broker, "trickle", 0, offset) > 0
            })
            .await;
            produce(&producer, "trickle", 0, i, 1).await;
        };
        let (_, records) = tokio::join!(writer, async {
            // A poll's own fetch waits at most the poll's timeout, so one
            // long poll; an unwoken fetch would not answer within it.
            let started = Instant::now();
            let mut got = Vec::new();
            while got.is_empty() && started.elapsed() < WAIT {
                got = consumer.poll(WAIT).await.unwrap();
            }
            got
        });
        assert_eq!(
            records.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![offset],
            "record {i}: the waiting fetch was not woken by the append"
        );
        assert_eq!(
            fetches_at(&broker, "trickle", 0, offset),
            1,
            "record {i} came in the answer to a later fetch, not the waiting one"
        );
    }
    consumer.close(Duration::from_secs(1)).await;
    producer.close(Duration::from_secs(1)).await;
    broker.shutdown().await;
}

/// Group traffic does not queue behind a fetch that long-polls: a broker
/// serves one request per connection at a time, so commits and heartbeats
/// go to the coordinator on a connection of their own (as in Java).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_does_not_wait_behind_a_long_polling_fetch() {
    let broker = broker(1).await;
    broker.create_topic("long-poll", 1).unwrap();
    let producer = producer(&broker).await;
    produce(&producer, "long-poll", 0, 0, 1).await;
    broker.record_requests(true);
    let fetch_max_wait = Duration::from_secs(600);
    let mut consumer = Consumer::connect(
        group_config(&broker, "long-poll-group")
            .enable_auto_commit(false)
            .fetch_max_wait(fetch_max_wait)
            .request_timeout(fetch_max_wait + Duration::from_secs(60))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    consumer.subscribe(["long-poll"]).unwrap();
    let records = poll_until(&mut consumer, 1, WAIT).await;
    assert_eq!(records.len(), 1);
    // Handing out the record started the next fetch, which now waits up to
    // 10 minutes on the broker for data that does not come.
    wait_for("the next fetch to wait on the broker", WAIT, || {
        fetches_at(&broker, "long-poll", 0, 1) == 1
    })
    .await;
    // Queued behind that fetch, the commit would take 10 minutes; on its
    // own connection it takes a round trip.
    tokio::time::timeout(WAIT, consumer.commit())
        .await
        .expect("the commit waited behind the fetch")
        .unwrap();
    let tp = TopicPartition::new("long-poll", 0);
    let committed = consumer
        .committed(std::slice::from_ref(&tp), WAIT)
        .await
        .unwrap();
    assert_eq!(committed[&tp].as_ref().map(|o| o.offset), Some(1));
    consumer.close(Duration::from_secs(1)).await;
    producer.close(Duration::from_secs(1)).await;
    broker.shutdown().await;
}

/// Commits refused while the group rebalances fail on their own; fetching
/// goes on, and a later commit stores the position reached meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commit_failures_during_a_rebalance_do_not_stall_fetching() {
    let broker = broker(1).await;
    broker.create_topic("busy", 1).unwrap();
    let producer = producer(&broker).await;
    let mut written = produce(&producer, "busy", 0, 0, 10).await;
    let mut consumer = Consumer::connect(
        group_config(&broker, "busy-group")
            .enable_auto_commit(false)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    consumer.subscribe(["busy"]).unwrap();
    let first_reads = poll_until(&mut consumer, 10, WAIT).await;
    broker.inject_fault(
        FaultRule::new(
            ApiKey::OffsetCommit,
            FaultAction::Fail(ErrorCode::RebalanceInProgress),
        )
        .times(2),
    );
    // Both commits meet REBALANCE_IN_PROGRESS and are refused, not retried.
    let failed_sync = consumer.commit().await;
    assert!(
        matches!(failed_sync, Err(Error::CommitFailed(_))),
        "{failed_sync:?}"
    );
    let failed_async = consumer.commit_async().unwrap().wait().await;
    assert!(
        matches!(failed_async, Err(Error::CommitFailed(_))),
        "{failed_async:?}"
    );
    // Records keep coming while the commits fail. REBALANCE_IN_PROGRESS
    // makes the member rejoin (as in Java): nothing was committed, so it
    // reads its records again from the start, then the new ones.
    written.extend(produce(&producer, "busy", 0, 10, 10).await);
    let deadline = Instant::now() + WAIT;
    let mut records = first_reads;
    let expected_offsets: BTreeSet<i64> = (10..20).collect();
    while !expected_offsets.is_subset(&records.iter().map(|r| r.offset).collect()) {
        assert!(
            Instant::now() < deadline,
            "fetching stalled: {:?}",
            Reads::of(&records)
        );
        records.extend(consumer.poll(Duration::from_millis(200)).await.unwrap());
    }
    // Re-read: exactly the records after the last commit (none), once.
    let windows = common::Windows::from([(0, vec![(0, 10)])]);
    Reads::of(&records).assert_exactly(
        &common::expected_reads(&written, &windows),
        "records read through the failed commits",
    );
    consumer.commit().await.unwrap();
    let tp = TopicPartition::new("busy", 0);
    let committed = consumer
        .committed(std::slice::from_ref(&tp), WAIT)
        .await
        .unwrap();
    assert_eq!(committed[&tp].as_ref().map(|o| o.offset), Some(20));
    consumer.close(Duration::from_secs(30)).await;
    producer.close(Duration::from_secs(30)).await;
    broker.shutdown().await;
}
