//! One classic consumer group: its members, generations and the
//! join/sync/heartbeat/leave state machine, with the timers that drive it.
//!
//! Follows Apache Kafka's classic group coordinator (the `ClassicGroup` and
//! `GroupMetadataManager` of the Java coordinator, the Scala `GroupCoordinator`
//! before it): KIP-62 (rebalance timeout separate from the session timeout),
//! KIP-134 (`group.initial.rebalance.delay.ms`), KIP-345 (static membership),
//! KIP-394 (MEMBER_ID_REQUIRED) and KIP-814 (`SkipAssignment` for a static
//! leader that rejoins a stable group). Nothing here does I/O or reads a clock:
//! the coordinator passes `now` in, and answers parked JoinGroup and SyncGroup
//! requests through one-shot channels, so every transition can be driven
//! deterministically by tests.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::consumer_protocol;
use ferrokafka_protocol::generated::consumer_protocol_subscription::ConsumerProtocolSubscription;
use ferrokafka_protocol::generated::join_group_response::JoinGroupResponseMember;
use ferrokafka_protocol::generated::{JoinGroupResponse, SyncGroupResponse};
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

use super::{GroupSnapshot, MemberSnapshot};

/// Kafka gives a member that joined but was never answered this long before
/// it is dropped (`group.new.member.join.timeout` is fixed at 5 minutes):
/// a new member cannot heartbeat, so its session timeout cannot protect the
/// group from defunct joiners.
const NEW_MEMBER_JOIN_TIMEOUT_MS: i32 = 300_000;

/// How long an Empty group without members and offsets lingers before it is
/// forgotten; Kafka removes such groups on its offset-cleanup pass, which runs
/// every `offsets.retention.check.interval.ms` (600000).
const EMPTY_GROUP_CLEANUP_MS: i32 = 600_000;

/// The protocol type of Kafka's consumer groups; only their member metadata
/// can be decoded (to know the subscribed topics).
pub(super) const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// A classic group's state, named as Kafka names it in DescribeGroups and
/// ListGroups. (Kafka's fifth state, `Dead`, is never stored here: a deleted
/// group is simply removed, and unknown groups are described as "Dead".)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GroupState {
    /// No members (possibly committed offsets).
    Empty,
    /// Waiting for the members to (re)join.
    PreparingRebalance,
    /// Joined; waiting for the leader's assignment.
    CompletingRebalance,
    /// Assignment distributed.
    Stable,
}

impl GroupState {
    /// The name Kafka uses on the wire.
    pub(super) fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
        }
    }
}

/// The coordinator settings a group needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// `group.initial.rebalance.delay.ms`.
    pub(super) initial_rebalance_delay_ms: i32,
}

/// A committed offset inside a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OffsetEntry {
    /// The next offset to consume.
    pub(super) offset: i64,
    /// The leader epoch the committer saw, or -1.
    pub(super) leader_epoch: i32,
    /// The client's metadata string (Kafka stores "" for null).
    pub(super) metadata: String,
    /// When it was committed (ms since the epoch).
    pub(super) commit_timestamp_ms: i64,
}

/// A parked JoinGroup request: where its answer goes and at which version it
/// must be encodable.
pub(super) struct JoinWaiter {
    tx: oneshot::Sender<JoinGroupResponse>,
    version: i16,
}

impl JoinWaiter {
    /// A waiter and the receiver its answer arrives on.
    pub(super) fn new(version: i16) -> (Self, oneshot::Receiver<JoinGroupResponse>) {
        let (tx, rx) = oneshot::channel();
        (JoinWaiter { tx, version }, rx)
    }

    /// Answers with `result`, shaped for the request's version. A receiver
    /// that went away (the client disconnected) is not an error.
    fn complete(self, result: JoinResult) {
        let _ = self.tx.send(result.into_response(self.version));
    }

    /// Answers with an error and nothing else.
    pub(super) fn fail(self, member_id: &str, error: ErrorCode) {
        self.complete(JoinResult::error(member_id, error));
    }
}

/// A parked SyncGroup request.
pub(super) struct SyncWaiter {
    tx: oneshot::Sender<SyncGroupResponse>,
    version: i16,
}

impl SyncWaiter {
    /// A waiter and the receiver its answer arrives on.
    pub(super) fn new(version: i16) -> (Self, oneshot::Receiver<SyncGroupResponse>) {
        let (tx, rx) = oneshot::channel();
        (SyncWaiter { tx, version }, rx)
    }

    /// Answers; the protocol type and name exist from v5 on.
    fn complete(
        self,
        error: ErrorCode,
        protocol_type: Option<String>,
        protocol_name: Option<String>,
        assignment: Bytes,
    ) {
        let with_protocol = self.version >= 5 && error == ErrorCode::None;
        let response = SyncGroupResponse {
            error_code: error,
            protocol_type: if with_protocol { protocol_type } else { None },
            protocol_name: if with_protocol { protocol_name } else { None },
            assignment,
            ..Default::default()
        };
        let _ = self.tx.send(response);
    }

    /// Answers with an error and an empty assignment.
    pub(super) fn fail(self, error: ErrorCode) {
        self.complete(error, None, None, Bytes::new());
    }
}

/// A JoinGroup answer before it is shaped for a version.
struct JoinResult {
    error: ErrorCode,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: String,
    member_id: String,
    members: Vec<JoinGroupResponseMember>,
    skip_assignment: bool,
}

