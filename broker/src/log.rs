//! A partition's log: the record batches it holds, exactly as producers sent
//! them (base offset, leader epoch and LogAppendTime patched in place, never
//! re-encoded), with its log start offset, high watermark, leader-epoch
//! history and the idempotent-producer state of KIP-98.
//!
//! The log is the serving copy and lives in memory; with a data directory,
//! every append also goes to the partition's [`PartitionStore`] and the log
//! is rebuilt from it on restart (producer state included: batch headers
//! carry producer id, epoch and sequences, which is also how Kafka rebuilds
//! it). There is no replication, so the high watermark is the log end offset.
//!
//! Transactions (KIP-98): the log tracks, per producer, the first offset of
//! its ongoing transaction (the first transactional batch since its last
//! marker) and keeps an index of aborted transactions (producer id, first
//! offset, marker offset). The last stable offset is the smallest first
//! offset of an ongoing transaction, or the high watermark when none is
//! open; a READ_COMMITTED read stops there and lists the aborted
//! transactions overlapping what it returns. Markers are control batches
//! stored like any other batch, so a restart rebuilds both from the log:
//! transactional batches without a marker are ongoing again (the
//! coordinator aborts them, see [`crate::txn`]).
//!
//! Retention (`retention.ms` by batch max timestamp, `retention.bytes` by
//! total size) is applied whenever the log is appended to or read, so its
//! effect is observable without a background task.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};

use bytes::{Bytes, BytesMut};
use ferrokafka_protocol::ErrorCode;
use ferrokafka_protocol::records::{
    ControlRecordKind, DecodeOptions, MAGIC_OFFSET, NO_PRODUCER_ID, NO_SEQUENCE, RecordBatch,
    RecordBatchHeader, RecordBatchMut, RecordBatchView, RecordBatchViews, end_transaction_batch,
    increment_sequence,
};

use crate::storage::PartitionStore;
use crate::topic_config::LogSettings;

/// How many batches per producer are remembered for duplicate detection
/// (Kafka's `NUM_BATCHES_TO_RETAIN`; clients keep at most 5 in flight).
const PRODUCER_BATCHES_RETAINED: usize = 5;

/// A Kafka error code with the message that goes with it in a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogError {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
}

impl LogError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<ErrorCode> for LogError {
    fn from(code: ErrorCode) -> Self {
        Self::new(code, code.description())
    }
}

/// One stored batch and what the broker needs to know about it without
/// parsing it again.
#[derive(Debug, Clone)]
pub(crate) struct StoredBatch {
    pub(crate) last_offset: i64,
    pub(crate) max_timestamp: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) bytes: Bytes,
}

/// A batch remembered for a producer's duplicate detection.
#[derive(Debug, Clone, Copy)]
struct ProducerBatch {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: i64,
    log_append_time_ms: i64,
}

#[derive(Debug, Clone, Default)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<ProducerBatch>,
}

/// The outcome of a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Appended {
    pub(crate) base_offset: i64,
    /// The LogAppendTime given to the batches, or -1 under CreateTime.
    pub(crate) log_append_time_ms: i64,
    pub(crate) log_start_offset: i64,
    /// Whether this was an already-appended duplicate (nothing was written).
    pub(crate) duplicate: bool,
}

/// What a fetch reads from one partition.
#[derive(Debug, Clone)]
pub(crate) struct ReadResult {
    pub(crate) records: Bytes,
    pub(crate) high_watermark: i64,
    pub(crate) log_start_offset: i64,
    /// The last stable offset (KIP-98).
    pub(crate) last_stable_offset: i64,
    /// For a READ_COMMITTED read, the aborted transactions overlapping the
    /// records returned: (producer id, first offset), by first offset.
    pub(crate) aborted: Option<Vec<(i64, i64)>>,
}

/// The offsets a partition reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogOffsets {
    pub(crate) log_start_offset: i64,
    pub(crate) high_watermark: i64,
    /// The last stable offset (KIP-98).
    pub(crate) last_stable_offset: i64,
}

/// An aborted transaction in a partition: who, from where, and the offset
/// of its ABORT marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct AbortedTxn {
    producer_id: i64,
    first_offset: i64,
    last_offset: i64,
}

/// A transaction end marker to append (see [`PartitionLog::append_marker`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TxnMarker {
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    pub(crate) commit: bool,
    pub(crate) coordinator_epoch: i32,
}

#[derive(Debug, Default)]
struct LogState {
    batches: VecDeque<StoredBatch>,
    log_start_offset: i64,
    next_offset: i64,
    size_bytes: u64,
    /// (leader epoch, first offset written in it), ascending.
    epochs: Vec<(i32, i64)>,
    producers: HashMap<i64, ProducerEntry>,
    /// Producer id -> first offset of its ongoing transaction.
    ongoing_txns: HashMap<i64, i64>,
    /// Aborted transactions, in marker (last offset) order.
    aborted_txns: Vec<AbortedTxn>,
    store: Option<PartitionStore>,
}

