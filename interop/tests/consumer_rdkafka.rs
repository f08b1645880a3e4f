//! The ferrokafka consumer and librdkafka's in one consumer group on the
//! bundled broker (port 0): with the range assignor and with
//! cooperative-sticky, the two members split the partitions (disjoint, union
//! = all), both consume, and every record is consumed exactly once across
//! the two, with committed offsets at the end of every partition. And the
//! group's committed offsets carry over between the clients: what
//! librdkafka commits, a ferrokafka member resumes from, and the other way
//! round. Each mixed group runs twice, led by either client (the first to
//! join leads and computes the assignment), with a rebalance while the
//! first member is live. Last, the eager `sticky` strategy in a live group
//! of ferrokafka members (librdkafka has no eager sticky assignor).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokafka_broker::Broker;
use ferrokafka_consumer::{
    AssignmentStrategy, Consumer as FkConsumer, ConsumerConfig, OffsetReset, TopicPartition,
};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, RebalanceProtocol};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

const DEADLINE: Duration = Duration::from_secs(60);
const PARTITIONS: i32 = 6;

fn fk_config(bootstrap: &str, group: &str, strategy: AssignmentStrategy) -> ConsumerConfig {
    ConsumerConfig::builder()
        .bootstrap_servers([bootstrap.to_owned()])
        .group_id(group)
        .auto_offset_reset(OffsetReset::Earliest)
        .enable_auto_commit(false)
        .session_timeout(Duration::from_millis(6_000))
        .heartbeat_interval(Duration::from_millis(100))
        .fetch_max_wait(Duration::from_millis(100))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .partition_assignment_strategy([strategy])
        .build()
        .unwrap()
}

fn rdk_consumer(bootstrap: &str, group: &str, strategy: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "100")
        .set("fetch.wait.max.ms", "100")
        .set("partition.assignment.strategy", strategy)
        .create()
        .unwrap()
}

/// Writes `values` (round-robin over the partitions, no key) and waits for
/// every delivery.
async fn produce(bootstrap: &str, topic: &str, values: impl IntoIterator<Item = String>) {
    let config = ProducerConfig::builder()
        .bootstrap_servers([bootstrap.to_owned()])
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let mut deliveries = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        let partition = i32::try_from(i).unwrap() % PARTITIONS;
        let record = ProducerRecord::new(topic.to_owned())
            .partition(partition)
            .value(Bytes::from(value));
        deliveries.push(producer.send(record).await.unwrap());
    }
    for delivery in deliveries {
        delivery.await.unwrap();
    }
    producer.close(Duration::from_secs(10)).await;
}

/// A consumed record: (partition, offset, value).
type Read = (i32, i64, String);

/// What a member of the mixed group shares with the test.
#[derive(Default)]
struct Member {
    assignment: Mutex<BTreeSet<i32>>,
    read: Mutex<Vec<Read>>,
}

/// Runs the ferrokafka member until `stop`: poll, record, commit after
/// every non-empty poll. Returns the consumer (still open) at the end.
async fn run_fk_member(
    mut consumer: FkConsumer,
    topic: String,
    member: Arc<Member>,
    stop: Arc<AtomicBool>,
) -> FkConsumer {
    consumer.subscribe([topic]).unwrap();
    while !stop.load(Ordering::Relaxed) {
        let records = consumer.poll(Duration::from_millis(50)).await.unwrap();
        *member.assignment.lock().unwrap() = consumer
            .assignment()
            .iter()
            .map(|tp| tp.partition)
            .collect();
        if records.is_empty() {
            continue;
        }
        member.read.lock().unwrap().extend(records.iter().map(|r| {
            (
                r.partition,
                r.offset,
                String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap(),
            )
        }));
        // A commit can fail while the group rebalances (the coordinator
        // answers REBALANCE_IN_PROGRESS between JoinGroup and SyncGroup);
        // the next poll's commit covers these positions again.
        let _ = consumer.commit().await;
    }
    let _ = consumer.commit().await;
    consumer
}

