//! Legacy message sets (magic 0 and 1), decoded read-only.
//!
//! A message set is a sequence of `offset i64 | size i32 | message`, where a
//! message is
//!
//! ```text
//! crc u32 (CRC-32/IEEE of magic..end) | magic i8 | attributes i8
//! | timestamp i64 (magic 1 only) | key (i32 length, -1 null) | value (same)
//! ```
//!
//! Attribute bits 0-2 name a codec (gzip, snappy, lz4; zstd needs v2) and
//! bit 3 the timestamp type (magic 1). A compressed "wrapper" message's value
//! is a whole nested message set; in magic 1 the inner offsets are relative
//! (0, 1, ...) and the wrapper carries the *last* inner record's absolute
//! offset (KIP-31), while in magic 0 the broker stored absolute inner
//! offsets. Under LogAppendTime every inner record takes the wrapper's
//! timestamp (KIP-32). Each top-level message becomes one [`RecordBatch`],
//! as in the Java client.

use bytes::Bytes;

use super::{
    DecodeOptions, MAGIC_V0, MAGIC_V1, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH,
    NO_PRODUCER_ID, NO_SEQUENCE, NO_TIMESTAMP, Record, RecordBatch, TimestampType,
};
use crate::compression::{self, Compression};
use crate::error::{ProtocolError, Result};
use crate::primitives::{ensure, get_i8, get_i32, get_i64, get_nullable_bytes, get_u32};

/// The smallest magic 0 message after its size: crc, magic, attributes,
/// null key and null value.
const MESSAGE_V0_MIN_SIZE: usize = 4 + 1 + 1 + 4 + 4;
/// The smallest entry (offset, size, message) of an inner message set.
const ENTRY_MIN_SIZE: usize = 8 + 4 + MESSAGE_V0_MIN_SIZE;
const LOG_APPEND_TIME: i8 = 1 << 3;
/// The most inner messages a wrapper reserves room for before decoding.
const MAX_PREALLOCATED_RECORDS: usize = 4096;

/// One legacy message, decoded.
struct Message {
    magic: i8,
    compression: Compression,
    timestamp_type: TimestampType,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
}

/// Decodes one complete top-level entry (`offset | size | message`).
pub(crate) fn decode_entry(entry: Bytes, options: &DecodeOptions) -> Result<RecordBatch> {
    let mut buf = entry;
    let (offset, message) = split_entry(&mut buf)?;
    let wrapper = decode_message(message, options.verify_crc)?;
    let magic = wrapper.magic;
    let records = if wrapper.compression == Compression::None {
        vec![Record {
            offset,
            timestamp: wrapper.timestamp,
            key: wrapper.key,
            value: wrapper.value,
            headers: Vec::new(),
        }]
    } else {
        decode_wrapped(offset, &wrapper, options)?
    };
    let first_offset = records.first().map_or(offset, |record| record.offset);
    let last_offset = records.last().map_or(offset, |record| record.offset);
    let last_offset_delta = last_offset
        .checked_sub(first_offset)
        .and_then(|delta| i32::try_from(delta).ok())
        .ok_or_else(|| {
            ProtocolError::InvalidRecord(format!(
                "inner offsets {first_offset}..{last_offset} out of range"
            ))
        })?;
    Ok(RecordBatch {
        base_offset: first_offset,
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        magic,
        compression: wrapper.compression,
        timestamp_type: wrapper.timestamp_type,
        is_transactional: false,
        is_control: false,
        has_delete_horizon: false,
        last_offset_delta,
        base_timestamp: records
            .first()
            .map_or(NO_TIMESTAMP, |record| record.timestamp),
        // The Java client reports the outer message's timestamp.
        max_timestamp: wrapper.timestamp,
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        base_sequence: NO_SEQUENCE,
        records,
    })
}

/// Splits `offset | size | message` off the front of `buf`.
fn split_entry(buf: &mut Bytes) -> Result<(i64, Bytes)> {
    let offset = get_i64(buf, "Message.offset")?;
    let size = get_i32(buf, "Message.size")?;
    let Ok(size) = usize::try_from(size) else {
        return Err(ProtocolError::NegativeLength {
            what: "Message.size",
            length: i64::from(size),
        });
    };
    ensure(buf, size, "Message")?;
    Ok((offset, buf.split_to(size)))
}

