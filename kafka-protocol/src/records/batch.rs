//! Decoded record batches, and the magic v2 record decoder.
//!
//! A v2 record (KIP-98) is `length varint | attributes i8 | timestampDelta
//! varlong | offsetDelta varint | keyLength varint | key | valueLength varint
//! | value | headerCount varint | headers`. The timestamp delta is a
//! *varlong*: reading it as a 32-bit varint desynchronises the stream once
//! records of one batch are more than ~24.8 days apart.
//!
//! Every length and count is checked against the bytes that remain before
//! anything is allocated, and keys, values and headers are `Bytes` slices of
//! the (decompressed) records buffer, never copies.
//!
//! Records are parsed from the plain `&[u8]` of the records section with a
//! position (see the slice varint readers in [`crate::primitives`]); only
//! the fields handed out become `Bytes`, each with one
//! [`Bytes::slice`]. That reference count increment (and its decrement when
//! the record is dropped) is the bulk of what decoding an uncompressed batch
//! costs, so nothing else on the hot path touches the count: no `Bytes` per
//! record body, no `Bytes` advanced byte by byte.

use bytes::{Buf, Bytes};

use super::header::{RecordBatchHeader, RecordBatchView};
use super::{
    ControlRecord, DecodeOptions, LOG_OVERHEAD, MAGIC_OFFSET, MAGIC_V0, MAGIC_V1, MAGIC_V2, Record,
    RecordBatchBuilder, RecordHeader, TimestampType, complete_entry_len, legacy,
};
use crate::compression::{self, Compression};
use crate::error::{ProtocolError, Result};
use crate::primitives::{read_varint, read_varlong};

/// The smallest possible v2 record: a one-byte length and six one-byte
/// fields (attributes, both deltas, null key, null value, no headers).
const MIN_RECORD_SIZE: usize = 7;
/// The smallest possible header: an empty key and a null value.
const MIN_HEADER_SIZE: usize = 2;
/// The most records a decode reserves room for before decoding them:
/// enough for any realistic batch (about 6.5 MiB of `Record`s), so a
/// record count that is only plausible does not reserve more.
const MAX_PREALLOCATED_RECORDS: usize = 64 * 1024;

/// A decoded record batch: the header fields and the records.
///
/// Decoded from magic v2 batches, and from legacy (v0/v1) message sets, where
/// each top-level message (a single record, or a compressed wrapper holding
/// several) becomes one batch, as in the Java client; the fields v0/v1 do
/// not have take their "none" values (`-1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Epoch of the leader that appended the batch, or -1.
    pub partition_leader_epoch: i32,
    /// Format version: 2, or 0/1 for legacy messages.
    pub magic: i8,
    /// The codec the records were compressed with.
    pub compression: Compression,
    /// What the timestamps mean.
    pub timestamp_type: TimestampType,
    /// Whether the batch belongs to a transaction.
    pub is_transactional: bool,
    /// Whether the batch holds control records (transaction markers), which
    /// consumers use and never hand to applications.
    pub is_control: bool,
    /// Whether `base_timestamp` holds a delete horizon (KIP-534).
    pub has_delete_horizon: bool,
    /// Offset of the last record relative to `base_offset`; may be past the
    /// last record left after compaction.
    pub last_offset_delta: i32,
    /// Timestamp the record deltas are relative to (the first record's).
    pub base_timestamp: i64,
    /// Largest timestamp in the batch, or the LogAppendTime.
    pub max_timestamp: i64,
    /// Idempotent/transactional producer id, or -1.
    pub producer_id: i64,
    /// Producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub base_sequence: i32,
    /// The records, in offset order.
    pub records: Vec<Record>,
}

impl RecordBatch {
    /// Decodes the batch (or legacy message) at the start of `buf`, of any
    /// magic, and advances `buf` past it.
    ///
    /// Checks the CRC when `options` say so, decompresses within the
    /// options' limit, and fails with [`ProtocolError::Truncated`] if the
    /// batch does not fit in `buf`. On any error `buf` is left unchanged.
    pub fn decode(buf: &mut Bytes, options: &DecodeOptions) -> Result<Self> {
        let Some(len) = complete_entry_len(buf)? else {
            let needed = super::header::be_bytes(buf, 8)
                .and_then(|length| usize::try_from(i32::from_be_bytes(length)).ok())
                .map_or(LOG_OVERHEAD, |length| LOG_OVERHEAD.saturating_add(length));
            return Err(ProtocolError::Truncated {
                what: "RecordBatch",
                needed,
                remaining: buf.len(),
            });
        };
        // `complete_entry_len` checked that `len` bytes are there.
        let entry = buf.slice(..len);
        let batch = Self::decode_entry(entry, options)?;
        buf.advance(len);
        Ok(batch)
    }

