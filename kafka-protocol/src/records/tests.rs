//! Unit tests for record batches: round trips, every codec, corruption,
//! truncation, hostile lengths, legacy message sets and the broker's
//! in-place patching.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use bytes::{BufMut, Bytes, BytesMut};

use super::*;
use crate::compression::Compression;
use crate::error::ProtocolError;

const T0: i64 = 1_700_000_000_000;

fn header(key: &'static str, value: Option<&'static [u8]>) -> RecordHeader {
    RecordHeader::new(key, value.map(Bytes::from_static))
}

fn record(
    offset: i64,
    timestamp: i64,
    key: Option<&'static [u8]>,
    value: Option<&'static [u8]>,
) -> Record {
    Record {
        offset,
        timestamp,
        key: key.map(Bytes::from_static),
        value: value.map(Bytes::from_static),
        headers: Vec::new(),
    }
}

/// Records with keys, a null key, headers (one with a null value and a
/// repeated key), a null value, an empty value and unordered timestamps.
fn sample_records() -> Vec<Record> {
    vec![
        Record {
            headers: vec![header("trace-id", Some(b"abc123")), header("empty", None)],
            ..record(0, T0, Some(b"key-0"), Some(b"value-0"))
        },
        record(1, T0 + 5, None, Some(b"value-without-key")),
        record(2, T0 - 3, Some(b"tombstone"), None),
        Record {
            headers: vec![header("dup", Some(b"1")), header("dup", Some(b"2"))],
            ..record(3, T0 + 1000, Some(b""), Some(b""))
        },
        record(4, T0 + 2, None, None),
    ]
}

fn build(records: &[Record], codec: Compression) -> Bytes {
    let mut builder = RecordBatchBuilder::new(codec);
    for r in records {
        builder
            .append(
                r.timestamp,
                r.key.as_deref(),
                r.value.as_deref(),
                &r.headers,
            )
            .unwrap();
    }
    builder.build().unwrap()
}

fn decode_one(bytes: &Bytes) -> Result<RecordBatch, ProtocolError> {
    let mut buf = bytes.clone();
    let batch = RecordBatch::decode(&mut buf, &DecodeOptions::default())?;
    assert!(buf.is_empty());
    Ok(batch)
}

/// Recomputes a v2 batch's CRC after a test tampered with it.
fn fix_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// A batch with its bytes changed by `tamper` and the CRC fixed up, so the
/// decoder gets past the CRC check to the field under test.
fn tampered(bytes: &Bytes, tamper: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut raw = BytesMut::from(&bytes[..]);
    tamper(&mut raw);
    fix_crc(&mut raw);
    raw.freeze()
}

#[test]
fn round_trip_with_headers_and_null_keys_and_values() {
    let records = sample_records();
    let bytes = build(&records, Compression::None);
    let batch = decode_one(&bytes).unwrap();
    assert_eq!(batch.records, records);
    assert_eq!(batch.base_offset, 0);
    assert_eq!(batch.magic, MAGIC_V2);
    assert_eq!(batch.compression, Compression::None);
    assert_eq!(batch.timestamp_type, TimestampType::CreateTime);
    assert_eq!(batch.last_offset_delta, 4);
    assert_eq!(
        batch.base_timestamp, T0,
        "base timestamp is the first record's"
    );
    assert_eq!(batch.max_timestamp, T0 + 1000);
    assert_eq!(batch.producer_id, NO_PRODUCER_ID);
    assert_eq!(batch.producer_epoch, NO_PRODUCER_EPOCH);
    assert_eq!(batch.base_sequence, NO_SEQUENCE);
    assert_eq!(batch.partition_leader_epoch, NO_PARTITION_LEADER_EPOCH);
    assert!(!batch.is_transactional && !batch.is_control && !batch.has_delete_horizon);
    assert_eq!(batch.next_offset(), 5);
    assert_eq!(batch.records[0].headers[0].key_str(), Some("trace-id"));
    // Re-encoding the decoded batch gives the same bytes.
    assert_eq!(batch.encode().unwrap(), bytes);
}

#[test]
fn decoded_fields_share_the_input_buffer() {
    let bytes = build(&sample_records(), Compression::None);
    let batch = decode_one(&bytes).unwrap();
    let range = bytes.as_ptr_range();
    let value = batch.records[0].value.as_ref().unwrap();
    assert!(
        range.contains(&value.as_ptr()),
        "values are slices, not copies"
    );
    let header_key = &batch.records[0].headers[0].key;
    assert!(range.contains(&header_key.as_ptr()));
}

#[test]
fn every_codec_round_trips() {
    let records = sample_records();
    for codec in Compression::ALL {
        let bytes = build(&records, codec);
        let batch = decode_one(&bytes).unwrap();
        assert_eq!(batch.compression, codec);
        assert_eq!(batch.records, records, "{codec}");
        assert_eq!(
            batch.encode().unwrap(),
            bytes,
            "{codec} re-encodes identically"
        );
    }
}

#[test]
fn every_codec_round_trips_a_large_batch() {
    let value = vec![b'x'; 1000];
    for codec in Compression::ALL {
        let mut builder = RecordBatchBuilder::new(codec);
        for i in 0..500i64 {
            let key = format!("key-{i}");
            builder
                .append(T0 + i, Some(key.as_bytes()), Some(&value), &[])
                .unwrap();
        }
        let bytes = builder.build().unwrap();
        let batch = decode_one(&bytes).unwrap();
        assert_eq!(batch.records.len(), 500);
        assert_eq!(batch.records[499].offset, 499);
        assert_eq!(batch.records[499].key.as_deref(), Some(&b"key-499"[..]));
        assert_eq!(batch.records[499].value.as_deref(), Some(&value[..]));
        if codec != Compression::None {
            assert!(bytes.len() < 100_000, "{codec} compresses");
        }
    }
}

#[test]
fn header_fields_round_trip() {
    let mut builder = RecordBatchBuilder::new(Compression::Zstd);
    builder
        .set_base_offset(1234)
        .set_partition_leader_epoch(7)
        .set_transactional(true)
        .set_producer_state(99, 3, 42)
        .set_compression_level(Some(19));
    builder.append(T0, Some(b"k"), Some(b"v"), &[]).unwrap();
    builder.append(T0 + 1, Some(b"k"), Some(b"v"), &[]).unwrap();
    let bytes = builder.build().unwrap();
    let batch = decode_one(&bytes).unwrap();
    assert_eq!(batch.base_offset, 1234);
    assert_eq!(batch.records[1].offset, 1235);
    assert_eq!(batch.partition_leader_epoch, 7);
    assert!(batch.is_transactional);
    assert_eq!(
        (batch.producer_id, batch.producer_epoch, batch.base_sequence),
        (99, 3, 42)
    );
    let view = RecordBatchView::new(bytes).unwrap();
    let header = view.header();
    assert_eq!(header.record_count, 2);
    assert_eq!(header.last_sequence(), 43);
    assert_eq!(header.compression().unwrap(), Compression::Zstd);
    assert_eq!(header.size(), view.bytes().len());
    assert_eq!(header.next_offset(), 1236);
}

