//! Offsets committed to the group: auto-commit on the interval (of the
//! positions `poll` handed out, of partitions still owned),
//! [`Consumer::commit`] and [`Consumer::commit_offsets`] waiting for the
//! outcome, [`Consumer::commit_async`] in the background behind a
//! [`CommitHandle`], and [`Consumer::committed`] (OffsetFetch). In a group,
//! only partitions owned in a live generation may be committed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::Consumer;
use crate::error::{Error, Result};
use crate::record::{OffsetAndMetadata, TopicPartition};
use crate::subscription::Mode;

/// The outcome of a [`Consumer::commit_async`], awaitable or ignorable.
#[derive(Debug)]
pub struct CommitHandle(tokio::sync::oneshot::Receiver<Result<()>>);

impl CommitHandle {
    /// Waits for the commit's outcome.
    pub async fn wait(self) -> Result<()> {
        self.0.await.unwrap_or(Err(Error::Closed))
    }
}

impl Consumer {
    pub(super) async fn maybe_auto_commit(&mut self) {
        if !self.config.auto_commit_enabled() || Instant::now() < self.next_auto_commit {
            return;
        }
        self.next_auto_commit = Instant::now() + self.config.auto_commit_interval;
        if let Err(error) = self.commit_positions().await {
            tracing::warn!(%error, "auto-commit failed");
        }
    }

    pub(super) fn consumed_offsets(&self) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
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

    pub(super) async fn commit_positions(&mut self) -> Result<()> {
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
}
