//! Transactions (KIP-98): the [`TransactionManager`] of a producer with a
//! `transactional.id`, shared by the producer handle and its sender (Java's
//! `TransactionManager`).
//!
//! The handle drives the transaction's life: `init_transactions` gets the
//! id's producer id and epoch from its transaction coordinator (fencing any
//! older instance), `begin_transaction` opens one locally,
//! `send_offsets_to_transaction` adds a group's offsets, and
//! `commit_transaction` / `abort_transaction` flush and end it with EndTxn.
//! The sender adds each partition to the transaction (AddPartitionsToTxn)
//! the first time a record goes to it, and drains a partition's batches only
//! once it is added, so the coordinator always knows every partition it
//! must write a marker to.
//!
//! States follow Java's: a failed record or a refused request puts an open
//! transaction in the *abortable* state (commit fails, sends are refused,
//! `abort_transaction` recovers); fencing and authorization errors are
//! fatal for the producer. Records not yet sent when a transaction aborts
//! fail with [`Error::TransactionAborted`]. After an abort that left a gap
//! in some partition's sequence numbers, the epoch is bumped (KIP-360).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use ferrokafka_client::ConsumerGroupMetadata;
use ferrokafka_client::backoff::{ExponentialBackOff, XorShift};
use ferrokafka_client::{Client, CoordinatorType, RetryAction, classify};
use ferrokafka_protocol::codec::Request;
use ferrokafka_protocol::generated::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use ferrokafka_protocol::generated::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use ferrokafka_protocol::generated::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, EndTxnRequest,
    InitProducerIdRequest, TxnOffsetCommitRequest,
};
use ferrokafka_protocol::{ApiKey, ErrorCode};
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use crate::accumulator::PartitionEntry;
use crate::error::{Error, Result};
use crate::idempotence::ProducerIdAndEpoch;

/// The newest AddPartitionsToTxn version a client sends (v4+ are for
/// brokers verifying transactions among themselves).
const ADD_PARTITIONS_CLIENT_MAX_VERSION: i16 = 3;

/// Java retries CONCURRENT_TRANSACTIONS after this, not the usual backoff:
/// the previous transaction's markers are usually written by then.
const CONCURRENT_TRANSACTIONS_BACKOFF: Duration = Duration::from_millis(20);

/// Where a transactional producer stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    /// `init_transactions` has not succeeded yet.
    Uninitialized,
    /// No transaction open.
    Ready,
    /// A transaction is open: sends are taken.
    InTransaction,
    /// `commit_transaction` runs.
    Committing,
    /// `abort_transaction` runs.
    Aborting,
    /// The open transaction cannot commit; it must be aborted.
    AbortableError(String),
}

#[derive(Debug)]
struct TxnState {
    phase: Phase,
    /// The id and epoch the coordinator gave this transactional id.
    producer: Option<ProducerIdAndEpoch>,
    /// Partitions with records that are not in the transaction yet.
    pending: Vec<Arc<PartitionEntry>>,
    /// Partitions in the AddPartitionsToTxn request now in flight.
    adding: Vec<Arc<PartitionEntry>>,
    /// Partitions added to the open transaction.
    added: Vec<Arc<PartitionEntry>>,
    /// Whether the coordinator knows of the open transaction (a partition
    /// or a group's offsets were added), so it needs an EndTxn.
    started: bool,
    /// Some partition's sequence numbers have a gap (a record failed or
    /// was dropped after being numbered): bump the epoch when aborting.
    bump_needed: bool,
}

/// A producer id and epoch handed to the sender, and how it says it took it.
type Install = (ProducerIdAndEpoch, oneshot::Sender<()>);

/// The transactional state shared by the producer handle and its sender.
#[derive(Debug)]
pub(crate) struct TransactionManager {
    /// `transactional.id`.
    pub(crate) transactional_id: String,
    /// `transaction.timeout.ms`.
    timeout_ms: i32,
    state: Mutex<TxnState>,
    /// Set while a transaction takes records: `send` checks it without
    /// the lock.
    open: AtomicBool,
    /// A producer id or epoch for the sender to start using.
    install: Mutex<Option<Install>>,
    /// Told when an AddPartitionsToTxn request finishes.
    adds_done: Notify,
    /// One transactional call at a time (init, offsets, commit, abort).
    pub(crate) calls: tokio::sync::Mutex<()>,
}

