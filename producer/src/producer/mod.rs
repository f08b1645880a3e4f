//! [`Producer`]: the handle applications hold. It owns the cluster client
//! (unless given one), the accumulator and the sender; clones share them.
//! `send` does the per-record work on the caller's task: metadata lookup,
//! partitioning, memory reservation and the append into the open batch.
//! Everything after that is the sender's.
//!
//! The sender runs on a thread of its own (the Java client's
//! `kafka-producer-network-thread`), inside the caller's runtime context,
//! so its timers, and the sinks and connections it starts, belong to that
//! runtime. A thread rather than a task: a task woken from a worker thread
//! goes to that worker's LIFO slot, which no other worker may steal, so a
//! caller sending in a loop without yielding would keep the sender from
//! running until it yields (tokio#4941); waking a thread of its own is
//! never held up that way.
//!
//! This module holds the handle, its builder, start-up, the sender's thread,
//! `flush` and close; `send` has a module of its own (`send`), as do the
//! transactional calls (`transactional`).

mod send;
mod transactional;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ferrokafka_client::Client;
use tokio::sync::oneshot;

use crate::accumulator::{AccumulatorConfig, RecordAccumulator};
use crate::clock::RecordClock;
use crate::config::ProducerConfig;
use crate::error::{Error, Result};
use crate::fxhash::FxBuildHasher;
use crate::interceptor::{Interceptors, ProducerInterceptor};
use crate::metrics::ProducerMetrics;
use crate::partitioner::Partitioner;
use crate::sender::{Sender, SharedState};
use crate::transaction::TransactionManager;
use send::TopicCache;

struct Inner {
    client: Client,
    owns_client: bool,
    config: Arc<ProducerConfig>,
    acc: Arc<RecordAccumulator>,
    shared: Arc<SharedState>,
    /// A custom partitioner; `None` for the built-in one, whose sticky
    /// state lives in each [`TopicCache`].
    partitioner: Option<Arc<dyn Partitioner>>,
    /// What `send` needs of each topic, for the current metadata.
    topics: RwLock<HashMap<Arc<str>, Arc<TopicCache>, FxBuildHasher>>,
    /// Fires when the sender's thread is done (dropped if it dies).
    sender_done: Mutex<Option<oneshot::Receiver<()>>>,
    /// The transaction state, with `transactional.id` set.
    txn: Option<Arc<TransactionManager>>,
    /// Told of every record sent and of its outcome.
    interceptors: Interceptors,
    /// Stamps records sent without a timestamp.
    clock: RecordClock,
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

/// Builds a [`Producer`] with what configuration properties cannot carry
/// (from [`Producer::builder`]).
#[must_use]
pub struct ProducerBuilder {
    config: ProducerConfig,
    partitioner: Option<Arc<dyn Partitioner>>,
    interceptors: Vec<Arc<dyn ProducerInterceptor>>,
    client: Option<Client>,
}

impl std::fmt::Debug for ProducerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProducerBuilder")
            .field("config", &self.config)
            .field("partitioner", &self.partitioner)
            .field("interceptors", &self.interceptors.len())
            .field("shared_client", &self.client.is_some())
            .finish()
    }
}

impl ProducerBuilder {
    /// Chooses the partition of records sent without one.
    pub fn partitioner(mut self, partitioner: Arc<dyn Partitioner>) -> Self {
        self.partitioner = Some(partitioner);
        self
    }

    /// Adds an interceptor (Java's `interceptor.classes`); they run in the
    /// order added.
    pub fn interceptor(mut self, interceptor: Arc<dyn ProducerInterceptor>) -> Self {
        self.interceptors.push(interceptor);
        self
    }

    /// Runs on an existing cluster client instead of opening one (see
    /// [`Producer::with_client`]); `close` leaves it open.
    pub fn client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Validates the configuration, connects (unless given a client) and
    /// starts the producer.
    pub async fn connect(self) -> Result<Producer> {
        self.config.validate()?;
        let (client, owns_client) = match self.client {
            Some(client) => (client, false),
            None => (Client::connect(self.config.client.clone()).await?, true),
        };
        Producer::start(
            client,
            owns_client,
            self.config,
            self.partitioner,
            Interceptors::new(self.interceptors),
        )
    }
}

/// Starts the sender on a thread of its own, in `runtime`'s context (see
/// the module header), named after the client. The receiver fires when the
/// sender is done; its thread is not joined (close and drop never block).
fn spawn_sender_thread(
    runtime: tokio::runtime::Handle,
    sender: Sender,
    stopped: StoppedSender,
    client_id: &str,
) -> Result<oneshot::Receiver<()>> {
    let (done_tx, done_rx) = oneshot::channel();
    // Linux keeps 15 bytes of a thread's name.
    let name: String = format!("fk-prod-{client_id}").chars().take(15).collect();
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            // A panic here must not take the caller's runtime with it: the
            // records' futures and callbacks hear `Closed` as the sender's
            // state unwinds.
            let run = std::panic::AssertUnwindSafe(|| runtime.block_on(sender.run()));
            if std::panic::catch_unwind(run).is_err() {
                // Its runtime shut down under it, say: later sends must
                // fail at once rather than wait for a sender that is gone.
                tracing::error!("the producer's sender stopped on a panic");
                stopped.fail_everything();
            }
            let _ = done_tx.send(());
        })
        .map_err(|e| Error::Fatal(format!("could not start the producer's sender thread: {e}")))?;
    Ok(done_rx)
}

