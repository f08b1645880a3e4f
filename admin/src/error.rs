//! The admin client's error type: a per-item Kafka error with the broker's
//! message kept, or a failure of the client core.

use ferrokafka_protocol::ErrorCode;

/// What can go wrong in an admin operation (or for one item of it).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// The broker answered this item with an error code.
    #[error("{code}{}", .message.as_ref().map(|m| format!(": {m}")).unwrap_or_default())]
    Kafka {
        /// The error code (TOPIC_ALREADY_EXISTS, UNKNOWN_TOPIC_OR_PARTITION...).
        code: ErrorCode,
        /// The broker's error message, if it sent one.
        message: Option<String>,
    },
    /// The broker's response did not mention this item.
    #[error("the broker's response did not mention {0:?}")]
    MissingResult(String),
    /// The operation's timeout passed (retries included) before this item
    /// had an answer.
    #[error("the admin operation timed out after {} ms", .after.as_millis())]
    Timeout {
        /// The options' timeout.
        after: std::time::Duration,
    },
    /// The request cannot be sent as given (bad argument, or a feature the
    /// broker's API version does not carry).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The client core failed (routing, transport, timeout...).
    #[error(transparent)]
    Client(#[from] ferrokafka_client::Error),
}

impl AdminError {
    /// The Kafka error code, if there is one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            AdminError::Kafka { code, .. } => Some(*code),
            AdminError::Client(e) => e.kafka_code(),
            AdminError::MissingResult(_)
            | AdminError::Timeout { .. }
            | AdminError::InvalidRequest(_) => None,
        }
    }

    /// The broker's error message, if it sent one.
    pub fn message(&self) -> Option<&str> {
        match self {
            AdminError::Kafka { message, .. } => message.as_deref(),
            AdminError::Client(e) => client_message(e),
            _ => None,
        }
    }

    /// `Ok(())` for [`ErrorCode::None`], else a [`AdminError::Kafka`].
    pub fn check(code: ErrorCode, message: Option<String>) -> Result<()> {
        if code.is_ok() {
            Ok(())
        } else {
            Err(AdminError::Kafka { code, message })
        }
    }
}

impl AdminError {
    /// A [`AdminError::Kafka`] without a message.
    pub fn kafka(code: ErrorCode) -> AdminError {
        AdminError::Kafka {
            code,
            message: None,
        }
    }

    /// Whether retrying the operation can succeed (the core's policy).
    pub fn is_retriable(&self) -> bool {
        match self {
            AdminError::Kafka { code, .. } => {
                ferrokafka_client::retry::classify_code(*code)
                    != ferrokafka_client::retry::RetryAction::Fail
            }
            AdminError::Client(e) => e.is_retriable(),
            AdminError::Timeout { .. } => true,
            AdminError::MissingResult(_) | AdminError::InvalidRequest(_) => false,
        }
    }
}

fn client_message(error: &ferrokafka_client::Error) -> Option<&str> {
    match error {
        ferrokafka_client::Error::Kafka { message, .. } => message.as_deref(),
        ferrokafka_client::Error::RetriesExhausted { last, .. } => client_message(last),
        _ => None,
    }
}

/// Result alias for the admin client.
pub type Result<T, E = AdminError> = std::result::Result<T, E>;
