//! ferrokafka against kafka-python, a second client nobody here wrote: what
//! the ferrokafka producer writes (every codec; keyed, keyless and explicitly
//! partitioned records; null values; several and null-valued headers; set and
//! default timestamps) a kafka-python consumer reads exactly once, byte for
//! byte, where the producer said it landed; and what kafka-python produces in
//! every codec, the ferrokafka consumer reads, on the partitions both clients'
//! murmur2 partitioners agree on.
//!
//! The Python side is `interop/python/*.py`. Its packages (pinned below) are
//! installed once with `pip install --target` into Cargo's test scratch
//! directory, so a machine with Python 3 and pip needs nothing else; set
//! `FERROKAFKA_PYTHON` to use an interpreter other than `python3`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferrokafka_broker::Broker;
use ferrokafka_consumer::{Consumer, ConsumerConfig, OffsetReset, TopicPartition};
use ferrokafka_producer::{
    Compression, Producer, ProducerConfig, ProducerRecord, partition_for_key,
};
use serde_json::Value;

const PARTITIONS: i32 = 5;
const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// What pip installs: kafka-python and the codec libraries it loads.
const PACKAGES: [&str; 4] = [
    "kafka-python==3.0.12",
    "lz4==4.4.5",
    "python-snappy==0.7.3",
    "zstandard==0.25.0",
];

