//! What `poll` hands out ([`ConsumerRecord`]) and the small value types the
//! consumer API speaks in ([`TopicPartition`], [`OffsetAndMetadata`],
//! [`OffsetAndTimestamp`]).
//!
//! Keys, values and header values are [`Bytes`] slices of the fetched (or
//! decompressed) buffer, not copies.

use bytes::Bytes;

pub use ferrokafka_protocol::records::{RecordHeader, TimestampType};

/// A partition of a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic name.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// One record as `poll` returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// The record's timestamp (ms since the epoch), or -1.
    pub timestamp: i64,
    /// Whether the producer or the broker set the timestamp.
    pub timestamp_type: TimestampType,
    /// The key; `None` is a null key.
    pub key: Option<Bytes>,
    /// The value; `None` is a null value (a tombstone).
    pub value: Option<Bytes>,
    /// The headers in wire order.
    pub headers: Vec<RecordHeader>,
    /// The leader epoch of the batch, or `None` if the broker sent none.
    pub leader_epoch: Option<i32>,
}

impl ConsumerRecord {
    /// The record's partition as a [`TopicPartition`].
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(self.topic.clone(), self.partition)
    }

    /// The value of the last header named `key`, as Java's `lastHeader`.
    pub fn last_header(&self, key: &str) -> Option<&RecordHeader> {
        self.headers
            .iter()
            .rev()
            .find(|h| h.key.as_ref() == key.as_bytes())
    }
}

/// A committed offset: the offset of the next record to read, with optional
/// metadata and the leader epoch of the last record consumed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The next offset to read (last processed + 1).
    pub offset: i64,
    /// The leader epoch of the last consumed record, if known.
    pub leader_epoch: Option<i32>,
    /// Free-form metadata stored with the commit.
    pub metadata: Option<String>,
}

impl OffsetAndMetadata {
    /// An offset with no metadata.
    pub fn new(offset: i64) -> Self {
        OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: None,
        }
    }
}

/// The answer of `offsets_for_times`: the earliest offset whose timestamp is
/// at least the one asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetAndTimestamp {
    /// The offset.
    pub offset: i64,
    /// That record's timestamp.
    pub timestamp: i64,
    /// The leader epoch, if the broker sent one.
    pub leader_epoch: Option<i32>,
}
