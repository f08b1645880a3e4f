//! What `poll` hands out ([`ConsumerRecord`]) and the small value types the
//! consumer API speaks in: [`OffsetAndTimestamp`] here, [`TopicPartition`]
//! and [`OffsetAndMetadata`] from the client core (one definition for every
//! client).
//!
//! Keys, values and header values are [`Bytes`] slices of the fetched (or
//! decompressed) buffer, not copies.

use bytes::Bytes;

pub use ferrokafka_client::{OffsetAndMetadata, TopicPartition};
pub use ferrokafka_protocol::records::{RecordHeader, TimestampType};

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
