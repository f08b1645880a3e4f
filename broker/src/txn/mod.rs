//! The transaction coordinator (KIP-98): transactional ids, their producer
//! id and epoch, and the state of each one's transaction.
//!
//! It follows Apache Kafka's `TransactionCoordinator` as a client observes
//! it: InitProducerId with a transactional id keeps the id's producer id and
//! bumps its epoch (fencing the previous instance), aborting an ongoing
//! transaction first; AddPartitionsToTxn and AddOffsetsToTxn move the
//! transaction to Ongoing; TxnOffsetCommit holds offsets pending until
//! EndTxn, which writes a COMMIT or ABORT marker (a control batch) to every
//! partition of the transaction and applies or drops the pending offsets.
//! Kafka writes markers asynchronously and answers CONCURRENT_TRANSACTIONS
//! meanwhile; here they are written before EndTxn returns, so the
//! PrepareCommit/PrepareAbort states are never observed.
//!
//! A transaction older than its timeout is aborted by the coordinator with
//! a bumped epoch, so the zombie producer is fenced (PRODUCER_FENCED, or
//! INVALID_PRODUCER_EPOCH on Produce). Expiry is checked on every
//! transactional request and by a periodic tick (a task started with the
//! first transactional request, stopped by [`TransactionCoordinator::shutdown`]).
//! After a restart the coordinator has no state (Kafka keeps it in
//! `__transaction_state`; here it lives in memory), so transactions left open
//! in a recovered log are aborted by the tick once the default transaction
//! timeout has passed.
//!
//! Every node coordinates every transactional id: the one that FindCoordinator
//! names is the group coordinator node, as for groups.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use ferrokafka_protocol::ErrorCode;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::cluster::{Cluster, now_ms};
use crate::group::CommittedOffset;
use crate::log::{LogError, TxnMarker};

/// Kafka's `transaction.max.timeout.ms` default (15 minutes).
pub(crate) const MAX_TRANSACTION_TIMEOUT_MS: i32 = 900_000;
/// The Java producer's `transaction.timeout.ms` default, used for
/// transactions found open in a recovered log.
const DEFAULT_TRANSACTION_TIMEOUT_MS: u64 = 60_000;
/// How often the tick looks for expired transactions (Kafka checks every
/// 10 s; a shorter tick keeps timeouts in tests close to what they ask).
const TICK: Duration = Duration::from_millis(100);
/// Epochs stop short of `i16::MAX`, which Kafka keeps out of use.
const LAST_EPOCH: i16 = i16::MAX - 1;
/// The coordinator epoch written into markers: there is one coordinator.
const COORDINATOR_EPOCH: i32 = 0;
/// Kafka's `offset.metadata.max.bytes` default.
const OFFSET_METADATA_MAX_SIZE: usize = 4096;

/// Where a transaction stands (Kafka's `TransactionState`, without the
/// prepare states, which are never observed here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnStatus {
    /// No transaction since InitProducerId.
    Empty,
    /// Partitions or a group were added.
    Ongoing,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
}

impl TxnStatus {
    /// The state's name in DescribeTransactions and ListTransactions.
    pub(crate) fn name(self) -> &'static str {
        match self {
            TxnStatus::Empty => "Empty",
            TxnStatus::Ongoing => "Ongoing",
            TxnStatus::CompleteCommit => "CompleteCommit",
            TxnStatus::CompleteAbort => "CompleteAbort",
        }
    }
}

/// A transaction as DescribeTransactions and ListTransactions show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TxnDescription {
    pub(crate) transactional_id: String,
    pub(crate) status: TxnStatus,
    pub(crate) timeout_ms: i32,
    /// When the ongoing transaction started (ms since the epoch), or -1.
    pub(crate) start_time_ms: i64,
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    pub(crate) partitions: Vec<(String, i32)>,
}

