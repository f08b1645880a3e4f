//! [`ConsumerCoordinator`]: this consumer's membership in a classic
//! consumer group, and the group's offsets.
//!
//! Joining follows the classic protocol: FindCoordinator, JoinGroup (with the
//! MEMBER_ID_REQUIRED round trip of KIP-394; the subscription carries the
//! owned partitions for KIP-429), the leader computing the assignment with
//! the chosen [`Assignor`](crate::assignor::Assignor), SyncGroup. The join runs on the caller's task (inside `poll`, as in
//! Java); heartbeats run on their own task every `heartbeat.interval.ms`,
//! owned by the coordinator and aborted when it is dropped. The heartbeat
//! task only flags what it learns (REBALANCE_IN_PROGRESS → rejoin;
//! ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID → generation reset, partitions
//! lost; NOT_COORDINATOR → look the coordinator up again), and leaves the
//! group when `poll` was not called for `max.poll.interval.ms` (KIP-62).
//! OffsetCommit carries the generation, so the coordinator refuses commits
//! from a member that missed a rebalance: offsets never move backwards.
//!
//! The eager `sticky` protocol is sticky across generations as Java's
//! `StickyAssignor` is: the member remembers its last assignment and the
//! generation it came from, and sends them in the `sticky` protocol's
//! subscription user data ([`StickyUserData`](crate::assignor::StickyUserData));
//! a leader running `sticky` reads every member's claims from it and keeps
//! each partition with the claim of the newest generation where balance
//! allows. Other protocols send the plain subscription.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrokafka_client::{Client, CoordinatorType, Target};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::generated::join_group_request::JoinGroupRequestProtocol;
use ferrokafka_protocol::generated::join_group_response::JoinGroupResponseMember;
use ferrokafka_protocol::generated::leave_group_request::MemberIdentity;
use ferrokafka_protocol::generated::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use ferrokafka_protocol::generated::offset_fetch_request::OffsetFetchRequestTopic;
use ferrokafka_protocol::generated::sync_group_request::SyncGroupRequestAssignment;
use ferrokafka_protocol::generated::{
    HeartbeatRequest, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, OffsetCommitRequest,
    OffsetFetchRequest, SyncGroupRequest,
};

use crate::assignor::{
    MemberSubscription, StickyAssignor, assignor_for, decode_assignment, decode_sticky_member,
    decode_subscription, encode_assignment, encode_sticky_subscription, encode_subscription,
};
use crate::config::{AssignmentStrategy, ConsumerConfig};
use crate::error::{Error, Result};
use crate::record::{OffsetAndMetadata, TopicPartition};

/// The last OffsetFetch version with a single group (v8 batched groups).
const MAX_OFFSET_FETCH_VERSION: i16 = 7;
/// The protocol type of consumer groups.
const PROTOCOL_TYPE: &str = "consumer";

