//! The magic v2 batch header, read and patched without touching the records.
//!
//! Layout (KIP-98; offsets from the start of the batch):
//!
//! ```text
//!  0 baseOffset i64        8 batchLength i32       12 partitionLeaderEpoch i32
//! 16 magic i8             17 crc u32 (CRC-32C of bytes 21..end)
//! 21 attributes i16       23 lastOffsetDelta i32  27 baseTimestamp i64
//! 35 maxTimestamp i64     43 producerId i64       51 producerEpoch i16
//! 53 baseSequence i32     57 recordCount i32      61 records...
//! ```
//!
//! The CRC starts at the attributes, so a broker can assign the base offset
//! and the partition leader epoch without recomputing it; only switching a
//! batch to LogAppendTime (attributes and max timestamp) needs a new CRC.

use bytes::{Buf, Bytes};

use super::{
    LOG_OVERHEAD, MAGIC_OFFSET, MAGIC_V2, NO_SEQUENCE, RECORD_BATCH_OVERHEAD, TimestampType,
};
use crate::compression::Compression;
use crate::error::{ProtocolError, Result};

const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
const CRC_OFFSET: usize = 17;
/// Where the CRC-covered part of a batch begins.
pub(crate) const ATTRIBUTES_OFFSET: usize = 21;
const MAX_TIMESTAMP_OFFSET: usize = 35;
const PRODUCER_ID_OFFSET: usize = 43;
const PRODUCER_EPOCH_OFFSET: usize = 51;
const BASE_SEQUENCE_OFFSET: usize = 53;

