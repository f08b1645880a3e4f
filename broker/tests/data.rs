//! Produce, fetch, list offsets and idempotence against an in-process broker.

// Helpers outside #[test] functions may fail loudly too: a failure is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::*;
use ferrokafka_broker::Broker;
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use ferrokafka_protocol::generated::{
    FetchRequest, InitProducerIdRequest, InitProducerIdResponse, ListOffsetsRequest,
    ListOffsetsResponse, MetadataResponse, ProduceRequest,
};

#[tokio::test]
async fn metadata_auto_creates_topics_with_the_default_partition_count() {
    let broker = Broker::builder()
        .default_partitions(3)
        .start()
        .await
        .unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let response: MetadataResponse = client.send(12, &metadata_for(&["orders"])).await;
    let topic = &response.topics[0];
    assert_eq!(topic.error_code, ErrorCode::None);
    assert_eq!(topic.partitions.len(), 3);
    assert!(!topic.topic_id.is_zero());
    assert_eq!(response.brokers.len(), 1);
    // Not created when the request forbids it.
    let mut request = metadata_for(&["forbidden"]);
    request.allow_auto_topic_creation = false;
    let response: MetadataResponse = client.send(12, &request).await;
    assert_eq!(
        response.topics[0].error_code,
        ErrorCode::UnknownTopicOrPartition
    );
    // Null topics list every topic; v0's empty list too.
    let all: MetadataResponse = client
        .send(
            1,
            &ferrokafka_protocol::generated::MetadataRequest {
                topics: None,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(all.topics.len(), 1);
}

#[tokio::test]
async fn auto_creation_can_be_turned_off() {
    let broker = Broker::builder()
        .auto_create_topics(false)
        .start()
        .await
        .unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let response: MetadataResponse = client.send(12, &metadata_for(&["nope"])).await;
    assert_eq!(
        response.topics[0].error_code,
        ErrorCode::UnknownTopicOrPartition
    );
    assert_eq!(
        produce(&mut client, "nope", 0, batch(&["x"])).await.0,
        ErrorCode::UnknownTopicOrPartition
    );
}

#[tokio::test]
async fn produced_batches_come_back_byte_identical_but_for_offset_and_epoch() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let first = batch(&["a", "b", "c"]);
    let second = batch(&["d"]);
    assert_eq!(
        produce(&mut client, "round-trip", 0, first.clone()).await,
        (ErrorCode::None, 0)
    );
    assert_eq!(
        produce(&mut client, "round-trip", 0, second.clone()).await,
        (ErrorCode::None, 3)
    );
    let (error, high_watermark, records) = fetch(&mut client, "round-trip", 0, 0).await;
    assert_eq!((error, high_watermark), (ErrorCode::None, 4));
    assert_eq!(base_offsets(&records), vec![0, 3]);
    let views: Vec<_> = ferrokafka_protocol::records::RecordBatchViews::new(records)
        .map(Result::unwrap)
        .collect();
    assert_eq!(after_epoch(views[0].bytes()), after_epoch(&first));
    assert_eq!(after_epoch(views[1].bytes()), after_epoch(&second));
    views[0].verify_crc().unwrap();
    // A fetch from the middle of a batch returns the whole batch.
    let (_, _, records) = fetch(&mut client, "round-trip", 0, 1).await;
    assert_eq!(base_offsets(&records), vec![0, 3]);
    // At the end: nothing. Past the end: OFFSET_OUT_OF_RANGE.
    assert!(fetch(&mut client, "round-trip", 0, 4).await.2.is_empty());
    assert_eq!(
        fetch(&mut client, "round-trip", 0, 5).await.0,
        ErrorCode::OffsetOutOfRange
    );
}

#[tokio::test]
async fn fetch_returns_at_least_one_batch_and_respects_max_bytes() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let big = "x".repeat(2000);
    for _ in 0..3 {
        produce(&mut client, "limits", 0, batch(&[&big])).await;
    }
    let mut request = fetch_request("limits", 0, 0, 0, 0);
    request.topics[0].partitions[0].partition_max_bytes = 10;
    let response = client.send(FETCH_VERSION, &request).await;
    let records = response.responses[0].partitions[0].records.clone().unwrap();
    assert_eq!(
        base_offsets(&records),
        vec![0],
        "one whole batch despite the limit"
    );
    request.topics[0].partitions[0].partition_max_bytes = 5000;
    let response = client.send(FETCH_VERSION, &request).await;
    let records = response.responses[0].partitions[0].records.clone().unwrap();
    assert_eq!(base_offsets(&records), vec![0, 1]);
}

