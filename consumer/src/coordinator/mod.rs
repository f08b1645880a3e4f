//! [`ConsumerCoordinator`]: this consumer's membership in a classic
//! consumer group, and the group's offsets.
//!
//! Joining follows the classic protocol: FindCoordinator, JoinGroup (with the
//! MEMBER_ID_REQUIRED round trip of KIP-394; the subscription carries the
//! owned partitions for KIP-429), the leader computing the assignment with
//! the chosen [`Assignor`](crate::assignor::Assignor), SyncGroup. The join
//! runs on the caller's task (inside `poll`, as in Java); heartbeats run on
//! their own task every `heartbeat.interval.ms`, owned by the coordinator
//! and aborted when it is dropped. The heartbeat task only flags what it
//! learns (REBALANCE_IN_PROGRESS → rejoin; ILLEGAL_GENERATION /
//! UNKNOWN_MEMBER_ID → generation reset, partitions lost; NOT_COORDINATOR →
//! look the coordinator up again), and leaves the group when `poll` was not
//! called for `max.poll.interval.ms` (KIP-62). OffsetCommit carries the
//! generation, so the coordinator refuses commits from a member that missed
//! a rebalance: offsets never move backwards.
//!
//! The eager `sticky` protocol is sticky across generations as Java's
//! `StickyAssignor` is: the member remembers its last assignment and the
//! generation it came from, and sends them in the `sticky` protocol's
//! subscription user data ([`StickyUserData`](crate::assignor::StickyUserData));
//! a leader running `sticky` reads every member's claims from it and keeps
//! each partition with the claim of the newest generation where balance
//! allows. Other protocols send the plain subscription.
//!
//! This module owns the member's state (shared with the heartbeat task),
//! what `poll` asks of it, and leaving the group; `join` (JoinGroup, the
//! leader's assignment, SyncGroup), `heartbeat` (the heartbeat task) and
//! `commit` (OffsetCommit and OffsetFetch) do the rest.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrokafka_client::{Client, CoordinatorType, Target};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::LeaveGroupRequest;
use ferrokafka_protocol::generated::leave_group_request::MemberIdentity;

use crate::config::ConsumerConfig;
use crate::error::Error;
use crate::record::TopicPartition;

mod commit;
mod heartbeat;
mod join;

use heartbeat::OwnedTask;
pub(crate) use join::Joined;

/// What the member knows about itself; shared with the heartbeat task.
#[derive(Debug)]
struct MemberState {
    member_id: String,
    generation: i32,
    protocol: Option<String>,
    /// Joined and synced for the current generation.
    stable: bool,
    /// The coordinator asked for (or this member needs) a new join.
    rejoin_needed: bool,
    /// The generation was lost: owned partitions must not be committed.
    lost: bool,
    last_poll: Instant,
    fatal: Option<Error>,
    /// The assignment of the last completed SyncGroup and the generation it
    /// belongs to: the previous assignment the `sticky` protocol's user data
    /// carries. Kept through generation resets and rejoins (as Java's
    /// `StickyAssignor` keeps it): a stale claim loses to a newer one.
    last_assignment: Option<(Vec<TopicPartition>, i32)>,
}

impl MemberState {
    fn reset_generation(&mut self, forget_member: bool) {
        self.generation = -1;
        self.stable = false;
        self.rejoin_needed = true;
        self.lost = true;
        if forget_member {
            self.member_id.clear();
        }
    }
}

/// This consumer's group membership and the group's offsets.
#[derive(Debug)]
pub struct ConsumerCoordinator {
    client: Client,
    config: ConsumerConfig,
    group: String,
    state: Arc<Mutex<MemberState>>,
    heartbeat: Option<OwnedTask>,
    /// The end of the last commit started: each commit waits for the one
    /// before it, so commits go out one at a time in call order and a
    /// retried older commit can never land after a newer one and move
    /// offsets backwards.
    last_commit: Mutex<Option<tokio::sync::oneshot::Receiver<()>>>,
    /// The client JoinGroup and SyncGroup go through when `request.timeout.ms`
    /// is shorter than the rebalance timeout: the coordinator holds a
    /// JoinGroup until every member rejoined, so its timeout must cover
    /// `max.poll.interval.ms` (+5 s, as Java's). Made on first use, closed
    /// with the coordinator.
    join_client: Option<Client>,
}

impl Drop for ConsumerCoordinator {
    fn drop(&mut self) {
        if let Some(client) = &self.join_client {
            client.close();
        }
    }
}

