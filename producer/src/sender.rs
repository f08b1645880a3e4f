//! The [`Sender`]: the producer's one background loop, on a thread of its
//! own (the Java client's `Sender` thread), and the per-broker sink tasks it
//! feeds (franz-go's sinks).
//!
//! Each turn of its loop it drains ready batches from the
//! [`RecordAccumulator`], packs each broker's into one Produce request and
//! hands it to that broker's sink, as long as the broker has fewer than
//! `max.in.flight.requests.per.connection` requests in flight. A sink queues
//! its requests on the broker connection in the order it got them (the
//! broker checks idempotent sequences in arrival order), keeps them on one
//! connection while any is pending (see `run_sink`), and reports each
//! response back. A NOT_LEADER_OR_FOLLOWER answer that names the new leader
//! (KIP-951) moves its partition there at once. The sender alone then decides every batch's fate:
//! delivered, retried (back in its partition's queue in sequence order,
//! after a backoff, with a metadata refresh when the leader may have moved),
//! split (MESSAGE_TOO_LARGE), or failed with a typed error.
//!
//! Idempotence: the sender gets the producer id from InitProducerId before
//! anything is drained, and bumps the epoch (KIP-360) once nothing is in
//! flight whenever a partition's sequence has a gap, renumbering the batches
//! waiting for a retry. Fencing is fatal.
//!
//! The sinks are owned by the sender and stop with it; the sender is owned by
//! the [`Producer`](crate::Producer), runs on a thread of its own in the
//! producer's runtime context, and stops on close or drop.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokafka_client::backoff::{ExponentialBackoff, XorShift};
use ferrokafka_client::connection::BrokerConnection;
use ferrokafka_client::metadata::{BrokerInfo, LeaderHint};
use ferrokafka_client::{Client, RetryAction, Target, classify, classify_code};
use ferrokafka_protocol::generated::produce_request::{PartitionProduceData, TopicProduceData};
use ferrokafka_protocol::generated::{InitProducerIdRequest, ProduceRequest, ProduceResponse};
use ferrokafka_protocol::{ApiKey, ErrorCode};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::accumulator::{DrainOptions, ProducerBatch, RecordAccumulator};
use crate::config::{Acks, ProducerConfig};
use crate::error::{Error, Result};
use crate::idempotence::{ProducerIdAndEpoch, SequenceVerdict, classify_sequence_error};
use crate::metrics::SenderCounters;
use crate::transaction::{AddOutcome, TransactionManager};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// State the producer handle and its sender share.
#[derive(Debug, Default)]
pub(crate) struct SharedState {
    /// Set once `fatal` holds an error: every `send` checks it, and an
    /// atomic load is cheaper than the lock.
    is_fatal: AtomicBool,
    fatal: Mutex<Option<Error>>,
    /// The metrics the sender keeps and `Producer::metrics` reads.
    pub(crate) counters: SenderCounters,
}

impl SharedState {
    /// The fatal error, if the producer hit one.
    pub(crate) fn fatal(&self) -> Option<Error> {
        if !self.is_fatal.load(Ordering::Acquire) {
            return None;
        }
        self.fatal.lock().ok().and_then(|f| f.clone())
    }

    pub(crate) fn set_fatal(&self, error: Error) {
        if let Ok(mut fatal) = self.fatal.lock() {
            fatal.get_or_insert(error);
        }
        self.is_fatal.store(true, Ordering::Release);
    }
}

/// A Produce request on its way to a sink.
struct SinkRequest {
    id: u64,
    request: ProduceRequest,
    /// How many of this sink's requests the sender had seen fail without
    /// an answer when it made this one (see `run_sink`).
    failures_seen: u64,
}

/// What came back for one request: the response (`None` with acks=0), or
/// why there is none.
struct RequestOutcome {
    id: u64,
    result: std::result::Result<Option<ProduceResponse>, ferrokafka_client::Error>,
}