#[tokio::test]
async fn long_poll_fetch_is_woken_by_a_produce() {
    let broker = Broker::builder().start().await.unwrap();
    let mut consumer = TestClient::connect(broker.bootstrap_address()).await;
    let mut producer = TestClient::connect(broker.bootstrap_address()).await;
    produce(&mut producer, "wake", 0, batch(&["first"])).await;
    // Wait for data past offset 1 for as long as the protocol allows (about
    // 25 days): only the produce can end this long poll.
    let (frame, correlation_id) =
        consumer.frame(FETCH_VERSION, &fetch_request("wake", 0, 1, i32::MAX, 1));
    consumer.write(&frame).await;
    // The fetch is parked: the broker has not answered.
    let early = tokio::time::timeout(Duration::from_millis(50), consumer.read_frame()).await;
    assert!(early.is_err(), "fetch answered before any data arrived");
    produce(&mut producer, "wake", 0, batch(&["second"])).await;
    let response = tokio::time::timeout(
        Duration::from_secs(60),
        consumer.receive::<FetchRequest>(FETCH_VERSION, correlation_id),
    )
    .await
    .expect("the produce did not wake the long poll");
    let records = response.responses[0].partitions[0].records.clone().unwrap();
    assert_eq!(base_offsets(&records), vec![1]);
}

#[tokio::test]
async fn long_poll_fetch_times_out_empty() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    produce(&mut client, "quiet", 0, batch(&["a"])).await;
    let response = client
        .send(FETCH_VERSION, &fetch_request("quiet", 0, 1, 20, 1))
        .await;
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, ErrorCode::None);
    assert!(partition.records.as_ref().unwrap().is_empty());
}

#[tokio::test]
async fn fetch_sessions_are_declined_the_way_kafka_declines_them() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    produce(&mut client, "sessions", 0, batch(&["a"])).await;
    let mut request = fetch_request("sessions", 0, 0, 0, 0);
    request.session_epoch = 0;
    let response = client.send(FETCH_VERSION, &request).await;
    assert_eq!(
        (response.error_code, response.session_id),
        (ErrorCode::None, 0)
    );
    assert_eq!(
        base_offsets(
            response.responses[0].partitions[0]
                .records
                .as_ref()
                .unwrap()
        ),
        vec![0]
    );
    request.session_id = 77;
    request.session_epoch = 1;
    let response = client.send(FETCH_VERSION, &request).await;
    assert_eq!(response.error_code, ErrorCode::FetchSessionIdNotFound);
    request.session_id = 0;
    request.session_epoch = 3;
    let response = client.send(FETCH_VERSION, &request).await;
    assert_eq!(response.error_code, ErrorCode::InvalidFetchSessionEpoch);
}

#[tokio::test]
async fn fetch_by_topic_id_from_version_13() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    produce(&mut client, "by-id", 0, batch(&["a"])).await;
    let metadata: MetadataResponse = client.send(12, &metadata_for(&["by-id"])).await;
    let id = metadata.topics[0].topic_id;
    let mut request = fetch_request("", 0, 0, 0, 0);
    request.topics[0].topic_id = id;
    let response = client.send(17, &request).await;
    assert_eq!(response.responses[0].topic_id, id);
    assert_eq!(
        base_offsets(
            response.responses[0].partitions[0]
                .records
                .as_ref()
                .unwrap()
        ),
        vec![0]
    );
    request.topics[0].topic_id = ferrokafka_protocol::Uuid::from_u128(42);
    let response = client.send(17, &request).await;
    assert_eq!(
        response.responses[0].partitions[0].error_code,
        ErrorCode::UnknownTopicId
    );
}

#[tokio::test]
async fn acks_zero_gets_no_response_but_is_applied() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let (frame, _) = client.frame(
        PRODUCE_VERSION,
        &produce_request("fire", 0, batch(&["a"]), 0),
    );
    client.write(&frame).await;
    // The next response on the connection is the fetch's: the produce had none.
    let (error, high_watermark, _) = fetch(&mut client, "fire", 0, 0).await;
    assert_eq!((error, high_watermark), (ErrorCode::None, 1));
    // A failing acks=0 produce closes the connection, as in Kafka.
    let (frame, _) = client.frame(
        PRODUCE_VERSION,
        &produce_request("fire", 7, batch(&["a"]), 0),
    );
    client.write(&frame).await;
    assert!(client.is_closed().await);
}

