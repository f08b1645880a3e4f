//! `buffer.memory`, a byte semaphore shared by every partition.
//!
//! A batch takes what it may hold (`batch.size`) when it opens, as the Java
//! client's buffer pool hands out a batch's buffer, so the records that fit
//! in it take nothing more; when that much is not free, each record takes
//! its own size bound, and a `send` that finds not even that waits for it
//! (up to `max.block.ms`). The bytes come back when the batch completes.
//! While a `send` waits, every batch counts as ready (see
//! [`RecordAccumulator::flush_all`]), so lingering batches give theirs back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::TryAcquireError;

use super::RecordAccumulator;
use crate::error::{Error, Result};

/// A record's `buffer.memory` as [`RecordAccumulator::append`] gets it:
/// each holds the upper bound of the bytes the record takes in a batch of
/// its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Memory {
    /// Reserved by the caller (after waiting for it).
    Reserved(usize),
    /// To be taken now if the batch's memory does not cover the record.
    Take(usize),
}

impl Memory {
    /// The record's size bound.
    pub(crate) fn bytes(self) -> usize {
        match self {
            Memory::Reserved(bytes) | Memory::Take(bytes) => bytes,
        }
    }
}

/// Counts one `send` waiting for `buffer.memory` while it lives (dropped
/// when the wait ends or the send is cancelled).
struct MemoryWaiter<'a>(&'a AtomicUsize);

impl<'a> MemoryWaiter<'a> {
    fn new(waiters: &'a AtomicUsize) -> Self {
        waiters.fetch_add(1, Ordering::AcqRel);
        MemoryWaiter(waiters)
    }
}

impl Drop for MemoryWaiter<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl RecordAccumulator {
    /// Reserves `bytes` of `buffer.memory` if there is room now; `false`
    /// when there is not (and `reserve` would wait).
    pub(crate) fn try_reserve(&self, bytes: usize) -> Result<bool> {
        let too_large = || Error::RecordTooLarge {
            size: bytes,
            max: self.config.buffer_memory,
            setting: "buffer.memory",
        };
        if bytes > self.config.buffer_memory {
            return Err(too_large());
        }
        let permits = u32::try_from(bytes).map_err(|_| too_large())?;
        match self.memory.try_acquire_many(permits) {
            Ok(permit) => {
                permit.forget();
                Ok(true)
            }
            Err(TryAcquireError::Closed) => Err(Error::Closed(None)),
            Err(TryAcquireError::NoPermits) => Ok(false),
        }
    }

    /// Reserves `bytes` of `buffer.memory`, waiting up to `max_block()`
    /// (asked only when there is no room now).
    pub(crate) async fn reserve(
        &self,
        bytes: usize,
        max_block: impl FnOnce() -> Duration,
    ) -> Result<()> {
        if self.try_reserve(bytes)? {
            return Ok(());
        }
        let too_large = || Error::RecordTooLarge {
            size: bytes,
            max: self.config.buffer_memory,
            setting: "buffer.memory",
        };
        let permits = u32::try_from(bytes).map_err(|_| too_large())?;
        // Full: every batch is ready while this waits (so lingering batches
        // give their memory back); make sure the sender is draining.
        let _waiting = MemoryWaiter::new(&self.memory_waiters);
        self.wakeup.notify_one();
        let max_block = max_block();
        match tokio::time::timeout(max_block, self.memory.acquire_many(permits)).await {
            Ok(Ok(permit)) => {
                permit.forget();
                Ok(())
            }
            Ok(Err(_)) => Err(Error::Closed(None)),
            Err(_) => Err(Error::MaxBlockTimeout {
                what: format!(
                    "no room for a {bytes}-byte record in buffer.memory ({} bytes)",
                    self.config.buffer_memory
                ),
                after: max_block,
            }),
        }
    }

    /// Gives back reserved bytes.
    pub(crate) fn release(&self, bytes: usize) {
        if bytes > 0 {
            self.memory.add_permits(bytes);
        }
    }

    /// Bytes of `buffer.memory` free now.
    pub(crate) fn available_memory(&self) -> usize {
        self.memory.available_permits()
    }

    /// Takes `buffer.memory` for a batch that is `short` bytes short of
    /// covering a record, if there is room now: `ideal` bytes when it can
    /// (enough for the batch to fill up, so that its later records take
    /// none), else just `short`. `None` when not even that is free.
    fn take_memory(&self, short: usize, ideal: usize) -> Result<Option<usize>> {
        if ideal > short && self.config.buffer_memory >= ideal && self.try_reserve(ideal)? {
            return Ok(Some(ideal));
        }
        Ok(self.try_reserve(short)?.then_some(short))
    }

