//! [`RecordAccumulator`]: the records accepted by `send` and not yet
//! delivered, as one queue of batches per partition (the Java client's
//! `RecordAccumulator`).
//!
//! Each partition's last batch is open: a record batch builder that lays
//! every appended record out in the magic v2 wire format at once, so a
//! record is encoded exactly once. A batch is ready to drain when it is full
//! (`batch.size`), older than `linger.ms`, being flushed or closed, or when
//! it is a retry whose backoff passed. Batches carry ids in creation order;
//! retries are re-inserted by id, so a partition's queue always stays in
//! sequence order, and `flush` waits for every id it saw.
//!
//! This module holds the accumulator itself, its settings, the signals
//! between appends and the sender, and close. The rest, by job:
//!
//! - `batch`: one batch, open or sealed, and its records' ways back;
//! - `queue`: the per-partition queues, and finding a partition's;
//! - `memory`: `buffer.memory`, a byte semaphore;
//! - `append`: `send`'s append into the open batch, and when it wakes the
//!   sender;
//! - `drain`: the sender's pass that takes ready batches and expires old
//!   ones, numbering idempotent batches as they go;
//! - `split`: splitting a batch the broker found too large;
//! - `completion`: completing batches, and which are still incomplete
//!   (`flush`, close).

mod append;
mod batch;
mod completion;
mod drain;
mod memory;
mod queue;
mod split;
#[cfg(test)]
mod testing;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use ferrokafka_protocol::compression::Compression;
use tokio::sync::{Notify, Semaphore};

use crate::interceptor::Interceptors;

pub(crate) use batch::ProducerBatch;
pub(crate) use drain::DrainOptions;
pub(crate) use memory::Memory;
pub(crate) use queue::PartitionEntry;

use completion::Incomplete;
use queue::PartitionMap;

/// What a Produce request adds around its batches besides them (header,
/// topic names, partition entries): a generous bound so that drained
/// requests stay under `max.request.size`.
pub(crate) const REQUEST_OVERHEAD: usize = 256;

/// The settings the accumulator works with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AccumulatorConfig {
    pub(crate) batch_size: usize,
    pub(crate) linger: Duration,
    pub(crate) delivery_timeout: Duration,
    pub(crate) compression: Compression,
    pub(crate) buffer_memory: usize,
    pub(crate) max_request_size: usize,
    /// Batches carry the transactional attribute (`transactional.id` set).
    pub(crate) transactional: bool,
}

/// The per-partition queues of batches waiting to be delivered.
#[derive(Debug)]
pub(crate) struct RecordAccumulator {
    config: AccumulatorConfig,
    /// The most bytes a batch collects: `batch.size`, but never more than
    /// a request may carry.
    batch_limit: usize,
    partitions: RwLock<PartitionMap>,
    memory: Semaphore,
    /// Wakes the sender: a new batch, a flush, a close, a waiting `send`.
    pub(crate) wakeup: Notify,
    /// The id the next batch gets: ids are handed out without a lock,
    /// and a batch is complete once [`Incomplete`] says so.
    next_batch_id: AtomicU64,
    incomplete: Mutex<Incomplete>,
    completed: Notify,
    flushes: AtomicUsize,
    /// `send`s waiting for `buffer.memory` now.
    memory_waiters: AtomicUsize,
    closing: AtomicBool,
    forced: AtomicBool,
    /// Produce requests the sender has in flight. While there are some,
    /// a batch that becomes ready does not wake the sender: the next
    /// response does, and the sender then drains every ready batch into
    /// one request per broker instead of sending one small request per
    /// batch (with `linger.ms` as the bound: a sender with requests in
    /// flight looks again at least that often).
    requests_in_flight: AtomicUsize,
    /// The sender sleeps with nothing pending, until woken. While it has
    /// anything pending it looks again within `linger.ms` anyway, so a
    /// batch that starts a linger deadline need not wake it.
    sender_idle: AtomicBool,
    /// Told of every record's outcome (none: nothing per record is kept).
    pub(crate) interceptors: Interceptors,
}

