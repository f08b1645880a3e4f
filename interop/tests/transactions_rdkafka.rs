//! librdkafka's transactional producer against the bundled broker (KIP-98):
//! `init_transactions`, `begin_transaction`, produce,
//! `send_offsets_to_transaction`, `commit_transaction` and
//! `abort_transaction`. A librdkafka consumer with
//! `isolation.level=read_committed` sees the committed records only, one
//! with `read_uncommitted` sees every record, and the consumer group's
//! committed offsets are those sent in the committed transaction, not the
//! aborted one. A second producer with the same transactional id fences
//! the first.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use ferrokafka_broker::Broker;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

const DEADLINE: Duration = Duration::from_secs(60);
const TIMEOUT: Duration = Duration::from_secs(30);
const TOPIC: &str = "rd-txn";
const GROUP: &str = "rd-txn-group";

fn transactional_producer(bootstrap: &str, id: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("transactional.id", id)
        .set("transaction.timeout.ms", "60000")
        .create()
        .unwrap()
}

fn consumer(bootstrap: &str, group: &str, isolation: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("broker.address.family", "v4")
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .create()
        .unwrap()
}

fn send(producer: &BaseProducer, value: &str) {
    producer
        .send(BaseRecord::<(), str>::to(TOPIC).partition(0).payload(value))
        .map_err(|(error, _)| error)
        .unwrap();
}

/// Offsets `offset` of `TOPIC`-0, for send_offsets_to_transaction.
fn offsets(offset: i64) -> TopicPartitionList {
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(TOPIC, 0, Offset::Offset(offset))
        .unwrap();
    list
}

/// Reads values from `TOPIC`-0 until `last` arrives.
fn read_until(consumer: &BaseConsumer, last: &str) -> Vec<String> {
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(TOPIC, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&list).unwrap();
    let start = Instant::now();
    let mut values = Vec::new();
    while values.last().map(String::as_str) != Some(last) {
        assert!(start.elapsed() < DEADLINE, "read only {values:?}");
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            values.push(String::from_utf8(message.payload().unwrap().to_vec()).unwrap());
        }
    }
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_transactions_commit_abort_and_offsets() {
    let broker = Broker::builder().start().await.unwrap();
    broker.create_topic(TOPIC, 1).unwrap();
    let bootstrap = broker.bootstrap_address();
    // librdkafka's transactional calls block: keep them off the runtime.
    tokio::task::spawn_blocking(move || {
        let producer = transactional_producer(&bootstrap, "rd-tx");
        producer.init_transactions(TIMEOUT).unwrap();
        let group = consumer(&bootstrap, GROUP, "read_committed")
            .group_metadata()
            .unwrap();

        producer.begin_transaction().unwrap();
        send(&producer, "c1");
        send(&producer, "c2");
        producer
            .send_offsets_to_transaction(&offsets(42), &group, TIMEOUT)
            .unwrap();
        producer.commit_transaction(TIMEOUT).unwrap();

        producer.begin_transaction().unwrap();
        send(&producer, "a1");
        send(&producer, "a2");
        producer
            .send_offsets_to_transaction(&offsets(99), &group, TIMEOUT)
            .unwrap();
        producer.flush(TIMEOUT).unwrap();
        producer.abort_transaction(TIMEOUT).unwrap();

        producer.begin_transaction().unwrap();
        send(&producer, "c3");
        producer.commit_transaction(TIMEOUT).unwrap();

        let committed = consumer(&bootstrap, "reader-committed", "read_committed");
        assert_eq!(read_until(&committed, "c3"), vec!["c1", "c2", "c3"]);
        let uncommitted = consumer(&bootstrap, "reader-uncommitted", "read_uncommitted");
        assert_eq!(
            read_until(&uncommitted, "c3"),
            vec!["c1", "c2", "a1", "a2", "c3"]
        );

        let member = consumer(&bootstrap, GROUP, "read_committed");
        let mut wanted = TopicPartitionList::new();
        wanted.add_partition(TOPIC, 0);
        let offsets = member.committed_offsets(wanted, TIMEOUT).unwrap();
        assert_eq!(
            offsets.find_partition(TOPIC, 0).unwrap().offset(),
            Offset::Offset(42)
        );

        // A second instance with the same id fences the first.
        let successor = transactional_producer(&bootstrap, "rd-tx");
        successor.init_transactions(TIMEOUT).unwrap();
        producer.begin_transaction().unwrap();
        send(&producer, "zombie");
        let error = producer.commit_transaction(TIMEOUT).unwrap_err();
        match error {
            KafkaError::Transaction(error) => assert!(error.is_fatal(), "{error:?}"),
            other => panic!("unexpected {other:?}"),
        }
        successor.begin_transaction().unwrap();
        send(&successor, "c4");
        successor.commit_transaction(TIMEOUT).unwrap();
        let committed = consumer(&bootstrap, "reader-after-fence", "read_committed");
        assert_eq!(read_until(&committed, "c4"), vec!["c1", "c2", "c3", "c4"]);
    })
    .await
    .unwrap();
    broker.shutdown().await;
}