impl ConsumerCoordinator {
    /// A coordinator for `group`; nothing is sent until the first join.
    pub(crate) fn new(client: Client, config: ConsumerConfig, group: String) -> Self {
        ConsumerCoordinator {
            client,
            config,
            group,
            state: Arc::new(Mutex::new(MemberState {
                member_id: String::new(),
                generation: -1,
                protocol: None,
                stable: false,
                rejoin_needed: true,
                lost: false,
                last_poll: Instant::now(),
                fatal: None,
                last_assignment: None,
            })),
            heartbeat: None,
            last_commit: Mutex::new(None),
            join_client: None,
        }
    }

    /// Forgets the cached coordinator (in every client this member uses).
    fn forget_coordinator(&self) {
        self.client
            .invalidate_coordinator(CoordinatorType::Group, &self.group);
        if let Some(client) = &self.join_client {
            client.invalidate_coordinator(CoordinatorType::Group, &self.group);
        }
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut MemberState) -> T) -> Option<T> {
        self.state.lock().ok().map(|mut s| f(&mut s))
    }

    /// The group id.
    pub fn group_id(&self) -> &str {
        &self.group
    }

    /// The current member id and generation (`""` and -1 when not joined).
    pub fn member(&self) -> (String, i32) {
        self.with_state(|s| (s.member_id.clone(), s.generation))
            .unwrap_or((String::new(), -1))
    }

    /// Records that the application polled (for `max.poll.interval.ms`).
    pub(crate) fn note_poll(&self) {
        self.with_state(|s| s.last_poll = Instant::now());
    }

    /// Whether a (re)join is due, and whether the previous generation was lost.
    pub(crate) fn rejoin_status(&self) -> (bool, bool) {
        self.with_state(|s| (s.rejoin_needed || !s.stable, s.lost))
            .unwrap_or((true, true))
    }

    /// Whether the protocol of the current generation is cooperative.
    pub(crate) fn is_cooperative(&self) -> bool {
        let protocol = self.with_state(|s| s.protocol.clone()).flatten();
        self.config
            .partition_assignment_strategy
            .iter()
            .any(|s| Some(s.name()) == protocol.as_deref() && s.is_cooperative())
    }

    /// A fatal error the heartbeat task met (fenced static member).
    pub(crate) fn take_fatal(&self) -> Option<Error> {
        self.with_state(|s| s.fatal.clone()).flatten()
    }

    /// Marks that a join is needed (subscription changed).
    pub(crate) fn request_rejoin(&self) {
        self.with_state(|s| s.rejoin_needed = true);
    }

    /// The wait before retry number `attempt` (1 for the first): the retry
    /// backoff times the attempt (at most 10 times), up to
    /// `retry.backoff.max.ms`.
    fn retry_backoff(&self, attempt: u32) -> Duration {
        self.config
            .client
            .retry_backoff
            .saturating_mul(attempt.min(10))
            .min(self.config.client.retry_backoff_max)
    }

    /// Leaves the group (dynamic members only: a static member keeps its
    /// place until its session times out, as in Java) and stops heartbeating.
    pub(crate) async fn leave(&mut self, timeout: Duration) {
        self.stop_heartbeat();
        let (member_id, _) = self.member();
        self.with_state(|s| {
            s.stable = false;
            s.generation = -1;
        });
        if member_id.is_empty() || self.config.group_instance_id.is_some() {
            return;
        }
        let _ = tokio::time::timeout(
            timeout,
            send_leave(&self.client, &self.group, member_id, None),
        )
        .await;
    }
}

/// Sends LeaveGroup for `member_id`, logging (not returning) the outcome.
async fn send_leave(client: &Client, group: &str, member_id: String, reason: Option<String>) {
    let request = LeaveGroupRequest {
        group_id: group.to_string(),
        member_id: member_id.clone(),
        members: vec![MemberIdentity {
            member_id,
            group_instance_id: None,
            reason,
            ..Default::default()
        }],
        ..Default::default()
    };
    // v0-2 carry `member_id`, v3+ `members`: send the one the version carries.
    let target = Target::GroupCoordinator(group.to_string());
    let result = async {
        let node = client.resolve(&target).await?.unwrap_or(-1);
        let connection = client.coordinator_connection(node).await?;
        let version = connection.version_for::<LeaveGroupRequest>()?;
        let request = if version >= 3 {
            LeaveGroupRequest {
                member_id: String::new(),
                ..request
            }
        } else {
            LeaveGroupRequest {
                members: Vec::new(),
                ..request
            }
        };
        connection.send_at(&request, version).await
    }
    .await;
    match result {
        Ok(response) if response.error_code == ErrorCode::None => {
            tracing::debug!(group, "left the group");
        }
        Ok(response) => tracing::debug!(group, code = %response.error_code, "LeaveGroup failed"),
        Err(error) => tracing::debug!(group, %error, "LeaveGroup failed"),
    }
}