/// What the sender does with a finished AddPartitionsToTxn.
pub(crate) enum AddOutcome {
    /// Every partition was added.
    Added,
    /// The producer is fenced or not authorized: fatal.
    Fatal(Error),
    /// The transaction must be aborted. `maybe_added`: no answer came, so
    /// the coordinator may have added the partitions (a refusal adds none:
    /// AddPartitionsToTxn is all or nothing).
    Abortable {
        /// Why.
        reason: String,
        /// Whether the coordinator may have added them.
        maybe_added: bool,
    },
}

impl TransactionManager {
    /// The manager for `transactional_id`.
    pub(crate) fn new(transactional_id: String, timeout: Duration) -> Self {
        TransactionManager {
            transactional_id,
            timeout_ms: i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX),
            state: Mutex::new(TxnState {
                phase: Phase::Uninitialized,
                producer: None,
                pending: Vec::new(),
                adding: Vec::new(),
                added: Vec::new(),
                started: false,
                bump_needed: false,
            }),
            open: AtomicBool::new(false),
            install: Mutex::new(None),
            adds_done: Notify::new(),
            calls: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> Result<MutexGuard<'_, TxnState>> {
        self.state
            .lock()
            .map_err(|_| Error::Fatal("transaction state lock poisoned".into()))
    }

    fn set_phase(&self, state: &mut TxnState, phase: Phase) {
        self.open
            .store(phase == Phase::InTransaction, Ordering::Release);
        state.phase = phase;
    }

    // -----------------------------------------------------------------
    // The send path
    // -----------------------------------------------------------------

    /// Whether a record may be sent now: only inside a transaction.
    pub(crate) fn check_send(&self) -> Result<()> {
        if self.open.load(Ordering::Acquire) {
            return Ok(());
        }
        let phase = self.state()?.phase.clone();
        Err(match phase {
            Phase::AbortableError(reason) => Error::TransactionAbortable(reason),
            Phase::Uninitialized => {
                Error::TransactionState("send needs init_transactions() first".into())
            }
            Phase::Ready => Error::TransactionState("send needs begin_transaction() first".into()),
            Phase::Committing | Phase::Aborting => Error::TransactionState(
                "the transaction is being committed or aborted; begin a new one".into(),
            ),
            Phase::InTransaction => return Ok(()),
        })
    }

    /// Notes that a record went to `entry`; true if the partition must be
    /// added to the transaction (the sender should look).
    pub(crate) fn record_appended(&self, entry: &Arc<PartitionEntry>) -> bool {
        if entry.in_transaction.load(Ordering::Acquire) {
            return false;
        }
        let Ok(mut state) = self.state.lock() else {
            return false;
        };
        let known = |list: &[Arc<PartitionEntry>]| list.iter().any(|e| Arc::ptr_eq(e, entry));
        if known(&state.pending) || known(&state.adding) || known(&state.added) {
            return false;
        }
        state.pending.push(entry.clone());
        true
    }

    // -----------------------------------------------------------------
    // The sender's side
    // -----------------------------------------------------------------

    /// The producer id and epoch the handle wants the sender to use now.
    pub(crate) fn take_install(&self) -> Option<Install> {
        self.install.lock().ok().and_then(|mut i| i.take())
    }

    /// The partitions to add now, with the producer to add them for, if
    /// no add is in flight and the transaction is open.
    pub(crate) fn take_pending(&self) -> Option<(ProducerIdAndEpoch, Vec<Arc<PartitionEntry>>)> {
        let mut state = self.state.lock().ok()?;
        if state.pending.is_empty()
            || !state.adding.is_empty()
            || !matches!(state.phase, Phase::InTransaction | Phase::Committing)
        {
            return None;
        }
        let producer = state.producer?;
        let pending = std::mem::take(&mut state.pending);
        state.adding = pending.clone();
        Some((producer, pending))
    }