/// Runs the librdkafka member until `stop` (on a blocking thread): poll,
/// record, commit synchronously after every record; notes the rebalance
/// protocol librdkafka reports.
fn run_rdk_member(
    consumer: BaseConsumer,
    topic: &str,
    member: &Member,
    stop: &AtomicBool,
    protocol: &Mutex<Option<&'static str>>,
) {
    consumer.subscribe(&[topic]).unwrap();
    while !stop.load(Ordering::Relaxed) {
        let message = consumer.poll(Duration::from_millis(50));
        match consumer.rebalance_protocol() {
            RebalanceProtocol::None => {}
            RebalanceProtocol::Eager => *protocol.lock().unwrap() = Some("eager"),
            RebalanceProtocol::Cooperative => *protocol.lock().unwrap() = Some("cooperative"),
        }
        *member.assignment.lock().unwrap() = consumer
            .assignment()
            .unwrap()
            .elements()
            .iter()
            .map(|e| e.partition())
            .collect();
        let Some(message) = message else { continue };
        let message = message.unwrap();
        member.read.lock().unwrap().push((
            message.partition(),
            message.offset(),
            String::from_utf8(message.payload().unwrap().to_vec()).unwrap(),
        ));
        drop(message);
        // As on the ferrokafka side: a commit refused during a rebalance is
        // covered by the next one (the consumer's stored offsets).
        let _ = consumer.commit_consumer_state(CommitMode::Sync);
    }
    let _ = consumer.commit_consumer_state(CommitMode::Sync);
    consumer.unsubscribe();
}

async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The committed offset of every partition of `topic` in `group`, read
/// with a fresh librdkafka client.
fn committed_by_rdkafka(bootstrap: &str, group: &str, topic: &str) -> BTreeMap<i32, i64> {
    let consumer = rdk_consumer(bootstrap, group, "range");
    let mut list = TopicPartitionList::new();
    for partition in 0..PARTITIONS {
        list.add_partition(topic, partition);
    }
    consumer
        .committed_offsets(list, Duration::from_secs(10))
        .unwrap()
        .elements()
        .iter()
        .map(|e| {
            let offset = match e.offset() {
                Offset::Offset(offset) => offset,
                _ => -1,
            };
            (e.partition(), offset)
        })
        .collect()
}

/// Which client joins the group first (and so leads it and computes the
/// first assignments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum First {
    Ferrokafka,
    Librdkafka,
}

