//! Partition requests, routed to each partition's leader: list offsets
//! (earliest, latest, max timestamp on ListOffsets v7+ per KIP-734, by
//! timestamp), delete records (DeleteRecords: move the log start offset),
//! and consumer group lag (committed offset against the log end offset).
//!
//! Like Java's `KafkaAdminClient`, the partitions are looked up in fresh
//! metadata, grouped by leader (one request per leader), and a partition
//! whose answer says the metadata was stale (NOT_LEADER_OR_FOLLOWER,
//! LEADER_NOT_AVAILABLE...; the core's [`ferrokafka_client::classify`]) is
//! looked up and sent again until the options' timeout. A topic or partition
//! the metadata does not know fails at once with
//! UNKNOWN_TOPIC_OR_PARTITION.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ferrokafka_client::{RetryAction, Target, classify, classify_code};
use ferrokafka_protocol::generated::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use ferrokafka_protocol::generated::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use ferrokafka_protocol::generated::metadata_request::MetadataRequestTopic;
use ferrokafka_protocol::generated::{DeleteRecordsRequest, ListOffsetsRequest};
use ferrokafka_protocol::{ErrorCode, Uuid};

use crate::options::{
    ConsumerGroupLagOptions, DeleteRecordsOptions, ListConsumerGroupOffsetsOptions,
    ListOffsetsOptions,
};
use crate::{Admin, AdminError, Deadline, Result, millis};

/// Which offset to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (high watermark, or last stable offset with
    /// `read_committed`).
    Latest,
    /// The offset of the record with the largest timestamp (ListOffsets v7+).
    MaxTimestamp,
    /// The first offset whose timestamp is at or after this (ms).
    Timestamp(i64),
}

impl OffsetSpec {
    fn wire(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::MaxTimestamp => -3,
            OffsetSpec::Timestamp(t) => t,
        }
    }
}

/// A looked-up partition offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// The offset (-1 if no record matches a timestamp).
    pub offset: i64,
    /// The record timestamp, or -1.
    pub timestamp: i64,
    /// The leader epoch, or -1.
    pub leader_epoch: i32,
}

/// The outcome of deleting records of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletedRecords {
    /// The partition's new log start offset.
    pub low_watermark: i64,
}

/// The lag of one partition of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The committed offset.
    pub committed: i64,
    /// The log end offset, if it could be looked up.
    pub end: Option<i64>,
    /// `end - committed`, never negative; `None` without an end offset.
    pub lag: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    List(OffsetSpec),
    Delete(i64),
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Listed(ListedOffset),
    Deleted(DeletedRecords),
}

struct Item {
    topic: String,
    partition: i32,
    op: Op,
}

/// The answer for one partition: done (either way), or to send again.
enum Answer {
    Done(Result<Outcome>),
    Retry(AdminError),
}

fn answer(code: ErrorCode, outcome: Outcome) -> Answer {
    if code.is_ok() {
        Answer::Done(Ok(outcome))
    } else if classify_code(code) == RetryAction::Fail {
        Answer::Done(Err(AdminError::kafka(code)))
    } else {
        Answer::Retry(AdminError::kafka(code))
    }
}

/// Keeps an item's last error for when the deadline passes; running out
/// of time does not replace what the broker said before.
fn remember(last_error: &mut HashMap<usize, AdminError>, index: usize, error: AdminError) {
    if matches!(error, AdminError::Timeout { .. }) && last_error.contains_key(&index) {
        return;
    }
    last_error.insert(index, error);
}

/// Splits one leader's items into requests that name each partition once
/// (a request may not repeat a partition: the same partition asked twice
/// goes out in the next request).
fn waves(items: &[Item], indexes: Vec<usize>) -> Vec<Vec<usize>> {
    type Wave<'a> = (BTreeSet<(&'a str, i32)>, Vec<usize>);
    let mut waves: Vec<Wave<'_>> = Vec::new();
    for i in indexes {
        let Some(item) = items.get(i) else { continue };
        let key = (item.topic.as_str(), item.partition);
        match waves.iter_mut().find(|(seen, _)| !seen.contains(&key)) {
            Some((seen, wave)) => {
                seen.insert(key);
                wave.push(i);
            }
            None => waves.push((BTreeSet::from([key]), vec![i])),
        }
    }
    waves.into_iter().map(|(_, wave)| wave).collect()
}

