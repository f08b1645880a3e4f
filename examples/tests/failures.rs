#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Failures a newcomer sees, end to end: `/health` following the cluster,
//! a dead cluster answered within the documented timeout, every HTTP error
//! as JSON with its status, one embedded broker per preferred address, and
//! the webhook's and the stop's messages saying what happened.

use std::time::Duration;

use ferrokafka_broker::{Broker, BrokerHandle};
use ferrokafka_consumer::{Consumer, ConsumerConfig, ConsumerRecord, TopicPartition};
use ferrokafka_examples::cluster::{ClusterSource, ensure_cluster};
use ferrokafka_examples::consumer_service::{self, StopReport};
use ferrokafka_examples::producer_service::{
    self, MAX_HEADER_BYTES, MAX_URI_BYTES, ORDER_BODY_LIMIT, ProducerServiceHandle,
};
use ferrokafka_examples::{ExampleError, Order, ServiceConfig};
use ferrokafka_listener::dlt_headers;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::time::Instant;

/// The generous deadline of every wait.
const WAIT: Duration = Duration::from_secs(60);

async fn setup() -> (BrokerHandle, ServiceConfig) {
    let broker = Broker::builder().start().await.unwrap();
    let mut config = ServiceConfig {
        bootstrap_servers: Some(broker.bootstrap_servers()),
        client_id: "failures-test".into(),
        ..Default::default()
    };
    config.retry.interval_ms = 20;
    config.retry.max_retries = 2;
    (broker, config)
}

async fn producer_service(config: &ServiceConfig) -> ProducerServiceHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    producer_service::start(config, listener).await.unwrap()
}

fn order(id: &str) -> Order {
    Order {
        id: id.into(),
        product: "apples".into(),
        quantity: 3,
        price: 1.25,
        customer: "ada".into(),
    }
}

