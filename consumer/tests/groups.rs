//! Consumer groups against the bundled broker (in-process, port 0):
//! members that split partitions and rebalance when one leaves, a member
//! that stops polling and leaves, a crashed member replaced after the
//! session timeout, three members through join, leave and crash, pattern
//! subscriptions, and a static member back to its partitions. Every wait
//! polls a condition under a deadline.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{
    Events, Poller, Reads, WAIT, broker, group_config, poll_until, produce, producer, reads_of,
    wait_for,
};
use ferrokafka_consumer::{Consumer, Error, TopicPartition};

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