    /// Records how the add in flight ended.
    pub(crate) fn add_finished(&self, outcome: &AddOutcome) {
        if let Ok(mut state) = self.state.lock() {
            let adding = std::mem::take(&mut state.adding);
            match outcome {
                AddOutcome::Added => {
                    for entry in &adding {
                        entry.in_transaction.store(true, Ordering::Release);
                    }
                    state.started = true;
                    state.added.extend(adding);
                }
                AddOutcome::Abortable {
                    reason,
                    maybe_added,
                } => {
                    // If the coordinator may have added them, EndTxn covers
                    // them; if it refused, an EndTxn for a transaction it
                    // never began would be refused too (INVALID_TXN_STATE),
                    // and abort_transaction could never succeed (Java sends
                    // EndTxn only once a partition or offsets were added).
                    state.started |= *maybe_added;
                    self.to_abortable(&mut state, reason.clone());
                }
                AddOutcome::Fatal(_) => {}
            }
        }
        self.adds_done.notify_waiters();
    }

    fn to_abortable(&self, state: &mut TxnState, reason: String) {
        if matches!(state.phase, Phase::InTransaction | Phase::Committing) {
            self.set_phase(state, Phase::AbortableError(reason));
        }
    }

    /// A record of the open transaction failed: the transaction cannot
    /// commit. `numbered`: its batch had sequence numbers.
    pub(crate) fn record_failed(&self, error: &Error, numbered: bool) {
        if matches!(error, Error::TransactionAborted) {
            return;
        }
        if let Ok(mut state) = self.state.lock() {
            state.bump_needed |= numbered;
            self.to_abortable(&mut state, error.to_string());
        }
    }