/// One transactional id.
#[derive(Debug)]
struct TxnMetadata {
    producer_id: i64,
    producer_epoch: i16,
    timeout_ms: i32,
    status: TxnStatus,
    /// When the transaction became Ongoing.
    started: Instant,
    /// The same, in ms since the epoch (DescribeTransactions).
    started_ms: i64,
    partitions: BTreeSet<(String, i32)>,
    groups: BTreeSet<String>,
    /// (group, topic, partition) -> offset, applied on commit.
    pending_offsets: BTreeMap<(String, String, i32), CommittedOffset>,
}

impl TxnMetadata {
    fn expired(&self, now: Instant) -> bool {
        self.status == TxnStatus::Ongoing
            && now.saturating_duration_since(self.started)
                >= Duration::from_millis(u64::try_from(self.timeout_ms).unwrap_or(0))
    }

    /// Kafka's producer checks on AddPartitionsToTxn, AddOffsetsToTxn and
    /// EndTxn.
    fn check_producer(&self, producer_id: i64, producer_epoch: i16) -> Result<(), ErrorCode> {
        if producer_id != self.producer_id {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if producer_epoch != self.producer_epoch {
            return Err(ErrorCode::ProducerFenced);
        }
        Ok(())
    }

    fn begin(&mut self, now: Instant) {
        if self.status != TxnStatus::Ongoing {
            self.status = TxnStatus::Ongoing;
            self.started = now;
            self.started_ms = now_ms();
            self.partitions.clear();
            self.groups.clear();
            self.pending_offsets.clear();
        }
    }
}

/// A transaction found open in a recovered log, with no coordinator state.
#[derive(Debug)]
struct Orphan {
    topic: String,
    partition: i32,
    producer_id: i64,
    producer_epoch: i16,
}

#[derive(Debug, Default)]
struct State {
    by_id: HashMap<String, TxnMetadata>,
    shutdown: bool,
    /// Open transactions of recovered logs and when to abort them.
    orphans: Option<(Instant, Vec<Orphan>)>,
}

/// One partition's outcome in AddPartitionsToTxn.
pub(crate) type PartitionResults = Vec<(String, Vec<(i32, ErrorCode)>)>;

/// The transaction coordinator of a broker; one per [`Cluster`].
#[derive(Debug, Default)]
pub(crate) struct TransactionCoordinator {
    state: Mutex<State>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // State is consistent between statements; one panicking request must
    // not stop the others.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Writes `commit` or abort markers for `meta`'s partitions with `epoch`
/// and applies (commit) or drops its pending offsets; leaves it complete.
fn complete(cluster: &Cluster, meta: &mut TxnMetadata, commit: bool, epoch: i16) {
    let now = now_ms();
    let marker = TxnMarker {
        producer_id: meta.producer_id,
        producer_epoch: epoch,
        commit,
        coordinator_epoch: COORDINATOR_EPOCH,
    };
    for (topic, partition) in std::mem::take(&mut meta.partitions) {
        if let Err(error) = write_marker(cluster, &topic, partition, marker, now) {
            tracing::warn!(%topic, partition, error = %error.message, "cannot write a transaction marker");
        }
    }
    let offsets = release_pending(cluster, meta);
    if commit && !offsets.is_empty() {
        cluster.groups().apply_txn_offsets(offsets);
    }
    meta.groups.clear();
    meta.status = if commit {
        TxnStatus::CompleteCommit
    } else {
        TxnStatus::CompleteAbort
    };
    cluster.appended.notify_waiters();
}

/// Takes `meta`'s pending offsets, telling the group coordinator they are
/// no longer pending.
fn release_pending(cluster: &Cluster, meta: &mut TxnMetadata) -> Vec<CommittedOffset> {
    let pending = std::mem::take(&mut meta.pending_offsets);
    if pending.is_empty() {
        return Vec::new();
    }
    let keys: Vec<(String, String, i32)> = pending.keys().cloned().collect();
    cluster.groups().mark_txn_pending(&keys, false);
    pending.into_values().collect()
}

fn write_marker(
    cluster: &Cluster,
    topic: &str,
    partition: i32,
    marker: TxnMarker,
    now: i64,
) -> Result<i64, LogError> {
    let found = cluster
        .topic(topic)
        .ok_or_else(|| LogError::from(ErrorCode::UnknownTopicOrPartition))?;
    let entry = usize::try_from(partition)
        .ok()
        .and_then(|index| found.partitions.get(index))
        .ok_or_else(|| LogError::from(ErrorCode::UnknownTopicOrPartition))?;
    let settings = found.config.log_settings();
    entry
        .log
        .append_marker(marker, entry.leader_epoch, &settings, now)
}

/// The next epoch of `meta`, or a fresh producer id when epochs run out.
fn bump_epoch(cluster: &Cluster, meta: &mut TxnMetadata) -> Result<(), ErrorCode> {
    if meta.producer_epoch < LAST_EPOCH {
        meta.producer_epoch += 1;
    } else {
        let (id, epoch) = cluster.init_producer_id(None, -1, -1)?;
        meta.producer_id = id;
        meta.producer_epoch = epoch;
    }
    Ok(())
}

/// Aborts every transaction of `state` past its timeout, bumping the epoch
/// so the producer that let it expire is fenced.
fn expire(cluster: &Cluster, state: &mut State, now: Instant) {
    for (id, meta) in &mut state.by_id {
        if meta.expired(now) {
            tracing::info!(transactional_id = %id, "aborting a transaction past its timeout");
            let old_id = meta.producer_id;
            if bump_epoch(cluster, meta).is_ok() && meta.producer_id == old_id {
                let epoch = meta.producer_epoch;
                complete(cluster, meta, false, epoch);
            } else {
                // A fresh producer id: the markers belong to the old one.
                let mut old = TxnMetadata {
                    producer_id: old_id,
                    producer_epoch: LAST_EPOCH,
                    timeout_ms: meta.timeout_ms,
                    status: TxnStatus::Ongoing,
                    started: meta.started,
                    started_ms: meta.started_ms,
                    partitions: std::mem::take(&mut meta.partitions),
                    groups: BTreeSet::new(),
                    pending_offsets: BTreeMap::new(),
                };
                complete(cluster, &mut old, false, LAST_EPOCH);
                release_pending(cluster, meta);
                meta.groups.clear();
                meta.status = TxnStatus::CompleteAbort;
            }
        }
    }
    let due = state
        .orphans
        .as_ref()
        .is_some_and(|(deadline, orphans)| *deadline <= now && !orphans.is_empty());
    if due {
        let orphans = state
            .orphans
            .as_mut()
            .map(|(_, orphans)| std::mem::take(orphans))
            .unwrap_or_default();
        let live: BTreeSet<i64> = state.by_id.values().map(|meta| meta.producer_id).collect();
        for orphan in orphans {
            if live.contains(&orphan.producer_id) {
                continue;
            }
            let marker = TxnMarker {
                producer_id: orphan.producer_id,
                producer_epoch: orphan.producer_epoch,
                commit: false,
                coordinator_epoch: COORDINATOR_EPOCH,
            };
            if let Err(error) =
                write_marker(cluster, &orphan.topic, orphan.partition, marker, now_ms())
            {
                tracing::warn!(topic = %orphan.topic, error = %error.message, "cannot abort a recovered transaction");
            }
        }
        cluster.appended.notify_waiters();
    }
}

async fn run_ticker(cluster: Weak<Cluster>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let Some(cluster) = cluster.upgrade() else {
            return;
        };
        let mut state = lock(&cluster.txns.state);
        if state.shutdown {
            return;
        }
        expire(&cluster, &mut state, Instant::now());
    }
}

impl TransactionCoordinator {
    /// Starts the expiry tick if it is not running (and not shut down), and
    /// notes the open transactions of recovered logs the first time.
    pub(crate) fn ensure_ticker(&self, cluster: &Arc<Cluster>) {
        let mut ticker = lock(&self.ticker);
        if ticker.is_some() {
            return;
        }
        {
            let mut state = lock(&self.state);
            if state.shutdown {
                return;
            }
            if state.orphans.is_none() {
                let mut orphans = Vec::new();
                for topic in cluster.topics() {
                    for (index, entry) in topic.partitions.iter().enumerate() {
                        for (producer_id, producer_epoch) in entry.log.ongoing_transactions() {
                            orphans.push(Orphan {
                                topic: topic.name.clone(),
                                partition: i32::try_from(index).unwrap_or(i32::MAX),
                                producer_id,
                                producer_epoch,
                            });
                        }
                    }
                }
                let deadline =
                    Instant::now() + Duration::from_millis(DEFAULT_TRANSACTION_TIMEOUT_MS);
                state.orphans = Some((deadline, orphans));
            }
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            *ticker = Some(runtime.spawn(run_ticker(Arc::downgrade(cluster))));
        }
    }