/// One ferrokafka and one librdkafka member with `strategy` on both sides.
/// The `first` one joins alone, takes every partition and consumes and
/// commits a first batch; the other joins (a rebalance with a live member: eager for range,
/// incremental for cooperative-sticky); once the partitions are split, a
/// second batch goes to every partition.
async fn mixed_group_splits_and_consumes_exactly_once(strategy: AssignmentStrategy, first: First) {
    let broker = Broker::builder().start().await.unwrap();
    let bootstrap = broker.bootstrap_address();
    let topic = format!("mixed-{}", strategy.name());
    let group = format!("mixed-group-{}", strategy.name());
    broker.create_topic(&topic, PARTITIONS).unwrap();

    // One stop flag per member: the ferrokafka member stops (without
    // leaving) before librdkafka's leaves the group, so that neither sees
    // the other's departure as a rebalance while its last assignment is
    // noted (under load, a poll still running when librdkafka left rejoined
    // and took every partition: "the split changed").
    let stop_fk = Arc::new(AtomicBool::new(false));
    let stop_rdk = Arc::new(AtomicBool::new(false));
    let fk = Arc::new(Member::default());
    let rdk = Arc::new(Member::default());
    let protocol = Arc::new(Mutex::new(None));
    let fk_consumer = FkConsumer::connect(fk_config(&bootstrap, &group, strategy))
        .await
        .unwrap();
    let start_fk = || {
        tokio::spawn(run_fk_member(
            fk_consumer,
            topic.clone(),
            Arc::clone(&fk),
            Arc::clone(&stop_fk),
        ))
    };
    let start_rdk = || {
        let consumer = rdk_consumer(&bootstrap, &group, strategy.name());
        let (topic, rdk, stop) = (topic.clone(), Arc::clone(&rdk), Arc::clone(&stop_rdk));
        let protocol = Arc::clone(&protocol);
        tokio::task::spawn_blocking(move || {
            run_rdk_member(consumer, &topic, &rdk, &stop, &protocol);
        })
    };
    let all: BTreeSet<i32> = (0..PARTITIONS).collect();
    const BATCH: usize = 300;
    let (fk_task, rdk_task) = match first {
        First::Ferrokafka => {
            let fk_task = start_fk();
            wait_for("ferrokafka to own every partition", || {
                *fk.assignment.lock().unwrap() == all
            })
            .await;
            produce(
                &bootstrap,
                &topic,
                (0..BATCH).map(|i| format!("record-{i}")),
            )
            .await;
            wait_for("ferrokafka to read and commit the first batch", || {
                fk.read.lock().unwrap().len() >= BATCH
                    && committed_by_rdkafka(&bootstrap, &group, &topic)
                        .values()
                        .sum::<i64>()
                        == i64::try_from(BATCH).unwrap()
            })
            .await;
            (fk_task, start_rdk())
        }
        First::Librdkafka => {
            let rdk_task = start_rdk();
            wait_for("librdkafka to own every partition", || {
                *rdk.assignment.lock().unwrap() == all
            })
            .await;
            produce(
                &bootstrap,
                &topic,
                (0..BATCH).map(|i| format!("record-{i}")),
            )
            .await;
            wait_for("librdkafka to read and commit the first batch", || {
                rdk.read.lock().unwrap().len() >= BATCH
                    && committed_by_rdkafka(&bootstrap, &group, &topic)
                        .values()
                        .sum::<i64>()
                        == i64::try_from(BATCH).unwrap()
            })
            .await;
            (start_fk(), rdk_task)
        }
    };

    // The group settles on a split: both members hold partitions, none
    // twice, all of them between the two.
    let split = || {
        let a = fk.assignment.lock().unwrap().clone();
        let b = rdk.assignment.lock().unwrap().clone();
        !a.is_empty()
            && !b.is_empty()
            && a.is_disjoint(&b)
            && a.union(&b).copied().collect::<BTreeSet<_>>() == all
    };
    wait_for(
        &format!("the {} group to split the partitions", strategy.name()),
        split,
    )
    .await;
    let fk_partitions = fk.assignment.lock().unwrap().clone();
    let rdk_partitions = rdk.assignment.lock().unwrap().clone();

    produce(
        &bootstrap,
        &topic,
        (BATCH..2 * BATCH).map(|i| format!("record-{i}")),
    )
    .await;
    let count = 2 * BATCH;
    wait_for("every record to be consumed", || {
        fk.read.lock().unwrap().len() + rdk.read.lock().unwrap().len() >= count
    })
    .await;
    wait_for("the commits to reach every partition's end", || {
        let committed = committed_by_rdkafka(&bootstrap, &group, &topic);
        committed.values().sum::<i64>() == i64::try_from(count).unwrap()
    })
    .await;
    stop_fk.store(true, Ordering::Relaxed);
    let mut fk_consumer = fk_task.await.unwrap();
    stop_rdk.store(true, Ordering::Relaxed);
    rdk_task.await.unwrap();

    assert!(split(), "the split changed while consuming");
    assert_eq!(*fk.assignment.lock().unwrap(), fk_partitions);
    assert_eq!(*rdk.assignment.lock().unwrap(), rdk_partitions);
    // librdkafka's view of the protocol the group chose.
    let expected_protocol = if strategy.is_cooperative() {
        "cooperative"
    } else {
        "eager"
    };
    assert_eq!(*protocol.lock().unwrap(), Some(expected_protocol));
    let fk_read = fk.read.lock().unwrap().clone();
    let rdk_read = rdk.read.lock().unwrap().clone();
    let second_batch = |read: &[Read]| {
        read.iter()
            .any(|r| r.2["record-".len()..].parse::<usize>().unwrap() >= BATCH)
    };
    assert!(
        second_batch(&fk_read),
        "ferrokafka consumed none of the second batch"
    );
    assert!(
        second_batch(&rdk_read),
        "librdkafka consumed none of the second batch"
    );
    // After the split, each read only its own partitions.
    let after_split = |read: &[Read], own: &BTreeSet<i32>| {
        read.iter()
            .filter(|r| r.2["record-".len()..].parse::<usize>().unwrap() >= BATCH)
            .all(|r| own.contains(&r.0))
    };
    assert!(
        after_split(&fk_read, &fk_partitions),
        "ferrokafka read outside its partitions {fk_partitions:?}"
    );
    assert!(
        after_split(&rdk_read, &rdk_partitions),
        "librdkafka read outside its partitions {rdk_partitions:?}"
    );
    let mut values: Vec<&str> = fk_read
        .iter()
        .chain(&rdk_read)
        .map(|r| r.2.as_str())
        .collect();
    values.sort_unstable();
    let mut expected: Vec<String> = (0..count).map(|i| format!("record-{i}")).collect();
    expected.sort_unstable();
    assert_eq!(values, expected, "every record exactly once across the two");
    let committed = committed_by_rdkafka(&bootstrap, &group, &topic);
    let per_partition = i64::try_from(count).unwrap() / i64::from(PARTITIONS);
    assert!(
        committed.values().all(|&offset| offset == per_partition),
        "{committed:?}"
    );

    fk_consumer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_group_with_range_led_by_ferrokafka() {
    mixed_group_splits_and_consumes_exactly_once(AssignmentStrategy::Range, First::Ferrokafka)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_group_with_range_led_by_librdkafka() {
    mixed_group_splits_and_consumes_exactly_once(AssignmentStrategy::Range, First::Librdkafka)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_group_with_cooperative_sticky_led_by_ferrokafka() {
    mixed_group_splits_and_consumes_exactly_once(
        AssignmentStrategy::CooperativeSticky,
        First::Ferrokafka,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_group_with_cooperative_sticky_led_by_librdkafka() {
    mixed_group_splits_and_consumes_exactly_once(
        AssignmentStrategy::CooperativeSticky,
        First::Librdkafka,
    )
    .await;
}

/// Reads exactly `count` records with a ferrokafka group member, commits and
/// closes; fails on more.
async fn fk_read_and_commit(bootstrap: &str, group: &str, topic: &str, count: usize) -> Vec<Read> {
    let mut consumer = FkConsumer::connect(fk_config(bootstrap, group, AssignmentStrategy::Range))
        .await
        .unwrap();
    consumer.subscribe([topic.to_owned()]).unwrap();
    let mut read = Vec::new();
    let start = Instant::now();
    // Read until `count`, then a little more to catch anything extra.
    let mut quiet_since: Option<Instant> = None;
    while quiet_since.is_none_or(|since| since.elapsed() < Duration::from_millis(500)) {
        assert!(
            start.elapsed() < DEADLINE,
            "ferrokafka read {} of {count}",
            read.len()
        );
        for r in consumer.poll(Duration::from_millis(50)).await.unwrap() {
            read.push((
                r.partition,
                r.offset,
                String::from_utf8(r.value.unwrap().to_vec()).unwrap(),
            ));
        }
        if read.len() >= count && quiet_since.is_none() {
            quiet_since = Some(Instant::now());
        }
    }
    consumer.commit().await.unwrap();
    consumer.close(Duration::from_secs(5)).await;
    read
}

/// The same with librdkafka (on the calling thread: run it blocking).
fn rdk_read_and_commit(bootstrap: &str, group: &str, topic: &str, count: usize) -> Vec<Read> {
    let consumer = rdk_consumer(bootstrap, group, "range");
    consumer.subscribe(&[topic]).unwrap();
    let mut read = Vec::new();
    let start = Instant::now();
    let mut quiet_since: Option<Instant> = None;
    while quiet_since.is_none_or(|since| since.elapsed() < Duration::from_millis(500)) {
        assert!(
            start.elapsed() < DEADLINE,
            "librdkafka read {} of {count}",
            read.len()
        );
        if let Some(message) = consumer.poll(Duration::from_millis(50)) {
            let message = message.unwrap();
            read.push((
                message.partition(),
                message.offset(),
                String::from_utf8(message.payload().unwrap().to_vec()).unwrap(),
            ));
        }
        if read.len() >= count && quiet_since.is_none() {
            quiet_since = Some(Instant::now());
        }
    }
    consumer.commit_consumer_state(CommitMode::Sync).unwrap();
    consumer.unsubscribe();
    read
}

fn values(read: &[Read]) -> BTreeSet<String> {
    read.iter().map(|r| r.2.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_carry_over_between_librdkafka_and_ferrokafka() {
    let broker = Broker::builder().start().await.unwrap();
    let bootstrap = broker.bootstrap_address();
    let topic = "handover";
    let group = "handover-group";
    broker.create_topic(topic, PARTITIONS).unwrap();
    const BATCH: usize = 60;
    let batch = |name: &str| -> Vec<String> { (0..BATCH).map(|i| format!("{name}-{i}")).collect() };

    // librdkafka reads and commits the first batch.
    produce(&bootstrap, topic, batch("first")).await;
    let read = {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || rdk_read_and_commit(&bootstrap, group, topic, BATCH))
            .await
            .unwrap()
    };
    assert_eq!(values(&read), batch("first").into_iter().collect());
    assert_eq!(read.len(), BATCH);

    // ferrokafka sees librdkafka's commits...
    let per_partition = i64::try_from(BATCH).unwrap() / i64::from(PARTITIONS);
    let probe = FkConsumer::connect(fk_config(&bootstrap, group, AssignmentStrategy::Range))
        .await
        .unwrap();
    let partitions: Vec<TopicPartition> = (0..PARTITIONS)
        .map(|p| TopicPartition::new(topic, p))
        .collect();
    let committed = probe
        .committed(&partitions, Duration::from_secs(10))
        .await
        .unwrap();
    for tp in &partitions {
        assert_eq!(
            committed[tp].as_ref().map(|o| o.offset),
            Some(per_partition),
            "{tp}: {committed:?}"
        );
    }
    drop(probe);

    // ...and resumes from them: only the second batch, nothing of the first.
    produce(&bootstrap, topic, batch("second")).await;
    let read = fk_read_and_commit(&bootstrap, group, topic, BATCH).await;
    assert_eq!(values(&read), batch("second").into_iter().collect());
    assert_eq!(read.len(), BATCH);
    assert_eq!(
        committed_by_rdkafka(&bootstrap, group, topic),
        (0..PARTITIONS).map(|p| (p, 2 * per_partition)).collect()
    );

    // librdkafka resumes from ferrokafka's commits.
    produce(&bootstrap, topic, batch("third")).await;
    let read = {
        let bootstrap = bootstrap.clone();
        tokio::task::spawn_blocking(move || rdk_read_and_commit(&bootstrap, group, topic, BATCH))
            .await
            .unwrap()
    };
    assert_eq!(values(&read), batch("third").into_iter().collect());
    assert_eq!(read.len(), BATCH);
    broker.shutdown().await;
}

/// librdkafka has no eager `sticky` assignor (its sticky one is
/// cooperative), so the eager one is checked live between two ferrokafka
/// members: selected by its property name, the group splits the partitions
/// and every record is read once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferrokafka_members_on_the_eager_sticky_strategy_split_partitions() {
    let broker = Broker::builder().start().await.unwrap();
    let bootstrap = broker.bootstrap_address();
    let topic = "eager-sticky";
    let group = "eager-sticky-group";
    broker.create_topic(topic, PARTITIONS).unwrap();
    let mut config = fk_config(&bootstrap, group, AssignmentStrategy::Range);
    assert!(
        config
            .set("partition.assignment.strategy", "sticky")
            .unwrap()
    );
    assert_eq!(
        config.partition_assignment_strategy,
        vec![AssignmentStrategy::Sticky]
    );
    let stop = Arc::new(AtomicBool::new(false));
    let members = [Arc::new(Member::default()), Arc::new(Member::default())];
    let mut tasks = Vec::new();
    for member in &members {
        let consumer = FkConsumer::connect(config.clone()).await.unwrap();
        tasks.push(tokio::spawn(run_fk_member(
            consumer,
            topic.to_owned(),
            Arc::clone(member),
            Arc::clone(&stop),
        )));
    }
    let all: BTreeSet<i32> = (0..PARTITIONS).collect();
    wait_for("the sticky group to split the partitions", || {
        let a = members[0].assignment.lock().unwrap().clone();
        let b = members[1].assignment.lock().unwrap().clone();
        a.len() == 3 && b.len() == 3 && a.union(&b).copied().collect::<BTreeSet<_>>() == all
    })
    .await;
    const COUNT: usize = 120;
    produce(&bootstrap, topic, (0..COUNT).map(|i| format!("record-{i}"))).await;
    wait_for("every record to be consumed", || {
        members[0].read.lock().unwrap().len() + members[1].read.lock().unwrap().len() >= COUNT
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap().close(Duration::from_secs(5)).await;
    }
    let mut values: Vec<String> = members
        .iter()
        .flat_map(|m| m.read.lock().unwrap().clone())
        .map(|r| r.2)
        .collect();
    values.sort_unstable();
    let mut expected: Vec<String> = (0..COUNT).map(|i| format!("record-{i}")).collect();
    expected.sort_unstable();
    assert_eq!(values, expected);
    broker.shutdown().await;
}