impl Admin {
    /// Looks up offsets of partitions (`(topic, partition, spec)`); one
    /// result per partition, in the order given.
    pub async fn list_offsets(
        &self,
        partitions: &[(&str, i32, OffsetSpec)],
        options: ListOffsetsOptions,
    ) -> Result<Vec<((String, i32), Result<ListedOffset>)>> {
        let deadline = Deadline::after(options.timeout);
        let items = partitions
            .iter()
            .map(|(topic, partition, spec)| Item {
                topic: (*topic).to_string(),
                partition: *partition,
                op: Op::List(*spec),
            })
            .collect();
        let results = self
            .by_leader(items, options.read_committed, &deadline)
            .await;
        Ok(partitions
            .iter()
            .zip(results)
            .map(|((topic, partition, _), r)| {
                let r = r.and_then(|o| match o {
                    Outcome::Listed(l) => Ok(l),
                    Outcome::Deleted(_) => {
                        Err(AdminError::MissingResult(format!("{topic}-{partition}")))
                    }
                });
                (((*topic).to_string(), *partition), r)
            })
            .collect())
    }

    /// Deletes the records of each partition below an offset
    /// (`(topic, partition, before_offset)`; -1 means the high watermark),
    /// on each partition's leader; one result per partition, in the order
    /// given, with the new low watermark (OFFSET_OUT_OF_RANGE past the high
    /// watermark).
    pub async fn delete_records(
        &self,
        partitions: &[(&str, i32, i64)],
        options: DeleteRecordsOptions,
    ) -> Result<Vec<((String, i32), Result<DeletedRecords>)>> {
        let deadline = Deadline::after(options.timeout);
        let items = partitions
            .iter()
            .map(|(topic, partition, offset)| Item {
                topic: (*topic).to_string(),
                partition: *partition,
                op: Op::Delete(*offset),
            })
            .collect();
        let results = self.by_leader(items, false, &deadline).await;
        Ok(partitions
            .iter()
            .zip(results)
            .map(|((topic, partition, _), r)| {
                let r = r.and_then(|o| match o {
                    Outcome::Deleted(d) => Ok(d),
                    Outcome::Listed(_) => {
                        Err(AdminError::MissingResult(format!("{topic}-{partition}")))
                    }
                });
                (((*topic).to_string(), *partition), r)
            })
            .collect())
    }

    /// The lag of each partition `group` has committed offsets for (log end
    /// offset minus committed offset), sorted by topic and partition.
    pub async fn consumer_group_lag(
        &self,
        group: &str,
        options: ConsumerGroupLagOptions,
    ) -> Result<Vec<PartitionLag>> {
        let deadline = Deadline::after(options.timeout);
        let committed = self
            .list_consumer_group_offsets(
                group,
                ListConsumerGroupOffsetsOptions {
                    timeout: deadline.remaining(),
                    ..Default::default()
                },
            )
            .await?;
        let lookups: Vec<(&str, i32, OffsetSpec)> = committed
            .iter()
            .map(|c| (c.topic.as_str(), c.partition, OffsetSpec::Latest))
            .collect();
        let ends = self
            .list_offsets(
                &lookups,
                ListOffsetsOptions {
                    timeout: deadline.remaining(),
                    ..Default::default()
                },
            )
            .await?;
        Ok(committed
            .iter()
            .zip(ends)
            .map(|(c, (_, end))| {
                let end = end.ok().map(|e| e.offset);
                PartitionLag {
                    topic: c.topic.clone(),
                    partition: c.partition,
                    committed: c.offset,
                    end,
                    lag: end.map(|e| e.saturating_sub(c.offset).max(0)),
                }
            })
            .collect())
    }