/// One partition's log; shared by the handlers, locked per operation.
#[derive(Debug, Default)]
pub(crate) struct PartitionLog {
    state: Mutex<LogState>,
}

/// Checks the `records` of a produce request and splits them into batches:
/// magic 2 only, CRC-32C valid, record count matching the offset delta, no
/// trailing bytes, each batch within `max.message.bytes`, timestamps within
/// the topic's bounds (CreateTime topics), and (Kafka's rule for Produce v3+)
/// exactly one batch. Records are decoded (read-only) only for compacted
/// topics, where each needs a key, as Kafka requires.
pub(crate) fn validate_produce_records(
    records: Option<&Bytes>,
    produce_version: i16,
    settings: &LogSettings,
    now_ms: i64,
) -> Result<Vec<RecordBatchView>, LogError> {
    let Some(records) = records.filter(|records| !records.is_empty()) else {
        return Err(LogError::new(
            ErrorCode::InvalidRecord,
            "produce request without records",
        ));
    };
    if records.get(MAGIC_OFFSET).is_some_and(|magic| *magic != 2) {
        return Err(LogError::new(
            ErrorCode::InvalidRecord,
            "only magic v2 record batches are accepted",
        ));
    }
    let mut views = RecordBatchViews::new(records.clone());
    let mut batches = Vec::new();
    for view in views.by_ref() {
        let view =
            view.map_err(|error| LogError::new(ErrorCode::CorruptMessage, error.to_string()))?;
        if view.bytes().len() > settings.max_message_bytes {
            return Err(LogError::new(
                ErrorCode::MessageTooLarge,
                format!(
                    "record batch of {} bytes exceeds max.message.bytes {}",
                    view.bytes().len(),
                    settings.max_message_bytes
                ),
            ));
        }
        view.verify_crc()
            .map_err(|error| LogError::new(ErrorCode::CorruptMessage, error.to_string()))?;
        let header = view.header();
        if header.record_count < 1
            || i64::from(header.last_offset_delta) != i64::from(header.record_count) - 1
        {
            return Err(LogError::new(
                ErrorCode::InvalidRecord,
                format!(
                    "record count {} does not match last offset delta {}",
                    header.record_count, header.last_offset_delta
                ),
            ));
        }
        if header.is_control() {
            return Err(LogError::new(
                ErrorCode::InvalidRecord,
                "clients may not write control batches",
            ));
        }
        if !settings.log_append_time {
            check_timestamps(header, settings, now_ms)?;
        }
        if settings.compacted {
            check_keys(&view)?;
        }
        batches.push(view);
    }
    if !views.remainder().is_empty() {
        return Err(LogError::new(
            ErrorCode::CorruptMessage,
            "records end with a partial batch",
        ));
    }
    if batches.is_empty() {
        return Err(LogError::new(
            ErrorCode::InvalidRecord,
            "produce request without records",
        ));
    }
    if produce_version >= 3 && batches.len() > 1 {
        return Err(LogError::new(
            ErrorCode::InvalidRecord,
            "produce requests from version 3 must contain exactly one record batch",
        ));
    }
    Ok(batches)
}

/// INVALID_TIMESTAMP for a batch whose largest timestamp is too far ahead or
/// whose first timestamp is too far behind `now_ms`.
fn check_timestamps(
    header: &RecordBatchHeader,
    settings: &LogSettings,
    now_ms: i64,
) -> Result<(), LogError> {
    let latest_allowed = now_ms.saturating_add(settings.timestamp_after_max_ms);
    let earliest_allowed = now_ms.saturating_sub(settings.timestamp_before_max_ms);
    if header.max_timestamp > latest_allowed || header.base_timestamp < earliest_allowed {
        return Err(LogError::new(
            ErrorCode::InvalidTimestamp,
            format!(
                "timestamps {}..={} are outside the topic's range {earliest_allowed}..={latest_allowed}",
                header.base_timestamp, header.max_timestamp
            ),
        ));
    }
    Ok(())
}

/// INVALID_RECORD for a record without a key in a batch for a compacted
/// topic; CORRUPT_MESSAGE if the records do not decode.
fn check_keys(view: &RecordBatchView) -> Result<(), LogError> {
    let decoded = view
        .decode(&DecodeOptions::default().with_verify_crc(false))
        .map_err(|error| LogError::new(ErrorCode::CorruptMessage, error.to_string()))?;
    if decoded.records.iter().any(|record| record.key.is_none()) {
        return Err(LogError::new(
            ErrorCode::InvalidRecord,
            "Compacted topic cannot accept message without key.",
        ));
    }
    Ok(())
}

impl PartitionLog {
    /// An empty log, optionally backed by `store`.
    pub(crate) fn new(store: Option<PartitionStore>) -> Self {
        Self {
            state: Mutex::new(LogState {
                store,
                ..LogState::default()
            }),
        }
    }