    /// Stops the tick; later transactional requests still work, but
    /// timeouts are only checked on requests.
    pub(crate) fn shutdown(&self) {
        lock(&self.state).shutdown = true;
        if let Some(task) = lock(&self.ticker).take() {
            task.abort();
        }
    }

    /// InitProducerId for `transactional_id`: `(producer id, epoch)`.
    /// `expected` is the producer's current id and epoch (KIP-360, v3+) or
    /// `(-1, -1)`.
    pub(crate) fn init_producer_id(
        &self,
        cluster: &Cluster,
        transactional_id: &str,
        timeout_ms: i32,
        expected: (i64, i16),
    ) -> Result<(i64, i16), ErrorCode> {
        if transactional_id.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        if timeout_ms <= 0 || timeout_ms > MAX_TRANSACTION_TIMEOUT_MS {
            return Err(ErrorCode::InvalidTransactionTimeout);
        }
        let mut state = lock(&self.state);
        let now = Instant::now();
        expire(cluster, &mut state, now);
        let Some(meta) = state.by_id.get_mut(transactional_id) else {
            let (producer_id, producer_epoch) = cluster.init_producer_id(None, -1, -1)?;
            state.by_id.insert(
                transactional_id.to_owned(),
                TxnMetadata {
                    producer_id,
                    producer_epoch,
                    timeout_ms,
                    status: TxnStatus::Empty,
                    started: now,
                    started_ms: -1,
                    partitions: BTreeSet::new(),
                    groups: BTreeSet::new(),
                    pending_offsets: BTreeMap::new(),
                },
            );
            return Ok((producer_id, producer_epoch));
        };
        let (expected_id, expected_epoch) = expected;
        if expected_id >= 0 {
            if expected_id != meta.producer_id {
                return Err(ErrorCode::InvalidProducerIdMapping);
            }
            if expected_epoch != meta.producer_epoch {
                return Err(ErrorCode::ProducerFenced);
            }
        }
        let old_id = meta.producer_id;
        bump_epoch(cluster, meta)?;
        if meta.status == TxnStatus::Ongoing {
            // Kafka aborts with the bumped epoch and answers
            // CONCURRENT_TRANSACTIONS until the markers are written; here
            // they are written now.
            let epoch = if meta.producer_id == old_id {
                meta.producer_epoch
            } else {
                LAST_EPOCH
            };
            let new_id = meta.producer_id;
            meta.producer_id = old_id;
            complete(cluster, meta, false, epoch);
            meta.producer_id = new_id;
        }
        meta.status = TxnStatus::Empty;
        meta.timeout_ms = timeout_ms;
        Ok((meta.producer_id, meta.producer_epoch))
    }

