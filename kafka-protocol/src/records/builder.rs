//! Building magic v2 record batches record by record.
//!
//! The builder owns one buffer that starts with a 61-byte header
//! placeholder; each appended record is encoded straight into it, once, with
//! its offset and timestamp deltas taken against the first record (as the
//! Java client's `MemoryRecordsBuilder` does). Sealing fills in the header,
//! compresses the records section as one block when a codec is set, and
//! computes the CRC-32C. The producer keeps one builder per open partition
//! batch and asks [`RecordBatchBuilder::has_room_for`] before appending.

use bytes::{BufMut, Bytes, BytesMut};

use super::header::{BatchAttributes, RecordBatchHeader, compute_crc};
use super::{
    LOG_OVERHEAD, MAGIC_V2, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID,
    NO_SEQUENCE, NO_TIMESTAMP, RECORD_BATCH_OVERHEAD, RecordHeader, TimestampType,
};
use crate::compression::{self, Compression};
use crate::error::{ProtocolError, Result};
use crate::primitives::{varint_len, varlong_len, write_varint, write_varlong};

/// The largest length a varint length prefix can carry.
const MAX_VARINT_LENGTH: usize = i32::MAX as usize;

/// Builds one magic v2 record batch, encoding each record into the wire
/// layout as it is appended and sealing the header, compression and CRC in
/// [`RecordBatchBuilder::build`].
///
/// ```
/// use ferrokafka_protocol::compression::Compression;
/// use ferrokafka_protocol::records::{DecodeOptions, RecordBatch, RecordBatchBuilder, RecordHeader};
///
/// let mut builder = RecordBatchBuilder::new(Compression::Lz4);
/// builder.append(1_700_000_000_000, Some(b"key"), Some(b"value"), &[])?;
/// builder.append(1_700_000_000_005, None, Some(b"more"), &[RecordHeader::new("trace", None)])?;
/// let mut bytes = builder.build()?;
/// let batch = RecordBatch::decode(&mut bytes, &DecodeOptions::default())?;
/// assert_eq!(batch.records.len(), 2);
/// assert_eq!(batch.records[1].offset, 1);
/// # Ok::<(), ferrokafka_protocol::ProtocolError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RecordBatchBuilder {
    /// Header placeholder followed by the uncompressed records.
    buf: BytesMut,
    compression: Compression,
    compression_level: Option<i32>,
    base_offset: i64,
    partition_leader_epoch: i32,
    /// Every attribute but the codec, which is applied when sealing.
    attributes: BatchAttributes,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    base_timestamp: Option<i64>,
    max_timestamp: Option<i64>,
    record_count: i32,
    last_offset_delta: Option<i32>,
}

impl RecordBatchBuilder {
    /// An empty batch compressed with `compression` when built: base offset
    /// 0, CreateTime, no producer id, epoch or sequence.
    pub fn new(compression: Compression) -> Self {
        Self::with_capacity(compression, 0)
    }

    /// Like [`RecordBatchBuilder::new`], reserving room for about
    /// `capacity` bytes of batch (`batch.size`) up front.
    pub fn with_capacity(compression: Compression, capacity: usize) -> Self {
        let mut buf = BytesMut::with_capacity(capacity.max(RECORD_BATCH_OVERHEAD));
        buf.put_bytes(0, RECORD_BATCH_OVERHEAD);
        Self {
            buf,
            compression,
            compression_level: None,
            base_offset: 0,
            partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
            attributes: BatchAttributes::default(),
            producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            base_sequence: NO_SEQUENCE,
            base_timestamp: None,
            max_timestamp: None,
            record_count: 0,
            last_offset_delta: None,
        }
    }

    /// Sets the base offset (producers leave it 0; the broker assigns it).
    pub fn set_base_offset(&mut self, base_offset: i64) -> &mut Self {
        self.base_offset = base_offset;
        self
    }

    /// Sets the partition leader epoch.
    pub fn set_partition_leader_epoch(&mut self, epoch: i32) -> &mut Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Sets the timestamp type. The max timestamp stays the largest record
    /// timestamp; a broker stamping LogAppendTime uses
    /// [`RecordBatchMut::set_log_append_time`](super::RecordBatchMut::set_log_append_time).
    pub fn set_timestamp_type(&mut self, timestamp_type: TimestampType) -> &mut Self {
        self.attributes = self.attributes.with_timestamp_type(timestamp_type);
        self
    }