/// Polls `/health` until it answers `status`, for at most [`WAIT`].
async fn wait_health(http: &reqwest::Client, base: &str, status: u16) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let response = http.get(format!("{base}/health")).send().await.unwrap();
        let code = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        if code == status {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "/health still {code} {body} after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_cluster_down_and_back_up() {
    let (broker, config) = setup().await;
    let producer = producer_service(&config).await;
    let http = reqwest::Client::new();
    let base = producer.url();

    let up = wait_health(&http, &base, 200).await;
    assert_eq!(up["status"], "UP");

    broker.stop_node(0).await.unwrap();
    let down = wait_health(&http, &base, 503).await;
    assert_eq!(down["status"], "DOWN", "{down}");
    // With the cause a user can act on.
    let why = down["error"].as_str().unwrap().to_lowercase();
    assert!(why.contains("refused"), "{down}");

    broker.restart_node(0).await.unwrap();
    let back = wait_health(&http, &base, 200).await;
    assert_eq!(back["status"], "UP");

    producer.stop().await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_to_a_dead_cluster_is_a_503_within_the_default_timeouts() {
    let (broker, config) = setup().await;
    let producer = producer_service(&config).await;
    let http = reqwest::Client::new();
    let base = producer.url();
    let ok = http
        .get(format!("{base}/send?topic=topic1&message=hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    broker.stop_node(0).await.unwrap();
    // The defaults: delivery.timeout.ms = 8 s (max.block.ms = 5 s); the
    // README promises an answer within 10 s.
    let started = Instant::now();
    let response = http
        .get(format!("{base}/send?topic=topic1&message=lost"))
        .send()
        .await
        .unwrap();
    let took = started.elapsed();
    assert_eq!(response.status(), 503);
    let error: Value = response.json().await.unwrap();
    assert!(error["error"].as_str().is_some(), "{error}");
    assert!(took < Duration::from_secs(10), "answered after {took:?}");
    assert!(took >= Duration::from_secs(1), "answered after {took:?}");

    // An order too.
    let started = Instant::now();
    let response = http
        .post(format!("{base}/orders/purchase"))
        .json(&order("order-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(started.elapsed() < Duration::from_secs(10));

    producer.stop().await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_http_error_is_json_with_its_status() {
    let (broker, config) = setup().await;
    let producer = producer_service(&config).await;
    let http = reqwest::Client::new();
    let base = producer.url();

    // A wrong method: 405 with Allow.
    let response = http
        .get(format!("{base}/orders/purchase"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("POST"), "{allow}");
    let error: Value = response.json().await.unwrap();
    assert!(error["error"].as_str().unwrap().contains("POST"), "{error}");
    let response = http.post(format!("{base}/health")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    let error: Value = response.json().await.unwrap();
    assert!(error["error"].is_string(), "{error}");

    // An order over the limit: 413 naming it.
    let mut big = order("big");
    big.product = "x".repeat(1 << 20);
    let response = http
        .post(format!("{base}/orders/purchase"))
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains(&ORDER_BODY_LIMIT.to_string()),
        "{error}"
    );

    // A 20 MB body sent as curl does (`Expect: 100-continue`): 413 naming
    // the limit.
    let (status, body) = raw_request(
        producer.local_addr(),
        "POST /orders/purchase HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: 20971520\r\nexpect: 100-continue\r\n\r\n",
        20 << 20,
    )
    .await;
    assert!(status.contains(" 413 "), "{status}");
    let error: Value = serde_json::from_str(&body).unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains(&ORDER_BODY_LIMIT.to_string()),
        "{error}"
    );

    // Unknown query parameters: 400 naming each.
    let response = http
        .get(format!("{base}/send?topic=t&message=m&colour=red&size=9"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    let message = error["error"].as_str().unwrap();
    assert!(
        message.contains("'colour'") && message.contains("'size'"),
        "{message}"
    );

    // A URI or headers over the limits: 414 and 431 naming them.
    let long = "m".repeat(MAX_URI_BYTES + 1);
    let response = http
        .get(format!("{base}/send?topic=t&message={long}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 414);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains(&MAX_URI_BYTES.to_string()),
        "{error}"
    );
    let response = http
        .get(format!("{base}/health"))
        .header("x-big", "h".repeat(MAX_HEADER_BYTES + 1))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 431);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"]
            .as_str()
            .unwrap()
            .contains(&MAX_HEADER_BYTES.to_string()),
        "{error}"
    );

    // No such route: 404, JSON.
    let response = http.get(format!("{base}/nowhere")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let error: Value = response.json().await.unwrap();
    assert!(error["error"].is_string(), "{error}");

    // Nothing reached Kafka.
    assert_eq!(broker.offsets("kafka-market", 0), None);
    assert_eq!(broker.offsets("t", 0), None);
    producer.stop().await.unwrap();
    broker.shutdown().await;
}

/// Sends `head` as is, then `body_len` bytes in the background (as far as
/// the server reads them), and reads the final answer's status line and
/// body (by its content-length; a `100 Continue` skipped), within [`WAIT`].
async fn raw_request(
    address: std::net::SocketAddr,
    head: &str,
    body_len: usize,
) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    writer.write_all(head.as_bytes()).await.unwrap();
    let sending = tokio::spawn(async move {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < body_len {
            let n = chunk.len().min(body_len - sent);
            if writer.write_all(&chunk[..n]).await.is_err() {
                break;
            }
            sent += n;
        }
    });
    let read = async {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&buffer).into_owned();
            if text.starts_with("HTTP/1.1 100") {
                if let Some(end) = text.find("\r\n\r\n") {
                    buffer.drain(..end + 4);
                    continue;
                }
            } else if let Some(end) = text.find("\r\n\r\n") {
                let length = text[..end]
                    .lines()
                    .find_map(|l| {
                        let (name, value) = l.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if buffer.len() >= end + 4 + length {
                    let status = text.lines().next().unwrap_or_default().to_owned();
                    return (status, text[end + 4..end + 4 + length].to_owned());
                }
            }
            let n = reader.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed after {text:?}");
            buffer.extend_from_slice(&chunk[..n]);
        }
    };
    let answer = tokio::time::timeout(WAIT, read).await.unwrap();
    sending.abort();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preferred_address_taken_by_a_broker_is_joined() {
    let first = Broker::builder().start().await.unwrap();
    let preferred = first.bootstrap_servers();
    let mut config = ServiceConfig::default();
    let source = ensure_cluster(&mut config, Some(&preferred)).await.unwrap();
    assert!(
        matches!(&source, ClusterSource::Joined(address) if *address == preferred),
        "{source:?}"
    );
    assert_eq!(
        config.bootstrap_servers.as_deref(),
        Some(preferred.as_str())
    );

    // And the two services see each other's records: the second one's
    // producer writes to the first broker.
    let producer = producer_service(&config).await;
    let response = reqwest::Client::new()
        .get(format!("{}/send?topic=shared&message=m", producer.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(first.offsets("shared", 0), Some((0, 10)));
    producer.stop().await.unwrap();
    first.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preferred_address_taken_by_something_else_fails_with_a_hint() {
    // Something that accepts connections and closes them: not Kafka.
    let squatter = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = squatter.local_addr().unwrap().to_string();
    let accepting = tokio::spawn(async move {
        loop {
            if let Ok((socket, _)) = squatter.accept().await {
                drop(socket);
            }
        }
    });
    let mut config = ServiceConfig::default();
    let error = ensure_cluster(&mut config, Some(&address))
        .await
        .unwrap_err();
    assert!(matches!(error, ExampleError::AddressInUse(_)), "{error}");
    let message = error.to_string();
    assert!(message.contains(&address), "{message}");
    assert!(
        message.contains("FERROKAFKA_BOOTSTRAP_SERVERS"),
        "{message}"
    );
    assert_eq!(config.bootstrap_servers, None);
    accepting.abort();

    // Without a preferred address: an embedded broker on a port of its own.
    let source = ensure_cluster(&mut config, None).await.unwrap();
    let ClusterSource::Embedded(broker) = source else {
        panic!("{source:?}");
    };
    assert_eq!(config.bootstrap_servers, Some(broker.bootstrap_servers()));
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_port_clash_is_labelled_as_such() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let error = producer_service::bind(&address).await.unwrap_err();
    assert!(matches!(error, ExampleError::AddressInUse(_)), "{error}");
    let message = error.to_string();
    assert!(message.starts_with("address in use:"), "{message}");
    assert!(message.contains("FERROKAFKA_HTTP_ADDR"), "{message}");
    assert!(!message.contains("configuration"), "{message}");
}

/// Reads `topic`-0 from the start until `count` records arrived.
async fn read_topic(bootstrap: &str, topic: &str, count: usize) -> Vec<ConsumerRecord> {
    let config = ConsumerConfig::from_properties([
        ("bootstrap.servers", bootstrap),
        ("auto.offset.reset", "earliest"),
    ])
    .unwrap();
    let mut consumer = Consumer::connect(config).await.unwrap();
    consumer.assign([TopicPartition::new(topic, 0)]).unwrap();
    let deadline = Instant::now() + WAIT;
    let mut records = Vec::new();
    while records.len() < count {
        assert!(Instant::now() < deadline, "only {} records", records.len());
        records.extend(consumer.poll(Duration::from_millis(200)).await.unwrap());
    }
    consumer.close(Duration::from_secs(5)).await;
    records
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_webhook_is_dead_lettered_with_its_cause() {
    // A port nobody listens on: bound, then let go.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (broker, mut config) = setup().await;
    config.webhook_url = Some(format!("http://{closed}/orders"));
    let consumers = consumer_service::start(&config).await.unwrap();
    let producer = producer_service(&config).await;
    let response = reqwest::Client::new()
        .post(format!("{}/orders/purchase", producer.url()))
        .json(&order("order-7"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let dead = read_topic(&broker.bootstrap_servers(), "kafka-market-dlt", 1).await;
    let why = String::from_utf8(
        dead[0]
            .last_header(dlt_headers::EXCEPTION_MESSAGE)
            .and_then(|h| h.value.clone())
            .unwrap()
            .to_vec(),
    )
    .unwrap();
    assert!(why.contains("error sending request"), "{why}");
    assert!(why.to_lowercase().contains("refused"), "{why}");

    producer.stop().await.unwrap();
    let report = consumers.stop(Duration::from_secs(10)).await;
    assert!(report.is_clean(), "{report}");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_without_the_cluster_does_not_claim_a_commit() {
    let (broker, config) = setup().await;
    let consumers = consumer_service::start(&config).await.unwrap();
    consumers.wait_assigned(WAIT).await.unwrap();
    let producer = producer_service(&config).await;
    let response = reqwest::Client::new()
        .get(format!("{}/send?topic=topic4&message=m", producer.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    consumers
        .log()
        .wait_until(WAIT, |entries| entries.len() == 10)
        .await
        .unwrap();
    producer.stop().await.unwrap();

    broker.stop_node(0).await.unwrap();
    let watch = consumers.cluster().unwrap().clone();
    let state = watch.wait_for(WAIT, |s| !s.is_up()).await.unwrap();
    assert!(!state.is_up());
    let report = consumers.stop(Duration::from_secs(3)).await;
    assert!(!report.is_clean(), "{report}");
    assert!(matches!(report, StopReport::Unknown(_)), "{report}");
    let text = report.to_string();
    assert!(text.starts_with("could not check"), "{text}");
    assert!(text.contains("delivered again"), "{text}");
    broker.shutdown().await;
}