/// What the member knows about itself; shared with the heartbeat task.
#[derive(Debug)]
pub(crate) struct MemberState {
    pub(crate) member_id: String,
    pub(crate) generation: i32,
    pub(crate) protocol: Option<String>,
    /// Joined and synced for the current generation.
    pub(crate) stable: bool,
    /// The coordinator asked for (or this member needs) a new join.
    pub(crate) rejoin_needed: bool,
    /// The generation was lost: owned partitions must not be committed.
    pub(crate) lost: bool,
    pub(crate) last_poll: Instant,
    pub(crate) fatal: Option<Error>,
    /// The assignment of the last completed SyncGroup and the generation it
    /// belongs to: the previous assignment the `sticky` protocol's user data
    /// carries. Kept through generation resets and rejoins (as Java's
    /// `StickyAssignor` keeps it): a stale claim loses to a newer one.
    pub(crate) last_assignment: Option<(Vec<TopicPartition>, i32)>,
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

/// Aborts its task when dropped: the task never outlives its owner.
#[derive(Debug)]
struct OwnedTask(tokio::task::JoinHandle<()>);

impl Drop for OwnedTask {
    fn drop(&mut self) {
        self.0.abort();
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

/// What a finished join produced.
#[derive(Debug)]
pub(crate) struct Joined {
    pub(crate) assignment: Vec<TopicPartition>,
    /// Whether the group chose a cooperative (KIP-429) protocol.
    pub(crate) cooperative: bool,
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

    /// The client for JoinGroup and SyncGroup (see `join_client`).
    async fn join_client(&mut self) -> Result<Client> {
        let needed = self.config.max_poll_interval + Duration::from_secs(5);
        if self.config.client.request_timeout >= needed {
            return Ok(self.client.clone());
        }
        if let Some(client) = &self.join_client {
            return Ok(client.clone());
        }
        let mut config = self.config.client.clone();
        config.request_timeout = needed;
        let client = Client::connect(config).await?;
        self.join_client = Some(client.clone());
        Ok(client)
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

    /// Joins (or rejoins) the group with `topics` and returns this member's
    /// assignment. Retries coordinator and membership errors until
    /// `deadline`; `Ok(None)` when it passes first.
    pub(crate) async fn join(
        &mut self,
        topics: &[String],
        owned: &[TopicPartition],
        deadline: Instant,
    ) -> Result<Option<Joined>> {
        let metadata = encode_subscription(topics, owned)?;
        // The `sticky` protocol carries the previous assignment in its user
        // data instead (an eager member revoked everything before joining).
        let last = self.with_state(|s| s.last_assignment.clone()).flatten();
        let sticky_metadata = if self
            .config
            .partition_assignment_strategy
            .contains(&AssignmentStrategy::Sticky)
        {
            encode_sticky_subscription(
                topics,
                last.as_ref()
                    .map(|(partitions, generation)| (partitions.as_slice(), *generation)),
            )?
        } else {
            metadata.clone()
        };
        // No heartbeats while joining: the JoinGroup in flight keeps the
        // membership, and a heartbeat answered for the old generation must
        // not flag another rebalance after this one completes.
        self.with_state(|s| s.stable = false);
        let mut attempt = 0u32;
        loop {
            if let Some(fatal) = self.take_fatal() {
                return Err(fatal);
            }
            if attempt > 0 {
                let backoff = self
                    .config
                    .client
                    .retry_backoff
                    .saturating_mul(attempt.min(10))
                    .min(self.config.client.retry_backoff_max);
                if Instant::now() + backoff >= deadline {
                    return Ok(None);
                }
                tokio::time::sleep(backoff).await;
            }
            attempt = attempt.saturating_add(1);
            let (member_id, _) = self.member();
            let request = JoinGroupRequest {
                group_id: self.group.clone(),
                session_timeout_ms: self.config.session_timeout_ms(),
                rebalance_timeout_ms: self.config.rebalance_timeout_ms(),
                member_id,
                group_instance_id: self.config.group_instance_id.clone(),
                protocol_type: PROTOCOL_TYPE.to_string(),
                protocols: self
                    .config
                    .partition_assignment_strategy
                    .iter()
                    .map(|s| JoinGroupRequestProtocol {
                        name: s.name().to_string(),
                        metadata: if *s == AssignmentStrategy::Sticky {
                            sticky_metadata.clone()
                        } else {
                            metadata.clone()
                        },
                        ..Default::default()
                    })
                    .collect(),
                reason: None,
                ..Default::default()
            };
            let target = Target::GroupCoordinator(self.group.clone());
            let join_client = match self.join_client().await {
                Ok(client) => client,
                Err(error) => {
                    tracing::debug!(%error, group = %self.group, "connecting for JoinGroup failed");
                    continue;
                }
            };
            let response = match join_client.send(&request, &target).await {
                Ok(response) => response,
                Err(error) => {
                    tracing::debug!(%error, group = %self.group, "JoinGroup failed");
                    self.forget_coordinator();
                    continue;
                }
            };
            match response.error_code {
                ErrorCode::None => {}
                ErrorCode::MemberIdRequired => {
                    // KIP-394: rejoin at once with the id the coordinator gave.
                    self.with_state(|s| s.member_id = response.member_id.clone());
                    attempt = 0;
                    continue;
                }
                ErrorCode::UnknownMemberId => {
                    self.with_state(|s| s.reset_generation(true));
                    continue;
                }
                ErrorCode::IllegalGeneration => {
                    self.with_state(|s| s.reset_generation(false));
                    continue;
                }
                ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                    self.forget_coordinator();
                    continue;
                }
                ErrorCode::CoordinatorLoadInProgress | ErrorCode::RebalanceInProgress => continue,
                ErrorCode::FencedInstanceId => {
                    return Err(Error::FencedInstanceId(
                        self.config.group_instance_id.clone().unwrap_or_default(),
                    ));
                }
                code => {
                    return Err(Error::Group {
                        group: self.group.clone(),
                        code,
                    });
                }
            }
            let generation = response.generation_id;
            let member_id = response.member_id.clone();
            let protocol = response.protocol_name.clone().unwrap_or_default();
            let assignments = if response.leader == member_id && !response.skip_assignment {
                self.assign_as_leader(&response, &protocol).await?
            } else {
                Vec::new()
            };
            self.with_state(|s| {
                s.member_id = member_id.clone();
                s.generation = generation;
                s.protocol = Some(protocol.clone());
            });
            let sync = SyncGroupRequest {
                group_id: self.group.clone(),
                generation_id: generation,
                member_id: member_id.clone(),
                group_instance_id: self.config.group_instance_id.clone(),
                protocol_type: Some(PROTOCOL_TYPE.to_string()),
                protocol_name: Some(protocol.clone()),
                assignments,
                ..Default::default()
            };
            let response = match join_client.send(&sync, &target).await {
                Ok(response) => response,
                Err(error) => {
                    tracing::debug!(%error, group = %self.group, "SyncGroup failed");
                    self.forget_coordinator();
                    continue;
                }
            };
            match response.error_code {
                ErrorCode::None => {}
                ErrorCode::UnknownMemberId => {
                    self.with_state(|s| s.reset_generation(true));
                    continue;
                }
                ErrorCode::IllegalGeneration => {
                    self.with_state(|s| s.reset_generation(false));
                    continue;
                }
                ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                    self.forget_coordinator();
                    continue;
                }
                ErrorCode::RebalanceInProgress | ErrorCode::CoordinatorLoadInProgress => continue,
                ErrorCode::FencedInstanceId => {
                    return Err(Error::FencedInstanceId(
                        self.config.group_instance_id.clone().unwrap_or_default(),
                    ));
                }
                code => {
                    return Err(Error::Group {
                        group: self.group.clone(),
                        code,
                    });
                }
            }
            let assignment = decode_assignment(response.assignment)?;
            self.with_state(|s| {
                s.last_assignment = Some((assignment.clone(), generation));
                s.stable = true;
                s.rejoin_needed = false;
                s.lost = false;
                s.last_poll = Instant::now();
            });
            self.ensure_heartbeat();
            tracing::debug!(group = %self.group, generation, %member_id, ?assignment, "joined");
            let cooperative = self
                .config
                .partition_assignment_strategy
                .iter()
                .any(|s| s.name() == protocol && s.is_cooperative());
            return Ok(Some(Joined {
                assignment,
                cooperative,
            }));
        }
    }

    async fn assign_as_leader(
        &self,
        response: &JoinGroupResponse,
        protocol: &str,
    ) -> Result<Vec<SyncGroupRequestAssignment>> {
        let strategy = self
            .config
            .partition_assignment_strategy
            .iter()
            .find(|s| s.name() == protocol)
            .copied()
            .ok_or_else(|| {
                Error::Assignment(format!(
                    "the group chose {protocol:?}, which this member lacks"
                ))
            })?;
        let (members, generations) = decode_members(strategy, &response.members)?;
        let mut topics: Vec<&str> = members
            .iter()
            .flat_map(|m| m.topics.iter().map(String::as_str))
            .collect();
        topics.sort_unstable();
        topics.dedup();
        let metadata = self.client.metadata_for(&topics).await?;
        let counts: BTreeMap<String, i32> = topics
            .iter()
            .filter_map(|t| {
                metadata
                    .partition_count(t)
                    .filter(|&n| n > 0)
                    .map(|n| (t.to_string(), i32::try_from(n).unwrap_or(i32::MAX)))
            })
            .collect();
        let plan = compute_plan(strategy, &counts, &members, &generations);
        plan.into_iter()
            .map(|(member_id, partitions)| {
                Ok(SyncGroupRequestAssignment {
                    member_id,
                    assignment: encode_assignment(&partitions)?,
                    ..Default::default()
                })
            })
            .collect()
    }

    fn ensure_heartbeat(&mut self) {
        if self.heartbeat.as_ref().is_some_and(|t| !t.0.is_finished()) {
            return;
        }
        let task = tokio::spawn(heartbeat_loop(
            self.client.clone(),
            self.config.clone(),
            self.group.clone(),
            Arc::clone(&self.state),
        ));
        self.heartbeat = Some(OwnedTask(task));
    }

    /// Stops heartbeating (close, unsubscribe).
    pub(crate) fn stop_heartbeat(&mut self) {
        self.heartbeat = None;
    }

    /// Takes this commit's place in line: the previous commit's end to wait
    /// for, and the sender whose drop tells the next one.
    fn next_commit_turn(
        &self,
    ) -> (
        Option<tokio::sync::oneshot::Receiver<()>>,
        tokio::sync::oneshot::Sender<()>,
    ) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let previous = self
            .last_commit
            .lock()
            .ok()
            .and_then(|mut last| last.replace(rx));
        (previous, tx)
    }