/// A broker's sink task and its queue.
struct Sink {
    requests: mpsc::UnboundedSender<SinkRequest>,
    task: JoinHandle<()>,
    /// Its requests that failed without an answer, as far as the sender
    /// has handled their outcomes.
    failures_seen: u64,
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The batches of one request in flight.
struct InFlight {
    node: i32,
    batches: Vec<ProducerBatch>,
    /// When it was handed to the sink (request latency).
    sent_at: Instant,
}

/// Why a batch's send failed.
#[derive(Debug, Clone)]
enum SendFailure {
    /// The request got no usable response.
    Client(ferrokafka_client::Error),
    /// The broker answered with an error code for the partition.
    Code(ErrorCode, Option<String>),
}

/// Events the sender loop waits for.
enum Event {
    Wake,
    Outcome(Option<RequestOutcome>),
    Init(Result<ProducerIdAndEpoch>),
    Refreshed,
    Added(AddOutcome),
}

/// The producer's background task.
pub(crate) struct Sender {
    client: Client,
    config: Arc<ProducerConfig>,
    acc: Arc<RecordAccumulator>,
    shared: Arc<SharedState>,
    idempotent: bool,
    producer: Option<ProducerIdAndEpoch>,
    init: Option<BoxFuture<Result<ProducerIdAndEpoch>>>,
    init_failures: u32,
    init_not_before: Option<Instant>,
    epoch_bump_pending: bool,
    sinks: HashMap<i32, Sink>,
    outcomes_tx: mpsc::UnboundedSender<RequestOutcome>,
    outcomes_rx: mpsc::UnboundedReceiver<RequestOutcome>,
    in_flight: HashMap<u64, InFlight>,
    node_in_flight: HashMap<i32, usize>,
    next_request_id: u64,
    refresh: Option<BoxFuture<()>>,
    refresh_wanted: bool,
    refresh_not_before: Option<Instant>,
    backoff: ExponentialBackoff,
    rng: XorShift,
    /// The transaction state of a transactional producer.
    txn: Option<Arc<TransactionManager>>,
    /// The AddPartitionsToTxn in flight.
    adding: Option<BoxFuture<AddOutcome>>,
    /// Partitions whose new leader the response being handled named
    /// (KIP-951); empty between responses.
    fresh_leaders: Vec<(String, i32)>,
}

async fn poll_option<T>(future: &mut Option<BoxFuture<T>>) -> T {
    match future {
        Some(future) => future.await,
        None => std::future::pending().await,
    }
}

impl Sender {
    /// A sender for `acc`'s batches; [`Sender::run`] is its task.
    pub(crate) fn new(
        client: Client,
        config: Arc<ProducerConfig>,
        acc: Arc<RecordAccumulator>,
        shared: Arc<SharedState>,
        txn: Option<Arc<TransactionManager>>,
    ) -> Self {
        let (outcomes_tx, outcomes_rx) = mpsc::unbounded_channel();
        let backoff =
            ExponentialBackoff::new(config.client.retry_backoff, config.client.retry_backoff_max);
        Sender {
            idempotent: config.idempotence_enabled(),
            client,
            config,
            acc,
            shared,
            producer: None,
            init: None,
            init_failures: 0,
            init_not_before: None,
            epoch_bump_pending: false,
            sinks: HashMap::new(),
            outcomes_tx,
            outcomes_rx,
            in_flight: HashMap::new(),
            node_in_flight: HashMap::new(),
            next_request_id: 0,
            refresh: None,
            refresh_wanted: false,
            refresh_not_before: None,
            backoff,
            rng: XorShift::from_entropy(),
            txn,
            adding: None,
            fresh_leaders: Vec::new(),
        }
    }

    /// Runs until the producer is closed and everything is delivered or
    /// failed, or until a forced close.
    pub(crate) async fn run(mut self) {
        loop {
            self.acc.set_sender_idle(false);
            if self.acc.is_forced() {
                self.fail_everything(Error::Closed(Some(
                    "closed before the record was delivered".into(),
                )));
                return;
            }
            if let Some(fatal) = self.shared.fatal() {
                for batch in self.acc.take_all_queued() {
                    self.complete(batch, Err(fatal.clone()));
                }
            }
            let now = Instant::now();
            self.maybe_init_producer_id(now);
            self.run_transaction_steps();
            let mut next_wakeup = self.send_ready(now);
            if self.acc.is_closing() && self.acc.is_empty() && self.in_flight.is_empty() {
                return;
            }
            self.maybe_refresh_metadata(now);
            // Wake for a pending retry of InitProducerId or of a wanted
            // refresh; past instants are not deadlines (that would spin).
            let refresh_at = self.refresh_not_before.filter(|_| self.refresh_wanted);
            // Appends do not wake a sender with requests in flight (see
            // `RecordAccumulator::set_requests_in_flight`), nor one with
            // anything pending for a new batch's linger deadline: such a
            // sender looks again within linger.ms by itself. One with
            // nothing pending says so, and sleeps until woken.
            let pending = !self.in_flight.is_empty() || !self.acc.is_empty();
            let linger_check =
                (pending && !self.config.linger.is_zero()).then(|| now + self.config.linger);
            if !pending {
                self.acc.set_sender_idle(true);
                if !self.acc.is_empty() {
                    self.acc.set_sender_idle(false);
                    continue;
                }
            }
            for at in [self.init_not_before, refresh_at, linger_check]
                .into_iter()
                .flatten()
                .filter(|&at| at > now)
            {
                next_wakeup = Some(next_wakeup.map_or(at, |w: Instant| w.min(at)));
            }
            let sleep = tokio::time::sleep_until(
                next_wakeup.unwrap_or_else(|| now + Duration::from_secs(3600)),
            );
            // Biased, wake-ups first: a close (or a forced one, whose
            // runtime may be shutting down its timers) is seen before the
            // sleep is polled; outcomes are all taken after each event.
            let event = tokio::select! {
                biased;
                _ = self.acc.wakeup.notified() => Event::Wake,
                _ = sleep => Event::Wake,
                outcome = self.outcomes_rx.recv() => Event::Outcome(outcome),
                result = poll_option(&mut self.init) => Event::Init(result),
                outcome = poll_option(&mut self.adding) => Event::Added(outcome),
                _ = poll_option(&mut self.refresh) => Event::Refreshed,
            };
            match event {
                Event::Wake => {}
                Event::Outcome(Some(outcome)) => self.handle_outcome(outcome),
                // The sender keeps a sending half itself, so this cannot
                // happen; stopping is the only sane answer if it did.
                Event::Outcome(None) => return,
                Event::Init(result) => {
                    self.init = None;
                    self.handle_init(result);
                }
                Event::Added(outcome) => {
                    self.adding = None;
                    if let AddOutcome::Fatal(error) = outcome {
                        self.shared.set_fatal(error);
                    }
                }
                Event::Refreshed => {
                    self.refresh = None;
                    self.refresh_not_before =
                        Some(Instant::now() + self.config.client.retry_backoff);
                }
            }
            // Everything that arrived meanwhile, before draining again.
            while let Ok(outcome) = self.outcomes_rx.try_recv() {
                self.handle_outcome(outcome);
            }
        }
    }

