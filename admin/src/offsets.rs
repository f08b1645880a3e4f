//! Partition offsets: list (earliest, latest, max timestamp, by timestamp)
//! through each partition's leader, and consumer group lag.

use ferrokafka_client::Target;
use ferrokafka_protocol::ErrorCode;

use ferrokafka_protocol::generated::ListOffsetsRequest;
use ferrokafka_protocol::generated::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};

use crate::{Admin, AdminError, DEFAULT_TIMEOUT, Result};

/// Which offset to look up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset.
    Earliest,
    /// The log end offset (high watermark).
    Latest,
    /// The offset of the record with the largest timestamp.
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
    /// The offset (-1 if none matches a timestamp).
    pub offset: i64,
    /// The record timestamp, or -1.
    pub timestamp: i64,
    /// The leader epoch, or -1.
    pub leader_epoch: i32,
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
    /// The log end offset.
    pub end: i64,
    /// `end - committed`, never negative.
    pub lag: i64,
}

impl Admin {
    /// Looks up offsets of partitions (`(topic, partition, spec)`); one
    /// result per partition, in the order given.
    pub async fn list_offsets(
        &self,
        partitions: &[(&str, i32, OffsetSpec)],
    ) -> Result<Vec<((String, i32), Result<ListedOffset>)>> {
        let mut out = Vec::with_capacity(partitions.len());
        for (topic, partition, spec) in partitions {
            let r = self.list_one(topic, *partition, *spec).await;
            out.push((((*topic).to_string(), *partition), r));
        }
        Ok(out)
    }

    async fn list_one(
        &self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
    ) -> Result<ListedOffset> {
        // An unknown topic or partition fails at once instead of waiting
        // for a leader until the timeout.
        let described = self.describe_topics(&[topic]).await?;
        let known = described.iter().any(|(_, d)| {
            d.as_ref()
                .is_ok_and(|t| t.partitions.iter().any(|p| p.partition == partition))
        });
        if !known {
            return Err(AdminError::Kafka {
                code: ErrorCode::UnknownTopicOrPartition,
                message: None,
            });
        }
        let request = ListOffsetsRequest {
            replica_id: -1,
            topics: vec![ListOffsetsTopic {
                name: topic.to_string(),
                partitions: vec![ListOffsetsPartition {
                    partition_index: partition,
                    timestamp: spec.wire(),
                    current_leader_epoch: -1,
                    max_num_offsets: 1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let response = self
            .client
            .send_with_retry_checked(
                &request,
                &Target::Leader {
                    topic: topic.to_string(),
                    partition,
                },
                DEFAULT_TIMEOUT,
                |r| {
                    r.topics
                        .iter()
                        .flat_map(|t| &t.partitions)
                        .map(|p| p.error_code)
                        .find(|c| c.is_retriable())
                },
            )
            .await?;
        let p = response
            .topics
            .into_iter()
            .filter(|t| t.name == topic)
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == partition)
            .ok_or_else(|| AdminError::MissingResult(format!("{topic}-{partition}")))?;
        AdminError::check(p.error_code, None)?;
        let offset = if p.offset >= 0 {
            p.offset
        } else {
            p.old_style_offsets.first().copied().unwrap_or(p.offset)
        };
        Ok(ListedOffset {
            offset,
            timestamp: p.timestamp,
            leader_epoch: p.leader_epoch,
        })
    }

    /// The lag of each partition `group` has committed offsets for
    /// (log end offset minus committed offset).
    pub async fn consumer_group_lag(&self, group: &str) -> Result<Vec<PartitionLag>> {
        let committed = self.list_consumer_group_offsets(group).await?;
        let mut out = Vec::with_capacity(committed.len());
        for c in committed {
            let end = self
                .list_one(&c.topic, c.partition, OffsetSpec::Latest)
                .await?
                .offset;
            out.push(PartitionLag {
                lag: end.saturating_sub(c.offset).max(0),
                topic: c.topic,
                partition: c.partition,
                committed: c.offset,
                end,
            });
        }
        Ok(out)
    }
}
