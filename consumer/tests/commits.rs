//! Commits against the bundled broker (in-process, port 0): committed
//! offsets resume a new member without duplicates or gaps, auto-commit on
//! close, a rebalance listener that commits processed offsets before the
//! revoke, a commit that does not queue behind a long-polling fetch, and
//! commits refused during a rebalance that do not stall fetching. Every
//! wait polls a condition under a deadline.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    Poller, Reads, WAIT, broker, fetches_at, group_config, poll_until, produce, producer, reads_of,
    wait_for,
};
use ferrokafka_broker::{FaultAction, FaultRule};
use ferrokafka_consumer::{
    Consumer, ConsumerRecord, Error, OffsetAndMetadata, RebalanceListener, TopicPartition,
};
use ferrokafka_protocol::{ApiKey, ErrorCode};

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
