//! Connection-level behaviour: ApiVersions, unsupported versions, malformed
//! input, pipelining, shutdown.

// Helpers outside #[test] functions may fail loudly too: a failure is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use bytes::BufMut;
use common::*;
use ferrokafka_broker::Broker;
use ferrokafka_broker::apis::SUPPORTED_APIS;
use ferrokafka_protocol::generated::{ApiVersionsRequest, ApiVersionsResponse, MetadataRequest};
use ferrokafka_protocol::{ApiKey, ErrorCode};

#[tokio::test]
async fn api_versions_lists_the_table_at_every_version() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    for version in 0..=4 {
        let response: ApiVersionsResponse = client
            .send(
                version,
                &ApiVersionsRequest {
                    client_software_name: "tests".into(),
                    client_software_version: "1".into(),
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(response.error_code, ErrorCode::None);
        assert_eq!(response.api_keys.len(), SUPPORTED_APIS.len());
        let produce = response.api_keys.iter().find(|k| k.api_key == 0).unwrap();
        assert_eq!(
            produce.min_version, 0,
            "librdkafka needs Produce v0-2 listed"
        );
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn api_versions_at_an_unknown_version_gets_a_v0_answer() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    // A v99 request: header v2 (flexible), an empty body the broker cannot
    // parse anyway.
    let mut frame = bytes::BytesMut::new();
    let payload = [0u8, 18, 0, 99, 0, 0, 0, 42, 0xff, 0xff, 0, 0, 0];
    frame.put_i32(payload.len() as i32);
    frame.put_slice(&payload);
    client.write(&frame).await;
    let response = client.receive::<ApiVersionsRequest>(0, 42).await;
    assert_eq!(response.error_code, ErrorCode::UnsupportedVersion);
    assert!(
        response
            .api_keys
            .iter()
            .any(|k| k.api_key == 18 && k.max_version == 4)
    );
}

#[tokio::test]
async fn unknown_api_or_version_closes_only_that_connection() {
    let broker = Broker::builder().start().await.unwrap();
    let mut healthy = TestClient::connect(broker.bootstrap_address()).await;
    for payload in [
        // Unknown API key 999.
        vec![0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0xff, 0xff],
        // Metadata v99.
        vec![0, 3, 0, 99, 0, 0, 0, 1, 0xff, 0xff],
        // EndTxn: known to the protocol, not served.
        vec![0, 26, 0, 0, 0, 0, 0, 1, 0xff, 0xff],
    ] {
        let mut client = TestClient::connect(broker.bootstrap_address()).await;
        let mut frame = bytes::BytesMut::new();
        frame.put_i32(payload.len() as i32);
        frame.put_slice(&payload);
        client.write(&frame).await;
        assert!(client.is_closed().await);
    }
    let response = healthy.send(1, &MetadataRequest::default()).await;
    assert_eq!(response.brokers.len(), 1);
}

#[tokio::test]
async fn malformed_frames_never_crash_the_broker() {
    let broker = Broker::builder()
        .max_frame_size(1024 * 1024)
        .start()
        .await
        .unwrap();
    let mut healthy = TestClient::connect(broker.bootstrap_address()).await;
    let garbage: Vec<Vec<u8>> = vec![
        // HTTP, not Kafka: the "size" is 0x47455420, far over the limit.
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        // Negative size.
        vec![0xff, 0xff, 0xff, 0xfe, 1, 2, 3],
        // Size just over the limit.
        (1024i32 * 1024 + 1).to_be_bytes().to_vec(),
        // A Metadata v9 request truncated mid-field.
        vec![0, 0, 0, 9, 0, 3, 0, 9, 0, 0, 0, 1, 0x00],
        // A frame too short for a header.
        vec![0, 0, 0, 2, 0, 3],
        // A Produce v9 request whose topic array claims 2^31 entries.
        vec![
            0, 0, 0, 16, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f,
        ],
    ];
    for bytes in garbage {
        let mut client = TestClient::connect(broker.bootstrap_address()).await;
        client.write(&bytes).await;
        assert!(
            client.is_closed().await,
            "connection left open after {bytes:?}"
        );
    }
    // The other connection is unaffected and the broker still accepts new ones.
    let response = healthy.send(4, &metadata_for(&["still-fine"])).await;
    assert_eq!(response.topics[0].error_code, ErrorCode::None);
    let mut fresh = TestClient::connect(broker.bootstrap_address()).await;
    let response = fresh.send(0, &ApiVersionsRequest::default()).await;
    assert_eq!(response.error_code, ErrorCode::None);
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let mut all = bytes::BytesMut::new();
    let mut expected = Vec::new();
    for i in 0..20 {
        let (frame, correlation_id) = if i % 2 == 0 {
            let (f, c) = client.frame(3, &ApiVersionsRequest::default());
            (f, (c, ApiKey::ApiVersions))
        } else {
            let (f, c) = client.frame(
                9,
                &produce_request("pipelined", 0, batch(&[&format!("v{i}")]), -1),
            );
            (f, (c, ApiKey::Produce))
        };
        all.extend_from_slice(&frame);
        expected.push(correlation_id);
    }
    // One write carrying all twenty requests.
    client.write(&all).await;
    let mut next_offset = 0;
    for (correlation_id, api) in expected {
        if api == ApiKey::ApiVersions {
            let response = client
                .receive::<ApiVersionsRequest>(3, correlation_id)
                .await;
            assert_eq!(response.error_code, ErrorCode::None);
        } else {
            let response = client
                .receive::<ferrokafka_protocol::generated::ProduceRequest>(9, correlation_id)
                .await;
            let partition = &response.responses[0].partition_responses[0];
            assert_eq!(partition.error_code, ErrorCode::None);
            assert_eq!(
                partition.base_offset, next_offset,
                "appends applied in order"
            );
            next_offset += 1;
        }
    }
}

#[tokio::test]
async fn many_brokers_run_in_one_process_and_shut_down() {
    let first = Broker::builder().start().await.unwrap();
    let second = Broker::builder().nodes(2).start().await.unwrap();
    assert_ne!(first.bootstrap_address(), second.bootstrap_address());
    assert_eq!(second.addresses().len(), 2);
    let mut client = TestClient::connect(first.bootstrap_address()).await;
    let address = first.bootstrap_address();
    first.shutdown().await;
    assert!(client.is_closed().await);
    let refused = tokio::net::TcpStream::connect(address).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    // Dropping stops the broker too.
    let address = second.bootstrap_address();
    drop(second);
    // The drop stops it in the background: poll until nothing listens
    // there (refused; a reset or an accepted connection is a listener
    // still closing).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        match tokio::net::TcpStream::connect(&address).await {
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => break,
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "listener not released after drop: {other:?}"
            ),
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn shutdown_answers_a_pending_long_poll_and_completes() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    produce(&mut client, "parked", 0, batch(&["a"])).await;
    let (frame, correlation_id) =
        client.frame(FETCH_VERSION, &fetch_request("parked", 0, 1, 60_000, 1));
    client.write(&frame).await;
    // The fetch is parked until data arrives or the broker stops.
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(20), client.read_frame())
            .await
            .is_err()
    );
    let shutdown = tokio::spawn(broker.shutdown());
    let response = client
        .receive::<ferrokafka_protocol::generated::FetchRequest>(FETCH_VERSION, correlation_id)
        .await;
    assert!(
        response.responses[0].partitions[0]
            .records
            .as_ref()
            .unwrap()
            .is_empty()
    );
    shutdown.await.unwrap();
    assert!(client.is_closed().await);
}

#[tokio::test]
async fn concurrent_producers_get_distinct_offsets() {
    let broker = Broker::builder().start().await.unwrap();
    let address = broker.bootstrap_address();
    let mut tasks = Vec::new();
    for producer in 0..4 {
        let address = address.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = TestClient::connect(address).await;
            let mut offsets = Vec::new();
            for i in 0..50 {
                let (error, offset) = produce(
                    &mut client,
                    "shared",
                    0,
                    batch(&[&format!("{producer}-{i}")]),
                )
                .await;
                assert_eq!(error, ErrorCode::None);
                offsets.push(offset);
            }
            offsets
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (0..200).collect::<Vec<i64>>());
}