    /// Marks the batch as part of a transaction.
    pub fn set_transactional(&mut self, transactional: bool) -> &mut Self {
        self.attributes = self.attributes.with_transactional(transactional);
        self
    }

    /// Marks the batch as holding control records.
    pub fn set_control(&mut self, control: bool) -> &mut Self {
        self.attributes = self.attributes.with_control(control);
        self
    }

    /// Marks the base timestamp as a delete horizon (KIP-534).
    pub fn set_delete_horizon(&mut self, delete_horizon: bool) -> &mut Self {
        self.attributes = self.attributes.with_delete_horizon(delete_horizon);
        self
    }

    /// Sets the idempotent producer's id, epoch and the batch's first
    /// sequence number. Can be called any time before sealing, so a producer
    /// can assign the sequence when it drains the batch, as Java does.
    pub fn set_producer_state(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> &mut Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Sets the compression level (see
    /// [`compress_with_level`](crate::compression::compress_with_level));
    /// `None` is the codec's default.
    pub fn set_compression_level(&mut self, level: Option<i32>) -> &mut Self {
        self.compression_level = level;
        self
    }

    /// Sets the timestamp the records' deltas are taken against, instead of
    /// the first record's. Only possible before the first append.
    pub fn set_base_timestamp(&mut self, base_timestamp: i64) -> Result<&mut Self> {
        if self.record_count != 0 {
            return Err(ProtocolError::InvalidRecord(
                "the base timestamp must be set before the first record".into(),
            ));
        }
        self.base_timestamp = Some(base_timestamp);
        Ok(self)
    }

    /// The codec the batch will be compressed with.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// How many records have been appended.
    pub fn record_count(&self) -> usize {
        usize::try_from(self.record_count).unwrap_or(0)
    }

    /// Whether no record has been appended yet.
    pub fn is_empty(&self) -> bool {
        self.record_count == 0
    }

    /// The batch's size so far, uncompressed, header included.
    pub fn size_in_bytes(&self) -> usize {
        self.buf.len()
    }

    /// The largest record timestamp so far, if any record was appended.
    pub fn max_timestamp(&self) -> Option<i64> {
        self.max_timestamp
    }

    /// The uncompressed size the batch would have after appending this
    /// record with [`RecordBatchBuilder::append`]; saturates instead of
    /// failing for absurd sizes.
    pub fn size_after_appending(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader],
    ) -> usize {
        let offset_delta = self.next_offset_delta().unwrap_or(i32::MAX);
        let timestamp_delta = timestamp.saturating_sub(self.base_timestamp.unwrap_or(timestamp));
        let body = record_body_size(timestamp_delta, offset_delta, key, value, headers)
            .unwrap_or(usize::MAX);
        let prefix = varint_len(i32::try_from(body).unwrap_or(i32::MAX));
        self.buf.len().saturating_add(prefix).saturating_add(body)
    }

    /// Whether this record fits in a batch of at most `max_batch_size`
    /// bytes (the producer's `batch.size`). An empty batch always has room,
    /// so a record larger than `batch.size` still gets a batch of its own,
    /// as in the Java client.
    ///
    /// Sizes are uncompressed, so a compressed batch ends up smaller than
    /// `max_batch_size`; a producer that wants to pack compressed batches
    /// fuller can scale `max_batch_size` by the ratio it has observed.
    pub fn has_room_for(
        &self,
        max_batch_size: usize,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader],
    ) -> bool {
        self.is_empty()
            || self.size_after_appending(timestamp, key, value, headers) <= max_batch_size
    }

    fn next_offset_delta(&self) -> Result<i32> {
        match self.last_offset_delta {
            None => Ok(0),
            Some(last) => last.checked_add(1).ok_or_else(|| {
                ProtocolError::InvalidRecord("the batch's offset deltas are exhausted".into())
            }),
        }
    }

