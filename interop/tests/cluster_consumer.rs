//! The consumer's user-facing behaviour, on whichever cluster
//! [`TestCluster`] gives: real Apache Kafka when `FERROKAFKA_TEST_BOOTSTRAP`
//! names one, the bundled broker otherwise.
//!
//! Groups with every assignor the consumer has (range, roundrobin, sticky,
//! cooperative-sticky): two members split the partitions, one leaves, the
//! other takes over, and no record is lost and none read twice (each member
//! commits after every poll). Static membership (`group.instance.id`): a
//! member that closes and comes back gets its partitions again without a
//! rebalance of the other. The offset API (commit, committed, seek,
//! position, offsets_for_times, beginning and end offsets), pause and
//! resume, and `read_committed` against an open, a committed and an aborted
//! transaction.

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

use ferrokafka_consumer::{
    AssignmentStrategy, Consumer, ConsumerRecord, IsolationLevel, OffsetAndMetadata, TopicPartition,
};
use ferrokafka_interop::{TestCluster, wait_for};
use ferrokafka_producer::{Producer, ProducerRecord};

const WAIT: Duration = Duration::from_secs(60);
const TIMEOUT: Duration = Duration::from_secs(30);

/// What a member task shows of itself while it runs.
#[derive(Debug, Default, Clone)]
struct Seen {
    assignment: BTreeSet<i32>,
    generation: i32,
    read: usize,
}

/// A group member polling on a task of its own, committing after every
/// poll that returned records.
struct Member {
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<ConsumerRecord>>,
}

impl Member {
    fn spawn(mut consumer: Consumer) -> Member {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (Arc::clone(&seen), Arc::clone(&stop));
        let task = tokio::spawn(async move {
            let mut records = Vec::new();
            while !st.load(Ordering::SeqCst) {
                let polled = consumer.poll(Duration::from_millis(200)).await.unwrap();
                if !polled.is_empty() {
                    consumer.commit().await.unwrap();
                }
                let mut seen = s.lock().unwrap();
                seen.read += polled.len();
                seen.assignment = consumer
                    .assignment()
                    .iter()
                    .map(|tp| tp.partition)
                    .collect();
                seen.generation = consumer.group_member().map_or(-1, |(_, g)| g);
                drop(seen);
                records.extend(polled);
            }
            consumer.close(Duration::from_secs(10)).await;
            records
        });
        Member { seen, stop, task }
    }

    fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }

    async fn stop(self) -> Vec<ConsumerRecord> {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap()
    }
}

async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    wait_for(what, WAIT, || {
        let ok = check();
        async move { ok.then_some(()) }
    })
    .await
    .unwrap();
}

/// Produces `count` records keyed `first..first+count` (values the same);
/// returns their (partition, offset)s.
async fn produce(
    cluster: &TestCluster,
    topic: &str,
    first: usize,
    count: usize,
) -> Vec<(i32, i64)> {
    let producer = Producer::connect(cluster.producer_config().build().unwrap())
        .await
        .unwrap();
    let mut futures = Vec::new();
    for i in first..first + count {
        let r = ProducerRecord::new(topic)
            .key(format!("key-{i}"))
            .value(format!("value-{i}"));
        futures.push(producer.send(r).await.unwrap());
    }
    let mut out = Vec::new();
    for f in futures {
        let md = f.await.unwrap();
        out.push((md.partition, md.offset));
    }
    producer.close(Duration::from_secs(10)).await;
    out
}

async fn group_member(
    cluster: &TestCluster,
    group: &str,
    topic: &str,
    strategy: AssignmentStrategy,
) -> Consumer {
    let config = cluster
        .consumer_config()
        .group_id(group)
        .partition_assignment_strategy([strategy])
        .max_poll_records(7)
        .build()
        .unwrap();
    let mut consumer = Consumer::connect(config).await.unwrap();
    consumer.subscribe([topic]).unwrap();
    consumer
}

