//! The cluster core against the bundled broker (in-process, port 0): one and
//! three nodes, a leader move followed by a transparent retry, a connection
//! dropped mid-request, a node stopped and restarted, and coordinator lookup
//! with invalidation.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use ferrokafka_broker::{Broker, BrokerHandle, FaultAction, FaultRule};
use ferrokafka_client::{Client, ClientConfig, CoordinatorType, Error, Target};
use ferrokafka_protocol::generated::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use ferrokafka_protocol::generated::{ListGroupsRequest, ListOffsetsRequest, ListOffsetsResponse};
use ferrokafka_protocol::{ApiKey, ErrorCode};

const PATIENCE: Duration = Duration::from_secs(20);

async fn start(nodes: i32) -> (BrokerHandle, Client) {
    let broker = Broker::builder().nodes(nodes).start().await.unwrap();
    let config = ClientConfig::builder()
        .bootstrap_servers([broker.bootstrap_address()])
        .request_timeout(Duration::from_secs(5))
        .retry_backoff(Duration::from_millis(5), Duration::from_millis(50))
        .reconnect_backoff(Duration::from_millis(5), Duration::from_millis(50))
        .build()
        .unwrap();
    let client = Client::connect(config).await.unwrap();
    (broker, client)
}

fn latest_offset(topic: &str, partition: i32) -> ListOffsetsRequest {
    ListOffsetsRequest {
        replica_id: -1,
        topics: vec![ListOffsetsTopic {
            name: topic.into(),
            partitions: vec![ListOffsetsPartition {
                partition_index: partition,
                timestamp: -1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn partition_error(response: &ListOffsetsResponse) -> Option<ErrorCode> {
    response
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| p.error_code)
        .find(|c| *c != ErrorCode::None)
}

#[tokio::test]
async fn metadata_lists_every_node_and_leaders_are_spread() {
    let (broker, client) = start(3).await;
    broker.create_topic("spread", 6).unwrap();
    let metadata = client.metadata_for(&["spread"]).await.unwrap();
    assert_eq!(metadata.brokers.len(), 3);
    let leaders: std::collections::BTreeSet<i32> = (0..6)
        .map(|p| metadata.leader("spread", p).expect("leader known"))
        .collect();
    assert_eq!(
        leaders.len(),
        3,
        "leadership spread over the nodes: {leaders:?}"
    );
    for p in 0..6 {
        let response: ListOffsetsResponse = client
            .send(
                &latest_offset("spread", p),
                &Target::Leader {
                    topic: "spread".into(),
                    partition: p,
                },
            )
            .await
            .unwrap();
        assert_eq!(
            partition_error(&response),
            None,
            "partition {p} answered by its leader"
        );
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn a_leader_move_is_followed_transparently() {
    let (broker, client) = start(3).await;
    broker.create_topic("moving", 1).unwrap();
    let target = Target::Leader {
        topic: "moving".into(),
        partition: 0,
    };
    let old = client.resolve(&target).await.unwrap().unwrap();
    let node_ids: Vec<i32> = client.metadata().brokers.keys().copied().collect();
    let new = node_ids.into_iter().find(|&n| n != old).unwrap();
    broker.move_leader("moving", 0, new).unwrap();

    // The cached leader now answers NOT_LEADER_OR_FOLLOWER...
    let stale: ListOffsetsResponse = client
        .send(&latest_offset("moving", 0), &Target::Node(old))
        .await
        .unwrap();
    assert_eq!(
        partition_error(&stale),
        Some(ErrorCode::NotLeaderOrFollower)
    );
    // ...and the retrying send refreshes metadata and goes to the new leader.
    let response = client
        .send_with_retry_checked(
            &latest_offset("moving", 0),
            &target,
            PATIENCE,
            partition_error,
        )
        .await
        .unwrap();
    assert_eq!(partition_error(&response), None);
    assert_eq!(client.resolve(&target).await.unwrap(), Some(new));
    broker.shutdown().await;
}

#[tokio::test]
async fn a_connection_dropped_mid_request_is_retried_on_a_new_connection() {
    let (broker, client) = start(1).await;
    broker.create_topic("drops", 1).unwrap();
    let target = Target::Leader {
        topic: "drops".into(),
        partition: 0,
    };
    client.resolve(&target).await.unwrap();
    broker.inject_fault(FaultRule::new(
        ApiKey::ListOffsets,
        FaultAction::DropBeforeApply,
    ));
    let err = client
        .send(&latest_offset("drops", 0), &target)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Network { .. }), "{err}");
    assert!(err.is_retriable());

    broker.inject_fault(FaultRule::new(
        ApiKey::ListOffsets,
        FaultAction::DropAfterApply,
    ));
    let response = client
        .send_with_retry(&latest_offset("drops", 0), &target, PATIENCE)
        .await
        .unwrap();
    assert_eq!(partition_error(&response), None);
    assert!(client.metrics().reconnects >= 2, "{:?}", client.metrics());
    broker.shutdown().await;
}

#[tokio::test]
async fn a_stopped_node_fails_requests_until_it_restarts() {
    let (broker, client) = start(3).await;
    broker.create_topic("restarts", 1).unwrap();
    let target = Target::Leader {
        topic: "restarts".into(),
        partition: 0,
    };
    let leader = client.resolve(&target).await.unwrap().unwrap();
    broker.stop_node(leader).await.unwrap();
    let err = client
        .send(&latest_offset("restarts", 0), &Target::Node(leader))
        .await
        .unwrap_err();
    assert!(err.is_retriable(), "{err}");

    let restarter = {
        let broker = &broker;
        async move {
            // Restart while the client is already retrying.
            tokio::task::yield_now().await;
            broker.restart_node(leader).await.unwrap();
        }
    };
    let request = latest_offset("restarts", 0);
    let retrying = client.send_with_retry_checked(&request, &target, PATIENCE, partition_error);
    let (response, ()) = tokio::join!(retrying, restarter);
    assert_eq!(partition_error(&response.unwrap()), None);
    broker.shutdown().await;
}

#[tokio::test]
async fn the_group_coordinator_is_found_cached_and_looked_up_again() {
    let (broker, client) = start(3).await;
    let coordinator = client
        .find_coordinator(CoordinatorType::Group, "g1")
        .await
        .unwrap();
    assert!(
        client.metadata().brokers.contains_key(&coordinator),
        "coordinator {coordinator} is a known node"
    );
    // Cached: no second FindCoordinator.
    broker.record_requests(true);
    assert_eq!(
        client
            .find_coordinator(CoordinatorType::Group, "g1")
            .await
            .unwrap(),
        coordinator
    );
    assert!(
        broker
            .requests_seen()
            .iter()
            .all(|r| r.api != ApiKey::FindCoordinator)
    );

    // NOT_COORDINATOR from the cached node: looked up again, then retried.
    broker.inject_fault(FaultRule::new(
        ApiKey::ListGroups,
        FaultAction::Fail(ErrorCode::NotCoordinator),
    ));
    let response = client
        .send_with_retry_checked(
            &ListGroupsRequest::default(),
            &Target::GroupCoordinator("g1".into()),
            PATIENCE,
            |r| Some(r.error_code),
        )
        .await
        .unwrap();
    assert_eq!(response.error_code, ErrorCode::None);
    assert!(
        broker
            .requests_seen()
            .iter()
            .any(|r| r.api == ApiKey::FindCoordinator)
    );
    broker.shutdown().await;
}

#[tokio::test]
async fn a_closed_client_refuses_requests() {
    let (broker, client) = start(1).await;
    client.close();
    let err = client
        .send(&ListGroupsRequest::default(), &Target::AnyBroker)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Closed));
    broker.shutdown().await;
}

#[tokio::test]
async fn metadata_for_all_topics_at_every_version() {
    let (broker, client) = start(1).await;
    broker.create_topic("everything-a", 2).unwrap();
    let conn = client
        .node_connection(client.metadata().brokers.keys().copied().next().unwrap())
        .await
        .unwrap();
    for version in 1..=12 {
        let request = ferrokafka_protocol::generated::MetadataRequest {
            topics: None,
            ..Default::default()
        };
        let response = conn
            .send_at(&request, version)
            .await
            .unwrap_or_else(|e| panic!("v{version}: {e}"));
        assert!(
            response
                .topics
                .iter()
                .any(|t| t.name.as_deref() == Some("everything-a")),
            "v{version}: {:?}",
            response.topics
        );
    }
    broker.shutdown().await;
}

#[tokio::test]
async fn idle_connections_close_and_reopen_on_demand() {
    let broker = Broker::builder().nodes(1).start().await.unwrap();
    let config = ClientConfig::builder()
        .bootstrap_servers([broker.bootstrap_address()])
        .connections_max_idle(Duration::from_millis(100))
        .build()
        .unwrap();
    let client = Client::connect(config).await.unwrap();
    let node = *client.metadata().brokers.keys().next().unwrap();
    let conn = client.node_connection(node).await.unwrap();
    // Wait for the condition, not for a fixed time.
    let deadline = std::time::Instant::now() + PATIENCE;
    while !conn.is_closed() {
        assert!(
            std::time::Instant::now() < deadline,
            "idle connection never closed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The next request opens a new connection.
    client
        .send(&ListGroupsRequest::default(), &Target::Node(node))
        .await
        .unwrap();
    assert!(!client.node_connection(node).await.unwrap().is_closed());
    broker.shutdown().await;
}