    /// Decodes `entry`, which holds exactly one complete batch or legacy
    /// message, dispatching on its magic byte.
    pub(crate) fn decode_entry(entry: Bytes, options: &DecodeOptions) -> Result<Self> {
        match entry.get(MAGIC_OFFSET).map(|magic| *magic as i8) {
            Some(MAGIC_V2) => decode_v2(&RecordBatchView::new(entry)?, options),
            Some(MAGIC_V0 | MAGIC_V1) => legacy::decode_entry(entry, options),
            Some(magic) => Err(ProtocolError::UnsupportedMagic(magic)),
            None => Err(ProtocolError::Truncated {
                what: "RecordBatch.magic",
                needed: MAGIC_OFFSET + 1,
                remaining: entry.len(),
            }),
        }
    }

    /// Encodes the batch as magic v2, keeping every header field as it is
    /// (base and max timestamps, last offset delta, producer state) and
    /// each record's offset; the CRC is computed. Records must have
    /// increasing offsets within `base_offset ..= base_offset + i32::MAX`.
    ///
    /// Legacy batches (magic 0/1) cannot be written and are
    /// [`ProtocolError::UnsupportedMagic`].
    pub fn encode(&self) -> Result<Bytes> {
        if self.magic != MAGIC_V2 {
            return Err(ProtocolError::UnsupportedMagic(self.magic));
        }
        let mut builder = RecordBatchBuilder::new(self.compression);
        builder
            .set_base_offset(self.base_offset)
            .set_partition_leader_epoch(self.partition_leader_epoch)
            .set_timestamp_type(self.timestamp_type)
            .set_transactional(self.is_transactional)
            .set_control(self.is_control)
            .set_delete_horizon(self.has_delete_horizon)
            .set_producer_state(self.producer_id, self.producer_epoch, self.base_sequence)
            .set_base_timestamp(self.base_timestamp)?;
        for record in &self.records {
            let delta = record
                .offset
                .checked_sub(self.base_offset)
                .and_then(|delta| i32::try_from(delta).ok())
                .ok_or_else(|| {
                    ProtocolError::InvalidRecord(format!(
                        "record offset {} is out of range for base offset {}",
                        record.offset, self.base_offset
                    ))
                })?;
            builder.append_with_offset_delta(
                delta,
                record.timestamp,
                record.key.as_deref(),
                record.value.as_deref(),
                &record.headers,
            )?;
        }
        builder.finish(Some(self.max_timestamp), Some(self.last_offset_delta))
    }

    /// The wire attributes these fields make.
    pub fn attributes(&self) -> super::BatchAttributes {
        super::BatchAttributes::default()
            .with_compression(self.compression)
            .with_timestamp_type(self.timestamp_type)
            .with_transactional(self.is_transactional)
            .with_control(self.is_control)
            .with_delete_horizon(self.has_delete_horizon)
    }

    /// Offset of the last record (`base_offset + last_offset_delta`).
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// The offset after this batch, where a consumer continues.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().saturating_add(1)
    }

    /// For a control batch, the control record it holds (commit or abort
    /// marker, from its first record's key); `None` for other batches.
    pub fn control_record(&self) -> Option<Result<ControlRecord>> {
        if !self.is_control {
            return None;
        }
        Some(match self.records.first() {
            Some(record) => ControlRecord::from_record(record),
            None => Err(ProtocolError::InvalidRecord(
                "control batch without records".into(),
            )),
        })
    }
}

/// Decodes the records of a complete v2 batch.
pub(crate) fn decode_v2(view: &RecordBatchView, options: &DecodeOptions) -> Result<RecordBatch> {
    let header: &RecordBatchHeader = view.header();
    let compression = header.compression()?;
    let RecordIter {
        data,
        pos,
        remaining,
        context,
        ..
    } = records_of(view, options)?;
    // The count is checked against the (decompressed) bytes, but those can
    // be a hostile 64 MiB of 7-byte records; reserve for at most a
    // realistic batch up front and let real records grow the rest.
    let mut records = Vec::with_capacity(remaining.min(MAX_PREALLOCATED_RECORDS));
    let mut pos = pos;
    for _ in 0..remaining {
        records.push(context.decode_record(&data, &mut pos)?);
    }
    check_consumed(&data, pos)?;
    Ok(RecordBatch {
        base_offset: header.base_offset,
        partition_leader_epoch: header.partition_leader_epoch,
        magic: header.magic,
        compression,
        timestamp_type: header.timestamp_type(),
        is_transactional: header.is_transactional(),
        is_control: header.is_control(),
        has_delete_horizon: header.has_delete_horizon(),
        last_offset_delta: header.last_offset_delta,
        base_timestamp: header.base_timestamp,
        max_timestamp: header.max_timestamp,
        producer_id: header.producer_id,
        producer_epoch: header.producer_epoch,
        base_sequence: header.base_sequence,
        records,
    })
}