impl RecordAccumulator {
    /// An empty accumulator.
    pub(crate) fn new(config: AccumulatorConfig) -> Self {
        let batch_limit = config
            .batch_size
            .min(config.max_request_size.saturating_sub(REQUEST_OVERHEAD));
        RecordAccumulator {
            config,
            batch_limit,
            partitions: RwLock::new(HashMap::default()),
            memory: Semaphore::new(config.buffer_memory.min(Semaphore::MAX_PERMITS)),
            wakeup: Notify::new(),
            next_batch_id: AtomicU64::new(0),
            incomplete: Mutex::new(Incomplete::default()),
            completed: Notify::new(),
            flushes: AtomicUsize::new(0),
            memory_waiters: AtomicUsize::new(0),
            closing: AtomicBool::new(false),
            forced: AtomicBool::new(false),
            requests_in_flight: AtomicUsize::new(0),
            sender_idle: AtomicBool::new(true),
            interceptors: Interceptors::default(),
        }
    }

    /// The sender says whether it goes to sleep with nothing pending. It
    /// stores `true` before its last look at [`is_empty`](Self::is_empty),
    /// and an append registers its batch before it reads this, so one of
    /// the two sees the other.
    pub(crate) fn set_sender_idle(&self, idle: bool) {
        self.sender_idle.store(idle, Ordering::SeqCst);
    }

    /// Tells appends how many Produce requests are in flight (the sender
    /// stores it before it drains again, so an append that saw a non-zero
    /// count and did not wake it is drained then).
    pub(crate) fn set_requests_in_flight(&self, requests: usize) {
        self.requests_in_flight.store(requests, Ordering::SeqCst);
    }

    /// Whether an append that made a batch ready must wake the sender:
    /// unless a response is coming that will (and `linger.ms` bounds how
    /// long that may take).
    fn must_wake_sender_for_ready(&self) -> bool {
        self.config.linger.is_zero() || self.requests_in_flight.load(Ordering::SeqCst) == 0
    }

    /// Whether an append that started a linger deadline must wake the
    /// sender: only an idle one, which would not look again by itself.
    fn must_wake_sender_for_linger(&self) -> bool {
        self.config.linger.is_zero() || self.sender_idle.load(Ordering::SeqCst)
    }

    /// Whether everything is to be sent now: a flush or close wants it, or
    /// a `send` waits for `buffer.memory` (the Java accumulator's
    /// "exhausted"), which open batches hold a `batch.size` of each and
    /// give back only once sent, whatever `linger.ms` says.
    pub(crate) fn flush_all(&self) -> bool {
        self.flushes.load(Ordering::Acquire) > 0
            || self.memory_waiters.load(Ordering::Acquire) > 0
            || self.is_closing()
    }

    /// Refuses new records from now on and sends everything pending.
    pub(crate) fn begin_close(&self) {
        self.closing.store(true, Ordering::Release);
        self.wakeup.notify_one();
    }

    /// Whether close began.
    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Fails everything pending at once and stops the sender.
    pub(crate) fn force_close(&self) {
        self.closing.store(true, Ordering::Release);
        self.forced.store(true, Ordering::Release);
        // Senders waiting for memory give up.
        self.memory.close();
        self.wakeup.notify_one();
    }

    /// Whether close gave up waiting.
    pub(crate) fn is_forced(&self) -> bool {
        self.forced.load(Ordering::Acquire)
    }

    /// Removes every queued (not in-flight) batch, to fail them.
    pub(crate) fn take_all_queued(&self) -> Vec<ProducerBatch> {
        let mut out = Vec::new();
        for entry in self.entries() {
            if let Ok(mut queue) = entry.queue.lock() {
                out.extend(queue.batches.drain(..));
            }
        }
        out
    }
}