/// What a sender that stopped unexpectedly leaves behind to clean up.
struct StoppedSender {
    acc: Arc<RecordAccumulator>,
    shared: Arc<SharedState>,
}

impl StoppedSender {
    /// Makes the producer refuse new records and fails the queued ones
    /// (those in flight failed as the sender unwound).
    fn fail_everything(&self) {
        let error = Error::Fatal("the producer's sender stopped".into());
        self.shared.set_fatal(error.clone());
        self.acc.force_close();
        for batch in self.acc.take_all_queued() {
            self.acc.complete(batch, Err(error.clone()));
        }
    }
}

impl Producer {
    /// Connects to the cluster and starts the producer.
    pub async fn connect(config: ProducerConfig) -> Result<Producer> {
        Producer::builder(config).connect().await
    }

    /// Starts a producer on an existing cluster client (shared with other
    /// clients; `close` leaves it open). Connections follow the client's
    /// own settings; the producer still takes its request timeout, retry
    /// backoff and metadata age from `config.client`.
    pub async fn with_client(client: Client, config: ProducerConfig) -> Result<Producer> {
        Producer::builder(config).client(client).connect().await
    }

    /// Like [`Producer::connect`], with a custom partitioner for records
    /// sent without an explicit partition.
    pub async fn connect_with_partitioner(
        config: ProducerConfig,
        partitioner: Arc<dyn Partitioner>,
    ) -> Result<Producer> {
        Producer::builder(config)
            .partitioner(partitioner)
            .connect()
            .await
    }

    /// A builder for what configuration properties cannot carry: a custom
    /// partitioner, interceptors, a shared cluster client.
    pub fn builder(config: ProducerConfig) -> ProducerBuilder {
        ProducerBuilder {
            config,
            partitioner: None,
            interceptors: Vec::new(),
            client: None,
        }
    }

    fn start(
        client: Client,
        owns_client: bool,
        config: ProducerConfig,
        partitioner: Option<Arc<dyn Partitioner>>,
        interceptors: Interceptors,
    ) -> Result<Producer> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::config("the producer needs a tokio runtime"))?;
        let config = Arc::new(config);
        let mut acc = RecordAccumulator::new(AccumulatorConfig {
            batch_size: config.batch_size,
            linger: config.linger,
            delivery_timeout: config.delivery_timeout,
            compression: config.compression_type,
            buffer_memory: config.buffer_memory,
            max_request_size: config.max_request_size,
            transactional: config.transactional_id.is_some(),
        });
        acc.interceptors = interceptors.clone();
        let acc = Arc::new(acc);
        let txn = config
            .transactional_id
            .clone()
            .map(|id| Arc::new(TransactionManager::new(id, config.transaction_timeout)));
        let shared = Arc::new(SharedState::default());
        let sender = Sender::new(
            client.clone(),
            config.clone(),
            acc.clone(),
            shared.clone(),
            txn.clone(),
        );
        let stopped = StoppedSender {
            acc: acc.clone(),
            shared: shared.clone(),
        };
        let sender_done = spawn_sender_thread(runtime, sender, stopped, &config.client.client_id)?;
        Ok(Producer {
            inner: Arc::new(Inner {
                client,
                owns_client,
                config,
                acc,
                shared,
                partitioner,
                topics: RwLock::new(HashMap::default()),
                sender_done: Mutex::new(Some(sender_done)),
                txn,
                interceptors,
                clock: RecordClock::new(),
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

    /// Bytes of `buffer.memory` not held right now by batches (an open
    /// batch holds `batch.size` when that much was free as it opened).
    pub fn buffer_available_bytes(&self) -> usize {
        self.inner.acc.available_memory()
    }

    /// A snapshot of the producer's metrics (Java's `metrics()`, the
    /// `producer-metrics` group): records delivered, failed and retried,
    /// batches and requests, request latency, buffer use and bytes on the
    /// wire, as totals since the producer started.
    pub fn metrics(&self) -> ProducerMetrics {
        let inner = &*self.inner;
        inner.shared.counters.snapshot(
            inner.config.buffer_memory,
            inner.acc.available_memory(),
            inner.client.metrics(),
        )
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
        let done = inner.sender_done.lock().ok().and_then(|mut h| h.take());
        if let Some(mut done) = done {
            // Either answer (done, or the thread gone) means it stopped.
            if tokio::time::timeout(timeout, &mut done).await.is_err() {
                tracing::warn!(
                    timeout_ms = timeout.as_millis() as u64,
                    "close timed out; failing the records not yet delivered"
                );
                inner.acc.force_close();
                let _ = done.await;
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
