//! What an application hands to [`Producer::send`](crate::Producer::send)
//! ([`ProducerRecord`]) and what it gets back once the record is delivered
//! ([`RecordMetadata`], through a [`DeliveryFuture`] or a [`Callback`]; those
//! live in the `delivery` module and are re-exported here).
//!
//! The topic in each record's metadata is a shared [`TopicName`], so
//! reporting a record copies no string: the metadata a [`DeliveryFuture`]
//! hands out even shares the name its batch's delivery slot holds.

use std::sync::Arc;

use bytes::Bytes;
pub use ferrokafka_protocol::records::RecordHeader;

use crate::delivery::BatchDelivery;
pub use crate::delivery::{Callback, DeliveryFuture};

/// A record to send: serialized key and value, plus where and when.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProducerRecord {
    /// The topic: a shared name, so that an application sending many
    /// records to one topic makes its [`TopicName`] once and clones it (a
    /// reference-count bump) instead of copying a string per record. A
    /// `&str` or `String` converts.
    pub topic: TopicName,
    /// An explicit partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// The key; keyed records go to `murmur2(key) % partitions`.
    pub key: Option<Bytes>,
    /// The value; `None` is a tombstone on compacted topics.
    pub value: Option<Bytes>,
    /// Headers, in order; keys may repeat.
    pub headers: Vec<RecordHeader>,
    /// The timestamp in milliseconds since the epoch; `None` is "now".
    pub timestamp: Option<i64>,
}

impl ProducerRecord {
    /// A record for `topic` with no key, value or headers yet.
    pub fn new(topic: impl Into<TopicName>) -> Self {
        ProducerRecord {
            topic: topic.into(),
            ..Default::default()
        }
    }

    /// Sets the key.
    #[must_use]
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the value.
    #[must_use]
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Sets an explicit partition.
    #[must_use]
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets the timestamp (milliseconds since the epoch).
    #[must_use]
    pub fn timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, key: impl Into<Bytes>, value: Option<Bytes>) -> Self {
        self.headers.push(RecordHeader::new(key, value));
        self
    }
}

/// A topic name shared by every record of a batch: cloning it is a
/// reference-count bump, not a string copy. It derefs to `str` and compares
/// with `str`, `&str` and `String`.
///
/// The default (empty) name holds no allocation and no reference count, so
/// `..Default::default()` in a record literal costs nothing. The name in a
/// [`RecordMetadata`] from a [`DeliveryFuture`] shares the allocation the
/// future held, so handing it out costs no reference count either.
#[derive(Clone, Default)]
pub struct TopicName(Name);

/// Where a [`TopicName`]'s string lives.
#[derive(Clone, Default)]
enum Name {
    /// The empty name.
    #[default]
    Empty,
    /// A shared string.
    Shared(Arc<str>),
    /// The topic of a batch's delivery slot (whose own name is `Shared`).
    Delivery(Arc<BatchDelivery>),
}

impl TopicName {
    /// A shared name for `name`: make it once, clone it per record.
    pub fn new(name: &str) -> Self {
        TopicName(Name::Shared(Arc::from(name)))
    }

    /// The name as a `str`.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Name::Empty => "",
            Name::Shared(name) => name,
            Name::Delivery(delivery) => delivery.topic().as_str(),
        }
    }

    /// The name a batch's delivery slot holds, sharing the slot's
    /// allocation: handing it out with a record's metadata costs no
    /// reference count.
    pub(crate) fn of_delivery(delivery: Arc<BatchDelivery>) -> Self {
        TopicName(Name::Delivery(delivery))
    }
}

impl std::fmt::Debug for TopicName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TopicName").field(&self.as_str()).finish()
    }
}

impl PartialEq for TopicName {
    fn eq(&self, other: &TopicName) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for TopicName {}

impl std::hash::Hash for TopicName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialOrd for TopicName {
    fn partial_cmp(&self, other: &TopicName) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TopicName {
    fn cmp(&self, other: &TopicName) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::ops::Deref for TopicName {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for TopicName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for TopicName {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for TopicName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Arc<str>> for TopicName {
    fn from(name: Arc<str>) -> Self {
        TopicName(Name::Shared(name))
    }
}

impl From<&str> for TopicName {
    fn from(name: &str) -> Self {
        TopicName::new(name)
    }
}

impl From<String> for TopicName {
    fn from(name: String) -> Self {
        TopicName(Name::Shared(Arc::from(name)))
    }
}

impl From<&String> for TopicName {
    fn from(name: &String) -> Self {
        TopicName::new(name)
    }
}

impl From<&TopicName> for TopicName {
    fn from(name: &TopicName) -> Self {
        name.clone()
    }
}

impl From<TopicName> for String {
    fn from(name: TopicName) -> Self {
        name.as_str().to_string()
    }
}

impl PartialEq<str> for TopicName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for TopicName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for TopicName {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<TopicName> for str {
    fn eq(&self, other: &TopicName) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<TopicName> for &str {
    fn eq(&self, other: &TopicName) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<TopicName> for String {
    fn eq(&self, other: &TopicName) -> bool {
        self.as_str() == other.as_str()
    }
}

/// Where a delivered record landed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordMetadata {
    /// The topic (shared with the other records of its batch).
    pub topic: TopicName,
    /// The partition.
    pub partition: i32,
    /// The record's offset; -1 with `acks=0` (no answer), or when the broker
    /// reported a duplicate without its original offset.
    pub offset: i64,
    /// The record's timestamp: its CreateTime, or the broker's
    /// LogAppendTime when the topic uses that.
    pub timestamp: i64,
}
