//! Record batches: the `records` bytes of Produce requests and Fetch
//! responses.
//!
//! Kafka stores and ships records in batches. Magic v2 batches (KIP-98,
//! Kafka 0.11+) carry a 61-byte header (offsets, timestamps, producer id and
//! epoch, base sequence, CRC-32C) followed by varint-encoded records,
//! compressed together when the batch names a codec. Older brokers and
//! topics may still hold legacy message sets (magic 0 and 1), which are
//! decoded here, read-only, into the same [`Record`] type.
//!
//! What lives where:
//!
//! - [`RecordBatch`] and [`Record`] are decoded values. Decoding never copies
//!   key, value or header bytes: they are slices of the input (or of the
//!   decompressed buffer), and the only per-batch allocation besides
//!   decompression is the `Vec` of records (plus a `Vec` of headers for
//!   records that have any).
//! - [`decode_batches`] walks the `records` bytes of a fetch response batch by
//!   batch, detecting the magic of each (byte 16, in the same place in both
//!   formats), and stops silently at a partial trailing batch: brokers cut
//!   fetch responses at a byte limit, so that is normal.
//! - [`RecordBatchHeader`], [`RecordBatchView`] and [`RecordBatchMut`] let the
//!   broker read a batch's header, check its CRC and patch its base offset,
//!   leader epoch and LogAppendTime in place without decoding the records,
//!   and let a producer restamp a sealed batch's producer id, epoch and base
//!   sequence (with its CRC) in place;
//!   [`RecordBatchView::records`] streams a batch's records one at a time.
//! - [`RecordBatchBuilder`] lays records out in the wire format as they are
//!   appended, so a producer encodes each record exactly once and can ask
//!   whether the next one still fits in `batch.size`.
//! - [`ControlRecord`] and [`EndTransactionMarker`] are the key and value of
//!   the records in control batches (transaction commit and abort markers).
//!
//! Header keys are kept as [`Bytes`], not `String`: the Java client writes
//! UTF-8, but validating and allocating every header key would cost a
//! consumer time it may never need; [`RecordHeader::key_str`] validates on
//! demand.

mod batch;
mod builder;
mod control;
mod header;
mod legacy;

use bytes::Bytes;

pub use batch::{RecordBatch, RecordIter};
pub use builder::RecordBatchBuilder;
pub use control::{ControlRecord, ControlRecordKind, EndTransactionMarker, end_transaction_batch};
pub use header::{
    BatchAttributes, RecordBatchHeader, RecordBatchMut, RecordBatchView, RecordBatchViews,
    increment_sequence,
};

use crate::compression::DEFAULT_DECOMPRESSION_LIMIT;
use crate::error::{ProtocolError, Result};

/// The magic byte of current record batches (Kafka 0.11+).
pub const MAGIC_V2: i8 = 2;
/// The magic byte of legacy messages with timestamps (Kafka 0.10).
pub const MAGIC_V1: i8 = 1;
/// The magic byte of the original legacy messages (Kafka 0.8 and 0.9).
pub const MAGIC_V0: i8 = 0;
/// The bytes before a batch's length-counted part: base offset (8) and
/// batch length (4). The same prefix (offset, size) starts a legacy message.
pub const LOG_OVERHEAD: usize = 12;
/// The size of a magic v2 batch header, up to the first record.
pub const RECORD_BATCH_OVERHEAD: usize = 61;
/// Where the magic byte sits in both formats: after offset (8), length (4)
/// and either the partition leader epoch (v2) or the CRC (v0/v1).
pub const MAGIC_OFFSET: usize = 16;
/// Producer id of a batch written without idempotence.
pub const NO_PRODUCER_ID: i64 = -1;
/// Producer epoch of a batch written without idempotence.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// Base sequence of a batch written without idempotence.
pub const NO_SEQUENCE: i32 = -1;
/// Partition leader epoch before the broker assigns one.
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;
/// Timestamp of a record that has none (magic 0, or an empty batch).
pub const NO_TIMESTAMP: i64 = -1;

/// What a batch's timestamps mean (attribute bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer when the record was created.
    #[default]
    CreateTime,
    /// Set by the broker when it appended the batch; every record of the
    /// batch then has the batch's max timestamp.
    LogAppendTime,
}

/// How to decode record batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeOptions {
    /// Check each batch's CRC (CRC-32C for v2, CRC-32 per message for v0/v1)
    /// before decoding it. On by default, as `check.crcs` is in the Java
    /// consumer.
    pub verify_crc: bool,
    /// The most bytes one compressed batch (or legacy wrapper message) may
    /// decompress to; past it decoding fails with
    /// [`ProtocolError::DecompressedTooLarge`].
    ///
    /// The decoded `Vec` of records is bounded by it too, but not by the
    /// same number: a [`Record`] takes about 100 bytes and the smallest
    /// record on the wire 7, so a batch of nothing but empty records can
    /// need about 15 times the limit. [`RecordBatchView::records`] decodes
    /// one record at a time for callers that must stay within the limit.
    pub decompression_limit: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self {
            verify_crc: true,
            decompression_limit: DEFAULT_DECOMPRESSION_LIMIT,
        }
    }
}