/// `N` big-endian bytes of `buf` at `at`, or `None` past its end.
#[inline]
pub(crate) fn be_bytes<const N: usize>(buf: &[u8], at: usize) -> Option<[u8; N]> {
    buf.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Overwrites `N` bytes of `buf` at `at`; callers have checked the length.
#[inline]
fn put_be_bytes<const N: usize>(buf: &mut [u8], at: usize, value: [u8; N]) {
    if let Some(target) = at.checked_add(N).and_then(|end| buf.get_mut(at..end)) {
        target.copy_from_slice(&value);
    }
}

/// A batch's attribute bits: compression (0-2), timestamp type (3),
/// transactional (4), control (5), delete horizon (6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BatchAttributes(i16);

impl BatchAttributes {
    const COMPRESSION_MASK: i16 = 0x07;
    const LOG_APPEND_TIME: i16 = 1 << 3;
    const TRANSACTIONAL: i16 = 1 << 4;
    const CONTROL: i16 = 1 << 5;
    const DELETE_HORIZON: i16 = 1 << 6;

    /// The attributes with these raw bits.
    pub const fn from_bits(bits: i16) -> Self {
        Self(bits)
    }

    /// The raw bits, as on the wire.
    pub const fn bits(self) -> i16 {
        self.0
    }

    /// The compression codec; ids 5-7 are
    /// [`ProtocolError::UnknownCompression`].
    pub fn compression(self) -> Result<Compression> {
        Compression::from_id((self.0 & Self::COMPRESSION_MASK) as u8)
    }

    /// The timestamp type.
    pub const fn timestamp_type(self) -> TimestampType {
        if self.0 & Self::LOG_APPEND_TIME != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Whether the batch belongs to a transaction.
    pub const fn is_transactional(self) -> bool {
        self.0 & Self::TRANSACTIONAL != 0
    }

    /// Whether the batch holds control records (transaction markers).
    pub const fn is_control(self) -> bool {
        self.0 & Self::CONTROL != 0
    }

    /// Whether the base timestamp holds a delete horizon (KIP-534: set by
    /// the log cleaner on batches with tombstones or transaction markers).
    pub const fn has_delete_horizon(self) -> bool {
        self.0 & Self::DELETE_HORIZON != 0
    }

    /// These attributes with another compression codec.
    #[must_use]
    pub const fn with_compression(self, codec: Compression) -> Self {
        Self((self.0 & !Self::COMPRESSION_MASK) | codec.id() as i16)
    }

    /// These attributes with another timestamp type.
    #[must_use]
    pub const fn with_timestamp_type(self, timestamp_type: TimestampType) -> Self {
        self.with_flag(
            Self::LOG_APPEND_TIME,
            matches!(timestamp_type, TimestampType::LogAppendTime),
        )
    }

    /// These attributes with the transactional flag set or cleared.
    #[must_use]
    pub const fn with_transactional(self, on: bool) -> Self {
        self.with_flag(Self::TRANSACTIONAL, on)
    }

    /// These attributes with the control flag set or cleared.
    #[must_use]
    pub const fn with_control(self, on: bool) -> Self {
        self.with_flag(Self::CONTROL, on)
    }

    /// These attributes with the delete-horizon flag set or cleared.
    #[must_use]
    pub const fn with_delete_horizon(self, on: bool) -> Self {
        self.with_flag(Self::DELETE_HORIZON, on)
    }

    const fn with_flag(self, flag: i16, on: bool) -> Self {
        if on {
            Self(self.0 | flag)
        } else {
            Self(self.0 & !flag)
        }
    }
}

/// Returns `sequence + increment` the way the Java client does: sequences
/// wrap from `i32::MAX` to 0, never into negative numbers.
pub fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    // Java's `incrementSequence` is addition modulo 2^31 for the
    // non-negative values producers use; computing it that way in i64 also
    // keeps nonsense input (negative deltas off the wire) from overflowing.
    let sum = (i64::from(sequence) + i64::from(increment)).rem_euclid(1 << 31);
    i32::try_from(sum).unwrap_or_default()
}

/// The fixed 61-byte header of a magic v2 batch, every field as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RecordBatchHeader {
    /// Offset of the first record (assigned by the broker; 0 from producers).
    pub base_offset: i64,
    /// Bytes after this field: the batch's total size minus 12.
    pub batch_length: i32,
    /// Epoch of the leader that appended the batch (-1 from producers).
    pub partition_leader_epoch: i32,
    /// Format version; always 2 here.
    pub magic: i8,
    /// CRC-32C of everything from the attributes to the end of the batch.
    pub crc: u32,
    /// Compression, timestamp type and flags.
    pub attributes: BatchAttributes,
    /// Offset of the last record relative to `base_offset` (kept even when
    /// compaction removed that record).
    pub last_offset_delta: i32,
    /// Timestamp of the first record (or the delete horizon, see
    /// [`BatchAttributes::has_delete_horizon`]).
    pub base_timestamp: i64,
    /// Largest record timestamp, or the LogAppendTime.
    pub max_timestamp: i64,
    /// Idempotent/transactional producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records in the batch.
    pub record_count: i32,
}

impl RecordBatchHeader {
    /// Parses the header at the start of `batch`. Needs the 61 header bytes
    /// only, not the records; checks the magic (2) and that the batch length
    /// can hold a header, nothing else (see [`RecordBatchView`] for a batch
    /// known to be complete, and for the CRC).
    pub fn parse(batch: &[u8]) -> Result<Self> {
        if let Some(&magic) = batch.get(MAGIC_OFFSET) {
            if magic as i8 != MAGIC_V2 {
                return Err(ProtocolError::UnsupportedMagic(magic as i8));
            }
        }
        // A dishonest length is reported as such even when the input is too
        // short for a whole header.
        if let Some(length) = be_bytes(batch, 8).map(i32::from_be_bytes) {
            if length < 0 {
                return Err(ProtocolError::NegativeLength {
                    what: "RecordBatch.batchLength",
                    length: i64::from(length),
                });
            }
            if (length as usize) < RECORD_BATCH_OVERHEAD - LOG_OVERHEAD {
                return Err(ProtocolError::InvalidRecord(format!(
                    "batch length {length} is smaller than a batch header"
                )));
            }
        }
        let Some(mut fields) = batch.get(..RECORD_BATCH_OVERHEAD) else {
            return Err(ProtocolError::Truncated {
                what: "RecordBatch header",
                needed: RECORD_BATCH_OVERHEAD,
                remaining: batch.len(),
            });
        };
        // `fields` holds exactly the 61 header bytes, so these reads cannot
        // run past its end.
        let header = Self {
            base_offset: fields.get_i64(),
            batch_length: fields.get_i32(),
            partition_leader_epoch: fields.get_i32(),
            magic: fields.get_i8(),
            crc: fields.get_u32(),
            attributes: BatchAttributes(fields.get_i16()),
            last_offset_delta: fields.get_i32(),
            base_timestamp: fields.get_i64(),
            max_timestamp: fields.get_i64(),
            producer_id: fields.get_i64(),
            producer_epoch: fields.get_i16(),
            base_sequence: fields.get_i32(),
            record_count: fields.get_i32(),
        };
        if header.record_count < 0 {
            return Err(ProtocolError::NegativeLength {
                what: "RecordBatch.recordCount",
                length: i64::from(header.record_count),
            });
        }
        Ok(header)
    }

