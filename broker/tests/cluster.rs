//! Several nodes, leadership, coordinators, node stops, fault injection and
//! request recording.

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
use ferrokafka_broker::{Broker, FaultAction, FaultRule};
use ferrokafka_protocol::generated::{
    FetchRequest, FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest,
    MetadataRequest, MetadataResponse, ProduceRequest,
};
use ferrokafka_protocol::{ApiKey, ErrorCode};

#[tokio::test]
async fn leadership_is_spread_and_non_leaders_refuse() {
    let broker = Broker::builder()
        .nodes(3)
        .default_partitions(6)
        .start()
        .await
        .unwrap();
    let addresses = broker.addresses();
    let mut client = TestClient::connect(addresses[0]).await;
    let metadata: MetadataResponse = client.send(12, &metadata_for(&["spread"])).await;
    assert_eq!(metadata.brokers.len(), 3);
    let leaders: Vec<i32> = metadata.topics[0]
        .partitions
        .iter()
        .map(|p| p.leader_id)
        .collect();
    for node in 0..3 {
        assert_eq!(
            leaders.iter().filter(|l| **l == node).count(),
            2,
            "{leaders:?}"
        );
    }
    let mut clients = Vec::new();
    for address in &addresses {
        clients.push(TestClient::connect(address).await);
    }
    for (partition, leader) in leaders.iter().enumerate() {
        let partition = partition as i32;
        let leader = *leader as usize;
        let other = (leader + 1) % 3;
        let (error, offset) =
            produce(&mut clients[leader], "spread", partition, batch(&["x"])).await;
        assert_eq!((error, offset), (ErrorCode::None, 0));
        let response = clients[other]
            .send(10, &produce_request("spread", partition, batch(&["y"]), -1))
            .await;
        let refused = &response.responses[0].partition_responses[0];
        assert_eq!(refused.error_code, ErrorCode::NotLeaderOrFollower);
        assert_eq!(refused.current_leader.leader_id, leader as i32);
        assert_eq!(
            response.node_endpoints[0].port,
            addresses[leader].port() as i32
        );
        assert_eq!(
            fetch(&mut clients[other], "spread", partition, 0).await.0,
            ErrorCode::NotLeaderOrFollower
        );
    }
}

#[tokio::test]
async fn moving_a_leader_bumps_the_epoch_and_redirects() {
    let broker = Broker::builder().nodes(2).start().await.unwrap();
    broker.create_topic("moving", 1).unwrap();
    let (leader, epoch) = broker.leader_of("moving", 0).unwrap();
    let addresses = broker.addresses();
    let mut old = TestClient::connect(addresses[leader as usize]).await;
    produce(&mut old, "moving", 0, batch(&["before"])).await;
    let new_leader = 1 - leader;
    broker.move_leader("moving", 0, new_leader).unwrap();
    assert_eq!(broker.leader_of("moving", 0), Some((new_leader, epoch + 1)));
    assert_eq!(
        produce(&mut old, "moving", 0, batch(&["x"])).await.0,
        ErrorCode::NotLeaderOrFollower
    );
    let mut new = TestClient::connect(addresses[new_leader as usize]).await;
    assert_eq!(
        produce(&mut new, "moving", 0, batch(&["after"])).await,
        (ErrorCode::None, 1)
    );
    // A fetch that names the old epoch is fenced.
    let mut request = fetch_request("moving", 0, 0, 0, 0);
    request.topics[0].partitions[0].current_leader_epoch = epoch;
    let response = new.send(FETCH_VERSION, &request).await;
    assert_eq!(
        response.responses[0].partitions[0].error_code,
        ErrorCode::FencedLeaderEpoch
    );
}