    /// Commits `offsets` with this member's generation (or as a standalone
    /// consumer when it never joined). Membership errors become
    /// [`Error::CommitFailed`] and flag a rejoin.
    pub(crate) async fn commit(
        &self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
        timeout: Duration,
    ) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let (previous, _done) = self.next_commit_turn();
        if let Some(previous) = previous {
            let _ = previous.await;
        }
        let (member_id, generation) = self.member();
        commit_offsets(
            &self.client,
            &self.group,
            self.config.group_instance_id.clone(),
            member_id,
            generation,
            offsets,
            timeout,
            Some(Arc::clone(&self.state)),
        )
        .await
    }

    /// A detached commit for `commit_async`: it carries the generation of
    /// now, so a rebalance in between makes the coordinator refuse it.
    pub(crate) fn commit_task(
        &self,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
        timeout: Duration,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        let client = self.client.clone();
        let group = self.group.clone();
        let instance = self.config.group_instance_id.clone();
        let (member_id, generation) = self.member();
        let state = Arc::clone(&self.state);
        let (previous, done) = self.next_commit_turn();
        async move {
            if let Some(previous) = previous {
                let _ = previous.await;
            }
            let _done = done;
            commit_offsets(
                &client,
                &group,
                instance,
                member_id,
                generation,
                &offsets,
                timeout,
                Some(state),
            )
            .await
        }
    }