    /// Writes the header (with its `crc` field as it is) over the first 61
    /// bytes of `out`, which must be at least that long.
    pub(crate) fn write(&self, out: &mut [u8]) {
        put_be_bytes(out, 0, self.base_offset.to_be_bytes());
        put_be_bytes(out, 8, self.batch_length.to_be_bytes());
        put_be_bytes(
            out,
            PARTITION_LEADER_EPOCH_OFFSET,
            self.partition_leader_epoch.to_be_bytes(),
        );
        put_be_bytes(out, MAGIC_OFFSET, self.magic.to_be_bytes());
        put_be_bytes(out, CRC_OFFSET, self.crc.to_be_bytes());
        put_be_bytes(out, ATTRIBUTES_OFFSET, self.attributes.0.to_be_bytes());
        put_be_bytes(out, 23, self.last_offset_delta.to_be_bytes());
        put_be_bytes(out, 27, self.base_timestamp.to_be_bytes());
        put_be_bytes(out, MAX_TIMESTAMP_OFFSET, self.max_timestamp.to_be_bytes());
        put_be_bytes(out, PRODUCER_ID_OFFSET, self.producer_id.to_be_bytes());
        put_be_bytes(
            out,
            PRODUCER_EPOCH_OFFSET,
            self.producer_epoch.to_be_bytes(),
        );
        put_be_bytes(out, BASE_SEQUENCE_OFFSET, self.base_sequence.to_be_bytes());
        put_be_bytes(out, 57, self.record_count.to_be_bytes());
    }

    /// The batch's total size in bytes, offset and length fields included.
    pub fn size(&self) -> usize {
        LOG_OVERHEAD.saturating_add(usize::try_from(self.batch_length).unwrap_or(0))
    }

    /// Offset of the last record (`base_offset + last_offset_delta`).
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// The offset after this batch: where the next batch starts.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    /// Sequence number of the last record, or [`NO_SEQUENCE`]; wraps as the
    /// Java client does (see [`increment_sequence`]).
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence == NO_SEQUENCE {
            NO_SEQUENCE
        } else {
            increment_sequence(self.base_sequence, self.last_offset_delta)
        }
    }

    /// The compression codec.
    pub fn compression(&self) -> Result<Compression> {
        self.attributes.compression()
    }

    /// The timestamp type.
    pub fn timestamp_type(&self) -> TimestampType {
        self.attributes.timestamp_type()
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes.is_transactional()
    }

    /// Whether the batch holds control records.
    pub fn is_control(&self) -> bool {
        self.attributes.is_control()
    }

    /// Whether the base timestamp holds a delete horizon.
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes.has_delete_horizon()
    }
}

/// The CRC-32C of a complete batch's covered part (attributes to the end).
pub(super) fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(batch.get(ATTRIBUTES_OFFSET..).unwrap_or_default())
}

fn check_crc(stored: u32, batch: &[u8]) -> Result<()> {
    let computed = compute_crc(batch);
    if computed == stored {
        Ok(())
    } else {
        Err(ProtocolError::CrcMismatch { stored, computed })
    }
}

