//! What the admin integration tests share: a bundled broker on port 0 with
//! an admin client on it, record production through the client core, a
//! condition wait under a deadline, and [`both!`], which runs a scenario on
//! a single node and on three nodes.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use ferrokafka_admin::Admin;
use ferrokafka_broker::{Broker, BrokerHandle};
use ferrokafka_client::{ClientConfig, Target};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::compression::Compression;
use ferrokafka_protocol::generated::ProduceRequest;
use ferrokafka_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use ferrokafka_protocol::records::RecordBatchBuilder;

/// Runs an `async fn(nodes: i32)` scenario as two tests: one node, three
/// nodes.
#[macro_export]
macro_rules! both {
    ($scenario:ident) => {
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn one_node() {
                super::$scenario(1).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn three_nodes() {
                super::$scenario(3).await;
            }
        }
    };
}

/// A client config for `broker` with short backoffs.
pub(crate) fn client_config(broker: &BrokerHandle) -> ClientConfig {
    ClientConfig::builder()
        .bootstrap_servers(broker.bootstrap_servers().split(','))
        .request_timeout(Duration::from_secs(5))
        .retry_backoff(Duration::from_millis(5), Duration::from_millis(50))
        .reconnect_backoff(Duration::from_millis(5), Duration::from_millis(50))
        .build()
        .unwrap()
}

/// A broker of `nodes` nodes and an admin client on it.
pub(crate) async fn start(nodes: i32) -> (BrokerHandle, Admin) {
    let broker = Broker::builder().nodes(nodes).start().await.unwrap();
    let admin = Admin::connect(client_config(&broker)).await.unwrap();
    (broker, admin)
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Appends one batch of records with the given timestamps to a partition,
/// through the client core (Produce to the leader, acks=all).
pub(crate) async fn produce(admin: &Admin, topic: &str, partition: i32, timestamps: &[i64]) {
    let client = admin.client();
    let mut builder = RecordBatchBuilder::new(Compression::None);
    for (i, ts) in timestamps.iter().enumerate() {
        builder
            .append(*ts, None, Some(format!("value-{i}").as_bytes()), &[])
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
    let target = Target::Leader {
        topic: topic.to_string(),
        partition,
    };
    let response = client
        .send_with_retry_checked(&request, &target, Duration::from_secs(15), |r| {
            r.responses
                .iter()
                .flat_map(|t| &t.partition_responses)
                .map(|p| p.error_code)
                .find(|c| *c != ErrorCode::None)
        })
        .await
        .unwrap();
    assert_eq!(
        response.responses[0].partition_responses[0].error_code,
        ErrorCode::None
    );
}

/// Waits until `condition` holds, failing the test after `within`.
pub(crate) async fn wait_until<F, Fut>(what: &str, within: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