    /// AddPartitionsToTxn for one transaction: the per-partition outcome,
    /// or one error for the whole transaction. With `verify_only`, only
    /// checks that the partitions are in the ongoing transaction.
    pub(crate) fn add_partitions(
        &self,
        cluster: &Cluster,
        transactional_id: &str,
        producer: (i64, i16),
        topics: &[(String, Vec<i32>)],
        verify_only: bool,
    ) -> Result<PartitionResults, ErrorCode> {
        let mut state = lock(&self.state);
        let now = Instant::now();
        expire(cluster, &mut state, now);
        let meta = state
            .by_id
            .get_mut(transactional_id)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        meta.check_producer(producer.0, producer.1)?;
        if verify_only {
            return Ok(topics
                .iter()
                .map(|(topic, partitions)| {
                    let results = partitions
                        .iter()
                        .map(|p| {
                            let added = meta.status == TxnStatus::Ongoing
                                && meta.partitions.contains(&(topic.clone(), *p));
                            let code = if added {
                                ErrorCode::None
                            } else {
                                ErrorCode::InvalidTxnState
                            };
                            (*p, code)
                        })
                        .collect();
                    (topic.clone(), results)
                })
                .collect());
        }
        let unknown = |topic: &str, partition: i32| !cluster.partition_exists(topic, partition);
        let any_unknown = topics
            .iter()
            .any(|(topic, partitions)| partitions.iter().any(|p| unknown(topic, *p)));
        let results = topics
            .iter()
            .map(|(topic, partitions)| {
                let results = partitions
                    .iter()
                    .map(|p| {
                        let code = if unknown(topic, *p) {
                            ErrorCode::UnknownTopicOrPartition
                        } else if any_unknown {
                            ErrorCode::OperationNotAttempted
                        } else {
                            ErrorCode::None
                        };
                        (*p, code)
                    })
                    .collect();
                (topic.clone(), results)
            })
            .collect();
        if !any_unknown {
            meta.begin(now);
            for (topic, partitions) in topics {
                for partition in partitions {
                    meta.partitions.insert((topic.clone(), *partition));
                }
            }
        }
        Ok(results)
    }