    // ---------------------------------------------------------------------
    // Producer id
    // ---------------------------------------------------------------------

    fn maybe_init_producer_id(&mut self, now: Instant) {
        // A transactional producer's id comes from `init_transactions`.
        if !self.idempotent
            || self.txn.is_some()
            || self.init.is_some()
            || self.shared.fatal().is_some()
        {
            return;
        }
        let needed =
            self.producer.is_none() || (self.epoch_bump_pending && self.in_flight.is_empty());
        if !needed || self.init_not_before.is_some_and(|at| at > now) {
            return;
        }
        self.init_not_before = None;
        let current = if self.epoch_bump_pending {
            self.producer
        } else {
            None
        };
        self.init = Some(Box::pin(init_producer_id(
            self.client.clone(),
            current,
            self.config.client.request_timeout,
        )));
    }

    fn handle_init(&mut self, result: Result<ProducerIdAndEpoch>) {
        match result {
            Ok(producer) => {
                tracing::debug!(
                    producer_id = producer.producer_id,
                    epoch = producer.epoch,
                    bump = self.epoch_bump_pending,
                    "producer id"
                );
                self.init_failures = 0;
                let bumped = self.producer.is_some();
                self.producer = Some(producer);
                if bumped {
                    self.renumber_after_epoch_bump(producer);
                }
                self.epoch_bump_pending = false;
            }
            Err(error) => {
                // Retrying cannot help when fenced, not authorized, or the
                // broker cannot hand out producer ids at all.
                let fatal = matches!(
                    error.kafka_code(),
                    Some(
                        ErrorCode::ClusterAuthorizationFailed
                            | ErrorCode::ProducerFenced
                            | ErrorCode::InvalidProducerEpoch
                            | ErrorCode::TransactionalIdAuthorizationFailed
                            | ErrorCode::UnsupportedVersion
                    )
                ) || matches!(
                    error,
                    Error::Client(ferrokafka_client::Error::UnsupportedByBroker { .. })
                );
                if fatal {
                    self.shared.set_fatal(Error::Fatal(error.to_string()));
                    return;
                }
                tracing::debug!(%error, "InitProducerId failed; retrying");
                let wait = self.backoff.backoff(self.init_failures, &mut self.rng);
                self.init_failures = self.init_failures.saturating_add(1);
                self.init_not_before = Some(Instant::now() + wait);
            }
        }
    }

    /// After an epoch bump every partition numbers from 0 again; batches
    /// waiting for a retry get new numbers in queue order.
    fn renumber_after_epoch_bump(&mut self, producer: ProducerIdAndEpoch) {
        let mut failed = Vec::new();
        for entry in self.acc.entries() {
            let Ok(mut queue) = entry.queue.lock() else {
                continue;
            };
            let queue = &mut *queue;
            queue.sequences.reset();
            let mut kept = std::collections::VecDeque::with_capacity(queue.batches.len());
            for mut batch in queue.batches.drain(..) {
                if batch.base_sequence.is_some() {
                    let sequence = queue.sequences.assign(batch.record_count());
                    if let Err(e) = batch.reset_producer_state(producer, sequence) {
                        queue.sequences.resolve(sequence);
                        failed.push((batch, e));
                        continue;
                    }
                }
                kept.push_back(batch);
            }
            queue.batches = kept;
        }
        for (batch, error) in failed {
            self.complete(batch, Err(error));
        }
    }

    // ---------------------------------------------------------------------
    // Transactions
    // ---------------------------------------------------------------------

    /// A transactional producer's turn: takes up a new producer id or
    /// epoch from the handle, turns a sequence gap into an abortable
    /// transaction, fails queued records of a transaction that can only
    /// abort, and adds newly used partitions to the transaction.
    fn run_transaction_steps(&mut self) {
        let Some(txn) = self.txn.clone() else {
            return;
        };
        if let Some((producer, ack)) = txn.take_install() {
            let bumped = self.producer.is_some_and(|p| p != producer);
            self.producer = Some(producer);
            if bumped {
                self.renumber_after_epoch_bump(producer);
            }
            self.epoch_bump_pending = false;
            let _ = ack.send(());
        }
        if self.epoch_bump_pending {
            txn.needs_epoch_bump();
        }
        if txn.has_abortable_error() {
            for batch in self.acc.take_all_queued() {
                if batch.base_sequence.is_some() {
                    txn.dropped_numbered_batch();
                }
                self.complete(
                    batch,
                    Err(Error::TransactionAbortable(
                        "an earlier error made the transaction abort-only".into(),
                    )),
                );
            }
        }
        if self.adding.is_none() && self.shared.fatal().is_none() {
            if let Some((producer, entries)) = txn.take_pending() {
                self.adding = Some(Box::pin(txn.add_partitions(
                    self.client.clone(),
                    producer,
                    entries,
                    self.config.max_block,
                )));
            }
        }
    }

