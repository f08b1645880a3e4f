//! The value types every client speaks about partitions and their offsets:
//! [`TopicPartition`] and [`OffsetAndMetadata`] (Java's `TopicPartition` and
//! `OffsetAndMetadata`). They live in the core, defined once, because the
//! consumer, the admin client and a transactional producer all take and
//! return them, and none of those crates depends on another.

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

/// An offset to commit for a group, or one a group committed: the offset of
/// the next record to read, with optional metadata and the leader epoch of
/// the last record consumed.
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
    /// An offset with no metadata and no leader epoch.
    pub fn new(offset: i64) -> Self {
        OffsetAndMetadata {
            offset,
            leader_epoch: None,
            metadata: None,
        }
    }
}

impl From<i64> for OffsetAndMetadata {
    fn from(offset: i64) -> Self {
        OffsetAndMetadata::new(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_partition_prints_as_java_does_and_orders_by_topic_then_partition() {
        assert_eq!(TopicPartition::new("orders", 3).to_string(), "orders-3");
        let mut partitions = vec![
            TopicPartition::new("b", 0),
            TopicPartition::new("a", 2),
            TopicPartition::new("a", 10),
        ];
        partitions.sort();
        assert_eq!(
            partitions,
            vec![
                TopicPartition::new("a", 2),
                TopicPartition::new("a", 10),
                TopicPartition::new("b", 0)
            ]
        );
    }

    #[test]
    fn an_offset_from_a_number_has_no_metadata_or_epoch() {
        assert_eq!(OffsetAndMetadata::from(42), OffsetAndMetadata::new(42));
        assert_eq!(OffsetAndMetadata::new(42).leader_epoch, None);
        assert_eq!(OffsetAndMetadata::new(42).metadata, None);
    }
}
