//! The classic consumer-group coordinator (JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, OffsetCommit, OffsetFetch, OffsetDelete, DescribeGroups,
//! ListGroups, DeleteGroups).
//!
//! It owns every group of the broker and their committed offsets, and
//! behaves like Apache Kafka's classic group coordinator: the rebalance
//! protocol with generations (KIP-62 rebalance timeouts, KIP-134 initial
//! delay, KIP-394 MEMBER_ID_REQUIRED, KIP-345 static membership, KIP-814
//! skip assignment), the error codes exactly where Kafka returns them, and
//! committed offsets with metadata and leader epochs (KIP-320).
//!
//! Layout: `classic` is one group's state machine (pure: time is passed
//! in, parked requests are answered through one-shot channels); `membership`,
//! `offsets` and `admin` turn requests into calls on it and shape the
//! responses per version; this module holds the shared state behind one
//! mutex, and the expiry task that fires session, rebalance and sync
//! timeouts. The task belongs to the coordinator: it stops on
//! [`GroupCoordinator::shutdown`] or when the last clone is dropped.
//!
//! With a store (`--data-dir`), a Stable group is kept as Kafka keeps it in
//! `__consumer_offsets` (generation, protocol, leader, members and their
//! assignments) and brought back Stable on restart, each member with a fresh
//! session timeout, so connected consumers go on without rejoining; a group
//! that empties is forgotten there and comes back with its offsets only.
//!
//! Not done (as in a single-node Kafka without these features): offset
//! retention (`offsets.retention.minutes`), `group.max.size`, the KIP-848
//! consumer protocol. Transactional offset commits are held by the
//! transaction coordinator (`crate::txn`) and applied here on commit.

mod admin;
mod classic;
mod membership;
mod offsets;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ferrokafka_protocol::generated::{
    DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest, DescribeGroupsResponse,
    HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest,
    LeaveGroupResponse, ListGroupsRequest, ListGroupsResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse, OffsetFetchRequest,
    OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse,
};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use classic::{Group, Limits};

/// A committed offset as the coordinator stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The group.
    pub group_id: String,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The next offset to consume.
    pub offset: i64,
    /// The leader epoch the committer saw, or -1.
    pub leader_epoch: i32,
    /// The client's metadata string.
    pub metadata: Option<String>,
    /// When it was committed (ms since the epoch).
    pub commit_timestamp_ms: i64,
}

/// Where committed offsets are persisted (the broker's `--data-dir`); the
/// in-memory broker passes `None`.
///
/// The coordinator calls it while holding its lock, so that the store sees
/// commits and deletions in the order they were applied; implementations
/// should be quick (append to a file, no network).
pub trait OffsetStore: Send + Sync + 'static {
    /// Every offset stored before a restart.
    fn load(&self) -> Vec<CommittedOffset>;
    /// Records commits (called after they are applied in memory).
    fn store(&self, commits: &[CommittedOffset]);
    /// Records that a group's offsets (all, or the listed partitions) are gone.
    fn delete(&self, group_id: &str, partitions: Option<&[(String, i32)]>);
    /// Every Stable group stored before a restart (none by default: a
    /// store that keeps only offsets brings groups back Empty).
    fn load_groups(&self) -> Vec<GroupSnapshot> {
        Vec::new()
    }
    /// Records a Stable group's generation (called when it becomes Stable
    /// or its members change while Stable).
    fn store_group(&self, _group: &GroupSnapshot) {}
    /// Records that a group is no longer Stable with members (it emptied,
    /// was deleted or forgotten): a restart brings it back Empty.
    fn forget_group(&self, _group_id: &str) {}
}

/// A Stable classic group as it is persisted: what Kafka writes to
/// `__consumer_offsets` once a generation's assignment is in, and reloads
/// on restart so that the members go on without rejoining.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    /// The group.
    pub group_id: String,
    /// Its generation.
    pub generation: i32,
    /// Its protocol type (e.g. "consumer").
    pub protocol_type: Option<String>,
    /// The protocol chosen for the generation (e.g. "range").
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: Option<String>,
    /// The members, in join order.
    pub members: Vec<MemberSnapshot>,
}