impl JoinResult {
    fn error(member_id: &str, error: ErrorCode) -> Self {
        JoinResult {
            error,
            generation: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_owned(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }

    /// Shapes the answer for `version`: before v7 the protocol name cannot be
    /// null and the protocol type does not exist; `SkipAssignment` exists
    /// from v9 on (the codec refuses to drop a set non-ignorable field).
    fn into_response(self, version: i16) -> JoinGroupResponse {
        let (protocol_type, protocol_name) = if version >= 7 {
            (self.protocol_type, self.protocol_name)
        } else {
            (None, Some(self.protocol_name.unwrap_or_default()))
        };
        JoinGroupResponse {
            error_code: self.error,
            generation_id: self.generation,
            protocol_type,
            protocol_name,
            leader: self.leader,
            skip_assignment: version >= 9 && self.skip_assignment,
            member_id: self.member_id,
            members: self.members,
            ..Default::default()
        }
    }
}

/// What a JoinGroup request carries, already validated by the coordinator.
pub(super) struct JoinArgs {
    /// The member id, or "" for a new member.
    pub(super) member_id: String,
    /// `group.instance.id` of a static member.
    pub(super) instance_id: Option<String>,
    /// The client id from the request header.
    pub(super) client_id: String,
    /// The client's address.
    pub(super) client_host: String,
    /// Validated against the coordinator's bounds.
    pub(super) session_timeout_ms: i32,
    /// The rebalance timeout (the session timeout at v0).
    pub(super) rebalance_timeout_ms: i32,
    /// e.g. "consumer".
    pub(super) protocol_type: String,
    /// Supported protocols (assignors) with their metadata, most preferred
    /// first, duplicates removed.
    pub(super) protocols: Vec<(String, Bytes)>,
    /// The request version (MEMBER_ID_REQUIRED from v4, SkipAssignment from v9).
    pub(super) version: i16,
}

/// A member of a classic group.
pub(super) struct Member {
    /// The member id (`<client id or instance id>-<uuid>`).
    pub(super) id: String,
    /// `group.instance.id` of a static member (KIP-345).
    pub(super) instance_id: Option<String>,
    /// The client id it joined with (a replacing static member keeps the
    /// old one, as in Kafka).
    pub(super) client_id: String,
    /// The address it joined from.
    pub(super) client_host: String,
    rebalance_timeout_ms: i32,
    session_timeout_ms: i32,
    /// (protocol name, metadata), most preferred first.
    protocols: Vec<(String, Bytes)>,
    /// What the leader assigned it in the current generation.
    pub(super) assignment: Bytes,
    /// Its parked JoinGroup, while a rebalance waits for it.
    join_waiter: Option<JoinWaiter>,
    /// Its parked SyncGroup, while the leader's assignment is awaited.
    sync_waiter: Option<SyncWaiter>,
    /// Joined but never answered: not protected by awaiting a rebalance.
    is_new: bool,
    /// When the session expires unless rescheduled; `None` while the member
    /// is parked in a rebalance (Kafka treats those as having heartbeated).
    deadline: Option<Instant>,
    /// Join order: the first member is the first leader, and describes list
    /// members in this order.
    order: u64,
}

impl Member {
    /// The member's metadata for `protocol` (empty if it does not support it).
    pub(super) fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }

    fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(name, _)| name == protocol)
    }

    /// Same protocols with the same metadata in the same order.
    fn matches(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }

    fn is_awaiting_join(&self) -> bool {
        self.join_waiter.is_some()
    }

    fn reschedule(&mut self, now: Instant) {
        self.deadline = Some(after(now, self.session_timeout_ms));
    }
}

/// The pending join phase: the initial delay of a group that was empty
/// (KIP-134), or the rebalance timeout.
#[derive(Debug, Clone, Copy)]
enum JoinTimer {
    Initial {
        at: Instant,
        delay_ms: i32,
        remaining_ms: i32,
    },
    Rebalance {
        at: Instant,
    },
}

impl JoinTimer {
    fn at(self) -> Instant {
        match self {
            JoinTimer::Initial { at, .. } | JoinTimer::Rebalance { at } => at,
        }
    }
}

/// A classic group.
pub(super) struct Group {
    /// The group id.
    pub(super) id: String,
    /// Where the group is in the rebalance protocol.
    pub(super) state: GroupState,
    /// The state before the last transition (an initial rebalance, out of
    /// Empty, waits for its delay even when everyone has joined).
    previous_state: GroupState,
    /// When the current state began.
    state_since: Instant,
    /// Bumped each time a join phase completes (also into Empty).
    pub(super) generation: i32,
    /// The protocol type of the first member (e.g. "consumer").
    pub(super) protocol_type: Option<String>,
    /// The protocol selected for the current generation.
    pub(super) protocol_name: Option<String>,
    /// The leader's member id.
    leader: Option<String>,
    /// Members by id.
    members: HashMap<String, Member>,
    /// `group.instance.id` → current member id.
    static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with their expiry.
    pending_members: HashMap<String, Instant>,
    /// Members that got their JoinGroup answer but have not synced yet.
    pending_sync: HashSet<String>,
    /// A member joined during the initial delay: extend it (KIP-134).
    new_member_added: bool,
    /// Union of the members' subscriptions, computed per generation;
    /// `None` when unknown (not a consumer group, or undecodable metadata).
    subscribed_topics: Option<HashSet<String>>,
    join_timer: Option<JoinTimer>,
    /// Deadline for the members' SyncGroup, and the generation it is for.
    sync_timer: Option<(Instant, i32)>,
    /// Committed offsets by (topic, partition).
    pub(super) offsets: BTreeMap<(String, i32), OffsetEntry>,
    next_order: u64,
    limits: Limits,
}

