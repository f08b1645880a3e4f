//! ferrokafka and the reference Java client (`kafka-clients` 4.4.0) on one
//! cluster, on whichever cluster [`TestCluster`] gives: real Apache Kafka
//! when `FERROKAFKA_TEST_BOOTSTRAP` names one, the bundled broker otherwise.
//!
//! In every codec (none, gzip, snappy, lz4, zstd) and both directions:
//! - what the ferrokafka producer has acknowledged, a Java `KafkaConsumer`
//!   (`consume-json`) reads exactly once, at the (partition, offset) the
//!   producer reported, with its key, value, headers (null-valued and
//!   repeated ones included) and timestamp intact, keyed records on the
//!   partition Java's partitioner picks (`partition_for_key`);
//! - what a Java `KafkaProducer` on its defaults (idempotent, `acks=all`,
//!   the built-in partitioner) has acknowledged (`produce-json`), the
//!   ferrokafka consumer reads the same way, and Java put each keyed record
//!   where `partition_for_key` says.
//!
//! Record `i` is the same on both sides: [`expected`] here,
//! `CrossClient.key/value/headers/timestamp` in `interop/java`. The Java
//! program is built with `mvn -B -q package` once per test process (as in
//! `java_client.rs`); `FERROKAFKA_MVN` and `FERROKAFKA_JAVA` name other
//! executables. A machine without a JDK and Maven fails the test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ferrokafka_consumer::{IsolationLevel, TimestampType};
use ferrokafka_interop::TestCluster;
use ferrokafka_interop::java::{jar, java, spawn};
use ferrokafka_producer::{Compression, Producer, ProducerRecord, partition_for_key};
use serde_json::Value;

const PARTITIONS: i32 = 5;
const RECORDS: usize = 300;

/// How long one Java run may take before the test kills it (the program
/// bounds each of its own waits at 90 s; this only stops a hung JVM).
const JAVA_DEADLINE: Duration = Duration::from_secs(300);

/// How long the ferrokafka producer may take to acknowledge a record.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(90);

/// Runs the Java program with `args` (one JVM at a time: the machine is
/// small), echoing its stderr as it comes, and returns its stdout as JSON
/// lines; fails the test if it exits unsuccessfully or outlives
/// [`JAVA_DEADLINE`].
async fn run_java(args: Vec<String>) -> Vec<Value> {
    tokio::task::spawn_blocking(move || {
        static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
        let jar = jar();
        let _turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let started = Instant::now();
        let mut child = spawn(
            java()
                .arg("-jar")
                .arg(jar)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
            "Java (java)",
        );
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        std::thread::scope(|scope| {
            let out = scope.spawn(move || {
                BufReader::new(stdout)
                    .lines()
                    .map(|line| line.unwrap())
                    .collect::<Vec<String>>()
            });
            scope.spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    eprintln!("java stderr: {}", line.unwrap());
                }
            });
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                if started.elapsed() > JAVA_DEADLINE {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("java {args:?} ran longer than {JAVA_DEADLINE:?} and was killed");
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            let lines = out.join().unwrap();
            println!(
                "java {} ran for {:.1?} ({status}, {} lines)",
                args[0],
                started.elapsed(),
                lines.len()
            );
            assert!(status.success(), "java {args:?} failed: {status}");
            lines
                .iter()
                .map(|line| {
                    serde_json::from_str(line)
                        .unwrap_or_else(|e| panic!("java printed {line:?}: {e}"))
                })
                .collect()
        })
    })
    .await
    .unwrap()
}

/// Record `i` of a codec's run, as both producers send it (the Java side is
/// `CrossClient.key/value/headers` and must stay the same).
#[derive(Clone, PartialEq, Eq)]
struct Expected {
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(String, Option<Bytes>)>,
}

