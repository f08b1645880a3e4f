//! Transactions (KIP-98) against the in-process broker: the coordinator
//! APIs, markers, the last stable offset, READ_COMMITTED fetches and list
//! offsets, transactional offset commits, fencing and timeouts.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use ferrokafka_broker::Broker;
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::compression::Compression;
use ferrokafka_protocol::generated::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use ferrokafka_protocol::generated::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use ferrokafka_protocol::generated::offset_fetch_request::OffsetFetchRequestTopic;
use ferrokafka_protocol::generated::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use ferrokafka_protocol::generated::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnRequest,
    AddPartitionsToTxnResponse, EndTxnRequest, EndTxnResponse, FetchRequest, FetchResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse,
    ListOffsetsRequest, ListOffsetsResponse, OffsetFetchRequest, OffsetFetchResponse,
    TxnOffsetCommitRequest, TxnOffsetCommitResponse,
};
use ferrokafka_protocol::records::{
    ControlRecordKind, DecodeOptions, RecordBatchBuilder, RecordBatchViews, decode_all,
};

const TOPIC: &str = "txn-topic";

async fn start() -> (ferrokafka_broker::BrokerHandle, TestClient) {
    let broker = Broker::builder().start().await.unwrap();
    broker.create_topic(TOPIC, 2).unwrap();
    let client = TestClient::connect(broker.bootstrap_address()).await;
    (broker, client)
}

