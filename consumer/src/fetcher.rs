//! [`Fetcher`]: Fetch and ListOffsets for the consumer.
//!
//! The consumer keeps at most one Fetch in flight per broker, each on its
//! own task ([`Fetcher::fetch_from_leader`]), and turns the answers into
//! [`CompletedFetch`]es: the records at or above the fetch offset (a fetch
//! returns whole batches, so records below it are skipped), control batches
//! skipped, and under `read_committed` the batches of aborted transactions
//! dropped (KIP-98, from the response's aborted-transaction list). The
//! fetch task decodes the first [`DECODE_AHEAD_RECORDS`] records of each
//! partition; the rest stay in wire form (compressed, if they were) until
//! `poll` reaches them, so memory follows the bytes fetched, not their
//! decompressed size.
//! Partition errors become [`PartitionOutcome`]s the consumer acts on:
//! OFFSET_OUT_OF_RANGE goes to the reset policy, stale-leader errors refresh
//! the metadata (leader changes are followed transparently).
//!
//! Not yet: fetch sessions (KIP-227; every request is a full fetch) and
//! leader-epoch validation (KIP-320; `current_leader_epoch` is -1). Fetch
//! goes out at v12 at most, the last version that names topics rather than
//! topic ids.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use ferrokafka_client::{Client, RetryAction, Target, classify_code};
use ferrokafka_protocol::generated::fetch_request::{FetchPartition, FetchTopic};
use ferrokafka_protocol::generated::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use ferrokafka_protocol::generated::{FetchRequest, FetchResponse, ListOffsetsRequest};
use ferrokafka_protocol::records::{
    ControlRecordKind, DecodeOptions, RecordBatches, decode_batches,
};
use ferrokafka_protocol::{ErrorCode, ProtocolError};
use tokio::task::JoinSet;

use crate::config::{ConsumerConfig, IsolationLevel};
use crate::error::{Error, Result};
use crate::record::{ConsumerRecord, OffsetAndTimestamp, TopicPartition};

/// The last Fetch version that names topics (v13 switched to topic ids).
const MAX_FETCH_VERSION: i16 = 12;
/// ListOffsets timestamp for the log end.
pub(crate) const LATEST_TIMESTAMP: i64 = -1;
/// ListOffsets timestamp for the log start.
pub(crate) const EARLIEST_TIMESTAMP: i64 = -2;

/// Partitions and their fetch offsets, by leader.
pub(crate) type FetchPlan = BTreeMap<i32, Vec<(TopicPartition, i64)>>;

/// Records fetched for one partition, from `fetch_offset` on.
#[derive(Debug)]
pub(crate) struct CompletedFetch {
    /// The partition.
    pub(crate) partition: TopicPartition,
    /// The position the fetch was made at (advanced as records are handed out).
    pub(crate) next_offset: i64,
    /// Records at or above the fetch offset, in order.
    pub(crate) records: std::collections::VecDeque<ConsumerRecord>,
    /// Where the position may jump when no records are left (past control
    /// batches or aborted data).
    pub(crate) skip_to: Option<i64>,
    /// The batches not decoded yet (`None` once all are).
    pub(crate) pending: Option<PendingBatches>,
    /// Whether any record was decoded from this fetch.
    produced: bool,
}

/// What happened to one partition in a fetch round.
#[derive(Debug)]
pub(crate) enum PartitionOutcome {
    /// Records (possibly none).
    Data(CompletedFetch),
    /// The position is out of range.
    OutOfRange(TopicPartition, i64),
    /// The metadata is stale (leader moved, partition unknown): refresh.
    RefreshMetadata,
    /// Decoding failed.
    Failed(Error),
}

/// Fetch and ListOffsets over the cluster core.
#[derive(Debug, Clone)]
pub struct Fetcher {
    client: Client,
    config: ConsumerConfig,
}

impl Fetcher {
    /// A fetcher over `client`.
    pub(crate) fn new(client: Client, config: ConsumerConfig) -> Self {
        Fetcher { client, config }
    }

