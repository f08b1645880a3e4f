//! [`Producer::send`] and [`Producer::send_with_callback`]: the per-record
//! work on the caller's task, from the record to its place in a batch:
//! interceptors, metadata look-up (waiting up to `max.block.ms` for an
//! unknown topic), partitioning, the size checks, memory reservation and
//! the append into the partition's open batch.
//!
//! The common case of `send` costs one look-up: a per-topic cache, rebuilt
//! whenever the cluster metadata changes, holds the topic's partitions,
//! their queues and the built-in sticky partitioner's state. One wall-clock
//! read per record gives its default timestamp.

use std::sync::Arc;

use ferrokafka_client::metadata::TopicInfo;
use ferrokafka_client::{ClusterMetadata, RetryAction, classify};
use ferrokafka_protocol::records::RECORD_BATCH_OVERHEAD;
use tokio::time::Instant;

use super::Producer;
use crate::accumulator::{Memory, PartitionEntry};
use crate::delivery::{Completion, DeliveryFuture, Reply};
use crate::error::{Error, Result};
use crate::partitioner::{TopicSticky, partition_for_key};
use crate::record::{ProducerRecord, RecordMetadata};
/// The most bytes a record adds to a batch besides its key, value and
/// header bytes: length, attributes, deltas and the length prefixes.
const RECORD_OVERHEAD_BOUND: usize = 21;
/// The most bytes a header adds besides its key and value.
const HEADER_OVERHEAD_BOUND: usize = 10;

/// What `send` needs of one topic, built from one metadata snapshot so
/// that the common case costs one look-up: the partitions, their queues
/// and the built-in partitioner's sticky state.
#[derive(Debug)]
pub(super) struct TopicCache {
    /// The snapshot this was built from; a newer one rebuilds it.
    metadata: Arc<ClusterMetadata>,
    /// The client's metadata generation read before that snapshot: `send`
    /// compares it (one atomic load) instead of the snapshot itself.
    generation: u64,
    /// The topic's partitions in that snapshot (at least one).
    info: TopicInfo,
    /// Partition queues by partition number; `None` where the metadata
    /// lists no such partition.
    entries: Vec<Option<Arc<PartitionEntry>>>,
    /// The built-in partitioner's state for unkeyed records (read without
    /// a lock; locked only to switch partitions).
    sticky: TopicSticky,
}

impl TopicCache {
    /// The queue of `partition`, if the metadata lists it.
    fn entry(&self, partition: i32) -> Option<&Arc<PartitionEntry>> {
        usize::try_from(partition)
            .ok()
            .and_then(|i| self.entries.get(i))
            .and_then(Option::as_ref)
    }
}

/// An upper bound of the bytes a record takes in a batch of its own (Java's
/// `estimateSizeInBytesUpperBound`), used for `max.request.size` and
/// `buffer.memory`.
fn estimate_size(record: &ProducerRecord) -> usize {
    let headers = record.headers.iter().fold(0usize, |sum, h| {
        sum.saturating_add(h.key.len())
            .saturating_add(h.value.as_ref().map_or(0, |v| v.len()))
            .saturating_add(HEADER_OVERHEAD_BOUND)
    });
    RECORD_BATCH_OVERHEAD
        .saturating_add(RECORD_OVERHEAD_BOUND)
        .saturating_add(record.key.as_ref().map_or(0, |k| k.len()))
        .saturating_add(record.value.as_ref().map_or(0, |v| v.len()))
        .saturating_add(headers)
}

