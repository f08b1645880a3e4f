//! The client core's error type: what failed, where, and whether retrying
//! can help. [`crate::retry::classify`] turns one of these into the action to
//! take; nothing else decides that.

use std::time::Duration;

use ferrokafka_protocol::{ApiKey, ErrorCode, ProtocolError};

/// Everything that can go wrong talking to a cluster.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration property was not recognised.
    #[error("unknown configuration property {0:?}")]
    UnknownProperty(String),
    /// A configuration property had a malformed value.
    #[error("invalid value {value:?} for {name}: {reason}")]
    InvalidProperty {
        /// The property name.
        name: String,
        /// The value given.
        value: String,
        /// What was expected.
        reason: String,
    },
    /// Settings that conflict, or are out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Bytes could not be encoded or decoded.
    #[error("protocol error talking to {broker}: {source}")]
    Protocol {
        /// The broker's address.
        broker: String,
        /// What the codec reported.
        source: ProtocolError,
    },
    /// A socket operation failed (connect, read, write) or the connection
    /// closed with the request in flight.
    #[error("network error talking to {broker}: {message}")]
    Network {
        /// The broker's address.
        broker: String,
        /// What failed.
        message: String,
    },
    /// No response arrived within `request.timeout.ms` (or the connect
    /// timeout); the connection is closed, as the Java client does.
    #[error("{api} request to {broker} timed out after {} ms", .after.as_millis())]
    Timeout {
        /// The API.
        api: ApiKey,
        /// The broker's address.
        broker: String,
        /// How long it waited.
        after: Duration,
    },
    /// The broker supports no version of the API that this client speaks.
    #[error("{api} is unsupported by broker {broker} at any version this client speaks")]
    UnsupportedByBroker {
        /// The API.
        api: ApiKey,
        /// The broker's address.
        broker: String,
    },
    /// The broker answered with a Kafka error code.
    #[error("{api} failed{}: {code}{}", .broker.map(|b| format!(" on broker {b}")).unwrap_or_default(), .message.as_ref().map(|m| format!(" ({m})")).unwrap_or_default())]
    Kafka {
        /// The error code.
        code: ErrorCode,
        /// The API.
        api: ApiKey,
        /// The broker that answered, if known.
        broker: Option<i32>,
        /// The broker's error message, if it sent one.
        message: Option<String>,
    },
    /// None of the bootstrap addresses could be reached.
    #[error("no bootstrap broker reachable (tried {tried:?}): {last}")]
    NoBrokerAvailable {
        /// The addresses tried.
        tried: Vec<String>,
        /// The last failure.
        last: String,
    },
    /// A node id that the cluster metadata does not list.
    #[error("broker {0} is not in the cluster metadata")]
    UnknownNode(i32),
    /// The partition's leader is unknown or unavailable.
    #[error("no leader known for {topic}-{partition}")]
    LeaderUnknown {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// Retries ran out before the deadline; the last error is kept.
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// How many attempts were made.
        attempts: u32,
        /// The last error.
        last: Box<Error>,
    },
    /// The client was closed.
    #[error("the client is closed")]
    Closed,
}

/// Result alias for the client core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::InvalidProperty`].
    pub fn invalid_property(name: &str, value: &str, reason: &str) -> Error {
        Error::InvalidProperty {
            name: name.to_string(),
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }

    /// A Kafka error for `api` from `broker`.
    pub fn kafka(
        code: ErrorCode,
        api: ApiKey,
        broker: Option<i32>,
        message: Option<String>,
    ) -> Error {
        Error::Kafka {
            code,
            api,
            broker,
            message,
        }
    }

    /// The Kafka error code, if the broker sent one.
    pub fn kafka_code(&self) -> Option<ErrorCode> {
        match self {
            Error::Kafka { code, .. } => Some(*code),
            Error::RetriesExhausted { last, .. } => last.kafka_code(),
            _ => None,
        }
    }

    /// Whether retrying (after the action [`crate::retry::classify`] names)
    /// can succeed.
    pub fn is_retriable(&self) -> bool {
        !matches!(
            crate::retry::classify(self),
            crate::retry::RetryAction::Fail
        )
    }
}