/// `now + ms`, never panicking (negative durations count as zero).
pub(super) fn after(now: Instant, ms: i32) -> Instant {
    let duration = Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    now.checked_add(duration).unwrap_or(now)
}

/// The topics of a consumer-protocol subscription. The metadata starts with
/// the i16 version of the struct that follows; like Kafka's coordinator we
/// read only the version-0 fields, which every later version starts with.
pub(super) fn subscription_topics(metadata: &Bytes) -> Option<Vec<String>> {
    consumer_protocol::decode_up_to::<ConsumerProtocolSubscription>(metadata, 0)
        .ok()
        .map(|s| s.body.topics)
}

impl Group {
    /// A new, empty group.
    pub(super) fn new(id: String, now: Instant, limits: Limits) -> Self {
        Group {
            id,
            state: GroupState::Empty,
            previous_state: GroupState::Empty,
            state_since: now,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: HashMap::new(),
            static_members: HashMap::new(),
            pending_members: HashMap::new(),
            pending_sync: HashSet::new(),
            new_member_added: false,
            subscribed_topics: None,
            join_timer: None,
            sync_timer: None,
            offsets: BTreeMap::new(),
            next_order: 0,
            limits,
        }
    }

    /// What Kafka keeps of a Stable group in `__consumer_offsets` (its
    /// generation, protocol, leader and members with their assignments), or
    /// `None` when the group is not Stable.
    pub(super) fn snapshot(&self) -> Option<GroupSnapshot> {
        if self.state != GroupState::Stable {
            return None;
        }
        Some(GroupSnapshot {
            group_id: self.id.clone(),
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone(),
            members: self
                .members_in_order()
                .into_iter()
                .map(|m| MemberSnapshot {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    protocols: m.protocols.clone(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        })
    }

    /// Brings back a Stable group from its snapshot after a restart, as
    /// Kafka's coordinator does when it loads `__consumer_offsets`: the
    /// members keep their ids, generation and assignments, and each gets a
    /// fresh session timeout to come back in.
    pub(super) fn restore_members(&mut self, snapshot: GroupSnapshot, now: Instant) {
        if snapshot.members.is_empty() {
            return;
        }
        self.generation = snapshot.generation;
        self.protocol_type = snapshot.protocol_type;
        self.protocol_name = snapshot.protocol_name;
        self.leader = snapshot.leader;
        for member in snapshot.members {
            let order = self.next_order;
            self.next_order += 1;
            if let Some(instance_id) = &member.instance_id {
                self.static_members
                    .insert(instance_id.clone(), member.member_id.clone());
            }
            self.members.insert(
                member.member_id.clone(),
                Member {
                    id: member.member_id,
                    instance_id: member.instance_id,
                    client_id: member.client_id,
                    client_host: member.client_host,
                    rebalance_timeout_ms: member.rebalance_timeout_ms,
                    session_timeout_ms: member.session_timeout_ms,
                    protocols: member.protocols,
                    assignment: member.assignment,
                    join_waiter: None,
                    sync_waiter: None,
                    is_new: false,
                    deadline: Some(after(now, member.session_timeout_ms)),
                    order,
                },
            );
        }
        self.subscribed_topics = self.compute_subscribed_topics();
        self.transition(GroupState::Stable, now);
    }

    /// Whether the group has members (DeleteGroups and OffsetDelete rules).
    pub(super) fn is_empty_state(&self) -> bool {
        self.state == GroupState::Empty
    }

    /// The members in join order.
    pub(super) fn members_in_order(&self) -> Vec<&Member> {
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.order);
        members
    }

    fn ids_in_order(&self) -> Vec<String> {
        self.members_in_order()
            .into_iter()
            .map(|m| m.id.clone())
            .collect()
    }

    /// Kafka's `isSubscribedToTopic`: when the subscriptions are unknown, a
    /// consumer group is assumed subscribed (to be safe) and any other group not.
    pub(super) fn is_subscribed_to(&self, topic: &str) -> bool {
        match &self.subscribed_topics {
            Some(topics) => topics.contains(topic),
            None => self.uses_consumer_protocol(),
        }
    }

    pub(super) fn uses_consumer_protocol(&self) -> bool {
        self.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE)
    }

    /// The leader's view of the members: id, instance id and the metadata of
    /// the selected protocol.
    fn current_members(&self) -> Vec<JoinGroupResponseMember> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.members_in_order()
            .into_iter()
            .map(|m| JoinGroupResponseMember {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m.metadata(&protocol),
                ..Default::default()
            })
            .collect()
    }

    fn transition(&mut self, state: GroupState, now: Instant) {
        self.previous_state = self.state;
        self.state = state;
        self.state_since = now;
    }