/// Checks the CRC (if asked to), decompresses (within the limit) and
/// checks the record count of a complete v2 batch, returning an iterator
/// over its records.
pub(crate) fn records_of(view: &RecordBatchView, options: &DecodeOptions) -> Result<RecordIter> {
    if options.verify_crc {
        view.verify_crc()?;
    }
    let header: &RecordBatchHeader = view.header();
    let compression = header.compression()?;
    // `RecordBatchHeader::parse` rejected negative counts.
    let count = usize::try_from(header.record_count).unwrap_or(0);
    let mut data = view.records_bytes();
    // An empty batch (compaction leaves them to keep producer state) may
    // carry a codec but no compressed stream at all.
    if compression != Compression::None && !(count == 0 && data.is_empty()) {
        // With the CRC verified, the compressed bytes are known to be what
        // the producer wrote, so codec checksums over them (lz4's block
        // and content checksums) add nothing and are skipped.
        data = compression::decompress_records(
            compression,
            &data,
            options.decompression_limit,
            !options.verify_crc,
        )?;
    }
    if count > data.len() / MIN_RECORD_SIZE {
        return Err(ProtocolError::LengthExceedsInput {
            what: "RecordBatch.recordCount",
            length: count as u64,
            remaining: data.len(),
        });
    }
    let log_append_time = match header.timestamp_type() {
        TimestampType::LogAppendTime => Some(header.max_timestamp),
        TimestampType::CreateTime => None,
    };
    Ok(RecordIter {
        data,
        pos: 0,
        remaining: count,
        context: RecordContext {
            base_offset: header.base_offset,
            base_timestamp: header.base_timestamp,
            log_append_time,
        },
        done: false,
    })
}

/// Decodes a v2 batch's records one at a time, from
/// [`RecordBatchView::records`]: a consumer or broker can stream through a
/// batch without holding all of its records at once.
///
/// Yields an error (and then ends) on the first malformed record, or if
/// bytes remain after the batch's record count.
#[derive(Debug, Clone)]
pub struct RecordIter {
    /// The (decompressed) records section.
    data: Bytes,
    /// Where the next record starts in `data`.
    pos: usize,
    remaining: usize,
    context: RecordContext,
    done: bool,
}

impl RecordIter {
    /// How many records the batch header says are still to come.
    pub fn remaining(&self) -> usize {
        if self.done { 0 } else { self.remaining }
    }
}

impl Iterator for RecordIter {
    type Item = Result<Record>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.remaining == 0 {
            self.done = true;
            // The Java client rejects trailing bytes too ("records still
            // remaining").
            return match check_consumed(&self.data, self.pos) {
                Ok(()) => None,
                Err(error) => Some(Err(error)),
            };
        }
        self.remaining -= 1;
        let record = self.context.decode_record(&self.data, &mut self.pos);
        if record.is_err() {
            self.done = true;
        }
        Some(record)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // One more item than records at most: a trailing-bytes error.
        (0, Some(self.remaining().saturating_add(1)))
    }
}

/// Fails with [`ProtocolError::TrailingBytes`] unless the records ended at
/// the end of the records section.
fn check_consumed(data: &[u8], pos: usize) -> Result<()> {
    match data.len().checked_sub(pos) {
        Some(0) => Ok(()),
        remaining => Err(ProtocolError::TrailingBytes {
            what: "RecordBatch records",
            remaining: remaining.unwrap_or(0),
        }),
    }
}

/// Checks a varint length read off the wire: non-negative and no larger
/// than what remains.
#[inline]
fn checked_len(length: i32, remaining: usize, what: &'static str) -> Result<usize> {
    let Ok(length) = usize::try_from(length) else {
        return Err(negative_length(length, what));
    };
    if length > remaining {
        return Err(length_exceeds_input(length, remaining, what));
    }
    Ok(length)
}

#[cold]
fn negative_length(length: i32, what: &'static str) -> ProtocolError {
    ProtocolError::NegativeLength {
        what,
        length: i64::from(length),
    }
}

#[cold]
fn length_exceeds_input(length: usize, remaining: usize, what: &'static str) -> ProtocolError {
    ProtocolError::LengthExceedsInput {
        what,
        length: length as u64,
        remaining,
    }
}

/// What every record of a batch takes from the batch header.
#[derive(Debug, Clone, Copy)]
struct RecordContext {
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
}