    /// Appends a record at the next offset (0, 1, 2...) and returns its
    /// offset delta. `timestamp` is in milliseconds since the epoch.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader],
    ) -> Result<i32> {
        let offset_delta = self.next_offset_delta()?;
        self.append_with_offset_delta(offset_delta, timestamp, key, value, headers)?;
        Ok(offset_delta)
    }

    /// Appends a record at an explicit offset delta, which must be larger
    /// than the previous record's (compacted batches have gaps).
    pub fn append_with_offset_delta(
        &mut self,
        offset_delta: i32,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[RecordHeader],
    ) -> Result<()> {
        if offset_delta < 0
            || self
                .last_offset_delta
                .is_some_and(|last| offset_delta <= last)
        {
            return Err(ProtocolError::InvalidRecord(format!(
                "offset delta {offset_delta} does not follow {:?}",
                self.last_offset_delta
            )));
        }
        let record_count = self
            .record_count
            .checked_add(1)
            .ok_or_else(|| ProtocolError::InvalidRecord("too many records for one batch".into()))?;
        let base_timestamp = self.base_timestamp.unwrap_or(timestamp);
        let timestamp_delta = timestamp.checked_sub(base_timestamp).ok_or_else(|| {
            ProtocolError::InvalidRecord(format!(
                "timestamp {timestamp} is too far from the base timestamp {base_timestamp}"
            ))
        })?;
        let body = record_body_size(timestamp_delta, offset_delta, key, value, headers)?;
        let body_length = i32::try_from(body).map_err(|_| ProtocolError::ValueTooLong {
            what: "Record",
            length: body,
            max: MAX_VARINT_LENGTH,
        })?;
        // The record's exact size is known, so grow the buffer once and
        // write every field straight into the new bytes: much cheaper than
        // appending a byte at a time.
        let start = self.buf.len();
        let total = varint_len(body_length).saturating_add(body);
        let end = start
            .checked_add(total)
            .ok_or_else(|| ProtocolError::InvalidRecord("the batch is too large".into()))?;
        self.buf.resize(end, 0);
        let written = self.buf.get_mut(start..).and_then(|out| {
            let mut out = SliceWriter { out, pos: 0 };
            out.varint(body_length)?;
            // Record attributes: unused since magic 2, always 0 (the resize
            // wrote it).
            out.skip(1)?;
            out.varlong(timestamp_delta)?;
            out.varint(offset_delta)?;
            out.nullable_bytes(key)?;
            out.nullable_bytes(value)?;
            // `record_body_size` checked every length and the header count.
            out.varint(headers.len() as i32)?;
            for header in headers {
                out.varint(header.key.len() as i32)?;
                out.bytes(&header.key)?;
                out.nullable_bytes(header.value.as_deref())?;
            }
            Some(out.pos)
        });
        if written != Some(total) {
            // Cannot happen: `record_body_size` and the writes agree.
            self.buf.truncate(start);
            return Err(ProtocolError::InvalidRecord(
                "record size computation disagrees with its encoding".into(),
            ));
        }

        self.base_timestamp = Some(base_timestamp);
        self.max_timestamp = Some(
            self.max_timestamp
                .map_or(timestamp, |max| max.max(timestamp)),
        );
        self.record_count = record_count;
        self.last_offset_delta = Some(offset_delta);
        Ok(())
    }

    /// Seals the batch: compresses the records (if a codec is set), fills
    /// the header and computes the CRC. An empty builder makes a valid batch
    /// with no records and timestamps of -1.
    pub fn build(self) -> Result<Bytes> {
        self.finish(None, None)
    }

    /// [`RecordBatchBuilder::build`], optionally keeping a decoded batch's
    /// own max timestamp and last offset delta.
    pub(crate) fn finish(
        self,
        max_timestamp: Option<i64>,
        last_offset_delta: Option<i32>,
    ) -> Result<Bytes> {
        let appended_last = self.last_offset_delta.unwrap_or(0);
        let last_offset_delta = match last_offset_delta {
            Some(delta) if delta < appended_last => {
                return Err(ProtocolError::InvalidRecord(format!(
                    "last offset delta {delta} is before the last record's {appended_last}"
                )));
            }
            Some(delta) => delta,
            None => appended_last,
        };
        let mut out = if self.compression == Compression::None {
            self.buf
        } else {
            let records = self.buf.get(RECORD_BATCH_OVERHEAD..).unwrap_or_default();
            // A guess at the compressed size; the buffer grows if needed.
            let mut out = BytesMut::with_capacity(RECORD_BATCH_OVERHEAD + records.len() / 2 + 64);
            out.put_bytes(0, RECORD_BATCH_OVERHEAD);
            compression::compress_with_level(
                self.compression,
                records,
                self.compression_level,
                &mut out,
            )?;
            out
        };
        let batch_length = i32::try_from(out.len().saturating_sub(LOG_OVERHEAD)).map_err(|_| {
            ProtocolError::ValueTooLong {
                what: "RecordBatch",
                length: out.len(),
                max: MAX_VARINT_LENGTH,
            }
        })?;
        let header = RecordBatchHeader {
            base_offset: self.base_offset,
            batch_length,
            partition_leader_epoch: self.partition_leader_epoch,
            magic: MAGIC_V2,
            crc: 0,
            attributes: self.attributes.with_compression(self.compression),
            last_offset_delta,
            base_timestamp: self.base_timestamp.unwrap_or(NO_TIMESTAMP),
            max_timestamp: max_timestamp.or(self.max_timestamp).unwrap_or(NO_TIMESTAMP),
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            record_count: self.record_count,
        };
        header.write(&mut out);
        let crc = compute_crc(&out);
        RecordBatchHeader { crc, ..header }.write(&mut out);
        Ok(out.freeze())
    }
}

