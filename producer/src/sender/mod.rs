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
//!
//! Its parts: `dispatch` (draining and handing requests to sinks), `sink`
//! (the per-broker tasks), `response` (each batch's fate), `producer_id`
//! (InitProducerId and epoch bumps). This module holds the loop itself, the
//! transactional producer's turn, metadata refreshes, and completion.

mod dispatch;
mod producer_id;
mod response;
mod sink;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferrokafka_client::Client;
use ferrokafka_client::backoff::{ExponentialBackOff, XorShift};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::accumulator::{ProducerBatch, RecordAccumulator};
use crate::config::ProducerConfig;
use crate::error::{Error, Result};
use crate::idempotence::ProducerIdAndEpoch;
use crate::metrics::SenderCounters;
use crate::transaction::{AddOutcome, TransactionManager};
use sink::{RequestOutcome, Sink};

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

/// The batches of one request in flight.
struct InFlight {
    node: i32,
    batches: Vec<ProducerBatch>,
    /// When it was handed to the sink (request latency).
    sent_at: Instant,
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
    backoff: ExponentialBackOff,
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
            ExponentialBackOff::new(config.client.retry_backoff, config.client.retry_backoff_max);
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
            self.fail_queued_if_fatal();
            let now = Instant::now();
            self.maybe_init_producer_id(now);
            self.run_transaction_steps();
            let next_wakeup = self.send_ready(now);
            if self.acc.is_closing() && self.acc.is_empty() && self.in_flight.is_empty() {
                return;
            }
            self.maybe_refresh_metadata(now);
            let Some(deadline) = self.sleep_deadline(now, next_wakeup) else {
                continue;
            };
            let event = self.next_event(deadline).await;
            if !self.handle_event(event) {
                return;
            }
            // Everything that arrived meanwhile, before draining again.
            while let Ok(outcome) = self.outcomes_rx.try_recv() {
                self.handle_outcome(outcome);
            }
        }
    }

    /// Once the producer hit a fatal error, fails whatever is queued.
    fn fail_queued_if_fatal(&mut self) {
        if let Some(fatal) = self.shared.fatal() {
            for batch in self.acc.take_all_queued() {
                self.complete(batch, Err(fatal.clone()));
            }
        }
    }

    /// Until when the sender sleeps unless woken: the drain's
    /// `next_wakeup`, a pending retry of InitProducerId or of a wanted
    /// refresh, and `linger.ms` while anything is pending. `None`: look
    /// again at once (a batch came as the sender said it goes idle).
    fn sleep_deadline(&self, now: Instant, mut next_wakeup: Option<Instant>) -> Option<Instant> {
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
                return None;
            }
        }
        for at in [self.init_not_before, refresh_at, linger_check]
            .into_iter()
            .flatten()
            .filter(|&at| at > now)
        {
            next_wakeup = Some(next_wakeup.map_or(at, |w: Instant| w.min(at)));
        }
        Some(next_wakeup.unwrap_or_else(|| now + Duration::from_secs(3600)))
    }

    /// Waits for the next event, until `deadline` at the latest.
    async fn next_event(&mut self, deadline: Instant) -> Event {
        let sleep = tokio::time::sleep_until(deadline);
        // Biased, wake-ups first: a close (or a forced one, whose runtime
        // may be shutting down its timers) is seen before the sleep is
        // polled; outcomes are all taken after each event.
        tokio::select! {
            biased;
            _ = self.acc.wakeup.notified() => Event::Wake,
            _ = sleep => Event::Wake,
            outcome = self.outcomes_rx.recv() => Event::Outcome(outcome),
            result = poll_option(&mut self.init) => Event::Init(result),
            outcome = poll_option(&mut self.adding) => Event::Added(outcome),
            _ = poll_option(&mut self.refresh) => Event::Refreshed,
        }
    }

    /// Takes in one event; `false` when the sender must stop.
    fn handle_event(&mut self, event: Event) -> bool {
        match event {
            Event::Wake => {}
            Event::Outcome(Some(outcome)) => self.handle_outcome(outcome),
            // The sender keeps a sending half itself, so this cannot
            // happen; stopping is the only sane answer if it did.
            Event::Outcome(None) => return false,
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
                self.refresh_not_before = Some(Instant::now() + self.config.client.retry_backoff);
            }
        }
        true
    }

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

    /// Starts a metadata refresh when one is wanted (after an error, or
    /// when the metadata is older than `metadata.max.age.ms`), unless the
    /// last one was too recent.
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