fn find_coordinator(version: i16) -> FindCoordinatorRequest {
    FindCoordinatorRequest {
        key: if version < 4 {
            "group".into()
        } else {
            String::new()
        },
        key_type: 0,
        coordinator_keys: if version >= 4 {
            vec!["group".into(), "other".into()]
        } else {
            Vec::new()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn one_node_coordinates_groups() {
    let broker = Broker::builder()
        .nodes(3)
        .group_coordinator_node(2)
        .start()
        .await
        .unwrap();
    let addresses = broker.addresses();
    let mut client = TestClient::connect(addresses[0]).await;
    let response: FindCoordinatorResponse = client.send(3, &find_coordinator(3)).await;
    assert_eq!(
        (response.error_code, response.node_id),
        (ErrorCode::None, 2)
    );
    assert_eq!(response.port, addresses[2].port() as i32);
    let response: FindCoordinatorResponse = client.send(4, &find_coordinator(4)).await;
    assert_eq!(response.coordinators.len(), 2);
    assert!(
        response
            .coordinators
            .iter()
            .all(|c| c.node_id == 2 && c.error_code == ErrorCode::None)
    );
    let heartbeat = HeartbeatRequest {
        group_id: "group".into(),
        generation_id: 1,
        member_id: "m".into(),
        ..Default::default()
    };
    let response = client.send(4, &heartbeat).await;
    assert_eq!(response.error_code, ErrorCode::NotCoordinator);
    let mut coordinator = TestClient::connect(addresses[2]).await;
    let response = coordinator.send(4, &heartbeat).await;
    assert_ne!(response.error_code, ErrorCode::NotCoordinator);
    // A stopped coordinator is not available.
    broker.stop_node(2).await.unwrap();
    let response: FindCoordinatorResponse = client.send(3, &find_coordinator(3)).await;
    assert_eq!(response.error_code, ErrorCode::CoordinatorNotAvailable);
}

#[tokio::test]
async fn stopped_nodes_leave_metadata_and_come_back() {
    let broker = Broker::builder().nodes(2).start().await.unwrap();
    broker.create_topic("halves", 2).unwrap();
    let addresses = broker.addresses();
    let mut node1 = TestClient::connect(addresses[1]).await;
    broker.stop_node(1).await.unwrap();
    assert!(node1.is_closed().await);
    let refused = tokio::net::TcpStream::connect(addresses[1])
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    let mut node0 = TestClient::connect(addresses[0]).await;
    let metadata: MetadataResponse = node0.send(12, &metadata_for(&["halves"])).await;
    assert_eq!(metadata.brokers.len(), 1);
    let offline = metadata.topics[0]
        .partitions
        .iter()
        .find(|p| p.partition_index == 1)
        .unwrap();
    assert_eq!(
        (offline.error_code, offline.leader_id),
        (ErrorCode::LeaderNotAvailable, -1)
    );
    broker.restart_node(1).await.unwrap();
    assert_eq!(broker.addresses()[1], addresses[1]);
    let mut node1 = TestClient::connect(addresses[1]).await;
    assert_eq!(
        produce(&mut node1, "halves", 1, batch(&["back"])).await,
        (ErrorCode::None, 0)
    );
    let metadata: MetadataResponse = node0.send(12, &metadata_for(&["halves"])).await;
    assert_eq!(metadata.brokers.len(), 2);
}

#[tokio::test]
async fn acks_all_needs_min_insync_replicas_running() {
    let broker = Broker::builder().nodes(2).start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let create = ferrokafka_protocol::generated::CreateTopicsRequest {
        topics: vec![
            ferrokafka_protocol::generated::create_topics_request::CreatableTopic {
                name: "safe".into(),
                num_partitions: 1,
                replication_factor: 2,
                assignments: vec![],
                configs: vec![
                    ferrokafka_protocol::generated::create_topics_request::CreatableTopicConfig {
                        name: "min.insync.replicas".into(),
                        value: Some("2".into()),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            },
        ],
        timeout_ms: 1000,
        ..Default::default()
    };
    assert_eq!(
        client.send(7, &create).await.topics[0].error_code,
        ErrorCode::None
    );
    let (leader, _) = broker.leader_of("safe", 0).unwrap();
    let mut leader_client = TestClient::connect(broker.addresses()[leader as usize]).await;
    assert_eq!(
        produce(&mut leader_client, "safe", 0, batch(&["a"])).await,
        (ErrorCode::None, 0)
    );
    broker.stop_node(1 - leader).await.unwrap();
    let metadata: MetadataResponse = leader_client.send(12, &metadata_for(&["safe"])).await;
    assert_eq!(metadata.topics[0].partitions[0].isr_nodes, vec![leader]);
    assert_eq!(
        produce(&mut leader_client, "safe", 0, batch(&["b"]))
            .await
            .0,
        ErrorCode::NotEnoughReplicas
    );
    // acks=1 does not wait for replicas.
    let response = leader_client
        .send(
            PRODUCE_VERSION,
            &produce_request("safe", 0, batch(&["c"]), 1),
        )
        .await;
    assert_eq!(
        response.responses[0].partition_responses[0].error_code,
        ErrorCode::None
    );
}

#[tokio::test]
async fn faults_fail_requests_a_given_number_of_times() {
    let broker = Broker::builder().start().await.unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    produce(&mut client, "faulty", 0, batch(&["a"])).await;
    broker.inject_fault(
        FaultRule::new(
            ApiKey::Produce,
            FaultAction::Fail(ErrorCode::NotEnoughReplicas),
        )
        .times(2),
    );
    for _ in 0..2 {
        assert_eq!(
            produce(&mut client, "faulty", 0, batch(&["b"])).await.0,
            ErrorCode::NotEnoughReplicas
        );
    }
    assert_eq!(
        produce(&mut client, "faulty", 0, batch(&["c"])).await,
        (ErrorCode::None, 1)
    );
    // Scoped to one partition: other partitions are untouched.
    broker.create_topic("scoped", 2).unwrap();
    broker.inject_fault(
        FaultRule::new(
            ApiKey::Fetch,
            FaultAction::Fail(ErrorCode::KafkaStorageError),
        )
        .for_partition("scoped", 1),
    );
    assert_eq!(fetch(&mut client, "scoped", 0, 0).await.0, ErrorCode::None);
    assert_eq!(
        fetch(&mut client, "scoped", 1, 0).await.0,
        ErrorCode::KafkaStorageError
    );
    assert_eq!(fetch(&mut client, "scoped", 1, 0).await.0, ErrorCode::None);
    // In a request naming both partitions, only the scoped one fails.
    broker.inject_fault(
        FaultRule::new(
            ApiKey::Produce,
            FaultAction::Fail(ErrorCode::NotLeaderOrFollower),
        )
        .for_partition("scoped", 1),
    );
    let mut request = produce_request("scoped", 0, batch(&["p0"]), -1);
    let mut second = request.topic_data[0].partition_data[0].clone();
    second.index = 1;
    request.topic_data[0].partition_data.push(second);
    let response = client.send(PRODUCE_VERSION, &request).await;
    let codes: Vec<_> = response.responses[0]
        .partition_responses
        .iter()
        .map(|p| (p.index, p.error_code))
        .collect();
    assert_eq!(
        codes,
        vec![(0, ErrorCode::None), (1, ErrorCode::NotLeaderOrFollower)]
    );
    assert_eq!(
        fetch(&mut client, "scoped", 1, 0).await.1,
        0,
        "the failed partition was not written"
    );
    // Scoped to a node that did not receive the request: nothing happens.
    broker.inject_fault(
        FaultRule::new(ApiKey::Metadata, FaultAction::Fail(ErrorCode::Unknown(-1))).on_node(5),
    );
    let metadata: MetadataResponse = client.send(12, &metadata_for(&["scoped"])).await;
    assert_eq!(metadata.topics[0].error_code, ErrorCode::None);
    broker.clear_faults();
}

#[tokio::test]
async fn faults_drop_connections_before_or_after_applying() {
    let broker = Broker::builder().start().await.unwrap();
    broker.create_topic("drops", 1).unwrap();
    broker.inject_fault(FaultRule::new(
        ApiKey::Produce,
        FaultAction::DropBeforeApply,
    ));
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let (frame, _) = client.frame(
        PRODUCE_VERSION,
        &produce_request("drops", 0, batch(&["lost"]), -1),
    );
    client.write(&frame).await;
    assert!(client.is_closed().await);
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    assert_eq!(fetch(&mut client, "drops", 0, 0).await.1, 0, "not applied");
    broker.inject_fault(FaultRule::new(ApiKey::Produce, FaultAction::DropAfterApply));
    let (frame, _) = client.frame(
        PRODUCE_VERSION,
        &produce_request("drops", 0, batch(&["kept"]), -1),
    );
    client.write(&frame).await;
    assert!(client.is_closed().await);
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    assert_eq!(fetch(&mut client, "drops", 0, 0).await.1, 1, "applied");
}

#[tokio::test]
async fn faults_leave_requests_unanswered_or_delay_them() {
    let broker = Broker::builder().start().await.unwrap();
    broker.create_topic("silent", 1).unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    broker.inject_fault(FaultRule::new(ApiKey::Produce, FaultAction::NoResponse));
    let (frame, _) = client.frame(
        PRODUCE_VERSION,
        &produce_request("silent", 0, batch(&["a"]), -1),
    );
    client.write(&frame).await;
    // The next answer on the connection is the fetch's; the produce applied.
    assert_eq!(fetch(&mut client, "silent", 0, 0).await.1, 1);
    broker.inject_fault(FaultRule::new(
        ApiKey::Metadata,
        FaultAction::Delay(Duration::from_millis(100)),
    ));
    let started = std::time::Instant::now();
    let _: MetadataResponse = client.send(12, &metadata_for(&["silent"])).await;
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn requests_seen_are_recorded_with_headers() {
    let broker = Broker::builder()
        .nodes(2)
        .record_requests(true)
        .start()
        .await
        .unwrap();
    let mut client = TestClient::connect(broker.addresses()[1]).await;
    let _: MetadataResponse = client
        .send(
            9,
            &MetadataRequest {
                topics: None,
                ..Default::default()
            },
        )
        .await;
    let (frame, _) = client.frame(
        PRODUCE_VERSION,
        &produce_request("recorded", 0, batch(&["a"]), 1),
    );
    client.write(&frame).await;
    client.read_frame().await.unwrap();
    let seen = broker.requests_seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (seen[0].api, seen[0].version, seen[0].node),
        (ApiKey::Metadata, 9, 1)
    );
    assert_eq!(seen[0].header.client_id.as_deref(), Some("broker-tests"));
    match &seen[1].request {
        ferrokafka_protocol::generated::RequestKind::Produce(produce) => {
            assert_eq!(produce.acks, 1)
        }
        other => panic!("unexpected {other:?}"),
    }
    broker.clear_requests_seen();
    assert!(broker.requests_seen().is_empty());
    let _unused: Option<(FetchRequest, ProduceRequest)> = None;
}

#[tokio::test]
async fn the_advertised_host_is_what_metadata_names() {
    let broker = Broker::builder()
        .advertised_host("localhost")
        .start()
        .await
        .unwrap();
    let mut client = TestClient::connect(broker.bootstrap_address()).await;
    let metadata: MetadataResponse = client
        .send(
            12,
            &MetadataRequest {
                topics: None,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(metadata.brokers[0].host, "localhost");
    assert_eq!(
        metadata.brokers[0].port,
        broker.addresses()[0].port() as i32
    );
}

#[tokio::test]
async fn a_topic_deleted_through_the_handle_is_gone_with_its_records() {
    let broker = Broker::builder().start().await.unwrap();
    broker.create_topic("short-lived", 1).unwrap();
    let mut client = TestClient::connect(broker.addresses()[0]).await;
    produce(&mut client, "short-lived", 0, batch(&["a", "b"])).await;
    assert_eq!(broker.offsets("short-lived", 0), Some((0, 2)));
    assert!(broker.delete_topic("short-lived"));
    assert_eq!(broker.offsets("short-lived", 0), None);
    assert!(!broker.delete_topic("short-lived"));
    // The name is free again, and the new topic starts empty.
    broker.create_topic("short-lived", 1).unwrap();
    assert_eq!(broker.offsets("short-lived", 0), Some((0, 0)));
    broker.shutdown().await;
}
