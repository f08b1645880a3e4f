//! Where the consumer reads: positions resolved from the committed offset
//! or `auto.offset.reset` (ListOffsets), [`Consumer::seek`] and the
//! seek-to-beginning/end resets, pause and resume, and offset lookups
//! (beginning, end, by timestamp).

use std::collections::BTreeMap;
use std::time::Duration;

use super::Consumer;
use crate::config::OffsetReset;
use crate::error::{Error, Result};
use crate::fetcher::{EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use crate::record::{OffsetAndTimestamp, TopicPartition};
use crate::subscription::PendingPosition;

impl Consumer {
    /// Resolves partitions without a position: committed offset first (with
    /// a group), then the reset policy.
    pub(super) async fn update_positions(&mut self, timeout: Duration) -> Result<()> {
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
}
