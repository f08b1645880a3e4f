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
//!
//! This module owns the [`Consumer`] value, its construction and its close;
//! the API is split by job into `assignment` (assign, subscribe,
//! unsubscribe), `poll` (the poll loop and the per-broker fetch tasks),
//! `position` (positions, seek, pause and resume, offset lookups), `commit`
//! (auto-commit, commit, commit_async, committed) and `rebalance` (joining
//! from `poll`, revokes and the [`RebalanceListener`] callbacks).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use ferrokafka_client::{Client, ConsumerGroupMetadata};
use tokio::task::JoinSet;

use crate::config::ConsumerConfig;
use crate::coordinator::ConsumerCoordinator;
use crate::error::{Error, Result};
use crate::fetcher::{CompletedFetch, Fetcher, PartitionOutcome};
use crate::record::TopicPartition;
use crate::subscription::{Mode, SubscriptionState};

mod assignment;
mod commit;
mod poll;
mod position;
mod rebalance;

pub use commit::CommitHandle;
pub use rebalance::RebalanceListener;

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

impl Drop for Consumer {
    fn drop(&mut self) {
        // Never blocks: tasks are aborted, sockets closed. Without close(),
        // nothing is committed and the group notices by session timeout.
        if !self.closed {
            self.shutdown();
        }
    }
}