#[tokio::test]
async fn corrupt_oversized_and_invalid_batches_are_refused() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let good = batch(&["a"]);
    let mut corrupt = good.to_vec();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    assert_eq!(
        produce(&mut client, "checks", 0, corrupt.into()).await.0,
        ErrorCode::CorruptMessage
    );
    let mut two = good.to_vec();
    two.extend_from_slice(&good);
    assert_eq!(
        produce(&mut client, "checks", 0, two.into()).await.0,
        ErrorCode::InvalidRecord
    );
    let response = client
        .send(
            PRODUCE_VERSION,
            &produce_request("checks", 0, good.clone(), 5),
        )
        .await;
    assert_eq!(
        response.responses[0].partition_responses[0].error_code,
        ErrorCode::InvalidRequiredAcks
    );
    // max.message.bytes is enforced.
    let create = ferrokafka_protocol::generated::CreateTopicsRequest {
        topics: vec![
            ferrokafka_protocol::generated::create_topics_request::CreatableTopic {
                name: "small".into(),
                num_partitions: 1,
                replication_factor: 1,
                configs: vec![
                    ferrokafka_protocol::generated::create_topics_request::CreatableTopicConfig {
                        name: "max.message.bytes".into(),
                        value: Some("100".into()),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            },
        ],
        timeout_ms: 1000,
        ..Default::default()
    };
    let created = client.send(7, &create).await;
    assert_eq!(created.topics[0].error_code, ErrorCode::None);
    let big = "y".repeat(200);
    assert_eq!(
        produce(&mut client, "small", 0, batch(&[&big])).await.0,
        ErrorCode::MessageTooLarge
    );
    assert_eq!(
        produce(&mut client, "checks", 0, good).await,
        (ErrorCode::None, 0)
    );
}

#[tokio::test]
async fn log_append_time_topics_stamp_batches() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let create = ferrokafka_protocol::generated::CreateTopicsRequest {
        topics: vec![
            ferrokafka_protocol::generated::create_topics_request::CreatableTopic {
                name: "stamped".into(),
                num_partitions: 1,
                replication_factor: 1,
                configs: vec![
                    ferrokafka_protocol::generated::create_topics_request::CreatableTopicConfig {
                        name: "message.timestamp.type".into(),
                        value: Some("LogAppendTime".into()),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    client.send(7, &create).await;
    let created_at = now_ms() - 1_000;
    let before = now_ms();
    let response = client
        .send(
            PRODUCE_VERSION,
            &produce_request("stamped", 0, batch_with(&["a"], None, created_at), -1),
        )
        .await;
    let after = now_ms();
    // The broker's clock (the same system clock) at the append, not the
    // producer's timestamp a second earlier.
    let appended_at = response.responses[0].partition_responses[0].log_append_time_ms;
    assert!(
        (before..=after).contains(&appended_at),
        "{appended_at} not in {before}..={after}"
    );
    let (_, _, records) = fetch(&mut client, "stamped", 0, 0).await;
    let view = ferrokafka_protocol::records::RecordBatchView::new(records).unwrap();
    view.verify_crc().unwrap();
    assert_eq!(view.header().max_timestamp, appended_at);
    assert_eq!(
        view.header().timestamp_type(),
        ferrokafka_protocol::records::TimestampType::LogAppendTime
    );
}

fn list_offsets(topic: &str, timestamp: i64) -> ListOffsetsRequest {
    ListOffsetsRequest {
        replica_id: -1,
        topics: vec![ListOffsetsTopic {
            name: topic.into(),
            partitions: vec![ListOffsetsPartition {
                partition_index: 0,
                timestamp,
                current_leader_epoch: -1,
                max_num_offsets: 1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn list_offsets_earliest_latest_by_timestamp_and_max_timestamp() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let base = now_ms() - 10_000;
    produce(
        &mut client,
        "times",
        0,
        batch_with(&["a", "b"], None, base + 1_000),
    )
    .await;
    produce(
        &mut client,
        "times",
        0,
        batch_with(&["c"], None, base + 3_000),
    )
    .await;
    produce(
        &mut client,
        "times",
        0,
        batch_with(&["d"], None, base + 2_000),
    )
    .await;
    let mut ask = async |timestamp: i64| {
        let response: ListOffsetsResponse = client.send(8, &list_offsets("times", timestamp)).await;
        let p = response.topics[0].partitions[0].clone();
        (p.error_code, p.offset, p.timestamp)
    };
    assert_eq!(ask(-2).await, (ErrorCode::None, 0, -1));
    assert_eq!(ask(-1).await, (ErrorCode::None, 4, -1));
    assert_eq!(ask(base + 2_500).await, (ErrorCode::None, 2, base + 3_000));
    assert_eq!(ask(base + 1_000).await, (ErrorCode::None, 0, base + 1_000));
    assert_eq!(ask(base + 9_000).await, (ErrorCode::None, -1, -1));
    assert_eq!(ask(-3).await, (ErrorCode::None, 2, base + 3_000));
    // v0 answers in old-style offsets.
    let response: ListOffsetsResponse = client.send(0, &list_offsets("times", -1)).await;
    assert_eq!(response.topics[0].partitions[0].old_style_offsets, vec![4]);
    let response: ListOffsetsResponse = client.send(8, &list_offsets("missing", -1)).await;
    assert_eq!(
        response.topics[0].partitions[0].error_code,
        ErrorCode::UnknownTopicOrPartition
    );
}

#[tokio::test]
async fn idempotent_producer_duplicates_gaps_and_fencing() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let ids: InitProducerIdResponse = client
        .send(
            4,
            &InitProducerIdRequest {
                transactional_id: None,
                transaction_timeout_ms: 60_000,
                producer_id: -1,
                producer_epoch: -1,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(ids.error_code, ErrorCode::None);
    let (id, epoch) = (ids.producer_id, ids.producer_epoch);
    let first = batch_with(&["a", "b"], Some((id, epoch, 0)), now_ms());
    assert_eq!(
        produce(&mut client, "idem", 0, first.clone()).await,
        (ErrorCode::None, 0)
    );
    assert_eq!(
        produce(
            &mut client,
            "idem",
            0,
            batch_with(&["c"], Some((id, epoch, 2)), now_ms())
        )
        .await,
        (ErrorCode::None, 2)
    );
    // A retry of the first batch: success with its original offset, no append.
    assert_eq!(
        produce(&mut client, "idem", 0, first).await,
        (ErrorCode::None, 0)
    );
    assert_eq!(fetch(&mut client, "idem", 0, 0).await.1, 3);
    // A gap.
    let gap = produce(
        &mut client,
        "idem",
        0,
        batch_with(&["x"], Some((id, epoch, 9)), now_ms()),
    )
    .await;
    assert_eq!(gap.0, ErrorCode::OutOfOrderSequenceNumber);
    // Bump the epoch (KIP-360); the old epoch is then fenced.
    let bumped: InitProducerIdResponse = client
        .send(
            4,
            &InitProducerIdRequest {
                transactional_id: None,
                transaction_timeout_ms: 60_000,
                producer_id: id,
                producer_epoch: epoch,
                ..Default::default()
            },
        )
        .await;
    assert_eq!((bumped.producer_id, bumped.producer_epoch), (id, epoch + 1));
    assert_eq!(
        produce(
            &mut client,
            "idem",
            0,
            batch_with(&["n"], Some((id, epoch + 1, 0)), now_ms())
        )
        .await,
        (ErrorCode::None, 3)
    );
    let old = produce(
        &mut client,
        "idem",
        0,
        batch_with(&["o"], Some((id, epoch, 3)), now_ms()),
    )
    .await;
    assert_eq!(old.0, ErrorCode::InvalidProducerEpoch);
    assert_eq!(fetch(&mut client, "idem", 0, 0).await.1, 4);
    // The handle sees the same log.
    assert_eq!(broker.offsets("idem", 0), Some((0, 4)));
    assert_eq!(broker.batches("idem", 0).unwrap().len(), 3);
    assert_eq!(broker.batches("idem", 9), None);
}

#[tokio::test]
async fn legacy_produce_versions_are_accepted_with_v2_batches() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    for version in [0i16, 2, 3, 11] {
        let response = client
            .send(version, &produce_request("versions", 0, batch(&["v"]), 1))
            .await;
        assert_eq!(
            response.responses[0].partition_responses[0].error_code,
            ErrorCode::None,
            "v{version}"
        );
    }
    let _unused: Option<ProduceRequest> = None;
}