    /// The sender needs an epoch bump (a sequence gap): the transaction
    /// must abort, and the abort bumps the epoch.
    pub(crate) fn needs_epoch_bump(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.bump_needed = true;
            self.to_abortable(
                &mut state,
                "a partition's sequence numbers have a gap".into(),
            );
        }
    }

    /// Whether queued batches should be failed now (the transaction can
    /// only abort).
    pub(crate) fn has_abortable_error(&self) -> bool {
        self.state
            .lock()
            .is_ok_and(|s| matches!(s.phase, Phase::AbortableError(_)))
    }

    /// The AddPartitionsToTxn of `entries`, for the sender to await.
    pub(crate) fn add_partitions(
        self: &Arc<Self>,
        client: Client,
        producer: ProducerIdAndEpoch,
        entries: Vec<Arc<PartitionEntry>>,
        timeout: Duration,
    ) -> impl Future<Output = AddOutcome> + Send + 'static {
        let manager = self.clone();
        async move {
            let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
            for entry in &entries {
                match topics.iter_mut().find(|t| *t.name == *entry.topic) {
                    Some(topic) => topic.partitions.push(entry.partition),
                    None => topics.push(AddPartitionsToTxnTopic {
                        name: entry.topic.to_string(),
                        partitions: vec![entry.partition],
                        ..Default::default()
                    }),
                }
            }
            let request = AddPartitionsToTxnRequest {
                v3_and_below_transactional_id: manager.transactional_id.clone(),
                v3_and_below_producer_id: producer.producer_id,
                v3_and_below_producer_epoch: producer.epoch,
                v3_and_below_topics: topics,
                ..Default::default()
            };
            let result = to_coordinator(
                &client,
                &manager.transactional_id,
                timeout,
                ADD_PARTITIONS_CLIENT_MAX_VERSION,
                &request,
                add_partitions_code,
            )
            .await;
            let outcome = match result {
                Ok(response) => match add_partitions_code(&response) {
                    ErrorCode::None => AddOutcome::Added,
                    code if is_fatal(code) => AddOutcome::Fatal(fatal(code, "AddPartitionsToTxn")),
                    code => AddOutcome::Abortable {
                        reason: format!("adding partitions to the transaction failed: {code}"),
                        maybe_added: false,
                    },
                },
                Err(error) => match error.kafka_code() {
                    Some(code) if is_fatal(code) => {
                        AddOutcome::Fatal(fatal(code, "AddPartitionsToTxn"))
                    }
                    // A refusal the retries ran out on added nothing; no
                    // answer at all may hide an add that was applied.
                    code => AddOutcome::Abortable {
                        reason: format!("adding partitions to the transaction failed: {error}"),
                        maybe_added: code.is_none(),
                    },
                },
            };
            manager.add_finished(&outcome);
            outcome
        }
    }

    // -----------------------------------------------------------------
    // The handle's calls
    // -----------------------------------------------------------------

    /// `init_transactions`: the id's producer id and epoch, fencing older
    /// instances (and aborting their open transaction).
    pub(crate) async fn init(
        &self,
        client: &Client,
        timeout: Duration,
        wake: &Notify,
    ) -> Result<()> {
        let current = {
            let state = self.state()?;
            match state.phase {
                Phase::Uninitialized => None,
                _ => {
                    return Err(Error::TransactionState(
                        "init_transactions() was already called".into(),
                    ));
                }
            }
        };
        let producer = self.init_producer_id(client, current, timeout).await?;
        self.install_producer(producer, wake).await?;
        let mut state = self.state()?;
        state.producer = Some(producer);
        self.set_phase(&mut state, Phase::Ready);
        Ok(())
    }

    async fn init_producer_id(
        &self,
        client: &Client,
        current: Option<ProducerIdAndEpoch>,
        timeout: Duration,
    ) -> Result<ProducerIdAndEpoch> {
        let request = InitProducerIdRequest {
            transactional_id: Some(self.transactional_id.clone()),
            transaction_timeout_ms: self.timeout_ms,
            producer_id: current.map_or(-1, |p| p.producer_id),
            producer_epoch: current.map_or(-1, |p| p.epoch),
            ..Default::default()
        };
        let response = to_coordinator(
            client,
            &self.transactional_id,
            timeout,
            i16::MAX,
            &request,
            |r| r.error_code,
        )
        .await?;
        match response.error_code {
            ErrorCode::None => Ok(ProducerIdAndEpoch {
                producer_id: response.producer_id,
                epoch: response.producer_epoch,
            }),
            code if is_fatal(code) => Err(fatal(code, "InitProducerId")),
            code => Err(kafka(code, ApiKey::InitProducerId)),
        }
    }

    /// Hands `producer` to the sender and waits until it uses it.
    async fn install_producer(&self, producer: ProducerIdAndEpoch, wake: &Notify) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut install) = self.install.lock() {
            *install = Some((producer, tx));
        }
        wake.notify_one();
        rx.await.map_err(|_| Error::Closed(None))
    }

    /// `begin_transaction`.
    pub(crate) fn begin(&self) -> Result<()> {
        let mut state = self.state()?;
        match &state.phase {
            Phase::Ready => {
                state.started = false;
                state.bump_needed = false;
                self.set_phase(&mut state, Phase::InTransaction);
                Ok(())
            }
            Phase::Uninitialized => Err(Error::TransactionState(
                "begin_transaction() needs init_transactions() first".into(),
            )),
            Phase::AbortableError(reason) => Err(Error::TransactionAbortable(reason.clone())),
            _ => Err(Error::TransactionState(
                "a transaction is already open".into(),
            )),
        }
    }

    /// `send_offsets_to_transaction`: AddOffsetsToTxn, then TxnOffsetCommit
    /// to the group's coordinator.
    pub(crate) async fn send_offsets(
        &self,
        client: &Client,
        offsets: &[(&str, i32, i64)],
        group: &ConsumerGroupMetadata,
        timeout: Duration,
    ) -> Result<()> {
        let producer = {
            let state = self.state()?;
            match (&state.phase, state.producer) {
                (Phase::InTransaction, Some(producer)) => producer,
                (Phase::AbortableError(reason), _) => {
                    return Err(Error::TransactionAbortable(reason.clone()));
                }
                _ => {
                    return Err(Error::TransactionState(
                        "send_offsets_to_transaction() needs an open transaction".into(),
                    ));
                }
            }
        };
        let add = AddOffsetsToTxnRequest {
            transactional_id: self.transactional_id.clone(),
            producer_id: producer.producer_id,
            producer_epoch: producer.epoch,
            group_id: group.group_id.clone(),
            ..Default::default()
        };
        let added = to_coordinator(
            client,
            &self.transactional_id,
            timeout,
            i16::MAX,
            &add,
            |r| r.error_code,
        )
        .await;
        if let Ok(mut state) = self.state() {
            state.started = true;
        }
        let code = match added {
            Ok(response) => response.error_code,
            Err(error) => return Err(self.abortable_from(error)),
        };
        self.check_code(code, ApiKey::AddOffsetsToTxn)?;
        let mut topics: Vec<TxnOffsetCommitRequestTopic> = Vec::new();
        for &(topic, partition, offset) in offsets {
            let entry = TxnOffsetCommitRequestPartition {
                partition_index: partition,
                committed_offset: offset,
                committed_leader_epoch: -1,
                committed_metadata: Some(String::new()),
                ..Default::default()
            };
            match topics.iter_mut().find(|t| t.name == topic) {
                Some(t) => t.partitions.push(entry),
                None => topics.push(TxnOffsetCommitRequestTopic {
                    name: topic.to_string(),
                    partitions: vec![entry],
                    ..Default::default()
                }),
            }
        }
        let commit = TxnOffsetCommitRequest {
            transactional_id: self.transactional_id.clone(),
            group_id: group.group_id.clone(),
            producer_id: producer.producer_id,
            producer_epoch: producer.epoch,
            generation_id: group.generation_id,
            member_id: group.member_id.clone(),
            group_instance_id: group.group_instance_id.clone(),
            topics,
            ..Default::default()
        };
        let first_error = |r: &ferrokafka_protocol::generated::TxnOffsetCommitResponse| {
            r.topics
                .iter()
                .flat_map(|t| t.partitions.iter())
                .map(|p| p.error_code)
                .find(|c| *c != ErrorCode::None)
        };
        let committed = client
            .send_with_retry_checked(
                &commit,
                &ferrokafka_client::Target::GroupCoordinator(group.group_id.clone()),
                timeout,
                first_error,
            )
            .await;
        match committed {
            Ok(_) => Ok(()),
            Err(error) => match error.kafka_code() {
                Some(code) => self.check_code(code, ApiKey::TxnOffsetCommit),
                None => Err(self.abortable_from(error.into())),
            },
        }
    }

    /// `commit_transaction`, once the handle has flushed every record.
    pub(crate) fn begin_commit(&self) -> Result<()> {
        let mut state = self.state()?;
        match &state.phase {
            Phase::InTransaction => {
                self.set_phase(&mut state, Phase::Committing);
                Ok(())
            }
            Phase::AbortableError(reason) => Err(Error::TransactionAbortable(reason.clone())),
            _ => Err(Error::TransactionState(
                "commit_transaction() needs an open transaction".into(),
            )),
        }
    }

    /// The end of `commit_transaction` after the flush: EndTxn(commit) if
    /// the coordinator knows the transaction.
    pub(crate) async fn finish_commit(&self, client: &Client, timeout: Duration) -> Result<()> {
        let (producer, started) = {
            let state = self.state()?;
            if let Phase::AbortableError(reason) = &state.phase {
                return Err(Error::TransactionAbortable(reason.clone()));
            }
            (state.producer, state.started)
        };
        self.wait_for_adds().await;
        if let (true, Some(producer)) = (started, producer) {
            self.end_txn(client, producer, true, timeout).await?;
        }
        self.end(Phase::Ready);
        Ok(())
    }

    /// The start of `abort_transaction`: no more sends or adds.
    pub(crate) fn begin_abort(&self) -> Result<()> {
        let mut state = self.state()?;
        match &state.phase {
            Phase::InTransaction | Phase::AbortableError(_) | Phase::Committing => {
                state.pending.clear();
                self.set_phase(&mut state, Phase::Aborting);
                Ok(())
            }
            // A failed abort may be called again.
            Phase::Aborting => Ok(()),
            _ => Err(Error::TransactionState(
                "abort_transaction() needs an open transaction".into(),
            )),
        }
    }

    /// Notes that queued records of the transaction were dropped.
    pub(crate) fn dropped_numbered_batch(&self) {
        if let Ok(mut state) = self.state() {
            state.bump_needed = true;
        }
    }

    /// The end of `abort_transaction` after every record in flight is
    /// answered: EndTxn(abort), then an epoch bump if sequences have gaps.
    pub(crate) async fn finish_abort(
        &self,
        client: &Client,
        timeout: Duration,
        wake: &Notify,
    ) -> Result<()> {
        self.wait_for_adds().await;
        let (producer, started, bump) = {
            let state = self.state()?;
            (state.producer, state.started, state.bump_needed)
        };
        let Some(producer) = producer else {
            return Err(Error::TransactionState(
                "abort_transaction() needs init_transactions() first".into(),
            ));
        };
        if started {
            self.end_txn(client, producer, false, timeout).await?;
        }
        if bump {
            let bumped = self
                .init_producer_id(client, Some(producer), timeout)
                .await?;
            self.install_producer(bumped, wake).await?;
            if let Ok(mut state) = self.state() {
                state.producer = Some(bumped);
            }
        }
        self.end(Phase::Ready);
        Ok(())
    }

    /// Waits until no AddPartitionsToTxn is in flight (so EndTxn cannot
    /// overtake one).
    async fn wait_for_adds(&self) {
        loop {
            let notified = self.adds_done.notified();
            if self.state.lock().map_or(true, |s| s.adding.is_empty()) {
                return;
            }
            notified.await;
        }
    }

    async fn end_txn(
        &self,
        client: &Client,
        producer: ProducerIdAndEpoch,
        commit: bool,
        timeout: Duration,
    ) -> Result<()> {
        let request = EndTxnRequest {
            transactional_id: self.transactional_id.clone(),
            producer_id: producer.producer_id,
            producer_epoch: producer.epoch,
            committed: commit,
            ..Default::default()
        };
        match to_coordinator(
            client,
            &self.transactional_id,
            timeout,
            i16::MAX,
            &request,
            |r| r.error_code,
        )
        .await
        {
            Ok(response) => self.check_code(response.error_code, ApiKey::EndTxn),
            Err(error) => Err(self.abortable_from(error)),
        }
    }

    /// Ends the transaction: its partitions are out of it, the phase is
    /// `phase`.
    fn end(&self, phase: Phase) {
        if let Ok(mut state) = self.state.lock() {
            for entry in state.added.drain(..) {
                entry.in_transaction.store(false, Ordering::Release);
            }
            state.pending.clear();
            state.started = false;
            state.bump_needed = false;
            self.set_phase(&mut state, phase);
        }
    }

    /// A response code: fine, fatal (fencing, authorization) or a reason to
    /// abort.
    fn check_code(&self, code: ErrorCode, api: ApiKey) -> Result<()> {
        match code {
            ErrorCode::None => Ok(()),
            code if is_fatal(code) => Err(fatal(code, &format!("{api:?}"))),
            code => {
                let error = kafka(code, api);
                if let Ok(mut state) = self.state() {
                    self.to_abortable(&mut state, error.to_string());
                }
                Err(error)
            }
        }
    }

    /// A request that failed without a usable answer (timeout, transport):
    /// the transaction must abort (an abort may be retried).
    fn abortable_from(&self, error: Error) -> Error {
        if let Some(code) = error.kafka_code().filter(|c| is_fatal(*c)) {
            return fatal(code, "transaction request");
        }
        if let Ok(mut state) = self.state() {
            self.to_abortable(&mut state, error.to_string());
        }
        error
    }
}