    // ---------------------------------------------------------------------
    // Metadata
    // ---------------------------------------------------------------------

    fn maybe_refresh_metadata(&mut self, now: Instant) {
        if self.refresh.is_some() {
            return;
        }
        if !self.refresh_wanted {
            let age = self.client.metadata().fetched_at.elapsed();
            if age < self.config.client.metadata_max_age {
                return;
            }
        }
        if self.refresh_not_before.is_some_and(|at| at > now) {
            return;
        }
        self.refresh_wanted = false;
        self.refresh_not_before = None;
        let client = self.client.clone();
        self.refresh = Some(Box::pin(async move {
            if let Err(error) = client.refresh_metadata().await {
                tracing::debug!(%error, "metadata refresh failed");
            }
        }));
    }

    // ---------------------------------------------------------------------
    // Draining and sending
    // ---------------------------------------------------------------------

    /// Drains and dispatches everything ready; returns when to look again.
    fn send_ready(&mut self, now: Instant) -> Option<Instant> {
        let metadata = self.client.metadata();
        let fatal = self.shared.fatal().is_some();
        let may_send =
            !fatal && (!self.idempotent || (self.producer.is_some() && !self.epoch_bump_pending));
        let producer = if self.idempotent { self.producer } else { None };
        let max_in_flight = self.config.max_in_flight_requests_per_connection;
        loop {
            let node_in_flight = &self.node_in_flight;
            let drained = self.acc.drain(
                &metadata,
                DrainOptions {
                    now,
                    flush_all: self.acc.flush_all(),
                    may_send,
                    producer,
                    max_request_size: self.config.max_request_size,
                    transactional: self.txn.is_some(),
                },
                |node| node_in_flight.get(&node).copied().unwrap_or(0) < max_in_flight,
            );
            for batch in drained.expired {
                let error = Error::DeliveryTimeout {
                    topic: batch.topic().to_string(),
                    partition: batch.partition(),
                    after: self.config.delivery_timeout,
                };
                self.complete(batch, Err(error));
            }
            if drained.sequence_gap && self.idempotent {
                self.epoch_bump_pending = true;
            }
            if drained.unknown_leader {
                self.refresh_wanted = true;
            }
            let dispatched = !drained.requests.is_empty();
            for (node, batches) in drained.requests {
                self.dispatch(node, batches);
            }
            if !drained.more || !dispatched {
                return drained.next_wakeup;
            }
        }
    }

    fn sink(&mut self, node: i32) -> &Sink {
        self.sinks.entry(node).or_insert_with(|| {
            let (requests, receiver) = mpsc::unbounded_channel();
            let task = tokio::spawn(run_sink(
                self.client.clone(),
                node,
                self.config.acks,
                receiver,
                self.outcomes_tx.clone(),
            ));
            Sink {
                requests,
                task,
                failures_seen: 0,
            }
        })
    }

    fn dispatch(&mut self, node: i32, batches: Vec<ProducerBatch>) {
        let producer = if self.idempotent { self.producer } else { None };
        let mut ready = Vec::with_capacity(batches.len());
        for mut batch in batches {
            match batch.seal(producer) {
                Ok(()) => ready.push(batch),
                Err(error) => self.fail_in_flight(batch, error, true),
            }
        }
        if ready.is_empty() {
            return;
        }
        let mut topic_data: Vec<TopicProduceData> = Vec::new();
        let sent_at = Instant::now();
        for batch in &ready {
            self.shared
                .counters
                .batch_sent(batch.size_in_bytes(), batch.record_count());
            self.shared
                .counters
                .batch_queued(sent_at.saturating_duration_since(batch.created_at));
            let partition = PartitionProduceData {
                index: batch.partition(),
                records: Some(batch.records()),
                ..Default::default()
            };
            match topic_data.iter_mut().find(|t| t.name == batch.topic()) {
                Some(topic) => topic.partition_data.push(partition),
                None => topic_data.push(TopicProduceData {
                    name: batch.topic().to_string(),
                    partition_data: vec![partition],
                    ..Default::default()
                }),
            }
        }
        let request = ProduceRequest {
            transactional_id: self.txn.as_ref().map(|t| t.transactional_id.clone()),
            acks: self.config.acks.as_i16(),
            timeout_ms: i32::try_from(self.config.client.request_timeout.as_millis())
                .unwrap_or(i32::MAX),
            topic_data,
            ..Default::default()
        };
        let id = self.next_request_id;
        self.next_request_id = self.next_request_id.wrapping_add(1);
        self.in_flight.insert(
            id,
            InFlight {
                node,
                batches: ready,
                sent_at,
            },
        );
        *self.node_in_flight.entry(node).or_insert(0) += 1;
        self.acc.set_requests_in_flight(self.in_flight.len());
        self.shared.counters.request_sent(self.in_flight.len());
        let sink = self.sink(node);
        let failures_seen = sink.failures_seen;
        let sent = sink.requests.send(SinkRequest {
            id,
            request,
            failures_seen,
        });
        if sent.is_err() {
            // The sink is gone (it never stops on its own while the sender
            // lives); answer for it so the batches are retried.
            self.sinks.remove(&node);
            self.handle_outcome(RequestOutcome {
                id,
                result: Err(ferrokafka_client::Error::Closed),
            });
        }
    }

