//! The consumer's error type: configuration, cluster, group and fetch
//! failures, each naming what went wrong and where.

use ferrokafka_protocol::{ErrorCode, ProtocolError};

use crate::record::TopicPartition;

/// Everything the consumer can report.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from the cluster core (configuration, connections,
    /// metadata, requests).
    #[error(transparent)]
    Client(#[from] ferrokafka_client::Error),
    /// Fetched record batches could not be decoded (bad CRC, bad compression...).
    #[error("corrupt records in {partition} at offset {offset}: {source}")]
    Corrupt {
        /// The partition.
        partition: TopicPartition,
        /// The fetch offset.
        offset: i64,
        /// What the codec reported.
        source: ProtocolError,
    },
    /// The position is out of the partition's range and
    /// `auto.offset.reset=none`.
    #[error("offset {offset} is out of range for {partition} and auto.offset.reset is none")]
    OffsetOutOfRange {
        /// The partition.
        partition: TopicPartition,
        /// The position that was out of range.
        offset: i64,
    },
    /// A partition has neither a committed offset nor a reset policy
    /// (`auto.offset.reset=none`).
    #[error("no committed offset for {0} and auto.offset.reset is none")]
    NoOffsetForPartition(TopicPartition),
    /// The operation needs a partition this consumer is not assigned.
    #[error("{0} is not assigned to this consumer")]
    NotAssigned(TopicPartition),
    /// The operation needs `group.id`.
    #[error("{0} needs group.id to be set")]
    NoGroupId(&'static str),
    /// `subscribe` and `assign` were mixed.
    #[error("subscribe and assign cannot be mixed: call unsubscribe first")]
    IllegalState,
    /// The group rebalanced (or this member was fenced) before the commit
    /// could be applied; the offsets were not committed.
    #[error("commit failed: {0}")]
    CommitFailed(String),
    /// The group coordinator answered with an error that retrying cannot fix.
    #[error("group {group}: {code}")]
    Group {
        /// The group id.
        group: String,
        /// The error code.
        code: ErrorCode,
    },
    /// Another member with the same `group.instance.id` took over (static
    /// membership); this consumer cannot continue.
    #[error("fenced: another member uses group.instance.id {0}")]
    FencedInstanceId(String),
    /// The partition assignment could not be computed or decoded.
    #[error("assignment failed: {0}")]
    Assignment(String),
    /// A deserializer failed.
    #[error("deserialization failed: {0}")]
    Deserialization(String),
    /// The consumer was closed.
    #[error("the consumer is closed")]
    Closed,
}

/// Result alias for the consumer.
pub type Result<T, E = Error> = std::result::Result<T, E>;