#[test]
fn a_timestamp_delta_past_i32_is_a_varlong() {
    // 30 days apart: 2_592_000_000 ms does not fit a 32-bit varint.
    let thirty_days = 30 * 24 * 3600 * 1000;
    let records = vec![
        record(0, T0, None, Some(b"a")),
        record(1, T0 + thirty_days, None, Some(b"b")),
        record(2, T0 - thirty_days, None, Some(b"c")),
        record(3, T0 + 1, None, Some(b"d")),
    ];
    for codec in [Compression::None, Compression::Gzip] {
        let bytes = build(&records, codec);
        let batch = decode_one(&bytes).unwrap();
        assert_eq!(batch.records, records, "{codec}");
        assert_eq!(batch.max_timestamp, T0 + thirty_days);
    }
    // The second record's delta on the wire: zigzag(2_592_000_000) =
    // 5_184_000_000 as a 5-byte varlong.
    let bytes = build(&records[..2], Compression::None);
    let mut expected = BytesMut::new();
    crate::primitives::put_varlong(&mut expected, thirty_days);
    assert_eq!(expected.len(), 5);
    let second = &bytes[61 + 1 + bytes[61] as usize / 2..];
    assert_eq!(
        &second[2..7],
        &expected[..],
        "length, attributes, then the varlong"
    );
}

#[test]
fn crc_mismatch_is_detected_and_can_be_skipped() {
    let bytes = build(&sample_records(), Compression::None);
    let mut raw = BytesMut::from(&bytes[..]);
    let last = raw.len() - 3;
    raw[last] ^= 0x01;
    let corrupt = raw.freeze();
    let mut buf = corrupt.clone();
    let error = RecordBatch::decode(&mut buf, &DecodeOptions::default()).unwrap_err();
    assert!(
        matches!(error, ProtocolError::CrcMismatch { .. }),
        "{error:?}"
    );
    assert_eq!(buf, corrupt, "buf is untouched on error");
    let view = RecordBatchView::new(corrupt.clone()).unwrap();
    assert!(
        matches!(view.verify_crc(), Err(ProtocolError::CrcMismatch { stored, computed }) if stored != computed)
    );
    // With CRC checks off (check.crcs=false) the batch decodes.
    let options = DecodeOptions::default().with_verify_crc(false);
    let batch = RecordBatch::decode(&mut buf, &options).unwrap();
    assert_eq!(batch.records.len(), 5);
}

