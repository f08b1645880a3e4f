//! [`RecordAccumulator::append`]: `send`'s step into the accumulator, on
//! the caller's task and under the partition's lock only. The record goes
//! into the partition's open batch when that has room (`batch.size`), or
//! opens a new batch; either way it is encoded there once, and its reply
//! (future or callback) joins the batch.
//!
//! Appends wake the sender only when it would not look by itself: a batch
//! that became ready while no request is in flight (otherwise the next
//! response, or the sender's own look within `linger.ms`, finds it), or a
//! new linger deadline while the sender sleeps with nothing pending.

use std::sync::Arc;

use ferrokafka_protocol::records::{RECORD_BATCH_OVERHEAD, RecordBatchBuilder, RecordHeader};
use tokio::time::Instant;

use super::batch::{CallbackThunk, Payload};
use super::queue::PartitionQueue;
use super::{Memory, PartitionEntry, ProducerBatch, RecordAccumulator};
use crate::delivery::{DeliveryFuture, Reply};
use crate::error::{Error, Result};

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

/// How a record fared with its partition's open batch.
enum OpenAppend {
    /// Appended; with whether the sender must be woken (once the
    /// partition's lock is released).
    Appended(Appended, bool),
    /// The batch had room, but `buffer.memory` had none: the reply goes
    /// back to the caller.
    NoMemory(Reply),
    /// No open batch with room: the record opens a new one.
    NoRoom(Reply),
}

impl RecordAccumulator {
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
        let opened =
            self.append_to_open_batch(&mut queue, timestamp, key, value, headers, reply, memory)?;
        let reply = match opened {
            OpenAppend::Appended(appended, wake) => {
                drop(queue);
                if wake {
                    self.wakeup.notify_one();
                }
                return Ok(Ok(appended));
            }
            OpenAppend::NoMemory(reply) => return Ok(Err(reply)),
            OpenAppend::NoRoom(reply) => reply,
        };
        let Some(reserved) = self.memory_for_new_batch(memory)? else {
            return Ok(Err(reply));
        };
        let builder = self.new_batch_builder(timestamp, key, value, headers, memory, reserved)?;
        let (appended, wake) =
            self.push_new_batch(&mut queue, entry, builder, reserved, reply, timestamp);
        drop(queue);
        if wake {
            self.wakeup.notify_one();
        }
        Ok(Ok(appended))
    }

    /// Appends a record to the partition's last batch if that is open, not
    /// full and has room for it, taking the `buffer.memory` the batch is
    /// short of for it.
    #[allow(clippy::too_many_arguments)]
    fn append_to_open_batch(
        &self,
        queue: &mut PartitionQueue,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader],
        reply: Reply,
        memory: Memory,
    ) -> Result<OpenAppend> {
        let Some(batch) = queue.batches.back_mut() else {
            return Ok(OpenAppend::NoRoom(reply));
        };
        let (Payload::Open(builder), false) = (&mut batch.payload, batch.full) else {
            return Ok(OpenAppend::NoRoom(reply));
        };
        let before = builder.size_in_bytes();
        // `bound` bounds the record's bytes from above, which nearly always
        // answers without sizing the record twice.
        let bound = memory.bytes();
        let has_room = before.saturating_add(bound) <= self.batch_limit
            || builder.has_room_for(self.batch_limit, timestamp, key, value, headers);
        if !has_room {
            return Ok(OpenAppend::NoRoom(reply));
        }
        let Some(taken) = self.memory_for_open_batch(batch.reserved_bytes, before, memory)? else {
            return Ok(OpenAppend::NoMemory(reply));
        };
        // What was taken belongs to the batch from here on, whatever the
        // append does; what the caller reserved only once the record is in
        // (else the caller gives it back).
        batch.reserved_bytes = batch.reserved_bytes.saturating_add(taken);
        builder.append(timestamp, key, value, headers)?;
        if let Memory::Reserved(bytes) = memory {
            batch.reserved_bytes = batch.reserved_bytes.saturating_add(bytes);
        }
        let after = builder.size_in_bytes();
        let bytes = after.saturating_sub(before);
        // KIP-794 counts what was actually appended; a batch that cannot
        // take another record like this one is closed, so it drains now and
        // the sticky partitioner moves on.
        let full = after.saturating_add(bytes) > self.batch_limit;
        let future = batch.push(reply, timestamp);
        if !self.interceptors.is_empty() {
            batch.timestamps.push(timestamp);
        }
        batch.full = full;
        queue.appended_bytes = queue.appended_bytes.wrapping_add(bytes);
        let appended_total = queue.appended_bytes;
        // Waiting for linger no more: the sender must look unless an
        // earlier full batch already made it.
        let wake = full && queue.batches.len() == 1 && self.must_wake_sender_for_ready();
        let appended = Appended {
            future,
            bytes,
            appended_total,
            batch_full: full,
        };
        Ok(OpenAppend::Appended(appended, wake))
    }

    /// The builder of a new batch, with the record in. If the record does
    /// not encode, memory taken for it goes back to the pool (memory the
    /// caller reserved goes back to the caller).
    fn new_batch_builder(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader],
        memory: Memory,
        reserved: usize,
    ) -> Result<RecordBatchBuilder> {
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
        Ok(builder)
    }

    /// Queues a new batch around `builder` (which holds the record) with
    /// the record's reply, and says whether the sender must be woken.
    fn push_new_batch(
        &self,
        queue: &mut PartitionQueue,
        entry: &Arc<PartitionEntry>,
        builder: RecordBatchBuilder,
        reserved: usize,
        reply: Reply,
        timestamp: i64,
    ) -> (Appended, bool) {
        let bytes = builder
            .size_in_bytes()
            .saturating_sub(RECORD_BATCH_OVERHEAD);
        let callbacks = self.callbacks_for(&reply, bytes);
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
        let appended = Appended {
            future,
            bytes,
            appended_total,
            batch_full: full,
        };
        (appended, wake)
    }

    /// A new batch's callback list: with a callback, room for about as many
    /// as fit if the records are all the size of this one (`bytes`; bounded,
    /// for tiny records), so the batch does not grow its vector record by
    /// record.
    fn callbacks_for(&self, reply: &Reply, bytes: usize) -> Vec<CallbackThunk> {
        match reply {
            Reply::Future => Vec::new(),
            Reply::Callback(_) => {
                let record_size = bytes.max(16);
                Vec::with_capacity(
                    (self.batch_limit.saturating_sub(RECORD_BATCH_OVERHEAD) / record_size)
                        .saturating_add(1)
                        .clamp(1, 1024),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accumulator::testing::{add, config, metadata, options};

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
}
