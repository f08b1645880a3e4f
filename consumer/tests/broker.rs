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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokafka_broker::{Broker, BrokerHandle, FaultAction, FaultRule};
use ferrokafka_client::{Client, ClientConfig, Target};
use ferrokafka_consumer::{Consumer, Deserializer};
use ferrokafka_consumer::{
    ConsumerConfig, ConsumerConfigBuilder, ConsumerRecord, Error, OffsetAndMetadata, OffsetReset,
    RebalanceListener, StringDeserializer, TopicPartition, TypedRecord,
};
use ferrokafka_protocol::compression::Compression;
use ferrokafka_protocol::generated::ProduceRequest;
use ferrokafka_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use ferrokafka_protocol::records::{RecordBatchBuilder, RecordHeader};
use ferrokafka_protocol::{ApiKey, ErrorCode};

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

async fn broker(nodes: i32) -> BrokerHandle {
    init_tracing();
    Broker::builder().nodes(nodes).start().await.unwrap()
}

fn config(broker: &BrokerHandle) -> ConsumerConfigBuilder {
    ConsumerConfig::builder()
        .bootstrap_servers(broker.bootstrap_servers().split(','))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .fetch_max_wait(Duration::from_millis(100))
        .auto_offset_reset(OffsetReset::Earliest)
}

fn group_config(broker: &BrokerHandle, group: &str) -> ConsumerConfigBuilder {
    config(broker)
        .group_id(group)
        .session_timeout(Duration::from_millis(6_000))
        .heartbeat_interval(Duration::from_millis(100))
        .max_poll_interval(Duration::from_millis(10_000))
}

/// Writes records with Produce requests through the client core (the
/// consumer's tests do not depend on the producer crate).
struct Producer {
    client: Client,
}

impl Producer {
    async fn close(&self, _timeout: Duration) {
        self.client.close();
    }
}

async fn producer(broker: &BrokerHandle) -> Producer {
    let config = ClientConfig::builder()
        .bootstrap_servers(broker.bootstrap_servers().split(','))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .build()
        .unwrap();
    Producer {
        client: Client::connect(config).await.unwrap(),
    }
}