/// Decodes one message (after its offset and size), checking its CRC-32
/// when asked to.
fn decode_message(mut message: Bytes, verify_crc: bool) -> Result<Message> {
    let stored = get_u32(&mut message, "Message.crc")?;
    if verify_crc {
        let mut crc = flate2::Crc::new();
        crc.update(&message);
        let computed = crc.sum();
        if computed != stored {
            return Err(ProtocolError::CrcMismatch { stored, computed });
        }
    }
    let magic = get_i8(&mut message, "Message.magic")?;
    if magic != MAGIC_V0 && magic != MAGIC_V1 {
        return Err(ProtocolError::UnsupportedMagic(magic));
    }
    let attributes = get_i8(&mut message, "Message.attributes")?;
    let compression = match Compression::from_id((attributes & 0x07) as u8)? {
        Compression::Zstd => {
            return Err(ProtocolError::InvalidRecord(format!(
                "zstd needs magic 2, found in a magic {magic} message"
            )));
        }
        codec => codec,
    };
    let (timestamp, timestamp_type) = if magic == MAGIC_V1 {
        let timestamp = get_i64(&mut message, "Message.timestamp")?;
        let timestamp_type = if attributes & LOG_APPEND_TIME != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        };
        (timestamp, timestamp_type)
    } else {
        (NO_TIMESTAMP, TimestampType::CreateTime)
    };
    let key = get_nullable_bytes(&mut message, false, "Message.key")?;
    let value = get_nullable_bytes(&mut message, false, "Message.value")?;
    if !message.is_empty() {
        return Err(ProtocolError::TrailingBytes {
            what: "Message",
            remaining: message.len(),
        });
    }
    Ok(Message {
        magic,
        compression,
        timestamp_type,
        timestamp,
        key,
        value,
    })
}

/// Decompresses a wrapper message's value and decodes the inner messages.
fn decode_wrapped(
    wrapper_offset: i64,
    wrapper: &Message,
    options: &DecodeOptions,
) -> Result<Vec<Record>> {
    let Some(value) = &wrapper.value else {
        return Err(ProtocolError::InvalidRecord(
            "compressed wrapper message with a null value".into(),
        ));
    };
    let mut inner = compression::decompress_legacy(
        wrapper.compression,
        wrapper.magic,
        value,
        options.decompression_limit,
    )?;
    // Sized by the bytes, capped: the bytes came out of a decompressor and
    // only the records actually decoded should take memory.
    let mut records =
        Vec::with_capacity((inner.len() / ENTRY_MIN_SIZE).min(MAX_PREALLOCATED_RECORDS));
    while !inner.is_empty() {
        let (offset, message) = split_entry(&mut inner)?;
        let message = decode_message(message, options.verify_crc)?;
        if message.compression != Compression::None {
            return Err(ProtocolError::InvalidRecord(
                "compressed message nested inside a compressed message".into(),
            ));
        }
        let timestamp = match wrapper.timestamp_type {
            TimestampType::LogAppendTime if wrapper.magic == MAGIC_V1 => wrapper.timestamp,
            _ => message.timestamp,
        };
        records.push(Record {
            offset,
            timestamp,
            key: message.key,
            value: message.value,
            headers: Vec::new(),
        });
    }
    if wrapper.magic == MAGIC_V1 {
        // Inner offsets are relative; the wrapper holds the last one's
        // absolute offset.
        if let Some(last) = records.last().map(|record| record.offset) {
            let base = wrapper_offset.checked_sub(last);
            for record in &mut records {
                record.offset = base
                    .and_then(|base| base.checked_add(record.offset))
                    .ok_or_else(|| {
                        ProtocolError::InvalidRecord(format!(
                            "inner offset {} does not fit wrapper offset {wrapper_offset}",
                            record.offset
                        ))
                    })?;
            }
        }
    }
    Ok(records)
}