async fn init(client: &mut TestClient, id: &str, timeout_ms: i32) -> (i64, i16) {
    let response: InitProducerIdResponse = client
        .send(
            4,
            &InitProducerIdRequest {
                transactional_id: Some(id.into()),
                transaction_timeout_ms: timeout_ms,
                producer_id: -1,
                producer_epoch: -1,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(response.error_code, ErrorCode::None);
    (response.producer_id, response.producer_epoch)
}

async fn add_partition(
    client: &mut TestClient,
    id: &str,
    (producer_id, producer_epoch): (i64, i16),
    partition: i32,
) -> ErrorCode {
    let response: AddPartitionsToTxnResponse = client
        .send(
            3,
            &AddPartitionsToTxnRequest {
                v3_and_below_transactional_id: id.into(),
                v3_and_below_producer_id: producer_id,
                v3_and_below_producer_epoch: producer_epoch,
                v3_and_below_topics: vec![AddPartitionsToTxnTopic {
                    name: TOPIC.into(),
                    partitions: vec![partition],
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .await;
    response.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
}

async fn end_txn(
    client: &mut TestClient,
    version: i16,
    id: &str,
    (producer_id, producer_epoch): (i64, i16),
    committed: bool,
) -> ErrorCode {
    let response: EndTxnResponse = client
        .send(
            version,
            &EndTxnRequest {
                transactional_id: id.into(),
                producer_id,
                producer_epoch,
                committed,
                ..Default::default()
            },
        )
        .await;
    response.error_code
}

fn txn_batch(values: &[&str], (producer_id, producer_epoch): (i64, i16), sequence: i32) -> Bytes {
    let mut builder = RecordBatchBuilder::new(Compression::None);
    builder
        .set_transactional(true)
        .set_producer_state(producer_id, producer_epoch, sequence);
    for value in values {
        builder
            .append(now_ms(), None, Some(value.as_bytes()), &[])
            .unwrap();
    }
    builder.build().unwrap()
}

struct Fetched {
    error: ErrorCode,
    high_watermark: i64,
    last_stable_offset: i64,
    aborted: Option<Vec<(i64, i64)>>,
    records: Bytes,
}

async fn fetch_isolated(
    client: &mut TestClient,
    partition: i32,
    offset: i64,
    read_committed: bool,
) -> Fetched {
    let mut request = fetch_request(TOPIC, partition, offset, 0, 0);
    request.isolation_level = i8::from(read_committed);
    let response: FetchResponse = client.send(FETCH_VERSION, &request).await;
    let data = &response.responses[0].partitions[0];
    Fetched {
        error: data.error_code,
        high_watermark: data.high_watermark,
        last_stable_offset: data.last_stable_offset,
        aborted: data.aborted_transactions.as_ref().map(|list| {
            list.iter()
                .map(|txn| (txn.producer_id, txn.first_offset))
                .collect()
        }),
        records: data.records.clone().unwrap_or_default(),
    }
}

async fn latest(client: &mut TestClient, partition: i32, read_committed: bool) -> i64 {
    let response: ListOffsetsResponse = client
        .send(
            5,
            &ListOffsetsRequest {
                replica_id: -1,
                isolation_level: i8::from(read_committed),
                topics: vec![ListOffsetsTopic {
                    name: TOPIC.into(),
                    partitions: vec![ListOffsetsPartition {
                        partition_index: partition,
                        timestamp: -1,
                        current_leader_epoch: -1,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .await;
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, ErrorCode::None);
    partition.offset
}

/// (value or control kind, offset) of every record in `records`.
fn contents(records: &Bytes) -> Vec<(String, i64)> {
    decode_all(records.clone(), &DecodeOptions::default())
        .unwrap()
        .into_iter()
        .flat_map(|batch| {
            let control = batch.control_record().map(|record| record.unwrap().kind);
            batch
                .records
                .iter()
                .map(|record| {
                    let text = match control {
                        Some(ControlRecordKind::Commit) => "COMMIT".to_owned(),
                        Some(ControlRecordKind::Abort) => "ABORT".to_owned(),
                        Some(other) => format!("{other:?}"),
                        None => String::from_utf8(record.value.clone().unwrap().to_vec()).unwrap(),
                    };
                    (text, record.offset)
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn find_coordinator_answers_transaction_keys() {
    let broker = Broker::builder().nodes(3).start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let response: FindCoordinatorResponse = client
        .send(
            4,
            &FindCoordinatorRequest {
                key_type: 1,
                coordinator_keys: vec!["a".into(), "b".into()],
                ..Default::default()
            },
        )
        .await;
    assert_eq!(response.coordinators.len(), 2);
    for coordinator in &response.coordinators {
        assert_eq!(coordinator.error_code, ErrorCode::None);
        assert!(coordinator.node_id >= 0);
    }
    let response: FindCoordinatorResponse = client
        .send(
            3,
            &FindCoordinatorRequest {
                key: "a".into(),
                key_type: 1,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(response.error_code, ErrorCode::None);
    assert_eq!(response.node_id, 0);
}

#[tokio::test]
async fn commit_makes_records_visible_to_read_committed() {
    let (_broker, mut client) = start().await;
    let producer = init(&mut client, "commit", 60_000).await;
    assert_eq!(
        add_partition(&mut client, "commit", producer, 0).await,
        ErrorCode::None
    );
    let (code, base) = produce(&mut client, TOPIC, 0, txn_batch(&["a", "b"], producer, 0)).await;
    assert_eq!((code, base), (ErrorCode::None, 0));

    let open = fetch_isolated(&mut client, 0, 0, true).await;
    assert_eq!(open.error, ErrorCode::None);
    assert_eq!((open.high_watermark, open.last_stable_offset), (2, 0));
    assert!(open.records.is_empty());
    assert_eq!(open.aborted, Some(vec![]));
    assert_eq!(latest(&mut client, 0, true).await, 0);
    assert_eq!(latest(&mut client, 0, false).await, 2);
    let uncommitted = fetch_isolated(&mut client, 0, 0, false).await;
    assert_eq!(uncommitted.last_stable_offset, 0);
    assert_eq!(uncommitted.aborted, None);
    assert_eq!(contents(&uncommitted.records).len(), 2);

    assert_eq!(
        end_txn(&mut client, 3, "commit", producer, true).await,
        ErrorCode::None
    );
    // Retrying the same EndTxn is fine; the opposite outcome is not.
    assert_eq!(
        end_txn(&mut client, 3, "commit", producer, true).await,
        ErrorCode::None
    );
    assert_eq!(
        end_txn(&mut client, 3, "commit", producer, false).await,
        ErrorCode::InvalidTxnState
    );
    let committed = fetch_isolated(&mut client, 0, 0, true).await;
    assert_eq!(
        (committed.high_watermark, committed.last_stable_offset),
        (3, 3)
    );
    assert_eq!(committed.aborted, Some(vec![]));
    assert_eq!(
        contents(&committed.records),
        vec![("a".into(), 0), ("b".into(), 1), ("COMMIT".into(), 2)]
    );
    // The marker is a transactional control batch of the producer.
    let marker = RecordBatchViews::new(committed.records.clone())
        .map(|view| *view.unwrap().header())
        .last()
        .unwrap();
    assert!(marker.is_control() && marker.is_transactional());
    assert_eq!((marker.producer_id, marker.producer_epoch), producer);
    assert_eq!(latest(&mut client, 0, true).await, 3);

    // The next transaction continues the sequence in the same epoch.
    assert_eq!(
        add_partition(&mut client, "commit", producer, 0).await,
        ErrorCode::None
    );
    let (code, base) = produce(&mut client, TOPIC, 0, txn_batch(&["c"], producer, 2)).await;
    assert_eq!((code, base), (ErrorCode::None, 3));
    assert_eq!(latest(&mut client, 0, true).await, 3);
}

#[tokio::test]
async fn abort_hides_records_and_lists_the_aborted_transaction() {
    let (_broker, mut client) = start().await;
    assert_eq!(
        produce(&mut client, TOPIC, 1, batch(&["plain"])).await.0,
        ErrorCode::None
    );
    let producer = init(&mut client, "abort", 60_000).await;
    assert_eq!(
        add_partition(&mut client, "abort", producer, 1).await,
        ErrorCode::None
    );
    let (code, base) = produce(&mut client, TOPIC, 1, txn_batch(&["x", "y"], producer, 0)).await;
    assert_eq!((code, base), (ErrorCode::None, 1));
    assert_eq!(
        end_txn(&mut client, 3, "abort", producer, false).await,
        ErrorCode::None
    );
    assert_eq!(
        produce(&mut client, TOPIC, 1, batch(&["after"])).await.0,
        ErrorCode::None
    );

    let fetched = fetch_isolated(&mut client, 1, 0, true).await;
    assert_eq!((fetched.high_watermark, fetched.last_stable_offset), (5, 5));
    assert_eq!(fetched.aborted, Some(vec![(producer.0, 1)]));
    assert_eq!(
        contents(&fetched.records),
        vec![
            ("plain".into(), 0),
            ("x".into(), 1),
            ("y".into(), 2),
            ("ABORT".into(), 3),
            ("after".into(), 4)
        ]
    );
    // Past the marker, nothing aborted overlaps.
    let later = fetch_isolated(&mut client, 1, 4, true).await;
    assert_eq!(later.aborted, Some(vec![]));
    // Aborting again is a retry; committing now is not allowed.
    assert_eq!(
        end_txn(&mut client, 3, "abort", producer, false).await,
        ErrorCode::None
    );
    assert_eq!(
        end_txn(&mut client, 3, "abort", producer, true).await,
        ErrorCode::InvalidTxnState
    );
}

#[tokio::test]
async fn the_last_stable_offset_stops_at_an_open_transaction() {
    let (_broker, mut client) = start().await;
    assert_eq!(
        produce(&mut client, TOPIC, 0, batch(&["p0"])).await.0,
        ErrorCode::None
    );
    let producer = init(&mut client, "open", 60_000).await;
    add_partition(&mut client, "open", producer, 0).await;
    produce(&mut client, TOPIC, 0, txn_batch(&["t1"], producer, 0)).await;
    assert_eq!(
        produce(&mut client, TOPIC, 0, batch(&["p2"])).await.0,
        ErrorCode::None
    );

    let fetched = fetch_isolated(&mut client, 0, 0, true).await;
    assert_eq!((fetched.high_watermark, fetched.last_stable_offset), (3, 1));
    assert_eq!(contents(&fetched.records), vec![("p0".into(), 0)]);
    let all = fetch_isolated(&mut client, 0, 0, false).await;
    assert_eq!(all.last_stable_offset, 1);
    assert_eq!(contents(&all.records).len(), 3);
    assert_eq!(latest(&mut client, 0, true).await, 1);

    // A READ_COMMITTED long poll returns once the commit moves the LSO.
    let mut waiter = TestClient::connect(_broker.bootstrap_address()).await;
    // It waits as long as the protocol allows (about 25 days): only the
    // commit can end it.
    let mut request = fetch_request(TOPIC, 0, 1, i32::MAX, 1);
    request.isolation_level = 1;
    let (frame, correlation_id) = waiter.frame(FETCH_VERSION, &request);
    waiter.write(&frame).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(50), waiter.read_frame())
            .await
            .is_err(),
        "a READ_COMMITTED fetch answered before the commit"
    );
    assert_eq!(
        end_txn(&mut client, 3, "open", producer, true).await,
        ErrorCode::None
    );
    let response = tokio::time::timeout(
        Duration::from_secs(60),
        waiter.receive::<FetchRequest>(FETCH_VERSION, correlation_id),
    )
    .await
    .expect("the commit did not wake the long poll");
    let data = response.responses[0].partitions[0].clone();
    assert_eq!(data.last_stable_offset, 4);
    assert_eq!(
        contents(&data.records.unwrap()),
        vec![("t1".into(), 1), ("p2".into(), 2), ("COMMIT".into(), 3)]
    );
}

async fn txn_offset_commit(
    client: &mut TestClient,
    id: &str,
    group: &str,
    (producer_id, producer_epoch): (i64, i16),
    offset: i64,
) -> ErrorCode {
    let response: TxnOffsetCommitResponse = client
        .send(
            3,
            &TxnOffsetCommitRequest {
                transactional_id: id.into(),
                group_id: group.into(),
                producer_id,
                producer_epoch,
                generation_id: -1,
                member_id: String::new(),
                group_instance_id: None,
                topics: vec![TxnOffsetCommitRequestTopic {
                    name: TOPIC.into(),
                    partitions: vec![TxnOffsetCommitRequestPartition {
                        partition_index: 0,
                        committed_offset: offset,
                        committed_leader_epoch: -1,
                        committed_metadata: Some("m".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .await;
    response.topics[0].partitions[0].error_code
}

async fn add_offsets(
    client: &mut TestClient,
    id: &str,
    group: &str,
    (producer_id, producer_epoch): (i64, i16),
) -> ErrorCode {
    let response: AddOffsetsToTxnResponse = client
        .send(
            3,
            &AddOffsetsToTxnRequest {
                transactional_id: id.into(),
                producer_id,
                producer_epoch,
                group_id: group.into(),
                ..Default::default()
            },
        )
        .await;
    response.error_code
}

async fn committed_offset(client: &mut TestClient, group: &str) -> i64 {
    let (code, offset) = fetch_offset(client, group, false).await;
    assert_eq!(code, ErrorCode::None);
    offset
}

async fn fetch_offset(
    client: &mut TestClient,
    group: &str,
    require_stable: bool,
) -> (ErrorCode, i64) {
    let response: OffsetFetchResponse = client
        .send(
            7,
            &OffsetFetchRequest {
                group_id: group.into(),
                require_stable,
                topics: Some(vec![OffsetFetchRequestTopic {
                    name: TOPIC.into(),
                    partition_indexes: vec![0],
                    ..Default::default()
                }]),
                ..Default::default()
            },
        )
        .await;
    let partition = &response.topics[0].partitions[0];
    (partition.error_code, partition.committed_offset)
}

#[tokio::test]
async fn txn_offset_commit_is_applied_on_commit_only() {
    let (_broker, mut client) = start().await;
    let producer = init(&mut client, "offsets", 60_000).await;
    // Without AddOffsetsToTxn the group is not part of a transaction.
    assert_eq!(
        txn_offset_commit(&mut client, "offsets", "g", producer, 1).await,
        ErrorCode::InvalidTxnState
    );
    assert_eq!(
        add_offsets(&mut client, "offsets", "g", producer).await,
        ErrorCode::None
    );
    assert_eq!(
        txn_offset_commit(&mut client, "offsets", "g", producer, 5).await,
        ErrorCode::None
    );
    assert_eq!(committed_offset(&mut client, "g").await, -1);
    assert_eq!(
        end_txn(&mut client, 3, "offsets", producer, true).await,
        ErrorCode::None
    );
    assert_eq!(committed_offset(&mut client, "g").await, 5);

    assert_eq!(
        add_offsets(&mut client, "offsets", "g", producer).await,
        ErrorCode::None
    );
    assert_eq!(
        txn_offset_commit(&mut client, "offsets", "g", producer, 9).await,
        ErrorCode::None
    );
    assert_eq!(
        end_txn(&mut client, 3, "offsets", producer, false).await,
        ErrorCode::None
    );
    assert_eq!(committed_offset(&mut client, "g").await, 5);

    // A stale epoch or a foreign producer id is refused.
    assert_eq!(
        txn_offset_commit(&mut client, "offsets", "g", (producer.0, producer.1 + 1), 7).await,
        ErrorCode::InvalidProducerEpoch
    );
    assert_eq!(
        txn_offset_commit(
            &mut client,
            "offsets",
            "g",
            (producer.0 + 100, producer.1),
            7
        )
        .await,
        ErrorCode::InvalidProducerIdMapping
    );
}

#[tokio::test]
async fn a_new_instance_fences_the_old_one_and_aborts_its_transaction() {
    let (_broker, mut client) = start().await;
    let old = init(&mut client, "fenced", 60_000).await;
    add_partition(&mut client, "fenced", old, 0).await;
    produce(&mut client, TOPIC, 0, txn_batch(&["zombie"], old, 0)).await;
    assert_eq!(latest(&mut client, 0, true).await, 0);

    let new = init(&mut client, "fenced", 60_000).await;
    assert_eq!(new, (old.0, old.1 + 1));
    // The open transaction was aborted with the new epoch.
    let fetched = fetch_isolated(&mut client, 0, 0, true).await;
    assert_eq!((fetched.high_watermark, fetched.last_stable_offset), (2, 2));
    assert_eq!(fetched.aborted, Some(vec![(old.0, 0)]));

    assert_eq!(
        add_partition(&mut client, "fenced", old, 0).await,
        ErrorCode::ProducerFenced
    );
    assert_eq!(
        end_txn(&mut client, 3, "fenced", old, true).await,
        ErrorCode::ProducerFenced
    );
    assert_eq!(
        end_txn(&mut client, 1, "fenced", old, true).await,
        ErrorCode::InvalidProducerEpoch
    );
    assert_eq!(
        produce(&mut client, TOPIC, 0, txn_batch(&["late"], old, 1))
            .await
            .0,
        ErrorCode::InvalidProducerEpoch
    );
    // The new instance works; its KIP-360 re-init with the old pair is fenced.
    assert_eq!(
        add_partition(&mut client, "fenced", new, 0).await,
        ErrorCode::None
    );
    assert_eq!(
        produce(&mut client, TOPIC, 0, txn_batch(&["new"], new, 0))
            .await
            .0,
        ErrorCode::None
    );
    let response: InitProducerIdResponse = client
        .send(
            4,
            &InitProducerIdRequest {
                transactional_id: Some("fenced".into()),
                transaction_timeout_ms: 60_000,
                producer_id: old.0,
                producer_epoch: old.1,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(response.error_code, ErrorCode::ProducerFenced);
}

#[tokio::test]
async fn transactions_past_their_timeout_are_aborted() {
    let (_broker, mut client) = start().await;
    let producer = init(&mut client, "slow", 300).await;
    add_partition(&mut client, "slow", producer, 1).await;
    produce(&mut client, TOPIC, 1, txn_batch(&["late"], producer, 0)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    // The tick aborts it without any further transactional request.
    while latest(&mut client, 1, true).await != 2 {
        assert!(tokio::time::Instant::now() < deadline, "never aborted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let fetched = fetch_isolated(&mut client, 1, 0, true).await;
    assert_eq!(fetched.aborted, Some(vec![(producer.0, 0)]));
    assert_eq!(
        end_txn(&mut client, 3, "slow", producer, true).await,
        ErrorCode::ProducerFenced
    );
    assert_eq!(
        produce(&mut client, TOPIC, 1, txn_batch(&["more"], producer, 1))
            .await
            .0,
        ErrorCode::InvalidProducerEpoch
    );
}

#[tokio::test]
async fn coordinator_errors_follow_kafka() {
    let (_broker, mut client) = start().await;
    let response: InitProducerIdResponse = client
        .send(
            4,
            &InitProducerIdRequest {
                transactional_id: Some("too-long".into()),
                transaction_timeout_ms: 900_001,
                producer_id: -1,
                producer_epoch: -1,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(response.error_code, ErrorCode::InvalidTransactionTimeout);

    let producer = init(&mut client, "errors", 60_000).await;
    // Nothing begun: EndTxn is INVALID_TXN_STATE.
    assert_eq!(
        end_txn(&mut client, 3, "errors", producer, true).await,
        ErrorCode::InvalidTxnState
    );
    assert_eq!(
        end_txn(&mut client, 3, "unknown", producer, true).await,
        ErrorCode::InvalidProducerIdMapping
    );
    assert_eq!(
        add_partition(&mut client, "errors", (producer.0 + 1, producer.1), 0).await,
        ErrorCode::InvalidProducerIdMapping
    );
    // A transactional batch for a partition not in the transaction.
    assert_eq!(
        produce(&mut client, TOPIC, 0, txn_batch(&["x"], producer, 0))
            .await
            .0,
        ErrorCode::InvalidTxnState
    );
    // An unknown partition fails the whole request, the rest not attempted.
    let response: AddPartitionsToTxnResponse = client
        .send(
            3,
            &AddPartitionsToTxnRequest {
                v3_and_below_transactional_id: "errors".into(),
                v3_and_below_producer_id: producer.0,
                v3_and_below_producer_epoch: producer.1,
                v3_and_below_topics: vec![AddPartitionsToTxnTopic {
                    name: TOPIC.into(),
                    partitions: vec![0, 7],
                    ..Default::default()
                }],
                ..Default::default()
            },
        )
        .await;
    let codes: Vec<_> = response.results_by_topic_v3_and_below[0]
        .results_by_partition
        .iter()
        .map(|p| p.partition_error_code)
        .collect();
    assert_eq!(
        codes,
        vec![
            ErrorCode::OperationNotAttempted,
            ErrorCode::UnknownTopicOrPartition
        ]
    );
    assert_eq!(
        end_txn(&mut client, 3, "errors", producer, false).await,
        ErrorCode::InvalidTxnState
    );
}

#[tokio::test]
async fn requests_to_another_node_are_not_coordinator() {
    let broker = Broker::builder().nodes(2).start().await.unwrap();
    let addresses = broker.addresses();
    let mut other = TestClient::connect(addresses[1]).await;
    let response: InitProducerIdResponse = other
        .send(
            4,
            &InitProducerIdRequest {
                transactional_id: Some("t".into()),
                transaction_timeout_ms: 60_000,
                producer_id: -1,
                producer_epoch: -1,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(response.error_code, ErrorCode::NotCoordinator);
}

#[tokio::test]
async fn transaction_state_in_the_log_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let producer;
    {
        let broker = Broker::builder()
            .data_dir(dir.path())
            .start()
            .await
            .unwrap();
        broker.create_topic(TOPIC, 1).unwrap();
        let mut client = TestClient::connect(broker.bootstrap_address()).await;
        producer = init(&mut client, "persist", 60_000).await;
        add_partition(&mut client, "persist", producer, 0).await;
        produce(&mut client, TOPIC, 0, txn_batch(&["gone"], producer, 0)).await;
        assert_eq!(
            end_txn(&mut client, 3, "persist", producer, false).await,
            ErrorCode::None
        );
        add_partition(&mut client, "persist", producer, 0).await;
        produce(&mut client, TOPIC, 0, txn_batch(&["open"], producer, 1)).await;
        broker.shutdown().await;
    }
    let broker = Broker::builder()
        .data_dir(dir.path())
        .start()
        .await
        .unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let fetched = fetch_isolated(&mut client, 0, 0, true).await;
    assert_eq!((fetched.high_watermark, fetched.last_stable_offset), (3, 2));
    assert_eq!(fetched.aborted, Some(vec![(producer.0, 0)]));
    assert_eq!(
        contents(&fetched.records),
        vec![("gone".into(), 0), ("ABORT".into(), 1)]
    );
}

#[tokio::test]
async fn transactions_are_described_and_listed() {
    use ferrokafka_protocol::generated::{
        DescribeTransactionsRequest, DescribeTransactionsResponse, ListTransactionsRequest,
        ListTransactionsResponse,
    };
    let (_broker, mut client) = start().await;
    let open = init(&mut client, "open", 45_000).await;
    add_partition(&mut client, "open", open, 1).await;
    let idle = init(&mut client, "idle", 60_000).await;

    let response: DescribeTransactionsResponse = client
        .send(
            0,
            &DescribeTransactionsRequest {
                transactional_ids: vec!["open".into(), "idle".into(), "nobody".into()],
                ..Default::default()
            },
        )
        .await;
    let states = &response.transaction_states;
    assert_eq!(states[0].error_code, ErrorCode::None);
    assert_eq!(states[0].transaction_state, "Ongoing");
    assert_eq!(states[0].transaction_timeout_ms, 45_000);
    assert_eq!((states[0].producer_id, states[0].producer_epoch), open);
    assert!(states[0].transaction_start_time_ms > 0);
    assert_eq!(states[0].topics[0].topic, TOPIC);
    assert_eq!(states[0].topics[0].partitions, vec![1]);
    assert_eq!(states[1].transaction_state, "Empty");
    assert_eq!(states[1].producer_id, idle.0);
    assert_eq!(states[2].error_code, ErrorCode::TransactionalIdNotFound);

    let response: ListTransactionsResponse = client
        .send(
            1,
            &ListTransactionsRequest {
                state_filters: vec!["Ongoing".into(), "Bogus".into()],
                duration_filter: -1,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(response.unknown_state_filters, vec!["Bogus".to_owned()]);
    let listed: Vec<_> = response
        .transaction_states
        .iter()
        .map(|txn| (txn.transactional_id.as_str(), txn.producer_id))
        .collect();
    assert_eq!(listed, vec![("open", open.0)]);
    let response: ListTransactionsResponse = client
        .send(
            1,
            &ListTransactionsRequest {
                duration_filter: -1,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(response.transaction_states.len(), 2);
}