    // ---------------------------------------------------------------------
    // Responses
    // ---------------------------------------------------------------------

    fn handle_outcome(&mut self, outcome: RequestOutcome) {
        let Some(InFlight {
            node,
            batches,
            sent_at,
        }) = self.in_flight.remove(&outcome.id)
        else {
            return;
        };
        self.acc.set_requests_in_flight(self.in_flight.len());
        let throttle = match &outcome.result {
            Ok(Some(response)) => Some(response.throttle_time_ms),
            _ => None,
        };
        self.shared
            .counters
            .response(sent_at.elapsed(), throttle, self.in_flight.len());
        if let Some(count) = self.node_in_flight.get_mut(&node) {
            *count = count.saturating_sub(1);
        }
        match outcome.result {
            Err(error) => {
                if let Some(sink) = self.sinks.get_mut(&node) {
                    sink.failures_seen = sink.failures_seen.saturating_add(1);
                }
                for batch in batches {
                    self.handle_failure(batch, SendFailure::Client(error.clone()));
                }
            }
            Ok(None) => {
                for batch in batches {
                    self.succeed(batch, -1, -1);
                }
            }
            Ok(Some(response)) => {
                self.take_leader_hints(&response);
                for batch in batches {
                    let partition = response
                        .responses
                        .iter()
                        .find(|t| t.name == batch.topic())
                        .and_then(|t| {
                            t.partition_responses
                                .iter()
                                .find(|p| p.index == batch.partition())
                        });
                    match partition {
                        Some(p)
                            if p.error_code == ErrorCode::None
                                || (p.error_code == ErrorCode::DuplicateSequenceNumber
                                    && self.idempotent) =>
                        {
                            self.succeed(batch, p.base_offset, p.log_append_time_ms);
                        }
                        Some(p) => {
                            let message = p.error_message.clone().or_else(|| {
                                p.record_errors
                                    .first()
                                    .and_then(|e| e.batch_index_error_message.clone())
                            });
                            self.handle_failure(batch, SendFailure::Code(p.error_code, message));
                        }
                        None => self.handle_failure(
                            batch,
                            SendFailure::Client(ferrokafka_client::Error::Network {
                                broker: node.to_string(),
                                message: "the response did not mention the partition".into(),
                            }),
                        ),
                    }
                }
                self.fresh_leaders.clear();
            }
        }
    }

    /// Takes the leaders a Produce response names for partitions it
    /// refused with NOT_LEADER_OR_FOLLOWER (KIP-951, v10+) into the
    /// metadata at once; the batches of those partitions are then retried
    /// at the new leader without a metadata refresh or a backoff, as the
    /// Java client does.
    fn take_leader_hints(&mut self, response: &ProduceResponse) {
        let hints: Vec<LeaderHint> = response
            .responses
            .iter()
            .flat_map(|topic| {
                topic
                    .partition_responses
                    .iter()
                    .filter(|p| {
                        matches!(
                            p.error_code,
                            ErrorCode::NotLeaderOrFollower | ErrorCode::FencedLeaderEpoch
                        ) && p.current_leader.leader_id >= 0
                    })
                    .map(|p| LeaderHint {
                        topic: topic.name.clone(),
                        partition: p.index,
                        leader_id: p.current_leader.leader_id,
                        leader_epoch: p.current_leader.leader_epoch,
                    })
            })
            .collect();
        if hints.is_empty() {
            return;
        }
        let brokers: Vec<BrokerInfo> = response
            .node_endpoints
            .iter()
            .filter_map(|node| {
                Some(BrokerInfo {
                    node_id: node.node_id,
                    host: node.host.clone(),
                    port: u16::try_from(node.port).ok()?,
                    rack: node.rack.clone(),
                })
            })
            .collect();
        self.fresh_leaders = self.client.apply_leader_hints(&hints, &brokers);
        if !self.fresh_leaders.is_empty() {
            tracing::debug!(partitions = ?self.fresh_leaders, "leaders taken from a produce response");
        }
    }

    fn succeed(&mut self, batch: ProducerBatch, base_offset: i64, log_append_time: i64) {
        let mut implied = Vec::new();
        if let Ok(mut queue) = batch.entry.queue.lock() {
            let queue = &mut *queue;
            queue.in_flight = queue.in_flight.saturating_sub(1);
            if let Some(sequence) = batch.base_sequence {
                queue.sequences.take_written(sequence);
                queue.sequences.acknowledge(sequence);
                // Batches numbered before this one and waiting for a retry
                // were written (their answers were lost): done, not resent.
                let mut index = 0;
                while index < queue.batches.len() {
                    let written = queue
                        .batches
                        .get(index)
                        .filter(|b| b.maybe_written)
                        .and_then(|b| b.base_sequence)
                        .is_some_and(|s| queue.sequences.take_written(s));
                    if written {
                        implied.extend(queue.batches.remove(index));
                    } else {
                        index += 1;
                    }
                }
            }
        }
        self.complete(batch, Ok((base_offset, log_append_time)));
        for batch in implied {
            self.complete(batch, Ok((-1, -1)));
        }
    }

