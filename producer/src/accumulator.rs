//! [`RecordAccumulator`]: the records accepted by `send` and not yet
//! delivered, as one queue of batches per partition (the Java client's
//! `RecordAccumulator`).
//!
//! Each partition's last batch is open: a [`RecordBatchBuilder`] that lays
//! every appended record out in the magic v2 wire format at once, so a
//! record is encoded exactly once. A batch is ready to drain when it is full
//! (`batch.size`), older than `linger.ms`, being flushed or closed, or when
//! it is a retry whose backoff passed. [`RecordAccumulator::drain`] takes at
//! most one ready batch per partition for each broker, assigns idempotent
//! sequence numbers at that moment (never earlier: numbers must not be
//! consumed by records that are never sent), and seals the batch
//! (compression, CRC) after the partition's lock is released.
//!
//! `buffer.memory` is a byte semaphore. A batch takes what it may hold
//! (`batch.size`) when it opens, as the Java client's buffer pool hands out
//! a batch's buffer, so the records that fit in it take nothing more; when
//! that much is not free, each record takes its own size bound, and a
//! `send` that finds not even that waits for it (up to `max.block.ms`).
//! The bytes come back when the batch completes. Batches carry ids in creation order;
//! retries are re-inserted by id, so a partition's queue always stays in
//! sequence order, and `flush` waits for every id it saw.
//!
//! Appends wake the sender only when it would not look by itself: a batch
//! that became ready while no request is in flight (otherwise the next
//! response, or the sender's own look within `linger.ms`, finds it), or a
//! new linger deadline while the sender sleeps with nothing pending.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use ferrokafka_client::ClusterMetadata;
use ferrokafka_protocol::compression::Compression;
use ferrokafka_protocol::records::{
    DecodeOptions, RECORD_BATCH_OVERHEAD, RecordBatch, RecordBatchBuilder, RecordBatchMut,
    RecordHeader,
};
use tokio::sync::{Notify, Semaphore, TryAcquireError};
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::fxhash::FxBuildHasher;
use crate::idempotence::{PartitionSequences, ProducerIdAndEpoch};
use crate::interceptor::Interceptors;
use crate::record::{
    BatchDelivery, BatchOutcome, Completion, DeliveryFuture, DeliveryPart, Reply, TopicName,
    record_result,
};

/// What a Produce request adds around its batches besides them (header,
/// topic names, partition entries): a generous bound so that drained
/// requests stay under `max.request.size`.
pub(crate) const REQUEST_OVERHEAD: usize = 256;

/// A record sent with a callback: its way back to the application.
#[derive(Debug)]
struct CallbackThunk {
    /// The record's index in its batch.
    position: usize,
    completion: Completion,
    timestamp: i64,
}

/// A batch's records: still open for appends, or sealed into wire bytes.
#[derive(Debug)]
enum Payload {
    Open(RecordBatchBuilder),
    Sealed(Bytes),
}

/// One partition's batch of records, from creation until every record in
/// it is delivered or failed.
#[derive(Debug)]
pub(crate) struct ProducerBatch {
    pub(crate) entry: Arc<PartitionEntry>,
    payload: Payload,
    /// Records appended.
    record_count: usize,
    /// Where the outcome for its records sent with a [`DeliveryFuture`]
    /// goes (made with the first such record); nothing per record.
    delivery: Option<DeliveryPart>,
    /// Its records sent with a callback, in order.
    callbacks: Vec<CallbackThunk>,
    /// Every record's timestamp, kept only for interceptors' acknowledgements.
    timestamps: Vec<i64>,
    /// Creation order, shared by the pieces of a split batch.
    pub(crate) id: u64,
    pub(crate) created_at: Instant,
    /// Bytes of `buffer.memory` this batch holds.
    reserved_bytes: usize,
    /// Failed sends so far.
    pub(crate) attempts: u32,
    /// Not before this instant (retry backoff).
    pub(crate) retry_at: Option<Instant>,
    /// The idempotent base sequence, once drained.
    pub(crate) base_sequence: Option<i32>,
    /// A send failed without an answer (lost connection, timeout), so the
    /// broker may have appended the batch.
    pub(crate) maybe_written: bool,
    /// Closed for appends: another record like its last would not fit
    /// (Java's `closeForRecordAppends`), so it is ready to drain at once.
    full: bool,
}

impl ProducerBatch {
    /// Counts a record in and adds its way back, making its future if it
    /// wants one.
    fn push(&mut self, reply: Reply, timestamp: i64) -> Option<DeliveryFuture> {
        let position = self.record_count;
        self.record_count = self.record_count.saturating_add(1);
        match reply {
            Reply::Future => {
                let entry = &self.entry;
                self.delivery
                    .get_or_insert_with(|| {
                        DeliveryPart::whole(BatchDelivery::new(
                            TopicName::from(entry.topic.clone()),
                            entry.partition,
                        ))
                    })
                    .future(position, timestamp)
            }
            Reply::Callback(completion) => {
                self.callbacks.push(CallbackThunk {
                    position,
                    completion,
                    timestamp,
                });
                None
            }
        }
    }

    /// The topic.
    pub(crate) fn topic(&self) -> &str {
        &self.entry.topic
    }

    /// The partition.
    pub(crate) fn partition(&self) -> i32 {
        self.entry.partition
    }

    /// How many records it holds.
    pub(crate) fn record_count(&self) -> usize {
        self.record_count
    }

    /// Its size in bytes (uncompressed while open).
    pub(crate) fn size_in_bytes(&self) -> usize {
        match &self.payload {
            Payload::Open(builder) => builder.size_in_bytes(),
            Payload::Sealed(bytes) => bytes.len(),
        }
    }