/// Codes that end the producer: another instance took the transactional
/// id, or it is not authorized.
fn is_fatal(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::ProducerFenced
            | ErrorCode::InvalidProducerEpoch
            | ErrorCode::TransactionalIdAuthorizationFailed
            | ErrorCode::ClusterAuthorizationFailed
            | ErrorCode::UnsupportedVersion
            | ErrorCode::UnsupportedForMessageFormat
    )
}

fn fatal(code: ErrorCode, what: &str) -> Error {
    Error::Fatal(format!("{what}: {code}"))
}

fn kafka(code: ErrorCode, api: ApiKey) -> Error {
    Error::Client(ferrokafka_client::Error::kafka(code, api, None, None))
}

/// The code that decides an AddPartitionsToTxn response: the first real
/// error, else OPERATION_NOT_ATTEMPTED, else none.
fn add_partitions_code(response: &AddPartitionsToTxnResponse) -> ErrorCode {
    let codes = response
        .results_by_topic_v3_and_below
        .iter()
        .flat_map(|t| t.results_by_partition.iter())
        .map(|p| p.partition_error_code);
    let mut not_attempted = false;
    for code in codes {
        match code {
            ErrorCode::None => {}
            ErrorCode::OperationNotAttempted => not_attempted = true,
            code => return code,
        }
    }
    if response.error_code != ErrorCode::None {
        return response.error_code;
    }
    if not_attempted {
        ErrorCode::OperationNotAttempted
    } else {
        ErrorCode::None
    }
}

