//! The quickstart: the smallest complete tour of Kafka, narrated for a
//! newcomer. It starts the bundled broker in-process (or uses the cluster
//! given with `--bootstrap`), creates `test-topic` with the admin client,
//! sends ten records with key `key-1` and values `hello 0`..`hello 9`
//! (printing where each landed, from its delivery future), then reads them
//! with two consumer groups, `group_a` and `group_b`, to show that every
//! group receives every record, in order.
//!
//! Against a cluster that already holds records (an earlier run), each
//! group reads only this run's ten: records are matched by the partition
//! and offsets the producer reported, and a group whose committed offset is
//! older seeks forward to them.

use std::collections::BTreeMap;
use std::time::Duration;

use ferrokafka_admin::NewTopic;
use ferrokafka_client::ClientConfig;
use ferrokafka_consumer::{Consumer, ConsumerConfig, TopicPartition};
use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
use tokio::time::Instant;

use crate::cluster::{ensure_topics, start_embedded_broker};
use crate::error::{ExampleError, Result};

/// The topic the quickstart writes to.
pub const TOPIC: &str = "test-topic";
/// The key of every record.
pub const KEY: &str = "key-1";
/// The two consumer groups.
pub const GROUPS: [&str; 2] = ["group_a", "group_b"];
/// How many records are sent.
pub const RECORDS: usize = 10;

/// What to run against.
#[derive(Debug, Clone)]
pub struct QuickstartOptions {
    /// An existing cluster's `bootstrap.servers`; `None` starts the
    /// bundled broker in-process.
    pub bootstrap: Option<String>,
    /// How long the whole run may take before it gives up.
    pub timeout: Duration,
}

impl Default for QuickstartOptions {
    fn default() -> Self {
        QuickstartOptions {
            bootstrap: None,
            timeout: Duration::from_secs(60),
        }
    }
}

/// A record as the quickstart saw it (sent or received).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRecord {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its key (UTF-8).
    pub key: Option<String>,
    /// Its value (UTF-8).
    pub value: Option<String>,
}

/// What the quickstart did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuickstartReport {
    /// The cluster it ran against.
    pub bootstrap: String,
    /// Whether that was the embedded broker.
    pub embedded: bool,
    /// The records sent, in sending order, where the broker put them.
    pub sent: Vec<SeenRecord>,
    /// For each group, the records it received, in the order received.
    pub received: BTreeMap<String, Vec<SeenRecord>>,
}

impl QuickstartReport {
    /// Whether every group received exactly the records sent, in order.
    pub fn every_group_got_everything(&self) -> bool {
        GROUPS
            .iter()
            .all(|group| self.received.get(*group) == Some(&self.sent))
    }
}

/// Runs the quickstart, telling each step to `say` (one line at a time),
/// within `options.timeout`.
pub async fn run(
    options: QuickstartOptions,
    say: &mut (dyn FnMut(&str) + Send),
) -> Result<QuickstartReport> {
    let timeout = options.timeout;
    tokio::time::timeout(timeout, run_steps(options, say))
        .await
        .map_err(|_| {
            ExampleError::Timeout(format!(
                "the quickstart did not finish within {} s; is the cluster reachable?",
                timeout.as_secs()
            ))
        })?
}

async fn run_steps(
    options: QuickstartOptions,
    say: &mut (dyn FnMut(&str) + Send),
) -> Result<QuickstartReport> {
    // 1. A cluster.
    let (broker, bootstrap) = match options.bootstrap {
        Some(bootstrap) => {
            say(&format!("Using the Kafka cluster at {bootstrap}."));
            (None, bootstrap)
        }
        None => {
            let broker = start_embedded_broker(None).await?;
            let bootstrap = broker.bootstrap_servers();
            say(&format!(
                "Started the bundled Kafka-compatible broker inside this process, listening on {bootstrap}."
            ));
            say("  (Any Kafka client can connect to it; it lives as long as this program.)");
            (Some(broker), bootstrap)
        }
    };

    // 2. A topic.
    let client = ClientConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("client.id", "quickstart"),
    ])?;
    let created = ensure_topics(client, vec![NewTopic::new(TOPIC, 1, -1)]).await?;
    if created.is_empty() {
        say(&format!("Topic '{TOPIC}' already exists; using it."));
    } else {
        say(&format!(
            "Created topic '{TOPIC}' with the admin client: a named, append-only log of records (1 partition)."
        ));
    }

    // 3. Produce.
    say(&format!(
        "\nProducing {RECORDS} records with key '{KEY}'. Records with the same key go to the same partition, so they stay in order:"
    ));
    let producer = Producer::connect(ProducerConfig::from_properties([
        ("bootstrap.servers", bootstrap.as_str()),
        ("client.id", "quickstart-producer"),
    ])?)
    .await?;
    let sent = produce(&producer, say).await;
    producer.close(Duration::from_secs(5)).await;
    let sent = sent?;

    // 4. Consume with two groups.
    say(
        "\nConsuming with two consumer groups. Each group keeps its own position in the log, so each receives every record:",
    );
    let mut received = BTreeMap::new();
    for group in GROUPS {
        let records = consume(&bootstrap, group, &sent, say).await?;
        received.insert(group.to_owned(), records);
    }

    let report = QuickstartReport {
        bootstrap,
        embedded: broker.is_some(),
        sent,
        received,
    };
    if report.every_group_got_everything() {
        say(&format!(
            "\nDone: both groups received all {RECORDS} records, in the order they were produced."
        ));
        say(
            "Next: the README shows the producer and consumer services, and the code behind this run is examples/src/quickstart.rs.",
        );
    } else {
        say("\nSomething is off: a group did not receive exactly the records produced.");
    }
    if let Some(broker) = broker {
        broker.shutdown().await;
        say("Stopped the bundled broker.");
    }
    Ok(report)
}