    /// Groups `partitions` (with their fetch offsets) by the leader the
    /// cached metadata names; the topics of partitions without a known
    /// leader come back separately (the caller refreshes their metadata).
    pub(crate) fn by_leader(
        &self,
        partitions: Vec<(TopicPartition, i64)>,
    ) -> (FetchPlan, Vec<String>) {
        let metadata = self.client.metadata();
        let mut by_leader: BTreeMap<i32, Vec<(TopicPartition, i64)>> = BTreeMap::new();
        let mut leaderless: Vec<String> = Vec::new();
        for (tp, offset) in partitions {
            match metadata.leader(&tp.topic, tp.partition) {
                Some(leader) if leader >= 0 => {
                    by_leader.entry(leader).or_default().push((tp, offset))
                }
                _ => {
                    if !leaderless.contains(&tp.topic) {
                        leaderless.push(tp.topic);
                    }
                }
            }
        }
        (by_leader, leaderless)
    }

    /// One Fetch request to broker `leader` for `partitions`, waiting at
    /// most `max_wait` (and `fetch.max.wait.ms`) on the broker side, decoded
    /// into outcomes. Runs on its own task, so decoding and decompression
    /// stay off the task that calls `poll`.
    pub(crate) async fn fetch_from_leader(
        &self,
        leader: i32,
        partitions: &[(TopicPartition, i64)],
        max_wait: Duration,
    ) -> Vec<PartitionOutcome> {
        let max_wait_ms = i32::try_from(max_wait.as_millis())
            .unwrap_or(i32::MAX)
            .min(self.config.fetch_max_wait_ms());
        let started = std::time::Instant::now();
        match fetch_from(&self.client, &self.config, leader, partitions, max_wait_ms).await {
            Ok(response) => {
                tracing::trace!(
                    leader,
                    partitions = partitions.len(),
                    max_wait_ms,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "fetch answered"
                );
                self.parse(partitions, response)
            }
            Err(error) => {
                tracing::debug!(%error, leader, "fetch failed; refreshing metadata");
                vec![PartitionOutcome::RefreshMetadata]
            }
        }
    }

    fn parse(
        &self,
        requested: &[(TopicPartition, i64)],
        response: FetchResponse,
    ) -> Vec<PartitionOutcome> {
        let wanted: HashMap<&TopicPartition, i64> =
            requested.iter().map(|(tp, o)| (tp, *o)).collect();
        let options = DecodeOptions::default().with_verify_crc(self.config.check_crcs);
        let mut out = Vec::new();
        if response.error_code != ErrorCode::None {
            tracing::debug!(code = %response.error_code, "fetch failed");
            out.push(PartitionOutcome::RefreshMetadata);
            return out;
        }
        for topic in response.responses {
            for data in topic.partitions {
                let tp = TopicPartition::new(topic.topic.clone(), data.partition_index);
                let Some(&fetch_offset) = wanted.get(&tp) else {
                    continue;
                };
                match data.error_code {
                    ErrorCode::None => {}
                    ErrorCode::OffsetOutOfRange => {
                        out.push(PartitionOutcome::OutOfRange(tp, fetch_offset));
                        continue;
                    }
                    code => {
                        tracing::debug!(partition = %tp, %code, "fetch partition error");
                        if classify_code(code) == RetryAction::RefreshMetadata {
                            out.push(PartitionOutcome::RefreshMetadata);
                        }
                        continue;
                    }
                }
                // read_committed: the broker lists the aborted transactions
                // in the range; their records are dropped here (KIP-98).
                let aborted =
                    (self.config.isolation_level == IsolationLevel::ReadCommitted).then(|| {
                        data.aborted_transactions
                            .unwrap_or_default()
                            .into_iter()
                            .map(|a| (a.producer_id, a.first_offset))
                            .collect()
                    });
                out.push(decode_partition(
                    tp,
                    fetch_offset,
                    data.records.unwrap_or_default(),
                    options,
                    aborted,
                ));
            }
        }
        out
    }

