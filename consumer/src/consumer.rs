//! [`Consumer`]: the poll-based consumer, by manual assignment or as a
//! consumer-group member.
//!
//! `poll` drives everything the application's thread owns, as Java's
//! `KafkaConsumer.poll` does: it (re)joins the group when the heartbeat task
//! flagged a rebalance (committing positions and calling the
//! [`RebalanceListener`] before a revoke: of everything first under an eager
//! protocol, of only the partitions that move, after the join, under
//! cooperative-sticky), commits on the auto-commit interval, resolves
//! missing positions (committed offset, else `auto.offset.reset` through
//! ListOffsets), and collects what the per-broker fetch tasks brought.
//! Records beyond `max.poll.records` wait in a buffer for the next poll; a
//! seek, pause or revoke drops the buffered records of that partition.
//!
//! Positions advance only when records are handed out, and auto-commit
//! commits exactly those positions of partitions still owned, so it never
//! commits records the application has not seen, nor a partition after it
//! was revoked.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use ferrokafka_client::{Client, ConsumerGroupMetadata};
use tokio::task::JoinSet;

use crate::config::{ConsumerConfig, OffsetReset};
use crate::coordinator::ConsumerCoordinator;
use crate::error::{Error, Result};
use crate::fetcher::{
    CompletedFetch, DECODE_AHEAD_RECORDS, EARLIEST_TIMESTAMP, Fetcher, LATEST_TIMESTAMP,
    PartitionOutcome,
};
use crate::record::{ConsumerRecord, OffsetAndMetadata, OffsetAndTimestamp, TopicPartition};
use crate::subscription::{Mode, PendingPosition, SubscriptionState};

/// Told when the group moves partitions to or from this consumer.
///
/// With auto-commit on, positions are committed before
/// `on_partitions_revoked` is called.
pub trait RebalanceListener: Send {
    /// Partitions taken away in a rebalance (processing of them should stop
    /// and their progress be saved).
    fn on_partitions_revoked(&mut self, partitions: &[TopicPartition]);
    /// Partitions this consumer now owns.
    fn on_partitions_assigned(&mut self, partitions: &[TopicPartition]);
    /// Partitions lost without a clean revoke (the generation expired, so
    /// their offsets can no longer be committed). Defaults to
    /// `on_partitions_revoked`, as in Java.
    fn on_partitions_lost(&mut self, partitions: &[TopicPartition]) {
        self.on_partitions_revoked(partitions);
    }
    /// Called before `on_partitions_revoked` while the partitions are still
    /// owned: the offsets returned (each the next offset to read) are
    /// committed synchronously, in the current generation, before the
    /// partitions go. This is how a manual-commit application saves its
    /// progress during a rebalance. Not called when partitions are lost.
    fn offsets_to_commit_on_revoke(
        &mut self,
        _partitions: &[TopicPartition],
    ) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        BTreeMap::new()
    }
}

/// The outcome of a [`Consumer::commit_async`], awaitable or ignorable.
#[derive(Debug)]
pub struct CommitHandle(tokio::sync::oneshot::Receiver<Result<()>>);

impl CommitHandle {
    /// Waits for the commit's outcome.
    pub async fn wait(self) -> Result<()> {
        self.0.await.unwrap_or(Err(Error::Closed))
    }
}

/// A Kafka consumer.
pub struct Consumer {
    client: Client,
    config: ConsumerConfig,
    subscriptions: SubscriptionState,
    fetcher: Fetcher,
    coordinator: Option<ConsumerCoordinator>,
    listener: Option<Box<dyn RebalanceListener>>,
    buffered: VecDeque<CompletedFetch>,
    /// Partition counts of the subscribed topics at the last join, and when
    /// they were last compared with the metadata (added partitions rejoin).
    joined_counts: (BTreeMap<String, usize>, Instant),
    /// A pattern subscription: the regex and when its topics were last matched.
    pattern: Option<(regex_automata::meta::Regex, Option<Instant>)>,
    /// Fetch requests in flight, at most one per broker, each on its own
    /// task (aborted when the set is dropped): (broker, partitions, outcomes).
    fetches: JoinSet<(i32, Vec<TopicPartition>, Vec<PartitionOutcome>)>,
    /// Brokers with a fetch in flight, and the partitions they fetch.
    fetching: BTreeMap<i32, Vec<TopicPartition>>,
    /// The last round met errors: wait the retry backoff before the next.
    backoff_next: bool,
    next_auto_commit: Instant,
    async_commits: JoinSet<()>,
    /// Whether `connect` made the client (then close closes it).
    owns_client: bool,
    closed: bool,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("group_id", &self.config.group_id)
            .field("assignment", &self.subscriptions.assignment())
            .finish()
    }
}

impl Consumer {
    /// Connects to the cluster. Nothing is assigned until `assign` or `subscribe`.
    pub async fn connect(config: ConsumerConfig) -> Result<Consumer> {
        config.validate()?;
        let client = Client::connect(config.client.clone()).await?;
        let mut consumer = Consumer::with_client(client, config);
        consumer.owns_client = true;
        Ok(consumer)
    }

