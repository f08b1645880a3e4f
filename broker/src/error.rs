//! The broker crate's error type: what can fail while starting, stopping or
//! persisting a broker. Errors a client sees travel as Kafka error codes in
//! responses instead, never as this type.

use std::path::PathBuf;

use thiserror::Error;

/// Why a broker could not start, restart a node or touch its data directory.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// A listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The data directory could not be read or written.
    #[error("data directory {path}: {source}")]
    Storage {
        /// The file or directory involved.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// A setting is out of range or contradicts another.
    #[error("invalid broker configuration: {0}")]
    Config(String),
    /// The node id is not one of this broker's.
    #[error("no node with id {0}")]
    UnknownNode(i32),
}