    /// A log rebuilt from batches recovered from disk (already validated and
    /// in offset order) and the persisted log start offset.
    pub(crate) fn recovered(
        store: PartitionStore,
        batches: Vec<Bytes>,
        log_start_offset: i64,
    ) -> Self {
        let mut state = LogState {
            store: Some(store),
            ..LogState::default()
        };
        for bytes in batches {
            let Ok(header) = RecordBatchHeader::parse(&bytes) else {
                continue;
            };
            state.remember_producer(&header, -1);
            state.track_transaction(&header, &bytes);
            state.push_batch(&header, bytes);
        }
        state.log_start_offset = log_start_offset.clamp(0, state.next_offset);
        state.drop_below_log_start();
        Self {
            state: Mutex::new(state),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LogState> {
        // A handler that panicked while holding the lock left the log in a
        // state it had finished or not started writing; serving it beats
        // taking the whole broker down.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Log start offset and high watermark.
    pub(crate) fn offsets(&self, settings: &LogSettings, now_ms: i64) -> LogOffsets {
        let mut state = self.lock();
        state.enforce_retention(settings, now_ms);
        LogOffsets {
            log_start_offset: state.log_start_offset,
            high_watermark: state.next_offset,
            last_stable_offset: state.last_stable_offset(),
        }
    }

    /// The producer ids with a transaction open in this log and their
    /// epochs (for the coordinator's clean-up after a restart).
    pub(crate) fn ongoing_transactions(&self) -> Vec<(i64, i16)> {
        let state = self.lock();
        let mut ongoing: Vec<(i64, i16)> = state
            .ongoing_txns
            .keys()
            .map(|id| (*id, state.producers.get(id).map_or(0, |entry| entry.epoch)))
            .collect();
        ongoing.sort_unstable();
        ongoing
    }

    /// Appends a transaction marker (a COMMIT or ABORT control batch) for
    /// `marker.producer_id`, closing its ongoing transaction here.
    pub(crate) fn append_marker(
        &self,
        marker: TxnMarker,
        leader_epoch: i32,
        settings: &LogSettings,
        now_ms: i64,
    ) -> Result<i64, LogError> {
        let kind = if marker.commit {
            ControlRecordKind::Commit
        } else {
            ControlRecordKind::Abort
        };
        let bytes = end_transaction_batch(
            kind,
            marker.producer_id,
            marker.producer_epoch,
            marker.coordinator_epoch,
            now_ms,
        )
        .map_err(|error| LogError::new(ErrorCode::CorruptMessage, error.to_string()))?;
        let mut state = self.lock();
        let mut settings = *settings;
        // A marker keeps the coordinator's timestamp.
        settings.log_append_time = false;
        let appended = state.append_one(bytes, leader_epoch, &settings, now_ms)?;
        if let Some(store) = state.store.as_mut() {
            store
                .flush()
                .map_err(|error| LogError::new(ErrorCode::KafkaStorageError, error.to_string()))?;
        }
        Ok(appended.base_offset)
    }

    /// Appends validated batches at the leader's `leader_epoch`, checking
    /// idempotent-producer sequences, and flushes if `flush` says so.
    pub(crate) fn append(
        &self,
        batches: Vec<RecordBatchView>,
        leader_epoch: i32,
        settings: &LogSettings,
        now_ms: i64,
        flush: bool,
    ) -> Result<Appended, LogError> {
        let mut state = self.lock();
        state.enforce_retention(settings, now_ms);
        let mut first: Option<Appended> = None;
        for view in batches {
            let header = *view.header();
            if let Some(duplicate) = state.check_producer(&header)? {
                first.get_or_insert(Appended {
                    base_offset: duplicate.base_offset,
                    log_append_time_ms: duplicate.log_append_time_ms,
                    log_start_offset: state.log_start_offset,
                    duplicate: true,
                });
                continue;
            }
            let appended =
                state.append_one(view.bytes().clone(), leader_epoch, settings, now_ms)?;
            first.get_or_insert(appended);
        }
        if flush {
            if let Some(store) = state.store.as_mut() {
                store.flush().map_err(|error| {
                    LogError::new(ErrorCode::KafkaStorageError, error.to_string())
                })?;
            }
        }
        first.ok_or_else(|| LogError::new(ErrorCode::InvalidRecord, "no batches to append"))
    }

    /// Reads whole batches from `fetch_offset` up to `max_bytes`, or the
    /// first batch whatever its size when `at_least_one` (KIP-74: a consumer
    /// must always be able to make progress).
    #[cfg(test)]
    pub(crate) fn read(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        at_least_one: bool,
        settings: &LogSettings,
        now_ms: i64,
    ) -> Result<ReadResult, LogError> {
        self.read_isolated(
            fetch_offset,
            max_bytes,
            at_least_one,
            false,
            settings,
            now_ms,
        )
    }

    /// Like [`PartitionLog::read`]; with `read_committed`, only batches
    /// below the last stable offset, and the aborted transactions that
    /// overlap them (Kafka's READ_COMMITTED fetch).
    pub(crate) fn read_isolated(
        &self,
        fetch_offset: i64,
        max_bytes: usize,
        at_least_one: bool,
        read_committed: bool,
        settings: &LogSettings,
        now_ms: i64,
    ) -> Result<ReadResult, LogError> {
        let mut state = self.lock();
        state.enforce_retention(settings, now_ms);
        if fetch_offset < state.log_start_offset || fetch_offset > state.next_offset {
            return Err(LogError::new(
                ErrorCode::OffsetOutOfRange,
                format!(
                    "fetch offset {fetch_offset} is outside {}..={}",
                    state.log_start_offset, state.next_offset
                ),
            ));
        }
        let first = state
            .batches
            .partition_point(|batch| batch.last_offset < fetch_offset);
        let last_stable_offset = state.last_stable_offset();
        let mut chosen: Vec<Bytes> = Vec::new();
        let mut total = 0usize;
        let mut end_offset = fetch_offset;
        for batch in state.batches.iter().skip(first) {
            if read_committed && batch.last_offset >= last_stable_offset {
                break;
            }
            let size = batch.bytes.len();
            let fits = total.saturating_add(size) <= max_bytes;
            if !(fits || chosen.is_empty() && at_least_one) {
                break;
            }
            total = total.saturating_add(size);
            chosen.push(batch.bytes.clone());
            end_offset = batch.last_offset.saturating_add(1);
            if !fits {
                break;
            }
        }
        let records = match chosen.len() {
            0 => Bytes::new(),
            1 => chosen.pop().unwrap_or_default(),
            _ => {
                let mut joined = BytesMut::with_capacity(total);
                for bytes in &chosen {
                    joined.extend_from_slice(bytes);
                }
                joined.freeze()
            }
        };
        let aborted = read_committed.then(|| {
            state
                .aborted_txns
                .iter()
                .filter(|txn| txn.last_offset >= fetch_offset && txn.first_offset < end_offset)
                .map(|txn| (txn.producer_id, txn.first_offset))
                .collect()
        });
        Ok(ReadResult {
            records,
            high_watermark: state.next_offset,
            log_start_offset: state.log_start_offset,
            last_stable_offset,
            aborted,
        })
    }

    /// Moves the log start offset up to `offset` (-1: the high watermark),
    /// as DeleteRecords does; returns the new low watermark.
    pub(crate) fn delete_records(&self, offset: i64) -> Result<i64, LogError> {
        let mut state = self.lock();
        let target = if offset == -1 {
            state.next_offset
        } else {
            offset
        };
        if target < 0 || target > state.next_offset {
            return Err(LogError::new(
                ErrorCode::OffsetOutOfRange,
                format!(
                    "offset {offset} is beyond the high watermark {}",
                    state.next_offset
                ),
            ));
        }
        if target > state.log_start_offset {
            state.log_start_offset = target;
            state.drop_below_log_start();
        }
        Ok(state.log_start_offset)
    }

    /// The first record at or after `timestamp`: (offset, timestamp, epoch).
    pub(crate) fn offset_for_timestamp(&self, timestamp: i64) -> Option<(i64, i64, i32)> {
        let state = self.lock();
        let log_start = state.log_start_offset;
        state
            .batches
            .iter()
            .filter(|batch| batch.max_timestamp >= timestamp)
            .find_map(|batch| {
                first_record_at(batch, timestamp, log_start)
                    .map(|(offset, ts)| (offset, ts, batch.leader_epoch))
            })
    }

    /// The record with the largest timestamp (the first of equals):
    /// (offset, timestamp, epoch), for ListOffsets' MAX_TIMESTAMP (KIP-734).
    pub(crate) fn max_timestamp_offset(&self) -> Option<(i64, i64, i32)> {
        let state = self.lock();
        let batch = state
            .batches
            .iter()
            .fold(None::<&StoredBatch>, |best, batch| match best {
                Some(best) if best.max_timestamp >= batch.max_timestamp => Some(best),
                _ => Some(batch),
            })?;
        first_record_at(batch, batch.max_timestamp, state.log_start_offset)
            .map(|(offset, ts)| (offset, ts, batch.leader_epoch))
    }

    /// For OffsetForLeaderEpoch: the largest epoch not above `epoch` and the
    /// offset where it ended, or `(-1, -1)` when `epoch` predates the log.
    pub(crate) fn end_offset_for_epoch(&self, epoch: i32, current_epoch: i32) -> (i32, i64) {
        let state = self.lock();
        if epoch < 0 {
            return (-1, -1);
        }
        // Kafka's leader writes its epoch into the cache when it becomes
        // leader, at the log end offset; do the same on the fly.
        let mut epochs = state.epochs.clone();
        if epochs.last().is_none_or(|(last, _)| *last < current_epoch) {
            epochs.push((current_epoch, state.next_offset));
        }
        let position = epochs.partition_point(|(e, _)| *e <= epoch);
        let Some((found, _)) = position.checked_sub(1).and_then(|index| epochs.get(index)) else {
            return (-1, -1);
        };
        let end = epochs
            .get(position)
            .map_or(state.next_offset, |(_, start)| *start);
        (*found, end)
    }

    /// Every stored batch, as a fetch would serve it.
    pub(crate) fn batches(&self) -> Vec<Bytes> {
        self.lock()
            .batches
            .iter()
            .map(|batch| batch.bytes.clone())
            .collect()
    }

    /// The leader epoch of the last batch, or -1 for an empty log.
    pub(crate) fn latest_epoch(&self) -> i32 {
        self.lock().epochs.last().map_or(-1, |(epoch, _)| *epoch)
    }

    /// Forces appended data to disk.
    pub(crate) fn flush(&self) -> std::io::Result<()> {
        match self.lock().store.as_mut() {
            Some(store) => store.flush(),
            None => Ok(()),
        }
    }

    /// Removes the log's files (the topic was deleted).
    pub(crate) fn delete_files(&self) {
        if let Some(store) = self.lock().store.take() {
            store.delete();
        }
    }
}

/// Decodes `batch` (read-only) to find its first record at or after
/// `timestamp` and at or after `log_start`.
fn first_record_at(batch: &StoredBatch, timestamp: i64, log_start: i64) -> Option<(i64, i64)> {
    let view = RecordBatchView::new(batch.bytes.clone()).ok()?;
    let decoded = view
        .decode(&DecodeOptions::default().with_verify_crc(false))
        .ok()?;
    decoded
        .records
        .iter()
        .find(|record| record.timestamp >= timestamp && record.offset >= log_start)
        .map(|record| (record.offset, record.timestamp))
}

impl LogState {
    /// The first offset of the oldest ongoing transaction, or the high
    /// watermark.
    fn last_stable_offset(&self) -> i64 {
        self.ongoing_txns
            .values()
            .copied()
            .min()
            .map_or(self.next_offset, |first| first.min(self.next_offset))
    }

    /// Appends one checked batch (`bytes` as the producer or coordinator
    /// built it): patches base offset, leader epoch and LogAppendTime,
    /// writes it to the store, and updates producer and transaction state.
    fn append_one(
        &mut self,
        bytes: Bytes,
        leader_epoch: i32,
        settings: &LogSettings,
        now_ms: i64,
    ) -> Result<Appended, LogError> {
        let mut bytes = BytesMut::from(bytes.as_ref());
        let base_offset = self.next_offset;
        let log_append_time_ms = if settings.log_append_time { now_ms } else { -1 };
        {
            let mut batch = RecordBatchMut::new(&mut bytes)
                .map_err(|error| LogError::new(ErrorCode::CorruptMessage, error.to_string()))?;
            batch.set_base_offset(base_offset);
            batch.set_partition_leader_epoch(leader_epoch);
            if settings.log_append_time {
                // The CRC was verified during validation, so recomputing
                // it here cannot bless a corrupted batch.
                batch.set_log_append_time(now_ms);
            }
        }
        let bytes = bytes.freeze();
        let header = RecordBatchHeader::parse(&bytes)
            .map_err(|error| LogError::new(ErrorCode::CorruptMessage, error.to_string()))?;
        if let Some(store) = self.store.as_mut() {
            store
                .append(&bytes, header.base_offset, settings.segment_bytes)
                .map_err(|error| LogError::new(ErrorCode::KafkaStorageError, error.to_string()))?;
        }
        self.remember_producer(&header, log_append_time_ms);
        self.track_transaction(&header, &bytes);
        if self
            .epochs
            .last()
            .is_none_or(|(epoch, _)| *epoch < leader_epoch)
        {
            self.epochs.push((leader_epoch, base_offset));
        }
        self.push_batch(&header, bytes);
        Ok(Appended {
            base_offset,
            log_append_time_ms,
            log_start_offset: self.log_start_offset,
            duplicate: false,
        })
    }

    /// KIP-98 bookkeeping for an appended batch: a transactional batch opens
    /// (or continues) its producer's transaction; a marker closes it, and an
    /// ABORT marker records the aborted range.
    fn track_transaction(&mut self, header: &RecordBatchHeader, bytes: &Bytes) {
        if !header.is_transactional() || header.producer_id == NO_PRODUCER_ID {
            return;
        }
        if !header.is_control() {
            self.ongoing_txns
                .entry(header.producer_id)
                .or_insert(header.base_offset);
            return;
        }
        let kind = RecordBatch::decode(&mut bytes.clone(), &DecodeOptions::default())
            .ok()
            .and_then(|batch| batch.control_record())
            .and_then(Result::ok)
            .map(|record| record.kind);
        let first = match kind {
            Some(ControlRecordKind::Commit | ControlRecordKind::Abort) => {
                self.ongoing_txns.remove(&header.producer_id)
            }
            _ => return,
        };
        // A marker carries the coordinator's (possibly bumped) epoch: older
        // epochs are fenced from here on.
        let entry = self.producers.entry(header.producer_id).or_default();
        if header.producer_epoch > entry.epoch {
            entry.epoch = header.producer_epoch;
            entry.batches.clear();
        }
        if let (Some(ControlRecordKind::Abort), Some(first_offset)) = (kind, first) {
            self.aborted_txns.push(AbortedTxn {
                producer_id: header.producer_id,
                first_offset,
                last_offset: header.base_offset,
            });
        }
    }

    fn push_batch(&mut self, header: &RecordBatchHeader, bytes: Bytes) {
        self.size_bytes = self.size_bytes.saturating_add(bytes.len() as u64);
        self.next_offset = header.next_offset();
        self.batches.push_back(StoredBatch {
            last_offset: header.last_offset(),
            max_timestamp: header.max_timestamp,
            leader_epoch: header.partition_leader_epoch,
            bytes,
        });
        if self
            .epochs
            .last()
            .is_none_or(|(epoch, _)| *epoch < header.partition_leader_epoch)
        {
            self.epochs
                .push((header.partition_leader_epoch, header.base_offset));
        }
    }

    /// KIP-98 checks for a batch about to be appended: an older epoch is
    /// fenced, a remembered batch is a duplicate (answered with its original
    /// offset), a sequence that does not follow the last one is out of order.
    fn check_producer(
        &self,
        header: &RecordBatchHeader,
    ) -> Result<Option<ProducerBatch>, LogError> {
        if header.producer_id == NO_PRODUCER_ID || header.base_sequence == NO_SEQUENCE {
            return Ok(None);
        }
        let Some(entry) = self.producers.get(&header.producer_id) else {
            // A producer the partition has no state for (new, or its state
            // went with retention) may start at any sequence, as in Kafka.
            return Ok(None);
        };
        if header.producer_epoch < entry.epoch {
            return Err(LogError::new(
                ErrorCode::InvalidProducerEpoch,
                format!(
                    "producer epoch {} is older than the current epoch {}",
                    header.producer_epoch, entry.epoch
                ),
            ));
        }
        if header.producer_epoch > entry.epoch {
            if header.base_sequence != 0 {
                return Err(LogError::new(
                    ErrorCode::OutOfOrderSequenceNumber,
                    format!("invalid sequence {} for a new epoch", header.base_sequence),
                ));
            }
            return Ok(None);
        }
        let last_sequence = header.last_sequence();
        if let Some(duplicate) = entry.batches.iter().find(|batch| {
            batch.first_sequence == header.base_sequence && batch.last_sequence == last_sequence
        }) {
            return Ok(Some(*duplicate));
        }
        let expected = entry
            .batches
            .back()
            .map_or(0, |batch| increment_sequence(batch.last_sequence, 1));
        if entry.batches.back().is_some() && header.base_sequence != expected {
            return Err(LogError::new(
                ErrorCode::OutOfOrderSequenceNumber,
                format!("expected sequence {expected}, got {}", header.base_sequence),
            ));
        }
        Ok(None)
    }

    fn remember_producer(&mut self, header: &RecordBatchHeader, log_append_time_ms: i64) {
        if header.producer_id == NO_PRODUCER_ID || header.base_sequence == NO_SEQUENCE {
            return;
        }
        let entry = self.producers.entry(header.producer_id).or_default();
        if header.producer_epoch != entry.epoch {
            entry.epoch = header.producer_epoch;
            entry.batches.clear();
        }
        entry.batches.push_back(ProducerBatch {
            first_sequence: header.base_sequence,
            last_sequence: header.last_sequence(),
            base_offset: header.base_offset,
            log_append_time_ms,
        });
        while entry.batches.len() > PRODUCER_BATCHES_RETAINED {
            entry.batches.pop_front();
        }
    }

    fn enforce_retention(&mut self, settings: &LogSettings, now_ms: i64) {
        let mut new_start = self.log_start_offset;
        let mut size = self.size_bytes;
        for batch in &self.batches {
            let expired = settings
                .retention_ms
                .is_some_and(|ms| now_ms.saturating_sub(batch.max_timestamp) > ms);
            let oversized = settings.retention_bytes.is_some_and(|max| size > max);
            if !expired && !oversized {
                break;
            }
            size = size.saturating_sub(batch.bytes.len() as u64);
            new_start = new_start.max(batch.last_offset.saturating_add(1));
        }
        if new_start > self.log_start_offset {
            self.log_start_offset = new_start;
            self.drop_below_log_start();
        }
    }

    /// Drops the batches wholly below the log start offset (a batch that
    /// straddles it stays: batches are never split) and tells the store.
    fn drop_below_log_start(&mut self) {
        while self
            .batches
            .front()
            .is_some_and(|batch| batch.last_offset < self.log_start_offset)
        {
            if let Some(batch) = self.batches.pop_front() {
                self.size_bytes = self.size_bytes.saturating_sub(batch.bytes.len() as u64);
            }
        }
        let log_start = self.log_start_offset;
        // Aborted transactions wholly below the log start can no longer
        // overlap a fetch.
        self.aborted_txns.retain(|txn| txn.last_offset >= log_start);
        if let Some(store) = self.store.as_mut() {
            if let Err(error) = store.set_log_start_offset(log_start) {
                tracing::warn!(%error, "could not persist the log start offset");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrokafka_protocol::compression::Compression;
    use ferrokafka_protocol::records::RecordBatchBuilder;

    fn settings() -> LogSettings {
        crate::topic_config::TopicConfig::default().log_settings()
    }

    fn batch(
        producer: Option<(i64, i16, i32)>,
        values: &[&[u8]],
        timestamp: i64,
    ) -> RecordBatchView {
        let mut builder = RecordBatchBuilder::new(Compression::None);
        if let Some((id, epoch, sequence)) = producer {
            builder.set_producer_state(id, epoch, sequence);
        }
        for value in values {
            builder.append(timestamp, None, Some(value), &[]).unwrap();
        }
        RecordBatchView::new(builder.build().unwrap()).unwrap()
    }

    fn now() -> i64 {
        1_700_000_000_000
    }

    #[test]
    fn appends_assign_offsets_and_reads_return_whole_batches() {
        let log = PartitionLog::new(None);
        let first = log
            .append(
                vec![batch(None, &[b"a", b"b"], now())],
                0,
                &settings(),
                now(),
                false,
            )
            .unwrap();
        let second = log
            .append(
                vec![batch(None, &[b"c"], now())],
                0,
                &settings(),
                now(),
                false,
            )
            .unwrap();
        assert_eq!((first.base_offset, second.base_offset), (0, 2));
        let read = log.read(1, 1 << 20, true, &settings(), now()).unwrap();
        let headers: Vec<_> = RecordBatchViews::new(read.records)
            .map(|v| v.unwrap().header().base_offset)
            .collect();
        assert_eq!(headers, vec![0, 2]);
        assert_eq!(read.high_watermark, 3);
        assert_eq!(
            log.read(4, 100, true, &settings(), now()).unwrap_err().code,
            ErrorCode::OffsetOutOfRange
        );
        // A limit smaller than the first batch still returns that batch.
        let read = log.read(0, 1, true, &settings(), now()).unwrap();
        assert_eq!(RecordBatchViews::new(read.records).count(), 1);
        let read = log.read(0, 1, false, &settings(), now()).unwrap();
        assert!(read.records.is_empty());
    }

    #[test]
    fn idempotent_duplicates_gaps_and_old_epochs() {
        let log = PartitionLog::new(None);
        let s = settings();
        let first = log
            .append(
                vec![batch(Some((7, 0, 0)), &[b"a", b"b"], now())],
                0,
                &s,
                now(),
                false,
            )
            .unwrap();
        let again = log
            .append(
                vec![batch(Some((7, 0, 0)), &[b"a", b"b"], now())],
                0,
                &s,
                now(),
                false,
            )
            .unwrap();
        assert!(again.duplicate);
        assert_eq!(again.base_offset, first.base_offset);
        assert_eq!(log.offsets(&s, now()).high_watermark, 2);
        let gap = log
            .append(
                vec![batch(Some((7, 0, 5)), &[b"x"], now())],
                0,
                &s,
                now(),
                false,
            )
            .unwrap_err();
        assert_eq!(gap.code, ErrorCode::OutOfOrderSequenceNumber);
        log.append(
            vec![batch(Some((7, 1, 0)), &[b"x"], now())],
            0,
            &s,
            now(),
            false,
        )
        .unwrap();
        let fenced = log
            .append(
                vec![batch(Some((7, 0, 2)), &[b"x"], now())],
                0,
                &s,
                now(),
                false,
            )
            .unwrap_err();
        assert_eq!(fenced.code, ErrorCode::InvalidProducerEpoch);
    }

    fn txn_batch(id: i64, epoch: i16, sequence: i32, values: &[&[u8]]) -> RecordBatchView {
        let mut builder = RecordBatchBuilder::new(Compression::None);
        builder
            .set_transactional(true)
            .set_producer_state(id, epoch, sequence);
        for value in values {
            builder.append(now(), None, Some(value), &[]).unwrap();
        }
        RecordBatchView::new(builder.build().unwrap()).unwrap()
    }

    fn marker(id: i64, epoch: i16, commit: bool) -> TxnMarker {
        TxnMarker {
            producer_id: id,
            producer_epoch: epoch,
            commit,
            coordinator_epoch: 0,
        }
    }

    #[test]
    fn transactions_hold_the_last_stable_offset_and_aborts_are_indexed() {
        let log = PartitionLog::new(None);
        let s = settings();
        log.append(vec![batch(None, &[b"p"], now())], 0, &s, now(), false)
            .unwrap();
        log.append(vec![txn_batch(1, 0, 0, &[b"a", b"b"])], 0, &s, now(), false)
            .unwrap();
        log.append(vec![txn_batch(2, 0, 0, &[b"c"])], 0, &s, now(), false)
            .unwrap();
        let offsets = log.offsets(&s, now());
        assert_eq!((offsets.high_watermark, offsets.last_stable_offset), (4, 1));
        assert_eq!(log.ongoing_transactions(), vec![(1, 0), (2, 0)]);
        let read = log
            .read_isolated(0, 1 << 20, true, true, &s, now())
            .unwrap();
        assert_eq!(RecordBatchViews::new(read.records).count(), 1);
        assert_eq!(read.aborted, Some(vec![]));

        assert_eq!(
            log.append_marker(marker(1, 0, false), 0, &s, now())
                .unwrap(),
            4
        );
        assert_eq!(log.offsets(&s, now()).last_stable_offset, 3);
        assert_eq!(
            log.append_marker(marker(2, 1, true), 0, &s, now()).unwrap(),
            5
        );
        let read = log
            .read_isolated(0, 1 << 20, true, true, &s, now())
            .unwrap();
        assert_eq!(read.last_stable_offset, 6);
        assert_eq!(read.aborted, Some(vec![(1, 1)]));
        assert_eq!(RecordBatchViews::new(read.records).count(), 5);
        // Past the abort marker nothing aborted overlaps.
        let later = log
            .read_isolated(5, 1 << 20, true, true, &s, now())
            .unwrap();
        assert_eq!(later.aborted, Some(vec![]));
        // The commit marker bumped producer 2 to epoch 1: epoch 0 is fenced.
        let fenced = log
            .append(vec![txn_batch(2, 0, 1, &[b"z"])], 0, &s, now(), false)
            .unwrap_err();
        assert_eq!(fenced.code, ErrorCode::InvalidProducerEpoch);
        // Uncommitted reads are unchanged and list no aborts.
        let all = log.read(0, 1 << 20, true, &s, now()).unwrap();
        assert_eq!(all.aborted, None);
    }

    #[test]
    fn retention_and_delete_records_move_the_log_start() {
        let log = PartitionLog::new(None);
        let mut s = settings();
        log.append(
            vec![batch(None, &[b"old"], now() - 10_000)],
            0,
            &s,
            now(),
            false,
        )
        .unwrap();
        log.append(vec![batch(None, &[b"new"], now())], 0, &s, now(), false)
            .unwrap();
        s.retention_ms = Some(5_000);
        assert_eq!(log.offsets(&s, now()).log_start_offset, 1);
        assert_eq!(log.delete_records(2).unwrap(), 2);
        assert_eq!(
            log.delete_records(3).unwrap_err().code,
            ErrorCode::OffsetOutOfRange
        );
    }

    #[test]
    fn timestamps_find_records() {
        let log = PartitionLog::new(None);
        let s = settings();
        log.append(vec![batch(None, &[b"a"], 1_000)], 0, &s, 2_000, false)
            .unwrap();
        log.append(vec![batch(None, &[b"b"], 3_000)], 0, &s, 2_000, false)
            .unwrap();
        assert_eq!(log.offset_for_timestamp(2_000), Some((1, 3_000, 0)));
        assert_eq!(log.offset_for_timestamp(4_000), None);
        assert_eq!(log.max_timestamp_offset(), Some((1, 3_000, 0)));
    }

    #[test]
    fn validation_rejects_corruption_and_oversize() {
        let good = batch(None, &[b"a"], now()).into_bytes();
        let mut corrupt = BytesMut::from(good.as_ref());
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        let s = settings();
        assert_eq!(
            validate_produce_records(Some(&corrupt.freeze()), 9, &s, now())
                .unwrap_err()
                .code,
            ErrorCode::CorruptMessage
        );
        let mut small = s;
        small.max_message_bytes = 10;
        assert_eq!(
            validate_produce_records(Some(&good), 9, &small, now())
                .unwrap_err()
                .code,
            ErrorCode::MessageTooLarge
        );
        let mut two = BytesMut::from(good.as_ref());
        two.extend_from_slice(&good);
        let two = two.freeze();
        assert_eq!(
            validate_produce_records(Some(&two), 9, &s, now())
                .unwrap_err()
                .code,
            ErrorCode::InvalidRecord
        );
        assert_eq!(
            validate_produce_records(Some(&two), 2, &s, now())
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            validate_produce_records(None, 9, &s, now())
                .unwrap_err()
                .code,
            ErrorCode::InvalidRecord
        );
    }

    #[test]
    fn compacted_topics_need_keys_and_timestamps_are_bounded() {
        let mut s = settings();
        s.compacted = true;
        let keyless = batch(None, &[b"a"], now()).into_bytes();
        let error = validate_produce_records(Some(&keyless), 9, &s, now()).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidRecord);
        let mut builder = RecordBatchBuilder::new(Compression::None);
        builder
            .append(now(), Some(b"key"), Some(b"v"), &[])
            .unwrap();
        let keyed = builder.build().unwrap();
        assert!(validate_produce_records(Some(&keyed), 9, &s, now()).is_ok());
        let s = settings();
        let future = batch(None, &[b"a"], now() + 2 * 3_600_000).into_bytes();
        let error = validate_produce_records(Some(&future), 9, &s, now()).unwrap_err();
        assert_eq!(error.code, ErrorCode::InvalidTimestamp);
        let mut appended = s;
        appended.log_append_time = true;
        assert!(validate_produce_records(Some(&future), 9, &appended, now()).is_ok());
    }
}