    /// Offsets for `timestamp` (or [`EARLIEST_TIMESTAMP`] /
    /// [`LATEST_TIMESTAMP`]) of each partition; `None` when no record is that
    /// recent.
    pub(crate) async fn list_offsets(
        &self,
        partitions: &[TopicPartition],
        timestamp: i64,
        timeout: Duration,
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndTimestamp>>> {
        let mut tasks = JoinSet::new();
        for tp in partitions {
            let client = self.client.clone();
            let tp = tp.clone();
            let isolation = self.config.isolation_level.as_i8();
            tasks.spawn(async move {
                let result = list_offset(&client, &tp, timestamp, isolation, timeout).await;
                (tp, result)
            });
        }
        let mut out = BTreeMap::new();
        while let Some(joined) = tasks.join_next().await {
            let Ok((tp, result)) = joined else { continue };
            out.insert(tp, result?);
        }
        Ok(out)
    }
}

async fn fetch_from(
    client: &Client,
    config: &ConsumerConfig,
    leader: i32,
    partitions: &[(TopicPartition, i64)],
    max_wait_ms: i32,
) -> ferrokafka_client::Result<FetchResponse> {
    let connection = client.node_connection(leader).await?;
    let version = connection
        .version_for::<FetchRequest>()?
        .min(MAX_FETCH_VERSION);
    let mut topics: Vec<FetchTopic> = Vec::new();
    for (tp, offset) in partitions {
        let partition = FetchPartition {
            partition: tp.partition,
            current_leader_epoch: -1,
            fetch_offset: *offset,
            last_fetched_epoch: -1,
            log_start_offset: -1,
            partition_max_bytes: config.max_partition_fetch_bytes,
            ..Default::default()
        };
        match topics.iter_mut().find(|t| t.topic == tp.topic) {
            Some(topic) => topic.partitions.push(partition),
            None => topics.push(FetchTopic {
                topic: tp.topic.clone(),
                partitions: vec![partition],
                ..Default::default()
            }),
        }
    }
    let request = FetchRequest {
        replica_id: -1,
        max_wait_ms,
        min_bytes: config.fetch_min_bytes,
        max_bytes: config.fetch_max_bytes,
        isolation_level: config.isolation_level.as_i8(),
        session_id: 0,
        session_epoch: -1,
        topics,
        ..Default::default()
    };
    connection.send_at(&request, version).await
}

/// How many records a fetched partition's data is decoded ahead of `poll`:
/// the rest stays in its (compressed) wire form until `poll` gets there, so
/// a fetch of highly compressed data does not sit in memory decompressed.
pub(crate) const DECODE_AHEAD_RECORDS: usize = 2_000;

/// The batches of a fetched partition not decoded yet, and what reading
/// them needs to remember (KIP-98's aborted-transaction bookkeeping).
#[derive(Debug)]
pub(crate) struct PendingBatches {
    batches: RecordBatches,
    fetch_offset: i64,
    /// Aborted transactions not reached yet, by first offset, last first.
    pending_aborts: Vec<(i64, i64)>,
    /// Producers whose batches are aborted until their abort marker.
    aborting: HashSet<i64>,
}

impl CompletedFetch {
    /// Whether records are left: decoded, or still in wire form.
    pub(crate) fn has_more(&self) -> bool {
        !self.records.is_empty() || self.pending.is_some()
    }

    /// Decodes batches until at least `target` records are buffered or the
    /// data ends. A batch that fails to decode ends the data here (the
    /// next fetch starts at it, and reports it if it is still bad).
    pub(crate) fn decode_more(&mut self, target: usize) {
        let _ = self.decode_until(target);
    }

