//! [`RecordAccumulator::drain`]: the sender's pass over every partition.
//!
//! It removes batches past `delivery.timeout.ms` (counted from a batch's
//! creation), and takes at most one ready batch per partition (the first),
//! for brokers with room for another request in flight, each broker's up to
//! `max.request.size`. A partition's batches go to one broker at a time, so
//! a leader change cannot let a later batch overtake an earlier one.
//! Idempotent sequence numbers are assigned here, as a batch is taken, never
//! earlier: numbers must not be consumed by records that are never sent.
//! The sender seals the batches it gets (compression, CRC) after the
//! partition's lock is released.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use ferrokafka_client::ClusterMetadata;
use tokio::time::Instant;

use super::queue::PartitionQueue;
use super::{PartitionEntry, ProducerBatch, REQUEST_OVERHEAD, RecordAccumulator};
use crate::idempotence::ProducerIdAndEpoch;

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

impl Drained {
    /// Notes that something needs the sender's look at `at`.
    fn wake_at(&mut self, at: Instant) {
        self.next_wakeup = Some(self.next_wakeup.map_or(at, |w| w.min(at)));
    }
}

impl RecordAccumulator {
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
        for entry in self.entries() {
            let Ok(mut queue) = entry.queue.lock() else {
                continue;
            };
            self.expire(&mut queue, options.now, &mut drained);
            if !self.first_is_ready(&queue, options, &mut drained) {
                continue;
            }
            let Some(leader) = sendable_to(&entry, &queue, metadata, options, &mut drained) else {
                continue;
            };
            self.take_first(
                &mut queue,
                leader,
                options,
                &mut request_sizes,
                &mut node_has_room,
                &mut drained,
            );
        }
        drained
    }

    /// Removes the partition's queued batches past `delivery.timeout.ms`,
    /// which bounds a record's life from the moment its batch was created;
    /// batches in flight are judged when their response arrives.
    fn expire(&self, queue: &mut PartitionQueue, now: Instant, drained: &mut Drained) {
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
                    drained.wake_at(at);
                    index += 1;
                }
                None => break,
            }
        }
    }

    /// Whether the partition's first batch is ready: its retry backoff is
    /// over, and it is full, flushed, a retry, or past `linger.ms`. When it
    /// is not, notes when it will be.
    fn first_is_ready(
        &self,
        queue: &PartitionQueue,
        options: DrainOptions,
        drained: &mut Drained,
    ) -> bool {
        let now = options.now;
        let Some(first) = queue.batches.front() else {
            return false;
        };
        if let Some(at) = first.retry_at.filter(|&at| at > now) {
            drained.wake_at(at);
            return false;
        }
        let full =
            queue.batches.len() > 1 || first.full || first.size_in_bytes() >= self.batch_limit;
        let linger_end = first.created_at + self.config.linger;
        let ready = full || options.flush_all || first.is_sealed() || linger_end <= now;
        if !ready {
            drained.wake_at(linger_end);
        }
        ready
    }

    /// Takes the partition's first (ready) batch into `leader`'s request
    /// if the broker has room for another request and the request for this
    /// batch, numbering it if idempotent and not numbered yet.
    fn take_first(
        &self,
        queue: &mut PartitionQueue,
        leader: i32,
        options: DrainOptions,
        request_sizes: &mut HashMap<i32, usize>,
        node_has_room: &mut impl FnMut(i32) -> bool,
        drained: &mut Drained,
    ) {
        let Some(first) = queue.batches.front() else {
            return;
        };
        let size = first.size_in_bytes();
        let planned = request_sizes.get(&leader).copied();
        if planned.is_none() && !node_has_room(leader) {
            return;
        }
        let planned = planned.unwrap_or(REQUEST_OVERHEAD);
        if planned > REQUEST_OVERHEAD && planned.saturating_add(size) > options.max_request_size {
            drained.more = true;
            return;
        }
        let Some(mut batch) = queue.batches.pop_front() else {
            return;
        };
        if options.producer.is_some() && batch.base_sequence.is_none() {
            batch.base_sequence = Some(queue.sequences.assign(batch.record_count()));
        }
        queue.in_flight += 1;
        queue.in_flight_node = leader;
        // Another ready batch of this partition goes in the next request
        // (one batch per partition per request): drain again, so the
        // pipeline fills up to the in-flight limit now rather than one
        // request per response.
        if let Some(next) = queue.batches.front() {
            if queue.batches.len() > 1
                || next.full
                || next.is_sealed()
                || options.flush_all
                || next.created_at + self.config.linger <= options.now
            {
                drained.more = true;
            }
        }
        request_sizes.insert(leader, planned.saturating_add(size));
        drained.requests.entry(leader).or_default().push(batch);
    }
}

/// The broker a partition's ready first batch may go to now, if any: this
/// pass may send (and, in a transaction, the partition was added to it),
/// the leader is known, nothing of the partition is in flight to another
/// broker, and idempotence lets this batch go next.
fn sendable_to(
    entry: &PartitionEntry,
    queue: &PartitionQueue,
    metadata: &ClusterMetadata,
    options: DrainOptions,
    drained: &mut Drained,
) -> Option<i32> {
    if !options.may_send || (options.transactional && !entry.in_transaction.load(Ordering::Acquire))
    {
        return None;
    }
    let Some(leader) = metadata.leader(&entry.topic, entry.partition) else {
        drained.unknown_leader = true;
        return None;
    };
    if queue.in_flight > 0 && queue.in_flight_node != leader {
        return None;
    }
    if options.producer.is_some() {
        let first = queue.batches.front()?;
        if first
            .base_sequence
            .is_some_and(|s| !queue.sequences.is_unacked(s))
        {
            drained.sequence_gap = true;
            return None;
        }
        if !queue.sequences.may_send(first.base_sequence) {
            return None;
        }
        if queue.in_flight > 0 && !queue.sequences.may_pipeline() {
            return None;
        }
    }
    Some(leader)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::accumulator::testing::{add, config, metadata, options};
    use crate::error::Error;
    use ferrokafka_protocol::records::RecordBatchHeader;

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
}
