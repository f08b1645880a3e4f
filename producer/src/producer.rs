//! [`Producer`]: the handle applications hold. It owns the cluster client
//! (unless given one), the accumulator and the sender task; clones share
//! them. `send` does the per-record work on the caller's task: metadata
//! lookup, partitioning, memory reservation and the append into the open
//! batch. Everything after that is the sender's.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrokafka_client::metadata::TopicInfo;
use ferrokafka_client::{Client, ClusterMetadata, RetryAction, classify};
use ferrokafka_protocol::records::RECORD_BATCH_OVERHEAD;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::accumulator::{AccumulatorConfig, RecordAccumulator};
use crate::config::ProducerConfig;
use crate::error::{Error, Result};
use crate::partitioner::{DefaultPartitioner, Partitioner};
use crate::record::{Completion, DeliveryFuture, ProducerRecord, RecordMetadata, Reply};
use crate::sender::{Sender, SharedState};

/// The most bytes a record adds to a batch besides its key, value and
/// header bytes: length, attributes, deltas and the length prefixes.
const RECORD_OVERHEAD_BOUND: usize = 21;
/// The most bytes a header adds besides its key and value.
const HEADER_OVERHEAD_BOUND: usize = 10;

struct Inner {
    client: Client,
    owns_client: bool,
    config: Arc<ProducerConfig>,
    acc: Arc<RecordAccumulator>,
    shared: Arc<SharedState>,
    partitioner: Arc<dyn Partitioner>,
    sender: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Dropped without close: stop now. The sender fails what is pending
        // and exits on its own; nothing here waits.
        self.acc.force_close();
        if self.owns_client {
            self.client.close();
        }
    }
}