/// The encoded width of a nullable varint-prefixed byte string; fails for
/// strings too long for the prefix.
fn varint_bytes_len(value: Option<&[u8]>, what: &'static str) -> Result<usize> {
    match value {
        None => Ok(1),
        Some(bytes) => {
            let length = i32::try_from(bytes.len()).map_err(|_| ProtocolError::ValueTooLong {
                what,
                length: bytes.len(),
                max: MAX_VARINT_LENGTH,
            })?;
            Ok(varint_len(length) + bytes.len())
        }
    }
}

/// The size of a record after its length prefix.
fn record_body_size(
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[RecordHeader],
) -> Result<usize> {
    let header_count = i32::try_from(headers.len()).map_err(|_| ProtocolError::ValueTooLong {
        what: "Record.headers",
        length: headers.len(),
        max: MAX_VARINT_LENGTH,
    })?;
    // One byte of attributes, then the rest; saturating so that absurd
    // sizes on 32-bit targets fail the i32 check instead of wrapping.
    let mut size =
        (1 + varlong_len(timestamp_delta) + varint_len(offset_delta) + varint_len(header_count))
            .saturating_add(varint_bytes_len(key, "Record.key")?)
            .saturating_add(varint_bytes_len(value, "Record.value")?);
    for header in headers {
        let key = varint_bytes_len(Some(&header.key), "RecordHeader.key")?;
        let value = varint_bytes_len(header.value.as_deref(), "RecordHeader.value")?;
        size = size.saturating_add(key).saturating_add(value);
    }
    Ok(size)
}

/// Writes record fields into the bytes reserved for a record; every write
/// returns `None` instead of running past their end.
struct SliceWriter<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl SliceWriter<'_> {
    /// The bytes not written yet.
    #[inline]
    fn rest(&mut self) -> Option<&mut [u8]> {
        self.out.get_mut(self.pos..)
    }

    #[inline]
    fn skip(&mut self, count: usize) -> Option<()> {
        self.pos = self.pos.checked_add(count)?;
        Some(())
    }

    #[inline]
    fn varint(&mut self, value: i32) -> Option<()> {
        let written = write_varint(self.rest()?, value)?;
        self.skip(written)
    }

    #[inline]
    fn varlong(&mut self, value: i64) -> Option<()> {
        let written = write_varlong(self.rest()?, value)?;
        self.skip(written)
    }

    #[inline]
    fn bytes(&mut self, bytes: &[u8]) -> Option<()> {
        self.rest()?.get_mut(..bytes.len())?.copy_from_slice(bytes);
        self.skip(bytes.len())
    }

    /// A nullable varint-prefixed byte string (-1 for null); the length was
    /// checked by [`varint_bytes_len`].
    #[inline]
    fn nullable_bytes(&mut self, value: Option<&[u8]>) -> Option<()> {
        match value {
            None => self.varint(-1),
            Some(bytes) => {
                self.varint(bytes.len() as i32)?;
                self.bytes(bytes)
            }
        }
    }
}