/// Sends `request` to the transaction coordinator of `id` (at most
/// `max_version`), retrying what Java retries until `timeout`: coordinator
/// moves and loads, CONCURRENT_TRANSACTIONS (the previous transaction's
/// markers are still being written), transport errors. Any other code in
/// the answer (as `code_of` reads it) is the caller's to judge.
async fn to_coordinator<R: Request>(
    client: &Client,
    id: &str,
    timeout: Duration,
    max_version: i16,
    request: &R,
    code_of: impl Fn(&R::Response) -> ErrorCode,
) -> Result<R::Response> {
    let deadline = Instant::now() + timeout;
    let config = client.config();
    let backoff = ExponentialBackOff::new(config.retry_backoff, config.retry_backoff_max);
    let mut rng = XorShift::from_entropy();
    let mut attempt = 0u32;
    loop {
        let sent = async {
            let node = client
                .find_coordinator(CoordinatorType::Transaction, id)
                .await?;
            let connection = client.coordinator_connection(node).await?;
            let version = connection.version_for::<R>()?.min(max_version);
            connection.send_at(request, version).await
        }
        .await;
        let (wait, last) = match sent {
            Ok(response) => match code_of(&response) {
                ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                    client.invalidate_coordinator(CoordinatorType::Transaction, id);
                    (None, Ok(response))
                }
                ErrorCode::ConcurrentTransactions => {
                    (Some(CONCURRENT_TRANSACTIONS_BACKOFF), Ok(response))
                }
                ErrorCode::CoordinatorLoadInProgress
                | ErrorCode::UnknownTopicOrPartition
                | ErrorCode::OperationNotAttempted => (None, Ok(response)),
                _ => return Ok(response),
            },
            Err(error) => {
                match classify(&error) {
                    RetryAction::Fail => return Err(error.into()),
                    // A lost connection or an unknown node may mean the
                    // coordinator's node is gone and the coordinator moved:
                    // look it up again, as Java does when it cannot reach
                    // the coordinator (a lookup that finds the same node
                    // costs one request).
                    RetryAction::FindCoordinator | RetryAction::RefreshMetadata => {
                        client.invalidate_coordinator(CoordinatorType::Transaction, id)
                    }
                    RetryAction::Backoff => {}
                }
                (None, Err(error))
            }
        };
        let now = Instant::now();
        if now >= deadline {
            return last.map_err(Error::from);
        }
        let wait = wait.unwrap_or_else(|| backoff.backoff(attempt, &mut rng));
        attempt = attempt.saturating_add(1);
        tokio::time::sleep(wait.min(deadline - now)).await;
    }
}
