#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The service binaries as a user runs them, output not on a terminal: the
//! log says when the cluster goes and comes back, carries no colour codes,
//! and the shutdown message says what the stop achieved.
#![cfg(unix)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokafka_broker::Broker;
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(60);

/// Collects what a child writes to one stream.
fn collect(stream: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let mut text = sink.lock().unwrap();
            text.push_str(&line);
            text.push('\n');
        }
    });
    text
}

/// Polls `text` until it contains `needle`, for at most [`WAIT`].
async fn wait_for(text: &Arc<Mutex<String>>, needle: &str, what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        if text.lock().unwrap().contains(needle) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: no {needle:?} after {WAIT:?} in:\n{}",
            text.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_service_says_when_the_cluster_goes_and_what_its_stop_did() {
    let broker = Broker::builder().start().await.unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_consumer-service"))
        .env_remove("FERROKAFKA_CONFIG")
        .env_remove("FERROKAFKA_WEBHOOK_URL")
        .env("FERROKAFKA_BOOTSTRAP_SERVERS", broker.bootstrap_servers())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = collect(child.stdout.take().unwrap());
    let stderr = collect(child.stderr.take().unwrap());
    let child = Killed(child);
    wait_for(&stdout, "consumer-service running", "stdout").await;

    broker.stop_node(0).await.unwrap();
    wait_for(&stderr, "the Kafka cluster is unreachable", "stderr").await;
    broker.restart_node(0).await.unwrap();
    wait_for(&stderr, "the Kafka cluster is reachable again", "stderr").await;

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.0.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    wait_for(&stdout, "consumer-service stopped:", "stdout").await;
    let out = stdout.lock().unwrap().clone();
    assert!(
        out.contains("consumer-service stopped: offsets committed and groups left"),
        "{out}"
    );
    let err = stderr.lock().unwrap().clone();
    assert!(err.contains("WARN"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "colour codes in a log that is not a terminal:\n{err}"
    );
    assert!(!out.contains('\u{1b}'), "{out}");
    drop(child);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_start_claims_nothing() {
    let broker = Broker::builder().start().await.unwrap();
    let bootstrap = broker.bootstrap_servers();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_producer-service"))
            .env_remove("FERROKAFKA_CONFIG")
            .env("FERROKAFKA_BOOTSTRAP_SERVERS", bootstrap)
            .env("FERROKAFKA_HTTP_ADDR", "127.0.0.1:0")
            .env("FERROKAFKA_PRODUCER_LINGER_MSS", "5")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{out}\n{err}");
    assert!(!out.contains("listening"), "{out}");
    assert!(!out.contains("stopped"), "{out}");
    assert!(
        err.contains("producer-service failed:") && err.contains("linger.mss"),
        "{err}"
    );
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_retries_are_warnings_with_their_cause() {
    use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};

    // A port nobody listens on: bound, then let go.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let broker = Broker::builder().start().await.unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_consumer-service"))
        .env_remove("FERROKAFKA_CONFIG")
        .env("FERROKAFKA_BOOTSTRAP_SERVERS", broker.bootstrap_servers())
        .env("FERROKAFKA_WEBHOOK_URL", format!("http://{closed}/orders"))
        .env("FERROKAFKA_RETRY_INTERVAL_MS", "20")
        .env("FERROKAFKA_RETRY_MAX_RETRIES", "1")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = collect(child.stdout.take().unwrap());
    let stderr = collect(child.stderr.take().unwrap());
    let child = Killed(child);
    wait_for(&stdout, "consumer-service running", "stdout").await;

    let producer = Producer::connect(
        ProducerConfig::from_properties([("bootstrap.servers", broker.bootstrap_servers())])
            .unwrap(),
    )
    .await
    .unwrap();
    let order = r#"{"id":"order-1","product":"apples","quantity":3,"price":1.25,"customer":"ada"}"#;
    producer
        .send(
            ProducerRecord::new("kafka-market")
                .key("order-1")
                .value(order),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    producer.close(Duration::from_secs(5)).await;

    wait_for(
        &stderr,
        "record published to the dead-letter topic",
        "stderr",
    )
    .await;
    let err = stderr.lock().unwrap().clone();
    let retry = err
        .lines()
        .find(|l| l.contains("listener failed; retrying"))
        .unwrap_or_else(|| panic!("no retry line in:\n{err}"));
    assert!(retry.contains("WARN"), "{retry}");
    assert!(retry.contains("error sending request"), "{retry}");
    assert!(retry.to_lowercase().contains("refused"), "{retry}");
    drop(child);
    broker.shutdown().await;
}