    /// AddOffsetsToTxn: `group_id`'s offsets join the transaction.
    pub(crate) fn add_offsets(
        &self,
        cluster: &Cluster,
        transactional_id: &str,
        producer: (i64, i16),
        group_id: &str,
    ) -> Result<(), ErrorCode> {
        let mut state = lock(&self.state);
        let now = Instant::now();
        expire(cluster, &mut state, now);
        let meta = state
            .by_id
            .get_mut(transactional_id)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        meta.check_producer(producer.0, producer.1)?;
        meta.begin(now);
        meta.groups.insert(group_id.to_owned());
        Ok(())
    }

    /// TxnOffsetCommit: checks the producer and the group member, then
    /// holds each partition's offset until the transaction ends. Returns a
    /// code per partition, in request order.
    pub(crate) fn txn_offset_commit(
        &self,
        cluster: &Cluster,
        request: &TxnOffsetCommit<'_>,
        partitions: &[(String, i32, i64, i32, Option<String>)],
    ) -> Vec<ErrorCode> {
        let all = |code: ErrorCode| vec![code; partitions.len()];
        let mut state = lock(&self.state);
        let now = Instant::now();
        expire(cluster, &mut state, now);
        let Some(meta) = state.by_id.get_mut(request.transactional_id) else {
            return all(ErrorCode::InvalidProducerIdMapping);
        };
        if meta.producer_id != request.producer_id {
            return all(ErrorCode::InvalidProducerIdMapping);
        }
        if meta.producer_epoch != request.producer_epoch {
            return all(ErrorCode::InvalidProducerEpoch);
        }
        if meta.status != TxnStatus::Ongoing || !meta.groups.contains(request.group_id) {
            return all(ErrorCode::InvalidTxnState);
        }
        if let Err(code) = cluster.groups().validate_txn_offset_commit(
            request.group_id,
            request.member_id,
            request.group_instance_id,
            request.generation_id,
        ) {
            return all(code);
        }
        let timestamp = now_ms();
        partitions
            .iter()
            .map(|(topic, partition, offset, leader_epoch, metadata)| {
                let metadata = metadata.clone().unwrap_or_default();
                if !cluster.partition_exists(topic, *partition) {
                    ErrorCode::UnknownTopicOrPartition
                } else if metadata.encode_utf16().count() > OFFSET_METADATA_MAX_SIZE {
                    ErrorCode::OffsetMetadataTooLarge
                } else {
                    let key = (request.group_id.to_owned(), topic.clone(), *partition);
                    if !meta.pending_offsets.contains_key(&key) {
                        cluster
                            .groups()
                            .mark_txn_pending(std::slice::from_ref(&key), true);
                    }
                    meta.pending_offsets.insert(
                        key,
                        CommittedOffset {
                            group_id: request.group_id.to_owned(),
                            topic: topic.clone(),
                            partition: *partition,
                            offset: *offset,
                            leader_epoch: *leader_epoch,
                            metadata: Some(metadata),
                            commit_timestamp_ms: timestamp,
                        },
                    );
                    ErrorCode::None
                }
            })
            .collect()
    }