/// Sends the ten records, then awaits each delivery future.
async fn produce(
    producer: &Producer,
    say: &mut (dyn FnMut(&str) + Send),
) -> Result<Vec<SeenRecord>> {
    let mut deliveries = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let value = format!("hello {i}");
        let future = producer
            .send(ProducerRecord::new(TOPIC).key(KEY).value(value.clone()))
            .await?;
        deliveries.push((value, future));
    }
    let mut sent = Vec::with_capacity(RECORDS);
    for (value, future) in deliveries {
        let metadata = future.await?;
        say(&format!(
            "  sent key={KEY} value={value:?} -> partition {} offset {}",
            metadata.partition, metadata.offset
        ));
        sent.push(SeenRecord {
            partition: metadata.partition,
            offset: metadata.offset,
            key: Some(KEY.to_owned()),
            value: Some(value),
        });
    }
    Ok(sent)
}

/// Reads this run's records with a consumer in `group`, commits and leaves.
async fn consume(
    bootstrap: &str,
    group: &str,
    sent: &[SeenRecord],
    say: &mut (dyn FnMut(&str) + Send),
) -> Result<Vec<SeenRecord>> {
    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", bootstrap),
        ("client.id", "quickstart-consumer"),
        ("group.id", group),
        ("auto.offset.reset", "earliest"),
        ("enable.auto.commit", "false"),
    ])?;
    let mut consumer = Consumer::connect(config).await?;
    let result = consume_with(&mut consumer, group, sent, say).await;
    consumer.close(Duration::from_secs(5)).await;
    result
}

async fn consume_with(
    consumer: &mut Consumer,
    group: &str,
    sent: &[SeenRecord],
    say: &mut (dyn FnMut(&str) + Send),
) -> Result<Vec<SeenRecord>> {
    // Where this run's records start, per partition.
    let mut first: BTreeMap<TopicPartition, i64> = BTreeMap::new();
    for record in sent {
        let entry = first
            .entry(TopicPartition::new(TOPIC, record.partition))
            .or_insert(record.offset);
        *entry = (*entry).min(record.offset);
    }
    let wanted = |record: &SeenRecord| {
        sent.iter()
            .any(|s| s.partition == record.partition && s.offset == record.offset)
    };

    consumer.subscribe([TOPIC])?;
    say(&format!(
        "  [{group}] subscribed to '{TOPIC}'; the group's coordinator assigns it the partition"
    ));
    let mut received = Vec::new();
    let mut sought = false;
    let started = Instant::now();
    while received.len() < sent.len() {
        let records = consumer.poll(Duration::from_millis(500)).await?;
        for record in records {
            let seen = SeenRecord {
                partition: record.partition,
                offset: record.offset,
                key: record
                    .key
                    .as_ref()
                    .map(|k| String::from_utf8_lossy(k).into_owned()),
                value: record
                    .value
                    .as_ref()
                    .map(|v| String::from_utf8_lossy(v).into_owned()),
            };
            if wanted(&seen) && !received.contains(&seen) {
                say(&format!(
                    "  [{group}] received partition {} offset {}: key={} value={}",
                    seen.partition,
                    seen.offset,
                    seen.key.as_deref().unwrap_or("null"),
                    seen.value.as_deref().unwrap_or("null"),
                ));
                received.push(seen);
            }
        }
        // Skip records older than this run's (an earlier run's, on an
        // existing cluster), once the group has handed us the partition.
        if !sought {
            let assignment = consumer.assignment();
            if !assignment.is_empty() {
                sought = true;
                for (tp, offset) in &first {
                    if assignment.contains(tp) && consumer.position(tp).await? < *offset {
                        consumer.seek(tp, *offset)?;
                    }
                }
            }
        }
        if received.is_empty() && started.elapsed() > Duration::from_secs(30) {
            return Err(ExampleError::Timeout(format!(
                "{group} received nothing in 30 s"
            )));
        }
    }
    consumer.commit().await?;
    say(&format!(
        "  [{group}] got all {} records and committed its position: it would resume after them next time",
        received.len()
    ));
    Ok(received)
}