    /// Sends each item to its partition's leader, one request per leader,
    /// until every item has an answer or the deadline passes; the results
    /// in the items' order.
    async fn by_leader(
        &self,
        items: Vec<Item>,
        read_committed: bool,
        deadline: &Deadline,
    ) -> Vec<Result<Outcome>> {
        let mut results: Vec<Option<Result<Outcome>>> = items.iter().map(|_| None).collect();
        let mut pending: Vec<usize> = (0..items.len()).collect();
        let mut last_error: HashMap<usize, AdminError> = HashMap::new();
        let mut round = 0u32;
        while !pending.is_empty() {
            let mut retry: Vec<usize> = Vec::new();
            let topics: BTreeSet<&str> = pending
                .iter()
                .filter_map(|i| items.get(*i))
                .map(|item| item.topic.as_str())
                .collect();
            let request_topics = topics
                .iter()
                .map(|t| MetadataRequestTopic {
                    name: Some((*t).to_string()),
                    topic_id: Uuid::ZERO,
                    ..Default::default()
                })
                .collect();
            let mut leaders: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
            match self
                .metadata_request(Some(request_topics), false, deadline)
                .await
            {
                Err(e) => {
                    for i in pending.drain(..) {
                        remember(&mut last_error, i, e.clone());
                        retry.push(i);
                    }
                }
                Ok(metadata) => {
                    let by_name: HashMap<&str, _> = metadata
                        .topics
                        .iter()
                        .filter_map(|t| Some((t.name.as_deref()?, t)))
                        .collect();
                    for i in pending.drain(..) {
                        let Some(item) = items.get(i) else { continue };
                        let slot = results.get_mut(i);
                        let fail = |code| Some(Err(AdminError::kafka(code)));
                        match by_name.get(item.topic.as_str()) {
                            None => {
                                if let Some(s) = slot {
                                    *s = fail(ErrorCode::UnknownTopicOrPartition);
                                }
                            }
                            Some(t) if !t.error_code.is_ok() => {
                                let code = t.error_code;
                                if code != ErrorCode::UnknownTopicOrPartition
                                    && classify_code(code) != RetryAction::Fail
                                {
                                    last_error.insert(i, AdminError::kafka(code));
                                    retry.push(i);
                                } else if let Some(s) = slot {
                                    *s = fail(code);
                                }
                            }
                            Some(t) => match t
                                .partitions
                                .iter()
                                .find(|p| p.partition_index == item.partition)
                            {
                                None => {
                                    if let Some(s) = slot {
                                        *s = fail(ErrorCode::UnknownTopicOrPartition);
                                    }
                                }
                                Some(p) if p.leader_id < 0 => {
                                    last_error.insert(
                                        i,
                                        AdminError::kafka(ErrorCode::LeaderNotAvailable),
                                    );
                                    retry.push(i);
                                }
                                Some(p) => leaders.entry(p.leader_id).or_default().push(i),
                            },
                        }
                    }
                }
            }
            for (leader, indexes) in leaders {
                for wave in waves(&items, indexes) {
                    let answers = self
                        .send_to_leader(leader, &items, &wave, read_committed, deadline)
                        .await;
                    for (i, a) in wave.into_iter().zip(answers) {
                        match a {
                            Answer::Done(r) => {
                                if let Some(s) = results.get_mut(i) {
                                    *s = Some(r);
                                }
                            }
                            Answer::Retry(e) => {
                                remember(&mut last_error, i, e);
                                retry.push(i);
                            }
                        }
                    }
                }
            }
            pending = retry;
            if pending.is_empty() {
                break;
            }
            if deadline.passed() {
                for i in pending.drain(..) {
                    let e = last_error.remove(&i).unwrap_or_else(|| deadline.error());
                    if let Some(s) = results.get_mut(i) {
                        *s = Some(Err(e));
                    }
                }
                break;
            }
            deadline.backoff(&self.client, round).await;
            round = round.saturating_add(1);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(deadline.error())))
            .collect()
    }

    /// One ListOffsets or DeleteRecords request to `leader` for the items
    /// at `indexes` (all of one kind); an answer per index, in order.
    async fn send_to_leader(
        &self,
        leader: i32,
        items: &[Item],
        indexes: &[usize],
        read_committed: bool,
        deadline: &Deadline,
    ) -> Vec<Answer> {
        let chosen: Vec<&Item> = indexes.iter().filter_map(|i| items.get(*i)).collect();
        let transport = |e: AdminError| {
            let retriable = match &e {
                AdminError::Client(c) => classify(c) != RetryAction::Fail,
                other => other.is_retriable(),
            };
            chosen
                .iter()
                .map(|_| {
                    if retriable {
                        Answer::Retry(e.clone())
                    } else {
                        Answer::Done(Err(e.clone()))
                    }
                })
                .collect::<Vec<_>>()
        };
        let target = Target::Node(leader);
        let is_list = chosen.iter().all(|i| matches!(i.op, Op::List(_)));
        if is_list {
            let version = match deadline.run(self.client.node_connection(leader)).await {
                Ok(conn) => conn.version_for::<ListOffsetsRequest>().unwrap_or(0),
                Err(e) => return transport(e),
            };
            let mut topics: Vec<ListOffsetsTopic> = Vec::new();
            for item in &chosen {
                let Op::List(spec) = item.op else { continue };
                if spec == OffsetSpec::MaxTimestamp && version < 7 {
                    continue;
                }
                let partition = ListOffsetsPartition {
                    partition_index: item.partition,
                    timestamp: spec.wire(),
                    current_leader_epoch: -1,
                    max_num_offsets: 1,
                    ..Default::default()
                };
                match topics.iter_mut().find(|t| t.name == item.topic) {
                    Some(t) => t.partitions.push(partition),
                    None => topics.push(ListOffsetsTopic {
                        name: item.topic.clone(),
                        partitions: vec![partition],
                        ..Default::default()
                    }),
                }
            }
            let response = if topics.is_empty() {
                Default::default()
            } else {
                let request = ListOffsetsRequest {
                    replica_id: -1,
                    isolation_level: i8::from(read_committed),
                    topics,
                    ..Default::default()
                };
                match deadline.run(self.client.send(&request, &target)).await {
                    Ok(r) => r,
                    Err(e) => return transport(e),
                }
            };
            chosen
                .iter()
                .map(|item| {
                    if matches!(item.op, Op::List(OffsetSpec::MaxTimestamp)) && version < 7 {
                        return Answer::Done(Err(AdminError::InvalidRequest(format!(
                            "the max timestamp offset needs ListOffsets v7, \
                             broker {leader} speaks v{version}"
                        ))));
                    }
                    let found = response
                        .topics
                        .iter()
                        .filter(|t| t.name == item.topic)
                        .flat_map(|t| &t.partitions)
                        .find(|p| p.partition_index == item.partition);
                    match found {
                        None => Answer::Done(Err(AdminError::MissingResult(format!(
                            "{}-{}",
                            item.topic, item.partition
                        )))),
                        Some(p) => {
                            let offset = if p.offset >= 0 || version >= 1 {
                                p.offset
                            } else {
                                p.old_style_offsets.first().copied().unwrap_or(-1)
                            };
                            answer(
                                p.error_code,
                                Outcome::Listed(ListedOffset {
                                    offset,
                                    timestamp: p.timestamp,
                                    leader_epoch: p.leader_epoch,
                                }),
                            )
                        }
                    }
                })
                .collect()
        } else {
            let mut topics: Vec<DeleteRecordsTopic> = Vec::new();
            for item in &chosen {
                let Op::Delete(offset) = item.op else {
                    continue;
                };
                let partition = DeleteRecordsPartition {
                    partition_index: item.partition,
                    offset,
                    ..Default::default()
                };
                match topics.iter_mut().find(|t| t.name == item.topic) {
                    Some(t) => t.partitions.push(partition),
                    None => topics.push(DeleteRecordsTopic {
                        name: item.topic.clone(),
                        partitions: vec![partition],
                        ..Default::default()
                    }),
                }
            }
            let request = DeleteRecordsRequest {
                topics,
                timeout_ms: millis(deadline.remaining()),
                ..Default::default()
            };
            let response = match deadline.run(self.client.send(&request, &target)).await {
                Ok(r) => r,
                Err(e) => return transport(e),
            };
            chosen
                .iter()
                .map(|item| {
                    let found = response
                        .topics
                        .iter()
                        .filter(|t| t.name == item.topic)
                        .flat_map(|t| &t.partitions)
                        .find(|p| p.partition_index == item.partition);
                    match found {
                        None => Answer::Done(Err(AdminError::MissingResult(format!(
                            "{}-{}",
                            item.topic, item.partition
                        )))),
                        Some(p) => answer(
                            p.error_code,
                            Outcome::Deleted(DeletedRecords {
                                low_watermark: p.low_watermark,
                            }),
                        ),
                    }
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(topic: &str, partition: i32) -> Item {
        Item {
            topic: topic.to_string(),
            partition,
            op: Op::List(OffsetSpec::Latest),
        }
    }

    #[test]
    fn a_partition_asked_twice_goes_in_separate_requests() {
        let items = [
            item("a", 0),
            item("a", 0),
            item("a", 1),
            item("b", 0),
            item("a", 0),
        ];
        assert_eq!(
            waves(&items, vec![0, 1, 2, 3, 4]),
            [vec![0, 2, 3], vec![1], vec![4]]
        );
    }

    #[test]
    fn running_out_of_time_keeps_the_brokers_last_word() {
        let mut last = HashMap::new();
        let timeout = AdminError::Timeout {
            after: std::time::Duration::from_secs(1),
        };
        remember(&mut last, 0, timeout.clone());
        assert!(matches!(last.get(&0), Some(AdminError::Timeout { .. })));
        remember(
            &mut last,
            0,
            AdminError::kafka(ErrorCode::NotLeaderOrFollower),
        );
        remember(&mut last, 0, timeout);
        assert_eq!(
            last.get(&0).and_then(AdminError::code),
            Some(ErrorCode::NotLeaderOrFollower)
        );
    }

    #[test]
    fn specs_have_their_wire_timestamps() {
        assert_eq!(OffsetSpec::Earliest.wire(), -2);
        assert_eq!(OffsetSpec::Latest.wire(), -1);
        assert_eq!(OffsetSpec::MaxTimestamp.wire(), -3);
        assert_eq!(OffsetSpec::Timestamp(42).wire(), 42);
    }
}
