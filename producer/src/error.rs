//! The producer's error type: why a `send` was refused, or why a record
//! already accepted was not delivered.
//!
//! Errors are `Clone` because one failed batch fails every record in it, and
//! each record's future or callback gets its own copy.

use std::time::Duration;

use ferrokafka_protocol::{ErrorCode, ProtocolError};

/// Everything the producer can report.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error from the cluster core (configuration, connections,
    /// metadata, requests).
    #[error(transparent)]
    Client(#[from] ferrokafka_client::Error),
    /// A record batch could not be encoded.
    #[error("record batch encoding failed: {0}")]
    Protocol(#[from] ProtocolError),
    /// The record is larger than `max.request.size` or `buffer.memory`.
    #[error("the record is {size} bytes when serialized, larger than {setting} ({max})")]
    RecordTooLarge {
        /// The record's estimated serialized size.
        size: usize,
        /// The limit it exceeds.
        max: usize,
        /// The setting that sets the limit.
        setting: &'static str,
    },
    /// `send` waited `max.block.ms` for metadata or buffer space.
    #[error("{what} after {} ms (max.block.ms)", .after.as_millis())]
    MaxBlockTimeout {
        /// What it was waiting for.
        what: String,
        /// How long it waited.
        after: Duration,
    },
    /// The record spent `delivery.timeout.ms` without being acknowledged.
    #[error("expired {topic}-{partition} record(s): {} ms passed since batch creation (delivery.timeout.ms)", .after.as_millis())]
    DeliveryTimeout {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The timeout.
        after: Duration,
    },
    /// The broker refused the records with an error code that retrying
    /// cannot fix (or retries ran out).
    #[error("producing to {topic}-{partition} failed: {code}{}", .message.as_ref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Kafka {
        /// The error code.
        code: ErrorCode,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The broker's message, if it sent one.
        message: Option<String>,
    },
    /// The explicit partition does not exist.
    #[error("partition {partition} of {topic} does not exist (the topic has {count})")]
    InvalidPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// How many partitions the topic has.
        count: usize,
    },
    /// A serializer failed.
    #[error("serialization failed: {0}")]
    Serialization(String),
    /// The idempotent producer hit an error it cannot recover from (fenced
    /// by another producer with the same id, or refused authorization);
    /// every later send fails with it too.
    #[error("the producer is in a fatal state: {0}")]
    Fatal(String),
    /// A transactional call made in a state that does not allow it (Java's
    /// `IllegalStateException`): `send` outside a transaction, `commit`
    /// without `begin`, a producer without `transactional.id`...
    #[error("invalid transaction state: {0}")]
    TransactionState(String),
    /// The open transaction cannot commit (a record of it failed, or the
    /// coordinator refused a request): call `abort_transaction`, then redo
    /// the work in a new transaction.
    #[error("the transaction must be aborted: {0}")]
    TransactionAbortable(String),
    /// The record was not sent: its transaction was aborted first.
    #[error("the transaction was aborted before the record was sent")]
    TransactionAborted,
    /// The producer is closed, or was closed before the record was delivered.
    #[error("the producer is closed{}", .0.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Closed(Option<String>),
}

/// Result alias for the producer.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The Kafka error code behind this error, if a broker sent one.
    pub fn kafka_code(&self) -> Option<ErrorCode> {
        match self {
            Error::Kafka { code, .. } => Some(*code),
            Error::Client(e) => e.kafka_code(),
            _ => None,
        }
    }

    /// A configuration error.
    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::Client(ferrokafka_client::Error::Config(message.into()))
    }
}