/// Shows a large value by its length, first bytes and a checksum, so that a
/// failure message stays readable.
impl std::fmt::Debug for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = match &self.value {
            None => "None".to_owned(),
            Some(v) if v.len() <= 200 => format!("Some({v:?})"),
            Some(v) => {
                let sum = v
                    .iter()
                    .fold(0u32, |sum, b| sum.rotate_left(5) ^ u32::from(*b));
                format!(
                    "Some({} bytes {:?}... checksum {sum:08x})",
                    v.len(),
                    Bytes::copy_from_slice(&v[..64])
                )
            }
        };
        f.debug_struct("Expected")
            .field("key", &self.key)
            .field("value", &format_args!("{value}"))
            .field("headers", &self.headers)
            .finish()
    }
}

fn expected(codec: Compression, i: usize) -> Expected {
    // Every tenth record keyless, one in fifty with an empty key.
    let key = if i.is_multiple_of(10) {
        None
    } else if i % 50 == 25 {
        Some(Bytes::new())
    } else {
        Some(Bytes::from(format!("user-{}", i % 13)))
    };
    // Null, empty, about 40 KB (more than batch.size: a batch of its own),
    // text; every fourth text ends in bytes that are not UTF-8.
    let value = if i % 17 == 5 {
        None
    } else if i % 19 == 7 {
        Some(Bytes::new())
    } else if i % 61 == 30 {
        Some(
            (0..40_000 + i)
                .map(|j| ((j * 31 + i) ^ (j >> 7)) as u8)
                .collect::<Vec<u8>>()
                .into(),
        )
    } else {
        let mut value = format!("{} record {i} {}", codec.name(), "x".repeat(i % 53)).into_bytes();
        if i.is_multiple_of(4) {
            value.extend_from_slice(&[0, 0xff, 0xfe, i as u8]);
        }
        Some(Bytes::from(value))
    };
    let mut headers = vec![("index".to_owned(), Some(Bytes::from(i.to_string())))];
    if i % 2 == 1 {
        headers.push(("trace".to_owned(), None));
        headers.push(("index".to_owned(), Some(Bytes::from_static(b"again"))));
    }
    if i % 7 == 3 {
        headers.push(("empty".to_owned(), Some(Bytes::new())));
    }
    Expected {
        key,
        value,
        headers,
    }
}

/// An explicit CreateTime for every third record, a day before `base` (well
/// within the default 7-day retention); the producer's clock otherwise.
fn timestamp(base: i64, i: usize) -> Option<i64> {
    i.is_multiple_of(3).then(|| base - 86_400_000 + i as i64)
}

fn now_ms() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Bytes {
    assert!(text.len().is_multiple_of(2), "odd hex {text:?}");
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
        .collect::<Vec<u8>>()
        .into()
}

/// A field Java printed as hex, or `None` for null.
fn bytes_field(value: &Value) -> Option<Bytes> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(unhex(text)),
        other => panic!("not hex or null: {other}"),
    }
}