    /// The sealed wire bytes (empty while open).
    pub(crate) fn records(&self) -> Bytes {
        match &self.payload {
            Payload::Open(_) => Bytes::new(),
            Payload::Sealed(bytes) => bytes.clone(),
        }
    }

    fn is_sealed(&self) -> bool {
        matches!(self.payload, Payload::Sealed(_))
    }

    /// Compresses and seals the batch with the producer state given (if
    /// any); a sealed batch stays as it is.
    pub(crate) fn seal(&mut self, producer: Option<ProducerIdAndEpoch>) -> Result<()> {
        let payload = std::mem::replace(&mut self.payload, Payload::Sealed(Bytes::new()));
        self.payload = match payload {
            Payload::Open(mut builder) => {
                if let (Some(p), Some(sequence)) = (producer, self.base_sequence) {
                    builder.set_producer_state(p.producer_id, p.epoch, sequence);
                }
                Payload::Sealed(builder.build()?)
            }
            sealed => sealed,
        };
        Ok(())
    }

    /// Rewrites the producer id, epoch and base sequence of a sealed batch
    /// (after an epoch bump) and recomputes its CRC.
    pub(crate) fn reset_producer_state(
        &mut self,
        producer: ProducerIdAndEpoch,
        base_sequence: i32,
    ) -> Result<()> {
        self.base_sequence = Some(base_sequence);
        let bytes = match &mut self.payload {
            Payload::Open(builder) => {
                builder.set_producer_state(producer.producer_id, producer.epoch, base_sequence);
                return Ok(());
            }
            Payload::Sealed(bytes) => bytes,
        };
        // In place when no request holds the bytes any more; a copy when
        // one still does, which must keep what it was sent with.
        let mut patched = std::mem::take(bytes)
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
        let stamped = RecordBatchMut::new(&mut patched).map(|mut batch| {
            batch.set_producer_state(producer.producer_id, producer.epoch, base_sequence);
        });
        *bytes = patched.freeze();
        stamped.map_err(Error::from)
    }
}

/// A partition's queue and bookkeeping.
#[derive(Debug, Default)]
pub(crate) struct PartitionQueue {
    /// Oldest first; only the last may be open.
    pub(crate) batches: VecDeque<ProducerBatch>,
    /// Batches of this partition in flight.
    pub(crate) in_flight: usize,
    /// The broker they are in flight to. A partition's batches are in
    /// flight to one broker at a time: on one connection the broker sees
    /// them in order, so a leader change cannot let a later batch overtake
    /// an earlier one.
    pub(crate) in_flight_node: i32,
    /// Idempotent sequence numbers.
    pub(crate) sequences: PartitionSequences,
    /// Bytes of records ever appended here (wrapping): the sticky
    /// partitioner counts what went to a partition by it.
    appended_bytes: usize,
}

impl PartitionQueue {
    /// Puts a batch back for a retry, in creation (and so sequence) order.
    pub(crate) fn reenqueue(&mut self, batch: ProducerBatch) {
        self.reenqueue_all(vec![batch]);
    }

    /// Puts batches that belong together (the pieces of a split batch, in
    /// order) back, before every queued batch created after them. Pieces of
    /// one split share an id; a piece that failed was sent before its
    /// queued siblings, so it goes before them too (by sequence, when it
    /// has one).
    pub(crate) fn reenqueue_all(&mut self, batches: Vec<ProducerBatch>) {
        let Some(first) = batches.first() else {
            return;
        };
        let order = |b: &ProducerBatch| (b.id, b.base_sequence.unwrap_or(i32::MIN));
        let key = order(first);
        let at = self
            .batches
            .iter()
            .position(|b| order(b) >= key)
            .unwrap_or(self.batches.len());
        for (offset, batch) in batches.into_iter().enumerate() {
            self.batches.insert(at.saturating_add(offset), batch);
        }
    }
}

/// One partition: its name and its queue.
#[derive(Debug)]
pub(crate) struct PartitionEntry {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) queue: Mutex<PartitionQueue>,
    /// Added to the ongoing transaction (AddPartitionsToTxn answered), so
    /// its batches may be drained; only looked at when transactional.
    pub(crate) in_transaction: AtomicBool,
}

/// Batch ids of batches not yet completed, for `flush` and `close`.
#[derive(Debug, Default)]
struct Incomplete {
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

/// What [`RecordAccumulator::append`] did with a record.
#[derive(Debug)]
pub(crate) struct Appended {
    /// The record's future, if its reply asked for one.
    pub(crate) future: Option<DeliveryFuture>,
    /// The bytes the record took in its batch.
    pub(crate) bytes: usize,
    /// The partition's running total of appended bytes, with these.
    pub(crate) appended_total: usize,
    /// The batch takes no more records: a sticky partitioner moves on.
    pub(crate) batch_full: bool,
}

/// What one [`RecordAccumulator::drain`] pass found.
#[derive(Debug, Default)]
pub(crate) struct Drained {
    /// Batches to send, by leader broker id.
    pub(crate) requests: HashMap<i32, Vec<ProducerBatch>>,
    /// Batches past `delivery.timeout.ms`, to fail.
    pub(crate) expired: Vec<ProducerBatch>,
    /// When the next batch becomes ready or expires.
    pub(crate) next_wakeup: Option<Instant>,
    /// Some ready batch's partition has no known leader.
    pub(crate) unknown_leader: bool,
    /// Some ready batch waits for room in a request, or is the next of a
    /// partition that had one taken; drain again.
    pub(crate) more: bool,
    /// An expired batch had a sequence number: the partition has a gap.
    pub(crate) sequence_gap: bool,
}

/// How one drain pass may proceed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DrainOptions {
    /// Now.
    pub(crate) now: Instant,
    /// Send every batch regardless of linger (flush or close in progress).
    pub(crate) flush_all: bool,
    /// Whether batches may be drained at all (false while an idempotent
    /// producer has no id or waits for an epoch bump); expiry still runs.
    pub(crate) may_send: bool,
    /// The idempotent producer's id and epoch; `None` without idempotence.
    pub(crate) producer: Option<ProducerIdAndEpoch>,
    /// `max.request.size`.
    pub(crate) max_request_size: usize,
    /// Only partitions added to the ongoing transaction may be drained.
    pub(crate) transactional: bool,
}

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