    /// EndTxn: commit or abort the ongoing transaction.
    pub(crate) fn end_txn(
        &self,
        cluster: &Cluster,
        transactional_id: &str,
        producer: (i64, i16),
        commit: bool,
    ) -> Result<(), ErrorCode> {
        let mut state = lock(&self.state);
        expire(cluster, &mut state, Instant::now());
        let meta = state
            .by_id
            .get_mut(transactional_id)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        meta.check_producer(producer.0, producer.1)?;
        match (meta.status, commit) {
            (TxnStatus::Ongoing, _) => {
                let epoch = meta.producer_epoch;
                complete(cluster, meta, commit, epoch);
                Ok(())
            }
            // A retried EndTxn that already completed.
            (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) => Ok(()),
            _ => Err(ErrorCode::InvalidTxnState),
        }
    }

    /// Every transactional id the coordinator knows, by id.
    pub(crate) fn describe_all(&self, cluster: &Cluster) -> Vec<TxnDescription> {
        let mut state = lock(&self.state);
        expire(cluster, &mut state, Instant::now());
        let mut all: Vec<TxnDescription> = state
            .by_id
            .iter()
            .map(|(id, meta)| TxnDescription {
                transactional_id: id.clone(),
                status: meta.status,
                timeout_ms: meta.timeout_ms,
                start_time_ms: if meta.status == TxnStatus::Ongoing {
                    meta.started_ms
                } else {
                    -1
                },
                producer_id: meta.producer_id,
                producer_epoch: meta.producer_epoch,
                partitions: meta.partitions.iter().cloned().collect(),
            })
            .collect();
        all.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        all
    }

    /// Appends a transactional batch of `producer` to `topic`-`partition`
    /// with `append`, if the partition is in the producer's ongoing
    /// transaction (INVALID_TXN_STATE otherwise; INVALID_PRODUCER_EPOCH for
    /// an older epoch). The coordinator stays locked during the append, so
    /// a batch cannot land after the transaction's marker.
    pub(crate) fn append_transactional<R>(
        &self,
        producer: (i64, i16),
        topic: &str,
        partition: i32,
        append: impl FnOnce() -> Result<R, LogError>,
    ) -> Result<R, LogError> {
        let state = lock(&self.state);
        let meta = state
            .by_id
            .values()
            .find(|meta| meta.producer_id == producer.0);
        match meta {
            None => Err(LogError::new(
                ErrorCode::InvalidTxnState,
                "the producer id has no transaction",
            )),
            Some(meta) if producer.1 < meta.producer_epoch => Err(LogError::new(
                ErrorCode::InvalidProducerEpoch,
                format!(
                    "producer epoch {} is older than the current epoch {}",
                    producer.1, meta.producer_epoch
                ),
            )),
            Some(meta)
                if meta.status != TxnStatus::Ongoing
                    || !meta.partitions.contains(&(topic.to_owned(), partition)) =>
            {
                Err(LogError::new(
                    ErrorCode::InvalidTxnState,
                    format!(
                        "{topic}-{partition} is not part of the producer's ongoing transaction"
                    ),
                ))
            }
            Some(_) => append(),
        }
    }
}

/// The request-level fields of a TxnOffsetCommit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxnOffsetCommit<'a> {
    pub(crate) transactional_id: &'a str,
    pub(crate) group_id: &'a str,
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    pub(crate) generation_id: i32,
    pub(crate) member_id: &'a str,
    pub(crate) group_instance_id: Option<&'a str>,
}