    /// A consumer over an existing cluster handle (whose settings win over
    /// `config.client`); closing the consumer leaves the handle open.
    pub fn with_client(client: Client, config: ConsumerConfig) -> Consumer {
        let coordinator = config
            .group_id
            .clone()
            .map(|g| ConsumerCoordinator::new(client.clone(), config.clone(), g));
        Consumer {
            fetcher: Fetcher::new(client.clone(), config.clone()),
            next_auto_commit: Instant::now() + config.auto_commit_interval,
            client,
            config,
            subscriptions: SubscriptionState::default(),
            coordinator,
            listener: None,
            buffered: VecDeque::new(),
            joined_counts: (BTreeMap::new(), Instant::now()),
            pattern: None,
            fetches: JoinSet::new(),
            fetching: BTreeMap::new(),
            backoff_next: false,
            async_commits: JoinSet::new(),
            owns_client: false,
            closed: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// The cluster handle.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The group member id and generation (`None` without a group).
    pub fn group_member(&self) -> Option<(String, i32)> {
        self.coordinator.as_ref().map(ConsumerCoordinator::member)
    }

    /// This member's group identity, for a transactional producer's
    /// `send_offsets_to_transaction` (consume-transform-produce): the
    /// coordinator then refuses offsets from a member that lost its
    /// partitions. `None` without a `group.id`.
    pub fn group_metadata(&self) -> Option<ConsumerGroupMetadata> {
        let coordinator = self.coordinator.as_ref()?;
        let (member_id, generation_id) = coordinator.member();
        Some(ConsumerGroupMetadata {
            group_id: coordinator.group_id().to_string(),
            generation_id,
            member_id,
            group_instance_id: self.config.group_instance_id.clone(),
        })
    }

    fn ensure_open(&self) -> Result<()> {
        if self.closed {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// Reads exactly these partitions, without a group (offsets are still
    /// committed to `group.id` if one is set). Replaces any previous assignment.
    pub fn assign(&mut self, partitions: impl IntoIterator<Item = TopicPartition>) -> Result<()> {
        self.ensure_open()?;
        if matches!(self.subscriptions.mode, Mode::Subscribed(_)) {
            return Err(Error::IllegalState);
        }
        let partitions: Vec<TopicPartition> = partitions.into_iter().collect();
        self.subscriptions.mode = if partitions.is_empty() {
            Mode::None
        } else {
            Mode::Manual
        };
        self.subscriptions.set_assignment(partitions);
        self.drop_buffered_unassigned();
        Ok(())
    }

    /// Joins the group and reads the partitions it assigns of `topics`.
    pub fn subscribe<S: Into<String>>(
        &mut self,
        topics: impl IntoIterator<Item = S>,
    ) -> Result<()> {
        self.ensure_open()?;
        if self.coordinator.is_none() {
            return Err(Error::NoGroupId("subscribe"));
        }
        if self.subscriptions.mode == Mode::Manual {
            return Err(Error::IllegalState);
        }
        let topics: BTreeSet<String> = topics.into_iter().map(Into::into).collect();
        self.pattern = None;
        self.subscriptions.mode = Mode::Subscribed(topics);
        if let Some(coordinator) = &self.coordinator {
            coordinator.request_rejoin();
        }
        Ok(())
    }

    /// Subscribes to every topic whose whole name matches `pattern` (a
    /// regular expression, matched as Java's `Pattern.matcher().matches()`).
    /// Topics are matched again every `metadata.max.age.ms`; new matches
    /// trigger a rejoin. Internal topics are never matched.
    pub fn subscribe_pattern(&mut self, pattern: &str) -> Result<()> {
        let regex = regex_automata::meta::Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
            Error::Client(ferrokafka_client::Error::Config(format!(
                "invalid subscription pattern {pattern:?}: {e}"
            )))
        })?;
        self.subscribe(Vec::<String>::new())?;
        self.pattern = Some((regex, None));
        Ok(())
    }

    /// Re-matches the pattern against the cluster's topics when due;
    /// a changed set of topics updates the subscription and asks for a rejoin.
    async fn refresh_pattern(&mut self) -> Result<()> {
        let Some((regex, checked)) = &self.pattern else {
            return Ok(());
        };
        if checked.is_some_and(|c| c.elapsed() < self.config.client.metadata_max_age) {
            return Ok(());
        }
        let request = ferrokafka_protocol::generated::MetadataRequest {
            topics: None,
            allow_auto_topic_creation: false,
            ..Default::default()
        };
        let response = self
            .client
            .send(&request, &ferrokafka_client::Target::AnyBroker)
            .await?;
        let matched: BTreeSet<String> = response
            .topics
            .into_iter()
            .filter(|t| !t.is_internal && t.error_code == ferrokafka_protocol::ErrorCode::None)
            .filter_map(|t| t.name)
            .filter(|name| regex.is_match(name.as_str()))
            .collect();
        if let Some((_, checked)) = &mut self.pattern {
            *checked = Some(Instant::now());
        }
        if self.subscriptions.mode != Mode::Subscribed(matched.clone()) {
            tracing::debug!(?matched, "pattern subscription changed");
            self.subscriptions.mode = Mode::Subscribed(matched);
            if let Some(coordinator) = &self.coordinator {
                coordinator.request_rejoin();
            }
        }
        Ok(())
    }

    /// Like [`Consumer::subscribe`], with a listener told of every
    /// assignment change.
    pub fn subscribe_with_listener<S: Into<String>>(
        &mut self,
        topics: impl IntoIterator<Item = S>,
        listener: Box<dyn RebalanceListener>,
    ) -> Result<()> {
        self.subscribe(topics)?;
        self.listener = Some(listener);
        Ok(())
    }

    /// The subscribed topics (empty with a manual assignment).
    pub fn subscription(&self) -> Vec<String> {
        match &self.subscriptions.mode {
            Mode::Subscribed(topics) => topics.iter().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// Stops reading: commits (with auto-commit), revokes, leaves the group.
    pub async fn unsubscribe(&mut self) -> Result<()> {
        self.ensure_open()?;
        if matches!(self.subscriptions.mode, Mode::Subscribed(_)) {
            self.revoke_all(false).await;
            if let Some(coordinator) = &mut self.coordinator {
                coordinator.leave(self.config.client.request_timeout).await;
            }
        }
        self.subscriptions.mode = Mode::None;
        self.pattern = None;
        self.subscriptions.set_assignment([]);
        self.buffered.clear();
        Ok(())
    }

    /// The partitions this consumer reads now.
    pub fn assignment(&self) -> Vec<TopicPartition> {
        self.subscriptions.assignment()
    }

    /// Fetches records, waiting up to `timeout` for some. Returns at most
    /// `max.poll.records`; an empty batch when none arrived in time.
    ///
    /// Fetching runs ahead of `poll`: each broker leading an assigned
    /// partition has (at most) one Fetch in flight on its own task, started
    /// again as soon as its partitions' buffered records are handed out, so
    /// the next `poll` usually finds its records waiting, and a slow or
    /// unreachable broker holds up only its own partitions.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        self.ensure_open()?;
        let deadline = Instant::now() + timeout;
        if let Some(coordinator) = &self.coordinator {
            coordinator.note_poll();
        }
        let mut quick_rounds = 0u32;
        loop {
            self.ensure_group(deadline).await?;
            self.maybe_auto_commit().await;
            self.collect_fetches(None).await?;
            let records = self.drain_buffered();
            if !records.is_empty() {
                self.start_fetches(self.config.fetch_max_wait).await;
                return Ok(records);
            }
            // Positions are resolved within the poll's time; a transient
            // failure (topic not created yet, leader moving, coordinator
            // loading) is retried on the next round, as Java does.
            let budget = deadline
                .saturating_duration_since(Instant::now())
                .min(self.config.client.request_timeout);
            match self.update_positions(budget).await {
                Ok(()) => {}
                Err(Error::Client(ferrokafka_client::Error::Closed)) => return Err(Error::Closed),
                Err(error @ Error::Client(_)) => {
                    tracing::warn!(%error, "resolving positions failed; retrying");
                    self.backoff_next = true;
                }
                Err(error @ Error::Group { code, .. }) if code.is_retriable() => {
                    tracing::warn!(%error, "fetching committed offsets failed; retrying");
                    self.backoff_next = true;
                }
                Err(error) => return Err(error),
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Vec::new());
            }
            self.start_fetches(deadline.saturating_duration_since(now))
                .await;
            let in_flight = self.fetches.len();
            let got_data = if self.fetches.is_empty() {
                false
            } else {
                self.collect_fetches(Some(deadline)).await?
            };
            // A fetch that came back empty at once (it did not long-poll
            // because partitions of its broker were waiting for `poll`) is
            // followed straight away by one for those partitions; a few
            // such rounds in a row at most, so a broker that answers every
            // fetch at once cannot make this spin.
            let finished = self.fetches.len() < in_flight;
            if finished && !got_data && !self.backoff_next && quick_rounds < 3 {
                quick_rounds += 1;
                continue;
            }
            quick_rounds = 0;
            if !got_data && Instant::now() < deadline {
                // Nothing to fetch (no assignment, all paused, positions
                // pending), or a fetch that returned nothing at once: avoid a
                // hot loop, and after errors wait the retry backoff.
                let pause = if std::mem::take(&mut self.backoff_next) || self.fetches.is_empty() {
                    self.config.client.retry_backoff
                } else {
                    Duration::from_millis(10)
                };
                let wait = pause.min(deadline.saturating_duration_since(Instant::now()));
                tokio::time::sleep(wait).await;
            }
        }
    }

    /// Where the next fetch of `tp` starts: after its buffered records, or
    /// at its position. `None` if it is not assigned or has no position.
    fn fetch_position(&self, tp: &TopicPartition) -> Option<i64> {
        let position = self.subscriptions.position(tp)?;
        let buffered_end = self
            .buffered
            .iter()
            .rev()
            .find(|f| &f.partition == tp && f.has_more())
            .filter(|f| f.pending.is_none())
            .and_then(|f| f.records.back())
            .map(|r| r.offset.saturating_add(1));
        Some(buffered_end.unwrap_or(position))
    }

    /// Starts a Fetch to every broker that leads a fetchable partition with
    /// no buffered records and has no fetch in flight.
    async fn start_fetches(&mut self, max_wait: Duration) {
        let in_flight: BTreeSet<&TopicPartition> = self.fetching.values().flatten().collect();
        let mut wanted: Vec<(TopicPartition, i64)> = Vec::new();
        // Partitions left out because `poll` has not handed out their
        // buffered records yet: they want a fetch soon.
        let mut held_back: Vec<(TopicPartition, i64)> = Vec::new();
        for (tp, _) in self.subscriptions.fetchable() {
            if in_flight.contains(&tp) {
                continue;
            }
            let buffered = self
                .buffered
                .iter()
                .any(|f| f.partition == tp && f.has_more());
            if buffered {
                held_back.push((tp, 0));
            } else if let Some(position) = self.fetch_position(&tp) {
                wanted.push((tp, position));
            }
        }
        // A fetch that left out partitions of its broker must not long-poll:
        // it would hold their next fetch back for `fetch.max.wait.ms` while
        // the broker has data for them (a broker serves one request per
        // connection at a time). Such a fetch returns at once instead.
        let (held_leaders, _) = self.fetcher.by_leader(held_back);
        if wanted.is_empty() {
            return;
        }
        let (by_leader, leaderless) = self.fetcher.by_leader(wanted);
        if !leaderless.is_empty() {
            // Unknown topic or leader: register interest in the topics and
            // look again (rate-limited by the poll loop's retry backoff).
            self.backoff_next = true;
            let topics: Vec<&str> = leaderless.iter().map(String::as_str).collect();
            let known = self.client.metadata();
            let result = if topics.iter().all(|t| known.topic(t).is_some()) {
                self.client.refresh_metadata().await
            } else {
                self.client.metadata_for(&topics).await.map(|_| ())
            };
            if let Err(error) = result {
                tracing::debug!(%error, "metadata refresh failed");
            }
        }
        for (leader, partitions) in by_leader {
            if self.fetching.contains_key(&leader) {
                continue;
            }
            self.fetching.insert(
                leader,
                partitions.iter().map(|(tp, _)| tp.clone()).collect(),
            );
            let fetcher = self.fetcher.clone();
            let max_wait = if held_leaders.contains_key(&leader) {
                Duration::ZERO
            } else {
                max_wait
            };
            self.fetches.spawn(async move {
                let outcomes = fetcher
                    .fetch_from_leader(leader, &partitions, max_wait)
                    .await;
                (
                    leader,
                    partitions.into_iter().map(|(tp, _)| tp).collect(),
                    outcomes,
                )
            });
        }
    }

    /// Buffers the results of finished fetches; with a deadline, first waits
    /// (until then) for one to finish. True if records arrived.
    async fn collect_fetches(&mut self, deadline: Option<Instant>) -> Result<bool> {
        let before: usize = self.buffered.len();
        let mut finished = Vec::new();
        if let Some(deadline) = deadline {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if let Ok(Some(joined)) =
                tokio::time::timeout(remaining, self.fetches.join_next()).await
            {
                finished.push(joined);
            }
        }
        while let Some(joined) = self.fetches.try_join_next() {
            finished.push(joined);
        }
        let mut outcomes = Vec::new();
        for joined in finished {
            match joined {
                Ok((leader, _, result)) => {
                    self.fetching.remove(&leader);
                    outcomes.extend(result);
                }
                Err(error) => {
                    // A fetch task panicked: forget the slots so every
                    // partition is fetched again (a duplicate answer is
                    // dropped as stale).
                    tracing::warn!(%error, "fetch task failed");
                    self.fetching.clear();
                }
            }
        }
        self.handle_outcomes(outcomes).await?;
        Ok(self.buffered.len() > before)
    }

    async fn handle_outcomes(&mut self, outcomes: Vec<PartitionOutcome>) -> Result<()> {
        let mut refresh = false;
        let mut first_error = None;
        for outcome in outcomes {
            match outcome {
                PartitionOutcome::Data(fetch) => {
                    // Stale after a seek, revoke or reset: dropped.
                    if self.fetch_position(&fetch.partition) != Some(fetch.next_offset) {
                        continue;
                    }
                    if !fetch.has_more() {
                        if let Some(skip) = fetch.skip_to {
                            if self.subscriptions.position(&fetch.partition)
                                == Some(fetch.next_offset)
                            {
                                self.subscriptions.seek(&fetch.partition, skip);
                            }
                        }
                        continue;
                    }
                    self.buffered.push_back(fetch);
                }
                PartitionOutcome::OutOfRange(tp, offset) => {
                    if self.subscriptions.position(&tp) != Some(offset)
                        || self.fetch_position(&tp) != Some(offset)
                    {
                        continue;
                    }
                    match self.config.auto_offset_reset {
                        OffsetReset::None => {
                            first_error.get_or_insert(Error::OffsetOutOfRange {
                                partition: tp,
                                offset,
                            });
                        }
                        reset => {
                            tracing::info!(partition = %tp, offset, ?reset, "offset out of range; resetting");
                            self.subscriptions.request_reset(&tp, reset);
                        }
                    }
                }
                PartitionOutcome::RefreshMetadata => refresh = true,
                PartitionOutcome::Failed(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        if refresh {
            self.backoff_next = true;
            if let Err(error) = self.client.refresh_metadata().await {
                tracing::debug!(%error, "metadata refresh failed");
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Hands out buffered records, up to `max.poll.records`, advancing positions.
    fn drain_buffered(&mut self) -> Vec<ConsumerRecord> {
        let max = self.config.max_poll_records;
        let mut out = Vec::new();
        while out.len() < max {
            let Some(fetch) = self.buffered.front_mut() else {
                break;
            };
            let valid = self.subscriptions.is_fetchable(&fetch.partition)
                && self.subscriptions.position(&fetch.partition) == Some(fetch.next_offset);
            if valid && fetch.records.is_empty() {
                // The next batches, decoded as they are needed.
                fetch.decode_more(DECODE_AHEAD_RECORDS.max(max));
            }
            if !valid || fetch.records.is_empty() {
                self.buffered.pop_front();
                continue;
            }
            let mut last = None;
            while out.len() < max {
                let Some(record) = fetch.records.pop_front() else {
                    break;
                };
                last = Some((record.offset, record.leader_epoch));
                out.push(record);
            }
            if let Some((offset, epoch)) = last {
                let next = offset.saturating_add(1);
                fetch.next_offset = next;
                let tp = fetch.partition.clone();
                if let Some(state) = self.subscriptions.partitions.get_mut(&tp) {
                    state.position = Some(next);
                    if epoch.is_some() {
                        state.last_epoch = epoch;
                    }
                }
            }
        }
        out
    }

    fn drop_buffered_unassigned(&mut self) {
        let subscriptions = &self.subscriptions;
        self.buffered
            .retain(|f| subscriptions.partitions.contains_key(&f.partition));
    }

    /// Resolves partitions without a position: committed offset first (with
    /// a group), then the reset policy.
    async fn update_positions(&mut self, timeout: Duration) -> Result<()> {
        let missing = self.subscriptions.missing_positions();
        if missing.is_empty() {
            return Ok(());
        }
        let need_committed: Vec<TopicPartition> = missing
            .iter()
            .filter(|(_, p)| *p == PendingPosition::Committed)
            .map(|(tp, _)| tp.clone())
            .collect();
        let mut resets: Vec<(TopicPartition, OffsetReset)> = missing
            .iter()
            .filter_map(|(tp, p)| match p {
                PendingPosition::Reset(r) => Some((tp.clone(), *r)),
                PendingPosition::Committed => None,
            })
            .collect();
        if !need_committed.is_empty() {
            let committed = match &self.coordinator {
                Some(coordinator) => coordinator.committed(&need_committed, timeout).await?,
                None => BTreeMap::new(),
            };
            for tp in need_committed {
                match committed.get(&tp).cloned().flatten() {
                    Some(offset) => {
                        self.subscriptions.seek(&tp, offset.offset);
                        if let Some(state) = self.subscriptions.partitions.get_mut(&tp) {
                            state.last_epoch = offset.leader_epoch;
                        }
                    }
                    None => resets.push((tp, self.config.auto_offset_reset)),
                }
            }
        }
        for reset in [OffsetReset::Earliest, OffsetReset::Latest] {
            let partitions: Vec<TopicPartition> = resets
                .iter()
                .filter(|(_, r)| *r == reset)
                .map(|(tp, _)| tp.clone())
                .collect();
            if partitions.is_empty() {
                continue;
            }
            let timestamp = if reset == OffsetReset::Earliest {
                EARLIEST_TIMESTAMP
            } else {
                LATEST_TIMESTAMP
            };
            let offsets = self
                .fetcher
                .list_offsets(&partitions, timestamp, timeout)
                .await?;
            for (tp, offset) in offsets {
                if let Some(offset) = offset {
                    if self.subscriptions.position(&tp).is_none() {
                        self.subscriptions.seek(&tp, offset.offset);
                    }
                }
            }
        }
        if let Some((tp, _)) = resets.iter().find(|(_, r)| *r == OffsetReset::None) {
            return Err(Error::NoOffsetForPartition(tp.clone()));
        }
        Ok(())
    }

    /// Joins or rejoins when needed (subscribed mode only).
    async fn ensure_group(&mut self, deadline: Instant) -> Result<()> {
        if !matches!(self.subscriptions.mode, Mode::Subscribed(_)) {
            return Ok(());
        }
        if let Err(error) = self.refresh_pattern().await {
            tracing::warn!(%error, "matching the subscription pattern failed");
        }
        let Mode::Subscribed(topics) = &self.subscriptions.mode else {
            return Ok(());
        };
        let topics: Vec<String> = topics.iter().cloned().collect();
        let Some(coordinator) = &self.coordinator else {
            return Ok(());
        };
        if let Some(fatal) = coordinator.take_fatal() {
            return Err(fatal);
        }
        let (mut needed, lost) = coordinator.rejoin_status();
        if !needed && self.joined_counts.1.elapsed() >= self.config.client.metadata_max_age {
            self.joined_counts.1 = Instant::now();
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            if let Ok(metadata) = self.client.metadata_for(&names).await {
                let counts = partition_counts(&metadata, &topics);
                if counts != self.joined_counts.0 {
                    tracing::info!(?counts, "subscribed topics changed partitions; rejoining");
                    needed = true;
                }
            }
        }
        if !needed {
            return Ok(());
        }
        // Eager protocols give everything up before joining; a cooperative
        // one (KIP-429) keeps fetching what it owns and revokes only what
        // the new assignment takes away. Lost partitions go either way.
        let cooperative = coordinator.is_cooperative();
        if lost || !cooperative {
            self.revoke_all(lost).await;
        }
        let owned = self.subscriptions.assignment();
        // No new attempt starts after the poll's deadline (so a poll with
        // the coordinator unreachable returns in time), but a request in
        // flight is not cancelled: a JoinGroup waits for the other members.
        let join_deadline = deadline;
        let Some(coordinator) = &mut self.coordinator else {
            return Ok(());
        };
        let Some(joined) = coordinator.join(&topics, &owned, join_deadline).await? else {
            return Ok(());
        };
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        if let Ok(metadata) = self.client.metadata_for(&names).await {
            self.joined_counts = (partition_counts(&metadata, &topics), Instant::now());
        }
        let assigned: BTreeSet<TopicPartition> = joined.assignment.iter().cloned().collect();
        let revoked: Vec<TopicPartition> = owned
            .iter()
            .filter(|tp| !assigned.contains(*tp))
            .cloned()
            .collect();
        if !revoked.is_empty() {
            // Cooperative: commit and give up only what moves, then rejoin
            // so that the group can hand it to its new owner.
            self.revoke(&revoked).await;
            if let Some(coordinator) = &self.coordinator {
                coordinator.request_rejoin();
            }
        }
        let owned: BTreeSet<TopicPartition> = owned.into_iter().collect();
        let added: Vec<TopicPartition> = joined
            .assignment
            .iter()
            .filter(|tp| !owned.contains(*tp))
            .cloned()
            .collect();
        self.subscriptions.set_assignment(joined.assignment.clone());
        self.drop_buffered_unassigned();
        if let Some(listener) = &mut self.listener {
            listener.on_partitions_assigned(if joined.cooperative {
                &added
            } else {
                &joined.assignment
            });
        }
        Ok(())
    }

    /// Gives up every owned partition before a rejoin: commits their
    /// positions first (auto-commit, unless the generation was lost), then
    /// tells the listener. Afterwards nothing of them can be committed.
    async fn revoke_all(&mut self, lost: bool) {
        let owned = self.subscriptions.assignment();
        if owned.is_empty() {
            return;
        }
        if lost {
            if let Some(listener) = &mut self.listener {
                listener.on_partitions_lost(&owned);
            }
            self.subscriptions.set_assignment([]);
            self.buffered.clear();
        } else {
            self.revoke(&owned).await;
        }
    }

    /// Gives up `partitions` (owned, generation still valid): commits their
    /// positions (auto-commit) and what the listener asks for, tells the
    /// listener, and drops them from the assignment.
    async fn revoke(&mut self, partitions: &[TopicPartition]) {
        let mut offsets = if self.config.auto_commit_enabled() {
            let mut consumed = self.consumed_offsets();
            consumed.retain(|tp, _| partitions.contains(tp));
            consumed
        } else {
            BTreeMap::new()
        };
        if let Some(listener) = &mut self.listener {
            offsets.extend(
                listener
                    .offsets_to_commit_on_revoke(partitions)
                    .into_iter()
                    .filter(|(tp, _)| partitions.contains(tp)),
            );
        }
        if let Err(error) = self.commit_offsets(offsets).await {
            tracing::warn!(%error, "commit before revoke failed");
        }
        if let Some(listener) = &mut self.listener {
            listener.on_partitions_revoked(partitions);
        }
        let keep: Vec<TopicPartition> = self
            .subscriptions
            .assignment()
            .into_iter()
            .filter(|tp| !partitions.contains(tp))
            .collect();
        self.subscriptions.set_assignment(keep);
        self.drop_buffered_unassigned();
    }

    async fn maybe_auto_commit(&mut self) {
        if !self.config.auto_commit_enabled() || Instant::now() < self.next_auto_commit {
            return;
        }
        self.next_auto_commit = Instant::now() + self.config.auto_commit_interval;
        if let Err(error) = self.commit_positions().await {
            tracing::warn!(%error, "auto-commit failed");
        }
    }

    fn consumed_offsets(&self) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        self.subscriptions
            .consumed_positions()
            .into_iter()
            .map(|(tp, (offset, epoch))| {
                (
                    tp,
                    OffsetAndMetadata {
                        offset,
                        leader_epoch: epoch,
                        metadata: None,
                    },
                )
            })
            .collect()
    }

    async fn commit_positions(&mut self) -> Result<()> {
        let offsets = self.consumed_offsets();
        self.commit_offsets(offsets).await
    }

    /// Commits the positions of every assigned partition (the records
    /// `poll` returned so far), waiting for the outcome.
    pub async fn commit(&mut self) -> Result<()> {
        self.ensure_open()?;
        self.commit_positions().await
    }

    /// Commits explicit offsets (each the next offset to read). In a group,
    /// offsets of partitions this consumer does not own are refused.
    pub async fn commit_offsets(
        &mut self,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<()> {
        self.check_owned(&offsets)?;
        let coordinator = self
            .coordinator
            .as_ref()
            .ok_or(Error::NoGroupId("commit"))?;
        coordinator
            .commit(&offsets, self.config.client.request_timeout)
            .await
    }

    /// In a group, only partitions owned in a live generation may be
    /// committed: after the generation was lost (session or poll timeout), a
    /// commit with no generation would be accepted as a standalone one by an
    /// empty group and could move offsets backwards.
    fn check_owned(&self, offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        if matches!(self.subscriptions.mode, Mode::Subscribed(_)) {
            if let Some(coordinator) = &self.coordinator {
                let (_, lost) = coordinator.rejoin_status();
                let (_, generation) = coordinator.member();
                if lost || generation < 0 {
                    return Err(Error::CommitFailed(
                        "this member's generation is gone (it left or was removed from the group); its partitions will be revoked on the next poll".into(),
                    ));
                }
            }
            if let Some(tp) = offsets
                .keys()
                .find(|tp| !self.subscriptions.partitions.contains_key(*tp))
            {
                return Err(Error::NotAssigned(tp.clone()));
            }
        }
        Ok(())
    }

    /// Commits the current positions in the background; the handle tells
    /// the outcome. The commit carries today's generation, so if the group
    /// rebalances first the coordinator refuses it.
    pub fn commit_async(&mut self) -> Result<CommitHandle> {
        let offsets = self.consumed_offsets();
        self.commit_offsets_async(offsets)
    }

    /// Commits explicit offsets in the background.
    pub fn commit_offsets_async(
        &mut self,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<CommitHandle> {
        self.ensure_open()?;
        self.check_owned(&offsets)?;
        let coordinator = self
            .coordinator
            .as_ref()
            .ok_or(Error::NoGroupId("commit"))?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let task = coordinator.commit_task(offsets, self.config.client.request_timeout);
        // Reap finished commits so the set does not grow.
        while self.async_commits.try_join_next().is_some() {}
        self.async_commits.spawn(async move {
            let _ = tx.send(task.await);
        });
        Ok(CommitHandle(rx))
    }

    /// The committed offsets of `partitions` in this consumer's group.
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
        timeout: Duration,
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>> {
        self.ensure_open()?;
        let coordinator = self
            .coordinator
            .as_ref()
            .ok_or(Error::NoGroupId("committed"))?;
        coordinator.committed(partitions, timeout).await
    }

    /// The next offset `poll` returns for `partition`, resolving it
    /// (committed offset or reset policy) if unknown.
    pub async fn position(&mut self, partition: &TopicPartition) -> Result<i64> {
        self.ensure_open()?;
        if !self.subscriptions.partitions.contains_key(partition) {
            return Err(Error::NotAssigned(partition.clone()));
        }
        if let Some(position) = self.subscriptions.position(partition) {
            return Ok(position);
        }
        self.update_positions(self.config.client.request_timeout)
            .await?;
        self.subscriptions
            .position(partition)
            .ok_or_else(|| Error::NoOffsetForPartition(partition.clone()))
    }

    /// Moves the position of an assigned partition.
    pub fn seek(&mut self, partition: &TopicPartition, offset: i64) -> Result<()> {
        self.ensure_open()?;
        if offset < 0 || !self.subscriptions.seek(partition, offset) {
            return Err(Error::NotAssigned(partition.clone()));
        }
        self.buffered.retain(|f| &f.partition != partition);
        Ok(())
    }

    /// Moves the positions to the log start (resolved on the next poll).
    pub fn seek_to_beginning(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_to(partitions, OffsetReset::Earliest)
    }

    /// Moves the positions to the log end (resolved on the next poll).
    pub fn seek_to_end(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.seek_to(partitions, OffsetReset::Latest)
    }

    fn seek_to(&mut self, partitions: &[TopicPartition], reset: OffsetReset) -> Result<()> {
        self.ensure_open()?;
        for tp in partitions {
            if !self.subscriptions.request_reset(tp, reset) {
                return Err(Error::NotAssigned(tp.clone()));
            }
            self.buffered.retain(|f| &f.partition != tp);
        }
        Ok(())
    }

    /// Stops fetching these partitions until resumed (positions are kept).
    pub fn pause(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.ensure_open()?;
        for tp in partitions {
            if !self.subscriptions.set_paused(tp, true) {
                return Err(Error::NotAssigned(tp.clone()));
            }
        }
        Ok(())
    }

    /// Fetches paused partitions again.
    pub fn resume(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        self.ensure_open()?;
        for tp in partitions {
            if !self.subscriptions.set_paused(tp, false) {
                return Err(Error::NotAssigned(tp.clone()));
            }
        }
        Ok(())
    }

    /// The paused partitions.
    pub fn paused(&self) -> Vec<TopicPartition> {
        self.subscriptions.paused()
    }

    /// The log start offsets of `partitions`.
    pub async fn beginning_offsets(
        &self,
        partitions: &[TopicPartition],
        timeout: Duration,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        self.list(partitions, EARLIEST_TIMESTAMP, timeout).await
    }

    /// The log end offsets (high watermark, or last stable offset under
    /// `read_committed`) of `partitions`.
    pub async fn end_offsets(
        &self,
        partitions: &[TopicPartition],
        timeout: Duration,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        self.list(partitions, LATEST_TIMESTAMP, timeout).await
    }

    async fn list(
        &self,
        partitions: &[TopicPartition],
        timestamp: i64,
        timeout: Duration,
    ) -> Result<BTreeMap<TopicPartition, i64>> {
        self.ensure_open()?;
        Ok(self
            .fetcher
            .list_offsets(partitions, timestamp, timeout)
            .await?
            .into_iter()
            .filter_map(|(tp, o)| o.map(|o| (tp, o.offset)))
            .collect())
    }

    /// For each partition, the earliest offset whose timestamp is at least
    /// the one given; `None` when no record is that recent.
    pub async fn offsets_for_times(
        &self,
        timestamps: &BTreeMap<TopicPartition, i64>,
        timeout: Duration,
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndTimestamp>>> {
        self.ensure_open()?;
        let mut out = BTreeMap::new();
        for (tp, &timestamp) in timestamps {
            if timestamp < 0 {
                return Err(Error::Client(ferrokafka_client::Error::Config(format!(
                    "offsets_for_times: negative timestamp {timestamp} for {tp}"
                ))));
            }
            let found = self
                .fetcher
                .list_offsets(std::slice::from_ref(tp), timestamp, timeout)
                .await?;
            out.insert(tp.clone(), found.get(tp).copied().flatten());
        }
        Ok(out)
    }

    /// Closes the consumer within `timeout`: commits positions (with
    /// auto-commit), tells the listener, leaves the group, stops every
    /// background task and closes the connections. Never waits longer than
    /// `timeout`, even with the brokers gone.
    pub async fn close(&mut self, timeout: Duration) {
        if self.closed {
            return;
        }
        let deadline = Instant::now() + timeout;
        let work = async {
            if matches!(self.subscriptions.mode, Mode::Subscribed(_)) {
                let lost = self
                    .coordinator
                    .as_ref()
                    .is_none_or(|c| c.rejoin_status().1);
                self.revoke_all(lost).await;
            } else if self.config.auto_commit_enabled() && !self.subscriptions.partitions.is_empty()
            {
                if let Err(error) = self.commit_positions().await {
                    tracing::warn!(%error, "commit on close failed");
                }
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if let Some(coordinator) = &mut self.coordinator {
                coordinator.leave(remaining).await;
            }
        };
        if tokio::time::timeout(timeout, work).await.is_err() {
            tracing::warn!("close timed out; dropping the group membership");
        }
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.closed = true;
        if let Some(coordinator) = &mut self.coordinator {
            coordinator.stop_heartbeat();
        }
        self.async_commits.abort_all();
        self.fetches.abort_all();
        self.fetching.clear();
        self.buffered.clear();
        if self.owns_client {
            self.client.close();
        }
    }
}

/// The partition counts of `topics` that the metadata knows.
fn partition_counts(
    metadata: &ferrokafka_client::ClusterMetadata,
    topics: &[String],
) -> BTreeMap<String, usize> {
    topics
        .iter()
        .filter_map(|t| metadata.partition_count(t).map(|n| (t.clone(), n)))
        .collect()
}

impl Drop for Consumer {
    fn drop(&mut self) {
        // Never blocks: tasks are aborted, sockets closed. Without close(),
        // nothing is committed and the group notices by session timeout.
        if !self.closed {
            self.shutdown();
        }
    }
}