async fn handover(strategy: AssignmentStrategy) {
    let cluster = TestCluster::start().await.unwrap();
    let topic = cluster.unique(&format!("consumer-{}", strategy.name()));
    cluster.create_topic(&topic, 4).await.unwrap();
    let group = cluster.unique("group");
    let all: BTreeSet<i32> = (0..4).collect();

    let a = Member::spawn(group_member(&cluster, &group, &topic, strategy).await);
    wait_until("A owning all 4 partitions", || a.seen().assignment == all).await;
    let b = Member::spawn(group_member(&cluster, &group, &topic, strategy).await);
    wait_until("A and B splitting the partitions 2-2", || {
        let (sa, sb) = (a.seen(), b.seen());
        sa.assignment.len() == 2
            && sb.assignment.len() == 2
            && sa.assignment.union(&sb.assignment).count() == 4
            && sa.generation == sb.generation
    })
    .await;

    let mut produced = produce(&cluster, &topic, 0, 200).await;
    wait_until("A and B reading the first 200 records", || {
        a.seen().read + b.seen().read >= 200
    })
    .await;
    assert!(a.seen().read > 0 && b.seen().read > 0);
    let b_before = b.seen().assignment;
    let read_a = a.stop().await;
    wait_until("B taking over every partition", || {
        b.seen().assignment == all
    })
    .await;
    if strategy == AssignmentStrategy::CooperativeSticky {
        assert!(b_before.is_subset(&b.seen().assignment));
    }
    produced.extend(produce(&cluster, &topic, 200, 100).await);
    wait_until("B reading the rest", || read_a.len() + b.seen().read >= 300).await;
    // Anything extra (a duplicate) would show up within a few polls.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let read_b = b.stop().await;

    let mut read: BTreeMap<(i32, i64), String> = BTreeMap::new();
    for r in read_a.iter().chain(&read_b) {
        let value = String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap();
        if let Some(before) = read.insert((r.partition, r.offset), value) {
            panic!(
                "{}: {}@{} ({before}) read twice",
                strategy.name(),
                r.partition,
                r.offset
            );
        }
    }
    let expected: BTreeSet<(i32, i64)> = produced.iter().copied().collect();
    let got: BTreeSet<(i32, i64)> = read.keys().copied().collect();
    assert_eq!(got, expected, "{}", strategy.name());
    for ((p, o), value) in &read {
        let i = produced.iter().position(|x| *x == (*p, *o)).unwrap();
        assert_eq!(value, &format!("value-{i}"));
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_handover_range() {
    handover(AssignmentStrategy::Range).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_handover_roundrobin() {
    handover(AssignmentStrategy::RoundRobin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_handover_sticky() {
    handover(AssignmentStrategy::Sticky).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_handover_cooperative_sticky() {
    handover(AssignmentStrategy::CooperativeSticky).await;
}

async fn static_member(cluster: &TestCluster, group: &str, topic: &str, id: &str) -> Consumer {
    let config = cluster
        .consumer_config()
        .group_id(group)
        .group_instance_id(id)
        .session_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut consumer = Consumer::connect(config).await.unwrap();
    consumer.subscribe([topic]).unwrap();
    consumer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_member_returns_to_its_partitions() {
    let cluster = TestCluster::start().await.unwrap();
    let topic = cluster.unique("consumer-static");
    cluster.create_topic(&topic, 4).await.unwrap();
    let group = cluster.unique("static-group");

    let one = Member::spawn(static_member(&cluster, &group, &topic, "one").await);
    let two = Member::spawn(static_member(&cluster, &group, &topic, "two").await);
    wait_until("the static members splitting the partitions", || {
        let (s1, s2) = (one.seen(), two.seen());
        s1.assignment.len() == 2
            && s2.assignment.len() == 2
            && s1.assignment.union(&s2.assignment).count() == 4
            && s1.generation == s2.generation
    })
    .await;
    let (before_one, before_two) = (one.seen(), two.seen());
    produce(&cluster, &topic, 0, 40).await;
    wait_until("the first 40 records read", || {
        one.seen().read + two.seen().read >= 40
    })
    .await;
    // A static member leaves no gap: its close sends no LeaveGroup.
    let read_one = one.stop().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during = two.seen();
    assert_eq!(during.assignment, before_two.assignment);
    assert_eq!(during.generation, before_two.generation);

    produce(&cluster, &topic, 40, 40).await;
    let one = Member::spawn(static_member(&cluster, &group, &topic, "one").await);
    wait_until("member one back on its partitions", || {
        one.seen().assignment == before_one.assignment
    })
    .await;
    wait_until("all 80 records read", || {
        read_one.len() + one.seen().read + two.seen().read >= 80
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_two = two.seen();
    assert_eq!(after_two.assignment, before_two.assignment);
    assert_eq!(
        after_two.generation, before_two.generation,
        "the returning static member caused a rebalance"
    );
    let read_one_again = one.stop().await;
    let read_two = two.stop().await;
    let total = read_one.len() + read_one_again.len() + read_two.len();
    let distinct: BTreeSet<(i32, i64)> = read_one
        .iter()
        .chain(&read_one_again)
        .chain(&read_two)
        .map(|r| (r.partition, r.offset))
        .collect();
    assert_eq!(distinct.len(), 80);
    assert_eq!(total, 80, "records read twice");
    cluster.shutdown().await;
}

/// Produces `count` records to `partition` with timestamps `base + 1000 i`.
async fn produce_at(cluster: &TestCluster, topic: &str, partition: i32, count: i64, base: i64) {
    let producer = Producer::connect(cluster.producer_config().build().unwrap())
        .await
        .unwrap();
    let mut futures = Vec::new();
    for i in 0..count {
        let r = ProducerRecord::new(topic)
            .partition(partition)
            .timestamp(base + 1000 * i)
            .value(format!("{partition}-{i}"));
        futures.push(producer.send(r).await.unwrap());
    }
    for f in futures {
        f.await.unwrap();
    }
    producer.close(Duration::from_secs(10)).await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Polls until `count` records arrived (failing after [`WAIT`]).
async fn poll_n(consumer: &mut Consumer, count: usize) -> Vec<ConsumerRecord> {
    let start = Instant::now();
    let mut out = Vec::new();
    while out.len() < count {
        assert!(
            start.elapsed() < WAIT,
            "{} of {count} records after {WAIT:?}",
            out.len()
        );
        out.extend(consumer.poll(Duration::from_millis(200)).await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_commit_seek_position_and_times() {
    let cluster = TestCluster::start().await.unwrap();
    let topic = cluster.unique("consumer-offsets");
    cluster.create_topic(&topic, 2).await.unwrap();
    let base = now_ms() - 100_000;
    produce_at(&cluster, &topic, 0, 20, base).await;
    produce_at(&cluster, &topic, 1, 10, base).await;
    let (p0, p1) = (
        TopicPartition::new(&topic, 0),
        TopicPartition::new(&topic, 1),
    );
    let both = [p0.clone(), p1.clone()];
    let group = cluster.unique("offsets-group");
    let config = cluster.consumer_config().group_id(&group).build().unwrap();
    let mut consumer = Consumer::connect(config).await.unwrap();
    consumer.assign(both.clone()).unwrap();

    let beginning = consumer.beginning_offsets(&both, TIMEOUT).await.unwrap();
    assert_eq!(
        beginning,
        BTreeMap::from([(p0.clone(), 0), (p1.clone(), 0)])
    );
    let end = consumer.end_offsets(&both, TIMEOUT).await.unwrap();
    assert_eq!(end, BTreeMap::from([(p0.clone(), 20), (p1.clone(), 10)]));
    let committed = consumer.committed(&both, TIMEOUT).await.unwrap();
    assert_eq!(
        committed,
        BTreeMap::from([(p0.clone(), None), (p1.clone(), None)])
    );
    assert_eq!(consumer.position(&p0).await.unwrap(), 0);

    consumer.seek(&p0, 5).unwrap();
    consumer.pause(std::slice::from_ref(&p1)).unwrap();
    let records = poll_n(&mut consumer, 15).await;
    let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (5..20).collect::<Vec<_>>());
    assert!(records.iter().all(|r| r.partition == 0));
    assert_eq!(records[0].timestamp, base + 5000);
    assert_eq!(records[0].value.as_deref(), Some(b"0-5".as_slice()));
    assert_eq!(consumer.position(&p0).await.unwrap(), 20);
    consumer.resume(std::slice::from_ref(&p1)).unwrap();
    let records = poll_n(&mut consumer, 10).await;
    assert!(records.iter().all(|r| r.partition == 1));

    consumer
        .commit_offsets(BTreeMap::from([(
            p0.clone(),
            OffsetAndMetadata {
                offset: 7,
                leader_epoch: None,
                metadata: Some("seven".into()),
            },
        )]))
        .await
        .unwrap();
    let committed = consumer.committed(&both, TIMEOUT).await.unwrap();
    let p0_committed = committed[&p0].clone().unwrap();
    assert_eq!(p0_committed.offset, 7);
    assert_eq!(p0_committed.metadata.as_deref(), Some("seven"));
    assert_eq!(committed[&p1], None);
    consumer.commit().await.unwrap();
    let committed = consumer.committed(&both, TIMEOUT).await.unwrap();
    let got: Vec<(i32, i64)> = committed
        .iter()
        .map(|(tp, o)| (tp.partition, o.as_ref().unwrap().offset))
        .collect();
    assert_eq!(got, vec![(0, 20), (1, 10)]);

    let times = consumer
        .offsets_for_times(
            &BTreeMap::from([(p0.clone(), base + 3500), (p1.clone(), base + 1_000_000)]),
            TIMEOUT,
        )
        .await
        .unwrap();
    let t0 = times[&p0].unwrap();
    assert_eq!((t0.offset, t0.timestamp), (4, base + 4000));
    assert_eq!(times[&p1], None);

    consumer
        .seek_to_beginning(std::slice::from_ref(&p1))
        .unwrap();
    assert_eq!(consumer.position(&p1).await.unwrap(), 0);
    consumer.seek_to_end(std::slice::from_ref(&p0)).unwrap();
    assert_eq!(consumer.position(&p0).await.unwrap(), 20);
    consumer.close(Duration::from_secs(10)).await;

    // A new consumer of the group starts at the committed offsets.
    let config = cluster.consumer_config().group_id(&group).build().unwrap();
    let mut again = Consumer::connect(config).await.unwrap();
    again.assign(both.clone()).unwrap();
    assert_eq!(again.position(&p0).await.unwrap(), 20);
    assert_eq!(again.position(&p1).await.unwrap(), 10);
    again.close(Duration::from_secs(10)).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_committed_waits_for_the_transaction() {
    let cluster = TestCluster::start().await.unwrap();
    let topic = cluster.unique("consumer-txn");
    cluster.create_topic(&topic, 1).await.unwrap();
    let tp = TopicPartition::new(&topic, 0);
    produce_at(&cluster, &topic, 0, 5, now_ms()).await;

    let txn = Producer::connect(
        cluster
            .producer_config()
            .transactional_id(cluster.unique("consumer-txn"))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    txn.init_transactions().await.unwrap();
    txn.begin_transaction().unwrap();
    let mut futures = Vec::new();
    for i in 0..5 {
        futures.push(
            txn.send(ProducerRecord::new(topic.as_str()).value(format!("open-{i}")))
                .await
                .unwrap(),
        );
    }
    txn.flush().await;
    for f in futures {
        f.await.unwrap();
    }

    let config = cluster
        .consumer_config()
        .isolation_level(IsolationLevel::ReadCommitted)
        .build()
        .unwrap();
    let mut committed_reader = Consumer::connect(config).await.unwrap();
    committed_reader.assign([tp.clone()]).unwrap();
    // The last stable offset stops before the open transaction.
    let end = committed_reader
        .end_offsets(std::slice::from_ref(&tp), TIMEOUT)
        .await
        .unwrap();
    assert_eq!(end[&tp], 5);
    let records = poll_n(&mut committed_reader, 5).await;
    assert_eq!(records.len(), 5);
    let more = committed_reader.poll(Duration::from_secs(1)).await.unwrap();
    assert!(
        more.is_empty(),
        "read_committed read into an open transaction: {more:?}"
    );
    assert_eq!(committed_reader.position(&tp).await.unwrap(), 5);
    let uncommitted = cluster
        .read_to_end(&topic, 1, IsolationLevel::ReadUncommitted)
        .await
        .unwrap();
    assert_eq!(uncommitted.len(), 10);

    txn.commit_transaction().await.unwrap();
    let records = poll_n(&mut committed_reader, 5).await;
    let values: Vec<&[u8]> = records
        .iter()
        .map(|r| r.value.as_deref().unwrap())
        .collect();
    assert_eq!(
        values,
        vec![
            b"open-0".as_slice(),
            b"open-1",
            b"open-2",
            b"open-3",
            b"open-4"
        ]
    );

    // An aborted transaction never shows; the sentinel after it does.
    txn.begin_transaction().unwrap();
    let mut futures = Vec::new();
    for i in 0..5 {
        futures.push(
            txn.send(ProducerRecord::new(topic.as_str()).value(format!("aborted-{i}")))
                .await
                .unwrap(),
        );
    }
    txn.flush().await;
    for f in futures {
        f.await.unwrap();
    }
    txn.abort_transaction().await.unwrap();
    txn.close(Duration::from_secs(10)).await;
    produce_at(&cluster, &topic, 0, 1, now_ms()).await;
    let records = poll_n(&mut committed_reader, 1).await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].value.as_deref(), Some(b"0-0".as_slice()));
    // 5 + 5 + commit marker + 5 aborted + abort marker + sentinel.
    assert_eq!(records[0].offset, 17);
    assert_eq!(committed_reader.position(&tp).await.unwrap(), 18);
    committed_reader.close(Duration::from_secs(10)).await;
    cluster.shutdown().await;
}

/// A record larger than `max.partition.fetch.bytes` and `fetch.max.bytes`
/// still comes back (the first batch of a fetch is always returned,
/// KIP-74), followed by the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_larger_than_the_fetch_limits_is_returned() {
    let cluster = TestCluster::start().await.unwrap();
    let topic = cluster.unique("consumer-large");
    cluster
        .create_topic_with(
            ferrokafka_admin::NewTopic::new(&topic, 1, -1).config("max.message.bytes", "3000000"),
        )
        .await
        .unwrap();
    let producer = Producer::connect(
        cluster
            .producer_config()
            .max_request_size(4_000_000)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let large = producer
        .send(ProducerRecord::new(topic.as_str()).value(vec![7u8; 2_000_000]))
        .await
        .unwrap();
    let small = producer
        .send(ProducerRecord::new(topic.as_str()).value("small"))
        .await
        .unwrap();
    assert_eq!(large.await.unwrap().offset, 0);
    assert_eq!(small.await.unwrap().offset, 1);
    producer.close(Duration::from_secs(10)).await;

    let config = cluster
        .consumer_config()
        .max_partition_fetch_bytes(100_000)
        .fetch_max_bytes(200_000)
        .build()
        .unwrap();
    let mut consumer = Consumer::connect(config).await.unwrap();
    consumer.assign([TopicPartition::new(&topic, 0)]).unwrap();
    let records = poll_n(&mut consumer, 2).await;
    assert_eq!(
        records[0].value.as_deref(),
        Some(vec![7u8; 2_000_000].as_slice())
    );
    assert_eq!(records[1].value.as_deref(), Some(b"small".as_slice()));
    consumer.close(Duration::from_secs(10)).await;
    cluster.shutdown().await;
}
