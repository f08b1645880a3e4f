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
            AdminError::MissingResult(_) => None,
        }
    }

    /// The broker's error message, if it sent one.
    pub fn message(&self) -> Option<&str> {
        match self {
            AdminError::Kafka { message, .. } => message.as_deref(),
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

/// Result alias for the admin client.
pub type Result<T, E = AdminError> = std::result::Result<T, E>;
