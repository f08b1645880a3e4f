//! Positions against the bundled broker (in-process, port 0): seek,
//! position, pause and resume, the beginning/end/by-time offset lookups,
//! and the `auto.offset.reset` policies (latest, earliest, none), also for
//! out-of-range positions. Every wait polls a condition under a deadline.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{WAIT, broker, config, group_config, poll_until, produce, producer};
use ferrokafka_consumer::{Consumer, Error, OffsetReset, TopicPartition};

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
