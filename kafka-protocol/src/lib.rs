//! Sans-IO codecs for the Apache Kafka wire protocol.
//!
//! Bytes in, values out, and back; no sockets, no runtime, no clock, so the
//! same code serves the client and the bundled broker and can be unit-tested
//! and fuzzed on its own.
//!
//! - [`generated`]: every request, response, header and embedded structure in
//!   Apache Kafka's message specs, at every version, written by
//!   `cargo xtask codegen` (never edited by hand).
//! - [`primitives`]: the primitive encodings the generated code is built on.
//! - [`header`] and [`frame`]: request/response headers and size-prefixed frames.
//! - [`codec`]: the [`Encode`], [`Decode`], [`Message`] and [`Request`] traits.
//! - [`records`]: record batches (magic v2, plus read-only legacy v0/v1).
//! - [`compression`]: gzip, snappy, lz4 and zstd, with bounded decompression.
//! - [`consumer_protocol`]: the version envelope of consumer subscriptions
//!   and assignments.
//! - [`error_code`]: Kafka's error codes as a typed enum.

pub mod codec;
pub mod compression;
pub mod consumer_protocol;
pub mod error;
pub mod error_code;
pub mod frame;
pub mod generated;
pub mod header;
pub mod primitives;
pub mod records;
mod uuid;

pub use codec::{Decode, Encode, Message, Request, Response, VersionRange};
pub use error::{ProtocolError, Result};
pub use error_code::ErrorCode;
pub use generated::ApiKey;
pub use uuid::Uuid;