    /// The committed offsets of `partitions` (`None` where nothing is committed).
    pub(crate) async fn committed(
        &self,
        partitions: &[TopicPartition],
        timeout: Duration,
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>> {
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in partitions {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
        let request = OffsetFetchRequest {
            group_id: self.group.clone(),
            topics: Some(
                by_topic
                    .into_iter()
                    .map(|(name, partition_indexes)| OffsetFetchRequestTopic {
                        name: name.to_string(),
                        partition_indexes,
                        ..Default::default()
                    })
                    .collect(),
            ),
            require_stable: false,
            ..Default::default()
        };
        let deadline = Instant::now() + timeout;
        let mut attempt = 0u32;
        loop {
            let outcome = async {
                let node = self
                    .client
                    .find_coordinator(CoordinatorType::Group, &self.group)
                    .await?;
                let connection = self.client.coordinator_connection(node).await?;
                let version = connection
                    .version_for::<OffsetFetchRequest>()?
                    .min(MAX_OFFSET_FETCH_VERSION);
                let request = OffsetFetchRequest {
                    require_stable: version >= 7 && request.require_stable,
                    ..request.clone()
                };
                connection
                    .send_at(&request, version)
                    .await
                    .map_err(Error::from)
            }
            .await;
            let retry = match outcome {
                Ok(response) => {
                    let code = if response.error_code != ErrorCode::None {
                        response.error_code
                    } else {
                        response
                            .topics
                            .iter()
                            .flat_map(|t| t.partitions.iter())
                            .map(|p| p.error_code)
                            .find(|c| *c != ErrorCode::None)
                            .unwrap_or(ErrorCode::None)
                    };
                    match code {
                        ErrorCode::None => {
                            let mut out = BTreeMap::new();
                            for topic in response.topics {
                                for p in topic.partitions {
                                    let value =
                                        (p.committed_offset >= 0).then(|| OffsetAndMetadata {
                                            offset: p.committed_offset,
                                            leader_epoch: (p.committed_leader_epoch >= 0)
                                                .then_some(p.committed_leader_epoch),
                                            metadata: p.metadata.filter(|m| !m.is_empty()),
                                        });
                                    out.insert(
                                        TopicPartition::new(topic.name.clone(), p.partition_index),
                                        value,
                                    );
                                }
                            }
                            for tp in partitions {
                                out.entry(tp.clone()).or_insert(None);
                            }
                            return Ok(out);
                        }
                        ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                            self.forget_coordinator();
                            Error::Group {
                                group: self.group.clone(),
                                code,
                            }
                        }
                        code if code.is_retriable() => Error::Group {
                            group: self.group.clone(),
                            code,
                        },
                        code => {
                            return Err(Error::Group {
                                group: self.group.clone(),
                                code,
                            });
                        }
                    }
                }
                Err(error) => {
                    self.forget_coordinator();
                    error
                }
            };
            attempt = attempt.saturating_add(1);
            let backoff = self
                .config
                .client
                .retry_backoff
                .saturating_mul(attempt.min(10))
                .min(self.config.client.retry_backoff_max);
            if Instant::now() + backoff >= deadline {
                return Err(retry);
            }
            tokio::time::sleep(backoff).await;
        }
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

/// Decodes the members' JoinGroup metadata for `strategy`: their
/// subscriptions and, for `sticky`, the generation of each member's claims
/// (members without one are absent). `sticky` reads the claims from
/// Java's `StickyAssignor` user data; the other protocols take the owned
/// partitions of the subscription.
fn decode_members(
    strategy: AssignmentStrategy,
    members: &[JoinGroupResponseMember],
) -> Result<(Vec<MemberSubscription>, BTreeMap<String, i32>)> {
    let mut out = Vec::with_capacity(members.len());
    let mut generations = BTreeMap::new();
    for member in members {
        if strategy == AssignmentStrategy::Sticky {
            let (subscription, generation) = decode_sticky_member(
                &member.member_id,
                member.group_instance_id.clone(),
                member.metadata.clone(),
            )?;
            if let Some(generation) = generation {
                generations.insert(member.member_id.clone(), generation);
            }
            out.push(subscription);
        } else {
            let (topics, owned) = decode_subscription(member.metadata.clone())?;
            out.push(MemberSubscription {
                member_id: member.member_id.clone(),
                group_instance_id: member.group_instance_id.clone(),
                topics,
                owned,
            });
        }
    }
    Ok((out, generations))
}

/// The leader's plan for `strategy`: `sticky` lets the claim of the newest
/// generation win where members claim one partition (as Java's
/// `StickyAssignor` does); the others run their [`Assignor`](crate::assignor::Assignor).
fn compute_plan(
    strategy: AssignmentStrategy,
    counts: &BTreeMap<String, i32>,
    members: &[MemberSubscription],
    generations: &BTreeMap<String, i32>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    if strategy == AssignmentStrategy::Sticky {
        StickyAssignor.assign_with_generations(counts, members, generations)
    } else {
        assignor_for(strategy).assign(counts, members)
    }
}

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

#[allow(clippy::too_many_arguments)]
async fn commit_offsets(
    client: &Client,
    group: &str,
    group_instance_id: Option<String>,
    member_id: String,
    generation: i32,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
    timeout: Duration,
    state: Option<Arc<Mutex<MemberState>>>,
) -> Result<()> {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (tp, offset) in offsets {
        let partition = OffsetCommitRequestPartition {
            partition_index: tp.partition,
            committed_offset: offset.offset,
            committed_leader_epoch: offset.leader_epoch.unwrap_or(-1),
            commit_timestamp: -1,
            committed_metadata: Some(offset.metadata.clone().unwrap_or_default()),
            ..Default::default()
        };
        match topics.iter_mut().find(|t| t.name == tp.topic) {
            Some(t) => t.partitions.push(partition),
            None => topics.push(OffsetCommitRequestTopic {
                name: tp.topic.clone(),
                partitions: vec![partition],
                ..Default::default()
            }),
        }
    }
    let request = OffsetCommitRequest {
        group_id: group.to_string(),
        generation_id_or_member_epoch: generation,
        member_id,
        group_instance_id,
        retention_time_ms: -1,
        topics,
        ..Default::default()
    };
    let first_error = |r: &ferrokafka_protocol::generated::OffsetCommitResponse| {
        r.topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| p.error_code)
            .find(|c| *c != ErrorCode::None)
    };
    let target = Target::GroupCoordinator(group.to_string());
    // Only coordinator moves and transient errors are retried; membership
    // errors are answered below, never retried with a stale generation.
    let response = client
        .send_with_retry_checked(&request, &target, timeout, |r| {
            first_error(r).filter(|code| {
                matches!(
                    code,
                    ErrorCode::NotCoordinator
                        | ErrorCode::CoordinatorNotAvailable
                        | ErrorCode::CoordinatorLoadInProgress
                        | ErrorCode::RequestTimedOut
                )
            })
        })
        .await?;
    match first_error(&response) {
        None => Ok(()),
        Some(code @ (ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration)) => {
            if let Some(state) = state {
                if let Ok(mut s) = state.lock() {
                    s.reset_generation(code == ErrorCode::UnknownMemberId);
                }
            }
            Err(Error::CommitFailed(format!(
                "{code}: the group rebalanced and this member's generation is gone"
            )))
        }
        Some(ErrorCode::RebalanceInProgress) => {
            if let Some(state) = state {
                if let Ok(mut s) = state.lock() {
                    s.rejoin_needed = true;
                }
            }
            Err(Error::CommitFailed(
                "REBALANCE_IN_PROGRESS: rejoin, then commit again".into(),
            ))
        }
        Some(ErrorCode::FencedInstanceId) => Err(Error::FencedInstanceId(String::new())),
        Some(code) => Err(Error::Group {
            group: group.to_string(),
            code,
        }),
    }
}

async fn heartbeat_loop(
    client: Client,
    config: ConsumerConfig,
    group: String,
    state: Arc<Mutex<MemberState>>,
) {
    let target = Target::GroupCoordinator(group.clone());
    loop {
        tokio::time::sleep(config.heartbeat_interval).await;
        let Some((member_id, generation, stable, last_poll)) = state
            .lock()
            .ok()
            .map(|s| (s.member_id.clone(), s.generation, s.stable, s.last_poll))
        else {
            return;
        };
        if !stable {
            continue;
        }
        if last_poll.elapsed() > config.max_poll_interval {
            // KIP-62: a member that stopped polling leaves, so that the
            // group can move on; the next poll rejoins.
            tracing::warn!(
                %group,
                "poll was not called within max.poll.interval.ms; leaving the group"
            );
            if let Ok(mut s) = state.lock() {
                s.reset_generation(config.group_instance_id.is_none());
            }
            if config.group_instance_id.is_none() {
                let _ = tokio::time::timeout(
                    config.client.request_timeout,
                    send_leave(
                        &client,
                        &group,
                        member_id,
                        Some("consumer poll timeout has expired".into()),
                    ),
                )
                .await;
            }
            continue;
        }
        let request = HeartbeatRequest {
            group_id: group.clone(),
            generation_id: generation,
            member_id,
            group_instance_id: config.group_instance_id.clone(),
            ..Default::default()
        };
        let response = tokio::time::timeout(
            config.client.request_timeout,
            client.send(&request, &target),
        )
        .await;
        let Ok(mut s) = state.lock() else { return };
        if s.generation != generation {
            continue;
        }
        match response {
            Ok(Ok(response)) => match response.error_code {
                ErrorCode::None => {}
                ErrorCode::RebalanceInProgress => s.rejoin_needed = true,
                ErrorCode::IllegalGeneration => s.reset_generation(false),
                ErrorCode::UnknownMemberId => s.reset_generation(true),
                ErrorCode::FencedInstanceId => {
                    s.fatal = Some(Error::FencedInstanceId(
                        config.group_instance_id.clone().unwrap_or_default(),
                    ));
                    s.stable = false;
                    return;
                }
                ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                    client.invalidate_coordinator(CoordinatorType::Group, &group);
                }
                code => tracing::debug!(%group, %code, "heartbeat error"),
            },
            Ok(Err(error)) => {
                tracing::debug!(%group, %error, "heartbeat failed");
                client.invalidate_coordinator(CoordinatorType::Group, &group);
            }
            Err(_) => client.invalidate_coordinator(CoordinatorType::Group, &group),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use std::collections::BTreeSet;

    use super::*;
    use crate::assignor::encode_subscription_with_user_data;

    type Last = Option<(Vec<TopicPartition>, i32)>;

    /// A member as the leader sees it in JoinGroup, with the `sticky`
    /// metadata a member whose last assignment was `last` sends.
    fn sticky_member(id: &str, last: &Last) -> JoinGroupResponseMember {
        JoinGroupResponseMember {
            member_id: id.to_string(),
            metadata: encode_sticky_subscription(
                &["t".to_string()],
                last.as_ref().map(|(p, g)| (p.as_slice(), *g)),
            )
            .unwrap(),
            ..Default::default()
        }
    }

    /// One generation of `sticky`: the leader's plan from the members'
    /// metadata, and each member remembering its share.
    fn round(
        generation: i32,
        members: &[(&str, &Last)],
    ) -> BTreeMap<String, (Vec<TopicPartition>, i32)> {
        let joined: Vec<_> = members
            .iter()
            .map(|(id, last)| sticky_member(id, last))
            .collect();
        let (subscriptions, generations) =
            decode_members(AssignmentStrategy::Sticky, &joined).unwrap();
        let counts = BTreeMap::from([("t".to_string(), 6)]);
        let plan = compute_plan(
            AssignmentStrategy::Sticky,
            &counts,
            &subscriptions,
            &generations,
        );
        let all: BTreeSet<&TopicPartition> = plan.values().flatten().collect();
        assert_eq!(all.len(), 6, "{plan:?}");
        assert_eq!(plan.values().map(Vec::len).sum::<usize>(), 6, "{plan:?}");
        plan.into_iter()
            .map(|(id, partitions)| (id, (partitions, generation)))
            .collect()
    }

    fn kept(before: &Last, after: &(Vec<TopicPartition>, i32)) -> usize {
        before.as_ref().map_or(0, |(b, _)| {
            b.iter().filter(|tp| after.0.contains(tp)).count()
        })
    }

    #[test]
    fn the_sticky_leader_keeps_previous_assignments_from_user_data() {
        let none: Last = None;
        let g1 = round(1, &[("a", &none)]);
        let a1 = Some(g1["a"].clone());
        assert_eq!(a1.as_ref().unwrap().0.len(), 6);

        // b joins: a keeps 3 of its 6.
        let g2 = round(2, &[("a", &a1), ("b", &none)]);
        assert_eq!(kept(&a1, &g2["a"]), 3);
        let (a2, b2) = (Some(g2["a"].clone()), Some(g2["b"].clone()));

        // c joins: a and b each hand over one and keep two.
        let g3 = round(3, &[("a", &a2), ("b", &b2), ("c", &none)]);
        assert_eq!((kept(&a2, &g3["a"]), kept(&b2, &g3["b"])), (2, 2));
        let (a3, c3) = (Some(g3["a"].clone()), Some(g3["c"].clone()));

        // b leaves, and a member back with a stale generation-1 claim on
        // everything joins: the newer claims of a and c win, nothing of
        // theirs moves.
        let g4 = round(4, &[("a", &a3), ("c", &c3), ("z", &a1)]);
        assert_eq!((kept(&a3, &g4["a"]), kept(&c3, &g4["c"])), (2, 2));
        assert_eq!(g4["z"].0.len(), 2, "{g4:?}");
    }

    #[test]
    fn only_sticky_reads_the_user_data() {
        let previous = vec![TopicPartition::new("t", 5)];
        let member = JoinGroupResponseMember {
            member_id: "m".into(),
            metadata: encode_subscription_with_user_data(
                &["t".to_string()],
                &[TopicPartition::new("t", 1)],
                Some(
                    crate::assignor::StickyUserData {
                        partitions: previous.clone(),
                        generation: Some(9),
                    }
                    .encode(),
                ),
            )
            .unwrap(),
            ..Default::default()
        };
        let (members, generations) =
            decode_members(AssignmentStrategy::Sticky, std::slice::from_ref(&member)).unwrap();
        assert_eq!(members[0].owned, previous);
        assert_eq!(generations, BTreeMap::from([("m".to_string(), 9)]));
        let (members, generations) =
            decode_members(AssignmentStrategy::CooperativeSticky, &[member]).unwrap();
        assert_eq!(members[0].owned, vec![TopicPartition::new("t", 1)]);
        assert!(generations.is_empty());
    }
}