/// One complete magic v2 batch, still in wire form, with its header parsed.
///
/// This is what the broker works with: it can check the CRC, read producer
/// id, sequence and record count, and store or forward the bytes untouched;
/// [`RecordBatchView::decode`] decodes the records when needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatchView {
    header: RecordBatchHeader,
    bytes: Bytes,
}

impl RecordBatchView {
    /// Splits the batch at the start of `buf` off it. On error `buf` is left
    /// as it was; a batch that does not fit in `buf` is
    /// [`ProtocolError::Truncated`].
    pub fn split_from(buf: &mut Bytes) -> Result<Self> {
        let header = RecordBatchHeader::parse(buf)?;
        let size = header.size();
        if buf.len() < size {
            return Err(ProtocolError::Truncated {
                what: "RecordBatch",
                needed: size,
                remaining: buf.len(),
            });
        }
        Ok(Self {
            header,
            bytes: buf.split_to(size),
        })
    }

    /// A view of `batch`, which must hold exactly one complete batch.
    pub fn new(batch: Bytes) -> Result<Self> {
        let mut rest = batch;
        let view = Self::split_from(&mut rest)?;
        if !rest.is_empty() {
            return Err(ProtocolError::TrailingBytes {
                what: "RecordBatch",
                remaining: rest.len(),
            });
        }
        Ok(view)
    }

    /// The parsed header.
    pub fn header(&self) -> &RecordBatchHeader {
        &self.header
    }

    /// The whole batch, as on the wire.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The whole batch, as on the wire.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// The records section after the 61-byte header, compressed if the
    /// batch names a codec.
    pub fn records_bytes(&self) -> Bytes {
        let mut records = self.bytes.clone();
        records.advance(RECORD_BATCH_OVERHEAD.min(records.len()));
        records
    }

    /// The CRC-32C of the covered bytes, as it should be stored.
    pub fn compute_crc(&self) -> u32 {
        compute_crc(&self.bytes)
    }

    /// Fails with [`ProtocolError::CrcMismatch`] unless the stored CRC
    /// matches the contents.
    pub fn verify_crc(&self) -> Result<()> {
        check_crc(self.header.crc, &self.bytes)
    }

    /// Decodes the batch's records (checking the CRC first if `options` say
    /// so).
    pub fn decode(&self, options: &super::DecodeOptions) -> Result<super::RecordBatch> {
        super::batch::decode_v2(self, options)
    }

    /// Checks the CRC (if `options` say so), decompresses the records and
    /// returns an iterator that decodes them one at a time.
    pub fn records(&self, options: &super::DecodeOptions) -> Result<super::RecordIter> {
        super::batch::records_of(self, options)
    }
}

/// Iterates the complete magic v2 batches in a buffer as
/// [`RecordBatchView`]s, stopping silently at a partial trailing batch. A
/// legacy (v0/v1) entry yields [`ProtocolError::UnsupportedMagic`] and ends
/// the iteration, as does any other error.
#[derive(Debug, Clone)]
pub struct RecordBatchViews {
    rest: Bytes,
    done: bool,
}

impl RecordBatchViews {
    /// Views over the batches in `records`.
    pub fn new(records: Bytes) -> Self {
        Self {
            rest: records,
            done: false,
        }
    }

    /// What was not consumed: after the iterator ends without error, the
    /// partial trailing batch, if any. A Produce request must not have one.
    pub fn remainder(&self) -> &Bytes {
        &self.rest
    }
}

impl Iterator for RecordBatchViews {
    type Item = Result<RecordBatchView>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = match super::complete_entry_len(&self.rest) {
            Ok(None) => {
                self.done = true;
                return None;
            }
            Ok(Some(_)) => RecordBatchView::split_from(&mut self.rest),
            Err(error) => Err(error),
        };
        if result.is_err() {
            self.done = true;
        }
        Some(result)
    }
}

/// A mutable magic v2 batch, for the in-place changes a broker makes when
/// it appends a batch.
#[derive(Debug)]
pub struct RecordBatchMut<'a> {
    batch: &'a mut [u8],
}

