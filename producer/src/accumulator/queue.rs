//! The per-partition queues: [`PartitionEntry`] names a partition and
//! holds its [`PartitionQueue`] (its batches oldest first, what is in
//! flight and to which broker, its idempotent sequence numbers), and the
//! accumulator finds a partition's entry by topic and index.
//!
//! A partition's batches stay in creation order, which is sequence order:
//! a retry goes back in by id, before the batches created after it, so a
//! retried batch never lands behind one numbered later.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use super::{ProducerBatch, RecordAccumulator};
use crate::fxhash::FxBuildHasher;
use crate::idempotence::PartitionSequences;

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
    pub(super) appended_bytes: usize,
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

/// Topic → queues indexed by partition (partitions are 0..n, so a vector
/// saves a hash per record).
pub(super) type PartitionMap = HashMap<Arc<str>, Vec<Option<Arc<PartitionEntry>>>, FxBuildHasher>;

impl RecordAccumulator {
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
}