    fn rebalance_timeout_ms(&self) -> i32 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    fn has_all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(Member::is_awaiting_join)
    }

    fn can_rebalance(&self) -> bool {
        matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        )
    }

    /// Kafka's `supportsProtocols`: an empty group accepts any non-empty
    /// protocol type and list; otherwise the type must match and one of the
    /// protocols must be supported by every current member.
    fn supports_protocols(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        if self.state == GroupState::Empty {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|(name, _)| self.members.values().all(|m| m.supports(name)))
    }

    /// The protocol every member supports with the most first-choice votes;
    /// ties go to the protocol voted for first in join order (Kafka leaves
    /// ties to hash order).
    fn select_protocol(&self) -> Option<String> {
        let members = self.members_in_order();
        let first = members.first()?;
        let candidates: Vec<&str> = first
            .protocols
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| members.iter().all(|m| m.supports(name)))
            .collect();
        let mut votes: Vec<(&str, usize)> = Vec::new();
        for member in &members {
            let Some((vote, _)) = member
                .protocols
                .iter()
                .find(|(name, _)| candidates.contains(&name.as_str()))
            else {
                continue;
            };
            match votes.iter_mut().find(|(name, _)| *name == vote.as_str()) {
                Some((_, count)) => *count = count.saturating_add(1),
                None => votes.push((vote.as_str(), 1)),
            }
        }
        let mut best: Option<(&str, usize)> = None;
        for (name, count) in votes {
            if best.is_none_or(|(_, top)| count > top) {
                best = Some((name, count));
            }
        }
        best.map(|(name, _)| name.to_owned())
    }

    fn compute_subscribed_topics(&self) -> Option<HashSet<String>> {
        if !self.uses_consumer_protocol() {
            return None;
        }
        if self.members.is_empty() {
            return Some(HashSet::new());
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut topics = HashSet::new();
        for member in self.members.values() {
            topics.extend(subscription_topics(&member.metadata(protocol))?);
        }
        Some(topics)
    }

    /// Kafka's `validateMember`: a static member's instance id must map to
    /// the member id (FENCED_INSTANCE_ID otherwise), and the member must exist.
    pub(super) fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), ErrorCode> {
        if let Some(instance_id) = instance_id {
            match self.static_members.get(instance_id) {
                None => return Err(ErrorCode::UnknownMemberId),
                Some(existing) if existing != member_id => return Err(ErrorCode::FencedInstanceId),
                Some(_) => {}
            }
        }
        if self.members.contains_key(member_id) {
            Ok(())
        } else {
            Err(ErrorCode::UnknownMemberId)
        }
    }

    /// Resets a member's session timer (heartbeat, commit).
    pub(super) fn touch(&mut self, member_id: &str, now: Instant) {
        if let Some(member) = self.members.get_mut(member_id) {
            member.reschedule(now);
        }
    }

    // ---- JoinGroup -------------------------------------------------------

    /// Handles a validated JoinGroup; the answer goes to `waiter`, now or
    /// when the rebalance completes.
    pub(super) fn join(
        &mut self,
        args: JoinArgs,
        waiter: JoinWaiter,
        new_member_id: String,
        now: Instant,
    ) {
        if args.member_id.is_empty() {
            self.join_new_member(args, waiter, new_member_id, now);
        } else {
            self.join_existing_member(args, waiter, now);
        }
    }

    fn join_new_member(
        &mut self,
        args: JoinArgs,
        waiter: JoinWaiter,
        new_member_id: String,
        now: Instant,
    ) {
        if !self.supports_protocols(&args.protocol_type, &args.protocols) {
            waiter.fail("", ErrorCode::InconsistentGroupProtocol);
            return;
        }
        if let Some(instance_id) = args.instance_id.clone() {
            match self.static_members.get(&instance_id).cloned() {
                Some(old_id) => self.update_static_member(
                    &instance_id,
                    &old_id,
                    new_member_id,
                    args,
                    waiter,
                    now,
                ),
                None => self.add_member_and_rebalance(new_member_id, args, waiter, now),
            }
        } else if args.version >= 4 {
            // KIP-394: remember the id and have the client come back with it,
            // so a client that times out does not leave a defunct member.
            self.pending_members
                .insert(new_member_id.clone(), after(now, args.session_timeout_ms));
            waiter.fail(&new_member_id, ErrorCode::MemberIdRequired);
        } else {
            self.add_member_and_rebalance(new_member_id, args, waiter, now);
        }
    }

    fn join_existing_member(&mut self, args: JoinArgs, waiter: JoinWaiter, now: Instant) {
        let member_id = args.member_id.clone();
        if !self.supports_protocols(&args.protocol_type, &args.protocols) {
            waiter.fail(&member_id, ErrorCode::InconsistentGroupProtocol);
            return;
        }
        if self.pending_members.contains_key(&member_id) {
            self.add_member_and_rebalance(member_id, args, waiter, now);
            return;
        }
        if let Err(error) = self.validate_member(&member_id, args.instance_id.as_deref()) {
            waiter.fail(&member_id, error);
            return;
        }
        let (is_leader, matches) = match self.members.get(&member_id) {
            Some(member) => (
                self.leader.as_deref() == Some(member_id.as_str()),
                member.matches(&args.protocols),
            ),
            None => {
                waiter.fail(&member_id, ErrorCode::UnknownMemberId);
                return;
            }
        };
        match self.state {
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(&member_id, args, waiter, now)
            }
            GroupState::CompletingRebalance if matches => {
                // The member lost our JoinGroup answer: send it again.
                let members = if is_leader {
                    self.current_members()
                } else {
                    Vec::new()
                };
                waiter.complete(self.join_result(&member_id, members, false));
            }
            GroupState::Stable if matches && !is_leader => {
                // A follower with unchanged metadata just resyncs.
                waiter.complete(self.join_result(&member_id, Vec::new(), false));
            }
            // Changed metadata, or the leader rejoining (so it can react to
            // topic metadata changes that do not show in member metadata).
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(&member_id, args, waiter, now)
            }
            GroupState::Empty => waiter.fail(&member_id, ErrorCode::UnknownMemberId),
        }
    }

    fn join_result(
        &self,
        member_id: &str,
        members: Vec<JoinGroupResponseMember>,
        skip_assignment: bool,
    ) -> JoinResult {
        JoinResult {
            error: ErrorCode::None,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_owned(),
            members,
            skip_assignment,
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        member_id: String,
        args: JoinArgs,
        waiter: JoinWaiter,
        now: Instant,
    ) {
        if self.state == GroupState::PreparingRebalance && self.previous_state == GroupState::Empty
        {
            self.new_member_added = true;
        }
        if self.members.is_empty() {
            self.protocol_type = Some(args.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member_id.clone());
        }
        if let Some(instance_id) = &args.instance_id {
            self.static_members
                .insert(instance_id.clone(), member_id.clone());
        }
        self.pending_members.remove(&member_id);
        let order = self.next_order;
        self.next_order = self.next_order.wrapping_add(1);
        let member = Member {
            id: member_id.clone(),
            instance_id: args.instance_id,
            client_id: args.client_id,
            client_host: args.client_host,
            rebalance_timeout_ms: args.rebalance_timeout_ms,
            session_timeout_ms: args.session_timeout_ms,
            protocols: args.protocols,
            assignment: Bytes::new(),
            join_waiter: Some(waiter),
            sync_waiter: None,
            is_new: true,
            deadline: Some(after(now, NEW_MEMBER_JOIN_TIMEOUT_MS)),
            order,
        };
        self.members.insert(member_id, member);
        self.maybe_prepare_rebalance_or_complete_join(now);
    }

    /// New protocols and timeouts for a member that now awaits the rebalance.
    fn update_member(&mut self, member_id: &str, args: JoinArgs, waiter: JoinWaiter) {
        let Some(member) = self.members.get_mut(member_id) else {
            waiter.fail(member_id, ErrorCode::UnknownMemberId);
            return;
        };
        member.protocols = args.protocols;
        member.rebalance_timeout_ms = args.rebalance_timeout_ms;
        member.session_timeout_ms = args.session_timeout_ms;
        if let Some(previous) = member.join_waiter.replace(waiter) {
            // A second JoinGroup supersedes the first; answer it so its
            // connection does not stall.
            previous.fail(member_id, ErrorCode::RebalanceInProgress);
        }
    }

    fn update_member_and_rebalance(
        &mut self,
        member_id: &str,
        args: JoinArgs,
        waiter: JoinWaiter,
        now: Instant,
    ) {
        self.update_member(member_id, args, waiter);
        self.maybe_prepare_rebalance_or_complete_join(now);
    }

    /// KIP-345: a static member restarted (empty member id, known instance
    /// id). The new member id takes the old one's place, the old id is fenced,
    /// and a stable group whose selected protocol does not change skips the
    /// rebalance.
    fn update_static_member(
        &mut self,
        instance_id: &str,
        old_id: &str,
        new_id: String,
        args: JoinArgs,
        waiter: JoinWaiter,
        now: Instant,
    ) {
        let current_leader = self.leader.clone().unwrap_or_default();
        let version = args.version;
        let Some(mut member) = self.members.remove(old_id) else {
            waiter.fail("", ErrorCode::UnknownMemberId);
            return;
        };
        // Anyone still waiting with the old id is a zombie of this instance.
        if let Some(old_join) = member.join_waiter.take() {
            old_join.fail(old_id, ErrorCode::FencedInstanceId);
        }
        if let Some(old_sync) = member.sync_waiter.take() {
            old_sync.fail(ErrorCode::FencedInstanceId);
        }
        member.id = new_id.clone();
        member.reschedule(now);
        self.members.insert(new_id.clone(), member);
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(new_id.clone());
        }
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.clone());
        }
        self.static_members
            .insert(instance_id.to_owned(), new_id.clone());
        self.update_member(&new_id, args, waiter);

        match self.state {
            GroupState::Stable => {
                if self.protocol_name.is_some() && self.select_protocol() == self.protocol_name {
                    // No rebalance: answer with the current generation. Before
                    // v9 the old leader id is returned so that a restarted
                    // leader does not compute an assignment nobody would get;
                    // from v9 it learns it leads but must skip the assignment.
                    let is_leader = self.leader.as_deref() == Some(new_id.as_str());
                    let result = if version >= 9 {
                        let members = if is_leader {
                            self.current_members()
                        } else {
                            Vec::new()
                        };
                        self.join_result(&new_id, members, is_leader)
                    } else {
                        JoinResult {
                            leader: current_leader,
                            ..self.join_result(&new_id, Vec::new(), false)
                        }
                    };
                    if let Some(waiter) = self
                        .members
                        .get_mut(&new_id)
                        .and_then(|m| m.join_waiter.take())
                    {
                        waiter.complete(result);
                    }
                } else {
                    self.maybe_prepare_rebalance_or_complete_join(now);
                }
            }
            // The leader may already hold the old member id in its
            // assignment: start over.
            GroupState::CompletingRebalance => self.prepare_rebalance(now),
            GroupState::PreparingRebalance | GroupState::Empty => {
                self.maybe_complete_join_phase(now)
            }
        }
    }

    fn maybe_prepare_rebalance_or_complete_join(&mut self, now: Instant) {
        if self.can_rebalance() {
            self.prepare_rebalance(now);
        } else {
            self.maybe_complete_join_phase(now);
        }
    }

    /// Completes the join phase early when everyone has rejoined, except
    /// during the initial delay of a group that was empty.
    fn maybe_complete_join_phase(&mut self, now: Instant) {
        if self.state == GroupState::PreparingRebalance
            && self.has_all_members_joined()
            && self.previous_state != GroupState::Empty
        {
            self.complete_join(now);
        }
    }

    /// Starts a rebalance.
    pub(super) fn prepare_rebalance(&mut self, now: Instant) {
        if self.state == GroupState::CompletingRebalance {
            self.reset_and_propagate_assignment_error(ErrorCode::RebalanceInProgress, now);
        }
        self.pending_sync.clear();
        self.sync_timer = None;
        let initial = self.state == GroupState::Empty;
        let rebalance_timeout_ms = self.rebalance_timeout_ms();
        self.transition(GroupState::PreparingRebalance, now);
        tracing::debug!(group = %self.id, generation = self.generation, "preparing rebalance");
        if initial {
            let delay_ms = self.limits.initial_rebalance_delay_ms.max(0);
            let remaining_ms = rebalance_timeout_ms.saturating_sub(delay_ms).max(0);
            self.join_timer = Some(JoinTimer::Initial {
                at: after(now, delay_ms),
                delay_ms,
                remaining_ms,
            });
            if delay_ms == 0 {
                // Nothing to wait for: Kafka's zero-delay timer fires at once.
                self.fire_join_timer(now);
            }
        } else if self.has_all_members_joined() {
            self.complete_join(now);
        } else {
            self.join_timer = Some(JoinTimer::Rebalance {
                at: after(now, rebalance_timeout_ms),
            });
        }
    }

    /// The join timer is due.
    fn fire_join_timer(&mut self, now: Instant) {
        let Some(timer) = self.join_timer.take() else {
            return;
        };
        match timer {
            JoinTimer::Initial {
                delay_ms,
                remaining_ms,
                ..
            } if self.new_member_added && remaining_ms != 0 => {
                // KIP-134: members are still arriving; wait a bit more, but
                // never beyond the rebalance timeout.
                self.new_member_added = false;
                let new_delay = self
                    .limits
                    .initial_rebalance_delay_ms
                    .max(0)
                    .min(remaining_ms);
                let new_remaining = remaining_ms.saturating_sub(delay_ms).max(0);
                self.join_timer = Some(JoinTimer::Initial {
                    at: after(now, new_delay),
                    delay_ms: new_delay,
                    remaining_ms: new_remaining,
                });
                if new_delay == 0 {
                    self.fire_join_timer(now);
                }
            }
            JoinTimer::Initial { .. } | JoinTimer::Rebalance { .. } => self.complete_join(now),
        }
    }

    /// Ends the join phase: drops dynamic members that did not rejoin, starts
    /// the next generation and answers every parked JoinGroup.
    fn complete_join(&mut self, now: Instant) {
        self.join_timer = None;
        let not_rejoined: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.is_awaiting_join() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for member_id in not_rejoined {
            tracing::debug!(group = %self.id, member = %member_id, "removing member that did not rejoin");
            self.remove_member(&member_id);
        }
        if !self.maybe_elect_new_joined_leader() && !self.members.is_empty() {
            // Only static members that have not rejoined: wait for them (or
            // for their sessions to expire).
            self.join_timer = Some(JoinTimer::Rebalance {
                at: after(now, self.rebalance_timeout_ms()),
            });
            return;
        }
        self.init_next_generation(now);
        if self.state == GroupState::Empty {
            return;
        }
        tracing::debug!(group = %self.id, generation = self.generation, members = self.members.len(), "rebalance joined");
        let leader_view = self.current_members();
        let ids = self.ids_in_order();
        for member_id in ids {
            let is_leader = self.leader.as_deref() == Some(member_id.as_str());
            let members = if is_leader {
                leader_view.clone()
            } else {
                Vec::new()
            };
            let result = self.join_result(&member_id, members, false);
            if let Some(member) = self.members.get_mut(&member_id) {
                if let Some(waiter) = member.join_waiter.take() {
                    waiter.complete(result);
                }
                member.reschedule(now);
                member.is_new = false;
            }
            self.pending_sync.insert(member_id);
        }
        self.sync_timer = Some((after(now, self.rebalance_timeout_ms()), self.generation));
    }

    /// Keeps the leader if it rejoined, else picks the first member that did.
    fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader.clone() else {
            return false;
        };
        if self
            .members
            .get(&leader)
            .is_some_and(Member::is_awaiting_join)
        {
            return true;
        }
        let joined = self
            .members_in_order()
            .into_iter()
            .find(|m| m.is_awaiting_join())
            .map(|m| m.id.clone());
        match joined {
            Some(new_leader) => {
                self.leader = Some(new_leader);
                true
            }
            None => false,
        }
    }

    fn init_next_generation(&mut self, now: Instant) {
        self.generation = self.generation.wrapping_add(1);
        if self.members.is_empty() {
            self.protocol_name = None;
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition(GroupState::Empty, now);
        } else {
            self.protocol_name = self.select_protocol();
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition(GroupState::CompletingRebalance, now);
        }
        self.pending_sync.clear();
    }

    /// Removes a member, answering anything it still waits for with
    /// UNKNOWN_MEMBER_ID (Kafka lets such a new member retry its join), and
    /// hands leadership to the next member.
    fn remove_member(&mut self, member_id: &str) {
        self.pending_members.remove(member_id);
        self.pending_sync.remove(member_id);
        let Some(mut member) = self.members.remove(member_id) else {
            return;
        };
        let instance_id = member.instance_id.as_deref();
        if instance_id
            .and_then(|i| self.static_members.get(i))
            .map(String::as_str)
            == Some(member_id)
        {
            self.static_members
                .retain(|_, current| current != member_id);
        }
        if let Some(waiter) = member.join_waiter.take() {
            waiter.fail("", ErrorCode::UnknownMemberId);
        }
        if let Some(waiter) = member.sync_waiter.take() {
            waiter.fail(ErrorCode::UnknownMemberId);
        }
        if self.leader.as_deref() == Some(member_id) {
            self.leader = self.members_in_order().first().map(|m| m.id.clone());
        }
    }

    /// A member's session expired (or its new-member join timed out).
    fn remove_member_and_update(&mut self, member_id: &str, now: Instant) {
        self.remove_member(member_id);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance_or_complete_join(now)
            }
            GroupState::PreparingRebalance if self.has_all_members_joined() => {
                self.complete_join(now)
            }
            GroupState::PreparingRebalance | GroupState::Empty => {}
        }
    }

    fn reset_and_propagate_assignment_error(&mut self, error: ErrorCode, now: Instant) {
        for member in self.members.values_mut() {
            member.assignment = Bytes::new();
        }
        self.propagate_assignment(error, now);
    }

    /// Answers every parked SyncGroup with its member's assignment (or the
    /// error) and restarts those members' session timers.
    fn propagate_assignment(&mut self, error: ErrorCode, now: Instant) {
        let protocol_type = self.protocol_type.clone();
        let protocol_name = self.protocol_name.clone();
        for member in self.members.values_mut() {
            if let Some(waiter) = member.sync_waiter.take() {
                waiter.complete(
                    error,
                    protocol_type.clone(),
                    protocol_name.clone(),
                    member.assignment.clone(),
                );
                member.reschedule(now);
            }
        }
    }

    fn remove_pending_sync(&mut self, member_id: &str) {
        self.pending_sync.remove(member_id);
        if self.pending_sync.is_empty() {
            self.sync_timer = None;
        }
    }

    // ---- SyncGroup, Heartbeat, LeaveGroup --------------------------------

    /// Handles SyncGroup; the answer goes to `waiter` now, or (followers)
    /// when the leader's assignment arrives.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Bytes)>,
        waiter: SyncWaiter,
        now: Instant,
    ) {
        if let Err(error) = self.validate_member(member_id, instance_id) {
            waiter.fail(error);
            return;
        }
        if generation != self.generation {
            waiter.fail(ErrorCode::IllegalGeneration);
            return;
        }
        let inconsistent = |asked: Option<&str>, ours: Option<&str>| matches!((asked, ours), (Some(a), Some(o)) if a != o);
        if inconsistent(protocol_type, self.protocol_type.as_deref())
            || inconsistent(protocol_name, self.protocol_name.as_deref())
        {
            waiter.fail(ErrorCode::InconsistentGroupProtocol);
            return;
        }
        match self.state {
            GroupState::Empty => waiter.fail(ErrorCode::UnknownMemberId),
            GroupState::PreparingRebalance => waiter.fail(ErrorCode::RebalanceInProgress),
            GroupState::CompletingRebalance => {
                let previous = self
                    .members
                    .get_mut(member_id)
                    .and_then(|m| m.sync_waiter.replace(waiter));
                if let Some(previous) = previous {
                    previous.fail(ErrorCode::RebalanceInProgress);
                }
                self.remove_pending_sync(member_id);
                if self.leader.as_deref() == Some(member_id) {
                    let mut by_member: HashMap<String, Bytes> = assignments.into_iter().collect();
                    for member in self.members.values_mut() {
                        member.assignment = by_member.remove(&member.id).unwrap_or_default();
                    }
                    self.propagate_assignment(ErrorCode::None, now);
                    self.transition(GroupState::Stable, now);
                    tracing::debug!(group = %self.id, generation = self.generation, "group stable");
                }
            }
            GroupState::Stable => {
                self.remove_pending_sync(member_id);
                let protocol_type = self.protocol_type.clone();
                let protocol_name = self.protocol_name.clone();
                if let Some(member) = self.members.get_mut(member_id) {
                    member.reschedule(now);
                    waiter.complete(
                        ErrorCode::None,
                        protocol_type,
                        protocol_name,
                        member.assignment.clone(),
                    );
                }
            }
        }
    }

    /// Handles Heartbeat.
    pub(super) fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> ErrorCode {
        if let Err(error) = self.validate_member(member_id, instance_id) {
            return error;
        }
        if generation != self.generation {
            return ErrorCode::IllegalGeneration;
        }
        match self.state {
            GroupState::Empty => ErrorCode::UnknownMemberId,
            GroupState::PreparingRebalance => {
                self.touch(member_id, now);
                ErrorCode::RebalanceInProgress
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.touch(member_id, now);
                ErrorCode::None
            }
        }
    }

    /// Handles LeaveGroup for a batch of (member id, instance id); returns
    /// one error per entry. A member can be removed by instance id alone.
    pub(super) fn leave(
        &mut self,
        leaving: &[(String, Option<String>)],
        now: Instant,
    ) -> Vec<ErrorCode> {
        let mut errors = Vec::with_capacity(leaving.len());
        for (member_id, instance_id) in leaving {
            let error = if member_id.is_empty() {
                match instance_id
                    .as_deref()
                    .and_then(|i| self.static_members.get(i))
                    .cloned()
                {
                    Some(current) => {
                        self.remove_member(&current);
                        ErrorCode::None
                    }
                    None => ErrorCode::UnknownMemberId,
                }
            } else if self.pending_members.remove(member_id).is_some() {
                ErrorCode::None
            } else {
                match self.validate_member(member_id, instance_id.as_deref()) {
                    Ok(()) => {
                        self.remove_member(member_id);
                        ErrorCode::None
                    }
                    Err(error) => error,
                }
            };
            errors.push(error);
        }
        if errors.contains(&ErrorCode::None) {
            match self.state {
                GroupState::Stable | GroupState::CompletingRebalance => {
                    self.maybe_prepare_rebalance_or_complete_join(now)
                }
                GroupState::PreparingRebalance => self.maybe_complete_join_phase(now),
                GroupState::Empty => {}
            }
        }
        errors
    }

    // ---- timers ----------------------------------------------------------

    /// The earliest moment something in this group is due.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        let members = self.members.values().filter_map(|m| m.deadline);
        let pending = self.pending_members.values().copied();
        let join = self.join_timer.map(JoinTimer::at);
        let sync = self.sync_timer.map(|(at, _)| at);
        let cleanup = self
            .is_forgettable()
            .then(|| after(self.state_since, EMPTY_GROUP_CLEANUP_MS));
        members
            .chain(pending)
            .chain(join)
            .chain(sync)
            .chain(cleanup)
            .min()
    }

    fn is_forgettable(&self) -> bool {
        self.state == GroupState::Empty
            && self.members.is_empty()
            && self.pending_members.is_empty()
            && self.offsets.is_empty()
    }

    /// Runs every timer that is due at `now`: expired pending members and
    /// sessions, the join phase's end, the sync deadline. Returns true when
    /// the group is an empty husk that should be forgotten.
    pub(super) fn expire(&mut self, now: Instant) -> bool {
        let expired_pending: Vec<String> = self
            .pending_members
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for member_id in expired_pending {
            tracing::debug!(group = %self.id, member = %member_id, "pending member expired");
            self.pending_members.remove(&member_id);
            if self.state == GroupState::PreparingRebalance && self.has_all_members_joined() {
                self.complete_join(now);
            }
        }

        let mut expired: Vec<(u64, String)> = self
            .members
            .values()
            .filter(|m| m.deadline.is_some_and(|at| at <= now))
            .map(|m| (m.order, m.id.clone()))
            .collect();
        expired.sort();
        for (_, member_id) in expired {
            // An earlier removal may have completed a rebalance that
            // rescheduled this member.
            let Some(member) = self.members.get_mut(&member_id) else {
                continue;
            };
            if member.deadline.is_none_or(|at| at > now) {
                continue;
            }
            if !member.is_new && (member.join_waiter.is_some() || member.sync_waiter.is_some()) {
                // Parked in a rebalance counts as alive; the timer restarts
                // when the rebalance answers it.
                member.deadline = None;
                continue;
            }
            tracing::info!(group = %self.id, member = %member_id, "member session expired");
            self.remove_member_and_update(&member_id, now);
        }

        if self.join_timer.is_some_and(|t| t.at() <= now) {
            self.fire_join_timer(now);
        }

        if let Some((_, generation)) = self.sync_timer.filter(|(at, _)| *at <= now) {
            self.sync_timer = None;
            let syncing = matches!(
                self.state,
                GroupState::CompletingRebalance | GroupState::Stable
            );
            if generation == self.generation && syncing && !self.pending_sync.is_empty() {
                let missing: Vec<String> = self.pending_sync.drain().collect();
                for member_id in missing {
                    tracing::info!(group = %self.id, member = %member_id, "member did not sync in time");
                    self.remove_member(&member_id);
                }
                self.prepare_rebalance(now);
            }
        }

        self.is_forgettable() && after(self.state_since, EMPTY_GROUP_CLEANUP_MS) <= now
    }

    /// Answers every parked request with `error` (coordinator shutdown).
    pub(super) fn fail_waiters(&mut self, error: ErrorCode) {
        for member in self.members.values_mut() {
            if let Some(waiter) = member.join_waiter.take() {
                waiter.fail(&member.id, error);
            }
            if let Some(waiter) = member.sync_waiter.take() {
                waiter.fail(error);
            }
        }
    }
}
