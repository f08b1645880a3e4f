//! Choosing a record's partition, exactly as the Java client does.
//!
//! - An explicit partition wins (checked by the producer, not here).
//! - Keyed records: `(murmur2(key) & 0x7fffffff) % partitions`, with Java's
//!   murmur2 (seed `0x9747b28c`, 32-bit wrapping arithmetic, little-endian
//!   4-byte chunks, tail bytes folded 3 → 2 → 1). Any other hash puts keys
//!   on different partitions than Java producers do, which breaks per-key
//!   ordering for mixed fleets and co-partitioned joins.
//! - Unkeyed records: the uniform sticky partitioner (KIP-480, KIP-794):
//!   stay on one partition until about `batch.size` bytes went to it, then
//!   switch to another chosen uniformly among those with a leader, so that
//!   batches fill up instead of each partition getting a sliver. The
//!   producer's built-in partitioning (`TopicSticky`) counts the bytes
//!   each record actually took and switches as soon as the accumulator
//!   reports the partition's batch full; [`DefaultPartitioner`], the same
//!   strategy behind the trait, can only count the estimates it is given.
//!
//! [`Partitioner`] is the seam for custom strategies.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use ferrokafka_client::backoff::{JitterSource, XorShift};
use ferrokafka_client::metadata::{PartitionInfo, TopicInfo};

use crate::fxhash::FxBuildHasher;

/// Chooses the partition of records sent without an explicit one.
pub trait Partitioner: Send + Sync + std::fmt::Debug {
    /// The partition for a record of `topic` (`record_size` is its
    /// approximate serialized size). `topic_info` lists the topic's
    /// partitions (at least one) and their leaders; the result must be one
    /// of them.
    fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        record_size: usize,
        topic_info: &TopicInfo,
    ) -> i32;
}