/// A Kafka producer: batches records per partition and delivers them in the
/// background. Clones share one producer.
///
/// ```no_run
/// # async fn example() -> ferrokafka_producer::Result<()> {
/// use ferrokafka_producer::{Producer, ProducerConfig, ProducerRecord};
///
/// let config = ProducerConfig::builder()
///     .bootstrap_servers(["localhost:9092"])
///     .build()?;
/// let producer = Producer::connect(config).await?;
/// let delivery = producer
///     .send(ProducerRecord::new("greetings").key("k").value("hello"))
///     .await?;
/// let metadata = delivery.await?;
/// println!("at {}-{}@{}", metadata.topic, metadata.partition, metadata.offset);
/// producer.close(std::time::Duration::from_secs(5)).await;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("client", &self.inner.client)
            .field("idempotent", &self.inner.config.idempotence_enabled())
            .finish()
    }
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
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
    /// Connects to the cluster and starts the producer.
    pub async fn connect(config: ProducerConfig) -> Result<Producer> {
        config.validate()?;
        let client = Client::connect(config.client.clone()).await?;
        Self::start(client, true, config, None)
    }

    /// Starts a producer on an existing cluster client (shared with other
    /// clients; `close` leaves it open). Connections follow the client's
    /// own settings; the producer still takes its request timeout, retry
    /// backoff and metadata age from `config.client`.
    pub async fn with_client(client: Client, config: ProducerConfig) -> Result<Producer> {
        config.validate()?;
        Self::start(client, false, config, None)
    }

    /// Like [`Producer::connect`], with a custom partitioner for records
    /// sent without an explicit partition.
    pub async fn connect_with_partitioner(
        config: ProducerConfig,
        partitioner: Arc<dyn Partitioner>,
    ) -> Result<Producer> {
        config.validate()?;
        let client = Client::connect(config.client.clone()).await?;
        Self::start(client, true, config, Some(partitioner))
    }

    fn start(
        client: Client,
        owns_client: bool,
        config: ProducerConfig,
        partitioner: Option<Arc<dyn Partitioner>>,
    ) -> Result<Producer> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::config("the producer needs a tokio runtime"))?;
        let config = Arc::new(config);
        let acc = Arc::new(RecordAccumulator::new(AccumulatorConfig {
            batch_size: config.batch_size,
            linger: config.linger,
            delivery_timeout: config.delivery_timeout,
            compression: config.compression_type,
            buffer_memory: config.buffer_memory,
            max_request_size: config.max_request_size,
        }));
        let shared = Arc::new(SharedState::default());
        let sender = Sender::new(client.clone(), config.clone(), acc.clone(), shared.clone());
        let handle = runtime.spawn(sender.run());
        let partitioner = partitioner.unwrap_or_else(|| {
            Arc::new(DefaultPartitioner::new(
                config.batch_size,
                config.partitioner_ignore_keys,
            ))
        });
        Ok(Producer {
            inner: Arc::new(Inner {
                client,
                owns_client,
                config,
                acc,
                shared,
                partitioner,
                sender: Mutex::new(Some(handle)),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ProducerConfig {
        &self.inner.config
    }

    /// The cluster client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Bytes of `buffer.memory` not held by pending records right now.
    pub fn buffer_available_bytes(&self) -> usize {
        self.inner.acc.available_memory()
    }

    /// Accepts a record into the buffer and returns the future of its
    /// delivery. Returns once the record is appended to its partition's
    /// batch, which may wait (up to `max.block.ms`, without blocking the
    /// thread) for the topic's metadata or for room in `buffer.memory`.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        match self.send_inner(record, Reply::Future).await? {
            Some(future) => Ok(future),
            // `append` always makes the future a `Reply::Future` asks for.
            None => Err(Error::Closed(None)),
        }
    }

    /// Like [`Producer::send`], reporting the delivery to `callback`
    /// instead (run on the producer's sender task: keep it short). If this
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
        let inner = &*self.inner;
        let size = self.admit(&record)?;
        // One look-up of the topic in the current metadata answers both
        // "is it known" and "what are its partitions".
        let partition = {
            let current = inner.client.metadata();
            match current
                .topic(&record.topic)
                .filter(|t| Self::knows_topic(t, &record))
            {
                Some(topic_info) => Some(self.choose_partition(&record, topic_info, size)?),
                None => None,
            }
        };
        let Some(partition) = partition else {
            return Box::pin(self.send_after_metadata(record, reply, size)).await;
        };
        if !inner.acc.try_reserve(size)? {
            let max_block = inner.config.max_block;
            Box::pin(inner.acc.reserve(size, move || max_block)).await?;
        }
        self.append(record, partition, size, reply)
    }

    /// The rest of `send` for a record whose topic (or partition) the
    /// metadata does not know yet: waits for it, then for memory, both
    /// within one `max.block.ms`.
    async fn send_after_metadata(
        &self,
        record: ProducerRecord,
        reply: Reply,
        size: usize,
    ) -> Result<Option<DeliveryFuture>> {
        let inner = &*self.inner;
        let deadline = Instant::now() + inner.config.max_block;
        let metadata = self.wait_for_metadata(&record, deadline).await?;
        // It returns metadata that lists the topic.
        let topic_info = metadata.topic(&record.topic).ok_or(Error::Closed(None))?;
        let partition = self.choose_partition(&record, topic_info, size)?;
        inner
            .acc
            .reserve(size, move || {
                deadline.saturating_duration_since(Instant::now())
            })
            .await?;
        self.append(record, partition, size, reply)
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

    /// The record's partition: its explicit one or the partitioner's
    /// choice, checked against the topic's metadata.
    fn choose_partition(
        &self,
        record: &ProducerRecord,
        topic_info: &TopicInfo,
        size: usize,
    ) -> Result<i32> {
        let partition = match record.partition {
            Some(partition) => partition,
            // The record's own bytes, without the batch header `size`
            // counts for a batch of one: the sticky partitioner adds these
            // up to `batch.size`, so they should be what the batch holds.
            None => self.inner.partitioner.partition(
                &record.topic,
                record.key.as_deref(),
                record.value.as_deref(),
                size.saturating_sub(RECORD_BATCH_OVERHEAD),
                topic_info,
            ),
        };
        // Partitions are sorted by index, so the direct look-up nearly
        // always answers; the scan covers gaps in odd metadata.
        let exists = usize::try_from(partition)
            .ok()
            .and_then(|i| topic_info.partitions.get(i))
            .is_some_and(|p| p.partition == partition)
            || topic_info
                .partitions
                .iter()
                .any(|p| p.partition == partition);
        if !exists {
            return Err(Error::InvalidPartition {
                topic: record.topic.clone(),
                partition,
                count: topic_info.partitions.len(),
            });
        }
        Ok(partition)
    }

    /// Appends a record whose `size` bytes of memory are reserved; gives
    /// them back if that fails.
    fn append(
        &self,
        record: ProducerRecord,
        partition: i32,
        size: usize,
        reply: Reply,
    ) -> Result<Option<DeliveryFuture>> {
        let acc = &*self.inner.acc;
        let timestamp = record.timestamp.unwrap_or_else(now_millis);
        let appended = acc.with_entry(&record.topic, partition, |entry| {
            acc.append(
                entry,
                timestamp,
                record.key.as_deref(),
                record.value.as_deref(),
                &record.headers,
                reply,
                size,
            )
        });
        if appended.is_err() {
            acc.release(size);
        }
        appended
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

    /// Sends every record accepted so far at once (ignoring `linger.ms`)
    /// and waits until each is delivered or failed.
    pub async fn flush(&self) {
        struct EndFlush<'a>(&'a RecordAccumulator);
        impl Drop for EndFlush<'_> {
            fn drop(&mut self) {
                self.0.end_flush();
            }
        }
        let acc = &*self.inner.acc;
        let last = acc.begin_flush();
        let _end = EndFlush(acc);
        acc.await_completion(last).await;
    }

    /// Refuses new records, delivers the pending ones for up to `timeout`,
    /// then fails whatever is left, and stops the background task (and
    /// closes the cluster client if the producer opened it). Later sends
    /// fail with [`Error::Closed`].
    pub async fn close(&self, timeout: Duration) {
        let inner = &*self.inner;
        inner.acc.begin_close();
        let handle = inner.sender.lock().ok().and_then(|mut h| h.take());
        if let Some(mut handle) = handle {
            if tokio::time::timeout(timeout, &mut handle).await.is_err() {
                tracing::warn!(
                    timeout_ms = timeout.as_millis() as u64,
                    "close timed out; failing the records not yet delivered"
                );
                inner.acc.force_close();
                let _ = handle.await;
            }
        } else {
            // Another close got the task; wait for what it waits for.
            inner.acc.await_completion(Some(u64::MAX)).await;
        }
        if inner.owns_client {
            inner.client.close();
        }
    }
}
