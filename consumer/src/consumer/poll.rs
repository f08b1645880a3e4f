//! [`Consumer::poll`] and the per-broker fetch tasks behind it: at most one
//! Fetch in flight per broker, each on its own task in the consumer's
//! `JoinSet` (aborted on close or drop); finished fetches are checked
//! against the positions (stale answers after a seek, revoke or reset are
//! dropped) and buffered, and `poll` hands buffered records out up to
//! `max.poll.records`, advancing the positions.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::Consumer;
use crate::config::OffsetReset;
use crate::error::{Error, Result};
use crate::fetcher::{DECODE_AHEAD_RECORDS, PartitionOutcome};
use crate::record::{ConsumerRecord, TopicPartition};

/// Partitions, each with the offset to fetch it from.
type FetchOffsets = Vec<(TopicPartition, i64)>;

impl Consumer {
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
            self.resolve_positions(deadline).await?;
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
            if !got_data {
                self.pause_before_next_round(deadline).await;
            }
        }
    }

    /// Resolves missing positions within the poll's time. A transient
    /// failure (topic not created yet, leader moving, coordinator loading)
    /// is retried on the next round after the retry backoff, as Java does;
    /// other errors end the poll.
    async fn resolve_positions(&mut self, deadline: Instant) -> Result<()> {
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
        Ok(())
    }

    /// After a round that brought nothing (no assignment, all paused,
    /// positions pending, or a fetch that returned nothing at once): waits
    /// a little so the loop is not hot, and the retry backoff after errors;
    /// never past the deadline.
    async fn pause_before_next_round(&mut self, deadline: Instant) {
        if Instant::now() >= deadline {
            return;
        }
        let pause = if std::mem::take(&mut self.backoff_next) || self.fetches.is_empty() {
            self.config.client.retry_backoff
        } else {
            Duration::from_millis(10)
        };
        let wait = pause.min(deadline.saturating_duration_since(Instant::now()));
        tokio::time::sleep(wait).await;
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
        let (wanted, held_back) = self.partitions_to_fetch();
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
            self.look_up_leaders(&leaderless).await;
        }
        for (leader, partitions) in by_leader {
            if self.fetching.contains_key(&leader) {
                continue;
            }
            let max_wait = if held_leaders.contains_key(&leader) {
                Duration::ZERO
            } else {
                max_wait
            };
            self.spawn_fetch(leader, partitions, max_wait);
        }
    }

    /// The fetchable partitions with no fetch in flight: those to fetch now
    /// (with the offset to fetch from), and those held back because `poll`
    /// has not handed out their buffered records yet (they want a fetch
    /// soon).
    fn partitions_to_fetch(&self) -> (FetchOffsets, FetchOffsets) {
        let in_flight: BTreeSet<&TopicPartition> = self.fetching.values().flatten().collect();
        let mut wanted: FetchOffsets = Vec::new();
        let mut held_back: FetchOffsets = Vec::new();
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
        (wanted, held_back)
    }

    /// Unknown topic or leader: registers interest in the topics and looks
    /// again (rate-limited by the poll loop's retry backoff).
    async fn look_up_leaders(&mut self, leaderless: &[String]) {
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

    /// Fetches `partitions` from `leader` on a task of its own in the
    /// consumer's `JoinSet`, marking the broker busy until it is collected.
    fn spawn_fetch(&mut self, leader: i32, partitions: FetchOffsets, max_wait: Duration) {
        self.fetching.insert(
            leader,
            partitions.iter().map(|(tp, _)| tp.clone()).collect(),
        );
        let fetcher = self.fetcher.clone();
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

    pub(super) fn drop_buffered_unassigned(&mut self) {
        let subscriptions = &self.subscriptions;
        self.buffered
            .retain(|f| subscriptions.partitions.contains_key(&f.partition));
    }
}