/// What a Java `consume-json` line says the record is.
fn read_by_java(line: &Value) -> Expected {
    Expected {
        key: bytes_field(&line["key"]),
        value: bytes_field(&line["value"]),
        headers: line["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h[0].as_str().unwrap().to_owned(), bytes_field(&h[1])))
            .collect(),
    }
}

/// Asserts a keyed record sits on Java's partition for its key.
fn assert_on_keys_partition(codec: Compression, i: usize, key: Option<&Bytes>, partition: i32) {
    if let Some(key) = key {
        assert_eq!(
            partition,
            partition_for_key(key, PARTITIONS as usize),
            "{codec:?} record {i}: key {:?} ({}) not on Java's partition",
            String::from_utf8_lossy(key),
            hex(key)
        );
    }
}

/// The ferrokafka producer sends [`RECORDS`] records in `codec`; a Java
/// consumer reads each acknowledged one exactly once, where it was
/// acknowledged, byte for byte.
async fn ferrokafka_to_java(codec: Compression) {
    let cluster = TestCluster::start().await.unwrap();
    let topic = cluster.unique(&format!("to-java-{}", codec.name()));
    cluster.create_topic(&topic, PARTITIONS).await.unwrap();

    // Kafka's defaults, as Java's: idempotent, acks=all.
    let config = cluster
        .producer_config()
        .compression_type(codec)
        .build()
        .unwrap();
    let producer = Producer::connect(config).await.unwrap();
    let base = now_ms();
    let mut deliveries = Vec::new();
    for i in 0..RECORDS {
        let e = expected(codec, i);
        let mut record = ProducerRecord::new(topic.clone());
        if let Some(key) = e.key {
            record = record.key(key);
        }
        if let Some(value) = e.value {
            record = record.value(value);
        }
        for (name, value) in e.headers {
            record = record.header(Bytes::from(name), value);
        }
        if let Some(ts) = timestamp(base, i) {
            record = record.timestamp(ts);
        }
        deliveries.push(producer.send(record).await.unwrap());
    }
    // (partition, offset) -> (index, reported timestamp)
    let mut landed: HashMap<(i32, i64), (usize, i64)> = HashMap::new();
    let mut last_in_partition: BTreeMap<i32, i64> = BTreeMap::new();
    for (i, delivery) in deliveries.into_iter().enumerate() {
        let metadata = tokio::time::timeout(DELIVERY_DEADLINE, delivery)
            .await
            .unwrap_or_else(|_| {
                panic!("{codec:?} record {i} not acknowledged within {DELIVERY_DEADLINE:?}")
            })
            .unwrap_or_else(|e| panic!("{codec:?} record {i}: {e}"));
        assert!(metadata.offset >= 0, "{codec:?} record {i}: {metadata:?}");
        if let Some(previous) = last_in_partition.insert(metadata.partition, metadata.offset) {
            assert!(
                metadata.offset > previous,
                "{codec:?} record {i} acknowledged at {metadata:?}, after offset {previous}"
            );
        }
        assert_on_keys_partition(
            codec,
            i,
            expected(codec, i).key.as_ref(),
            metadata.partition,
        );
        let clash = landed.insert(
            (metadata.partition, metadata.offset),
            (i, metadata.timestamp),
        );
        assert!(clash.is_none(), "{codec:?}: two records at {metadata:?}");
    }
    producer.close(Duration::from_secs(30)).await;

    let read = run_java(vec![
        "consume-json".to_owned(),
        cluster.bootstrap().to_owned(),
        topic.clone(),
        RECORDS.to_string(),
    ])
    .await;
    assert_eq!(
        read.len(),
        RECORDS,
        "{codec:?}: Java read {} records, {RECORDS} were acknowledged",
        read.len()
    );
    let mut seen = vec![false; RECORDS];
    let mut last_read: BTreeMap<i32, i64> = BTreeMap::new();
    for line in &read {
        assert_eq!(line["topic"], topic.as_str(), "{line}");
        let partition = i32::try_from(line["partition"].as_i64().unwrap()).unwrap();
        let offset = line["offset"].as_i64().unwrap();
        let Some(&(i, reported)) = landed.get(&(partition, offset)) else {
            panic!("{codec:?}: Java read a record the producer never acknowledged: {line}");
        };
        assert!(!seen[i], "{codec:?}: Java read record {i} twice");
        seen[i] = true;
        if let Some(previous) = last_read.insert(partition, offset) {
            assert!(offset > previous, "{codec:?}: {partition} out of order");
        }
        let e = expected(codec, i);
        assert_eq!(
            read_by_java(line),
            e,
            "{codec:?} record {i} as Java read it"
        );
        assert_on_keys_partition(codec, i, e.key.as_ref(), partition);
        // CreateTime, the one the producer reported (and set, when it did).
        assert_eq!(line["timestamp_type"], 0, "{codec:?} record {i}: {line}");
        let ts = line["timestamp"].as_i64().unwrap();
        assert_eq!(ts, reported, "{codec:?} record {i}: timestamp");
        if let Some(set) = timestamp(base, i) {
            assert_eq!(ts, set, "{codec:?} record {i}: timestamp set");
        }
    }
    assert!(seen.iter().all(|s| *s), "{codec:?}: every record read");
    cluster.shutdown().await;
}

/// A Java producer on its defaults sends [`RECORDS`] records in `codec`;
/// the ferrokafka consumer reads each acknowledged one exactly once, where
/// it was acknowledged, byte for byte, and Java placed each keyed record on
/// `partition_for_key`'s partition.
async fn java_to_ferrokafka(codec: Compression) {
    let cluster = TestCluster::start().await.unwrap();
    let topic = cluster.unique(&format!("from-java-{}", codec.name()));
    cluster.create_topic(&topic, PARTITIONS).await.unwrap();

    let produced = run_java(vec![
        "produce-json".to_owned(),
        cluster.bootstrap().to_owned(),
        topic.clone(),
        codec.name().to_owned(),
        RECORDS.to_string(),
    ])
    .await;
    assert_eq!(
        produced.len(),
        RECORDS,
        "{codec:?}: Java's acknowledgements"
    );
    // (partition, offset) -> (index, reported timestamp)
    let mut landed: HashMap<(i32, i64), (usize, i64)> = HashMap::new();
    let mut last_in_partition: BTreeMap<i32, i64> = BTreeMap::new();
    for (i, p) in produced.iter().enumerate() {
        assert_eq!(p["index"].as_u64(), Some(i as u64), "{p}");
        let partition = i32::try_from(p["partition"].as_i64().unwrap()).unwrap();
        let offset = p["offset"].as_i64().unwrap();
        assert!(offset >= 0, "{codec:?} record {i}: {p}");
        if let Some(previous) = last_in_partition.insert(partition, offset) {
            assert!(
                offset > previous,
                "{codec:?}: Java's record {i} acknowledged at {p}, after offset {previous}"
            );
        }
        // Java's partitioner agrees with ours, key by key.
        assert_on_keys_partition(codec, i, expected(codec, i).key.as_ref(), partition);
        let clash = landed.insert((partition, offset), (i, p["timestamp"].as_i64().unwrap()));
        assert!(clash.is_none(), "{codec:?}: two records at {p}");
    }

    let records = cluster
        .read_to_end(&topic, PARTITIONS, IsolationLevel::ReadUncommitted)
        .await
        .unwrap();
    assert_eq!(
        records.len(),
        RECORDS,
        "{codec:?}: ferrokafka read {} records, Java acknowledged {RECORDS}",
        records.len()
    );
    let mut seen = vec![false; RECORDS];
    let mut last_read: BTreeMap<i32, i64> = BTreeMap::new();
    for r in &records {
        assert_eq!(r.topic, topic);
        let Some(&(i, reported)) = landed.get(&(r.partition, r.offset)) else {
            panic!(
                "{codec:?}: ferrokafka read a record Java never acknowledged: {}-{} {r:?}",
                r.partition, r.offset
            );
        };
        assert!(!seen[i], "{codec:?}: ferrokafka read record {i} twice");
        seen[i] = true;
        if let Some(previous) = last_read.insert(r.partition, r.offset) {
            assert!(
                r.offset > previous,
                "{codec:?}: {} out of order",
                r.partition
            );
        }
        let got = Expected {
            key: r.key.clone(),
            value: r.value.clone(),
            headers: r
                .headers
                .iter()
                .map(|h| (String::from_utf8(h.key.to_vec()).unwrap(), h.value.clone()))
                .collect(),
        };
        assert_eq!(
            got,
            expected(codec, i),
            "{codec:?} record {i} as ferrokafka read it"
        );
        assert_eq!(
            r.timestamp_type,
            TimestampType::CreateTime,
            "{codec:?} record {i}"
        );
        assert_eq!(r.timestamp, reported, "{codec:?} record {i}: timestamp");
    }
    assert!(seen.iter().all(|s| *s), "{codec:?}: every record read");
    cluster.shutdown().await;
}

macro_rules! both_ways {
    ($($codec:ident: $compression:expr;)*) => {
        mod ferrokafka_to_java {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $codec() {
                    ferrokafka_to_java($compression).await;
                }
            )*
        }
        mod java_to_ferrokafka {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $codec() {
                    java_to_ferrokafka($compression).await;
                }
            )*
        }
    };
}

both_ways! {
    none: Compression::None;
    gzip: Compression::Gzip;
    snappy: Compression::Snappy;
    lz4: Compression::Lz4;
    zstd: Compression::Zstd;
}
