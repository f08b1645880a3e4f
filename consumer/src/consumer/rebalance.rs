//! Group membership as `poll` sees it: joining when the heartbeat task
//! flagged a rebalance or the subscribed topics gained partitions, revoking
//! before the join (everything under an eager protocol, lost partitions
//! always) or after it (only what moves, under KIP-429's cooperative
//! protocol), and the [`RebalanceListener`] callbacks, with the positions
//! committed before a revoke.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::Consumer;
use crate::coordinator::{ConsumerCoordinator, Joined};
use crate::error::Result;
use crate::record::{OffsetAndMetadata, TopicPartition};
use crate::subscription::Mode;

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

impl Consumer {
    /// Joins or rejoins when needed (subscribed mode only).
    pub(super) async fn ensure_group(&mut self, deadline: Instant) -> Result<()> {
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
        let (needed, lost) = coordinator.rejoin_status();
        if !needed && !self.partition_counts_changed(&topics).await {
            return Ok(());
        }
        self.revoke_before_join(lost).await;
        let owned = self.subscriptions.assignment();
        // No new attempt starts after the poll's deadline (so a poll with
        // the coordinator unreachable returns in time), but a request in
        // flight is not cancelled: a JoinGroup waits for the other members.
        let Some(coordinator) = &mut self.coordinator else {
            return Ok(());
        };
        let Some(joined) = coordinator.join(&topics, &owned, deadline).await? else {
            return Ok(());
        };
        self.note_partition_counts(&topics).await;
        self.revoke_moved(&owned, &joined).await;
        self.take_assignment(owned, joined);
        Ok(())
    }

    /// Whether the subscribed topics' partition counts changed since the
    /// last join, looked at once every `metadata.max.age.ms` (added
    /// partitions need a rejoin for the group to hand them out).
    async fn partition_counts_changed(&mut self, topics: &[String]) -> bool {
        if self.joined_counts.1.elapsed() < self.config.client.metadata_max_age {
            return false;
        }
        self.joined_counts.1 = Instant::now();
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        let Ok(metadata) = self.client.metadata_for(&names).await else {
            return false;
        };
        let counts = partition_counts(&metadata, topics);
        if counts == self.joined_counts.0 {
            return false;
        }
        tracing::info!(?counts, "subscribed topics changed partitions; rejoining");
        true
    }

    /// Eager protocols give everything up before joining; a cooperative
    /// one (KIP-429) keeps fetching what it owns and revokes only what
    /// the new assignment takes away. Lost partitions go either way.
    async fn revoke_before_join(&mut self, lost: bool) {
        let cooperative = self
            .coordinator
            .as_ref()
            .is_some_and(ConsumerCoordinator::is_cooperative);
        if lost || !cooperative {
            self.revoke_all(lost).await;
        }
    }

    /// Remembers the subscribed topics' partition counts as of this join.
    async fn note_partition_counts(&mut self, topics: &[String]) {
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        if let Ok(metadata) = self.client.metadata_for(&names).await {
            self.joined_counts = (partition_counts(&metadata, topics), Instant::now());
        }
    }

    /// Cooperative: commits and gives up only what moves (owned before the
    /// join, not assigned by it), then rejoins so that the group can hand it
    /// to its new owner.
    async fn revoke_moved(&mut self, owned: &[TopicPartition], joined: &Joined) {
        let assigned: BTreeSet<TopicPartition> = joined.assignment.iter().cloned().collect();
        let revoked: Vec<TopicPartition> = owned
            .iter()
            .filter(|tp| !assigned.contains(*tp))
            .cloned()
            .collect();
        if !revoked.is_empty() {
            self.revoke(&revoked).await;
            if let Some(coordinator) = &self.coordinator {
                coordinator.request_rejoin();
            }
        }
    }

    /// Reads the joined assignment from now on and tells the listener: of
    /// the whole assignment under an eager protocol, of only what is new
    /// under a cooperative one.
    fn take_assignment(&mut self, owned: Vec<TopicPartition>, joined: Joined) {
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
    }

    /// Gives up every owned partition before a rejoin: commits their
    /// positions first (auto-commit, unless the generation was lost), then
    /// tells the listener. Afterwards nothing of them can be committed.
    pub(super) async fn revoke_all(&mut self, lost: bool) {
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