    /// The `buffer.memory` an open batch that holds `reserved` bytes of it
    /// (and `size` bytes of records) takes for one more record: none when
    /// what it holds covers the record's bound, or when the caller reserved
    /// the record's; else what [`take_memory`](Self::take_memory) gets.
    /// `None` when there is none free now.
    pub(super) fn memory_for_open_batch(
        &self,
        reserved: usize,
        size: usize,
        memory: Memory,
    ) -> Result<Option<usize>> {
        let short = size.saturating_add(memory.bytes()).saturating_sub(reserved);
        match memory {
            Memory::Take(_) if short > 0 => {
                let ideal = self.batch_limit.saturating_sub(reserved);
                self.take_memory(short, ideal)
            }
            Memory::Take(_) | Memory::Reserved(_) => Ok(Some(0)),
        }
    }

    /// The `buffer.memory` a new batch starts with for its first record:
    /// what the caller reserved, or, taken now, all the batch may hold when
    /// there is room for that (else the record's own bound). `None` when
    /// there is not even that free now.
    pub(super) fn memory_for_new_batch(&self, memory: Memory) -> Result<Option<usize>> {
        match memory {
            Memory::Reserved(bytes) => Ok(Some(bytes)),
            Memory::Take(bytes) => self.take_memory(bytes, self.batch_limit.max(bytes)),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::time::Instant;

    use super::*;
    use crate::accumulator::testing::{config, metadata, options, take};
    use crate::delivery::Reply;

    #[tokio::test(start_paused = true)]
    async fn a_batch_takes_memory_for_all_it_may_hold_when_there_is_room() {
        let acc = RecordAccumulator::new(config());
        let m = metadata(1);
        let entry = acc.entry("t", 0);
        // The first record opens a batch, which takes batch.size (1000).
        let first = take(&acc, &entry).unwrap();
        assert_eq!(acc.available_memory(), (1 << 20) - 1000);
        // Those that fit in it take nothing more, up to the one that fills it.
        let mut appended = 1;
        while !take(&acc, &entry).unwrap().batch_full {
            appended += 1;
            assert_eq!(acc.available_memory(), (1 << 20) - 1000);
        }
        assert!(appended >= 7, "{appended}");
        assert!(acc.available_memory() >= (1 << 20) - 1100);
        let d = acc.drain(&m, options(Instant::now()), |_| true);
        for batch in d.requests.into_values().flatten() {
            acc.complete(batch, Ok((0, -1)));
        }
        assert_eq!(acc.available_memory(), 1 << 20);
        first.future.unwrap().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn short_of_a_batch_records_take_their_own_memory_and_none_is_refused() {
        let mut c = config();
        // Room for two records' size bounds (182 bytes each), not a batch.
        c.buffer_memory = 400;
        let acc = RecordAccumulator::new(c);
        let entry = acc.entry("t", 0);
        assert!(take(&acc, &entry).is_some());
        assert_eq!(acc.available_memory(), 400 - 182);
        // The batch holds 61 + 109 bytes of its 182: the next record takes
        // what covers its bound on top of those (170).
        assert!(take(&acc, &entry).is_some());
        assert_eq!(acc.available_memory(), 400 - 182 - 170);
        // No room: the record is refused whole (its reply comes back), and
        // nothing is appended or taken.
        assert!(take(&acc, &entry).is_none());
        assert_eq!(acc.available_memory(), 48);
        {
            let queue = entry.queue.lock().unwrap();
            assert_eq!(queue.batches.len(), 1);
            assert_eq!(queue.batches[0].record_count, 2);
        }
        for batch in acc.take_all_queued() {
            acc.complete(batch, Err(Error::Closed(None)));
        }
        assert_eq!(acc.available_memory(), 400);
        // Memory reserved by a waiting caller is the batch's from then on.
        acc.reserve(182, || Duration::from_millis(10))
            .await
            .unwrap();
        let reserved = acc
            .append(
                &entry,
                1000,
                None,
                Some(&[0u8; 100]),
                &[],
                Reply::Future,
                Memory::Reserved(182),
            )
            .unwrap();
        assert!(reserved.is_ok());
        assert_eq!(acc.available_memory(), 400 - 182);
        for batch in acc.take_all_queued() {
            acc.complete(batch, Err(Error::Closed(None)));
        }
        assert_eq!(acc.available_memory(), 400);
    }

    #[tokio::test(start_paused = true)]
    async fn memory_is_reserved_and_released_and_waiting_times_out() {
        let mut c = config();
        c.buffer_memory = 100;
        let acc = RecordAccumulator::new(c);
        acc.reserve(60, || Duration::from_millis(10)).await.unwrap();
        let err = acc
            .reserve(60, || Duration::from_millis(10))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::MaxBlockTimeout { .. }), "{err}");
        let err = acc
            .reserve(101, || Duration::from_millis(10))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::RecordTooLarge { .. }), "{err}");
        acc.release(60);
        acc.reserve(100, || Duration::from_millis(10))
            .await
            .unwrap();
    }
}