#[test]
fn a_truncated_batch_is_an_error_for_decode_and_silent_for_the_iterator() {
    let first = build(&sample_records(), Compression::None);
    let second = build(&sample_records(), Compression::Lz4);
    for cut in [1, 11, 12, 16, 17, 60, 61, second.len() - 1] {
        let partial = second.slice(..cut);
        let mut buf = partial.clone();
        let error = RecordBatch::decode(&mut buf, &DecodeOptions::default()).unwrap_err();
        assert!(
            matches!(error, ProtocolError::Truncated { .. }),
            "cut {cut}: {error:?}"
        );
        assert_eq!(buf, partial);

        let mut stream = BytesMut::new();
        stream.put_slice(&first);
        stream.put_slice(&first);
        stream.put_slice(&partial);
        let mut batches = decode_batches(stream.freeze(), DecodeOptions::default());
        assert_eq!(batches.next().unwrap().unwrap().records.len(), 5);
        assert_eq!(batches.next().unwrap().unwrap().records.len(), 5);
        assert!(batches.next().is_none(), "cut {cut}");
        assert_eq!(batches.remainder(), &partial);

        let mut stream = BytesMut::new();
        stream.put_slice(&first);
        stream.put_slice(&partial);
        assert_eq!(
            decode_all(stream.freeze(), &DecodeOptions::default())
                .unwrap()
                .len(),
            1
        );
    }
    assert!(
        decode_all(Bytes::new(), &DecodeOptions::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_corrupt_complete_batch_ends_the_iteration_with_an_error() {
    let good = build(&sample_records(), Compression::None);
    let mut raw = BytesMut::from(&good[..]);
    raw[70] ^= 0xff;
    let mut stream = BytesMut::new();
    stream.put_slice(&good);
    stream.put_slice(&raw);
    stream.put_slice(&good);
    let mut batches = decode_batches(stream.freeze(), DecodeOptions::default());
    assert_eq!(batches.next(), Some(decode_one(&good)));
    // The second batch, and only it, is reported: its own stored CRC and
    // the one its changed bytes have.
    assert_eq!(
        batches.next(),
        Some(Err(ProtocolError::CrcMismatch {
            stored: u32::from_be_bytes([good[17], good[18], good[19], good[20]]),
            computed: crc32c::crc32c(&raw[21..]),
        }))
    );
    assert!(batches.next().is_none());
}

#[test]
fn negative_lengths_are_errors() {
    let bytes = build(&sample_records(), Compression::None);
    // Batch length.
    let mut raw = BytesMut::from(&bytes[..]);
    raw[8..12].copy_from_slice(&(-5i32).to_be_bytes());
    let mut buf = raw.freeze();
    assert!(matches!(
        RecordBatch::decode(&mut buf, &DecodeOptions::default()),
        Err(ProtocolError::NegativeLength { length: -5, .. })
    ));
    let mut batches = decode_batches(buf, DecodeOptions::default());
    assert!(matches!(
        batches.next(),
        Some(Err(ProtocolError::NegativeLength { .. }))
    ));

    // Record count.
    let raw = tampered(&bytes, |raw| {
        raw[57..61].copy_from_slice(&(-1i32).to_be_bytes())
    });
    assert!(matches!(
        decode_one(&raw),
        Err(ProtocolError::NegativeLength { .. })
    ));

    // A key length of -2 (-1 is null). Record 0 starts at 61: length,
    // attributes, timestamp delta 0, offset delta 0, then the key length.
    let raw = tampered(&bytes, |raw| raw[65] = 0x03);
    assert!(matches!(
        decode_one(&raw),
        Err(ProtocolError::NegativeLength {
            what: "Record.key",
            length: -2
        })
    ));

    // A negative record length.
    let raw = tampered(&bytes, |raw| raw[61] = 0x01);
    assert!(matches!(
        decode_one(&raw),
        Err(ProtocolError::NegativeLength {
            what: "Record.length",
            ..
        })
    ));
}

#[test]
fn a_huge_record_count_with_little_input_is_rejected_before_allocating() {
    for codec in [Compression::None, Compression::Snappy] {
        let bytes = build(&sample_records(), codec);
        let raw = tampered(&bytes, |raw| {
            raw[57..61].copy_from_slice(&i32::MAX.to_be_bytes())
        });
        assert!(
            matches!(
                decode_one(&raw),
                Err(ProtocolError::LengthExceedsInput {
                    what: "RecordBatch.recordCount",
                    ..
                })
            ),
            "{codec}"
        );
        // A count a little too large runs out of records instead.
        let raw = tampered(&bytes, |raw| {
            raw[57..61].copy_from_slice(&6i32.to_be_bytes())
        });
        assert_eq!(
            decode_one(&raw),
            Err(ProtocolError::Truncated {
                what: "Record.length",
                needed: 1,
                remaining: 0
            }),
            "{codec}"
        );
        // A count too small leaves records over.
        let raw = tampered(&bytes, |raw| {
            raw[57..61].copy_from_slice(&4i32.to_be_bytes())
        });
        assert!(
            matches!(decode_one(&raw), Err(ProtocolError::TrailingBytes { .. })),
            "{codec}"
        );
    }
}

#[test]
fn a_huge_header_count_is_rejected_before_allocating() {
    let bytes = build(&[record(0, T0, None, None)], Compression::None);
    // The record: length 7, attributes, ts delta, offset delta, key -1,
    // value -1, header count 0 at byte 61 + 6. Make it i32::MAX (5 bytes)
    // and grow the record length to match.
    let mut raw = BytesMut::from(&bytes[..67]);
    raw[61] = 2 * 10;
    raw.put_slice(&[0xfe, 0xff, 0xff, 0xff, 0x0f]);
    let length = (raw.len() - 12) as i32;
    raw[8..12].copy_from_slice(&length.to_be_bytes());
    fix_crc(&mut raw);
    assert!(matches!(
        decode_one(&raw.freeze()),
        Err(ProtocolError::LengthExceedsInput {
            what: "Record.headerCount",
            ..
        })
    ));
}

#[test]
fn a_zip_bomb_batch_is_stopped_at_the_limit() {
    let zeros = vec![0u8; 4 << 20];
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut builder = RecordBatchBuilder::new(codec);
        builder.append(T0, None, Some(&zeros), &[]).unwrap();
        let bytes = builder.build().unwrap();
        assert!(bytes.len() < 300_000, "{codec}: {} bytes", bytes.len());
        let options = DecodeOptions::default().with_decompression_limit(1 << 20);
        let mut buf = bytes.clone();
        assert_eq!(
            RecordBatch::decode(&mut buf, &options),
            Err(ProtocolError::DecompressedTooLarge {
                codec: codec.name(),
                limit: 1 << 20
            }),
            "{codec}"
        );
        assert_eq!(
            decode_one(&bytes).unwrap().records[0]
                .value
                .as_ref()
                .unwrap()
                .len(),
            4 << 20
        );
    }
}

#[test]
fn unknown_magic_and_codec_are_errors() {
    let bytes = build(&sample_records(), Compression::None);
    let mut raw = BytesMut::from(&bytes[..]);
    raw[16] = 3;
    assert_eq!(
        decode_one(&raw.freeze()),
        Err(ProtocolError::UnsupportedMagic(3))
    );
    let raw = tampered(&bytes, |raw| raw[22] |= 0x05);
    assert_eq!(decode_one(&raw), Err(ProtocolError::UnknownCompression(5)));
    let mut raw = BytesMut::from(&bytes[..]);
    raw[16] = 3;
    assert_eq!(
        RecordBatchView::new(raw.freeze()),
        Err(ProtocolError::UnsupportedMagic(3))
    );
}

#[test]
fn a_record_longer_than_its_fields_is_an_error() {
    let bytes = build(&[record(0, T0, None, Some(b"v"))], Compression::None);
    // Claim one more byte in the record length and the batch length, and
    // add that byte at the end: the record's fields leave it unread.
    let mut raw = BytesMut::from(&bytes[..]);
    raw[61] += 2;
    raw.put_u8(0);
    let length = (raw.len() - 12) as i32;
    raw[8..12].copy_from_slice(&length.to_be_bytes());
    fix_crc(&mut raw);
    assert!(matches!(
        decode_one(&raw.freeze()),
        Err(ProtocolError::TrailingBytes { what: "Record", .. })
    ));
}

#[test]
fn a_batch_length_shorter_than_the_header_is_an_error() {
    let bytes = build(&sample_records(), Compression::None);
    let mut raw = BytesMut::from(&bytes[..30]);
    raw[8..12].copy_from_slice(&18i32.to_be_bytes());
    let raw = raw.freeze();
    assert!(matches!(
        decode_one(&raw),
        Err(ProtocolError::InvalidRecord(_))
    ));
    let mut raw = BytesMut::from(&bytes[..14]);
    raw[8..12].copy_from_slice(&2i32.to_be_bytes());
    assert!(matches!(
        decode_one(&raw.freeze()),
        Err(ProtocolError::InvalidRecord(_))
    ));
}

#[test]
fn empty_batches_build_and_decode() {
    for codec in Compression::ALL {
        let bytes = RecordBatchBuilder::new(codec).build().unwrap();
        let batch = decode_one(&bytes).unwrap();
        assert!(batch.records.is_empty());
        assert_eq!(batch.base_timestamp, NO_TIMESTAMP);
        assert_eq!(batch.max_timestamp, NO_TIMESTAMP);
    }
    // An empty batch that names a codec but has no compressed stream, as a
    // log cleaner may leave one.
    let bytes = RecordBatchBuilder::new(Compression::None).build().unwrap();
    let raw = tampered(&bytes, |raw| raw[22] |= Compression::Gzip.id());
    assert_eq!(decode_one(&raw).unwrap().compression, Compression::Gzip);
}

#[test]
fn builder_size_estimates_are_exact_and_room_is_checked() {
    let mut builder = RecordBatchBuilder::new(Compression::None);
    assert_eq!(builder.size_in_bytes(), RECORD_BATCH_OVERHEAD);
    let headers = [header("h", Some(b"value"))];
    // An empty builder always has room, even for an oversized record.
    assert!(builder.has_room_for(10, T0, Some(b"key"), Some(&[0; 100]), &headers));
    for (i, value) in [&b"short"[..], &[7; 300][..], b""].into_iter().enumerate() {
        let timestamp = T0 + 1000 * i as i64;
        let expected = builder.size_after_appending(timestamp, Some(b"key"), Some(value), &headers);
        builder
            .append(timestamp, Some(b"key"), Some(value), &headers)
            .unwrap();
        assert_eq!(builder.size_in_bytes(), expected);
    }
    let size = builder.size_in_bytes();
    let next = builder.size_after_appending(T0, None, Some(b"x"), &[]);
    assert!(builder.has_room_for(next, T0, None, Some(b"x"), &[]));
    assert!(!builder.has_room_for(next - 1, T0, None, Some(b"x"), &[]));
    assert_eq!(builder.record_count(), 3);
    assert_eq!(builder.max_timestamp(), Some(T0 + 2000));
    assert_eq!(builder.build().unwrap().len(), size);
}

#[test]
fn builder_rejects_bad_offsets_and_late_base_timestamps() {
    let mut builder = RecordBatchBuilder::new(Compression::None);
    builder
        .append_with_offset_delta(3, T0, None, None, &[])
        .unwrap();
    assert_eq!(
        builder.append_with_offset_delta(3, T0, None, None, &[]),
        Err(ProtocolError::InvalidRecord(
            "offset delta 3 does not follow Some(3)".into()
        ))
    );
    assert_eq!(
        builder.append_with_offset_delta(-1, T0, None, None, &[]),
        Err(ProtocolError::InvalidRecord(
            "offset delta -1 does not follow Some(3)".into()
        ))
    );
    assert_eq!(builder.append(T0, None, None, &[]).unwrap(), 4);
    assert_eq!(
        builder.set_base_timestamp(T0).err(),
        Some(ProtocolError::InvalidRecord(
            "the base timestamp must be set before the first record".into()
        ))
    );
    // A timestamp so far from the base that the delta overflows.
    assert_eq!(
        builder.append(i64::MIN, None, None, &[]),
        Err(ProtocolError::InvalidRecord(format!(
            "timestamp {} is too far from the base timestamp {T0}",
            i64::MIN
        )))
    );
    assert_eq!(builder.record_count(), 2);
}

#[test]
fn encode_keeps_gaps_and_header_fields_of_compacted_batches() {
    let batch = RecordBatch {
        base_offset: 100,
        partition_leader_epoch: 4,
        magic: MAGIC_V2,
        compression: Compression::Snappy,
        timestamp_type: TimestampType::CreateTime,
        is_transactional: false,
        is_control: false,
        has_delete_horizon: true,
        last_offset_delta: 9,
        base_timestamp: T0 - 50,
        max_timestamp: T0 + 500,
        producer_id: 5,
        producer_epoch: 1,
        base_sequence: 10,
        records: vec![
            record(102, T0, Some(b"a"), None),
            record(107, T0 + 7, Some(b"b"), Some(b"x")),
        ],
    };
    let bytes = batch.encode().unwrap();
    assert_eq!(decode_one(&bytes).unwrap(), batch);
    let mut bad = batch.clone();
    bad.last_offset_delta = 6;
    assert_eq!(
        bad.encode(),
        Err(ProtocolError::InvalidRecord(
            "last offset delta 6 is before the last record's 7".into()
        ))
    );
    let mut bad = batch.clone();
    bad.records[0].offset = 99;
    assert_eq!(
        bad.encode(),
        Err(ProtocolError::InvalidRecord(
            "offset delta -1 does not follow None".into()
        ))
    );
    let mut legacy = batch;
    legacy.magic = MAGIC_V1;
    assert_eq!(legacy.encode(), Err(ProtocolError::UnsupportedMagic(1)));
}

#[test]
fn the_broker_patches_offsets_epochs_and_log_append_time_in_place() {
    let records = sample_records();
    for codec in [Compression::None, Compression::Gzip] {
        let bytes = build(&records, codec);
        let mut raw = BytesMut::from(&bytes[..]);
        let mut batch = RecordBatchMut::new(&mut raw).unwrap();
        batch.verify_crc().unwrap();
        batch.set_base_offset(5000);
        batch.set_partition_leader_epoch(12);
        // Neither field is under the CRC.
        batch.verify_crc().unwrap();
        let stored = batch.header().unwrap().crc;
        batch.set_log_append_time(T0 + 99_999);
        batch.verify_crc().unwrap();
        let header = batch.header().unwrap();
        assert_ne!(header.crc, stored);
        assert_eq!(header.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(header.max_timestamp, T0 + 99_999);
        assert_eq!(header.compression().unwrap(), codec);

        let decoded = decode_one(&raw.freeze()).unwrap();
        assert_eq!(decoded.base_offset, 5000);
        assert_eq!(decoded.partition_leader_epoch, 12);
        assert_eq!(decoded.timestamp_type, TimestampType::LogAppendTime);
        for (i, record) in decoded.records.iter().enumerate() {
            assert_eq!(record.offset, 5000 + i as i64);
            assert_eq!(
                record.timestamp,
                T0 + 99_999,
                "LogAppendTime replaces record timestamps"
            );
            assert_eq!(record.value, records[i].value);
        }
    }
    let bytes = build(&records, Compression::None);
    let mut raw = BytesMut::from(&bytes[..]);
    raw.put_u8(0);
    assert_eq!(
        RecordBatchMut::new(&mut raw).err(),
        Some(ProtocolError::InvalidRecord(format!(
            "batch length says {} bytes but {} were given",
            bytes.len(),
            bytes.len() + 1
        ))),
        "trailing bytes"
    );
    assert_eq!(
        RecordBatchMut::new(&mut raw[..60]).err(),
        Some(ProtocolError::Truncated {
            what: "RecordBatch header",
            needed: 61,
            remaining: 60
        }),
        "short header"
    );
}

/// A sealed batch built with a producer's id, epoch and base sequence.
fn build_stamped(records: &[Record], codec: Compression, producer: (i64, i16, i32)) -> Bytes {
    let mut builder = RecordBatchBuilder::new(codec);
    builder.set_producer_state(producer.0, producer.1, producer.2);
    for r in records {
        builder
            .append(
                r.timestamp,
                r.key.as_deref(),
                r.value.as_deref(),
                &r.headers,
            )
            .unwrap();
    }
    builder.build().unwrap()
}

#[test]
fn a_producer_restamps_id_epoch_and_sequence_in_place() {
    let records = sample_records();
    for codec in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let sealed = build_stamped(&records, codec, (9, 1, 5));
        let mut raw = BytesMut::from(&sealed[..]);
        let address = raw.as_ptr();
        let mut batch = RecordBatchMut::new(&mut raw).unwrap();
        batch.set_producer_state(9, 2, 0);
        batch.verify_crc().unwrap();
        let header = batch.header().unwrap();
        assert_eq!(
            (
                header.producer_id,
                header.producer_epoch,
                header.base_sequence
            ),
            (9, 2, 0)
        );
        assert_eq!(raw.as_ptr(), address, "stamped in the same buffer");
        assert_eq!(raw.len(), sealed.len());

        // Decoding (CRC checked) gives the new fields and the same records.
        let decoded = decode_one(&raw.clone().freeze()).unwrap();
        assert_eq!(decoded.producer_id, 9);
        assert_eq!(decoded.producer_epoch, 2);
        assert_eq!(decoded.base_sequence, 0);
        assert_eq!(decoded.compression, codec);
        assert_eq!(decoded.records, decode_one(&sealed).unwrap().records);

        // Only those 14 bytes and the CRC changed.
        for (i, (now, before)) in raw.iter().zip(sealed.iter()).enumerate() {
            if now != before {
                assert!(
                    (17..21).contains(&i) || (43..57).contains(&i),
                    "byte {i} changed"
                );
            }
        }

        // The same bytes as a batch built with that state from the start.
        assert_eq!(&raw[..], &build_stamped(&records, codec, (9, 2, 0))[..]);
    }
}

#[test]
fn a_restamped_crc_covers_exactly_attributes_to_the_end() {
    let sealed = build(&sample_records(), Compression::None);
    let mut raw = BytesMut::from(&sealed[..]);
    RecordBatchMut::new(&mut raw)
        .unwrap()
        .set_producer_state(77, 3, 1000);
    let stored = u32::from_be_bytes(raw[17..21].try_into().unwrap());
    assert_eq!(stored, crc32c::crc32c(&raw[21..]));

    // Bytes before the attributes are not covered: the stamp gives the
    // same CRC whatever the base offset, length prefix or leader epoch.
    let mut moved = BytesMut::from(&sealed[..]);
    {
        let mut batch = RecordBatchMut::new(&mut moved).unwrap();
        batch.set_base_offset(123_456);
        batch.set_partition_leader_epoch(7);
        batch.set_producer_state(77, 3, 1000);
    }
    assert_eq!(&moved[16..], &raw[16..], "same CRC, same covered bytes");
    assert_ne!(&moved[..16], &raw[..16]);

    // Every covered byte is covered: the first (attributes) and the last.
    for at in [21, raw.len() - 1] {
        let mut flipped = raw.clone();
        flipped[at] ^= 0x01;
        assert!(
            matches!(
                RecordBatchMut::new(&mut flipped).unwrap().verify_crc(),
                Err(ProtocolError::CrcMismatch { .. })
            ),
            "byte {at} is under the CRC"
        );
    }
}

#[test]
fn stamping_twice_is_consistent() {
    let sealed = build(&sample_records(), Compression::Lz4);
    let stamp = |raw: &mut BytesMut, state: (i64, i16, i32)| {
        RecordBatchMut::new(raw)
            .unwrap()
            .set_producer_state(state.0, state.1, state.2);
    };
    let mut once = BytesMut::from(&sealed[..]);
    stamp(&mut once, (4, 0, 10));
    let mut twice = BytesMut::from(&sealed[..]);
    stamp(&mut twice, (4, 0, 10));
    stamp(&mut twice, (4, 0, 10));
    assert_eq!(once, twice, "the same stamp twice changes nothing");

    let mut restamped = BytesMut::from(&sealed[..]);
    stamp(&mut restamped, (4, 0, 10));
    stamp(&mut restamped, (4, 1, 0));
    let mut direct = BytesMut::from(&sealed[..]);
    stamp(&mut direct, (4, 1, 0));
    assert_eq!(
        restamped, direct,
        "the last stamp wins, as if it were the only one"
    );
    let decoded = decode_one(&restamped.freeze()).unwrap();
    assert_eq!(
        (
            decoded.producer_id,
            decoded.producer_epoch,
            decoded.base_sequence
        ),
        (4, 1, 0)
    );

    // Back to no producer at all gives the batch it started as.
    let mut undone = BytesMut::from(&sealed[..]);
    stamp(&mut undone, (4, 1, 0));
    stamp(
        &mut undone,
        (NO_PRODUCER_ID, NO_PRODUCER_EPOCH, NO_SEQUENCE),
    );
    assert_eq!(&undone[..], &sealed[..]);
}

#[test]
fn batch_views_split_a_produce_request_without_decoding() {
    let first = build(&sample_records(), Compression::None);
    let mut builder = RecordBatchBuilder::new(Compression::Zstd);
    builder.set_producer_state(7, 0, 5);
    builder.append(T0, None, Some(b"one"), &[]).unwrap();
    builder.append(T0, None, Some(b"two"), &[]).unwrap();
    let second = builder.build().unwrap();
    let mut stream = BytesMut::new();
    stream.put_slice(&first);
    stream.put_slice(&second);
    stream.put_slice(&second[..30]);
    let mut views = RecordBatchViews::new(stream.freeze());
    let a = views.next().unwrap().unwrap();
    let b = views.next().unwrap().unwrap();
    assert!(views.next().is_none());
    assert_eq!(views.remainder().len(), 30);
    assert_eq!(a.bytes(), &first);
    assert_eq!(a.header().record_count, 5);
    assert_eq!(b.header().producer_id, 7);
    assert_eq!(b.header().last_sequence(), 6);
    b.verify_crc().unwrap();
    assert_eq!(b.compute_crc(), b.header().crc);
    assert_eq!(
        b.records_bytes().len(),
        second.len() - RECORD_BATCH_OVERHEAD
    );
    assert_eq!(
        b.decode(&DecodeOptions::default()).unwrap().records.len(),
        2
    );
    assert_eq!(b.into_bytes(), second);

    let legacy = legacy_entry(0, 0, 0, None, None, Some(b"v"));
    let mut views = RecordBatchViews::new(legacy);
    assert_eq!(views.next(), Some(Err(ProtocolError::UnsupportedMagic(0))));
    assert!(views.next().is_none());
}

#[test]
fn header_parse_needs_only_the_header() {
    let bytes = build(&sample_records(), Compression::None);
    let header = RecordBatchHeader::parse(&bytes[..61]).unwrap();
    assert_eq!(header.size(), bytes.len());
    assert!(matches!(
        RecordBatchHeader::parse(&bytes[..60]),
        Err(ProtocolError::Truncated { needed: 61, .. })
    ));
    let mut view_input = bytes.slice(..61);
    assert!(matches!(
        RecordBatchView::split_from(&mut view_input),
        Err(ProtocolError::Truncated { .. })
    ));
    assert_eq!(view_input.len(), 61);
}

#[test]
fn attributes_bits_match_the_protocol() {
    let attributes = BatchAttributes::default()
        .with_compression(Compression::Zstd)
        .with_timestamp_type(TimestampType::LogAppendTime)
        .with_transactional(true)
        .with_control(true)
        .with_delete_horizon(true);
    assert_eq!(attributes.bits(), 0b111_1100);
    assert_eq!(attributes.compression().unwrap(), Compression::Zstd);
    assert_eq!(attributes.timestamp_type(), TimestampType::LogAppendTime);
    assert!(
        attributes.is_transactional() && attributes.is_control() && attributes.has_delete_horizon()
    );
    let cleared = attributes
        .with_compression(Compression::Gzip)
        .with_timestamp_type(TimestampType::CreateTime)
        .with_control(false);
    assert_eq!(cleared.bits(), 0b101_0001);
    assert_eq!(
        BatchAttributes::from_bits(7).compression(),
        Err(ProtocolError::UnknownCompression(7))
    );
}

#[test]
fn sequences_wrap_like_the_java_client() {
    assert_eq!(increment_sequence(5, 3), 8);
    assert_eq!(increment_sequence(i32::MAX, 1), 0);
    assert_eq!(increment_sequence(i32::MAX - 1, 5), 3);
    assert!(
        increment_sequence(-5, -3) >= 0,
        "nonsense input does not panic"
    );
}

#[test]
fn end_transaction_markers_round_trip() {
    for kind in [ControlRecordKind::Commit, ControlRecordKind::Abort] {
        let bytes = end_transaction_batch(kind, 77, 2, 9, T0).unwrap();
        let batch = decode_one(&bytes).unwrap();
        assert!(batch.is_control && batch.is_transactional);
        assert_eq!((batch.producer_id, batch.producer_epoch), (77, 2));
        assert_eq!(batch.base_sequence, NO_SEQUENCE);
        let control = batch.control_record().unwrap().unwrap();
        assert_eq!(control, ControlRecord::new(kind));
        let marker =
            EndTransactionMarker::parse_value(batch.records[0].value.as_ref().unwrap()).unwrap();
        assert_eq!(marker, EndTransactionMarker::new(9));
        assert_eq!(marker.to_value_bytes(), [0, 0, 0, 0, 0, 9]);
    }
    assert_eq!(
        ControlRecord::new(ControlRecordKind::Commit).to_key_bytes(),
        [0, 0, 0, 1]
    );
    assert_eq!(
        end_transaction_batch(ControlRecordKind::Other(2), 1, 1, 1, T0),
        Err(ProtocolError::InvalidRecord(
            "an end transaction marker is a commit or an abort, not Other(2)".into()
        ))
    );
    assert!(
        decode_one(&build(&sample_records(), Compression::None))
            .unwrap()
            .control_record()
            .is_none()
    );
}

#[test]
fn control_record_keys_are_validated() {
    assert_eq!(
        ControlRecord::parse_key(&[0, 1, 0, 5, 0xff]).unwrap(),
        ControlRecord {
            version: 1,
            kind: ControlRecordKind::Other(5)
        }
    );
    fn invalid<T>(message: &str) -> Result<T, ProtocolError> {
        Err(ProtocolError::InvalidRecord(message.into()))
    }
    assert_eq!(
        ControlRecord::parse_key(&[0, 0, 0]),
        invalid("control record key of 3 bytes, needs 4")
    );
    assert_eq!(
        ControlRecord::parse_key(&[0xff, 0xff, 0, 0]),
        invalid("negative control record key version -1")
    );
    assert_eq!(
        EndTransactionMarker::parse_value(&[0, 0, 0, 0, 1]),
        invalid("end transaction marker of 5 bytes, needs 6")
    );
    assert_eq!(
        ControlRecord::from_record(&record(0, 0, None, None)),
        invalid("control record with a null key")
    );
    assert_eq!(ControlRecordKind::from_code(0), ControlRecordKind::Abort);
    assert_eq!(ControlRecordKind::Other(6).code(), 6);
}

// ---- legacy message sets ------------------------------------------------

/// A legacy message, written out by hand: `crc | magic | attributes |
/// [timestamp] | key | value`, with its CRC-32 (IEEE).
fn legacy_message(
    magic: i8,
    attributes: i8,
    timestamp: Option<i64>,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Vec<u8> {
    let mut body = vec![magic as u8, attributes as u8];
    if magic == 1 {
        body.extend_from_slice(&timestamp.unwrap_or(NO_TIMESTAMP).to_be_bytes());
    }
    for field in [key, value] {
        match field {
            None => body.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(bytes) => {
                body.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                body.extend_from_slice(bytes);
            }
        }
    }
    let mut crc = flate2::Crc::new();
    crc.update(&body);
    let mut message = crc.sum().to_be_bytes().to_vec();
    message.extend_from_slice(&body);
    message
}

/// `offset | size | message`.
fn legacy_entry_bytes(offset: i64, message: &[u8]) -> Vec<u8> {
    let mut entry = offset.to_be_bytes().to_vec();
    entry.extend_from_slice(&(message.len() as i32).to_be_bytes());
    entry.extend_from_slice(message);
    entry
}

fn legacy_entry(
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: Option<i64>,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) -> Bytes {
    Bytes::from(legacy_entry_bytes(
        offset,
        &legacy_message(magic, attributes, timestamp, key, value),
    ))
}

#[test]
fn legacy_v0_messages_decode_from_hand_written_bytes() {
    // offset 7, magic 0, no attributes, key "k", value "hello", spelled out.
    let body: [u8; 16] = [
        0x00, // magic 0
        0x00, // attributes: no compression
        0x00, 0x00, 0x00, 0x01, b'k', // key: length 1, "k"
        0x00, 0x00, 0x00, 0x05, b'h', b'e', b'l', b'l', b'o', // value
    ];
    let mut crc = flate2::Crc::new();
    crc.update(&body);
    let mut raw = vec![0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 20];
    raw.extend_from_slice(&crc.sum().to_be_bytes());
    raw.extend_from_slice(&body);
    let mut stream = BytesMut::from(&raw[..]);
    stream.put_slice(&legacy_entry(8, 0, 0, None, None, None));
    let batches = decode_all(stream.freeze(), &DecodeOptions::default()).unwrap();
    assert_eq!(batches.len(), 2);
    assert_eq!(batches[0].magic, MAGIC_V0);
    assert_eq!(
        batches[0].records,
        vec![record(7, NO_TIMESTAMP, Some(b"k"), Some(b"hello"))]
    );
    assert_eq!(batches[0].base_offset, 7);
    assert_eq!(batches[0].producer_id, NO_PRODUCER_ID);
    assert_eq!(
        batches[1].records,
        vec![record(8, NO_TIMESTAMP, None, None)]
    );
}

#[test]
fn legacy_v1_messages_carry_timestamps() {
    let bytes = legacy_entry(3, 1, 0, Some(T0), Some(b"k"), Some(b"v"));
    let batch = decode_one(&bytes).unwrap();
    assert_eq!(batch.magic, MAGIC_V1);
    assert_eq!(batch.records, vec![record(3, T0, Some(b"k"), Some(b"v"))]);
    assert_eq!(batch.max_timestamp, T0);
    let bytes = legacy_entry(3, 1, LOG_APPEND_TIME_BIT, Some(T0), None, Some(b"v"));
    assert_eq!(
        decode_one(&bytes).unwrap().timestamp_type,
        TimestampType::LogAppendTime
    );
}

const LOG_APPEND_TIME_BIT: i8 = 1 << 3;

/// A compressed wrapper around inner messages with the given offsets.
fn legacy_wrapper(
    codec: Compression,
    magic: i8,
    wrapper_offset: i64,
    extra_attributes: i8,
    wrapper_timestamp: i64,
    inner: &[(i64, i64, &'static [u8])],
) -> Bytes {
    let mut set = Vec::new();
    for (offset, timestamp, value) in inner {
        set.extend_from_slice(&legacy_entry_bytes(
            *offset,
            &legacy_message(magic, 0, Some(*timestamp), None, Some(value)),
        ));
    }
    let mut compressed = BytesMut::new();
    crate::compression::compress(codec, &set, &mut compressed).unwrap();
    legacy_entry(
        wrapper_offset,
        magic,
        codec.id() as i8 | extra_attributes,
        Some(wrapper_timestamp),
        None,
        Some(&compressed),
    )
}

#[test]
fn legacy_v1_compressed_wrappers_use_relative_inner_offsets() {
    let inner: [(i64, i64, &[u8]); 3] = [(0, T0, b"a"), (1, T0 + 1, b"b"), (2, T0 + 2, b"c")];
    for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4] {
        let bytes = legacy_wrapper(codec, 1, 12, 0, T0 + 2, &inner);
        let batch = decode_one(&bytes).unwrap();
        assert_eq!(batch.compression, codec);
        assert_eq!(
            batch.records,
            vec![
                record(10, T0, None, Some(b"a")),
                record(11, T0 + 1, None, Some(b"b")),
                record(12, T0 + 2, None, Some(b"c")),
            ],
            "{codec}"
        );
        assert_eq!((batch.base_offset, batch.last_offset_delta), (10, 2));
        assert_eq!(batch.last_offset(), 12);
    }
    // Under LogAppendTime the wrapper's timestamp wins.
    let bytes = legacy_wrapper(
        Compression::Gzip,
        1,
        12,
        LOG_APPEND_TIME_BIT,
        T0 + 50,
        &inner,
    );
    let batch = decode_one(&bytes).unwrap();
    assert!(batch.records.iter().all(|r| r.timestamp == T0 + 50));
    assert_eq!(batch.timestamp_type, TimestampType::LogAppendTime);
}

#[test]
fn legacy_v0_compressed_wrappers_use_absolute_inner_offsets() {
    let inner: [(i64, i64, &[u8]); 2] = [(40, 0, b"x"), (41, 0, b"y")];
    let bytes = legacy_wrapper(Compression::Snappy, 0, 41, 0, 0, &inner);
    let batch = decode_one(&bytes).unwrap();
    assert_eq!(
        batch.records,
        vec![
            record(40, NO_TIMESTAMP, None, Some(b"x")),
            record(41, NO_TIMESTAMP, None, Some(b"y"))
        ]
    );
}

#[test]
fn legacy_v0_lz4_with_the_kafka_1493_checksum_decodes() {
    let inner = legacy_entry_bytes(5, &legacy_message(0, 0, None, None, Some(b"old lz4")));
    let mut compressed = BytesMut::new();
    crate::compression::compress(Compression::Lz4, &inner, &mut compressed).unwrap();
    // Rewrite the descriptor checksum the pre-0.10 way: over magic + FLG + BD.
    let broken = kafka_1493_header_checksum(&compressed[..6]);
    assert_ne!(
        compressed[6], broken,
        "the test needs a checksum that differs"
    );
    compressed[6] = broken;
    let bytes = legacy_entry(
        5,
        0,
        Compression::Lz4.id() as i8,
        None,
        None,
        Some(&compressed),
    );
    let batch = decode_one(&bytes).unwrap();
    assert_eq!(
        batch.records,
        vec![record(5, NO_TIMESTAMP, None, Some(b"old lz4"))]
    );
}

/// The descriptor checksum byte KAFKA-1493 writers produced: XXH32 (seed
/// 0) over magic, FLG and BD, shifted right 8. Written out here from the
/// algorithm's definition for a 6-byte input, independently of the crate's
/// own XXH32.
fn kafka_1493_header_checksum(prefix: &[u8]) -> u8 {
    // XXH32 of 6 bytes, seed 0, from the algorithm's definition.
    const P1: u32 = 2_654_435_761;
    const P3: u32 = 3_266_489_917;
    const P4: u32 = 668_265_263;
    const P5: u32 = 374_761_393;
    const P2: u32 = 2_246_822_519;
    let mut h = P5.wrapping_add(prefix.len() as u32);
    let word = u32::from_le_bytes(prefix[..4].try_into().unwrap());
    h = h
        .wrapping_add(word.wrapping_mul(P3))
        .rotate_left(17)
        .wrapping_mul(P4);
    for byte in &prefix[4..] {
        h = h
            .wrapping_add(u32::from(*byte).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P2);
    h ^= h >> 13;
    h = h.wrapping_mul(P3);
    h ^= h >> 16;
    (h >> 8) as u8
}

#[test]
fn legacy_errors_are_reported() {
    // CRC mismatch.
    let mut raw = BytesMut::from(&legacy_entry(0, 1, 0, Some(T0), None, Some(b"value"))[..]);
    let last = raw.len() - 1;
    raw[last] ^= 1;
    assert!(matches!(
        decode_one(&raw.freeze()),
        Err(ProtocolError::CrcMismatch { .. })
    ));
    // zstd is not a legacy codec.
    let bytes = legacy_entry(0, 1, 4, Some(T0), None, Some(b"value"));
    assert!(matches!(
        decode_one(&bytes),
        Err(ProtocolError::InvalidRecord(_))
    ));
    // A compressed wrapper with a null value.
    let bytes = legacy_entry(0, 1, 1, Some(T0), None, None);
    assert!(matches!(
        decode_one(&bytes),
        Err(ProtocolError::InvalidRecord(_))
    ));
    // Nested compression.
    let inner_wrapper = legacy_wrapper(Compression::Gzip, 1, 0, 0, T0, &[(0, T0, b"a")]);
    let mut compressed = BytesMut::new();
    crate::compression::compress(Compression::Gzip, &inner_wrapper, &mut compressed).unwrap();
    let bytes = legacy_entry(0, 1, 1, Some(T0), None, Some(&compressed));
    assert!(matches!(
        decode_one(&bytes),
        Err(ProtocolError::InvalidRecord(_))
    ));
    // A truncated inner message set.
    let mut set = legacy_entry_bytes(0, &legacy_message(1, 0, Some(T0), None, Some(b"abc")));
    set.truncate(set.len() - 2);
    let mut compressed = BytesMut::new();
    crate::compression::compress(Compression::Gzip, &set, &mut compressed).unwrap();
    let bytes = legacy_entry(0, 1, 1, Some(T0), None, Some(&compressed));
    assert!(matches!(
        decode_one(&bytes),
        Err(ProtocolError::Truncated { .. })
    ));
    // A value length past the message.
    let mut message = legacy_message(0, 0, None, None, Some(b"abc"));
    let at = message.len() - 7;
    message[at..at + 4].copy_from_slice(&100i32.to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(&message[4..]);
    message[..4].copy_from_slice(&crc.sum().to_be_bytes());
    let bytes = Bytes::from(legacy_entry_bytes(0, &message));
    assert!(matches!(
        decode_one(&bytes),
        Err(ProtocolError::LengthExceedsInput { .. })
    ));
    // A zip bomb inside a wrapper.
    let zeros = vec![0u8; 2 << 20];
    let set = legacy_entry_bytes(0, &legacy_message(1, 0, Some(T0), None, Some(&zeros)));
    let mut compressed = BytesMut::new();
    crate::compression::compress(Compression::Gzip, &set, &mut compressed).unwrap();
    let mut buf = legacy_entry(0, 1, 1, Some(T0), None, Some(&compressed));
    let options = DecodeOptions::default().with_decompression_limit(1 << 20);
    assert!(matches!(
        RecordBatch::decode(&mut buf, &options),
        Err(ProtocolError::DecompressedTooLarge { .. })
    ));
}

#[test]
fn a_stream_mixing_magics_decodes_batch_by_batch() {
    let mut stream = BytesMut::new();
    stream.put_slice(&legacy_entry(0, 0, 0, None, Some(b"k0"), Some(b"v0")));
    stream.put_slice(&legacy_wrapper(
        Compression::Gzip,
        1,
        3,
        0,
        T0,
        &[(0, T0, b"v1"), (1, T0, b"v2"), (2, T0, b"v3")],
    ));
    let mut builder = RecordBatchBuilder::new(Compression::Lz4);
    builder.set_base_offset(4);
    builder.append(T0, None, Some(b"v4"), &[]).unwrap();
    stream.put_slice(&builder.build().unwrap());
    stream.put_slice(&legacy_entry(5, 1, 0, Some(T0), None, Some(b"v5")));
    let full = stream.freeze();
    let partial = full.slice(..full.len() - 4);
    let batches = decode_all(partial, &DecodeOptions::default()).unwrap();
    assert_eq!(
        batches.iter().map(|b| b.magic).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    let offsets: Vec<i64> = batches
        .iter()
        .flat_map(|b| b.records.iter().map(|r| r.offset))
        .collect();
    assert_eq!(offsets, vec![0, 1, 2, 3, 4]);
    assert_eq!(
        decode_all(full, &DecodeOptions::default()).unwrap().len(),
        4
    );
}

#[test]
fn decoding_a_1_mib_batch_of_small_records_is_quick() {
    // Not a timed assertion; a guard that the decoder stays linear and that
    // the records really are 100-byte slices of one buffer.
    let value = [b'v'; 100];
    let mut builder = RecordBatchBuilder::with_capacity(Compression::None, 1 << 20);
    let mut i = 0;
    while builder.has_room_for(1 << 20, T0 + i, None, Some(&value), &[]) {
        builder.append(T0 + i, None, Some(&value), &[]).unwrap();
        i += 1;
    }
    let bytes = builder.build().unwrap();
    let started = std::time::Instant::now();
    let batch = decode_one(&bytes).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(batch.records.len() as i64, i);
    assert!(batch.records.len() > 9000);
    eprintln!(
        "decoded {} records ({} bytes) in {elapsed:?}",
        batch.records.len(),
        bytes.len()
    );
}

#[test]
fn records_stream_one_at_a_time_from_a_view() {
    let records = sample_records();
    for codec in [Compression::None, Compression::Zstd] {
        let view = RecordBatchView::new(build(&records, codec)).unwrap();
        let mut iter = view.records(&DecodeOptions::default()).unwrap();
        assert_eq!(iter.remaining(), records.len());
        let first = iter.next().unwrap().unwrap();
        assert_eq!(first, records[0]);
        assert_eq!(iter.remaining(), records.len() - 1);
        let rest: Vec<Record> = iter.map(Result::unwrap).collect();
        assert_eq!(rest, records[1..]);
    }
    // Bytes left after the counted records end the stream with an error.
    let bytes = build(&records, Compression::None);
    let raw = tampered(&bytes, |raw| {
        raw[57..61].copy_from_slice(&4i32.to_be_bytes())
    });
    let view = RecordBatchView::new(raw).unwrap();
    let results: Vec<_> = view.records(&DecodeOptions::default()).unwrap().collect();
    assert_eq!(results.len(), 5);
    assert!(results[..4].iter().all(Result::is_ok));
    assert!(matches!(
        results[4],
        Err(ProtocolError::TrailingBytes { .. })
    ));
}

#[test]
fn a_record_is_about_a_hundred_bytes() {
    // DecodeOptions::decompression_limit documents the worst-case memory
    // of a decoded batch from this size.
    assert!(
        std::mem::size_of::<Record>() <= 112,
        "{}",
        std::mem::size_of::<Record>()
    );
}

/// An uncompressed batch whose records section is `records` and whose
/// header claims `count` records, with honest length and CRC.
fn batch_with_records(records: &[u8], count: i32) -> Bytes {
    let empty = build(&[], Compression::None);
    let mut raw = BytesMut::from(&empty[..]);
    raw.put_slice(records);
    raw[57..61].copy_from_slice(&count.to_be_bytes());
    let length = (raw.len() - 12) as i32;
    raw[8..12].copy_from_slice(&length.to_be_bytes());
    fix_crc(&mut raw);
    raw.freeze()
}

/// Decodes `bytes` both ways (whole batch, and record by record from a
/// view) and checks that they agree; returns the whole-batch result.
fn decode_both_ways(bytes: &Bytes) -> Result<RecordBatch, ProtocolError> {
    let batch = decode_one(bytes);
    if let Ok(view) = RecordBatchView::new(bytes.clone()) {
        match view.records(&DecodeOptions::default()) {
            Ok(iter) => {
                let streamed: Result<Vec<Record>, ProtocolError> = iter.collect();
                match (&batch, streamed) {
                    (Ok(batch), Ok(records)) => assert_eq!(batch.records, records),
                    (Err(error), Err(streamed)) => assert_eq!(*error, streamed),
                    (batch, streamed) => panic!("{batch:?} but streamed {streamed:?}"),
                }
            }
            Err(error) => assert_eq!(batch.as_ref().err(), Some(&error)),
        }
    }
    batch
}

#[test]
fn malformed_records_are_errors_naming_the_field() {
    // A 17-byte record (null key, 10-byte value) to put first where the
    // record count check needs more bytes.
    let ten = [
        0x20, 0, 0, 0, 1, 0x14, b'0', b'1', b'2', b'3', b'4', b'5', b'6', b'7', b'8', b'9', 0,
    ];
    let cases: Vec<(Vec<u8>, i32, &str)> = vec![
        // The records end inside the second record's length varint.
        (
            [&ten[..], &[0x80, 0x80]].concat(),
            2,
            "truncated Record.length",
        ),
        // A record length past the end, and a negative one.
        (vec![0x7e, 0, 0, 0, 1, 1, 0], 1, "exceeds Record.length"),
        (vec![0x03, 0, 0, 0, 1, 1, 0], 1, "negative Record.length"),
        // A 5-byte varint with its continuation bit still set.
        (
            vec![0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0],
            1,
            "malformed Record.length",
        ),
        // An empty record body, then padding so the count check passes.
        (
            vec![0x00, 0, 0, 0, 0, 0, 0],
            1,
            "truncated Record.attributes",
        ),
        // The body ends inside the timestamp delta.
        (
            vec![0x04, 0x00, 0x80, 0, 0, 0, 0],
            1,
            "truncated Record.timestampDelta",
        ),
        // Key length -2, and 10 with 2 bytes left in the body.
        (vec![0x0c, 0, 0, 0, 3, 1, 0], 1, "negative Record.key"),
        (vec![0x0c, 0, 0, 0, 0x14, 1, 0], 1, "exceeds Record.key"),
        // Value length past the body.
        (vec![0x0c, 0, 0, 0, 1, 0x14, 0], 1, "exceeds Record.value"),
        // One header whose key length is -2.
        (
            vec![0x10, 0, 0, 0, 1, 1, 2, 3, 1],
            1,
            "negative RecordHeader.key",
        ),
        // One header whose value length is past the body.
        (
            vec![0x10, 0, 0, 0, 1, 1, 2, 0, 0x14],
            1,
            "exceeds RecordHeader.value",
        ),
        // A byte left in the body after the headers.
        (vec![0x0e, 0, 0, 0, 1, 1, 0, 9], 1, "trailing Record"),
    ];
    for (records, count, expected) in cases {
        let error = decode_both_ways(&batch_with_records(&records, count)).unwrap_err();
        let (kind, what) = expected.split_once(' ').unwrap();
        let matched = match (&error, kind) {
            (ProtocolError::Truncated { what: w, .. }, "truncated")
            | (ProtocolError::LengthExceedsInput { what: w, .. }, "exceeds")
            | (ProtocolError::NegativeLength { what: w, .. }, "negative")
            | (ProtocolError::MalformedVarint { what: w }, "malformed")
            | (ProtocolError::TrailingBytes { what: w, .. }, "trailing") => *w == what,
            _ => false,
        };
        assert!(matched, "{expected}: got {error:?}");
    }
    // The hand-made records are right when left intact.
    let batch = decode_both_ways(&batch_with_records(&ten, 1)).unwrap();
    assert_eq!(batch.records[0].value.as_deref(), Some(&b"0123456789"[..]));
    assert_eq!(batch.records[0].key, None);
}

#[test]
fn no_corruption_or_truncation_of_the_records_makes_the_decoders_disagree_or_panic() {
    let mut records = sample_records();
    // Multi-byte varints: a long value and a large timestamp delta.
    records.push(Record {
        value: Some(Bytes::from(vec![b'x'; 300])),
        headers: vec![header("k", Some(b"v"))],
        ..record(5, T0 + (1 << 40), Some(b"long"), None)
    });
    let bytes = build(&records, Compression::None);
    assert_eq!(decode_both_ways(&bytes).unwrap().records, records);
    let section = bytes[61..].to_vec();
    let count = records.len() as i32;
    for at in 0..section.len() {
        for flip in [0x01, 0x7f, 0x80, 0xff] {
            let mut bad = section.clone();
            bad[at] ^= flip;
            let _ = decode_both_ways(&batch_with_records(&bad, count));
        }
    }
    for cut in 0..section.len() {
        for count in [count - 1, count] {
            let _ = decode_both_ways(&batch_with_records(&section[..cut], count));
        }
    }
}

#[test]
fn decoded_keys_and_values_are_slices_of_the_decompressed_records() {
    for codec in [Compression::None, Compression::Lz4] {
        let records = sample_records();
        let batch = decode_one(&build(&records, codec)).unwrap();
        assert_eq!(batch.records, records);
        // Empty keys and values are empty, not null.
        assert_eq!(batch.records[3].key.as_deref(), Some(&b""[..]));
        assert_eq!(batch.records[3].value.as_deref(), Some(&b""[..]));
    }
}
