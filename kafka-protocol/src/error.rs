//! The one error type of the protocol crate.
//!
//! Every failure to decode bytes or to encode a value names what was being
//! read or written (`what` / `field`: a static label such as
//! `"ProduceRequest.Acks"`), so a malformed frame off the network points at the
//! exact field that was wrong. Nothing in this crate panics on input.

use thiserror::Error;

/// Everything that can go wrong while encoding or decoding Kafka wire data.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The input ended before a value was complete.
    #[error("truncated input reading {what}: needed {needed} bytes, {remaining} remain")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// How many bytes the value needed.
        needed: usize,
        /// How many bytes were left.
        remaining: usize,
    },
    /// A length or element count was negative and not the null marker (-1).
    #[error("negative length {length} reading {what}")]
    NegativeLength {
        /// What was being read.
        what: &'static str,
        /// The length found on the wire.
        length: i64,
    },
    /// A length or element count is larger than the bytes that remain, so it
    /// cannot be honest; nothing was allocated for it.
    #[error("length {length} reading {what} exceeds the {remaining} bytes that remain")]
    LengthExceedsInput {
        /// What was being read.
        what: &'static str,
        /// The length or count found on the wire.
        length: u64,
        /// How many bytes were left.
        remaining: usize,
    },
    /// A varint ran past its maximum width.
    #[error("malformed varint reading {what}")]
    MalformedVarint {
        /// What was being read.
        what: &'static str,
    },
    /// A string was not valid UTF-8.
    #[error("invalid UTF-8 in {what}")]
    InvalidUtf8 {
        /// What was being read.
        what: &'static str,
    },
    /// A null was found (or given) where the version does not allow one.
    #[error("{field} is not nullable at version {version}")]
    NullNotAllowed {
        /// The field.
        field: &'static str,
        /// The message version.
        version: i16,
    },
    /// A message or header was asked for at a version its spec does not define.
    #[error("{message} has no version {version}")]
    UnsupportedVersion {
        /// The message name.
        message: &'static str,
        /// The version asked for.
        version: i16,
    },
    /// Encoding a non-default value into a version that cannot carry the field
    /// (and the field is not ignorable): silently dropping it would lose data.
    #[error("{field} holds a non-default value but version {version} cannot carry it")]
    FieldNotSupported {
        /// The field.
        field: &'static str,
        /// The message version.
        version: i16,
    },
    /// A value is too long for its length prefix.
    #[error("{what} is too long to encode ({length} > {max})")]
    ValueTooLong {
        /// What was being written.
        what: &'static str,
        /// Its length.
        length: usize,
        /// The largest length the encoding can carry.
        max: usize,
    },
    /// An API key this crate does not know.
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    /// A frame's size prefix is larger than the configured maximum.
    #[error("frame of {size} bytes exceeds the maximum of {max}")]
    FrameTooLarge {
        /// The size prefix found.
        size: u64,
        /// The configured maximum.
        max: usize,
    },
    /// A frame's size prefix is negative or too small to hold a header.
    #[error("invalid frame size {0}")]
    InvalidFrameSize(i32),
    /// Bytes were left over after a complete message was decoded.
    #[error("{remaining} unexpected trailing bytes after {what}")]
    TrailingBytes {
        /// What was decoded.
        what: &'static str,
        /// How many bytes were left.
        remaining: usize,
    },
    /// A record batch's stored CRC-32C does not match its contents.
    #[error("record batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// The CRC in the batch header.
        stored: u32,
        /// The CRC computed over the batch.
        computed: u32,
    },
    /// A record batch or message set with a magic byte this crate cannot read.
    #[error("unsupported record magic {0}")]
    UnsupportedMagic(i8),
    /// A compression codec id outside 0..=4.
    #[error("unknown compression codec id {0}")]
    UnknownCompression(u8),
    /// Compressed data could not be decompressed.
    #[error("{codec} decompression failed: {message}")]
    Decompression {
        /// The codec name.
        codec: &'static str,
        /// What the codec reported.
        message: String,
    },
    /// Compression failed.
    #[error("{codec} compression failed: {message}")]
    Compression {
        /// The codec name.
        codec: &'static str,
        /// What the codec reported.
        message: String,
    },
    /// Decompressed data would exceed the configured limit.
    #[error("decompressed {codec} data exceeds the limit of {limit} bytes")]
    DecompressedTooLarge {
        /// The codec name.
        codec: &'static str,
        /// The configured limit.
        limit: usize,
    },
    /// A record batch or record is structurally invalid.
    #[error("invalid record data: {0}")]
    InvalidRecord(String),
}

/// Result alias for this crate.
pub type Result<T, E = ProtocolError> = std::result::Result<T, E>;
