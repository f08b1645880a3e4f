//! Transactions under faults, against the bundled broker (in-process, port
//! 0): the transaction coordinator answering retriable errors, losing the
//! answer to an EndTxn it applied, moving to another node or stopping; a
//! fenced or refused request. Each test proves its faults fired, and reads
//! the outcome with a read_committed reader up to a sentinel on every
//! partition: committed records exactly once and in order, nothing of an
//! aborted transaction.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod txn_support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrokafka_broker::{BrokerHandle, FaultAction, FaultRule, SeenRequest};
use ferrokafka_producer::{Error as ProducerError, ProducerRecord};
use ferrokafka_protocol::generated::RequestKind;
use ferrokafka_protocol::{ApiKey, ErrorCode};
use txn_support::*;

const LINGER: Duration = Duration::from_millis(5);

fn fail(api: ApiKey, code: ErrorCode) -> (ApiKey, FaultAction) {
    (api, FaultAction::Fail(code))
}

fn inject(broker: &BrokerHandle, faults: &[(ApiKey, FaultAction)]) {
    for (api, action) in faults {
        broker.inject_fault(FaultRule::new(*api, action.clone()));
    }
}

/// The transactional requests seen, in order, as labels: the coordinator
/// lookups for a transactional id and the requests to the coordinator.
fn coordinator_traffic(seen: &[SeenRequest]) -> Vec<&'static str> {
    seen.iter()
        .filter_map(|r| match &r.request {
            RequestKind::FindCoordinator(f) if f.key_type == 1 => Some("FindCoordinator"),
            RequestKind::AddPartitionsToTxn(_) => Some("AddPartitionsToTxn"),
            RequestKind::EndTxn(_) => Some("EndTxn"),
            _ => None,
        })
        .collect()
}

fn is_fatal_with(error: &ProducerError, code: ErrorCode) -> bool {
    matches!(error, ProducerError::Fatal(message) if message.contains(code.name()))
}

