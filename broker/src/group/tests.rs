//! Tests of the group coordinator, driven through its public API with
//! tokio's paused clock so that session, rebalance and sync timeouts are
//! deterministic. Every response is also encoded at the version it was asked
//! for, so a field a version cannot carry fails the test.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::codec::encode_to_vec;
use ferrokafka_protocol::generated::consumer_protocol_subscription::ConsumerProtocolSubscription;
use ferrokafka_protocol::generated::join_group_request::JoinGroupRequestProtocol;
use ferrokafka_protocol::generated::leave_group_request::MemberIdentity;
use ferrokafka_protocol::generated::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use ferrokafka_protocol::generated::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use ferrokafka_protocol::generated::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use ferrokafka_protocol::generated::sync_group_request::SyncGroupRequestAssignment;
use ferrokafka_protocol::generated::*;
use ferrokafka_protocol::{Encode, ErrorCode};
use tokio::task::JoinHandle;

use super::*;

const SESSION_MS: i32 = 10_000;
const REBALANCE_MS: i32 = 30_000;

fn coordinator() -> GroupCoordinator {
    GroupCoordinator::new(GroupConfig::default())
}

/// Consumer-protocol metadata as the Java client writes it: an i16 version,
/// then the subscription at that version.
fn subscription(topics: &[&str]) -> Bytes {
    let sub = ConsumerProtocolSubscription {
        topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        ..Default::default()
    };
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&3i16.to_be_bytes());
    sub.encode(&mut buf, 3).unwrap();
    buf.freeze()
}