    /// Whether an idempotent batch whose answer is bad or missing is known
    /// to be written: some send of it went unanswered, and a later batch of
    /// its partition was acknowledged since.
    fn known_written(batch: &ProducerBatch) -> bool {
        let Some(sequence) = batch.base_sequence.filter(|_| batch.maybe_written) else {
            return false;
        };
        batch
            .entry
            .queue
            .lock()
            .map(|mut queue| queue.sequences.take_written(sequence))
            .unwrap_or(false)
    }

    /// Completes an in-flight batch whose sequence bookkeeping is done.
    fn complete_in_flight(&mut self, batch: ProducerBatch, result: Result<(i64, i64)>) {
        if let Ok(mut queue) = batch.entry.queue.lock() {
            queue.in_flight = queue.in_flight.saturating_sub(1);
        }
        self.complete(batch, result);
    }

    fn batch_error(batch: &ProducerBatch, failure: &SendFailure) -> Error {
        match failure {
            SendFailure::Client(e) => Error::Client(e.clone()),
            SendFailure::Code(code, message) => Error::Kafka {
                code: *code,
                topic: batch.topic().to_string(),
                partition: batch.partition(),
                message: message.clone(),
            },
        }
    }

    fn handle_failure(&mut self, mut batch: ProducerBatch, failure: SendFailure) {
        if matches!(failure, SendFailure::Client(_)) {
            batch.maybe_written = true;
        }
        if self.idempotent && Self::known_written(&batch) {
            return self.complete_in_flight(batch, Ok((-1, -1)));
        }
        let code = match &failure {
            SendFailure::Code(code, _) => Some(*code),
            SendFailure::Client(e) => e.kafka_code(),
        };
        tracing::debug!(
            topic = batch.topic(),
            partition = batch.partition(),
            ?failure,
            attempts = batch.attempts,
            "produce failed"
        );
        if let (true, Some(sequence), Some(code)) = (self.idempotent, batch.base_sequence, code) {
            let verdict = match batch.entry.queue.lock() {
                Ok(queue) => classify_sequence_error(
                    code,
                    sequence,
                    &queue.sequences,
                    self.epoch_bump_pending,
                ),
                Err(_) => SequenceVerdict::NotSequenceError,
            };
            match verdict {
                SequenceVerdict::Delivered => return self.succeed(batch, -1, -1),
                SequenceVerdict::Retry => return self.retry(batch, failure, false),
                SequenceVerdict::RetryAfterEpochBump => {
                    self.epoch_bump_pending = true;
                    return self.retry(batch, failure, false);
                }
                SequenceVerdict::FailAndBumpEpoch => {
                    self.epoch_bump_pending = true;
                    let error = Self::batch_error(&batch, &failure);
                    return self.fail_in_flight(batch, error, false);
                }
                SequenceVerdict::Fatal => {
                    let error = Self::batch_error(&batch, &failure);
                    self.shared.set_fatal(Error::Fatal(error.to_string()));
                    return self.fail_in_flight(batch, error, false);
                }
                SequenceVerdict::NotSequenceError => {}
            }
        }
        if code == Some(ErrorCode::MessageTooLarge) && batch.record_count() > 1 {
            let producer = if self.idempotent { self.producer } else { None };
            let entry = batch.entry.clone();
            let original = batch.base_sequence;
            let count = batch.record_count();
            match self.acc.split(batch, producer) {
                Ok(pieces) => {
                    self.shared.counters.split();
                    if let Ok(mut queue) = entry.queue.lock() {
                        queue.in_flight = queue.in_flight.saturating_sub(1);
                        if let Some(original) = original {
                            let bases: Vec<i32> =
                                pieces.iter().filter_map(|p| p.base_sequence).collect();
                            queue.sequences.replace(original, &bases);
                            // A piece that could not be rebuilt failed its
                            // records: its numbers are a gap now.
                            let kept: usize = pieces.iter().map(|p| p.record_count()).sum();
                            if kept != count {
                                self.epoch_bump_pending = true;
                            }
                        }
                        queue.reenqueue_all(pieces);
                    };
                    return;
                }
                Err(returned) => batch = *returned,
            }
        }
        let action = match &failure {
            SendFailure::Client(e) => classify(e),
            SendFailure::Code(code, _) => classify_code(*code),
        };
        if action == RetryAction::Fail {
            let error = Self::batch_error(&batch, &failure);
            // The broker refused the batch: nothing of it was written.
            return self.fail_in_flight(batch, error, true);
        }
        self.retry(batch, failure, action == RetryAction::RefreshMetadata);
    }