impl<'a> RecordBatchMut<'a> {
    /// Wraps `batch`, which must hold exactly one complete v2 batch.
    pub fn new(batch: &'a mut [u8]) -> Result<Self> {
        let header = RecordBatchHeader::parse(batch)?;
        if header.size() != batch.len() {
            return Err(ProtocolError::InvalidRecord(format!(
                "batch length says {} bytes but {} were given",
                header.size(),
                batch.len()
            )));
        }
        Ok(Self { batch })
    }

    /// The header as it is now.
    pub fn header(&self) -> Result<RecordBatchHeader> {
        RecordBatchHeader::parse(self.batch)
    }

    /// Fails with [`ProtocolError::CrcMismatch`] unless the stored CRC
    /// matches the contents.
    pub fn verify_crc(&self) -> Result<()> {
        let stored = be_bytes(self.batch, CRC_OFFSET).map_or(0, u32::from_be_bytes);
        check_crc(stored, self.batch)
    }

    /// Sets the base offset. The CRC does not cover it, so it stays valid.
    pub fn set_base_offset(&mut self, base_offset: i64) {
        put_be_bytes(self.batch, 0, base_offset.to_be_bytes());
    }

    /// Sets the partition leader epoch. The CRC does not cover it either.
    pub fn set_partition_leader_epoch(&mut self, epoch: i32) {
        put_be_bytes(
            self.batch,
            PARTITION_LEADER_EPOCH_OFFSET,
            epoch.to_be_bytes(),
        );
    }

    /// Sets the timestamp type and max timestamp and recomputes the CRC, as
    /// a broker does for topics with `message.timestamp.type=LogAppendTime`
    /// (the records keep their deltas; readers use the max timestamp).
    ///
    /// The CRC is recomputed over the current contents, so call
    /// [`RecordBatchMut::verify_crc`] first: otherwise a batch corrupted in
    /// transit would get a valid CRC.
    pub fn set_max_timestamp(&mut self, timestamp_type: TimestampType, max_timestamp: i64) {
        let attributes = be_bytes(self.batch, ATTRIBUTES_OFFSET).map_or(0, i16::from_be_bytes);
        let attributes = BatchAttributes(attributes).with_timestamp_type(timestamp_type);
        put_be_bytes(self.batch, ATTRIBUTES_OFFSET, attributes.0.to_be_bytes());
        put_be_bytes(
            self.batch,
            MAX_TIMESTAMP_OFFSET,
            max_timestamp.to_be_bytes(),
        );
        let crc = compute_crc(self.batch);
        put_be_bytes(self.batch, CRC_OFFSET, crc.to_be_bytes());
    }

    /// Marks the batch LogAppendTime with `timestamp`; see
    /// [`RecordBatchMut::set_max_timestamp`].
    pub fn set_log_append_time(&mut self, timestamp: i64) {
        self.set_max_timestamp(TimestampType::LogAppendTime, timestamp);
    }

    /// Sets the idempotent producer's id, epoch and the batch's first
    /// sequence number in a sealed batch and recomputes the CRC, in place,
    /// as a producer does when it renumbers a batch waiting for a retry
    /// after an epoch bump (see
    /// [`RecordBatchBuilder::set_producer_state`](super::RecordBatchBuilder::set_producer_state)
    /// for a batch not sealed yet). Compressed batches keep their records
    /// as they are: these fields are in the uncompressed header.
    ///
    /// Like [`RecordBatchMut::set_max_timestamp`], the CRC is recomputed
    /// over the current contents, whatever the stored one was.
    pub fn set_producer_state(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) {
        put_be_bytes(self.batch, PRODUCER_ID_OFFSET, producer_id.to_be_bytes());
        put_be_bytes(
            self.batch,
            PRODUCER_EPOCH_OFFSET,
            producer_epoch.to_be_bytes(),
        );
        put_be_bytes(
            self.batch,
            BASE_SEQUENCE_OFFSET,
            base_sequence.to_be_bytes(),
        );
        let crc = compute_crc(self.batch);
        put_be_bytes(self.batch, CRC_OFFSET, crc.to_be_bytes());
    }
}
