//! Kafka error codes. Placeholder.

/// Placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// No error.
    None,
}