    /// Puts a failed batch back in its queue, unless retries or the
    /// delivery timeout ran out.
    fn retry(&mut self, mut batch: ProducerBatch, failure: SendFailure, refresh: bool) {
        // A new leader named by the response needs neither a refresh nor
        // a backoff (KIP-951).
        let new_leader = self
            .fresh_leaders
            .iter()
            .any(|(topic, partition)| topic == batch.topic() && *partition == batch.partition());
        if (refresh && !new_leader) || matches!(failure, SendFailure::Client(_)) {
            self.refresh_wanted = true;
        }
        batch.attempts = batch.attempts.saturating_add(1);
        let now = Instant::now();
        let retries = u32::try_from(self.config.retries).unwrap_or(0);
        if batch.created_at + self.config.delivery_timeout <= now {
            let error = Error::DeliveryTimeout {
                topic: batch.topic().to_string(),
                partition: batch.partition(),
                after: self.config.delivery_timeout,
            };
            return self.fail_in_flight(batch, error, false);
        }
        if batch.attempts > retries {
            let error = Self::batch_error(&batch, &failure);
            return self.fail_in_flight(batch, error, false);
        }
        self.shared.counters.retried(batch.record_count());
        let wait = if new_leader {
            Duration::ZERO
        } else {
            self.backoff
                .backoff(batch.attempts.saturating_sub(1), &mut self.rng)
        };
        batch.retry_at = Some(now + wait);
        let entry = batch.entry.clone();
        if let Ok(mut queue) = entry.queue.lock() {
            queue.in_flight = queue.in_flight.saturating_sub(1);
            queue.reenqueue(batch);
        };
    }

    /// Fails a batch that was in flight. `not_written`: the broker surely
    /// did not append it, so its sequence numbers can be given back when
    /// nothing followed it; otherwise a sequence gap needs an epoch bump.
    fn fail_in_flight(&mut self, batch: ProducerBatch, error: Error, not_written: bool) {
        if let Ok(mut queue) = batch.entry.queue.lock() {
            queue.in_flight = queue.in_flight.saturating_sub(1);
            if let Some(sequence) = batch.base_sequence {
                let count = batch.record_count();
                if !queue.sequences.give_back(sequence, count, not_written) {
                    self.epoch_bump_pending = true;
                }
            }
        }
        self.complete(batch, Err(error));
    }

    /// Fails every batch, queued or in flight (forced close).
    fn fail_everything(&mut self, error: Error) {
        self.sinks.clear();
        let in_flight: Vec<InFlight> = self.in_flight.drain().map(|(_, f)| f).collect();
        self.acc.set_requests_in_flight(0);
        for flight in in_flight {
            for batch in flight.batches {
                self.complete(batch, Err(error.clone()));
            }
        }
        for batch in self.acc.take_all_queued() {
            self.complete(batch, Err(error.clone()));
        }
    }