/// Topic → queues indexed by partition (partitions are 0..n, so a vector
/// saves a hash per record).
type PartitionMap = HashMap<Arc<str>, Vec<Option<Arc<PartitionEntry>>>, FxBuildHasher>;

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

    /// The queue of one partition, created on first use.
    pub(crate) fn entry(&self, topic: &str, partition: i32) -> Arc<PartitionEntry> {
        let make = |topic: Arc<str>| {
            Arc::new(PartitionEntry {
                topic,
                partition,
                queue: Mutex::new(PartitionQueue::default()),
                in_transaction: AtomicBool::new(false),
            })
        };
        // Callers pass partitions the metadata lists, never negative ones;
        // a detached queue keeps this total anyway (its records are failed
        // by close), as it does for a poisoned map.
        let Ok(index) = usize::try_from(partition) else {
            return make(Arc::from(topic));
        };
        if let Ok(map) = self.partitions.read() {
            if let Some(Some(entry)) = map.get(topic).and_then(|t| t.get(index)) {
                return entry.clone();
            }
        }
        let Ok(mut map) = self.partitions.write() else {
            return make(Arc::from(topic));
        };
        let name: Arc<str> = match map.get_key_value(topic) {
            Some((name, _)) => name.clone(),
            None => Arc::from(topic),
        };
        let slots = map.entry(name.clone()).or_default();
        if slots.len() <= index {
            slots.resize(index.saturating_add(1), None);
        }
        match slots.get_mut(index) {
            Some(slot) => slot.get_or_insert_with(|| make(name)).clone(),
            None => make(name),
        }
    }

    /// Every partition queue.
    pub(crate) fn entries(&self) -> Vec<Arc<PartitionEntry>> {
        self.partitions
            .read()
            .map(|map| map.values().flatten().flatten().cloned().collect())
            .unwrap_or_default()
    }

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

    /// The id of a new batch, incomplete until [`complete`](Self::complete)
    /// counts it (as [`is_empty`](Self::is_empty) sees at once: the sender
    /// reads it after saying it goes idle).
    fn register_batch(&self) -> u64 {
        self.next_batch_id.fetch_add(1, Ordering::SeqCst)
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

    /// Appends a record to its partition's open batch (opening a new one
    /// when there is none or it is full). `memory` says whether the
    /// record's `buffer.memory` was reserved already (it then belongs to
    /// the batch, or to the caller again if this fails) or is to be taken
    /// now: a batch takes memory for all it may still hold when it opens,
    /// and the records that fit in that take none. Returns the record's
    /// [`DeliveryFuture`] when `reply` asks for one, the bytes the record
    /// took in the batch and whether that filled the batch; or the reply
    /// back if memory was to be taken and there is none free now.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn append(
        &self,
        entry: &Arc<PartitionEntry>,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader],
        reply: Reply,
        memory: Memory,
    ) -> Result<std::result::Result<Appended, Reply>> {
        let mut queue = entry
            .queue
            .lock()
            .map_err(|_| Error::Closed(Some("partition queue poisoned".into())))?;
        // Checked under the partition's lock: the sender's last sweep takes
        // it too, so no record slips in after the sender stopped.
        if self.is_closing() {
            return Err(Error::Closed(None));
        }
        let bound = memory.bytes();
        if let Some(batch) = queue.batches.back_mut() {
            if let (Payload::Open(builder), false) = (&mut batch.payload, batch.full) {
                let before = builder.size_in_bytes();
                // `bound` bounds the record's bytes from above, which
                // nearly always answers without sizing the record twice.
                if before.saturating_add(bound) <= self.batch_limit
                    || builder.has_room_for(self.batch_limit, timestamp, key, value, headers)
                {
                    let short = before
                        .saturating_add(bound)
                        .saturating_sub(batch.reserved_bytes);
                    let taken = match memory {
                        Memory::Take(_) if short > 0 => {
                            let ideal = self.batch_limit.saturating_sub(batch.reserved_bytes);
                            match self.take_memory(short, ideal)? {
                                Some(taken) => taken,
                                None => return Ok(Err(reply)),
                            }
                        }
                        Memory::Take(_) | Memory::Reserved(_) => 0,
                    };
                    // What was taken belongs to the batch from here on,
                    // whatever the append does; what the caller reserved
                    // only once the record is in (else the caller gives
                    // it back).
                    batch.reserved_bytes = batch.reserved_bytes.saturating_add(taken);
                    builder.append(timestamp, key, value, headers)?;
                    if let Memory::Reserved(bytes) = memory {
                        batch.reserved_bytes = batch.reserved_bytes.saturating_add(bytes);
                    }
                    let after = builder.size_in_bytes();
                    let bytes = after.saturating_sub(before);
                    // KIP-794 counts what was actually appended; a batch
                    // that cannot take another record like this one is
                    // closed, so it drains now and the sticky partitioner
                    // moves on.
                    let full = after.saturating_add(bytes) > self.batch_limit;
                    let future = batch.push(reply, timestamp);
                    if !self.interceptors.is_empty() {
                        batch.timestamps.push(timestamp);
                    }
                    batch.full = full;
                    queue.appended_bytes = queue.appended_bytes.wrapping_add(bytes);
                    let appended_total = queue.appended_bytes;
                    // Waiting for linger no more: the sender must look
                    // unless an earlier full batch already made it.
                    let wake =
                        full && queue.batches.len() == 1 && self.must_wake_sender_for_ready();
                    drop(queue);
                    if wake {
                        self.wakeup.notify_one();
                    }
                    return Ok(Ok(Appended {
                        future,
                        bytes,
                        appended_total,
                        batch_full: full,
                    }));
                }
            }
        }
        let reserved = match memory {
            Memory::Reserved(bytes) => bytes,
            Memory::Take(bytes) => match self.take_memory(bytes, self.batch_limit.max(bytes))? {
                Some(taken) => taken,
                None => return Ok(Err(reply)),
            },
        };
        let mut builder = RecordBatchBuilder::with_capacity(
            self.config.compression,
            self.batch_limit.max(RECORD_BATCH_OVERHEAD),
        );
        builder.set_transactional(self.config.transactional);
        if let Err(error) = builder.append(timestamp, key, value, headers) {
            // Reserved memory goes back to the caller; taken memory back
            // to the pool.
            if let Memory::Take(_) = memory {
                self.release(reserved);
            }
            return Err(error.into());
        }
        let bytes = builder
            .size_in_bytes()
            .saturating_sub(RECORD_BATCH_OVERHEAD);
        // With callbacks, room for about as many as fit if the records are
        // all the size of this one (bounded, for tiny records), so the
        // batch does not grow its vector record by record.
        let callbacks = match reply {
            Reply::Future => Vec::new(),
            Reply::Callback(_) => {
                let record_size = bytes.max(16);
                Vec::with_capacity(
                    (self.batch_limit.saturating_sub(RECORD_BATCH_OVERHEAD) / record_size)
                        .saturating_add(1)
                        .clamp(1, 1024),
                )
            }
        };
        let full = builder.size_in_bytes().saturating_add(bytes) > self.batch_limit;
        let mut batch = ProducerBatch {
            entry: entry.clone(),
            payload: Payload::Open(builder),
            record_count: 0,
            delivery: None,
            callbacks,
            timestamps: Vec::new(),
            id: self.register_batch(),
            created_at: Instant::now(),
            reserved_bytes: reserved,
            attempts: 0,
            retry_at: None,
            base_sequence: None,
            maybe_written: false,
            full,
        };
        let future = batch.push(reply, timestamp);
        if !self.interceptors.is_empty() {
            batch.timestamps.push(timestamp);
        }
        // The sender must look when this starts a linger deadline (the
        // queue was empty), when the batch before it just became full by
        // overflowing (the queue held one open batch not marked full), or
        // when this one is full at once. With more queued, an earlier full
        // batch already woke it, and finishing that batch's request makes
        // it drain again.
        queue.batches.push_back(batch);
        queue.appended_bytes = queue.appended_bytes.wrapping_add(bytes);
        let appended_total = queue.appended_bytes;
        let ready = full
            || (queue.batches.len() == 2 && queue.batches.front().is_some_and(|first| !first.full));
        let wake = if ready {
            self.must_wake_sender_for_ready()
        } else {
            queue.batches.len() == 1 && self.must_wake_sender_for_linger()
        };
        drop(queue);
        if wake {
            self.wakeup.notify_one();
        }
        Ok(Ok(Appended {
            future,
            bytes,
            appended_total,
            batch_full: full,
        }))
    }

    /// Takes ready batches: per partition at most its first, for brokers
    /// `node_has_room` accepts, each broker's batches up to
    /// `max.request.size`; and removes expired batches.
    pub(crate) fn drain(
        &self,
        metadata: &ClusterMetadata,
        options: DrainOptions,
        mut node_has_room: impl FnMut(i32) -> bool,
    ) -> Drained {
        let mut drained = Drained::default();
        let mut request_sizes: HashMap<i32, usize> = HashMap::new();
        let now = options.now;
        let wake = |drained: &mut Drained, at: Instant| {
            drained.next_wakeup = Some(drained.next_wakeup.map_or(at, |w| w.min(at)));
        };
        for entry in self.entries() {
            let Ok(mut queue) = entry.queue.lock() else {
                continue;
            };
            // delivery.timeout.ms bounds a record's life from the moment
            // its batch was created; batches in flight are judged when their
            // response arrives.
            let mut index = 0;
            while index < queue.batches.len() {
                let expires = queue
                    .batches
                    .get(index)
                    .map(|b| b.created_at + self.config.delivery_timeout);
                match expires {
                    Some(at) if at <= now => {
                        if let Some(batch) = queue.batches.remove(index) {
                            if let Some(sequence) = batch.base_sequence {
                                queue.sequences.resolve(sequence);
                                drained.sequence_gap = true;
                            }
                            drained.expired.push(batch);
                        }
                    }
                    Some(at) => {
                        wake(&mut drained, at);
                        index += 1;
                    }
                    None => break,
                }
            }
            let Some(first) = queue.batches.front() else {
                continue;
            };
            if let Some(at) = first.retry_at.filter(|&at| at > now) {
                wake(&mut drained, at);
                continue;
            }
            let full =
                queue.batches.len() > 1 || first.full || first.size_in_bytes() >= self.batch_limit;
            let linger_end = first.created_at + self.config.linger;
            let ready = full || options.flush_all || first.is_sealed() || linger_end <= now;
            if !ready {
                wake(&mut drained, linger_end);
                continue;
            }
            if !options.may_send
                || (options.transactional && !entry.in_transaction.load(Ordering::Acquire))
            {
                continue;
            }
            let Some(leader) = metadata.leader(&entry.topic, entry.partition) else {
                drained.unknown_leader = true;
                continue;
            };
            if queue.in_flight > 0 && queue.in_flight_node != leader {
                continue;
            }
            if options.producer.is_some() {
                if first
                    .base_sequence
                    .is_some_and(|s| !queue.sequences.is_unacked(s))
                {
                    drained.sequence_gap = true;
                    continue;
                }
                if !queue.sequences.may_send(first.base_sequence) {
                    continue;
                }
                if queue.in_flight > 0 && !queue.sequences.may_pipeline() {
                    continue;
                }
            }
            let size = first.size_in_bytes();
            let planned = request_sizes.get(&leader).copied();
            if planned.is_none() && !node_has_room(leader) {
                continue;
            }
            let planned = planned.unwrap_or(REQUEST_OVERHEAD);
            if planned > REQUEST_OVERHEAD && planned.saturating_add(size) > options.max_request_size
            {
                drained.more = true;
                continue;
            }
            let Some(mut batch) = queue.batches.pop_front() else {
                continue;
            };
            if options.producer.is_some() && batch.base_sequence.is_none() {
                batch.base_sequence = Some(queue.sequences.assign(batch.record_count()));
            }
            queue.in_flight += 1;
            queue.in_flight_node = leader;
            // Another ready batch of this partition goes in the next
            // request (one batch per partition per request): drain again,
            // so the pipeline fills up to the in-flight limit now rather
            // than one request per response.
            if let Some(next) = queue.batches.front() {
                if queue.batches.len() > 1
                    || next.full
                    || next.is_sealed()
                    || options.flush_all
                    || next.created_at + self.config.linger <= now
                {
                    drained.more = true;
                }
            }
            request_sizes.insert(leader, planned.saturating_add(size));
            drained.requests.entry(leader).or_default().push(batch);
        }
        drained
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

    /// Splits a sealed batch the broker found too large into batches of at
    /// most `batch.size` (Java's `splitAndReenqueue`). The pieces keep the
    /// batch's id and creation time, and its sequence range: piece sequences
    /// follow on from its base sequence, so later batches stay valid. A
    /// batch that cannot be split (one record, or undecodable) comes back.
    pub(crate) fn split(
        &self,
        batch: ProducerBatch,
        producer: Option<ProducerIdAndEpoch>,
    ) -> Result<Vec<ProducerBatch>, Box<ProducerBatch>> {
        let mut bytes = batch.records();
        let decoded = match RecordBatch::decode(&mut bytes, &DecodeOptions::default()) {
            Ok(decoded) => decoded,
            Err(_) => return Err(Box::new(batch)),
        };
        // Pieces of at most half the batch (and at most `batch.size`), so
        // every split makes progress even when the broker's limit is below
        // `batch.size`.
        let limit = self
            .batch_limit
            .min(batch.size_in_bytes() / 2)
            .max(RECORD_BATCH_OVERHEAD);
        let mut groups: Vec<(RecordBatchBuilder, usize)> = Vec::new();
        for record in &decoded.records {
            let key = record.key.as_deref();
            let value = record.value.as_deref();
            let fits = groups.last().is_some_and(|(b, _)| {
                b.has_room_for(limit, record.timestamp, key, value, &record.headers)
            });
            if !fits {
                let mut builder = RecordBatchBuilder::new(self.config.compression);
                builder.set_transactional(self.config.transactional);
                groups.push((builder, 0));
            }
            if let Some((builder, count)) = groups.last_mut() {
                if builder
                    .append(record.timestamp, key, value, &record.headers)
                    .is_err()
                {
                    return Err(Box::new(batch));
                }
                *count += 1;
            }
        }
        if groups.len() < 2 || decoded.records.len() != batch.record_count {
            return Err(Box::new(batch));
        }
        let ProducerBatch {
            entry,
            record_count,
            delivery,
            callbacks,
            timestamps,
            id,
            created_at,
            reserved_bytes,
            attempts,
            base_sequence,
            ..
        } = batch;
        let pieces = groups.len();
        let share = reserved_bytes / pieces;
        let counts: Vec<usize> = groups.iter().map(|(_, count)| *count).collect();
        let mut parts = delivery.map(|d| d.split(record_count, &counts).into_iter());
        let mut callbacks = callbacks.into_iter().peekable();
        let mut timestamps = timestamps.into_iter();
        let mut first_position = 0usize;
        let mut sequence = base_sequence;
        let mut out = Vec::with_capacity(pieces);
        for (index, (mut builder, count)) in groups.into_iter().enumerate() {
            if let (Some(p), Some(s)) = (producer, sequence) {
                builder.set_producer_state(p.producer_id, p.epoch, s);
            }
            let piece_sequence = sequence;
            sequence = sequence.map(|s| {
                ferrokafka_protocol::records::increment_sequence(
                    s,
                    i32::try_from(count).unwrap_or(i32::MAX),
                )
            });
            let reserved = if index + 1 == pieces {
                reserved_bytes.saturating_sub(share.saturating_mul(pieces - 1))
            } else {
                share
            };
            // The piece's records: their share of the delivery, and their
            // callbacks, renumbered from the piece's first record.
            let part = parts.as_mut().and_then(Iterator::next);
            let end = first_position.saturating_add(count);
            let mut piece_callbacks = Vec::new();
            while let Some(thunk) = callbacks.next_if(|t| t.position < end) {
                piece_callbacks.push(CallbackThunk {
                    position: thunk.position.saturating_sub(first_position),
                    ..thunk
                });
            }
            first_position = end;
            let piece_timestamps: Vec<i64> = timestamps.by_ref().take(count).collect();
            let sealed = match builder.build() {
                Ok(sealed) => sealed,
                // Unreachable in practice (the records were just decoded);
                // the piece's records fail rather than vanish.
                Err(e) => {
                    let error: Error = e.into();
                    if let Some(part) = part {
                        part.complete(Err(error.clone()));
                    }
                    for thunk in piece_callbacks {
                        thunk.completion.complete(Err(error.clone()));
                    }
                    for _ in piece_timestamps {
                        self.interceptors.on_acknowledgement(
                            &entry.topic,
                            entry.partition,
                            &Err(error.clone()),
                        );
                    }
                    self.release(reserved);
                    continue;
                }
            };
            out.push(ProducerBatch {
                entry: entry.clone(),
                payload: Payload::Sealed(sealed),
                record_count: count,
                delivery: part,
                callbacks: piece_callbacks,
                timestamps: piece_timestamps,
                id,
                created_at,
                reserved_bytes: reserved,
                attempts,
                retry_at: None,
                base_sequence: piece_sequence,
                maybe_written: false,
                full: false,
            });
        }
        if let (Ok(mut inc), Some(more)) = (self.incomplete.lock(), out.len().checked_sub(1)) {
            let extra = inc.extra_pieces.entry(id).or_default();
            *extra = extra.saturating_add(more);
        }
        Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokafka_client::metadata::{BrokerInfo, PartitionInfo, TopicInfo};
    use ferrokafka_protocol::records::RecordBatchHeader;
    use ferrokafka_protocol::{ErrorCode, Uuid};

    fn config() -> AccumulatorConfig {
        AccumulatorConfig {
            batch_size: 1000,
            linger: Duration::from_millis(5),
            delivery_timeout: Duration::from_millis(1000),
            compression: Compression::None,
            buffer_memory: 1 << 20,
            max_request_size: 1 << 20,
            transactional: false,
        }
    }

    fn metadata(partitions: i32) -> ClusterMetadata {
        let mut m = ClusterMetadata::default();
        m.brokers.insert(
            1,
            BrokerInfo {
                node_id: 1,
                host: "h".into(),
                port: 1,
                rack: None,
            },
        );
        m.topics.insert(
            "t".into(),
            TopicInfo {
                name: "t".into(),
                topic_id: Uuid::default(),
                is_internal: false,
                error: ErrorCode::None,
                partitions: (0..partitions)
                    .map(|p| PartitionInfo {
                        partition: p,
                        leader: 1,
                        leader_epoch: 0,
                        replicas: vec![1],
                        isr: vec![1],
                        offline_replicas: vec![],
                        error: ErrorCode::None,
                    })
                    .collect(),
            },
        );
        m
    }

    fn options(now: Instant) -> DrainOptions {
        DrainOptions {
            now,
            flush_all: false,
            may_send: true,
            producer: None,
            max_request_size: 1 << 20,
            transactional: false,
        }
    }

    fn add(acc: &RecordAccumulator, partition: i32, value: &[u8]) -> DeliveryFuture {
        let entry = acc.entry("t", partition);
        // What the producer reserves: an upper bound of the record's bytes.
        let size = RECORD_BATCH_OVERHEAD + 21 + value.len();
        acc.append(
            &entry,
            1000,
            None,
            Some(value),
            &[],
            Reply::Future,
            Memory::Take(size),
        )
        .unwrap()
        .ok()
        .unwrap()
        .future
        .unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_waits_for_linger_unless_full() {
        let acc = RecordAccumulator::new(config());
        let m = metadata(2);
        drop(add(&acc, 0, b"a"));
        drop(add(&acc, 0, b"b"));
        let d = acc.drain(&m, options(Instant::now()), |_| true);
        assert!(d.requests.is_empty());
        assert_eq!(
            d.next_wakeup,
            Some(Instant::now() + Duration::from_millis(5))
        );
        tokio::time::advance(Duration::from_millis(5)).await;
        let d = acc.drain(&m, options(Instant::now()), |_| true);
        let batches = &d.requests[&1];
        assert_eq!(batches.len(), 1);
        assert_eq!(batches[0].record_count(), 2);

        // A full batch goes before linger ends.
        for _ in 0..20 {
            drop(add(&acc, 1, &[0u8; 100]));
        }
        let d = acc.drain(&m, options(Instant::now()), |_| true);
        let batches = &d.requests[&1];
        assert_eq!(batches.len(), 1);
        assert!(batches[0].record_count() < 20);
        assert!(batches[0].size_in_bytes() <= 1000);
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_without_room_for_another_such_record_is_closed_and_ready() {
        let acc = RecordAccumulator::new(config());
        let m = metadata(1);
        let entry = acc.entry("t", 0);
        let mut appended = Vec::new();
        for _ in 0..8 {
            acc.memory.try_acquire_many(200).unwrap().forget();
            appended.push(
                acc.append(
                    &entry,
                    1000,
                    None,
                    Some(&[0u8; 100]),
                    &[],
                    Reply::Future,
                    Memory::Reserved(200),
                )
                .unwrap()
                .ok()
                .unwrap(),
            );
        }
        // 61 + 8 * 109 bytes: the eighth record leaves less than another
        // record's bytes of the 1000.
        let full_at = appended.iter().position(|a| a.batch_full);
        assert!(appended.iter().all(|a| a.bytes == 109), "{appended:?}");
        assert_eq!(full_at, Some(7));
        assert_eq!(entry.queue.lock().unwrap().batches.len(), 1);
        // Ready before linger ends.
        let d = acc.drain(&m, options(Instant::now()), |_| true);
        assert_eq!(d.requests[&1][0].record_count(), 8);
        // The next record opens a new batch.
        drop(add(&acc, 0, b"x"));
        assert_eq!(entry.queue.lock().unwrap().batches.len(), 1);
        let d = acc.drain(&m, options(Instant::now()), |_| true);
        assert!(d.requests.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn one_batch_per_partition_per_request_and_request_size_bounded() {
        let acc = RecordAccumulator::new(config());
        let m = metadata(3);
        for p in 0..3 {
            for _ in 0..30 {
                drop(add(&acc, p, &[1u8; 100]));
            }
        }
        let mut opts = options(Instant::now());
        opts.max_request_size = REQUEST_OVERHEAD + 2000;
        let d = acc.drain(&m, opts, |_| true);
        let batches = &d.requests[&1];
        assert_eq!(batches.len(), 2, "two ~1000-byte batches fit");
        assert!(d.more);
        let partitions: std::collections::HashSet<i32> =
            batches.iter().map(|b| b.partition()).collect();
        assert_eq!(partitions.len(), 2);
        // A broker without room gets nothing.
        let d = acc.drain(&m, options(Instant::now()), |_| false);
        assert!(d.requests.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn sequences_are_assigned_at_drain_and_kept_for_retries() {
        let acc = RecordAccumulator::new(config());
        let m = metadata(1);
        let producer = ProducerIdAndEpoch {
            producer_id: 7,
            epoch: 0,
        };
        let mut opts = options(Instant::now());
        opts.producer = Some(producer);
        opts.flush_all = true;
        drop(add(&acc, 0, b"w"));
        let entry = acc.entry("t", 0);
        assert_eq!(entry.queue.lock().unwrap().sequences.next_sequence(), 0);
        let mut d = acc.drain(&m, opts, |_| true);
        let warm = d.requests.remove(&1).unwrap().pop().unwrap();
        assert_eq!(warm.base_sequence, Some(0));
        // The epoch's first batch goes alone: the broker may hold no
        // sequence state for the producer yet, and would take any.
        drop(add(&acc, 0, b"x"));
        let d = acc.drain(&m, opts, |_| true);
        assert!(d.requests.is_empty(), "the first batch goes alone");
        {
            let mut q = entry.queue.lock().unwrap();
            q.in_flight = 0;
            q.sequences.acknowledge(0);
        }
        for _ in 0..2 {
            drop(add(&acc, 0, b"x"));
        }
        let mut d = acc.drain(&m, opts, |_| true);
        let mut first = d.requests.remove(&1).unwrap().pop().unwrap();
        assert_eq!(first.base_sequence, Some(1));
        first.seal(Some(producer)).unwrap();
        let header = RecordBatchHeader::parse(&first.records()).unwrap();
        assert_eq!((header.producer_id, header.base_sequence), (7, 1));
        drop(add(&acc, 0, b"y"));
        let mut d = acc.drain(&m, opts, |_| true);
        let second = d.requests.remove(&1).unwrap().pop().unwrap();
        assert_eq!(second.base_sequence, Some(4));
        // Both fail and come back: only the first may go again, with its
        // old sequence, and the second after it.
        {
            let mut q = entry.queue.lock().unwrap();
            q.in_flight = 0;
            q.reenqueue(second);
            q.reenqueue(first);
            assert_eq!(q.batches[0].base_sequence, Some(1));
        }
        let mut d = acc.drain(&m, opts, |_| true);
        let again = d.requests.remove(&1).unwrap().pop().unwrap();
        assert_eq!(again.base_sequence, Some(1));
        let d = acc.drain(&m, opts, |_| true);
        assert!(d.requests.is_empty(), "sequence 4 waits for 1");
        entry.queue.lock().unwrap().sequences.resolve(1);
        let mut d = acc.drain(&m, opts, |_| true);
        assert_eq!(
            d.requests.remove(&1).unwrap().pop().unwrap().base_sequence,
            Some(4)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_partition_in_flight_to_one_broker_waits_before_going_to_another() {
        let acc = RecordAccumulator::new(config());
        let mut m = metadata(1);
        let mut opts = options(Instant::now());
        opts.flush_all = true;
        drop(add(&acc, 0, b"a"));
        let d = acc.drain(&m, opts, |_| true);
        assert_eq!(d.requests[&1].len(), 1);
        // The leader moves to broker 2 while the batch is in flight to 1.
        m.topics.get_mut("t").unwrap().partitions[0].leader = 2;
        drop(add(&acc, 0, b"b"));
        let d = acc.drain(&m, opts, |_| true);
        assert!(d.requests.is_empty());
        acc.entry("t", 0).queue.lock().unwrap().in_flight = 0;
        let d = acc.drain(&m, opts, |_| true);
        assert_eq!(d.requests[&2].len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn expired_batches_are_removed_and_records_failed() {
        let acc = RecordAccumulator::new(config());
        let m = metadata(1);
        let rx = add(&acc, 0, b"x");
        let mut opts = options(Instant::now());
        opts.may_send = false;
        let d = acc.drain(&m, opts, |_| true);
        assert!(d.expired.is_empty());
        tokio::time::advance(Duration::from_millis(1000)).await;
        opts.now = Instant::now();
        let d = acc.drain(&m, opts, |_| true);
        assert_eq!(d.expired.len(), 1);
        for batch in d.expired {
            acc.complete(batch, Err(Error::Closed(None)));
        }
        assert!(rx.await.is_err());
        assert!(acc.is_empty());
        assert_eq!(acc.available_memory(), 1 << 20);
    }

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

    /// Appends a 100-byte value taking its memory now; `None` when there
    /// was none free.
    fn take(acc: &RecordAccumulator, entry: &Arc<PartitionEntry>) -> Option<Appended> {
        let size = RECORD_BATCH_OVERHEAD + 21 + 100;
        acc.append(
            entry,
            1000,
            None,
            Some(&[0u8; 100]),
            &[],
            Reply::Future,
            Memory::Take(size),
        )
        .unwrap()
        .ok()
    }

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

    #[tokio::test(start_paused = true)]
    async fn split_keeps_records_sequence_range_and_order() {
        let mut c = config();
        c.batch_size = 300;
        let acc = RecordAccumulator::new(c);
        let entry = acc.entry("t", 0);
        // One big batch built with a large limit, as if batch.size changed.
        let mut builder = RecordBatchBuilder::new(Compression::None);
        let mut batch = ProducerBatch {
            entry,
            payload: Payload::Open(RecordBatchBuilder::new(Compression::None)),
            record_count: 0,
            delivery: None,
            callbacks: Vec::new(),
            timestamps: Vec::new(),
            id: acc.register_batch(),
            created_at: Instant::now(),
            reserved_bytes: 1000,
            attempts: 1,
            retry_at: None,
            base_sequence: Some(40),
            maybe_written: false,
            full: false,
        };
        // Every third record reports to a callback, the others to futures.
        let called = Arc::new(Mutex::new(Vec::new()));
        let mut futures = Vec::new();
        for i in 0..10u8 {
            builder.append(1000, None, Some(&[i; 100]), &[]).unwrap();
            if i % 3 == 2 {
                let called = called.clone();
                let reply = Reply::Callback(Completion::callback(Box::new(move |result| {
                    called.lock().unwrap().push((i, result.unwrap().offset));
                })));
                assert!(batch.push(reply, 1000).is_none());
            } else {
                futures.push((i, batch.push(Reply::Future, 1000).unwrap()));
            }
        }
        batch.payload = Payload::Sealed(builder.build().unwrap());
        let producer = ProducerIdAndEpoch {
            producer_id: 1,
            epoch: 2,
        };
        let pieces = acc.split(batch, Some(producer)).unwrap();
        assert!(pieces.len() >= 4, "{}", pieces.len());
        let mut sequence = 40;
        // The offset each record gets: piece k is stored at 100 * k.
        let mut expected = Vec::new();
        for (k, piece) in pieces.iter().enumerate() {
            let header = RecordBatchHeader::parse(&piece.records()).unwrap();
            assert_eq!(header.base_sequence, sequence);
            assert_eq!(piece.base_sequence, Some(sequence));
            assert_eq!(
                usize::try_from(header.record_count).unwrap(),
                piece.record_count()
            );
            sequence += header.record_count;
            expected.extend((0..piece.record_count()).map(|p| 100 * k as i64 + p as i64));
        }
        assert_eq!(expected.len(), 10);
        // Completed out of order: each record still gets its piece's offset.
        for (k, piece) in pieces.into_iter().enumerate().rev() {
            acc.complete(piece, Ok((100 * k as i64, -1)));
        }
        assert!(acc.is_empty());
        assert_eq!(acc.available_memory(), (1 << 20) + 1000);
        for (i, future) in futures {
            let metadata = future.await.unwrap();
            assert_eq!(metadata.topic, "t");
            assert_eq!(metadata.offset, expected[usize::from(i)], "record {i}");
        }
        let mut called = called.lock().unwrap().clone();
        called.sort_unstable();
        let want: Vec<(u8, i64)> = [2u8, 5, 8]
            .into_iter()
            .map(|i| (i, expected[usize::from(i)]))
            .collect();
        assert_eq!(called, want);
    }

    #[tokio::test]
    async fn reset_producer_state_patches_header_and_crc() {
        let acc = RecordAccumulator::new(config());
        drop(add(&acc, 0, b"x"));
        let entry = acc.entry("t", 0);
        let mut batch = entry.queue.lock().unwrap().batches.pop_front().unwrap();
        batch.base_sequence = Some(5);
        batch
            .seal(Some(ProducerIdAndEpoch {
                producer_id: 9,
                epoch: 1,
            }))
            .unwrap();
        let address = batch.records().as_ptr();
        batch
            .reset_producer_state(
                ProducerIdAndEpoch {
                    producer_id: 9,
                    epoch: 2,
                },
                0,
            )
            .unwrap();
        assert_eq!(batch.records().as_ptr(), address, "patched in place");
        let view = ferrokafka_protocol::records::RecordBatchView::new(batch.records()).unwrap();
        view.verify_crc().unwrap();
        assert_eq!(view.header().producer_epoch, 2);
        assert_eq!(view.header().base_sequence, 0);

        // Bytes a request still holds keep what was sent.
        let in_flight = batch.records();
        batch
            .reset_producer_state(
                ProducerIdAndEpoch {
                    producer_id: 9,
                    epoch: 3,
                },
                4,
            )
            .unwrap();
        assert_eq!(
            RecordBatchHeader::parse(&in_flight).unwrap().producer_epoch,
            2
        );
        let header = RecordBatchHeader::parse(&batch.records()).unwrap();
        assert_eq!((header.producer_epoch, header.base_sequence), (3, 4));
    }
}
