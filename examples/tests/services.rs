#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The services end to end: the embedded broker on port 0, the producer
//! service and the consumer service in-process, real HTTP requests to the
//! producer service, and wiremock standing in for the orders webhook.

use std::collections::BTreeMap;
use std::time::Duration;

use ferrokafka_broker::{Broker, BrokerHandle};
use ferrokafka_consumer::{Consumer, ConsumerConfig, ConsumerRecord, TopicPartition};
use ferrokafka_examples::consumer_service::{self, ConsumerServiceHandle, RELAY_GROUP};
use ferrokafka_examples::producer_service::{self, Delivered, ProducerServiceHandle, SendResponse};
use ferrokafka_examples::{Order, ServiceConfig};
use ferrokafka_listener::dlt_headers;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::time::Instant;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const WAIT: Duration = Duration::from_secs(20);

/// A broker and a configuration pointing at it, with quick retries.
async fn setup(webhook: Option<String>) -> (BrokerHandle, ServiceConfig) {
    let broker = Broker::builder().start().await.unwrap();
    let mut config = ServiceConfig {
        bootstrap_servers: Some(broker.bootstrap_servers()),
        client_id: "services-test".into(),
        webhook_url: webhook,
        ..Default::default()
    };
    config.retry.interval_ms = 20;
    config.retry.max_retries = 2;
    config.producer.insert("linger.ms".into(), "1".into());
    (broker, config)
}

async fn producer_service(config: &ServiceConfig) -> ProducerServiceHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    producer_service::start(config, listener).await.unwrap()
}