/// One member of a [`GroupSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSnapshot {
    /// Its member id.
    pub member_id: String,
    /// Its `group.instance.id`, for a static member.
    pub instance_id: Option<String>,
    /// Its client id.
    pub client_id: String,
    /// The address it joined from.
    pub client_host: String,
    /// Its rebalance timeout.
    pub rebalance_timeout_ms: i32,
    /// Its session timeout.
    pub session_timeout_ms: i32,
    /// (protocol name, metadata), most preferred first.
    pub protocols: Vec<(String, bytes::Bytes)>,
    /// Its assignment in the generation.
    pub assignment: bytes::Bytes,
}

/// Settings of the group coordinator, with Kafka's broker defaults.
#[derive(Clone)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms` (6000).
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms` (1800000).
    pub max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: Kafka's default is 3000; the
    /// bundled broker defaults to 0 so tests do not wait.
    pub initial_rebalance_delay_ms: i32,
    /// Optional persistence of committed offsets.
    pub offset_store: Option<Arc<dyn OffsetStore>>,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            // Kafka: group.min.session.timeout.ms = 6000.
            min_session_timeout_ms: 6_000,
            // Kafka: group.max.session.timeout.ms = 1800000 (30 minutes).
            max_session_timeout_ms: 1_800_000,
            // Kafka: 3000; 0 here so that a test's first rebalance is immediate.
            initial_rebalance_delay_ms: 0,
            // In memory only.
            offset_store: None,
        }
    }
}

impl std::fmt::Debug for GroupConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupConfig")
            .field("min_session_timeout_ms", &self.min_session_timeout_ms)
            .field("max_session_timeout_ms", &self.max_session_timeout_ms)
            .field(
                "initial_rebalance_delay_ms",
                &self.initial_rebalance_delay_ms,
            )
            .field("offset_store", &self.offset_store.is_some())
            .finish()
    }
}

/// Makes member ids: `<client id or instance id>-<uuid-like>`, as Kafka does.
/// Random per coordinator (std's randomly keyed hasher), plus a counter so
/// that ids never repeat within one coordinator.
struct IdGenerator {
    keys: RandomState,
    counter: u64,
}

impl IdGenerator {
    fn new() -> Self {
        IdGenerator {
            keys: RandomState::new(),
            counter: 0,
        }
    }

    fn member_id(&mut self, prefix: &str) -> String {
        self.counter = self.counter.wrapping_add(1);
        let high = self.keys.hash_one((self.counter, 0u8));
        let low = self.keys.hash_one((self.counter, 1u8));
        format!(
            "{prefix}-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            high >> 32,
            (high >> 16) & 0xffff,
            high & 0xffff,
            low >> 48,
            low & 0xffff_ffff_ffff
        )
    }
}

/// Everything behind the coordinator's lock.
struct State {
    groups: HashMap<String, Group>,
    shutdown: bool,
    ids: IdGenerator,
    limits: Limits,
    min_session_timeout_ms: i32,
    max_session_timeout_ms: i32,
    store: Option<Arc<dyn OffsetStore>>,
    /// (group, topic, partition) -> how many open transactions hold a
    /// pending offset for it (OffsetFetch's `require_stable`, KIP-447).
    pending_txn_offsets: HashMap<(String, String, i32), u32>,
    /// What the store holds of each Stable group: generation and member ids.
    persisted: HashMap<String, (i32, Vec<String>)>,
}

impl State {
    /// Tells the store about `group_id` if what it holds is out of date: a
    /// Stable group whose generation or members changed is stored; one that
    /// emptied or is gone is forgotten. A rebalancing group keeps its last
    /// Stable record, as in Kafka.
    fn persist_group(&mut self, group_id: &str) {
        let Some(store) = self.store.clone() else {
            return;
        };
        let group = self.groups.get(group_id);
        if let Some(snapshot) = group.and_then(Group::snapshot) {
            let members = snapshot
                .members
                .iter()
                .map(|m| m.member_id.clone())
                .collect();
            let held = (snapshot.generation, members);
            if self.persisted.get(group_id) != Some(&held) {
                store.store_group(&snapshot);
                self.persisted.insert(group_id.to_owned(), held);
            }
        } else if group.is_none_or(Group::is_empty_state)
            && self.persisted.remove(group_id).is_some()
        {
            store.forget_group(group_id);
        }
    }

    /// [`State::persist_group`] for every group the store or the coordinator
    /// knows.
    fn persist_all(&mut self) {
        if self.store.is_none() {
            return;
        }
        let mut ids: Vec<String> = self.groups.keys().cloned().collect();
        ids.extend(self.persisted.keys().cloned());
        ids.sort();
        ids.dedup();
        for id in ids {
            self.persist_group(&id);
        }
    }

    /// The earliest timer over all groups.
    fn next_deadline(&self) -> Option<Instant> {
        self.groups.values().filter_map(Group::next_deadline).min()
    }

    /// Fires every due timer; forgets empty husks.
    fn expire(&mut self, now: Instant) {
        self.groups.retain(|_, group| !group.expire(now));
    }
}

/// The state shared by the clones and the expiry task.
struct Shared {
    state: Mutex<State>,
    /// Wakes the expiry task when a timer may have moved earlier.
    wake: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock must not take every
        // later request down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn shutdown(&self) {
        let mut state = self.lock();
        if state.shutdown {
            return;
        }
        state.shutdown = true;
        for group in state.groups.values_mut() {
            group.fail_waiters(ferrokafka_protocol::ErrorCode::CoordinatorNotAvailable);
        }
        drop(state);
        self.wake.notify_one();
    }
}

/// Owns the shared state and the expiry task; dropped with the last clone.
struct Inner {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Inner {
    fn stop(&self) {
        self.shared.shutdown();
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            task.abort();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The expiry task: sleeps until the earliest timer of any group, fires what
/// is due, and goes back to sleep; a notification interrupts the sleep when
/// a request may have set an earlier timer.
async fn run_expiry(shared: Arc<Shared>) {
    loop {
        let next = {
            let mut state = shared.lock();
            if state.shutdown {
                return;
            }
            state.expire(Instant::now());
            state.persist_all();
            state.next_deadline()
        };
        match next {
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = shared.wake.notified() => {}
                }
            }
            None => shared.wake.notified().await,
        }
    }
}

/// The group coordinator; cheap to clone (shared state).
#[derive(Clone)]
pub struct GroupCoordinator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for GroupCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCoordinator").finish_non_exhaustive()
    }
}

impl GroupCoordinator {
    /// Starts a coordinator (and its session-expiry task on the current tokio
    /// runtime, stopped by [`GroupCoordinator::shutdown`] or when the last
    /// clone is dropped), restoring offsets and Stable groups from the store
    /// if any.
    ///
    /// Outside a tokio runtime no task can be started: requests are still
    /// served, but session and rebalance timeouts never fire.
    pub fn new(config: GroupConfig) -> Self {
        let now = Instant::now();
        let limits = Limits {
            initial_rebalance_delay_ms: config.initial_rebalance_delay_ms,
        };
        let mut state = State {
            groups: HashMap::new(),
            shutdown: false,
            ids: IdGenerator::new(),
            limits,
            min_session_timeout_ms: config.min_session_timeout_ms,
            max_session_timeout_ms: config.max_session_timeout_ms,
            store: config.offset_store.clone(),
            pending_txn_offsets: HashMap::new(),
            persisted: HashMap::new(),
        };
        if let Some(store) = &config.offset_store {
            state.restore(store.load(), now);
            state.restore_groups(store.load_groups(), now);
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            wake: Notify::new(),
        });
        let task = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => Some(runtime.spawn(run_expiry(Arc::clone(&shared)))),
            Err(_) => {
                tracing::warn!(
                    "group coordinator started outside a tokio runtime: timeouts will not fire"
                );
                None
            }
        };
        GroupCoordinator {
            inner: Arc::new(Inner {
                shared,
                task: Mutex::new(task),
            }),
        }
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// Lets the expiry task recompute its next wake-up after a request that
    /// may have set an earlier timer.
    fn kick(&self) {
        self.shared().wake.notify_one();
    }

    /// JoinGroup at `version`; waits (up to the rebalance timeout) for the
    /// rebalance to complete, as Kafka does.
    ///
    /// The request body carries neither the client id nor the address, so
    /// members joined this way show empty ones in DescribeGroups and get
    /// member ids without the client-id prefix; handlers should prefer
    /// [`GroupCoordinator::join_group_with_client`].
    pub async fn join_group(&self, request: JoinGroupRequest, version: i16) -> JoinGroupResponse {
        self.join_group_with_client(request, version, "", "").await
    }

    /// JoinGroup at `version` with the request header's client id and the
    /// client's address (Kafka shows it as `/<ip>`), which DescribeGroups
    /// reports and member ids start with (`<client_id>-<uuid>`).
    pub async fn join_group_with_client(
        &self,
        request: JoinGroupRequest,
        version: i16,
        client_id: &str,
        client_host: &str,
    ) -> JoinGroupResponse {
        let (waiter, answer) = classic::JoinWaiter::new(version);
        let group_id = request.group_id.clone();
        {
            let mut state = self.shared().lock();
            state.join_group(
                request,
                version,
                client_id,
                client_host,
                waiter,
                Instant::now(),
            );
            state.persist_group(&group_id);
        }
        self.kick();
        answer.await.unwrap_or_else(|_| {
            membership::join_error(
                version,
                ferrokafka_protocol::ErrorCode::CoordinatorNotAvailable,
            )
        })
    }

    /// SyncGroup at `version`; followers wait for the leader's assignment.
    pub async fn sync_group(&self, request: SyncGroupRequest, version: i16) -> SyncGroupResponse {
        let (waiter, answer) = classic::SyncWaiter::new(version);
        let group_id = request.group_id.clone();
        {
            let mut state = self.shared().lock();
            state.sync_group(request, waiter, Instant::now());
            state.persist_group(&group_id);
        }
        self.kick();
        answer.await.unwrap_or_else(|_| SyncGroupResponse {
            error_code: ferrokafka_protocol::ErrorCode::CoordinatorNotAvailable,
            ..Default::default()
        })
    }

    /// Heartbeat at `version`.
    pub async fn heartbeat(&self, request: HeartbeatRequest, _version: i16) -> HeartbeatResponse {
        let error = self.shared().lock().heartbeat(&request, Instant::now());
        HeartbeatResponse {
            error_code: error,
            ..Default::default()
        }
    }

    /// LeaveGroup at `version` (v0-2 one member; v3+ a batch of members).
    pub async fn leave_group(
        &self,
        request: LeaveGroupRequest,
        version: i16,
    ) -> LeaveGroupResponse {
        let group_id = request.group_id.clone();
        let response = {
            let mut state = self.shared().lock();
            let response = state.leave_group(request, version, Instant::now());
            state.persist_group(&group_id);
            response
        };
        self.kick();
        response
    }

    /// OffsetCommit at `version`; `partition_exists(topic, partition)` says
    /// whether the broker has that partition (UNKNOWN_TOPIC_OR_PARTITION otherwise).
    pub async fn offset_commit(
        &self,
        request: OffsetCommitRequest,
        version: i16,
        partition_exists: &(dyn Fn(&str, i32) -> bool + Send + Sync),
    ) -> OffsetCommitResponse {
        // Asked before taking our lock: the callback takes the broker's own.
        let known: Vec<Vec<bool>> = request
            .topics
            .iter()
            .map(|t| {
                t.partitions
                    .iter()
                    .map(|p| partition_exists(&t.name, p.partition_index))
                    .collect()
            })
            .collect();
        let response = self
            .shared()
            .lock()
            .offset_commit(request, version, &known, Instant::now());
        self.kick();
        response
    }

    /// OffsetFetch at `version` (v0-7 one group; v8+ several groups).
    /// Null topics means every offset the group committed; partitions without
    /// a committed offset get offset -1 and no error, as in Kafka (and
    /// unknown groups are not an error either). With `require_stable`
    /// (v7+), a partition with a pending transactional offset gets
    /// UNSTABLE_OFFSET_COMMIT.
    pub async fn offset_fetch(
        &self,
        request: OffsetFetchRequest,
        version: i16,
    ) -> OffsetFetchResponse {
        self.shared().lock().offset_fetch(request, version)
    }

    /// OffsetDelete at `version`.
    pub async fn offset_delete(
        &self,
        request: OffsetDeleteRequest,
        _version: i16,
    ) -> OffsetDeleteResponse {
        self.shared().lock().offset_delete(request)
    }

    /// DescribeGroups at `version`.
    pub async fn describe_groups(
        &self,
        request: DescribeGroupsRequest,
        version: i16,
    ) -> DescribeGroupsResponse {
        self.shared().lock().describe_groups(request, version)
    }

    /// ListGroups at `version` (with the v4+ state filter and v5+ type filter).
    pub async fn list_groups(
        &self,
        request: ListGroupsRequest,
        version: i16,
    ) -> ListGroupsResponse {
        self.shared().lock().list_groups(request, version)
    }

    /// DeleteGroups at `version` (NON_EMPTY_GROUP while members remain).
    pub async fn delete_groups(
        &self,
        request: DeleteGroupsRequest,
        _version: i16,
    ) -> DeleteGroupsResponse {
        let mut state = self.shared().lock();
        let response = state.delete_groups(request);
        state.persist_all();
        response
    }

    /// TxnOffsetCommit's check of the committing member (Kafka's
    /// `validateOffsetCommit` for a transactional commit): a commit without
    /// member and generation is allowed whatever the group's state; one that
    /// names them must match the group (UNKNOWN_MEMBER_ID,
    /// FENCED_INSTANCE_ID, ILLEGAL_GENERATION).
    pub(crate) fn validate_txn_offset_commit(
        &self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), ferrokafka_protocol::ErrorCode> {
        self.shared().lock().validate_txn_offset_commit(
            group_id,
            member_id,
            group_instance_id,
            generation_id,
        )
    }

    /// Notes that a transaction holds (`held`) or no longer holds a pending
    /// offset for each of `keys` (group, topic, partition): while one does,
    /// OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT for
    /// that partition, as Kafka does (KIP-447).
    pub(crate) fn mark_txn_pending(&self, keys: &[(String, String, i32)], held: bool) {
        let mut state = self.shared().lock();
        for key in keys {
            if held {
                *state.pending_txn_offsets.entry(key.clone()).or_insert(0) += 1;
            } else if let Some(count) = state.pending_txn_offsets.get_mut(key) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    state.pending_txn_offsets.remove(key);
                }
            }
        }
    }

    /// Applies the offsets of a committed transaction (creating the group
    /// if it does not exist yet), and stores them.
    pub(crate) fn apply_txn_offsets(&self, offsets: Vec<CommittedOffset>) {
        self.shared()
            .lock()
            .apply_txn_offsets(offsets, Instant::now());
    }

    /// Stops the expiry task; pending joins and syncs are answered with
    /// COORDINATOR_NOT_AVAILABLE, and so is every later request.
    pub fn shutdown(&self) {
        self.inner.stop();
    }
}