/// The record being decoded: its bytes (up to the end of its body) and a
/// position in them. Positions are offsets into the whole records section,
/// so a field's bytes become a slice of it with one [`Bytes::slice`].
struct RecordCursor<'a> {
    data: &'a Bytes,
    /// The records section up to the end of this record.
    body: &'a [u8],
    pos: usize,
}

impl RecordCursor<'_> {
    /// The bytes left in the record body.
    #[inline(always)]
    fn left(&self) -> usize {
        self.body.len().saturating_sub(self.pos)
    }

    #[inline(always)]
    fn varint(&mut self, what: &'static str) -> Result<i32> {
        read_varint(self.body, &mut self.pos, what)
    }

    /// `length` bytes at the position, as a slice of the records buffer;
    /// the caller checked them against [`RecordCursor::left`].
    #[inline(always)]
    fn take(&mut self, length: usize) -> Bytes {
        let start = self.pos;
        self.pos = start.saturating_add(length);
        if length == 0 {
            Bytes::new()
        } else {
            // `start + length <= body.len() <= data.len()`: the length was
            // checked against what is left.
            self.data.slice(start..self.pos)
        }
    }

    /// Reads a varint-length-prefixed byte string; -1 is null. Other
    /// negative lengths are errors (the Java client reads any negative
    /// length as null, but no writer produces them, so they signal
    /// corruption).
    #[inline(always)]
    fn nullable_bytes(&mut self, what: &'static str) -> Result<Option<Bytes>> {
        let length = self.varint(what)?;
        if length == -1 {
            return Ok(None);
        }
        let length = checked_len(length, self.left(), what)?;
        Ok(Some(self.take(length)))
    }
}

impl RecordContext {
    /// Decodes the v2 record at `*pos` in `data` and advances `*pos` past it.
    ///
    /// Always inlined: in [`decode_v2`]'s loop the record's fields then go
    /// straight into the `Vec` instead of through a returned `Result`.
    #[inline(always)]
    fn decode_record(&self, data: &Bytes, pos: &mut usize) -> Result<Record> {
        let all: &[u8] = data;
        let mut at = *pos;
        let length = read_varint(all, &mut at, "Record.length")?;
        let length = checked_len(length, all.len().saturating_sub(at), "Record.length")?;
        // `checked_len` kept `at + length` within `all`.
        let end = at.saturating_add(length);
        let mut cursor = RecordCursor {
            data,
            body: all.get(..end).unwrap_or_default(),
            pos: at,
        };
        // Record attributes are unused since magic 2; read and ignored as
        // Java does.
        if cursor.left() == 0 {
            return Err(ProtocolError::Truncated {
                what: "Record.attributes",
                needed: 1,
                remaining: 0,
            });
        }
        cursor.pos = cursor.pos.saturating_add(1);
        let timestamp_delta = read_varlong(cursor.body, &mut cursor.pos, "Record.timestampDelta")?;
        let offset_delta = cursor.varint("Record.offsetDelta")?;
        let key = cursor.nullable_bytes("Record.key")?;
        let value = cursor.nullable_bytes("Record.value")?;
        let header_count = cursor.varint("Record.headerCount")?;
        let header_count = checked_len(
            header_count,
            cursor.left() / MIN_HEADER_SIZE,
            "Record.headerCount",
        )?;
        let mut headers = Vec::with_capacity(header_count);
        for _ in 0..header_count {
            let key_length = cursor.varint("RecordHeader.key")?;
            let key_length = checked_len(key_length, cursor.left(), "RecordHeader.key")?;
            let key = cursor.take(key_length);
            let value = cursor.nullable_bytes("RecordHeader.value")?;
            headers.push(RecordHeader { key, value });
        }
        if cursor.left() != 0 {
            return Err(ProtocolError::TrailingBytes {
                what: "Record",
                remaining: cursor.left(),
            });
        }
        let offset = self
            .base_offset
            .checked_add(i64::from(offset_delta))
            .ok_or_else(|| {
                ProtocolError::InvalidRecord(format!(
                    "offset {} + {offset_delta} overflows",
                    self.base_offset
                ))
            })?;
        let timestamp = match self.log_append_time {
            Some(timestamp) => timestamp,
            None => self
                .base_timestamp
                .checked_add(timestamp_delta)
                .ok_or_else(|| {
                    ProtocolError::InvalidRecord(format!(
                        "timestamp {} + {timestamp_delta} overflows",
                        self.base_timestamp
                    ))
                })?,
        };
        *pos = end;
        Ok(Record {
            offset,
            timestamp,
            key,
            value,
            headers,
        })
    }
}