    /// Completes a batch's records and counts them as delivered or failed.
    fn complete(&self, batch: ProducerBatch, result: Result<(i64, i64)>) {
        match &result {
            Ok(_) => self.shared.counters.delivered(batch.record_count()),
            Err(error) => {
                self.shared.counters.failed(batch.record_count());
                if let Some(txn) = &self.txn {
                    txn.record_failed(error, batch.base_sequence.is_some());
                }
            }
        }
        self.acc.complete(batch, result);
    }
}

/// Sends a broker's Produce requests in the order they come, each queued on
/// the connection before the next, and reports every outcome.
async fn run_sink(
    client: Client,
    node: i32,
    acks: Acks,
    mut requests: mpsc::UnboundedReceiver<SinkRequest>,
    outcomes: mpsc::UnboundedSender<RequestOutcome>,
) {
    // A partition's batches must reach the broker in sequence order, on
    // one connection: a later batch that went out on a new connection
    // while an earlier one died with the old could be stored first (a
    // broker with no state for the producer takes any sequence), and the
    // earlier one would then be lost or refused. So requests stay on the
    // connection of those still pending, and fail unsent when it is gone,
    // or when the sender made them before it heard of a failure; they are
    // retried in order.
    let mut pending: JoinSet<RequestOutcome> = JoinSet::new();
    let mut current: Option<Arc<BrokerConnection>> = None;
    let mut failures_sent: u64 = 0;
    let forward = |outcome: RequestOutcome, failures_sent: &mut u64| {
        if outcome.result.is_err() {
            *failures_sent = failures_sent.saturating_add(1);
        }
        let _ = outcomes.send(outcome);
    };
    loop {
        tokio::select! {
            next = requests.recv() => {
                let Some(SinkRequest { id, request, failures_seen }) = next else { break };
                let unsent = |message: &str| RequestOutcome {
                    id,
                    result: Err(ferrokafka_client::Error::Network {
                        broker: node.to_string(),
                        message: message.into(),
                    }),
                };
                if failures_seen < failures_sent {
                    forward(unsent("an earlier request to the broker failed"), &mut failures_sent);
                    continue;
                }
                let connection = match (&current, pending.is_empty()) {
                    (Some(connection), false) if connection.is_closed() => {
                        forward(unsent("connection closed"), &mut failures_sent);
                        continue;
                    }
                    (Some(connection), false) => connection.clone(),
                    _ => match client.node_connection(node).await {
                        Ok(connection) => connection,
                        Err(error) => {
                            forward(RequestOutcome { id, result: Err(error) }, &mut failures_sent);
                            continue;
                        }
                    },
                };
                current = Some(connection.clone());
                match submit(connection, acks, request) {
                    Ok(response) => {
                        pending.spawn(async move {
                            RequestOutcome { id, result: response.await }
                        });
                    }
                    Err(error) => {
                        forward(RequestOutcome { id, result: Err(error) }, &mut failures_sent);
                    }
                }
            }
            Some(done) = pending.join_next(), if !pending.is_empty() => {
                // Request tasks neither panic nor get aborted while the sink
                // lives; a lost outcome would leave its batches in flight.
                if let Ok(outcome) = done {
                    forward(outcome, &mut failures_sent);
                }
            }
        }
    }
}

type ResponseFuture =
    BoxFuture<std::result::Result<Option<ProduceResponse>, ferrokafka_client::Error>>;

/// Queues one Produce request on `connection` and returns the future of
/// its response.
fn submit(
    connection: Arc<BrokerConnection>,
    acks: Acks,
    request: ProduceRequest,
) -> std::result::Result<ResponseFuture, ferrokafka_client::Error> {
    let version = connection.version_for::<ProduceRequest>()?;
    // Record batches (magic 2) need Produce v3 or later.
    if version < 3 {
        return Err(ferrokafka_client::Error::UnsupportedByBroker {
            api: ApiKey::Produce,
            broker: connection.address().to_string(),
        });
    }
    if acks == Acks::None {
        return Ok(Box::pin(async move {
            connection
                .send_without_response(&request, version)
                .await
                .map(|()| None)
        }));
    }
    let response = connection.send_queued(&request, version)?;
    Ok(Box::pin(async move { response.await.map(Some) }))
}

/// InitProducerId for an idempotent producer: a new id, or with `current`
/// the same id with the next epoch (KIP-360; brokers before 2.5 hand out a
/// new id instead).
async fn init_producer_id(
    client: Client,
    current: Option<ProducerIdAndEpoch>,
    timeout: Duration,
) -> Result<ProducerIdAndEpoch> {
    let mut request = InitProducerIdRequest {
        transactional_id: None,
        // Java: transaction.timeout.ms (60000); unused without a transactional id.
        transaction_timeout_ms: 60_000,
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    if let Some(current) = current {
        request.producer_id = current.producer_id;
        request.producer_epoch = current.epoch;
    }
    let response = match client
        .send_with_retry(&request, &Target::AnyBroker, timeout)
        .await
    {
        Err(ferrokafka_client::Error::Protocol { .. }) if current.is_some() => {
            request.producer_id = -1;
            request.producer_epoch = -1;
            client
                .send_with_retry(&request, &Target::AnyBroker, timeout)
                .await?
        }
        other => other?,
    };
    if response.error_code != ErrorCode::None {
        return Err(ferrokafka_client::Error::kafka(
            response.error_code,
            ApiKey::InitProducerId,
            None,
            None,
        )
        .into());
    }
    Ok(ProducerIdAndEpoch {
        producer_id: response.producer_id,
        epoch: response.producer_epoch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokafka_broker::{Broker, FaultAction, FaultRule};
    use ferrokafka_client::ClientConfig;
    use ferrokafka_protocol::compression::Compression;
    use ferrokafka_protocol::records::RecordBatchBuilder;

    fn produce(value: &str) -> ProduceRequest {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let mut builder = RecordBatchBuilder::new(Compression::None);
        // A current timestamp: retention would remove a record from 1970.
        let timestamp = i64::try_from(now.as_millis()).unwrap();
        builder
            .append(timestamp, None, Some(value.as_bytes()), &[])
            .unwrap();
        ProduceRequest {
            acks: 1,
            timeout_ms: 30_000,
            topic_data: vec![TopicProduceData {
                name: "ordered".into(),
                partition_data: vec![PartitionProduceData {
                    index: 0,
                    records: Some(builder.build().unwrap()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    /// The sink's ordering rule: a request the sender made before it heard
    /// of an earlier failure is not sent (it would go out on a new
    /// connection ahead of the retry of the one that failed); one made
    /// after is.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_made_before_a_failure_was_heard_of_fails_unsent() {
        let broker = Broker::builder().start().await.unwrap();
        broker.create_topic("ordered", 1).unwrap();
        let config = ClientConfig::builder()
            .bootstrap_servers([broker.bootstrap_address()])
            .build()
            .unwrap();
        let client = Client::connect(config).await.unwrap();
        let (requests, receiver) = mpsc::unbounded_channel();
        let (outcomes_tx, mut outcomes) = mpsc::unbounded_channel();
        let sink = tokio::spawn(run_sink(client, 0, Acks::Leader, receiver, outcomes_tx));
        let send = |id: u64, value: &str, failures_seen: u64| {
            requests
                .send(SinkRequest {
                    id,
                    request: produce(value),
                    failures_seen,
                })
                .unwrap();
        };

        broker.inject_fault(FaultRule::new(
            ApiKey::Produce,
            FaultAction::DropBeforeApply,
        ));
        send(1, "dropped", 0);
        let first = outcomes.recv().await.unwrap();
        assert_eq!(first.id, 1);
        assert!(first.result.is_err());
        // Made while the sender had not yet seen that failure.
        send(2, "early", 0);
        let second = outcomes.recv().await.unwrap();
        assert_eq!(second.id, 2);
        assert!(second.result.is_err());
        // Made after it saw both: sent on a new connection and stored.
        send(3, "after", 2);
        let third = outcomes.recv().await.unwrap();
        assert_eq!(third.id, 3);
        let response = third.result.unwrap().unwrap();
        assert_eq!(
            response.responses[0].partition_responses[0].error_code,
            ErrorCode::None
        );
        assert_eq!(broker.offsets("ordered", 0), Some((0, 1)));
        drop(requests);
        sink.await.unwrap();
        broker.shutdown().await;
    }
}