    /// [`CompletedFetch::decode_more`], returning the decoding error when
    /// nothing at all was decoded from this fetch.
    fn decode_until(&mut self, target: usize) -> std::result::Result<(), ProtocolError> {
        let Some(pending) = self.pending.as_mut() else {
            return Ok(());
        };
        while self.records.len() < target {
            let Some(batch) = pending.batches.next() else {
                self.pending = None;
                return Ok(());
            };
            let batch = match batch {
                Ok(batch) => batch,
                Err(error) => {
                    self.pending = None;
                    return if self.produced { Ok(()) } else { Err(error) };
                }
            };
            if batch.is_transactional {
                while let Some(&(producer_id, first)) = pending.pending_aborts.last() {
                    if first > batch.last_offset() {
                        break;
                    }
                    pending.aborting.insert(producer_id);
                    pending.pending_aborts.pop();
                }
            }
            let skip_batch = if batch.is_control {
                if let Some(Ok(control)) = batch.control_record() {
                    if control.kind == ControlRecordKind::Abort {
                        pending.aborting.remove(&batch.producer_id);
                    }
                }
                true
            } else {
                batch.is_transactional && pending.aborting.contains(&batch.producer_id)
            };
            let batch_next = batch.next_offset();
            if skip_batch {
                if !self.produced && batch_next > pending.fetch_offset {
                    self.skip_to = Some(batch_next);
                }
                continue;
            }
            let leader_epoch =
                (batch.partition_leader_epoch >= 0).then_some(batch.partition_leader_epoch);
            for record in batch.records {
                if record.offset < pending.fetch_offset {
                    continue;
                }
                self.produced = true;
                self.records.push_back(ConsumerRecord {
                    topic: self.partition.topic.clone(),
                    partition: self.partition.partition,
                    offset: record.offset,
                    timestamp: record.timestamp,
                    timestamp_type: batch.timestamp_type,
                    key: record.key,
                    value: record.value,
                    headers: record.headers,
                    leader_epoch,
                });
            }
            if !self.produced && batch_next > pending.fetch_offset {
                // A batch entirely below the fetch offset after compaction,
                // or empty: the position may move past it.
                self.skip_to = Some(batch_next);
            }
        }
        Ok(())
    }
}

/// Decodes the start of one partition's records (up to
/// [`DECODE_AHEAD_RECORDS`], the rest as `poll` needs them), skipping those
/// below `fetch_offset`, control batches and, with `aborted` (read_committed),
/// the batches of aborted transactions.
fn decode_partition(
    tp: TopicPartition,
    fetch_offset: i64,
    bytes: Bytes,
    options: DecodeOptions,
    aborted: Option<Vec<(i64, i64)>>,
) -> PartitionOutcome {
    let mut pending_aborts = aborted.unwrap_or_default();
    pending_aborts.sort_by_key(|&(_, first)| std::cmp::Reverse(first));
    let mut fetch = CompletedFetch {
        partition: tp,
        next_offset: fetch_offset,
        records: std::collections::VecDeque::new(),
        skip_to: None,
        pending: Some(PendingBatches {
            batches: decode_batches(bytes, options),
            fetch_offset,
            pending_aborts,
            aborting: HashSet::new(),
        }),
        produced: false,
    };
    match fetch.decode_until(DECODE_AHEAD_RECORDS) {
        Ok(()) => PartitionOutcome::Data(fetch),
        Err(source) => PartitionOutcome::Failed(Error::Corrupt {
            partition: fetch.partition,
            offset: fetch_offset,
            source,
        }),
    }
}

async fn list_offset(
    client: &Client,
    tp: &TopicPartition,
    timestamp: i64,
    isolation_level: i8,
    timeout: Duration,
) -> Result<Option<OffsetAndTimestamp>> {
    let request = ListOffsetsRequest {
        replica_id: -1,
        isolation_level,
        topics: vec![ListOffsetsTopic {
            name: tp.topic.clone(),
            partitions: vec![ListOffsetsPartition {
                partition_index: tp.partition,
                current_leader_epoch: -1,
                timestamp,
                max_num_offsets: 1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let target = Target::Leader {
        topic: tp.topic.clone(),
        partition: tp.partition,
    };
    let response = client
        .send_with_retry_checked(&request, &target, timeout, |r| {
            r.topics
                .first()
                .and_then(|t| t.partitions.first())
                .map(|p| p.error_code)
        })
        .await?;
    let Some(partition) = response.topics.first().and_then(|t| t.partitions.first()) else {
        return Err(Error::Client(ferrokafka_client::Error::kafka(
            ErrorCode::UnknownServerError,
            ferrokafka_protocol::ApiKey::ListOffsets,
            None,
            Some("empty ListOffsets response".into()),
        )));
    };
    // v0 answers with a list of offsets instead.
    let offset = if partition.offset >= 0 {
        partition.offset
    } else {
        partition.old_style_offsets.first().copied().unwrap_or(-1)
    };
    if offset < 0 {
        return Ok(None);
    }
    Ok(Some(OffsetAndTimestamp {
        offset,
        timestamp: partition.timestamp,
        leader_epoch: (partition.leader_epoch >= 0).then_some(partition.leader_epoch),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use bytes::BytesMut;
    use ferrokafka_protocol::compression::Compression;
    use ferrokafka_protocol::records::{RecordBatchBuilder, end_transaction_batch};

    fn batch(base: i64, values: &[&str], producer: Option<i64>) -> Bytes {
        let mut builder = RecordBatchBuilder::new(Compression::None);
        builder.set_base_offset(base);
        if let Some(id) = producer {
            builder.set_transactional(true).set_producer_state(id, 0, 0);
        }
        for v in values {
            builder.append(1, None, Some(v.as_bytes()), &[]).unwrap();
        }
        builder.build().unwrap()
    }

    fn marker(base: i64, kind: ControlRecordKind, producer: i64) -> Bytes {
        let bytes = end_transaction_batch(kind, producer, 0, 0, 1).unwrap();
        let mut bytes = BytesMut::from(&bytes[..]);
        bytes[..8].copy_from_slice(&base.to_be_bytes());
        bytes.freeze()
    }

    fn decode(bytes: Bytes, from: i64, aborted: Option<Vec<(i64, i64)>>) -> CompletedFetch {
        match decode_partition(
            TopicPartition::new("t", 0),
            from,
            bytes,
            DecodeOptions::default(),
            aborted,
        ) {
            PartitionOutcome::Data(fetch) => fetch,
            other => panic!("{other:?}"),
        }
    }

    fn log() -> Bytes {
        let mut log = BytesMut::new();
        log.extend_from_slice(&batch(0, &["a0", "a1"], Some(7)));
        log.extend_from_slice(&marker(2, ControlRecordKind::Abort, 7));
        log.extend_from_slice(&batch(3, &["p3", "p4", "p5"], None));
        log.extend_from_slice(&batch(6, &["c6"], Some(8)));
        log.extend_from_slice(&marker(7, ControlRecordKind::Commit, 8));
        log.freeze()
    }

    #[test]
    fn records_below_the_fetch_offset_and_control_batches_are_skipped() {
        let fetch = decode(log(), 4, None);
        let offsets: Vec<i64> = fetch.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![4, 5, 6]);
        // Only a marker left: the position may move past it.
        let fetch = decode(log(), 7, None);
        assert!(fetch.records.is_empty());
        assert_eq!(fetch.skip_to, Some(8));
    }

    #[test]
    fn read_committed_drops_aborted_transactions() {
        let fetch = decode(log(), 0, Some(vec![(7, 0)]));
        let offsets: Vec<i64> = fetch.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![3, 4, 5, 6]);
        // read_uncommitted keeps them.
        let fetch = decode(log(), 0, None);
        assert_eq!(fetch.records.len(), 6);
    }

    #[test]
    fn a_partial_trailing_batch_is_not_an_error() {
        let log = log();
        let cut = log.slice(..log.len() - 5);
        let fetch = decode(cut, 0, None);
        assert_eq!(fetch.records.len(), 6);
    }

    /// 30 batches of 100 records (offsets 0..3000); the batch at 2000 and
    /// the one at 2100 belong to aborted producer 9, whose marker is at
    /// 2200 (so offsets 2000..2200 are aborted and 2200 is a marker).
    fn long_log() -> Bytes {
        let values: Vec<String> = (0..100).map(|i| format!("v{i}")).collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let mut log = BytesMut::new();
        let mut base = 0;
        while base < 3000 {
            if base == 2200 {
                log.extend_from_slice(&marker(base, ControlRecordKind::Abort, 9));
                base += 1;
                continue;
            }
            let producer = (2000..2200).contains(&base).then_some(9);
            log.extend_from_slice(&batch(base, &values, producer));
            base += 100;
        }
        log.freeze()
    }

    #[test]
    fn only_the_start_is_decoded_and_the_rest_as_needed() {
        let mut fetch = decode(long_log(), 0, Some(vec![(9, 2000)]));
        assert!(
            fetch.records.len() >= DECODE_AHEAD_RECORDS,
            "{}",
            fetch.records.len()
        );
        assert!(fetch.records.len() < DECODE_AHEAD_RECORDS + 100);
        assert!(fetch.pending.is_some() && fetch.has_more());
        let mut offsets = Vec::new();
        while fetch.has_more() {
            if fetch.records.is_empty() {
                fetch.decode_more(500);
                continue;
            }
            offsets.extend(fetch.records.drain(..).map(|r| r.offset));
        }
        // The aborted transaction is skipped across the decoding boundary.
        let expected: Vec<i64> = (0..2000).chain(2201..3001).collect();
        assert_eq!(offsets.len(), expected.len());
        assert_eq!(offsets, expected);
    }

    #[test]
    fn a_bad_batch_after_decoded_records_ends_the_data_there() {
        let mut log = BytesMut::from(&long_log()[..]);
        // Corrupt the batch at offset 2500 (its CRC no longer matches).
        let at = log.len() - 4 * batch(0, &["v0"; 100], None).len() - 10;
        log[at] ^= 0xff;
        let mut fetch = decode(log.freeze(), 0, None);
        let mut count = 0;
        while fetch.has_more() {
            if fetch.records.is_empty() {
                fetch.decode_more(500);
                continue;
            }
            count += fetch.records.drain(..).count();
        }
        assert!((2000..3000).contains(&count), "{count}");
    }
}