/// Produces `count` records to `partition`, numbered from `from`, in
/// batches of up to 7 records (so that seeks land inside batches), and
/// waits for every acknowledgement.
async fn produce(producer: &Producer, topic: &str, partition: i32, from: usize, count: usize) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let numbers: Vec<usize> = (from..from + count).collect();
    for chunk in numbers.chunks(7) {
        let mut builder = RecordBatchBuilder::new(Compression::None);
        for i in chunk {
            builder
                .append(
                    now,
                    Some(format!("key-{i}").as_bytes()),
                    Some(format!("value-{i}").as_bytes()),
                    &[RecordHeader::new(
                        Bytes::from_static(b"n"),
                        Some(Bytes::from(i.to_string())),
                    )],
                )
                .unwrap();
        }
        let batch = builder.build().unwrap();
        let request = ProduceRequest {
            acks: -1,
            timeout_ms: 10_000,
            topic_data: vec![TopicProduceData {
                name: topic.to_string(),
                partition_data: vec![PartitionProduceData {
                    index: partition,
                    records: Some(batch),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let target = Target::Leader {
                topic: topic.to_string(),
                partition,
            };
            let leader = producer.client.resolve(&target).await.unwrap().unwrap();
            let connection = producer.client.node_connection(leader).await.unwrap();
            let version = connection.version_for::<ProduceRequest>().unwrap().min(12);
            let code = match connection.send_at(&request, version).await {
                Ok(response) => response.responses[0].partition_responses[0].error_code,
                Err(_) => ErrorCode::NetworkException,
            };
            if code == ErrorCode::None {
                break;
            }
            assert!(Instant::now() < deadline, "produce failed: {code}");
            producer.client.refresh_metadata().await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Polls until `count` records arrived or the deadline passes.
async fn poll_until(
    consumer: &mut Consumer,
    count: usize,
    within: Duration,
) -> Vec<ConsumerRecord> {
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records arrived",
            out.len()
        );
        out.extend(consumer.poll(Duration::from_millis(200)).await.unwrap());
    }
    out
}

fn value(record: &ConsumerRecord) -> String {
    String::from_utf8(record.value.clone().unwrap().to_vec()).unwrap()
}

async fn wait_for(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

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
    let records = poll_until(&mut consumer, 80, Duration::from_secs(10)).await;
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
    // Nothing more: a poll returns empty within its timeout.
    let started = Instant::now();
    assert!(
        consumer
            .poll(Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    consumer.close(Duration::from_secs(5)).await;
    producer.close(Duration::from_secs(5)).await;
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
    let records = poll_until(&mut consumer, 20, Duration::from_secs(10)).await;
    assert_eq!(records.last().unwrap().offset, 19);
    assert_eq!(consumer.position(&tp).await.unwrap(), 20);

    consumer.seek(&tp, 5).unwrap();
    let records = poll_until(&mut consumer, 1, Duration::from_secs(10)).await;
    assert_eq!(
        records[0].offset, 5,
        "records below the seek offset are skipped"
    );
    poll_until(
        &mut consumer,
        20 - 5 - records.len(),
        Duration::from_secs(10),
    )
    .await;

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
    let records = poll_until(&mut consumer, 5, Duration::from_secs(10)).await;
    assert_eq!(records[0].offset, 20);

    consumer
        .seek_to_beginning(std::slice::from_ref(&tp))
        .unwrap();
    assert_eq!(consumer.position(&tp).await.unwrap(), 0);
    consumer.seek_to_end(std::slice::from_ref(&tp)).unwrap();
    assert_eq!(consumer.position(&tp).await.unwrap(), 25);

    let timeout = Duration::from_secs(5);
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
    consumer.close(Duration::from_secs(5)).await;
    producer.close(Duration::from_secs(5)).await;
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
    let records = poll_until(&mut latest, 5, Duration::from_secs(10)).await;
    assert_eq!(records[0].offset, 10);

    // earliest, and out-of-range positions reset by the policy.
    let mut earliest = Consumer::connect(config(&broker).build().unwrap())
        .await
        .unwrap();
    earliest.assign([tp.clone()]).unwrap();
    earliest.seek(&tp, 1_000).unwrap();
    let records = poll_until(&mut earliest, 1, Duration::from_secs(10)).await;
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
    match none.poll(Duration::from_millis(500)).await {
        Err(Error::NoOffsetForPartition(p)) => assert_eq!(p, tp),
        other => panic!("expected NoOffsetForPartition, got {other:?}"),
    }
    none.seek(&tp, 1_000).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
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
    let records = poll_until(&mut resumed, 1, Duration::from_secs(10)).await;
    assert_eq!(records[0].offset, 3);

    for mut c in [latest, earliest, none, resumed] {
        c.close(Duration::from_secs(5)).await;
    }
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

/// A consumer polling on its own task, as an application would.
struct Poller {
    stop: Arc<AtomicBool>,
    records: Arc<Mutex<Vec<ConsumerRecord>>>,
    assignment: Arc<Mutex<Vec<TopicPartition>>>,
    task: tokio::task::JoinHandle<Consumer>,
}

impl Poller {
    fn spawn(consumer: Consumer) -> Poller {
        Poller::spawn_into(consumer, Arc::new(Mutex::new(Vec::new())))
    }

    fn spawn_into(mut consumer: Consumer, records: Arc<Mutex<Vec<ConsumerRecord>>>) -> Poller {
        let stop = Arc::new(AtomicBool::new(false));
        let assignment = Arc::new(Mutex::new(Vec::new()));
        let (s, r, a) = (stop.clone(), records.clone(), assignment.clone());
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Acquire) {
                let batch = consumer.poll(Duration::from_millis(100)).await.unwrap();
                r.lock().unwrap().extend(batch);
                *a.lock().unwrap() = consumer.assignment();
            }
            consumer
        });
        Poller {
            stop,
            records,
            assignment,
            task,
        }
    }

    fn assignment(&self) -> Vec<TopicPartition> {
        self.assignment.lock().unwrap().clone()
    }

    fn seen(&self) -> BTreeSet<(i32, i64)> {
        self.records
            .lock()
            .unwrap()
            .iter()
            .map(|r| (r.partition, r.offset))
            .collect()
    }

    async fn stop(self) -> Consumer {
        self.stop.store(true, Ordering::Release);
        self.task.await.unwrap()
    }
}

fn all_offsets(partitions: i32, per_partition: i64) -> BTreeSet<(i32, i64)> {
    (0..partitions)
        .flat_map(|p| (0..per_partition).map(move |o| (p, o)))
        .collect()
}

#[derive(Default, Clone)]
struct Events(Arc<Mutex<Vec<String>>>);

impl RebalanceListener for Events {
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition]) {
        self.0
            .lock()
            .unwrap()
            .push(format!("revoked {}", partitions.len()));
    }
    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]) {
        self.0
            .lock()
            .unwrap()
            .push(format!("assigned {}", partitions.len()));
    }
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
    wait_for(
        "the first member to own all partitions",
        Duration::from_secs(15),
        || first.assignment().len() == 4,
    )
    .await;

    let mut second = Consumer::connect(group_config(&broker, "split-group").build().unwrap())
        .await
        .unwrap();
    second.subscribe(["split"]).unwrap();
    let second = Poller::spawn(second);
    wait_for(
        "the members to split the partitions",
        Duration::from_secs(20),
        || {
            let a: BTreeSet<_> = first.assignment().into_iter().collect();
            let b: BTreeSet<_> = second.assignment().into_iter().collect();
            a.len() == 2 && b.len() == 2 && a.is_disjoint(&b)
        },
    )
    .await;

    for partition in 0..4 {
        produce(&producer, "split", partition, 0, 25).await;
    }
    wait_for(
        "every record to be consumed",
        Duration::from_secs(20),
        || {
            let mut seen = first.seen();
            seen.extend(second.seen());
            seen == all_offsets(4, 25)
        },
    )
    .await;
    // Each member read only its own partitions.
    let a: BTreeSet<i32> = first.assignment().iter().map(|tp| tp.partition).collect();
    assert!(first.seen().iter().all(|(p, _)| a.contains(p)));

    // The second leaves: the first takes everything over and reads on.
    let mut second = second.stop().await;
    second.close(Duration::from_secs(5)).await;
    wait_for(
        "the first member to own all partitions again",
        Duration::from_secs(20),
        || first.assignment().len() == 4,
    )
    .await;
    for partition in 0..4 {
        produce(&producer, "split", partition, 25, 5).await;
    }
    wait_for(
        "the new records to be consumed",
        Duration::from_secs(20),
        || {
            let seen = first.seen();
            (0..4).all(|p| (25..30).all(|o| seen.contains(&(p, o))))
        },
    )
    .await;
    let log = events.0.lock().unwrap().clone();
    assert!(log.first().is_some_and(|e| e == "assigned 4"), "{log:?}");
    assert!(log.iter().any(|e| e == "revoked 4"), "{log:?}");
    assert!(log.iter().any(|e| e == "assigned 2"), "{log:?}");

    let mut first = first.stop().await;
    first.close(Duration::from_secs(5)).await;
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_resume_a_new_member_without_duplicates_or_gaps() {
    let broker = broker(1).await;
    broker.create_topic("resume", 2).unwrap();
    let producer = producer(&broker).await;
    produce(&producer, "resume", 0, 0, 30).await;
    produce(&producer, "resume", 1, 30, 30).await;
    let build = || {
        group_config(&broker, "resume-group")
            .enable_auto_commit(false)
            .max_poll_records(7)
            .build()
            .unwrap()
    };

    let mut first = Consumer::connect(build()).await.unwrap();
    first.subscribe(["resume"]).unwrap();
    let got_first = poll_until(&mut first, 25, Duration::from_secs(15)).await;
    first.commit().await.unwrap();
    // Explicit offsets of partitions it does not own are refused.
    let foreign = BTreeMap::from([(TopicPartition::new("other", 0), OffsetAndMetadata::new(1))]);
    assert!(matches!(
        first.commit_offsets(foreign).await,
        Err(Error::NotAssigned(_))
    ));
    first.close(Duration::from_secs(5)).await;

    produce(&producer, "resume", 0, 60, 10).await;
    let mut second = Consumer::connect(build()).await.unwrap();
    second.subscribe(["resume"]).unwrap();
    let expected = 70 - got_first.len();
    let got_second = poll_until(&mut second, expected, Duration::from_secs(15)).await;
    assert!(
        second
            .poll(Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );

    let mut seen = BTreeSet::new();
    for record in got_first.iter().chain(got_second.iter()) {
        assert!(
            seen.insert((record.partition, record.offset)),
            "duplicate {}-{}",
            record.partition,
            record.offset
        );
    }
    let mut all = all_offsets(2, 30);
    all.extend((30..40).map(|o| (0, o)));
    assert_eq!(seen, all, "no gaps");

    // commit_async reports its outcome too.
    second.commit_async().unwrap().wait().await.unwrap();
    let committed = second
        .committed(
            &[
                TopicPartition::new("resume", 0),
                TopicPartition::new("resume", 1),
            ],
            Duration::from_secs(5),
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
    second.close(Duration::from_secs(5)).await;
    producer.close(Duration::from_secs(5)).await;
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
    poll_until(&mut consumer, 30, Duration::from_secs(15)).await;
    consumer.close(Duration::from_secs(5)).await;
    assert!(matches!(
        consumer.poll(Duration::from_millis(10)).await,
        Err(Error::Closed)
    ));

    let checker = Consumer::connect(group_config(&broker, "auto-group").build().unwrap())
        .await
        .unwrap();
    let committed = checker
        .committed(std::slice::from_ref(&tp), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(committed[&tp].as_ref().unwrap().offset, 30);
    drop(checker);
    producer.close(Duration::from_secs(5)).await;
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
    let mut records = poll_until(&mut consumer, 40, Duration::from_secs(10)).await;

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
    records.extend(poll_until(&mut consumer, 40, Duration::from_secs(15)).await);
    let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..80).collect::<Vec<_>>());
    consumer.close(Duration::from_secs(5)).await;
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_with_the_broker_gone_returns_promptly() {
    let broker = broker(1).await;
    broker.create_topic("gone", 2).unwrap();
    let mut consumer = Consumer::connect(group_config(&broker, "gone-group").build().unwrap())
        .await
        .unwrap();
    consumer.subscribe(["gone"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while consumer.assignment().len() != 2 {
        assert!(Instant::now() < deadline, "never joined");
        consumer.poll(Duration::from_millis(100)).await.unwrap();
    }
    broker.shutdown().await;
    let started = Instant::now();
    consumer.close(Duration::from_secs(2)).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "close took {:?}",
        started.elapsed()
    );
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
    let mut consumer = Consumer::connect(
        group_config(&broker, "slow-group")
            .max_poll_interval(Duration::from_millis(1_000))
            .enable_auto_commit(false)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    consumer
        .subscribe_with_listener(["slow"], Box::new(events.clone()))
        .unwrap();
    poll_until(&mut consumer, 10, Duration::from_secs(15)).await;
    let (member, generation) = consumer.group_member().unwrap();
    assert!(!member.is_empty() && generation >= 0);

    // Processing takes longer than max.poll.interval.ms: the heartbeat task
    // leaves the group.
    let deadline = Instant::now() + Duration::from_secs(10);
    while consumer.group_member().unwrap().1 >= 0 {
        assert!(Instant::now() < deadline, "never left the group");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Its partitions are no longer its own: the commit is refused, not applied.
    assert!(matches!(
        consumer.commit().await,
        Err(Error::CommitFailed(_))
    ));
    let tp = TopicPartition::new("slow", 0);
    let committed = consumer
        .committed(std::slice::from_ref(&tp), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(committed[&tp], None);

    // The next poll rejoins (partitions lost, then assigned again) and reads on.
    produce(&producer, "slow", 0, 10, 5).await;
    let records = poll_until(&mut consumer, 5, Duration::from_secs(15)).await;
    assert_eq!(
        records[0].offset, 0,
        "nothing was committed, so it starts over"
    );
    assert!(consumer.group_member().unwrap().1 >= 0);
    let log = events.0.lock().unwrap().clone();
    assert_eq!(
        log.iter().filter(|e| *e == "assigned 1").count(),
        2,
        "{log:?}"
    );
    assert!(log.iter().any(|e| e == "revoked 1"), "{log:?}");
    consumer.close(Duration::from_secs(5)).await;
    producer.close(Duration::from_secs(5)).await;
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
    wait_for("the survivor to join", Duration::from_secs(15), || {
        survivor.assignment().len() == 2
    })
    .await;
    let mut crashing = Consumer::connect(build()).await.unwrap();
    crashing.subscribe(["crash"]).unwrap();
    let crashing = Poller::spawn(crashing);
    wait_for("the split", Duration::from_secs(20), || {
        survivor.assignment().len() == 1 && crashing.assignment().len() == 1
    })
    .await;
    // Crash: stop polling and drop without close (no LeaveGroup).
    let crashed = crashing.stop().await;
    drop(crashed);
    wait_for("the survivor to take over", Duration::from_secs(20), || {
        survivor.assignment().len() == 2
    })
    .await;
    produce(&producer, "crash", 0, 0, 5).await;
    produce(&producer, "crash", 1, 5, 5).await;
    wait_for("every record", Duration::from_secs(15), || {
        survivor.seen() == all_offsets(2, 5)
    })
    .await;
    let mut survivor = survivor.stop().await;
    survivor.close(Duration::from_secs(5)).await;
    producer.close(Duration::from_secs(5)).await;
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
        let record = tokio::time::timeout(Duration::from_secs(10), stream.next())
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
            Duration::from_secs(10),
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
    consumer.close(Duration::from_secs(5)).await;
    producer.close(Duration::from_secs(5)).await;
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
    let mut consumer = Consumer::connect(config(&broker).build().unwrap())
        .await
        .unwrap();
    let tp = TopicPartition::new("later", 0);
    consumer.assign([tp.clone()]).unwrap();
    let started = Instant::now();
    assert!(
        consumer
            .poll(Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "poll took {:?}",
        started.elapsed()
    );
    broker.create_topic("later", 1).unwrap();
    let producer = producer(&broker).await;
    produce(&producer, "later", 0, 0, 3).await;
    let records = poll_until(&mut consumer, 3, Duration::from_secs(15)).await;
    assert_eq!(records[0].offset, 0);
    consumer.close(Duration::from_secs(5)).await;
    producer.close(Duration::from_secs(5)).await;
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
    poll_until(&mut consumer, 10, Duration::from_secs(15)).await;
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
        .committed(std::slice::from_ref(&tp), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(committed[&tp].as_ref().unwrap().offset, 10);
    consumer.close(Duration::from_secs(5)).await;
    producer.close(Duration::from_secs(5)).await;
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
    produce(&producer, "handover", 0, 0, 10).await;
    produce(&producer, "handover", 1, 10, 10).await;
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
    wait_for(
        "the first member to read everything",
        Duration::from_secs(15),
        || first.seen() == all_offsets(2, 10),
    )
    .await;
    let mut second = Consumer::connect(build()).await.unwrap();
    second.subscribe(["handover"]).unwrap();
    let second = Poller::spawn(second);
    wait_for("the split", Duration::from_secs(20), || {
        first.assignment().len() == 1 && second.assignment().len() == 1
    })
    .await;
    // The second member starts where the first one's processing ended.
    produce(&producer, "handover", 0, 20, 2).await;
    produce(&producer, "handover", 1, 22, 2).await;
    wait_for("the new records", Duration::from_secs(15), || {
        let mut seen = first.seen();
        seen.extend(second.seen());
        seen == all_offsets(2, 12)
    })
    .await;
    assert!(
        second.seen().iter().all(|(_, o)| *o >= 10),
        "re-read processed records: {:?}",
        second.seen()
    );
    let mut second = second.stop().await;
    second.close(Duration::from_secs(5)).await;
    let mut first = first.stop().await;
    first.close(Duration::from_secs(5)).await;
    producer.close(Duration::from_secs(5)).await;
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
    let deadline = Instant::now() + Duration::from_secs(15);
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
    let deadline = Instant::now() + Duration::from_secs(15);
    while consumer.assignment().len() != 4 {
        assert!(Instant::now() < deadline, "{:?}", consumer.assignment());
        consumer.poll(Duration::from_millis(100)).await.unwrap();
    }
    assert_eq!(
        consumer.subscription(),
        vec!["metrics-a", "metrics-b", "metrics-c"]
    );
    assert!(consumer.subscribe_pattern("(").is_err());
    consumer.close(Duration::from_secs(5)).await;
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
    poll_until(&mut first, 4, Duration::from_secs(15)).await;
    assert_eq!(first.assignment().len(), 2);
    // Close commits but sends no LeaveGroup: the place stays reserved.
    first.close(Duration::from_secs(5)).await;

    produce(&producer, "static", 1, 4, 3).await;
    let mut again = Consumer::connect(build()).await.unwrap();
    again.subscribe(["static"]).unwrap();
    let records = poll_until(&mut again, 3, Duration::from_secs(15)).await;
    assert!(
        records.iter().all(|r| r.partition == 1),
        "resumed after the commit"
    );
    assert_eq!(again.assignment().len(), 2);
    again.close(Duration::from_secs(5)).await;
    producer.close(Duration::from_secs(5)).await;
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
    let seen_by_all = |pollers: &[&Poller]| {
        let mut seen = BTreeSet::new();
        for p in pollers {
            seen.extend(p.seen());
        }
        seen
    };
    // Each round writes 5 records to every partition.
    let count = 5i64;

    let a = {
        let mut c = Consumer::connect(build()).await.unwrap();
        c.subscribe(["six"]).unwrap();
        Poller::spawn(c)
    };
    let from = 0i64;
    for p in 0..6 {
        produce(&producer, "six", p, from as usize, count as usize).await;
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
    wait_for(
        "three members with two partitions each",
        Duration::from_secs(30),
        || [&a, &b, &c].iter().all(|p| p.assignment().len() == 2),
    )
    .await;
    let from = 5i64;
    let per_partition = from + count;
    for p in 0..6 {
        produce(&producer, "six", p, from as usize, count as usize).await;
    }
    wait_for("every record so far", Duration::from_secs(20), || {
        seen_by_all(&[&a, &b, &c]) == all_offsets(6, per_partition)
    })
    .await;

    // Leave: b closes cleanly.
    let b_seen = b.seen();
    let mut b_consumer = b.stop().await;
    b_consumer.close(Duration::from_secs(5)).await;
    wait_for(
        "two members with three partitions each",
        Duration::from_secs(30),
        || a.assignment().len() == 3 && c.assignment().len() == 3,
    )
    .await;
    let from = 10i64;
    let per_partition = from + count;
    for p in 0..6 {
        produce(&producer, "six", p, from as usize, count as usize).await;
    }
    // Crash: c stops polling and is dropped without leaving.
    wait_for("the new records", Duration::from_secs(20), || {
        let mut seen = seen_by_all(&[&a, &c]);
        seen.extend(b_seen.iter().copied());
        seen == all_offsets(6, per_partition)
    })
    .await;
    drop(c.stop().await);
    wait_for(
        "the survivor to own all six",
        Duration::from_secs(30),
        || a.assignment().len() == 6,
    )
    .await;
    let from = 15i64;
    for p in 0..6 {
        produce(&producer, "six", p, from as usize, count as usize).await;
    }
    wait_for("the last records", Duration::from_secs(20), || {
        let seen = a.seen();
        (0..6).all(|p| (from..from + count).all(|o| seen.contains(&(p, o))))
    })
    .await;
    let mut a = a.stop().await;
    a.close(Duration::from_secs(5)).await;
    producer.close(Duration::from_secs(5)).await;
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
    wait_for(
        "the first member to own all four",
        Duration::from_secs(15),
        || first.assignment().len() == 4,
    )
    .await;
    for p in 0..4 {
        produce(&producer, "coop", p, 0, 5).await;
    }
    wait_for("the first records", Duration::from_secs(15), || {
        first.seen() == all_offsets(4, 5)
    })
    .await;

    let mut second = Consumer::connect(build()).await.unwrap();
    second.subscribe(["coop"]).unwrap();
    let second = Poller::spawn(second);
    wait_for("the incremental split", Duration::from_secs(30), || {
        first.assignment().len() == 2 && second.assignment().len() == 2
    })
    .await;
    let log = events.0.lock().unwrap().clone();
    // Only the two partitions that moved were revoked; nothing was revoked
    // wholesale, and no partition was owned twice.
    assert!(log.iter().any(|e| e == "revoked 2"), "{log:?}");
    assert!(!log.iter().any(|e| e == "revoked 4"), "{log:?}");
    let a: BTreeSet<_> = first.assignment().into_iter().collect();
    let b: BTreeSet<_> = second.assignment().into_iter().collect();
    assert!(a.is_disjoint(&b));
    for p in 0..4 {
        produce(&producer, "coop", p, 5, 5).await;
    }
    wait_for("every record", Duration::from_secs(20), || {
        let mut seen = first.seen();
        seen.extend(second.seen());
        seen == all_offsets(4, 10)
    })
    .await;
    // Committed positions (auto-commit before the revoke) mean the second
    // member did not re-read what the first had handed out.
    assert!(
        second.seen().iter().all(|(_, o)| *o >= 5),
        "{:?}",
        second.seen()
    );
    let mut second = second.stop().await;
    second.close(Duration::from_secs(5)).await;
    let mut first = first.stop().await;
    first.close(Duration::from_secs(5)).await;
    producer.close(Duration::from_secs(5)).await;
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
        wait_for("a settled generation", Duration::from_secs(30), || {
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
    b.close(Duration::from_secs(5)).await;
    let fourth = settled(&[&a, &c], &[3, 3]).await;
    assert!(fourth[0].is_superset(&third[0]), "{third:?} -> {fourth:?}");
    assert!(fourth[1].is_superset(&third[2]), "{third:?} -> {fourth:?}");

    for member in [a, c] {
        member.stop.store(true, Ordering::Release);
        let mut consumer = member.task.await.unwrap();
        consumer.close(Duration::from_secs(5)).await;
    }
    broker.shutdown().await;
}

/// A fetch waiting on the broker returns as soon as records arrive: with
/// `fetch.max.wait.ms` at 20 s, each of records trickling in one by one
/// reaches `poll` long before that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_fetch_returns_as_soon_as_records_arrive() {
    let broker = broker(1).await;
    broker.create_topic("trickle", 1).unwrap();
    let producer = producer(&broker).await;
    let mut consumer = Consumer::connect(
        config(&broker)
            .fetch_max_wait(Duration::from_secs(20))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    consumer
        .assign([TopicPartition::new("trickle", 0)])
        .unwrap();
    for i in 0..5 {
        let started = Instant::now();
        let writer = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            produce(&producer, "trickle", 0, i, 1).await;
        };
        let (_, records) = tokio::join!(writer, async {
            let mut got = Vec::new();
            while got.is_empty() && started.elapsed() < Duration::from_secs(15) {
                got = consumer.poll(Duration::from_secs(15)).await.unwrap();
            }
            got
        });
        assert_eq!(records.len(), 1, "record {i}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "record {i} waited {:?}: the fetch was not woken by the append",
            started.elapsed()
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
    let mut consumer = Consumer::connect(
        group_config(&broker, "long-poll-group")
            .enable_auto_commit(false)
            .fetch_max_wait(Duration::from_secs(30))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    consumer.subscribe(["long-poll"]).unwrap();
    let records = poll_until(&mut consumer, 1, Duration::from_secs(20)).await;
    assert_eq!(records.len(), 1);
    // Handing out the record started the next fetch, which now waits up to
    // 30 s on the broker for data that does not come.
    let started = Instant::now();
    consumer.commit().await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the commit waited {:?} behind the fetch",
        started.elapsed()
    );
    let tp = TopicPartition::new("long-poll", 0);
    let committed = consumer
        .committed(std::slice::from_ref(&tp), Duration::from_secs(10))
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
    produce(&producer, "busy", 0, 0, 10).await;
    let mut consumer = Consumer::connect(
        group_config(&broker, "busy-group")
            .enable_auto_commit(false)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    consumer.subscribe(["busy"]).unwrap();
    poll_until(&mut consumer, 10, Duration::from_secs(15)).await;
    broker.inject_fault(
        FaultRule::new(
            ApiKey::OffsetCommit,
            FaultAction::Fail(ErrorCode::RebalanceInProgress),
        )
        .times(2),
    );
    let failed_sync = consumer.commit().await;
    let failed_async = consumer.commit_async().unwrap();
    // Records keep coming while the commits fail. REBALANCE_IN_PROGRESS
    // makes the member rejoin (as in Java); its uncommitted records may be
    // read again, the new ones must arrive.
    produce(&producer, "busy", 0, 10, 10).await;
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = BTreeSet::new();
    while !(10..20).all(|o| seen.contains(&o)) {
        assert!(Instant::now() < deadline, "fetching stalled: {seen:?}");
        for record in consumer.poll(Duration::from_millis(200)).await.unwrap() {
            seen.insert(record.offset);
        }
    }
    let outcomes = [failed_sync.is_err(), failed_async.wait().await.is_err()];
    assert!(outcomes.iter().any(|failed| *failed), "{outcomes:?}");
    consumer.commit().await.unwrap();
    let tp = TopicPartition::new("busy", 0);
    let committed = consumer
        .committed(std::slice::from_ref(&tp), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(committed[&tp].as_ref().map(|o| o.offset), Some(20));
    consumer.close(Duration::from_secs(5)).await;
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}