/// Java's murmur2 (`org.apache.kafka.common.utils.Utils.murmur2`), as a
/// signed 32-bit value.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java's int arithmetic: the length is folded in as a 32-bit value.
    let mut h = SEED ^ (data.len() as u32);
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut k = match chunk {
            &[a, b, c, d] => u32::from_le_bytes([a, b, c, d]),
            _ => 0,
        };
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    // Java's switch falls through from 3 to 2 to 1.
    match *tail {
        [a, b, c] => {
            h ^= u32::from(c) << 16;
            h ^= u32::from(b) << 8;
            h ^= u32::from(a);
            h = h.wrapping_mul(M);
        }
        [a, b] => {
            h ^= u32::from(b) << 8;
            h ^= u32::from(a);
            h = h.wrapping_mul(M);
        }
        [a] => {
            h ^= u32::from(a);
            h = h.wrapping_mul(M);
        }
        _ => {}
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Java's producer picks for `key` among `partitions`
/// (`(murmur2(key) & 0x7fffffff) % partitions`); 0 when there are none.
pub fn partition_for_key(key: &[u8], partitions: usize) -> i32 {
    let positive = (murmur2(key) & 0x7fff_ffff) as u32;
    match u32::try_from(partitions) {
        Ok(n) if n > 0 => (positive % n) as i32,
        // More partitions than a u32 holds cannot exist; 0 keeps it total.
        _ => 0,
    }
}

/// Where unkeyed records of one topic go now.
#[derive(Debug, Clone, Copy)]
struct Sticky {
    partition: i32,
    produced_bytes: usize,
}

#[derive(Debug)]
struct StickyState {
    topics: HashMap<String, Sticky, FxBuildHasher>,
    rng: XorShift,
}

/// The Java producer's built-in partitioner: murmur2 for keys, uniform
/// sticky for the rest (and for keys too with `partitioner.ignore.keys`).
#[derive(Debug)]
pub struct DefaultPartitioner {
    ignore_keys: bool,
    sticky_batch_size: usize,
    state: Mutex<StickyState>,
}

impl DefaultPartitioner {
    /// A partitioner that switches sticky partitions after
    /// `sticky_batch_size` bytes (`batch.size`).
    pub fn new(sticky_batch_size: usize, ignore_keys: bool) -> Self {
        Self::with_rng(sticky_batch_size, ignore_keys, XorShift::from_entropy())
    }

    fn with_rng(sticky_batch_size: usize, ignore_keys: bool, rng: XorShift) -> Self {
        DefaultPartitioner {
            ignore_keys,
            sticky_batch_size: sticky_batch_size.max(1),
            state: Mutex::new(StickyState {
                topics: HashMap::default(),
                rng,
            }),
        }
    }

    /// A partition chosen uniformly among those with a leader (all of them
    /// when none has one), avoiding `current` when there is a choice.
    fn pick(rng: &mut XorShift, topic_info: &TopicInfo, current: Option<i32>) -> i32 {
        let preferred = |p: &PartitionInfo| p.leader >= 0 && Some(p.partition) != current;
        let preferred_count = topic_info
            .partitions
            .iter()
            .filter(|p| preferred(p))
            .count();
        let strict = preferred_count > 0;
        let count = if strict {
            preferred_count
        } else {
            topic_info.partitions.len()
        };
        // `next_unit` is below 1, so the index is below `count`; `min`
        // keeps float rounding from ever reaching it.
        let index = ((rng.next_unit() * count as f64) as usize).min(count.saturating_sub(1));
        topic_info
            .partitions
            .iter()
            .filter(|p| !strict || preferred(p))
            .nth(index)
            .map(|p| p.partition)
            .unwrap_or(0)
    }

    fn sticky_partition(&self, topic: &str, record_size: usize, topic_info: &TopicInfo) -> i32 {
        let Ok(mut state) = self.state.lock() else {
            return Self::pick(&mut XorShift::from_entropy(), topic_info, None);
        };
        let StickyState { topics, rng } = &mut *state;
        // Partitions are sorted by index, so the direct look-up nearly
        // always answers; the scan covers gaps in odd metadata.
        let valid = |p: i32| {
            usize::try_from(p)
                .ok()
                .and_then(|i| topic_info.partitions.get(i))
                .is_some_and(|info| info.partition == p)
                || topic_info.partitions.iter().any(|info| info.partition == p)
        };
        // One look-up per record; only the first record of a topic (or one
        // after its partitions changed) inserts, and only the first
        // allocates the map entry.
        let sticky = match topics.get_mut(topic) {
            Some(sticky) => {
                if !valid(sticky.partition) {
                    *sticky = Sticky {
                        partition: Self::pick(rng, topic_info, None),
                        produced_bytes: 0,
                    };
                }
                sticky
            }
            None => topics.entry(topic.to_string()).or_insert(Sticky {
                partition: Self::pick(rng, topic_info, None),
                produced_bytes: 0,
            }),
        };
        let chosen = sticky.partition;
        sticky.produced_bytes = sticky.produced_bytes.saturating_add(record_size);
        // KIP-794: switch once about a batch worth of bytes went to this
        // partition, so every partition gets full batches in turn.
        if sticky.produced_bytes >= self.sticky_batch_size {
            sticky.partition = Self::pick(rng, topic_info, Some(chosen));
            sticky.produced_bytes = 0;
        }
        chosen
    }
}

impl Partitioner for DefaultPartitioner {
    fn partition(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        _value: Option<&[u8]>,
        record_size: usize,
        topic_info: &TopicInfo,
    ) -> i32 {
        match key {
            Some(key) if !self.ignore_keys => partition_for_key(key, topic_info.partitions.len()),
            _ => self.sticky_partition(topic, record_size, topic_info),
        }
    }
}

/// The built-in partitioner's sticky state for one topic, as the
/// producer keeps it beside the topic's partition queues: the same choice
/// as [`DefaultPartitioner`], but fed with the bytes each record actually
/// took in its batch and told when the batch filled up (KIP-794), so a
/// partition gets a full batch before the next one is chosen.
#[derive(Debug)]
pub(crate) struct TopicSticky {
    /// The current partition; -1 before the first choice. Read with one
    /// atomic load per record: the lock below is taken only to switch.
    current: AtomicI32,
    /// Where the current partition's count started: the partition (high
    /// 32 bits) and its running byte total then (low 32 bits, wrapping),
    /// or [`NOT_COUNTING`] until its first record after the switch. The
    /// running total is the partition queue's, kept under its lock, so a
    /// record costs one load here rather than an atomic add.
    counting_from: AtomicU64,
    /// Draws the next partition.
    rng: Mutex<XorShift>,
}

/// `counting_from` before the current partition's first record.
const NOT_COUNTING: u64 = u64::MAX;

/// `counting_from` for `partition` starting at running total `total`.
fn counting(partition: i32, total: usize) -> u64 {
    // Both halves are kept to 32 bits on purpose: the partition id is
    // non-negative and the total only ever subtracted from, wrapping.
    (u64::from(partition as u32) << 32) | (total as u32 as u64)
}

impl TopicSticky {
    /// No partition chosen yet.
    pub(crate) fn new() -> Self {
        Self::starting_at(-1, NOT_COUNTING)
    }

    /// A state that starts on `partition` (-1: none), as when the topic's
    /// metadata changed and the choice carries over.
    fn starting_at(partition: i32, counting_from: u64) -> Self {
        TopicSticky {
            current: AtomicI32::new(partition),
            counting_from: AtomicU64::new(counting_from),
            rng: Mutex::new(XorShift::from_entropy()),
        }
    }

    /// A copy for the topic's new metadata: the same partition (checked
    /// against the new partitions when next used) and count.
    pub(crate) fn carried_over(&self) -> Self {
        Self::starting_at(
            self.current.load(Ordering::Acquire),
            self.counting_from.load(Ordering::Relaxed),
        )
    }

    /// The partition for the next unkeyed record, choosing one if there is
    /// none yet or `valid` rejects the current one.
    pub(crate) fn partition(&self, topic_info: &TopicInfo, valid: impl Fn(i32) -> bool) -> i32 {
        let current = self.current.load(Ordering::Acquire);
        if current >= 0 && valid(current) {
            return current;
        }
        // A rejected partition must not be picked again.
        self.switch_from(current, topic_info, |p| p >= 0 && valid(p))
    }

    /// Counts `bytes` appended to `partition`, whose running byte total is
    /// `total` with them, and switches once its batch is full or
    /// `batch_size` bytes went to it since it was chosen. Senders racing
    /// here may append to a partition just switched from; they neither
    /// count against the new one nor switch again.
    pub(crate) fn appended(
        &self,
        partition: i32,
        bytes: usize,
        total: usize,
        batch_full: bool,
        batch_size: usize,
        topic_info: &TopicInfo,
    ) {
        let from = self.counting_from.load(Ordering::Relaxed);
        let produced = if from != NOT_COUNTING && (from >> 32) as u32 == partition as u32 {
            (total as u32).wrapping_sub(from as u32) as usize
        } else if self.current.load(Ordering::Acquire) == partition {
            // The first record since the switch starts the count.
            let start = counting(partition, total.wrapping_sub(bytes));
            let _ = self.counting_from.compare_exchange(
                from,
                start,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            bytes
        } else {
            return;
        };
        if batch_full || produced >= batch_size.max(1) {
            // Whoever switched first wins; others keep its choice.
            self.switch_from(partition, topic_info, |_| true);
        }
    }

    /// Moves off `from` (unless another sender already did and `keep`
    /// accepts its choice), to a partition other than `from` where there is
    /// one, and starts counting again. Returns the current partition.
    fn switch_from(&self, from: i32, topic_info: &TopicInfo, keep: impl Fn(i32) -> bool) -> i32 {
        let mut rng = self
            .rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = self.current.load(Ordering::Acquire);
        if current != from && keep(current) {
            return current;
        }
        let rejected = (from >= 0).then_some(from);
        let next = DefaultPartitioner::pick(&mut rng, topic_info, rejected);
        self.counting_from.store(NOT_COUNTING, Ordering::Relaxed);
        self.current.store(next, Ordering::Release);
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokafka_protocol::{ErrorCode, Uuid};

    #[test]
    fn murmur2_matches_the_java_test_vectors() {
        assert_eq!(murmur2(b"21"), -973_932_308);
        assert_eq!(murmur2(b"foobar"), -790_332_482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985_981_536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1_486_304_829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            -58_897_971
        );
        assert_eq!(murmur2(b"abc"), 479_470_107);
        assert_eq!(murmur2(b""), 275_646_681);
    }

    #[test]
    fn keyed_partition_is_the_positive_hash_modulo_the_count() {
        // murmur2("21") & 0x7fffffff = 1173551340.
        assert_eq!(partition_for_key(b"21", 10), 1_173_551_340 % 10);
        for key in [&b"a"[..], b"foobar", b"", b"key-12345"] {
            for n in 1..20 {
                let p = partition_for_key(key, n);
                assert!((0..n as i32).contains(&p));
                assert_eq!(p, ((murmur2(key) & 0x7fff_ffff) as usize % n) as i32);
            }
        }
        assert_eq!(partition_for_key(b"x", 0), 0);
    }

    fn topic(partitions: i32, without_leader: &[i32]) -> TopicInfo {
        TopicInfo {
            name: "t".into(),
            topic_id: Uuid::default(),
            is_internal: false,
            error: ErrorCode::None,
            partitions: (0..partitions)
                .map(|p| PartitionInfo {
                    partition: p,
                    leader: if without_leader.contains(&p) { -1 } else { 1 },
                    leader_epoch: 0,
                    replicas: vec![1],
                    isr: vec![1],
                    offline_replicas: vec![],
                    error: ErrorCode::None,
                })
                .collect(),
        }
    }

    #[test]
    fn unkeyed_records_stick_until_a_batch_worth_then_switch() {
        let p = DefaultPartitioner::with_rng(1000, false, XorShift::new(3));
        let info = topic(4, &[]);
        let first = p.partition("t", None, None, 100, &info);
        for _ in 0..9 {
            assert_eq!(p.partition("t", None, None, 100, &info), first);
        }
        // 1000 bytes went to `first`: the next record goes elsewhere.
        let next = p.partition("t", None, None, 100, &info);
        assert_ne!(next, first);
    }

    #[test]
    fn sticky_choice_is_uniform_and_skips_partitions_without_a_leader() {
        let p = DefaultPartitioner::with_rng(1, false, XorShift::new(11));
        let info = topic(4, &[2]);
        let mut counts = [0usize; 4];
        for _ in 0..4000 {
            let chosen = p.partition("t", None, None, 10, &info);
            counts[chosen as usize] += 1;
        }
        assert_eq!(counts[2], 0, "{counts:?}");
        for (i, c) in counts.iter().enumerate() {
            if i != 2 {
                assert!(*c > 1000, "{counts:?}");
            }
        }
    }

    #[test]
    fn topic_sticky_switches_when_the_batch_fills_or_a_batch_worth_went() {
        let info = topic(4, &[]);
        let sticky = TopicSticky::new();
        // Each partition's running total, as its queue keeps it.
        let mut totals = [0usize; 4];
        let mut append = |p: i32, full: bool| {
            let total = &mut totals[usize::try_from(p).unwrap()];
            *total += 100;
            sticky.appended(p, 100, *total, full, 1000, &info);
        };
        let first = sticky.partition(&info, |_| true);
        append(first, false);
        assert_eq!(sticky.partition(&info, |_| true), first);
        // The accumulator says the batch is full: move on at once.
        append(first, true);
        let second = sticky.partition(&info, |_| true);
        assert_ne!(second, first);
        // Without a full batch, a batch worth of bytes moves it on too.
        for _ in 0..9 {
            append(second, false);
            assert_eq!(sticky.partition(&info, |_| true), second);
        }
        append(second, false);
        let third = sticky.partition(&info, |_| true);
        assert_ne!(third, second);
        // A sender that appended to the old partition after the switch
        // neither switches again nor counts against the new partition.
        append(second, true);
        for _ in 0..5 {
            append(second, false);
        }
        assert_eq!(sticky.partition(&info, |_| true), third);
        for _ in 0..9 {
            append(third, false);
            assert_eq!(sticky.partition(&info, |_| true), third);
        }
        // Its own tenth record (a batch worth) moves it on.
        append(third, false);
        let fourth = sticky.partition(&info, |_| true);
        assert_ne!(fourth, third);
        // A partition the metadata no longer lists is replaced.
        let current = sticky.partition(&info, |_| true);
        assert_ne!(sticky.partition(&info, |p| p != current), current);
        // The choice carries over to a topic's new metadata.
        let carried = sticky.carried_over();
        assert_eq!(
            carried.partition(&info, |_| true),
            sticky.partition(&info, |_| true)
        );
    }

    #[test]
    fn topic_sticky_counts_from_the_partitions_running_total() {
        let info = topic(2, &[]);
        let sticky = TopicSticky::new();
        let first = sticky.partition(&info, |_| true);
        // The partition already had bytes (keyed records, an earlier turn,
        // a total that wrapped): only those since the choice count.
        let mut total = usize::MAX - 250;
        for _ in 0..9 {
            total = total.wrapping_add(100);
            sticky.appended(first, 100, total, false, 1000, &info);
            assert_eq!(sticky.partition(&info, |_| true), first);
        }
        total = total.wrapping_add(100);
        sticky.appended(first, 100, total, false, 1000, &info);
        assert_ne!(sticky.partition(&info, |_| true), first);
    }

    #[test]
    fn topic_sticky_shared_by_threads_spreads_over_partitions_in_batch_runs() {
        let info = topic(4, &[]);
        let sticky = std::sync::Arc::new(TopicSticky::new());
        let totals: [std::sync::atomic::AtomicUsize; 4] = Default::default();
        let counts: Vec<Vec<i32>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let sticky = &sticky;
                    let info = &info;
                    let totals = &totals;
                    scope.spawn(move || {
                        let mut chosen = Vec::new();
                        for _ in 0..10_000 {
                            let p = sticky.partition(info, |_| true);
                            let total = totals[usize::try_from(p).unwrap()]
                                .fetch_add(100, Ordering::Relaxed)
                                + 100;
                            sticky.appended(p, 100, total, false, 1000, info);
                            chosen.push(p);
                        }
                        chosen
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut per_partition = [0usize; 4];
        for p in counts.iter().flatten() {
            per_partition[usize::try_from(*p).unwrap()] += 1;
        }
        // Every partition gets records, and every choice is a real one.
        assert_eq!(per_partition.iter().sum::<usize>(), 40_000);
        assert!(per_partition.iter().all(|&c| c > 0), "{per_partition:?}");
    }

    #[test]
    fn keys_are_ignored_when_configured() {
        let p = DefaultPartitioner::with_rng(1_000_000, true, XorShift::new(5));
        let info = topic(8, &[]);
        let chosen: Vec<i32> = (0..20)
            .map(|i| p.partition("t", Some(format!("k{i}").as_bytes()), None, 10, &info))
            .collect();
        assert!(chosen.iter().all(|&c| c == chosen[0]), "{chosen:?}");
    }
}