fn join_request(
    group: &str,
    member_id: &str,
    instance: Option<&str>,
    topics: &[&str],
) -> JoinGroupRequest {
    JoinGroupRequest {
        group_id: group.to_owned(),
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: REBALANCE_MS,
        member_id: member_id.to_owned(),
        group_instance_id: instance.map(str::to_owned),
        protocol_type: "consumer".to_owned(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".to_owned(),
            metadata: subscription(topics),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn assert_encodes<M: Encode>(message: &M, version: i16) {
    if let Err(error) = encode_to_vec(message, version) {
        panic!("response does not encode at v{version}: {error}");
    }
}

/// Lets spawned requests and the expiry task run.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

/// Advances the paused clock and lets the expiry task act.
async fn advance_ms(ms: u64) {
    tokio::time::advance(Duration::from_millis(ms)).await;
    settle().await;
}

fn spawn_join(
    c: &GroupCoordinator,
    request: JoinGroupRequest,
    version: i16,
) -> JoinHandle<JoinGroupResponse> {
    let c = c.clone();
    tokio::spawn(async move {
        let response = c
            .join_group_with_client(request, version, "client", "/127.0.0.1")
            .await;
        assert_encodes(&response, version);
        response
    })
}

fn spawn_sync(
    c: &GroupCoordinator,
    group: &str,
    member_id: &str,
    generation: i32,
    assignments: Vec<(&str, &[u8])>,
) -> JoinHandle<SyncGroupResponse> {
    let c = c.clone();
    let request = SyncGroupRequest {
        group_id: group.to_owned(),
        generation_id: generation,
        member_id: member_id.to_owned(),
        protocol_type: Some("consumer".to_owned()),
        protocol_name: Some("range".to_owned()),
        assignments: assignments
            .into_iter()
            .map(|(member, bytes)| SyncGroupRequestAssignment {
                member_id: member.to_owned(),
                assignment: Bytes::copy_from_slice(bytes),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    tokio::spawn(async move {
        let response = c.sync_group(request, 5).await;
        assert_encodes(&response, 5);
        response
    })
}

/// Joins a new dynamic member the KIP-394 way (MEMBER_ID_REQUIRED, then
/// the real join), returning the parked second join.
async fn spawn_new_member(
    c: &GroupCoordinator,
    group: &str,
    topics: &[&str],
) -> (String, JoinHandle<JoinGroupResponse>) {
    let first = spawn_join(c, join_request(group, "", None, topics), 9)
        .await
        .unwrap();
    assert_eq!(first.error_code, ErrorCode::MemberIdRequired);
    let member_id = first.member_id.clone();
    (
        member_id.clone(),
        spawn_join(c, join_request(group, &member_id, None, topics), 9),
    )
}

async fn heartbeat(
    c: &GroupCoordinator,
    group: &str,
    member_id: &str,
    generation: i32,
) -> ErrorCode {
    let request = HeartbeatRequest {
        group_id: group.to_owned(),
        generation_id: generation,
        member_id: member_id.to_owned(),
        ..Default::default()
    };
    c.heartbeat(request, 4).await.error_code
}

async fn describe(c: &GroupCoordinator, group: &str) -> describe_groups_response::DescribedGroup {
    let response = c
        .describe_groups(
            DescribeGroupsRequest {
                groups: vec![group.to_owned()],
                ..Default::default()
            },
            5,
        )
        .await;
    assert_encodes(&response, 5);
    response.groups.into_iter().next().unwrap()
}

/// Two dynamic members `a` (leader) and `b` in a stable group at the
/// returned generation, with assignments "A" and "B".
async fn stable_pair(c: &GroupCoordinator, group: &str) -> (String, String, i32) {
    let (a, a_join) = spawn_new_member(c, group, &["t1"]).await;
    let a_first = a_join.await.unwrap();
    assert_eq!(a_first.generation_id, 1);
    // `b` arrives: the group rebalances; `a` learns it from its heartbeat.
    let (b, b_join) = spawn_new_member(c, group, &["t1"]).await;
    settle().await;
    assert_eq!(
        heartbeat(c, group, &a, 1).await,
        ErrorCode::RebalanceInProgress
    );
    let a_join = spawn_join(c, join_request(group, &a, None, &["t1"]), 9);
    let (a_resp, b_resp) = (a_join.await.unwrap(), b_join.await.unwrap());
    assert_eq!((a_resp.generation_id, b_resp.generation_id), (2, 2));
    let b_sync = spawn_sync(c, group, &b, 2, vec![]);
    let a_sync = spawn_sync(c, group, &a, 2, vec![(&a, b"A"), (&b, b"B")]);
    assert_eq!(a_sync.await.unwrap().assignment, Bytes::from_static(b"A"));
    assert_eq!(b_sync.await.unwrap().assignment, Bytes::from_static(b"B"));
    (a, b, 2)
}

fn commit_request(
    group: &str,
    generation: i32,
    member_id: &str,
    topic: &str,
    partition: i32,
    offset: i64,
) -> OffsetCommitRequest {
    OffsetCommitRequest {
        group_id: group.to_owned(),
        generation_id_or_member_epoch: generation,
        member_id: member_id.to_owned(),
        topics: vec![OffsetCommitRequestTopic {
            name: topic.to_owned(),
            partitions: vec![OffsetCommitRequestPartition {
                partition_index: partition,
                committed_offset: offset,
                committed_leader_epoch: 5,
                committed_metadata: Some("meta".to_owned()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn all_partitions_exist(_: &str, _: i32) -> bool {
    true
}

async fn commit(
    c: &GroupCoordinator,
    request: OffsetCommitRequest,
    version: i16,
) -> Vec<ErrorCode> {
    let response = c
        .offset_commit(request, version, &all_partitions_exist)
        .await;
    assert_encodes(&response, version);
    response
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
        .collect()
}

/// OffsetFetch v7 for some partitions of one topic: (offset, epoch, metadata).
async fn fetch_v7(
    c: &GroupCoordinator,
    group: &str,
    topic: &str,
    partitions: &[i32],
) -> Vec<(i64, i32, Option<String>)> {
    let request = OffsetFetchRequest {
        group_id: group.to_owned(),
        topics: Some(vec![OffsetFetchRequestTopic {
            name: topic.to_owned(),
            partition_indexes: partitions.to_vec(),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let response = c.offset_fetch(request, 7).await;
    assert_encodes(&response, 7);
    assert_eq!(response.error_code, ErrorCode::None);
    response.topics[0]
        .partitions
        .iter()
        .map(|p| {
            assert_eq!(p.error_code, ErrorCode::None);
            (
                p.committed_offset,
                p.committed_leader_epoch,
                p.metadata.clone(),
            )
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn first_join_gets_member_id_required_then_joins() {
    let c = coordinator();
    let first = spawn_join(&c, join_request("g", "", None, &["t1"]), 4)
        .await
        .unwrap();
    assert_eq!(first.error_code, ErrorCode::MemberIdRequired);
    assert!(
        first.member_id.starts_with("client-"),
        "{}",
        first.member_id
    );
    assert_eq!(first.generation_id, -1);
    // The group has no member until the client comes back with its id.
    assert!(describe(&c, "g").await.members.is_empty());

    let second = spawn_join(&c, join_request("g", &first.member_id, None, &["t1"]), 4)
        .await
        .unwrap();
    assert_eq!(second.error_code, ErrorCode::None);
    assert_eq!(second.member_id, first.member_id);
    assert_eq!(second.leader, first.member_id);
    assert_eq!(second.generation_id, 1);
    assert_eq!(second.protocol_name.as_deref(), Some("range"));
    assert_eq!(second.members.len(), 1);
    assert_eq!(second.members[0].metadata, subscription(&["t1"]));

    // Before v4 a member id comes with the first answer.
    let old = spawn_join(&c, join_request("g-old", "", None, &["t1"]), 3)
        .await
        .unwrap();
    assert_eq!(old.error_code, ErrorCode::None);
    assert!(!old.member_id.is_empty());
    assert_eq!(old.generation_id, 1);
}

#[tokio::test(start_paused = true)]
async fn two_members_one_leader_and_sync_distributes_assignments() {
    let c = coordinator();
    let (a, a_join) = spawn_new_member(&c, "g", &["t1"]).await;
    assert_eq!(a_join.await.unwrap().generation_id, 1);
    let (b, b_join) = spawn_new_member(&c, "g", &["t1"]).await;
    settle().await;
    assert!(
        !b_join.is_finished(),
        "the rebalance waits for the known member"
    );
    assert_eq!(describe(&c, "g").await.group_state, "PreparingRebalance");

    let a_join = spawn_join(&c, join_request("g", &a, None, &["t1"]), 9);
    let (a_resp, b_resp) = (a_join.await.unwrap(), b_join.await.unwrap());
    assert_eq!((a_resp.generation_id, b_resp.generation_id), (2, 2));
    assert_eq!(a_resp.leader, a);
    assert_eq!(b_resp.leader, a);
    let listed: Vec<&str> = a_resp
        .members
        .iter()
        .map(|m| m.member_id.as_str())
        .collect();
    assert_eq!(listed, vec![a.as_str(), b.as_str()]);
    assert!(
        b_resp.members.is_empty(),
        "followers do not see the members"
    );

    // The follower waits for the leader's assignment.
    let b_sync = spawn_sync(&c, "g", &b, 2, vec![]);
    settle().await;
    assert!(!b_sync.is_finished());
    assert_eq!(describe(&c, "g").await.group_state, "CompletingRebalance");
    let a_sync = spawn_sync(&c, "g", &a, 2, vec![(&a, b"for-a"), (&b, b"for-b")]);
    let a_sync = a_sync.await.unwrap();
    let b_sync = b_sync.await.unwrap();
    assert_eq!(a_sync.error_code, ErrorCode::None);
    assert_eq!(a_sync.assignment, Bytes::from_static(b"for-a"));
    assert_eq!(b_sync.assignment, Bytes::from_static(b"for-b"));
    assert_eq!(b_sync.protocol_name.as_deref(), Some("range"));
    assert_eq!(b_sync.protocol_type.as_deref(), Some("consumer"));

    let described = describe(&c, "g").await;
    assert_eq!(described.group_state, "Stable");
    assert_eq!(described.protocol_data, "range");
    assert_eq!(described.members.len(), 2);
    assert_eq!(
        described.members[1].member_assignment,
        Bytes::from_static(b"for-b")
    );
    assert_eq!(described.members[1].client_id, "client");
    assert_eq!(described.members[1].client_host, "/127.0.0.1");
    assert_eq!(described.members[1].member_metadata, subscription(&["t1"]));
}

#[tokio::test(start_paused = true)]
async fn third_member_makes_heartbeats_answer_rebalance_in_progress() {
    let c = coordinator();
    let (a, b, generation) = stable_pair(&c, "g").await;
    assert_eq!(heartbeat(&c, "g", &a, generation).await, ErrorCode::None);
    assert_eq!(heartbeat(&c, "g", &b, generation).await, ErrorCode::None);

    let (third, third_join) = spawn_new_member(&c, "g", &["t1"]).await;
    settle().await;
    assert_eq!(
        heartbeat(&c, "g", &a, generation).await,
        ErrorCode::RebalanceInProgress
    );
    assert_eq!(
        heartbeat(&c, "g", &b, generation).await,
        ErrorCode::RebalanceInProgress
    );
    // A sync of the old generation is told the same.
    let stale_sync = spawn_sync(&c, "g", &a, generation, vec![]).await.unwrap();
    assert_eq!(stale_sync.error_code, ErrorCode::RebalanceInProgress);

    let a_join = spawn_join(&c, join_request("g", &a, None, &["t1"]), 9);
    let b_join = spawn_join(&c, join_request("g", &b, None, &["t1"]), 9);
    let responses = [
        a_join.await.unwrap(),
        b_join.await.unwrap(),
        third_join.await.unwrap(),
    ];
    for response in &responses {
        assert_eq!(response.error_code, ErrorCode::None);
        assert_eq!(response.generation_id, generation + 1);
        assert_eq!(response.leader, a);
    }
    assert_eq!(responses[0].members.len(), 3);
    assert_eq!(responses[2].member_id, third);
}

#[tokio::test(start_paused = true)]
async fn silent_member_is_expelled_and_the_rebalance_completes_without_it() {
    let c = coordinator();
    let (a, b, generation) = stable_pair(&c, "g").await;
    // `a` heartbeats every 3 s, `b` says nothing.
    let mut seen_rebalance = false;
    for _ in 0..5 {
        advance_ms(3_000).await;
        match heartbeat(&c, "g", &a, generation).await {
            ErrorCode::None => {}
            ErrorCode::RebalanceInProgress => {
                seen_rebalance = true;
                break;
            }
            other => panic!("unexpected heartbeat answer {other:?}"),
        }
    }
    assert!(
        seen_rebalance,
        "b's session (10 s) expired and started a rebalance"
    );
    assert_eq!(
        heartbeat(&c, "g", &b, generation).await,
        ErrorCode::UnknownMemberId
    );

    let a_join = spawn_join(&c, join_request("g", &a, None, &["t1"]), 9)
        .await
        .unwrap();
    assert_eq!(a_join.error_code, ErrorCode::None);
    assert_eq!(a_join.generation_id, generation + 1);
    assert_eq!(a_join.members.len(), 1);
    assert_eq!(a_join.leader, a);
}

#[tokio::test(start_paused = true)]
async fn members_that_do_not_rejoin_are_dropped_at_the_rebalance_timeout() {
    let c = coordinator();
    let (a, b, generation) = stable_pair(&c, "g").await;
    let (_, c_join) = spawn_new_member(&c, "g", &["t1"]).await;
    let a_join = spawn_join(&c, join_request("g", &a, None, &["t1"]), 9);
    // `b` keeps heartbeating but never rejoins.
    for _ in 0..9 {
        advance_ms(3_000).await;
        assert!(!a_join.is_finished());
        assert_eq!(
            heartbeat(&c, "g", &b, generation).await,
            ErrorCode::RebalanceInProgress
        );
    }
    advance_ms(3_500).await; // past the 30 s rebalance timeout
    let a_resp = a_join.await.unwrap();
    let c_resp = c_join.await.unwrap();
    assert_eq!(a_resp.generation_id, generation + 1);
    assert_eq!(c_resp.generation_id, generation + 1);
    assert_eq!(a_resp.members.len(), 2);
    assert_eq!(
        heartbeat(&c, "g", &b, generation + 1).await,
        ErrorCode::UnknownMemberId
    );
}

#[tokio::test(start_paused = true)]
async fn leader_that_leaves_is_replaced() {
    let c = coordinator();
    let (a, b, generation) = stable_pair(&c, "g").await;
    let leave = LeaveGroupRequest {
        group_id: "g".to_owned(),
        member_id: a.clone(),
        ..Default::default()
    };
    let response = c.leave_group(leave, 0).await;
    assert_encodes(&response, 0);
    assert_eq!(response.error_code, ErrorCode::None);
    assert_eq!(
        heartbeat(&c, "g", &b, generation).await,
        ErrorCode::RebalanceInProgress
    );
    let b_join = spawn_join(&c, join_request("g", &b, None, &["t1"]), 9)
        .await
        .unwrap();
    assert_eq!(b_join.leader, b);
    assert_eq!(b_join.members.len(), 1);

    // Leaving again: v0-2 put the member's error at the top level.
    let leave = LeaveGroupRequest {
        group_id: "g".to_owned(),
        member_id: a.clone(),
        ..Default::default()
    };
    assert_eq!(
        c.leave_group(leave, 2).await.error_code,
        ErrorCode::UnknownMemberId
    );
}

#[tokio::test(start_paused = true)]
async fn static_member_rejoin_keeps_the_group_stable_and_fences_the_old_id() {
    let c = coordinator();
    // Static leader `s` (instance "i1") and dynamic follower `d`.
    let s_first = spawn_join(&c, join_request("g", "", Some("i1"), &["t1"]), 9)
        .await
        .unwrap();
    assert_eq!(
        s_first.error_code,
        ErrorCode::None,
        "static members need no second join"
    );
    assert!(s_first.member_id.starts_with("i1-"));
    let s = s_first.member_id.clone();
    let (d, d_join) = spawn_new_member(&c, "g", &["t1"]).await;
    let s_join = spawn_join(&c, join_request("g", &s, Some("i1"), &["t1"]), 9);
    let generation = s_join.await.unwrap().generation_id;
    assert_eq!(d_join.await.unwrap().generation_id, generation);
    let d_sync = spawn_sync(&c, "g", &d, generation, vec![]);
    spawn_sync(&c, "g", &s, generation, vec![(&s, b"S"), (&d, b"D")])
        .await
        .unwrap();
    d_sync.await.unwrap();

    // `s` restarts: same instance id, no member id, same metadata.
    let rejoin = spawn_join(&c, join_request("g", "", Some("i1"), &["t1"]), 9)
        .await
        .unwrap();
    assert_eq!(rejoin.error_code, ErrorCode::None);
    assert_eq!(rejoin.generation_id, generation, "no new generation");
    assert_ne!(rejoin.member_id, s);
    let new_s = rejoin.member_id.clone();
    // KIP-814: the returning leader sees the members but must not reassign.
    assert_eq!(rejoin.leader, new_s);
    assert!(rejoin.skip_assignment);
    assert_eq!(rejoin.members.len(), 2);
    assert_eq!(describe(&c, "g").await.group_state, "Stable");
    assert_eq!(heartbeat(&c, "g", &d, generation).await, ErrorCode::None);

    // The old member id is fenced; the new one gets the old assignment.
    let fenced = HeartbeatRequest {
        group_id: "g".to_owned(),
        generation_id: generation,
        member_id: s.clone(),
        group_instance_id: Some("i1".to_owned()),
        ..Default::default()
    };
    assert_eq!(
        c.heartbeat(fenced, 4).await.error_code,
        ErrorCode::FencedInstanceId
    );
    let sync = spawn_sync(&c, "g", &new_s, generation, vec![])
        .await
        .unwrap();
    assert_eq!(sync.assignment, Bytes::from_static(b"S"));

    // Before v9 the old leader id is returned, so the restarted leader does
    // not think it must assign.
    let rejoin_v8 = spawn_join(&c, join_request("g", "", Some("i1"), &["t1"]), 8)
        .await
        .unwrap();
    assert_eq!(rejoin_v8.generation_id, generation);
    assert_eq!(rejoin_v8.leader, new_s);
    assert!(rejoin_v8.members.is_empty());
    assert_eq!(describe(&c, "g").await.group_state, "Stable");

    // LeaveGroup v3+ can remove a static member by instance id alone.
    let leave = LeaveGroupRequest {
        group_id: "g".to_owned(),
        members: vec![
            MemberIdentity {
                member_id: String::new(),
                group_instance_id: Some("i1".to_owned()),
                ..Default::default()
            },
            MemberIdentity {
                member_id: "nobody".to_owned(),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let response = c.leave_group(leave, 3).await;
    assert_encodes(&response, 3);
    let errors: Vec<ErrorCode> = response.members.iter().map(|m| m.error_code).collect();
    assert_eq!(errors, vec![ErrorCode::None, ErrorCode::UnknownMemberId]);
    assert_eq!(
        heartbeat(&c, "g", &d, generation).await,
        ErrorCode::RebalanceInProgress
    );
}

#[tokio::test(start_paused = true)]
async fn illegal_generation_unknown_member_and_request_validation() {
    let c = coordinator();
    let (a, _b, generation) = stable_pair(&c, "g").await;
    assert_eq!(
        heartbeat(&c, "g", &a, generation + 7).await,
        ErrorCode::IllegalGeneration
    );
    assert_eq!(
        heartbeat(&c, "g", "stranger", generation).await,
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        heartbeat(&c, "nope", &a, generation).await,
        ErrorCode::UnknownMemberId
    );
    assert_eq!(
        heartbeat(&c, "", &a, generation).await,
        ErrorCode::InvalidGroupId
    );
    let sync = spawn_sync(&c, "g", &a, generation - 1, vec![])
        .await
        .unwrap();
    assert_eq!(sync.error_code, ErrorCode::IllegalGeneration);
    let sync = spawn_sync(&c, "g", "stranger", generation, vec![])
        .await
        .unwrap();
    assert_eq!(sync.error_code, ErrorCode::UnknownMemberId);
    let mut wrong_protocol = SyncGroupRequest {
        group_id: "g".to_owned(),
        generation_id: generation,
        member_id: a.clone(),
        protocol_name: Some("roundrobin".to_owned()),
        ..Default::default()
    };
    assert_eq!(
        c.sync_group(wrong_protocol.clone(), 5).await.error_code,
        ErrorCode::InconsistentGroupProtocol
    );
    wrong_protocol.protocol_name = None;
    wrong_protocol.protocol_type = Some("connect".to_owned());
    assert_eq!(
        c.sync_group(wrong_protocol, 5).await.error_code,
        ErrorCode::InconsistentGroupProtocol
    );

    // JoinGroup checks.
    let unknown = spawn_join(&c, join_request("other", "ghost", None, &["t1"]), 9)
        .await
        .unwrap();
    assert_eq!(unknown.error_code, ErrorCode::UnknownMemberId);
    let mut short = join_request("g", "", None, &["t1"]);
    short.session_timeout_ms = 1_000;
    assert_eq!(
        spawn_join(&c, short, 9).await.unwrap().error_code,
        ErrorCode::InvalidSessionTimeout
    );
    let mut other_type = join_request("g", "", None, &["t1"]);
    other_type.protocol_type = "connect".to_owned();
    assert_eq!(
        spawn_join(&c, other_type, 9).await.unwrap().error_code,
        ErrorCode::InconsistentGroupProtocol
    );
    let mut other_protocol = join_request("g", "", None, &["t1"]);
    other_protocol.protocols[0].name = "roundrobin".to_owned();
    assert_eq!(
        spawn_join(&c, other_protocol, 5).await.unwrap().error_code,
        ErrorCode::InconsistentGroupProtocol
    );
    assert_eq!(
        spawn_join(&c, join_request("", "", None, &["t1"]), 0)
            .await
            .unwrap()
            .error_code,
        ErrorCode::InvalidGroupId
    );

    // Commits check member and generation too.
    let errors = commit(&c, commit_request("g", generation + 1, &a, "t1", 0, 10), 8).await;
    assert_eq!(errors, vec![ErrorCode::IllegalGeneration]);
    let errors = commit(
        &c,
        commit_request("g", generation, "stranger", "t1", 0, 10),
        8,
    )
    .await;
    assert_eq!(errors, vec![ErrorCode::UnknownMemberId]);
}

#[tokio::test(start_paused = true)]
async fn offset_commit_and_fetch_round_trip() {
    let c = coordinator();
    let (a, b, generation) = stable_pair(&c, "g").await;
    assert_eq!(
        commit(&c, commit_request("g", generation, &a, "t1", 0, 42), 8).await,
        vec![ErrorCode::None]
    );
    assert_eq!(
        fetch_v7(&c, "g", "t1", &[0, 1]).await,
        vec![
            (42, 5, Some("meta".to_owned())),
            (-1, -1, Some(String::new()))
        ]
    );

    // Before v6 no leader epoch is stored; before v5 none is returned.
    assert_eq!(
        commit(&c, commit_request("g", generation, &b, "t1", 1, 7), 5).await,
        vec![ErrorCode::None]
    );
    assert_eq!(
        fetch_v7(&c, "g", "t1", &[1]).await,
        vec![(7, -1, Some("meta".to_owned()))]
    );
    let v4 = c
        .offset_fetch(
            OffsetFetchRequest {
                group_id: "g".to_owned(),
                topics: Some(vec![OffsetFetchRequestTopic {
                    name: "t1".to_owned(),
                    partition_indexes: vec![0],
                    ..Default::default()
                }]),
                ..Default::default()
            },
            4,
        )
        .await;
    assert_encodes(&v4, 4);
    assert_eq!(v4.topics[0].partitions[0].committed_offset, 42);

    // Unknown partitions and oversized metadata are refused per partition.
    let exists_only_t1 = |topic: &str, _: i32| topic == "t1";
    let mut request = commit_request("g", generation, &a, "t1", 0, 50);
    request.topics.push(OffsetCommitRequestTopic {
        name: "missing".to_owned(),
        partitions: vec![OffsetCommitRequestPartition {
            partition_index: 0,
            committed_offset: 1,
            ..Default::default()
        }],
        ..Default::default()
    });
    request.topics[0]
        .partitions
        .push(OffsetCommitRequestPartition {
            partition_index: 2,
            committed_offset: 9,
            committed_metadata: Some("x".repeat(4097)),
            ..Default::default()
        });
    let response = c.offset_commit(request, 9, &exists_only_t1).await;
    assert_encodes(&response, 9);
    let errors: Vec<Vec<ErrorCode>> = response
        .topics
        .iter()
        .map(|t| t.partitions.iter().map(|p| p.error_code).collect())
        .collect();
    assert_eq!(
        errors,
        vec![
            vec![ErrorCode::None, ErrorCode::OffsetMetadataTooLarge],
            vec![ErrorCode::UnknownTopicOrPartition]
        ]
    );
    assert_eq!(
        fetch_v7(&c, "g", "t1", &[0, 2]).await,
        vec![
            (50, 5, Some("meta".to_owned())),
            (-1, -1, Some(String::new()))
        ]
    );

    // While the group waits for its assignment, commits are refused.
    let (_, third_join) = spawn_new_member(&c, "g", &["t1"]).await;
    let a_join = spawn_join(&c, join_request("g", &a, None, &["t1"]), 9);
    let b_join = spawn_join(&c, join_request("g", &b, None, &["t1"]), 9);
    let next = a_join.await.unwrap().generation_id;
    b_join.await.unwrap();
    third_join.await.unwrap();
    assert_eq!(describe(&c, "g").await.group_state, "CompletingRebalance");
    let errors = commit(&c, commit_request("g", next, &a, "t1", 0, 60), 8).await;
    assert_eq!(errors, vec![ErrorCode::RebalanceInProgress]);
}

#[tokio::test(start_paused = true)]
async fn simple_commits_with_generation_minus_one() {
    let c = coordinator();
    // No group yet: a simple commit creates an Empty group with offsets.
    let errors = commit(&c, commit_request("simple", -1, "", "t1", 0, 5), 2).await;
    assert_eq!(errors, vec![ErrorCode::None]);
    assert_eq!(fetch_v7(&c, "simple", "t1", &[0]).await[0].0, 5);
    assert_eq!(describe(&c, "simple").await.group_state, "Empty");
    // v0 carries no generation at all.
    assert_eq!(
        commit(&c, commit_request("simple", -1, "", "t1", 1, 6), 0).await,
        vec![ErrorCode::None]
    );

    // A group with members refuses simple commits.
    stable_pair(&c, "g").await;
    assert_eq!(
        commit(&c, commit_request("g", -1, "", "t1", 0, 5), 8).await,
        vec![ErrorCode::UnknownMemberId]
    );

    // A generation for a group that does not exist.
    assert_eq!(
        commit(&c, commit_request("ghost", 3, "m", "t1", 0, 5), 8).await,
        vec![ErrorCode::IllegalGeneration]
    );
    assert_eq!(
        commit(&c, commit_request("ghost", 3, "m", "t1", 0, 5), 9).await,
        vec![ErrorCode::GroupIdNotFound]
    );
}

#[tokio::test(start_paused = true)]
async fn offset_fetch_of_all_topics() {
    let c = coordinator();
    for (topic, partition, offset) in [("b-topic", 1, 11), ("a-topic", 0, 10), ("b-topic", 0, 12)] {
        let errors = commit(&c, commit_request("g", -1, "", topic, partition, offset), 8).await;
        assert_eq!(errors, vec![ErrorCode::None]);
    }
    // v7: null topics means everything the group committed.
    let response = c
        .offset_fetch(
            OffsetFetchRequest {
                group_id: "g".to_owned(),
                topics: None,
                ..Default::default()
            },
            7,
        )
        .await;
    assert_encodes(&response, 7);
    let seen: Vec<(String, i32, i64)> = response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.clone(), p.partition_index, p.committed_offset))
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("a-topic".to_owned(), 0, 10),
            ("b-topic".to_owned(), 0, 12),
            ("b-topic".to_owned(), 1, 11)
        ]
    );

    // v8: several groups; an unknown group is no error, just nothing.
    let request = OffsetFetchRequest {
        groups: vec![
            OffsetFetchRequestGroup {
                group_id: "g".to_owned(),
                topics: None,
                ..Default::default()
            },
            OffsetFetchRequestGroup {
                group_id: "unknown".to_owned(),
                topics: Some(vec![OffsetFetchRequestTopics {
                    name: "a-topic".to_owned(),
                    partition_indexes: vec![0],
                    ..Default::default()
                }]),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let response = c.offset_fetch(request, 8).await;
    assert_encodes(&response, 8);
    assert_eq!(response.groups.len(), 2);
    assert_eq!(response.groups[0].topics.len(), 2);
    assert_eq!(response.groups[0].topics[1].partitions.len(), 2);
    assert_eq!(response.groups[1].error_code, ErrorCode::None);
    assert_eq!(
        response.groups[1].topics[0].partitions[0].committed_offset,
        -1
    );
}

#[tokio::test(start_paused = true)]
async fn describe_list_and_delete_groups() {
    let c = coordinator();
    let unknown = describe(&c, "nope").await;
    assert_eq!(
        (unknown.error_code, unknown.group_state.as_str()),
        (ErrorCode::None, "Dead")
    );

    let (a, b, _) = stable_pair(&c, "stable").await;
    commit(&c, commit_request("offsets-only", -1, "", "t1", 0, 1), 8).await;

    let list = |states: Vec<&str>, types: Vec<&str>, version: i16| {
        let c = c.clone();
        let request = ListGroupsRequest {
            states_filter: states.into_iter().map(str::to_owned).collect(),
            types_filter: types.into_iter().map(str::to_owned).collect(),
            ..Default::default()
        };
        async move {
            let response = c.list_groups(request, version).await;
            assert_encodes(&response, version);
            response.groups
        }
    };
    let all = list(vec![], vec![], 5).await;
    let ids: Vec<&str> = all.iter().map(|g| g.group_id.as_str()).collect();
    assert_eq!(ids, vec!["offsets-only", "stable"]);
    assert_eq!(all[1].protocol_type, "consumer");
    assert_eq!(all[1].group_state, "Stable");
    assert_eq!(all[1].group_type, "classic");
    let stable = list(vec!["Stable"], vec![], 4).await;
    assert_eq!(stable.len(), 1);
    assert_eq!(stable[0].group_id, "stable");
    let empty = list(vec!["empty"], vec![], 4).await;
    assert_eq!(empty.len(), 1);
    assert_eq!(empty[0].group_id, "offsets-only");
    assert!(
        list(vec![], vec!["consumer"], 5).await.is_empty(),
        "no KIP-848 groups here"
    );
    assert_eq!(list(vec![], vec!["Classic"], 5).await.len(), 2);
    // Before v4 the filter does not exist.
    assert_eq!(list(vec!["Stable"], vec![], 3).await.len(), 2);

    let delete = |groups: Vec<&str>| {
        let c = c.clone();
        let request = DeleteGroupsRequest {
            groups_names: groups.into_iter().map(str::to_owned).collect(),
            ..Default::default()
        };
        async move {
            let response = c.delete_groups(request, 2).await;
            assert_encodes(&response, 2);
            response
                .results
                .into_iter()
                .map(|r| (r.group_id, r.error_code))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        delete(vec!["stable", "nope"]).await,
        vec![
            ("stable".to_owned(), ErrorCode::NonEmptyGroup),
            ("nope".to_owned(), ErrorCode::GroupIdNotFound)
        ]
    );
    let leave = LeaveGroupRequest {
        group_id: "stable".to_owned(),
        members: vec![
            MemberIdentity {
                member_id: a,
                ..Default::default()
            },
            MemberIdentity {
                member_id: b,
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    assert!(
        c.leave_group(leave, 4)
            .await
            .members
            .iter()
            .all(|m| m.error_code == ErrorCode::None)
    );
    assert_eq!(describe(&c, "stable").await.group_state, "Empty");
    assert_eq!(
        delete(vec!["stable", "offsets-only"]).await,
        vec![
            ("stable".to_owned(), ErrorCode::None),
            ("offsets-only".to_owned(), ErrorCode::None)
        ]
    );
    assert_eq!(describe(&c, "stable").await.group_state, "Dead");
    assert_eq!(
        fetch_v7(&c, "offsets-only", "t1", &[0]).await,
        vec![(-1, -1, Some(String::new()))]
    );
    assert!(list(vec![], vec![], 5).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn offset_delete_refuses_subscribed_topics() {
    let c = coordinator();
    let (a, _, generation) = stable_pair(&c, "g").await;
    for topic in ["t1", "t2"] {
        assert_eq!(
            commit(&c, commit_request("g", generation, &a, topic, 0, 3), 8).await,
            vec![ErrorCode::None]
        );
    }
    let delete = |group: &str, topics: &[&str]| OffsetDeleteRequest {
        group_id: group.to_owned(),
        topics: topics
            .iter()
            .map(|t| OffsetDeleteRequestTopic {
                name: (*t).to_owned(),
                partitions: vec![OffsetDeleteRequestPartition { partition_index: 0 }],
            })
            .collect(),
    };
    let response = c.offset_delete(delete("g", &["t1", "t2"]), 0).await;
    assert_encodes(&response, 0);
    assert_eq!(response.error_code, ErrorCode::None);
    assert_eq!(
        response.topics[0].partitions[0].error_code,
        ErrorCode::GroupSubscribedToTopic
    );
    assert_eq!(response.topics[1].partitions[0].error_code, ErrorCode::None);
    assert_eq!(fetch_v7(&c, "g", "t1", &[0]).await[0].0, 3);
    assert_eq!(fetch_v7(&c, "g", "t2", &[0]).await[0].0, -1);

    assert_eq!(
        c.offset_delete(delete("ghost", &["t1"]), 0)
            .await
            .error_code,
        ErrorCode::GroupIdNotFound
    );
    assert_eq!(
        c.offset_delete(delete("", &["t1"]), 0).await.error_code,
        ErrorCode::InvalidGroupId
    );

    // A non-consumer group with members cannot tell its topics: NON_EMPTY_GROUP.
    let mut connect = join_request("connect", "", None, &[]);
    connect.protocol_type = "connect".to_owned();
    assert_eq!(
        spawn_join(&c, connect, 3).await.unwrap().error_code,
        ErrorCode::None
    );
    assert_eq!(
        c.offset_delete(delete("connect", &["t1"]), 0)
            .await
            .error_code,
        ErrorCode::NonEmptyGroup
    );
}

/// A deletion as the store saw it: group and (optionally) partitions.
type Deletion = (String, Option<Vec<(String, i32)>>);

#[derive(Default)]
struct RecordingStore {
    loaded: Vec<CommittedOffset>,
    stored: Mutex<Vec<CommittedOffset>>,
    deleted: Mutex<Vec<Deletion>>,
}

impl OffsetStore for RecordingStore {
    fn load(&self) -> Vec<CommittedOffset> {
        self.loaded.clone()
    }
    fn store(&self, commits: &[CommittedOffset]) {
        self.stored.lock().unwrap().extend_from_slice(commits);
    }
    fn delete(&self, group_id: &str, partitions: Option<&[(String, i32)]>) {
        self.deleted
            .lock()
            .unwrap()
            .push((group_id.to_owned(), partitions.map(<[_]>::to_vec)));
    }
}

#[tokio::test(start_paused = true)]
async fn offset_store_is_loaded_written_and_told_of_deletions() {
    let store = Arc::new(RecordingStore {
        loaded: vec![CommittedOffset {
            group_id: "restored".to_owned(),
            topic: "t1".to_owned(),
            partition: 0,
            offset: 77,
            leader_epoch: 3,
            metadata: Some("m".to_owned()),
            commit_timestamp_ms: 1,
        }],
        ..Default::default()
    });
    let c = GroupCoordinator::new(GroupConfig {
        offset_store: Some(store.clone()),
        ..Default::default()
    });
    assert_eq!(
        fetch_v7(&c, "restored", "t1", &[0]).await,
        vec![(77, 3, Some("m".to_owned()))]
    );
    assert_eq!(describe(&c, "restored").await.group_state, "Empty");

    commit(&c, commit_request("restored", -1, "", "t2", 4, 8), 8).await;
    let stored = store.stored.lock().unwrap().clone();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (
            stored[0].topic.as_str(),
            stored[0].partition,
            stored[0].offset
        ),
        ("t2", 4, 8)
    );
    assert_eq!(stored[0].leader_epoch, 5);

    let request = OffsetDeleteRequest {
        group_id: "restored".to_owned(),
        topics: vec![OffsetDeleteRequestTopic {
            name: "t2".to_owned(),
            partitions: vec![OffsetDeleteRequestPartition { partition_index: 4 }],
        }],
    };
    c.offset_delete(request, 0).await;
    c.delete_groups(
        DeleteGroupsRequest {
            groups_names: vec!["restored".to_owned()],
            ..Default::default()
        },
        0,
    )
    .await;
    let deleted = store.deleted.lock().unwrap().clone();
    assert_eq!(
        deleted,
        vec![
            ("restored".to_owned(), Some(vec![("t2".to_owned(), 4)])),
            ("restored".to_owned(), None)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn initial_rebalance_delay_gathers_the_first_members() {
    let c = GroupCoordinator::new(GroupConfig {
        initial_rebalance_delay_ms: 3_000,
        ..Default::default()
    });
    let (a, a_join) = spawn_new_member(&c, "g", &["t1"]).await;
    advance_ms(2_000).await;
    assert!(!a_join.is_finished(), "the first join waits for the delay");
    let (b, b_join) = spawn_new_member(&c, "g", &["t1"]).await;
    advance_ms(2_000).await;
    assert!(!a_join.is_finished(), "a new member extends the delay");
    // The delay restarted when it first ran out (t = 3 s): it ends at 6 s.
    advance_ms(2_100).await;
    let (a_resp, b_resp) = (a_join.await.unwrap(), b_join.await.unwrap());
    assert_eq!((a_resp.generation_id, b_resp.generation_id), (1, 1));
    assert_eq!(a_resp.leader, a);
    assert_eq!(b_resp.member_id, b);
    assert_eq!(a_resp.members.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn leader_that_never_syncs_is_removed_at_the_sync_timeout() {
    let c = coordinator();
    // Sessions longer than the rebalance timeout, so that only the sync
    // deadline can remove the silent leader.
    let long = |member_id: &str| JoinGroupRequest {
        session_timeout_ms: 45_000,
        ..join_request("g", member_id, None, &["t1"])
    };
    let a = spawn_join(&c, long(""), 9).await.unwrap().member_id;
    spawn_join(&c, long(&a), 9).await.unwrap();
    let b = spawn_join(&c, long(""), 9).await.unwrap().member_id;
    let b_join = spawn_join(&c, long(&b), 9);
    settle().await;
    let generation = spawn_join(&c, long(&a), 9).await.unwrap().generation_id;
    assert_eq!(b_join.await.unwrap().generation_id, generation);
    let b_sync = spawn_sync(&c, "g", &b, generation, vec![]);
    advance_ms(REBALANCE_MS as u64 - 100).await;
    assert!(!b_sync.is_finished());
    advance_ms(200).await;
    assert_eq!(
        b_sync.await.unwrap().error_code,
        ErrorCode::RebalanceInProgress
    );
    assert_eq!(
        heartbeat(&c, "g", &a, generation).await,
        ErrorCode::UnknownMemberId
    );
    let b_join = spawn_join(&c, long(&b), 9).await.unwrap();
    assert_eq!(b_join.leader, b);
    assert_eq!(b_join.members.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn shutdown_answers_parked_requests_and_refuses_new_ones() {
    let c = coordinator();
    let (_, _, generation) = stable_pair(&c, "g").await;
    let (newcomer, parked) = spawn_new_member(&c, "g", &["t1"]).await;
    settle().await;
    assert!(!parked.is_finished());
    c.shutdown();
    assert_eq!(
        parked.await.unwrap().error_code,
        ErrorCode::CoordinatorNotAvailable
    );
    assert_eq!(
        heartbeat(&c, "g", &newcomer, generation).await,
        ErrorCode::CoordinatorNotAvailable
    );
    let join = spawn_join(&c, join_request("g", "", None, &["t1"]), 9)
        .await
        .unwrap();
    assert_eq!(join.error_code, ErrorCode::CoordinatorNotAvailable);
    assert_eq!(
        commit(&c, commit_request("g", -1, "", "t1", 0, 1), 8).await,
        vec![ErrorCode::CoordinatorNotAvailable]
    );
    assert_eq!(
        describe(&c, "g").await.error_code,
        ErrorCode::CoordinatorNotAvailable
    );
    let fetch = c
        .offset_fetch(
            OffsetFetchRequest {
                group_id: "g".to_owned(),
                topics: None,
                ..Default::default()
            },
            7,
        )
        .await;
    assert_eq!(fetch.error_code, ErrorCode::CoordinatorNotAvailable);
}

#[test]
fn subscription_topics_reads_every_version() {
    for version in 0..=3i16 {
        let sub = ConsumerProtocolSubscription {
            topics: vec!["x".to_owned(), "y".to_owned()],
            ..Default::default()
        };
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&version.to_be_bytes());
        sub.encode(&mut buf, version).unwrap();
        assert_eq!(
            classic::subscription_topics(&buf.freeze()),
            Some(vec!["x".to_owned(), "y".to_owned()])
        );
    }
    assert_eq!(
        classic::subscription_topics(&Bytes::from_static(&[0])),
        None
    );
    assert_eq!(
        classic::subscription_topics(&Bytes::from_static(&[0xff, 0xff, 0, 0])),
        None
    );
}

#[tokio::test(start_paused = true)]
async fn answers_encode_at_every_version() {
    let c = coordinator();
    for version in 0..=9i16 {
        let group = format!("g{version}");
        let mut request = join_request(&group, "", None, &["t1"]);
        if version >= 4 {
            let first = c.join_group(request.clone(), version).await;
            assert_encodes(&first, version);
            request.member_id = first.member_id;
        }
        let joined = c.join_group(request, version).await;
        assert_encodes(&joined, version);
        assert_eq!(
            (joined.error_code, joined.generation_id),
            (ErrorCode::None, 1),
            "v{version}"
        );
        let member_id = joined.member_id;

        let sync_version = version.min(5);
        let sync = SyncGroupRequest {
            group_id: group.clone(),
            generation_id: 1,
            member_id: member_id.clone(),
            assignments: vec![SyncGroupRequestAssignment {
                member_id: member_id.clone(),
                assignment: Bytes::from_static(b"x"),
                ..Default::default()
            }],
            ..Default::default()
        };
        let synced = c.sync_group(sync, sync_version).await;
        assert_encodes(&synced, sync_version);
        assert_eq!(synced.assignment, Bytes::from_static(b"x"));

        let beat = HeartbeatRequest {
            group_id: group.clone(),
            generation_id: 1,
            member_id: member_id.clone(),
            ..Default::default()
        };
        let beat = c.heartbeat(beat, version.min(4)).await;
        assert_encodes(&beat, version.min(4));
        assert_eq!(beat.error_code, ErrorCode::None);

        let generation = if version == 0 { -1 } else { 1 };
        let member = if version == 0 { "" } else { member_id.as_str() };
        let committed = c
            .offset_commit(
                commit_request(&group, generation, member, "t1", 0, 9),
                version,
                &all_partitions_exist,
            )
            .await;
        assert_encodes(&committed, version);
        let expected = if version == 0 {
            ErrorCode::UnknownMemberId
        } else {
            ErrorCode::None
        };
        assert_eq!(
            committed.topics[0].partitions[0].error_code, expected,
            "commit v{version}"
        );

        let fetch = if version >= 8 {
            OffsetFetchRequest {
                groups: vec![OffsetFetchRequestGroup {
                    group_id: group.clone(),
                    topics: None,
                    ..Default::default()
                }],
                ..Default::default()
            }
        } else {
            OffsetFetchRequest {
                group_id: group.clone(),
                topics: Some(vec![OffsetFetchRequestTopic {
                    name: "t1".to_owned(),
                    partition_indexes: vec![0],
                    ..Default::default()
                }]),
                ..Default::default()
            }
        };
        assert_encodes(&c.offset_fetch(fetch, version).await, version);

        let described = c
            .describe_groups(
                DescribeGroupsRequest {
                    groups: vec![group.clone()],
                    include_authorized_operations: true,
                    ..Default::default()
                },
                version.min(5),
            )
            .await;
        assert_encodes(&described, version.min(5));
        let expected_ops = if version >= 3 { 3400 } else { i32::MIN };
        assert_eq!(described.groups[0].authorized_operations, expected_ops);

        assert_encodes(
            &c.list_groups(ListGroupsRequest::default(), version.min(5))
                .await,
            version.min(5),
        );

        let leave_version = version.min(5);
        let leave = if leave_version >= 3 {
            LeaveGroupRequest {
                group_id: group.clone(),
                members: vec![MemberIdentity {
                    member_id: member_id.clone(),
                    ..Default::default()
                }],
                ..Default::default()
            }
        } else {
            LeaveGroupRequest {
                group_id: group.clone(),
                member_id: member_id.clone(),
                ..Default::default()
            }
        };
        let left = c.leave_group(leave, leave_version).await;
        assert_encodes(&left, leave_version);
        assert_eq!(describe(&c, &group).await.group_state, "Empty");
        let deleted = c
            .delete_groups(
                DeleteGroupsRequest {
                    groups_names: vec![group],
                    ..Default::default()
                },
                version.min(2),
            )
            .await;
        assert_encodes(&deleted, version.min(2));
        assert_eq!(deleted.results[0].error_code, ErrorCode::None);
    }
}