impl Producer {
    /// Accepts a record into the buffer and returns the future of its
    /// delivery. Returns once the record is appended to its partition's
    /// batch, which may wait (up to `max.block.ms`, without blocking the
    /// thread) for the topic's metadata or for room in `buffer.memory`.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        // `send_inner` by hand for the common case: the record is moved
        // into one future rather than into a future inside a future.
        let appended = if self.inner.interceptors.is_empty() {
            match self.send_now(&record, Reply::Future)? {
                Ok(appended) => appended,
                Err((reply, size)) => {
                    Box::pin(self.send_after_waiting(record, reply, size)).await?
                }
            }
        } else {
            Box::pin(self.send_intercepted(record, Reply::Future)).await?
        };
        // `append` always makes the future a `Reply::Future` asks for.
        appended.ok_or(Error::Closed(None))
    }

    /// Like [`Producer::send`], reporting the delivery to `callback`
    /// instead (run on the producer's sender thread: keep it short). If this
    /// returns an error the callback is not called.
    pub async fn send_with_callback<F>(&self, record: ProducerRecord, callback: F) -> Result<()>
    where
        F: FnOnce(Result<RecordMetadata>) + Send + 'static,
    {
        self.send_inner(
            record,
            Reply::Callback(Completion::callback(Box::new(callback))),
        )
        .await
        .map(|_| ())
    }

    /// The per-record work. The common case (topic known, room in
    /// `buffer.memory`) runs without awaiting; the waits live in boxed
    /// futures of their own, so this future stays small: callers move it
    /// into their own state for every record.
    async fn send_inner(
        &self,
        record: ProducerRecord,
        reply: Reply,
    ) -> Result<Option<DeliveryFuture>> {
        if !self.inner.interceptors.is_empty() {
            return Box::pin(self.send_intercepted(record, reply)).await;
        }
        match self.send_now(&record, reply)? {
            Ok(appended) => Ok(appended),
            Err((reply, size)) => Box::pin(self.send_after_waiting(record, reply, size)).await,
        }
    }

    /// `send` with interceptors: theirs is the record sent, and they hear
    /// of a record `send` refuses.
    async fn send_intercepted(
        &self,
        record: ProducerRecord,
        reply: Reply,
    ) -> Result<Option<DeliveryFuture>> {
        let interceptors = &self.inner.interceptors;
        let record = interceptors.on_send(record);
        let (topic, partition) = (record.topic.clone(), record.partition.unwrap_or(-1));
        let sent = match self.send_now(&record, reply) {
            Ok(Ok(appended)) => Ok(appended),
            Ok(Err((reply, size))) => self.send_after_waiting(record, reply, size).await,
            Err(error) => Err(error),
        };
        if let Err(error) = &sent {
            interceptors.on_acknowledgement(&topic, partition, &Err(error.clone()));
        }
        sent
    }

    /// What `send` does without awaiting: admits the record and appends it
    /// if nothing needs waiting for, or hands the reply back (with the
    /// record's size bound) for [`Producer::send_after_waiting`].
    #[allow(clippy::type_complexity)]
    fn send_now(
        &self,
        record: &ProducerRecord,
        reply: Reply,
    ) -> Result<std::result::Result<Option<DeliveryFuture>, (Reply, usize)>> {
        let size = self.admit(record)?;
        Ok(self
            .try_append_now(record, size, reply)?
            .map_err(|reply| (reply, size)))
    }

    /// The common case of `send`: the topic (and the explicit partition,
    /// if any) is known and `buffer.memory` has room now. Gives the reply
    /// back when the record has to wait for either.
    fn try_append_now(
        &self,
        record: &ProducerRecord,
        size: usize,
        reply: Reply,
    ) -> Result<std::result::Result<Option<DeliveryFuture>, Reply>> {
        let inner = &*self.inner;
        let generation = inner.client.metadata_generation();
        // The common case runs under the map's read lock: no reference
        // count to bump on a cache line other threads share.
        if let Ok(topics) = inner.topics.read() {
            if let Some(cache) = topics
                .get(record.topic.as_str())
                .filter(|c| c.generation == generation)
            {
                return self.append_if_room(cache, record, size, reply);
            }
        }
        let metadata = inner.client.metadata();
        match self.topic_cache(generation, &metadata, &record.topic) {
            Some(cache) => self.append_if_room(&cache, record, size, reply),
            None => Ok(Err(reply)),
        }
    }

    /// Appends the record if its partition is known and `buffer.memory`
    /// has room now; gives the reply back otherwise.
    fn append_if_room(
        &self,
        cache: &TopicCache,
        record: &ProducerRecord,
        size: usize,
        reply: Reply,
    ) -> Result<std::result::Result<Option<DeliveryFuture>, Reply>> {
        if record.partition.is_some_and(|p| cache.entry(p).is_none()) {
            return Ok(Err(reply));
        }
        // A custom partitioner is asked once per record: its memory is
        // reserved before it chooses, not taken by the batch it chose
        // (which might have none and send the record down the waiting
        // path, to be partitioned again).
        let memory = if self.inner.partitioner.is_some() && record.partition.is_none() {
            if !self.inner.acc.try_reserve(size)? {
                return Ok(Err(reply));
            }
            Memory::Reserved(size)
        } else {
            Memory::Take(size)
        };
        self.append(cache, record, memory, reply)
    }

    /// The rest of `send` for a record whose topic (or partition) the
    /// metadata does not know yet, or that finds no room in
    /// `buffer.memory`: waits for the metadata, then for memory, both
    /// within one `max.block.ms`.
    async fn send_after_waiting(
        &self,
        record: ProducerRecord,
        reply: Reply,
        size: usize,
    ) -> Result<Option<DeliveryFuture>> {
        let inner = &*self.inner;
        let deadline = Instant::now() + inner.config.max_block;
        let current = inner.client.metadata();
        let metadata = if Self::knows(&current, &record) {
            // Only memory was short.
            current
        } else {
            self.wait_for_metadata(&record, deadline).await?
        };
        inner
            .acc
            .reserve(size, move || {
                deadline.saturating_duration_since(Instant::now())
            })
            .await?;
        // The metadata may have changed while this waited for memory; the
        // snapshot it waited for lists the topic either way.
        let generation = inner.client.metadata_generation();
        let current = inner.client.metadata();
        let cache = match self.topic_cache(generation, &current, &record.topic) {
            Some(cache) => Some(cache),
            // An older snapshot: labelled so that `send`'s fast path never
            // takes it for the current one.
            None => self.topic_cache(u64::MAX, &metadata, &record.topic),
        };
        let Some(cache) = cache else {
            inner.acc.release(size);
            return Err(Error::Closed(None));
        };
        match self.append(&cache, &record, Memory::Reserved(size), reply)? {
            Ok(appended) => Ok(appended),
            // Only memory still to be taken gives the reply back; this
            // record's is reserved.
            Err(_) => Err(Error::Closed(Some(
                "no buffer.memory for a reserved record".into(),
            ))),
        }
    }

    /// The topic's cache for `metadata`, built (or rebuilt after a
    /// metadata change) when needed; `None` if `metadata` lists no
    /// partitions of the topic.
    fn topic_cache(
        &self,
        generation: u64,
        metadata: &Arc<ClusterMetadata>,
        topic: &str,
    ) -> Option<Arc<TopicCache>> {
        let inner = &*self.inner;
        let previous = match inner.topics.read() {
            Ok(topics) => match topics.get(topic) {
                Some(cache)
                    if Arc::ptr_eq(&cache.metadata, metadata) && cache.generation == generation =>
                {
                    return Some(cache.clone());
                }
                other => other.cloned(),
            },
            Err(_) => None,
        };
        let info = metadata.topic(topic).filter(|t| !t.partitions.is_empty())?;
        let mut entries: Vec<Option<Arc<PartitionEntry>>> = Vec::new();
        for p in &info.partitions {
            let Ok(index) = usize::try_from(p.partition) else {
                continue;
            };
            if entries.len() <= index {
                entries.resize(index.saturating_add(1), None);
            }
            if let Some(slot) = entries.get_mut(index) {
                *slot = Some(inner.acc.entry(topic, p.partition));
            }
        }
        // The sticky partition carries over (it is checked against the new
        // partitions when next used).
        let sticky = previous
            .map(|old| old.sticky.carried_over())
            .unwrap_or_else(TopicSticky::new);
        let name = entries
            .iter()
            .flatten()
            .next()
            .map_or_else(|| Arc::from(topic), |e| e.topic.clone());
        let cache = Arc::new(TopicCache {
            metadata: metadata.clone(),
            generation,
            info: info.clone(),
            entries,
            sticky,
        });
        // Whoever built last wins; a cache of older metadata is rebuilt on
        // its next use.
        if let Ok(mut topics) = inner.topics.write() {
            topics.insert(name, cache.clone());
        }
        Some(cache)
    }

    /// Whether the producer takes records now, and the record's size bound
    /// if it is not too large.
    fn admit(&self, record: &ProducerRecord) -> Result<usize> {
        let inner = &*self.inner;
        if let Some(fatal) = inner.shared.fatal() {
            return Err(fatal);
        }
        if inner.acc.is_closing() {
            return Err(Error::Closed(None));
        }
        if let Some(txn) = &inner.txn {
            txn.check_send()?;
        }
        let size = estimate_size(record);
        if size > inner.config.max_request_size {
            return Err(Error::RecordTooLarge {
                size,
                max: inner.config.max_request_size,
                setting: "max.request.size",
            });
        }
        Ok(size)
    }

    /// Picks the record's partition (its explicit one, the custom
    /// partitioner's choice, murmur2 of its key, or the sticky one) and
    /// appends it there, with its `memory` (see
    /// [`RecordAccumulator::append`]): memory reserved is given back if
    /// this fails; the reply comes back if memory was to be taken and
    /// none is free.
    fn append(
        &self,
        cache: &TopicCache,
        record: &ProducerRecord,
        memory: Memory,
        reply: Reply,
    ) -> Result<std::result::Result<Option<DeliveryFuture>, Reply>> {
        let inner = &*self.inner;
        let acc = &*inner.acc;
        // One clock read per record, and only when it has no timestamp.
        let timestamp = record.timestamp.unwrap_or_else(|| inner.clock.now_millis());
        let key = record.key.as_deref();
        let value = record.value.as_deref();
        let invalid = |partition: i32| Error::InvalidPartition {
            topic: record.topic.to_string(),
            partition,
            count: cache.info.partitions.len(),
        };
        let to = |partition: i32, reply: Reply| match cache.entry(partition) {
            Some(entry) => acc
                .append(entry, timestamp, key, value, &record.headers, reply, memory)
                .map(|appended| {
                    appended.map(|a| {
                        self.note_partition(entry);
                        a.future
                    })
                }),
            None => Err(invalid(partition)),
        };
        let appended = match (record.partition, &inner.partitioner, key) {
            (Some(partition), _, _) => to(partition, reply),
            // The record's own bytes, without the batch header the size
            // bound counts for a batch of one: the sticky partitioner adds
            // these up to `batch.size`, so they should be what the batch
            // holds.
            (None, Some(custom), _) => to(
                custom.partition(
                    &record.topic,
                    key,
                    value,
                    memory.bytes().saturating_sub(RECORD_BATCH_OVERHEAD),
                    &cache.info,
                ),
                reply,
            ),
            (None, None, Some(key)) if !inner.config.partitioner_ignore_keys => {
                to(partition_for_key(key, cache.info.partitions.len()), reply)
            }
            (None, None, _) => {
                let sticky = &cache.sticky;
                let partition = sticky.partition(&cache.info, |p| cache.entry(p).is_some());
                match cache.entry(partition) {
                    Some(entry) => acc
                        .append(entry, timestamp, key, value, &record.headers, reply, memory)
                        .map(|appended| {
                            appended.map(|a| {
                                self.note_partition(entry);
                                sticky.appended(
                                    partition,
                                    a.bytes,
                                    a.appended_total,
                                    a.batch_full,
                                    inner.config.batch_size,
                                    &cache.info,
                                );
                                a.future
                            })
                        }),
                    None => Err(invalid(partition)),
                }
            }
        };
        if let (Err(_), Memory::Reserved(bytes)) = (&appended, memory) {
            acc.release(bytes);
        }
        appended
    }

    /// A transactional producer adds the partition of a record just
    /// appended to the open transaction (through the sender) if it is not
    /// in it yet.
    fn note_partition(&self, entry: &Arc<PartitionEntry>) {
        if let Some(txn) = &self.inner.txn {
            if txn.record_appended(entry) {
                self.inner.acc.wakeup.notify_one();
            }
        }
    }

    /// Whether `metadata` knows the record's topic (and its explicit
    /// partition, if any).
    fn knows(metadata: &ClusterMetadata, record: &ProducerRecord) -> bool {
        metadata
            .topic(&record.topic)
            .is_some_and(|t| Self::knows_topic(t, record))
    }

    /// Whether the topic's metadata lists partitions (and the record's
    /// explicit partition, if any).
    fn knows_topic(topic: &TopicInfo, record: &ProducerRecord) -> bool {
        !topic.partitions.is_empty()
            && record
                .partition
                .is_none_or(|p| topic.partitions.iter().any(|info| info.partition == p))
    }

    /// Metadata that knows the record's topic, waiting for it (and
    /// refreshing) up to `deadline`.
    async fn wait_for_metadata(
        &self,
        record: &ProducerRecord,
        deadline: Instant,
    ) -> Result<Arc<ClusterMetadata>> {
        let client = &self.inner.client;
        let topic = record.topic.as_str();
        let known = |m: &ClusterMetadata| Self::knows(m, record);
        let mut refreshed_once = false;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let attempt = if refreshed_once {
                client.refresh_metadata().await.map(|()| client.metadata())
            } else {
                client.metadata_for(&[topic]).await
            };
            refreshed_once = true;
            match attempt {
                Ok(metadata) if known(&metadata) => return Ok(metadata),
                // The topic exists but not the partition asked for.
                Ok(metadata)
                    if metadata
                        .topic(topic)
                        .is_some_and(|t| !t.partitions.is_empty()) =>
                {
                    let count = metadata.partition_count(topic).unwrap_or(0);
                    return Err(Error::InvalidPartition {
                        topic: topic.to_string(),
                        partition: record.partition.unwrap_or(-1),
                        count,
                    });
                }
                Ok(_) => {}
                Err(e) if classify(&e) == RetryAction::Fail => return Err(e.into()),
                Err(e) => tracing::debug!(error = %e, topic, "metadata not available yet"),
            }
            if remaining.is_zero() || Instant::now() >= deadline {
                return Err(Error::MaxBlockTimeout {
                    what: format!("topic {topic} not present in metadata"),
                    after: self.inner.config.max_block,
                });
            }
            let wait = self
                .inner
                .config
                .client
                .retry_backoff
                .min(deadline.saturating_duration_since(Instant::now()));
            tokio::time::sleep(wait).await;
        }
    }
}