/// Asserts every partition's markers, in log order, are `expected`
/// (true = COMMIT), all from one producer id.
fn assert_markers(broker: &BrokerHandle, topic: &str, partitions: i32, expected: &[bool]) {
    for partition in 0..partitions {
        let found = markers(broker, topic, partition);
        let kinds: Vec<bool> = found.iter().map(|m| m.commit).collect();
        assert_eq!(kinds, expected, "markers of {topic}-{partition}: {found:?}");
        assert!(
            found
                .windows(2)
                .all(|w| w[0].producer_id == w[1].producer_id),
            "{found:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_txn_retriable_errors_are_retried_until_the_commit_lands_once() {
    let broker = broker().await;
    broker.create_topic("end-retry", 2).unwrap();
    let producer = transactional(&broker, "end-retry", LINGER).await;
    producer.init_transactions().await.unwrap();
    let faults = [
        fail(ApiKey::EndTxn, ErrorCode::CoordinatorLoadInProgress),
        fail(ApiKey::EndTxn, ErrorCode::ConcurrentTransactions),
        fail(ApiKey::EndTxn, ErrorCode::CoordinatorLoadInProgress),
    ];
    inject(&broker, &faults);

    producer.begin_transaction().unwrap();
    let records = round_robin(&values("c", 10), 2);
    send_to(&producer, "end-retry", &records).await;
    producer.commit_transaction().await.unwrap();
    assert_faults_fired(&broker, &faults);

    // The same for an abort.
    let abort_faults = [
        fail(ApiKey::EndTxn, ErrorCode::ConcurrentTransactions),
        fail(ApiKey::EndTxn, ErrorCode::CoordinatorLoadInProgress),
    ];
    inject(&broker, &abort_faults);
    producer.begin_transaction().unwrap();
    send_to(&producer, "end-retry", &round_robin(&values("a", 6), 2)).await;
    producer.abort_transaction().await.unwrap();
    assert_faults_fired(&broker, &[&faults[..], &abort_faults[..]].concat());

    assert_markers(&broker, "end-retry", 2, &[true, false]);
    let seen = committed_contents(&broker, "end-retry", 2).await;
    assert_eq!(seen, by_partition(&records));
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_end_txn_answer_is_retried_and_the_commit_applies_once() {
    let broker = broker().await;
    broker.create_topic("lost", 2).unwrap();
    let producer = transactional(&broker, "lost", LINGER).await;
    producer.init_transactions().await.unwrap();
    broker.record_requests(true);

    // The coordinator writes the markers, then the connection drops
    // before the answer: the retried EndTxn finds the commit done.
    inject(&broker, &[(ApiKey::EndTxn, FaultAction::DropAfterApply)]);
    producer.begin_transaction().unwrap();
    let records = round_robin(&values("c", 8), 2);
    send_to(&producer, "lost", &records).await;
    producer.commit_transaction().await.unwrap();
    assert_markers(&broker, "lost", 2, &[true]);

    // And an abort.
    inject(&broker, &[(ApiKey::EndTxn, FaultAction::DropAfterApply)]);
    producer.begin_transaction().unwrap();
    send_to(&producer, "lost", &round_robin(&values("a", 8), 2)).await;
    producer.abort_transaction().await.unwrap();
    assert_markers(&broker, "lost", 2, &[true, false]);

    // A transaction after them commits as usual.
    producer.begin_transaction().unwrap();
    let more = round_robin(&values("d", 4), 2);
    send_to(&producer, "lost", &more).await;
    producer.commit_transaction().await.unwrap();

    assert_faults_fired(
        &broker,
        &[
            (ApiKey::EndTxn, FaultAction::DropAfterApply),
            (ApiKey::EndTxn, FaultAction::DropAfterApply),
        ],
    );
    let end_txns = coordinator_traffic(&broker.requests_seen())
        .into_iter()
        .filter(|r| *r == "EndTxn")
        .count();
    assert_eq!(end_txns, 5, "two EndTxn sent twice, one once");
    assert_markers(&broker, "lost", 2, &[true, false, true]);
    let seen = committed_contents(&broker, "lost", 2).await;
    assert_eq!(seen, by_partition(&[records, more].concat()));
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_end_txn_times_out_and_the_retry_finds_it_applied() {
    let broker = broker().await;
    broker.create_topic("unanswered", 2).unwrap();
    // A short request timeout, so the unanswered EndTxn is given up soon.
    let config = ferrokafka_producer::ProducerConfig::builder()
        .bootstrap_servers(broker.bootstrap_servers().split(','))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .transactional_id("unanswered")
        .linger(LINGER)
        .request_timeout(Duration::from_secs(2))
        .max_block(Duration::from_secs(30))
        .build()
        .unwrap();
    let producer = ferrokafka_producer::Producer::connect(config)
        .await
        .unwrap();
    producer.init_transactions().await.unwrap();
    broker.record_requests(true);
    let faults = [(ApiKey::EndTxn, FaultAction::NoResponse)];
    inject(&broker, &faults);

    producer.begin_transaction().unwrap();
    let records = round_robin(&values("c", 6), 2);
    send_to(&producer, "unanswered", &records).await;
    producer.commit_transaction().await.unwrap();
    assert_faults_fired(&broker, &faults);
    let end_txns = coordinator_traffic(&broker.requests_seen())
        .into_iter()
        .filter(|r| *r == "EndTxn")
        .count();
    assert_eq!(end_txns, 2, "the unanswered EndTxn and its retry");
    assert_markers(&broker, "unanswered", 2, &[true]);
    let seen = committed_contents(&broker, "unanswered", 2).await;
    assert_eq!(seen, by_partition(&records));
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_partitions_retriable_errors_are_retried_until_the_partitions_join() {
    let broker = broker().await;
    broker.create_topic("add-retry", 2).unwrap();
    let producer = transactional(&broker, "add-retry", LINGER).await;
    producer.init_transactions().await.unwrap();
    let faults = [
        fail(
            ApiKey::AddPartitionsToTxn,
            ErrorCode::CoordinatorLoadInProgress,
        ),
        fail(
            ApiKey::AddPartitionsToTxn,
            ErrorCode::ConcurrentTransactions,
        ),
        // Added, but the answer is lost: adding again is harmless.
        (ApiKey::AddPartitionsToTxn, FaultAction::DropAfterApply),
    ];
    inject(&broker, &faults);

    producer.begin_transaction().unwrap();
    let records = round_robin(&values("c", 10), 2);
    send_to(&producer, "add-retry", &records).await;
    producer.commit_transaction().await.unwrap();
    assert_faults_fired(&broker, &faults);
    assert_markers(&broker, "add-retry", 2, &[true]);
    let seen = committed_contents(&broker, "add-retry", 2).await;
    assert_eq!(seen, by_partition(&records));
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn not_coordinator_sends_the_producer_to_find_its_coordinator_again() {
    let broker = broker().await;
    broker.create_topic("moved", 1).unwrap();
    let producer = transactional(&broker, "moved", LINGER).await;
    producer.init_transactions().await.unwrap();
    broker.record_requests(true);
    let faults = [
        fail(ApiKey::AddPartitionsToTxn, ErrorCode::NotCoordinator),
        fail(ApiKey::EndTxn, ErrorCode::CoordinatorNotAvailable),
        fail(ApiKey::EndTxn, ErrorCode::NotCoordinator),
    ];
    inject(&broker, &faults);

    producer.begin_transaction().unwrap();
    let records = round_robin(&values("c", 5), 1);
    send_to(&producer, "moved", &records).await;
    producer.commit_transaction().await.unwrap();
    assert_faults_fired(&broker, &faults);
    // Each refused request is followed by a new coordinator lookup.
    assert_eq!(
        coordinator_traffic(&broker.requests_seen()),
        [
            "AddPartitionsToTxn",
            "FindCoordinator",
            "AddPartitionsToTxn",
            "EndTxn",
            "FindCoordinator",
            "EndTxn",
            "FindCoordinator",
            "EndTxn",
        ]
    );
    let seen = committed_contents(&broker, "moved", 1).await;
    assert_eq!(seen, by_partition(&records));
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

/// A three-node broker whose topic `topic` has its two partitions led by
/// nodes 1 and 2, so that node 0 (the coordinator) can stop without
/// stopping the partitions.
async fn coordinator_apart(topic: &str) -> BrokerHandle {
    let broker = multi_node_broker(3).await;
    broker.create_topic(topic, 2).unwrap();
    broker.move_leader(topic, 0, 1).unwrap();
    broker.move_leader(topic, 1, 2).unwrap();
    broker
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_that_moves_off_a_stopped_node_is_found_on_its_new_node() {
    let broker = coordinator_apart("relocated").await;
    let producer = transactional(&broker, "relocated", LINGER).await;
    producer.init_transactions().await.unwrap();
    producer.begin_transaction().unwrap();
    let records = round_robin(&values("c", 6), 2);
    send_to(&producer, "relocated", &records).await;

    broker.stop_node(0).await.unwrap();
    broker.move_coordinator(1).unwrap();
    broker.clear_requests_seen();
    producer.commit_transaction().await.unwrap();
    let seen = broker.requests_seen();
    assert_eq!(
        coordinator_traffic(&seen),
        ["FindCoordinator", "EndTxn"],
        "{seen:?}"
    );
    let end_txn = seen
        .iter()
        .find(|r| r.api == ApiKey::EndTxn)
        .expect("an EndTxn");
    assert_eq!(end_txn.node, 1);

    // The next transaction goes to the new coordinator from the start.
    producer.begin_transaction().unwrap();
    let more = round_robin(&values("d", 4), 2);
    send_to(&producer, "relocated", &more).await;
    producer.commit_transaction().await.unwrap();
    assert!(
        broker
            .requests_seen()
            .iter()
            .filter(|r| matches!(r.api, ApiKey::AddPartitionsToTxn | ApiKey::EndTxn))
            .all(|r| r.node == 1)
    );
    assert_markers(&broker, "relocated", 2, &[true, true]);
    let seen = committed_contents(&broker, "relocated", 2).await;
    assert_eq!(seen, by_partition(&[records, more].concat()));
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_moved_mid_transaction_is_found_again_after_not_coordinator() {
    let broker = coordinator_apart("handover").await;
    let producer = transactional(&broker, "handover", LINGER).await;
    producer.init_transactions().await.unwrap();
    producer.begin_transaction().unwrap();
    let records = round_robin(&values("c", 6), 2);
    send_to(&producer, "handover", &records).await;

    // Node 0 runs on but no longer coordinates: it answers NOT_COORDINATOR.
    broker.move_coordinator(2).unwrap();
    broker.clear_requests_seen();
    producer.commit_transaction().await.unwrap();
    let seen = broker.requests_seen();
    assert_eq!(
        coordinator_traffic(&seen),
        ["EndTxn", "FindCoordinator", "EndTxn"],
        "{seen:?}"
    );
    let end_txn_nodes: Vec<i32> = seen
        .iter()
        .filter(|r| r.api == ApiKey::EndTxn)
        .map(|r| r.node)
        .collect();
    assert_eq!(end_txn_nodes, [0, 2]);
    assert_markers(&broker, "handover", 2, &[true]);
    let seen = committed_contents(&broker, "handover", 2).await;
    assert_eq!(seen, by_partition(&records));
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_waits_while_the_coordinator_node_is_down_and_lands_when_it_returns() {
    let broker = coordinator_apart("outage").await;
    // The commit outlasts the outage: it may wait a minute for its
    // coordinator, far longer than the outage takes even on a busy machine.
    let producer = transactional_with(&broker, "outage", LINGER, Duration::from_secs(60)).await;
    producer.init_transactions().await.unwrap();
    producer.begin_transaction().unwrap();
    let records = round_robin(&values("c", 6), 2);
    send_to(&producer, "outage", &records).await;

    broker.stop_node(0).await.unwrap();
    broker.clear_requests_seen();
    let committing = tokio::spawn({
        let producer = producer.clone();
        async move { producer.commit_transaction().await }
    });
    // The producer looks for its coordinator (the other nodes answer
    // COORDINATOR_NOT_AVAILABLE) and keeps looking.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lookups = coordinator_traffic(&broker.requests_seen())
            .into_iter()
            .filter(|r| *r == "FindCoordinator")
            .count();
        if lookups >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no coordinator lookups");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !committing.is_finished(),
        "the commit ended with its coordinator down: {:?}",
        committing.await
    );
    assert!(
        !broker
            .requests_seen()
            .iter()
            .any(|r| r.api == ApiKey::EndTxn),
        "an EndTxn reached a node that is not the coordinator"
    );

    broker.restart_node(0).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), committing)
        .await
        .expect("the commit ends once the coordinator is back")
        .unwrap()
        .unwrap();
    let end_txns: Vec<i32> = broker
        .requests_seen()
        .iter()
        .filter(|r| r.api == ApiKey::EndTxn)
        .map(|r| r.node)
        .collect();
    assert_eq!(end_txns, [0]);
    assert_markers(&broker, "outage", 2, &[true]);
    let seen = committed_contents(&broker, "outage", 2).await;
    assert_eq!(seen, by_partition(&records));
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fenced_end_txn_is_fatal_and_the_next_instance_aborts_what_it_left() {
    let broker = broker().await;
    broker.create_topic("fenced-end", 2).unwrap();
    let producer = transactional(&broker, "fenced-end", LINGER).await;
    producer.init_transactions().await.unwrap();
    let faults = [fail(ApiKey::EndTxn, ErrorCode::ProducerFenced)];
    inject(&broker, &faults);
    producer.begin_transaction().unwrap();
    send_to(&producer, "fenced-end", &round_robin(&values("z", 6), 2)).await;

    let fenced = ErrorCode::ProducerFenced;
    let error = producer.commit_transaction().await.unwrap_err();
    assert!(is_fatal_with(&error, fenced), "commit: {error}");
    assert_faults_fired(&broker, &faults);
    // Every later call reports the same fatal error.
    let error = producer
        .send(ProducerRecord::new("fenced-end").value("late"))
        .await
        .unwrap_err();
    assert!(is_fatal_with(&error, fenced), "send: {error}");
    let error = producer.abort_transaction().await.unwrap_err();
    assert!(is_fatal_with(&error, fenced), "abort: {error}");
    let error = producer.begin_transaction().unwrap_err();
    assert!(is_fatal_with(&error, fenced), "begin: {error}");

    // The transaction is still open at the coordinator; the next
    // instance's init aborts it.
    let next = transactional(&broker, "fenced-end", LINGER).await;
    next.init_transactions().await.unwrap();
    assert_markers(&broker, "fenced-end", 2, &[false]);
    let seen = committed_contents(&broker, "fenced-end", 2).await;
    assert_eq!(seen, BTreeMap::from([(0, vec![]), (1, vec![])]));
    producer.close(Duration::from_secs(1)).await;
    next.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_add_partitions_makes_the_transaction_abortable_and_abort_recovers() {
    let broker = broker().await;
    broker.create_topic("refused", 1).unwrap();
    let producer = transactional(&broker, "refused", LINGER).await;
    producer.init_transactions().await.unwrap();
    let faults = [fail(
        ApiKey::AddPartitionsToTxn,
        ErrorCode::TopicAuthorizationFailed,
    )];
    inject(&broker, &faults);

    producer.begin_transaction().unwrap();
    let record = ProducerRecord::new("refused").partition(0).value("x");
    let delivery = producer.send(record.clone()).await.unwrap();
    // The record waits for its partition to join, which is refused.
    let error = delivery.await.unwrap_err();
    assert!(
        matches!(error, ProducerError::TransactionAbortable(_)),
        "delivery: {error}"
    );
    assert_faults_fired(&broker, &faults);
    let refused = |error: &ProducerError| {
        matches!(error, ProducerError::TransactionAbortable(m)
            if m.contains(ErrorCode::TopicAuthorizationFailed.name()))
    };
    let error = producer.send(record).await.unwrap_err();
    assert!(refused(&error), "send: {error}");
    let error = producer.commit_transaction().await.unwrap_err();
    assert!(refused(&error), "commit: {error}");
    // Nothing was added at the coordinator: the abort has nothing to end
    // there, and the producer goes on.
    producer.abort_transaction().await.unwrap();
    producer.begin_transaction().unwrap();
    let records = round_robin(&values("c", 3), 1);
    send_to(&producer, "refused", &records).await;
    producer.commit_transaction().await.unwrap();

    assert_markers(&broker, "refused", 1, &[true]);
    let seen = committed_contents(&broker, "refused", 1).await;
    assert_eq!(seen, by_partition(&records));
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_sent_through_faults_are_committed_once_with_the_transaction() {
    let broker = broker().await;
    broker.create_topic("eos-in", 1).unwrap();
    broker.create_topic("eos-out", 1).unwrap();
    let init_faults = [
        fail(ApiKey::InitProducerId, ErrorCode::CoordinatorLoadInProgress),
        fail(ApiKey::InitProducerId, ErrorCode::NotCoordinator),
    ];
    inject(&broker, &init_faults);
    let producer = transactional(&broker, "eos-faults", LINGER).await;
    producer.init_transactions().await.unwrap();

    producer.begin_transaction().unwrap();
    let records = round_robin(&values("out", 3), 1);
    send_to(&producer, "eos-out", &records).await;
    let faults = [
        fail(ApiKey::AddOffsetsToTxn, ErrorCode::ConcurrentTransactions),
        fail(ApiKey::AddOffsetsToTxn, ErrorCode::NotCoordinator),
        fail(
            ApiKey::TxnOffsetCommit,
            ErrorCode::CoordinatorLoadInProgress,
        ),
        fail(ApiKey::TxnOffsetCommit, ErrorCode::NotCoordinator),
        (ApiKey::EndTxn, FaultAction::DropAfterApply),
    ];
    inject(&broker, &faults);
    let group = ferrokafka_producer::ConsumerGroupMetadata::new("eos-faults-group");
    producer
        .send_offsets_to_transaction(&[("eos-in", 0, 7)], &group)
        .await
        .unwrap();
    producer.commit_transaction().await.unwrap();
    assert_faults_fired(&broker, &[&init_faults[..], &faults[..]].concat());

    let config = ferrokafka_consumer::ConsumerConfig::builder()
        .bootstrap_servers(broker.bootstrap_servers().split(','))
        .group_id("eos-faults-group")
        .build()
        .unwrap();
    let mut consumer = ferrokafka_consumer::Consumer::connect(config)
        .await
        .unwrap();
    let tp = ferrokafka_consumer::TopicPartition::new("eos-in", 0);
    let committed = consumer
        .committed(std::slice::from_ref(&tp), Duration::from_secs(5))
        .await
        .unwrap();
    let offset = committed.get(&tp).cloned().flatten().map(|o| o.offset);
    assert_eq!(offset, Some(7), "{committed:?}");
    consumer.close(Duration::from_secs(1)).await;
    assert_markers(&broker, "eos-out", 1, &[true]);
    let seen = committed_contents(&broker, "eos-out", 1).await;
    assert_eq!(seen, by_partition(&records));
    producer.close(Duration::from_secs(5)).await;
    broker.shutdown().await;
}

/// The records of transaction `i` of producer `name`: two on each of the
/// one to three partitions it spans.
fn transaction_records(name: &str, i: usize, partitions: i32) -> Vec<(i32, String)> {
    let span = i % 3 + 1;
    (0..span)
        .flat_map(|k| {
            let partition = ((i + k) % partitions as usize) as i32;
            (0..2).map(move |j| (partition, format!("{name}{i}.{partition}.{j}")))
        })
        .collect()
}

/// Runs `count` transactions of `name`, committing those whose index has
/// parity `commit_parity`, aborting the others; returns what it committed.
async fn alternate(
    broker: &BrokerHandle,
    name: &str,
    count: usize,
    commit_parity: usize,
    partitions: i32,
) -> Vec<(i32, String)> {
    let producer = transactional(broker, &format!("mixed-{name}"), LINGER).await;
    producer.init_transactions().await.unwrap();
    let mut committed = Vec::new();
    for i in 0..count {
        let records = transaction_records(name, i, partitions);
        producer.begin_transaction().unwrap();
        send_to(&producer, "mixed", &records).await;
        if i % 2 == commit_parity {
            producer.commit_transaction().await.unwrap();
            committed.extend(records);
        } else {
            producer.abort_transaction().await.unwrap();
        }
    }
    producer.close(Duration::from_secs(5)).await;
    committed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_sees_exactly_the_committed_records_while_commits_and_aborts_interleave() {
    const PARTITIONS: i32 = 3;
    let broker = broker().await;
    broker.create_topic("mixed", PARTITIONS).unwrap();
    // Faults for whichever producer meets them first; all must fire.
    let faults = [
        fail(ApiKey::EndTxn, ErrorCode::CoordinatorLoadInProgress),
        (ApiKey::EndTxn, FaultAction::DropAfterApply),
        fail(ApiKey::EndTxn, ErrorCode::ConcurrentTransactions),
        fail(ApiKey::EndTxn, ErrorCode::NotCoordinator),
        (ApiKey::EndTxn, FaultAction::DropAfterApply),
        fail(
            ApiKey::AddPartitionsToTxn,
            ErrorCode::CoordinatorLoadInProgress,
        ),
        (ApiKey::AddPartitionsToTxn, FaultAction::DropAfterApply),
        fail(ApiKey::AddPartitionsToTxn, ErrorCode::NotCoordinator),
    ];
    inject(&broker, &faults);

    // The reader runs from the start, while the transactions go on.
    let mut consumer = reader(&broker, ferrokafka_consumer::IsolationLevel::ReadCommitted).await;
    assign_all(&mut consumer, "mixed", PARTITIONS);
    let reading = tokio::spawn(async move {
        let seen = read_to_sentinels(&mut consumer, "mixed", PARTITIONS).await;
        consumer.close(Duration::from_secs(1)).await;
        seen
    });

    // Two producers, ten transactions each, one committing the even ones
    // and the other the odd ones, over the same partitions at once.
    let (a, b) = tokio::join!(
        alternate(&broker, "a", 10, 0, PARTITIONS),
        alternate(&broker, "b", 10, 1, PARTITIONS),
    );
    seal(&broker, "mixed", PARTITIONS).await;
    let seen = reading.await.unwrap();

    let fired: Vec<(ApiKey, FaultAction)> = broker
        .faults_fired()
        .into_iter()
        .map(|f| (f.api, f.action))
        .collect();
    for api in [ApiKey::EndTxn, ApiKey::AddPartitionsToTxn] {
        let of = |list: &[(ApiKey, FaultAction)]| -> Vec<FaultAction> {
            list.iter()
                .filter(|(a, _)| *a == api)
                .map(|(_, action)| action.clone())
                .collect()
        };
        assert_eq!(of(&fired), of(&faults), "{api:?} faults fired");
    }
    assert!(broker.pending_faults().is_empty());

    // Each producer's committed records, in order, on each partition;
    // nothing else (the aborted ones), nothing twice.
    let (a, b) = (by_partition(&a), by_partition(&b));
    for partition in 0..PARTITIONS {
        let values = &seen[&partition];
        let from = |prefix: char| -> Vec<String> {
            values
                .iter()
                .filter(|v| v.starts_with(prefix))
                .cloned()
                .collect()
        };
        let expected_a = a.get(&partition).cloned().unwrap_or_default();
        let expected_b = b.get(&partition).cloned().unwrap_or_default();
        assert_eq!(from('a'), expected_a, "partition {partition}");
        assert_eq!(from('b'), expected_b, "partition {partition}");
        assert_eq!(
            values.len(),
            expected_a.len() + expected_b.len(),
            "partition {partition}: {values:?}"
        );
    }
    broker.shutdown().await;
}