fn interpreter() -> String {
    std::env::var("FERROKAFKA_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// The directory holding the installed packages, installed on first use. The
/// install goes to a fresh directory renamed into place at the end, so an
/// interrupted install is never taken for a finished one.
fn python_packages() -> &'static Path {
    static PACKAGES_DIR: OnceLock<PathBuf> = OnceLock::new();
    PACKAGES_DIR.get_or_init(|| {
        let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let name = PACKAGES.join("_").replace(['=', '.'], "-");
        let dir = scratch.join(format!("python-{name}"));
        if dir.join("kafka").is_dir() {
            return dir;
        }
        let partial = scratch.join(format!("python-{name}.partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        let output = Command::new(interpreter())
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "--root-user-action=ignore",
                "--only-binary",
                ":all:",
                "--target",
            ])
            .arg(&partial)
            .args(PACKAGES)
            .output()
            .expect("running python3 -m pip (Python 3 with pip is needed)");
        assert!(
            output.status.success(),
            "pip install {PACKAGES:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        if let Err(error) = std::fs::rename(&partial, &dir) {
            // Another test process finished first: use its install.
            assert!(dir.join("kafka").is_dir(), "moving {partial:?}: {error}");
            let _ = std::fs::remove_dir_all(&partial);
        }
        dir
    })
}

/// Runs `interop/python/{script}` with `args` and returns its stdout as JSON
/// lines; fails the test with its stderr if it exits unsuccessfully.
async fn run_python(script: &str, args: Vec<String>) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(script);
    tokio::task::spawn_blocking(move || {
        let packages = python_packages();
        let output = Command::new(interpreter())
            .arg(&script)
            .args(&args)
            .env("PYTHONPATH", packages)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{script:?} {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    })
    .await
    .unwrap()
}

fn codec_name(codec: Compression) -> &'static str {
    codec.name()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A field kafka-python printed as hex, or `None` for null.
fn hex_field(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// What record `i` of a codec's run is, as the ferrokafka producer sends it.
struct Sent {
    key: Option<Bytes>,
    partition: Option<i32>,
    value: Option<Bytes>,
    headers: Vec<(String, Option<Bytes>)>,
    timestamp: Option<i64>,
}

fn sent(codec: Compression, i: usize) -> Sent {
    // Every tenth record has no key (the sticky partitioner places it), the
    // next one an explicit partition; the rest are keyed.
    let key = (!i.is_multiple_of(10)).then(|| Bytes::from(format!("user-{}", i % 13)));
    let partition = (i % 10 == 1).then_some((i % PARTITIONS as usize) as i32);
    let value = (i % 17 != 5).then(|| Bytes::from(format!("{} payload {i}", codec.name())));
    let mut headers = vec![("index".to_owned(), Some(Bytes::from(i.to_string())))];
    if i % 2 == 1 {
        headers.push(("trace".to_owned(), None));
        headers.push(("index".to_owned(), Some(Bytes::from_static(b"again"))));
    }
    let timestamp = i.is_multiple_of(3).then_some(1_700_000_000_000 + i as i64);
    Sent {
        key,
        partition,
        value,
        headers,
        timestamp,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_from_ferrokafka_are_read_by_kafka_python_in_every_codec() {
    let broker = Broker::builder().start().await.unwrap();
    let bootstrap = broker.bootstrap_address();
    const COUNT: usize = 300;
    for codec in CODECS {
        let topic = format!("to-python-{}", codec_name(codec));
        broker.create_topic(&topic, PARTITIONS).unwrap();
        let config = ProducerConfig::builder()
            .bootstrap_servers([bootstrap.clone()])
            .compression_type(codec)
            .build()
            .unwrap();
        let producer = Producer::connect(config).await.unwrap();
        let mut deliveries = Vec::new();
        for i in 0..COUNT {
            let Sent {
                key,
                partition,
                value,
                headers,
                timestamp,
            } = sent(codec, i);
            let mut record = ProducerRecord::new(topic.clone());
            if let Some(key) = key {
                record = record.key(key);
            }
            if let Some(partition) = partition {
                record = record.partition(partition);
            }
            if let Some(value) = value {
                record = record.value(value);
            }
            if let Some(timestamp) = timestamp {
                record = record.timestamp(timestamp);
            }
            for (name, value) in headers {
                record = record.header(Bytes::from(name), value);
            }
            deliveries.push(producer.send(record).await.unwrap());
        }
        let mut landed = HashMap::new();
        for (i, delivery) in deliveries.into_iter().enumerate() {
            let metadata = delivery.await.unwrap();
            landed.insert(
                (metadata.partition, metadata.offset),
                (i, metadata.timestamp),
            );
        }
        producer.close(Duration::from_secs(10)).await;

        let read = run_python(
            "consume.py",
            vec![
                bootstrap.clone(),
                format!("python-{}", codec_name(codec)),
                COUNT.to_string(),
                topic.clone(),
            ],
        )
        .await;
        assert_eq!(read.len(), COUNT, "{codec:?}: each record exactly once");
        let mut seen = vec![false; COUNT];
        let mut last_offset: BTreeMap<i64, i64> = BTreeMap::new();
        for record in &read {
            assert_eq!(record["topic"], topic.as_str());
            let partition = record["partition"].as_i64().unwrap();
            let offset = record["offset"].as_i64().unwrap();
            let (i, timestamp) = landed[&(partition as i32, offset)];
            assert!(!seen[i], "{codec:?}: record {i} read twice");
            seen[i] = true;
            // Offsets rise within a partition, in send order.
            if let Some(previous) = last_offset.insert(partition, offset) {
                assert!(
                    offset > previous,
                    "{codec:?}: partition {partition} out of order"
                );
            }
            let expected = sent(codec, i);
            assert_eq!(
                hex_field(&record["key"]),
                expected.key.as_deref().map(hex),
                "{codec:?} record {i}"
            );
            assert_eq!(
                hex_field(&record["value"]),
                expected.value.as_deref().map(hex),
                "{codec:?} record {i}"
            );
            let headers: Vec<(String, Option<String>)> = record["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| (h[0].as_str().unwrap().to_owned(), hex_field(&h[1])))
                .collect();
            let expected_headers: Vec<(String, Option<String>)> = expected
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.as_deref().map(hex)))
                .collect();
            assert_eq!(headers, expected_headers, "{codec:?} record {i}");
            // CreateTime: the producer's timestamp, the one it reported.
            assert_eq!(record["timestamp_type"], 0, "{codec:?} record {i}");
            assert_eq!(record["timestamp"].as_i64().unwrap(), timestamp);
            if let Some(set) = expected.timestamp {
                assert_eq!(timestamp, set, "{codec:?} record {i}");
            }
            match (expected.partition, &expected.key) {
                (Some(explicit), _) => assert_eq!(partition, i64::from(explicit)),
                (None, Some(key)) => assert_eq!(
                    partition,
                    i64::from(partition_for_key(key, PARTITIONS as usize)),
                    "{codec:?}: key {key:?} on Java's partition"
                ),
                (None, None) => {}
            }
        }
        assert!(seen.iter().all(|s| *s), "{codec:?}: every record read");
    }
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_from_kafka_python_are_read_by_ferrokafka_in_every_codec() {
    let broker = Broker::builder().start().await.unwrap();
    let bootstrap = broker.bootstrap_address();
    const COUNT: usize = 200;
    for codec in CODECS {
        let topic = format!("from-python-{}", codec_name(codec));
        broker.create_topic(&topic, PARTITIONS).unwrap();
        let produced = run_python(
            "produce.py",
            vec![
                bootstrap.clone(),
                topic.clone(),
                codec_name(codec).to_owned(),
                COUNT.to_string(),
            ],
        )
        .await;
        assert_eq!(produced.len(), COUNT);
        // kafka-python's murmur2 partitioner agrees with ours key by key.
        let mut landed = HashMap::new();
        for p in &produced {
            let i = p["index"].as_u64().unwrap() as usize;
            let partition = p["partition"].as_i64().unwrap() as i32;
            let key = format!("user-{}", i % 13);
            assert_eq!(
                partition,
                partition_for_key(key.as_bytes(), PARTITIONS as usize),
                "{codec:?}: key {key:?}"
            );
            landed.insert((partition, p["offset"].as_i64().unwrap()), i);
        }

        let config = ConsumerConfig::builder()
            .bootstrap_servers([bootstrap.clone()])
            .auto_offset_reset(OffsetReset::Earliest)
            .enable_auto_commit(false)
            .build()
            .unwrap();
        let mut consumer = Consumer::connect(config).await.unwrap();
        consumer
            .assign((0..PARTITIONS).map(|p| TopicPartition::new(topic.clone(), p)))
            .unwrap();
        let mut seen = [false; COUNT];
        let mut read = 0;
        let start = Instant::now();
        while read < COUNT {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{codec:?}: ferrokafka read {read} of {COUNT}"
            );
            for r in consumer.poll(Duration::from_millis(100)).await.unwrap() {
                let i = landed[&(r.partition, r.offset)];
                assert!(!seen[i], "{codec:?}: record {i} read twice");
                seen[i] = true;
                read += 1;
                assert_eq!(
                    r.key.as_deref(),
                    Some(format!("user-{}", i % 13).as_bytes())
                );
                assert_eq!(
                    r.value.as_deref(),
                    Some(format!("{} payload {i}", codec_name(codec)).as_bytes())
                );
                assert_eq!(r.headers.len(), 1);
                assert_eq!(r.headers[0].key.as_ref(), b"index");
                assert_eq!(
                    r.headers[0].value.as_deref(),
                    Some(i.to_string().as_bytes())
                );
            }
        }
        consumer.close(Duration::from_secs(10)).await;
    }
    broker.shutdown().await;
}
