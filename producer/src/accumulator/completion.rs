//! Completing batches, and knowing which are not complete yet.
//!
//! A batch completes once: every record of it learns the outcome (its
//! futures through the batch's delivery slot in one write, its callbacks
//! one by one, the interceptors per record) and its `buffer.memory` goes
//! back. Batch ids are handed out in creation order without a lock;
//! [`Incomplete`] counts them complete in any order (and the pieces of a
//! split batch as one), so `flush` waits for every id it saw and close
//! knows when nothing is left.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;

use super::{ProducerBatch, RecordAccumulator};
use crate::delivery::{BatchOutcome, record_result};
use crate::record::TopicName;

/// Batch ids of batches not yet completed, for `flush` and `close`.
#[derive(Debug, Default)]
pub(super) struct Incomplete {
    /// Every id below this is complete.
    complete_below: u64,
    /// Completed ids above `complete_below` (batches complete out of
    /// order across partitions).
    complete_above: BTreeSet<u64>,
    /// Split batches: id → pieces still live beyond the one its batch
    /// counted for.
    extra_pieces: HashMap<u64, usize>,
}

impl Incomplete {
    /// Counts one batch (or piece) of `id` complete.
    fn complete(&mut self, id: u64) {
        if let Some(extra) = self.extra_pieces.get_mut(&id) {
            *extra = extra.saturating_sub(1);
            if *extra == 0 {
                self.extra_pieces.remove(&id);
            }
            return;
        }
        if id != self.complete_below {
            self.complete_above.insert(id);
            return;
        }
        self.complete_below = self.complete_below.wrapping_add(1);
        while self.complete_above.remove(&self.complete_below) {
            self.complete_below = self.complete_below.wrapping_add(1);
        }
    }
}

impl RecordAccumulator {
    /// The id of a new batch, incomplete until [`complete`](Self::complete)
    /// counts it (as [`is_empty`](Self::is_empty) sees at once: the sender
    /// reads it after saying it goes idle).
    pub(super) fn register_batch(&self) -> u64 {
        self.next_batch_id.fetch_add(1, Ordering::SeqCst)
    }

    /// Completes every record of a batch with `result` (base offset and
    /// LogAppendTime on success, -1 for unknown) and frees its memory.
    pub(crate) fn complete(&self, batch: ProducerBatch, result: BatchOutcome) {
        let ProducerBatch {
            entry,
            delivery,
            callbacks,
            timestamps,
            id,
            reserved_bytes,
            ..
        } = batch;
        self.release(reserved_bytes);
        // One shared name for every record's metadata (a reference count).
        let topic = TopicName::from(entry.topic.clone());
        if !self.interceptors.is_empty() {
            for (position, timestamp) in timestamps.into_iter().enumerate() {
                let outcome = record_result(&topic, entry.partition, &result, position, timestamp);
                self.interceptors
                    .on_acknowledgement(&entry.topic, entry.partition, &outcome);
            }
        }
        // The futures learn the batch's outcome in one write; callbacks run
        // after, outside any lock.
        if let Some(delivery) = delivery {
            delivery.complete(result.clone());
        }
        if !callbacks.is_empty() {
            for thunk in callbacks {
                thunk.completion.complete(record_result(
                    &topic,
                    entry.partition,
                    &result,
                    thunk.position,
                    thunk.timestamp,
                ));
            }
        }
        if let Ok(mut inc) = self.incomplete.lock() {
            inc.complete(id);
        }
        self.completed.notify_waiters();
    }

    /// Counts the pieces a batch of `id` was split into, beyond the one
    /// the batch counted for, as incomplete.
    pub(super) fn count_extra_pieces(&self, id: u64, pieces: usize) {
        if let (Ok(mut inc), Some(more)) = (self.incomplete.lock(), pieces.checked_sub(1)) {
            let extra = inc.extra_pieces.entry(id).or_default();
            *extra = extra.saturating_add(more);
        }
    }

    /// Starts a flush: every batch is ready until [`end_flush`](Self::end_flush).
    /// Returns the last batch id the flush waits for.
    pub(crate) fn begin_flush(&self) -> Option<u64> {
        self.flushes.fetch_add(1, Ordering::AcqRel);
        self.wakeup.notify_one();
        self.next_batch_id.load(Ordering::SeqCst).checked_sub(1)
    }

    /// Ends a flush started by [`begin_flush`](Self::begin_flush).
    pub(crate) fn end_flush(&self) {
        self.flushes.fetch_sub(1, Ordering::AcqRel);
    }

    /// Waits until every batch up to id `last` is complete.
    pub(crate) async fn await_completion(&self, last: Option<u64>) {
        let Some(last) = last else { return };
        loop {
            let notified = self.completed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let pending = self
                .incomplete
                .lock()
                .map(|inc| inc.complete_below <= last)
                .unwrap_or(false);
            if !pending {
                return;
            }
            notified.await;
        }
    }

    /// Whether every batch is complete.
    pub(crate) fn is_empty(&self) -> bool {
        let next = self.next_batch_id.load(Ordering::SeqCst);
        self.incomplete
            .lock()
            .map(|inc| inc.complete_below == next)
            .unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accumulator::testing::{add, config};

    #[test]
    fn batches_complete_in_any_order_and_split_ids_wait_for_every_piece() {
        let mut inc = Incomplete::default();
        inc.complete(1);
        inc.complete(3);
        assert_eq!(inc.complete_below, 0);
        inc.complete(0);
        assert_eq!(inc.complete_below, 2);
        // Id 2 was split into three pieces: two extra.
        inc.extra_pieces.insert(2, 2);
        inc.complete(2);
        inc.complete(2);
        assert_eq!(inc.complete_below, 2);
        inc.complete(2);
        assert_eq!(inc.complete_below, 4);
        assert!(inc.complete_above.is_empty() && inc.extra_pieces.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn empty_once_every_registered_batch_completed() {
        let acc = RecordAccumulator::new(config());
        assert!(acc.is_empty());
        assert_eq!(acc.begin_flush(), None);
        acc.end_flush();
        let future = add(&acc, 0, b"x");
        assert!(!acc.is_empty());
        assert_eq!(acc.begin_flush(), Some(0));
        acc.end_flush();
        for batch in acc.take_all_queued() {
            acc.complete(batch, Ok((7, -1)));
        }
        assert!(acc.is_empty());
        acc.await_completion(Some(0)).await;
        assert_eq!(future.await.unwrap().offset, 7);
    }
}