impl DecodeOptions {
    /// Sets whether CRCs are verified.
    #[must_use]
    pub fn with_verify_crc(mut self, verify_crc: bool) -> Self {
        self.verify_crc = verify_crc;
        self
    }

    /// Sets the decompression limit, in bytes.
    #[must_use]
    pub fn with_decompression_limit(mut self, limit: usize) -> Self {
        self.decompression_limit = limit;
        self
    }
}

/// One record: absolute offset and timestamp, key, value and headers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// The record's offset in its partition (batch base offset + delta).
    pub offset: i64,
    /// The record's timestamp in milliseconds since the epoch: base
    /// timestamp + delta, or the batch's max timestamp under
    /// [`TimestampType::LogAppendTime`], or [`NO_TIMESTAMP`] for magic 0.
    pub timestamp: i64,
    /// The key; `None` is a null key (distinct from an empty one).
    pub key: Option<Bytes>,
    /// The value; `None` is a null value (a tombstone on compacted topics).
    pub value: Option<Bytes>,
    /// The headers, in wire order; keys may repeat.
    pub headers: Vec<RecordHeader>,
}

/// One record header. Keys are never null on the wire; values may be.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RecordHeader {
    /// The header key, as raw bytes (UTF-8 when written by a Java client).
    pub key: Bytes,
    /// The header value; `None` is null.
    pub value: Option<Bytes>,
}

impl RecordHeader {
    /// A header with the given key and value.
    pub fn new(key: impl Into<Bytes>, value: Option<Bytes>) -> Self {
        Self {
            key: key.into(),
            value,
        }
    }

    /// The key as UTF-8 text, or `None` if it is not valid UTF-8.
    pub fn key_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.key).ok()
    }
}

/// Decodes every complete batch in `records` (the records bytes of a fetch
/// response partition), of any magic, one at a time.
///
/// The iterator stops without error at a partial trailing batch, which a
/// broker leaves when it cuts a response at its byte limit; whatever was not
/// decoded stays available through [`RecordBatches::remainder`]. A complete
/// batch that is corrupt yields one error and ends the iteration.
pub fn decode_batches(records: Bytes, options: DecodeOptions) -> RecordBatches {
    RecordBatches {
        rest: records,
        options,
        done: false,
    }
}

/// Decodes every complete batch in `records` into a `Vec`, ignoring a partial
/// trailing batch; see [`decode_batches`].
pub fn decode_all(records: Bytes, options: &DecodeOptions) -> Result<Vec<RecordBatch>> {
    decode_batches(records, *options).collect()
}

/// The iterator [`decode_batches`] returns.
#[derive(Debug, Clone)]
pub struct RecordBatches {
    rest: Bytes,
    options: DecodeOptions,
    done: bool,
}

impl RecordBatches {
    /// The bytes not decoded yet: after the iterator ends without error,
    /// the partial trailing batch (empty if there was none).
    pub fn remainder(&self) -> &Bytes {
        &self.rest
    }
}

impl Iterator for RecordBatches {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = match complete_entry_len(&self.rest) {
            Ok(None) => {
                self.done = true;
                return None;
            }
            Ok(Some(len)) => {
                let entry = self.rest.split_to(len);
                RecordBatch::decode_entry(entry, &self.options)
            }
            Err(error) => Err(error),
        };
        if result.is_err() {
            self.done = true;
        }
        Some(result)
    }
}

/// The length of the complete batch or legacy message at the start of
/// `buf` (including its 12-byte offset and length prefix), `None` if `buf`
/// ends before it does, or an error if its length prefix cannot be honest.
pub(crate) fn complete_entry_len(buf: &[u8]) -> Result<Option<usize>> {
    let Some(length) = header::be_bytes(buf, 8) else {
        return Ok(None);
    };
    let length = i32::from_be_bytes(length);
    let Ok(body) = usize::try_from(length) else {
        return Err(ProtocolError::NegativeLength {
            what: "RecordBatch.batchLength",
            length: i64::from(length),
        });
    };
    let total = LOG_OVERHEAD.saturating_add(body);
    if buf.len() < total {
        return Ok(None);
    }
    // Both formats need the magic byte inside the counted part.
    if total <= MAGIC_OFFSET {
        return Err(ProtocolError::InvalidRecord(format!(
            "batch length {length} is too short to hold a magic byte"
        )));
    }
    Ok(Some(total))
}

#[cfg(test)]
mod tests;