async fn consumer_service(config: &ServiceConfig) -> ConsumerServiceHandle {
    let service = consumer_service::start(config).await.unwrap();
    service.wait_assigned(WAIT).await.unwrap();
    service
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

async fn send(http: &reqwest::Client, base: &str, topic: &str, message: &str) -> SendResponse {
    let response = http
        .get(format!("{base}/send?topic={topic}&key=k&message={message}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The values `group` consumed from `topic`, in order.
fn values(entries: &[consumer_service::Consumed], group: &str, topic: &str) -> Vec<String> {
    entries
        .iter()
        .filter(|c| c.group == group && c.topic == topic)
        .map(|c| c.value.clone().unwrap_or_default())
        .collect()
}

fn expected(message: &str) -> Vec<String> {
    (0..10).map(|i| format!("{message} {i}")).collect()
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
        assert!(
            Instant::now() < deadline,
            "only {} records in {topic}",
            records.len()
        );
        records.extend(consumer.poll(Duration::from_millis(200)).await.unwrap());
    }
    consumer.close(Duration::from_secs(5)).await;
    records
}

/// The committed offsets of partition 0 of `topics` in `group`, asked by a
/// consumer that does not join the group.
async fn committed(bootstrap: &str, group: &str, topics: &[&str]) -> BTreeMap<String, Option<i64>> {
    let config =
        ConsumerConfig::from_properties([("bootstrap.servers", bootstrap), ("group.id", group)])
            .unwrap();
    let mut consumer = Consumer::connect(config).await.unwrap();
    let partitions: Vec<TopicPartition> =
        topics.iter().map(|t| TopicPartition::new(*t, 0)).collect();
    let committed = consumer
        .committed(&partitions, Duration::from_secs(10))
        .await
        .unwrap()
        .into_iter()
        .map(|(tp, offset)| (tp.topic, offset.map(|o| o.offset)))
        .collect();
    consumer.close(Duration::from_secs(5)).await;
    committed
}

fn header(record: &ConsumerRecord, key: &str) -> String {
    let value = record
        .last_header(key)
        .and_then(|h| h.value.clone())
        .unwrap_or_else(|| panic!("no header {key}"));
    String::from_utf8(value.to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_reach_the_right_listeners_and_shutdown_commits() {
    let (broker, config) = setup(None).await;
    let consumers = consumer_service(&config).await;
    let producer = producer_service(&config).await;
    let http = reqwest::Client::new();
    let base = producer.url();

    let sent = send(&http, &base, "topic1", "hi").await;
    assert_eq!(sent.topic, "topic1");
    assert_eq!(sent.records.len(), 10);
    let offsets: Vec<i64> = sent.records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, (0..10).collect::<Vec<_>>());
    assert_eq!(sent.records[3].value, "hi 3");
    send(&http, &base, "topic2", "two").await;
    send(&http, &base, "topic3", "three").await;
    send(&http, &base, "topic4", "four").await;

    let entries = consumers
        .log()
        .wait_until(WAIT, |entries| {
            values(entries, "group_a", "topic1").len() == 10
                && values(entries, "group_b", "topic1").len() == 10
                && values(entries, "group_c", "topic2").len() == 10
                && values(entries, "group_c", "topic3").len() == 10
                && values(entries, "group_d", "topic4").len() == 10
        })
        .await
        .unwrap();
    // Two groups on one topic: each gets every record, in order.
    assert_eq!(values(&entries, "group_a", "topic1"), expected("hi"));
    assert_eq!(values(&entries, "group_b", "topic1"), expected("hi"));
    // One group on two topics: each topic's own records.
    assert_eq!(values(&entries, "group_c", "topic2"), expected("two"));
    assert_eq!(values(&entries, "group_c", "topic3"), expected("three"));
    assert_eq!(values(&entries, "group_d", "topic4"), expected("four"));
    // And nothing else: 50 records, no duplicates, no strays.
    assert_eq!(entries.len(), 50, "{entries:?}");
    assert!(entries.iter().all(|c| c.key.as_deref() == Some("k")));

    producer.stop().await.unwrap();
    // The stop checks with the cluster, and says so.
    let report = consumers.stop(Duration::from_secs(10)).await;
    assert!(report.is_clean(), "{report}");
    assert!(
        report
            .to_string()
            .starts_with("offsets committed and groups left"),
        "{report}"
    );

    // After the stop, every group's committed offsets are the log ends.
    let bootstrap = config.bootstrap_servers.clone().unwrap();
    for (group, topics) in [
        ("group_a", &["topic1"][..]),
        ("group_b", &["topic1"]),
        ("group_c", &["topic2", "topic3"]),
        ("group_d", &["topic4"]),
    ] {
        let committed = committed(&bootstrap, group, topics).await;
        for topic in topics {
            let (_, end) = broker.offsets(topic, 0).unwrap();
            assert_eq!(end, 10);
            assert_eq!(
                committed.get(*topic),
                Some(&Some(end)),
                "{group} on {topic}: {committed:?}"
            );
        }
    }
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_are_relayed_to_the_webhook() {
    let webhook = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/orders"))
        .respond_with(ResponseTemplate::new(200))
        .expect(2)
        .mount(&webhook)
        .await;
    let (broker, config) = setup(Some(format!("{}/orders", webhook.uri()))).await;
    let consumers = consumer_service(&config).await;
    let producer = producer_service(&config).await;
    let http = reqwest::Client::new();

    for (i, id) in ["order-1", "order-2"].into_iter().enumerate() {
        let response = http
            .post(format!("{}/orders/purchase", producer.url()))
            .json(&order(id))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let delivered: Delivered = response.json().await.unwrap();
        assert_eq!(
            delivered,
            Delivered {
                topic: "kafka-market".into(),
                partition: 0,
                offset: i as i64,
            }
        );
    }

    let relayed = consumers
        .log()
        .wait_until(WAIT, |entries| {
            entries.iter().filter(|c| c.group == RELAY_GROUP).count() == 2
        })
        .await
        .unwrap();
    let keys: Vec<_> = relayed.iter().filter_map(|c| c.key.clone()).collect();
    assert_eq!(keys, ["order-1", "order-2"]);

    // The webhook got each order's JSON, in order.
    let requests = webhook.received_requests().await.unwrap();
    let bodies: Vec<Order> = requests
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(bodies, [order("order-1"), order("order-2")]);
    assert!(
        requests[0]
            .headers
            .get("content-type")
            .is_some_and(|v| v.to_str().unwrap().starts_with("application/json"))
    );

    producer.stop().await.unwrap();
    consumers.stop(Duration::from_secs(10)).await;
    // Nothing was dead-lettered.
    assert_eq!(broker.offsets("kafka-market-dlt", 0), Some((0, 0)));
    let bootstrap = config.bootstrap_servers.clone().unwrap();
    let committed = committed(&bootstrap, RELAY_GROUP, &["kafka-market"]).await;
    assert_eq!(committed["kafka-market"], Some(2));
    broker.shutdown().await;
    webhook.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_webhook_is_retried_then_the_order_is_dead_lettered() {
    let webhook = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/orders"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&webhook)
        .await;
    let (broker, config) = setup(Some(format!("{}/orders", webhook.uri()))).await;
    let consumers = consumer_service(&config).await;
    let producer = producer_service(&config).await;

    let response = reqwest::Client::new()
        .post(format!("{}/orders/purchase", producer.url()))
        .json(&order("order-9"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let dead = read_topic(
        &config.bootstrap_servers.clone().unwrap(),
        "kafka-market-dlt",
        1,
    )
    .await;
    assert_eq!(dead.len(), 1);
    let letter = &dead[0];
    assert_eq!(letter.key.as_deref(), Some(&b"order-9"[..]));
    let value: Order = serde_json::from_slice(letter.value.as_ref().unwrap()).unwrap();
    assert_eq!(value, order("order-9"));
    assert_eq!(header(letter, dlt_headers::ORIGINAL_TOPIC), "kafka-market");
    assert_eq!(header(letter, dlt_headers::ORIGINAL_PARTITION), "0");
    assert_eq!(header(letter, dlt_headers::ORIGINAL_OFFSET), "0");
    assert!(
        header(letter, dlt_headers::EXCEPTION_MESSAGE).contains("500"),
        "{}",
        header(letter, dlt_headers::EXCEPTION_MESSAGE)
    );

    // The first attempt and two retries (max_retries = 2), then no more.
    assert_eq!(webhook.received_requests().await.unwrap().len(), 3);
    // The relay never logged the order as relayed.
    assert!(consumers.log().of_group(RELAY_GROUP).is_empty());

    producer.stop().await.unwrap();
    consumers.stop(Duration::from_secs(10)).await;
    assert_eq!(webhook.received_requests().await.unwrap().len(), 3);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_bad_requests() {
    let (broker, config) = setup(None).await;
    let producer = producer_service(&config).await;
    let http = reqwest::Client::new();
    let base = producer.url();

    let health = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let body: Value = health.json().await.unwrap();
    assert_eq!(body["status"], "UP");

    // Not JSON, a wrong field, an impossible quantity: 400 with a reason.
    for (body, why) in [
        ("not json".to_owned(), ""),
        (r#"{"id":"o","product":"p"}"#.to_owned(), "quantity"),
        (
            serde_json::to_string(&Order {
                quantity: 0,
                ..order("o")
            })
            .unwrap(),
            "quantity",
        ),
    ] {
        let response = http
            .post(format!("{base}/orders/purchase"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.unwrap();
        let message = error["error"].as_str().unwrap();
        assert!(message.contains(why), "{body}: {message}");
    }

    for (query, why) in [
        ("message=hi", "missing query parameter 'topic'"),
        ("topic=topic1", "missing query parameter 'message'"),
        (
            "topic=bad%20name&message=hi",
            "invalid topic name \"bad name\"",
        ),
    ] {
        let response = http
            .get(format!("{base}/send?{query}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let error: Value = response.json().await.unwrap();
        let message = error["error"].as_str().unwrap();
        assert!(message.starts_with(why), "{query}: {message}");
    }
    let missing = http.get(format!("{base}/nowhere")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let error: Value = missing.json().await.unwrap();
    assert!(error["error"].is_string(), "{error}");

    // Nothing reached Kafka.
    assert_eq!(broker.offsets("kafka-market", 0), None);
    producer.stop().await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_refuses_is_a_bad_gateway() {
    use ferrokafka_broker::{FaultAction, FaultRule};
    use ferrokafka_protocol::{ApiKey, ErrorCode};

    let (broker, mut config) = setup(None).await;
    config.producer.insert("retries".into(), "0".into());
    config
        .producer
        .insert("enable.idempotence".into(), "false".into());
    broker.create_topic("kafka-market", 1).unwrap();
    let producer = producer_service(&config).await;
    broker.inject_fault(
        FaultRule::new(ApiKey::Produce, FaultAction::Fail(ErrorCode::InvalidRecord)).times(1),
    );
    let response = reqwest::Client::new()
        .post(format!("{}/orders/purchase", producer.url()))
        .json(&order("order-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("INVALID_RECORD"),
        "{error}"
    );
    producer.stop().await.unwrap();
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_is_not_an_order_is_dead_lettered_without_retries() {
    let webhook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&webhook)
        .await;
    let (broker, config) = setup(Some(format!("{}/orders", webhook.uri()))).await;
    let consumers = consumer_service(&config).await;
    let producer = producer_service(&config).await;

    // Plain text on the orders topic: "garbage 0" .. "garbage 9".
    let http = reqwest::Client::new();
    send(&http, &producer.url(), "kafka-market", "garbage").await;

    let dead = read_topic(
        &config.bootstrap_servers.clone().unwrap(),
        "kafka-market-dlt",
        10,
    )
    .await;
    let values: Vec<String> = dead
        .iter()
        .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap())
        .collect();
    assert_eq!(values, expected("garbage"));
    for (i, letter) in dead.iter().enumerate() {
        assert_eq!(header(letter, dlt_headers::ORIGINAL_OFFSET), i.to_string());
        let why = header(letter, dlt_headers::EXCEPTION_MESSAGE);
        assert!(why.contains("JSON"), "{why}");
    }
    assert!(consumers.log().of_group(RELAY_GROUP).is_empty());

    producer.stop().await.unwrap();
    consumers.stop(Duration::from_secs(10)).await;
    // Recovered records are committed like processed ones.
    let bootstrap = config.bootstrap_servers.clone().unwrap();
    let committed = committed(&bootstrap, RELAY_GROUP, &["kafka-market"]).await;
    assert_eq!(committed["kafka-market"], Some(10));
    broker.shutdown().await;
    webhook.verify().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_cluster_is_service_unavailable() {
    let (broker, mut config) = setup(None).await;
    config.producer.insert("max.block.ms".into(), "300".into());
    let producer = producer_service(&config).await;
    let addresses = broker.addresses();
    broker.shutdown().await;
    // Keep the freed ports from other tests' listeners for the rest of the
    // test, so the producer's retries find nothing there: sockets bound
    // (SO_REUSEADDR, past the closed connections' TIME_WAIT) and never
    // listening. Best effort: a port taken in the instant between is left.
    let _held: Vec<tokio::net::TcpSocket> = addresses
        .iter()
        .filter_map(|address| {
            let socket = tokio::net::TcpSocket::new_v4().ok()?;
            socket.set_reuseaddr(true).ok()?;
            socket.bind(*address).ok()?;
            Some(socket)
        })
        .collect();

    let response = reqwest::Client::new()
        .post(format!("{}/orders/purchase", producer.url()))
        .json(&order("order-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let error: Value = response.json().await.unwrap();
    let message = error["error"].as_str().unwrap();
    assert_eq!(
        message, "topic kafka-market not present in metadata after 300 ms (max.block.ms)",
        "{error}"
    );
    producer.stop().await.unwrap();
}
